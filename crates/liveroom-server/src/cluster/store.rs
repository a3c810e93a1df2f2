//! The cluster store: rooms, profiles, moderation state and the audit log in Redis, under
//! the keys of [`super::keys`], with the semantics of the local store ([`crate::sqlite`]).
//!
//! Every write that changes more than one key is one Lua script, so it is applied whole or
//! not at all, and every moderation write's script appends its audit row too. Writes that
//! change part of a room's profile (`edit_room`, `set_push_stopped`, and `dismiss_room`,
//! which needs the owner) read it in Rust and write it back with a script that checks it is
//! still what was read (compare-and-set, retried): the profile is decoded and encoded by
//! serde, never by Lua's `cjson` (which reorders keys and rounds big numbers), and no
//! `WATCH` is needed on the shared multiplexed connection (where it would watch for every
//! task at once).

use std::collections::HashMap;

use liveroom_proto::{AuditEntry, Profile, RoomInfo, RoomSettings};
use redis::{AsyncCommands, Script, Value};

use super::conn::Redis;
use super::keys::{self, RoomKeys};
use crate::encoded::Encoded;
use crate::error::StoreError;
use crate::store::{
    Account, AuditRecord, RoomPage, RoomStore, StoreFuture, StoredModeration, StoredRoom,
    StoredRules, DELETIONS_KEPT,
};

/// Audit rows a room keeps (the newest): the audit log is a capped list in Redis memory.
pub(crate) const AUDIT_KEPT: usize = 10_000;

/// How often a compare-and-set of a room's profile is retried when the profile changed
/// between its read and its write (only another node's write at that instant does that).
const CAS_TRIES: usize = 8;

/// The audit step every moderation script starts with. `KEYS[1]` the audit list,
/// `KEYS[2]` its counter; `ARGV[1]` the entry's JSON after its `id` (`"time":...}`; empty:
/// no audit row), `ARGV[2]` the rows kept. The op's own keys and arguments follow.
const AUDIT_LUA: &str = r#"
local function audit()
  if ARGV[1] == '' then return end
  local id = redis.call('INCR', KEYS[2])
  redis.call('LPUSH', KEYS[1], '{"id":' .. string.format('%d', id) .. ',' .. ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
end
"#;

/// Nothing but the audit row (a kick).
const AUDIT_ONLY_LUA: &str = "audit()";

/// `HSET KEYS[3] ARGV[3] ARGV[4]` (a mute, a ban).
const HSET_LUA: &str = "redis.call('HSET', KEYS[3], ARGV[3], ARGV[4]) audit()";

/// `HDEL KEYS[3] ARGV[3]` (lifting a mute or a ban).
const HDEL_LUA: &str = "redis.call('HDEL', KEYS[3], ARGV[3]) audit()";

/// `SADD` (`ARGV[4]` = `1`) or `SREM` `ARGV[3]` to or from the set `KEYS[3]` (admins, words).
const SET_MEMBER_LUA: &str = r#"
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[3], ARGV[3])
else
  redis.call('SREM', KEYS[3], ARGV[3])
end
audit()
"#;

/// `SET KEYS[3] ARGV[3]` (the settings).
const SET_VALUE_LUA: &str = "redis.call('SET', KEYS[3], ARGV[3]) audit()";

/// Deletes message `ARGV[3]` from the history `KEYS[3]` and appends its deletion `ARGV[4]`
/// (`[seq,"id"]`) to the list `KEYS[4]`, keeping the newest `ARGV[5]`.
const DELETE_MESSAGE_LUA: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[3], ARGV[3], ARGV[3])
redis.call('LREM', KEYS[4], 0, ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
audit()
"#;

/// Replaces the profile `KEYS[3]` by `ARGV[4]` if it still is `ARGV[3]`; 0 when it is not.
const PUT_INFO_LUA: &str = r#"
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[3], ARGV[4])
audit()
return 1
"#;

/// Dismisses a room if its profile `KEYS[3]` still is `ARGV[3]` (empty: absent); 0 when it
/// is not. Deletes the `ARGV[5]` state keys `KEYS[4..]`, removes room `ARGV[4]` from the
/// app's rooms, the key after them, and from its owner's set, the next one (when the room
/// had a profile).
const DISMISS_LUA: &str = r#"
local cur = redis.call('GET', KEYS[3])
if ARGV[3] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[3] then
  return 0
end
local n = tonumber(ARGV[5])
redis.call('DEL', unpack(KEYS, 4, 3 + n))
redis.call('ZREM', KEYS[4 + n], ARGV[4])
if #KEYS > 4 + n then redis.call('SREM', KEYS[5 + n], ARGV[4]) end
audit()
return 1
"#;

/// Hands a room to another owner if its profile `KEYS[3]` still is `ARGV[3]` (0 when it is
/// not): the profile becomes `ARGV[4]`, and room `ARGV[5]` moves from the old owner's set
/// `KEYS[4]` to the new owner's `KEYS[5]`.
const CHANGE_OWNER_LUA: &str = r#"
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('SREM', KEYS[4], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[5])
audit()
return 1
"#;

/// Creates a room: its profile `KEYS[1]` = `ARGV[1]` unless taken (then 0, nothing
/// changed), room `ARGV[2]` in its owner's set `KEYS[2]`, and in the app's rooms `KEYS[3]`
/// scored by the app's next creation number (the counter `KEYS[4]`).
const CREATE_LUA: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
return 1
"#;

/// Appends message `ARGV[1]` (JSON `ARGV[2]`) to the history `KEYS[1]` when the cap
/// `ARGV[3]` is not 0 (replacing one of the same sequence) and keeps its newest `ARGV[3]`,
/// raises `KEYS[3]` (trimmed) to the newest sequence dropped (all of them without history),
/// and raises the last sequence `KEYS[2]`: the writes of the broker's send script.
const APPEND_LUA: &str = r#"
local function raise(key, v)
  if tonumber(v) > tonumber(redis.call('GET', key) or '0') then redis.call('SET', key, v) end
end
local cap = tonumber(ARGV[3])
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  local n = redis.call('ZCARD', KEYS[1])
  if n > cap then
    local old = redis.call('ZRANGE', KEYS[1], n - cap - 1, n - cap - 1, 'WITHSCORES')
    raise(KEYS[3], old[2])
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1)
  end
else
  raise(KEYS[3], ARGV[1])
end
raise(KEYS[2], ARGV[1])
"#;

/// Raises the revocation `KEYS[1]` to `ARGV[1]` (never lowers it), and opens the account:
/// its profile `KEYS[2]` = `ARGV[2]` unless it has one.
const REVOKE_LUA: &str = r#"
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
"#;

/// The store's scripts, loaded into Redis on first use (and again after a restart).
struct Scripts {
    create: Script,
    append: Script,
    audit_only: Script,
    hset: Script,
    hdel: Script,
    set_member: Script,
    set_value: Script,
    delete_message: Script,
    put_info: Script,
    change_owner: Script,
    dismiss: Script,
    revoke: Script,
}

impl Scripts {
    fn new() -> Self {
        let audited = |body: &str| Script::new(&format!("{AUDIT_LUA}\n{body}"));
        Self {
            create: Script::new(CREATE_LUA),
            append: Script::new(APPEND_LUA),
            audit_only: audited(AUDIT_ONLY_LUA),
            hset: audited(HSET_LUA),
            hdel: audited(HDEL_LUA),
            set_member: audited(SET_MEMBER_LUA),
            set_value: audited(SET_VALUE_LUA),
            delete_message: audited(DELETE_MESSAGE_LUA),
            put_info: audited(PUT_INFO_LUA),
            change_owner: audited(CHANGE_OWNER_LUA),
            dismiss: audited(DISMISS_LUA),
            revoke: Script::new(REVOKE_LUA),
        }
    }
}

/// The Redis store.
pub(crate) struct RedisStore {
    redis: Redis,
    /// Messages kept per room.
    history: usize,
    /// Audit rows kept per room.
    audit_kept: usize,
    scripts: Scripts,
}

impl RedisStore {
    /// A store on `redis`, keeping `history` messages per room.
    pub(crate) fn new(redis: Redis, history: usize) -> Self {
        Self {
            redis,
            history,
            audit_kept: AUDIT_KEPT,
            scripts: Scripts::new(),
        }
    }

    /// Keeps `kept` audit rows per room instead of [`AUDIT_KEPT`] (tests).
    #[cfg(test)]
    pub(crate) fn with_audit_kept(mut self, kept: usize) -> Self {
        self.audit_kept = kept;
        self
    }

    /// Reads a room in one transaction: its profile, last sequence, rules and (`history`)
    /// kept messages.
    async fn load(
        &self,
        app: u64,
        room_id: &str,
        history: bool,
    ) -> Result<Option<StoredRoom>, StoreError> {
        let k = RoomKeys::new(app, room_id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .get(k.info())
            .get(k.seq())
            .smembers(k.admins())
            .hgetall(k.mutes())
            .hgetall(k.bans())
            .smembers(k.words())
            .get(k.settings())
            .lrange(k.deleted(), 0, -1);
        let kept = if history { self.history } else { 0 };
        if kept > 0 {
            let from = -i64::try_from(kept).unwrap_or(i64::MAX);
            pipe.cmd("ZRANGE")
                .arg(k.history())
                .arg(from)
                .arg(-1)
                .arg("WITHSCORES");
        }
        let mut conn = self.redis.conn();
        let values: Vec<Value> = Redis::call(pipe.query_async(&mut conn)).await?;
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or(Value::Nil);

        let Some(info) = typed::<Option<String>>(next())? else {
            return Ok(None);
        };
        let info: RoomInfo = decode(&info, "room profile")?;
        let last_seq = match typed::<Option<String>>(next())? {
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| StoreError::Corrupt(format!("last sequence {s:?}")))?,
            None => 0,
        };
        let mut admins: Vec<String> = typed(next())?;
        admins.sort();
        let now = liveroom_usersig::now_secs();
        let mut mutes = Vec::new();
        for (user, until) in typed::<HashMap<String, String>>(next())? {
            let until: i64 = until
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("mute end {until:?}")))?;
            if until > now {
                mutes.push((user, until));
            }
        }
        mutes.sort();
        let mut bans = Vec::new();
        for (user, until) in typed::<HashMap<String, String>>(next())? {
            let until: Option<i64> = decode(&until, "ban end")?;
            if until.is_none_or(|t| t > now) {
                bans.push((user, until));
            }
        }
        bans.sort();
        let mut words: Vec<String> = typed(next())?;
        words.sort();
        let settings: RoomSettings = match typed::<Option<String>>(next())? {
            Some(s) => decode(&s, "room settings")?,
            None => RoomSettings::default(),
        };
        let mut deleted = Vec::new();
        for d in typed::<Vec<String>>(next())? {
            deleted.push(decode::<(u64, String)>(&d, "deletion")?);
        }
        // Oldest first by sequence, one per sequence (the latest written), the newest kept.
        deleted.reverse();
        deleted.sort_by_key(|(seq, _)| *seq);
        deleted.dedup_by_key(|(seq, _)| *seq);
        let excess = deleted.len().saturating_sub(DELETIONS_KEPT);
        deleted.drain(..excess);

        let mut rows = Vec::new();
        if kept > 0 {
            for (json, score) in typed::<Vec<(String, f64)>>(next())? {
                let seq = score as u64;
                match Encoded::parse(json) {
                    Ok(m) => rows.push((seq, m)),
                    Err(e) => {
                        // Never served as it is: a client would choke on the whole reply.
                        tracing::warn!(app, room = %room_id, seq, error = %e, "stored message is not JSON: skipped");
                    }
                }
            }
        }
        let max_stored = rows.last().map(|(s, _)| *s).unwrap_or(0);
        Ok(Some(StoredRoom {
            info,
            last_seq: last_seq.max(max_stored),
            history: rows,
            moderation: StoredModeration {
                admins,
                mutes,
                bans,
                words,
                settings,
            },
            deleted,
            stats: Default::default(),
        }))
    }

    /// Runs a moderation `script` on room `room_id`'s `keys` with `args`, after its audit
    /// row's (`None`: no row).
    async fn audited<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        k: &RoomKeys,
        audit: Option<&str>,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut inv = script.key(k.audit());
        inv.key(k.audit_id());
        for key in keys {
            inv.key(key);
        }
        inv.arg(audit.unwrap_or("")).arg(self.audit_kept);
        for arg in args {
            inv.arg(arg);
        }
        let mut conn = self.redis.conn();
        Redis::call(inv.invoke_async(&mut conn)).await
    }

    /// Changes a room's stored profile by `change` (compare-and-set, retried), with `audit`'s
    /// row. A room without a profile is left alone (its audit row still written).
    async fn update_info(
        &self,
        app: u64,
        room_id: &str,
        audit: Option<AuditRecord>,
        change: impl Fn(&mut RoomInfo),
    ) -> Result<(), StoreError> {
        let k = RoomKeys::new(app, room_id);
        let audit = audit.map(audit_tail).transpose()?;
        for _ in 0..CAS_TRIES {
            let mut conn = self.redis.conn();
            let Some(cur) = Redis::call(conn.get::<_, Option<String>>(k.info())).await? else {
                if audit.is_some() {
                    self.audited::<()>(&self.scripts.audit_only, &k, audit.as_deref(), &[], &[])
                        .await?;
                }
                return Ok(());
            };
            let mut info: RoomInfo = decode(&cur, "room profile")?;
            change(&mut info);
            let new = encode(&info)?;
            let done: bool = self
                .audited(
                    &self.scripts.put_info,
                    &k,
                    audit.as_deref(),
                    &[k.info()],
                    &[cur, new],
                )
                .await?;
            if done {
                return Ok(());
            }
        }
        tracing::warn!(app, room = %room_id, "room profile kept changing under its update");
        Err(StoreError::Unavailable)
    }

    /// Runs a moderation `script` with its audit row.
    fn moderate(
        &self,
        script: fn(&Scripts) -> &Script,
        app: u64,
        room_id: String,
        audit: AuditRecord,
        keys: impl FnOnce(&RoomKeys) -> Vec<String> + Send + 'static,
        args: Vec<String>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let k = RoomKeys::new(app, &room_id);
            let tail = audit_tail(audit)?;
            self.audited(script(&self.scripts), &k, Some(&tail), &keys(&k), &args)
                .await
        })
    }
}

impl RoomStore for RedisStore {
    fn profile(&self, app: u64, user_id: String) -> StoreFuture<'_, Profile> {
        Box::pin(async move {
            let mut conn = self.redis.conn();
            let stored: Option<String> =
                Redis::call(conn.get(keys::profile(app, &user_id))).await?;
            let mut profile = match stored {
                Some(json) => decode::<Profile>(&json, "profile")?,
                None => Profile::default(),
            };
            profile.user_id = user_id;
            Ok(profile)
        })
    }

    fn save_profile(&self, app: u64, profile: Profile) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let json = encode(&profile)?;
            let mut conn = self.redis.conn();
            Redis::call(conn.set::<_, _, ()>(keys::profile(app, &profile.user_id), json)).await
        })
    }

    fn open_account(&self, app: u64, user_id: String) -> StoreFuture<'_, Account> {
        Box::pin(async move {
            let (pk, rk) = (keys::profile(app, &user_id), keys::revoked(app, &user_id));
            let mut conn = self.redis.conn();
            let (stored, revoked): (Option<String>, Option<String>) =
                Redis::call(redis::cmd("MGET").arg(&pk).arg(&rk).query_async(&mut conn)).await?;
            let json = match stored {
                Some(json) => json,
                // The first login: an empty profile unless one was stored meanwhile.
                None => {
                    let empty = encode(&Profile {
                        user_id: user_id.clone(),
                        ..Profile::default()
                    })?;
                    let (now,): (Option<String>,) = Redis::call(
                        redis::pipe()
                            .cmd("SET")
                            .arg(&pk)
                            .arg(&empty)
                            .arg("NX")
                            .ignore()
                            .get(&pk)
                            .query_async(&mut conn),
                    )
                    .await?;
                    now.unwrap_or(empty)
                }
            };
            let mut profile: Profile = decode(&json, "profile")?;
            profile.user_id = user_id;
            let revoked_at = match revoked {
                Some(t) => t
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("revocation time {t:?}")))?,
                None => 0,
            };
            Ok(Account {
                profile,
                revoked_at,
            })
        })
    }

    fn accounts(&self, app: u64, user_ids: Vec<String>) -> StoreFuture<'_, Vec<Option<Profile>>> {
        Box::pin(async move {
            if user_ids.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = user_ids.iter().map(|u| keys::profile(app, u)).collect();
            let mut conn = self.redis.conn();
            let stored: Vec<Option<String>> =
                Redis::call(redis::cmd("MGET").arg(&keys).query_async(&mut conn)).await?;
            user_ids
                .into_iter()
                .zip(stored)
                .map(|(user_id, json)| {
                    json.map(|json| {
                        let mut profile: Profile = decode(&json, "profile")?;
                        profile.user_id = user_id;
                        Ok(profile)
                    })
                    .transpose()
                })
                .collect()
        })
    }

    fn revoke_usersigs(&self, app: u64, user_id: String, at: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let empty = encode(&Profile {
                user_id: user_id.clone(),
                ..Profile::default()
            })?;
            let mut conn = self.redis.conn();
            Redis::call(
                self.scripts
                    .revoke
                    .key(keys::revoked(app, &user_id))
                    .key(keys::profile(app, &user_id))
                    .arg(at)
                    .arg(empty)
                    .invoke_async::<()>(&mut conn),
            )
            .await
        })
    }

    fn create_room(&self, app: u64, info: RoomInfo) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let k = RoomKeys::new(app, &info.group_id);
            let json = encode(&info)?;
            let mut conn = self.redis.conn();
            let created: bool = Redis::call(
                self.scripts
                    .create
                    .key(k.info())
                    .key(keys::owned(app, &info.owner_id))
                    .key(keys::rooms(app))
                    .key(keys::rooms_created(app))
                    .arg(json)
                    .arg(&info.group_id)
                    .invoke_async(&mut conn),
            )
            .await?;
            Ok(created)
        })
    }

    fn load_room(&self, app: u64, room_id: String) -> StoreFuture<'_, Option<StoredRoom>> {
        Box::pin(async move { self.load(app, &room_id, true).await })
    }

    /// Reads only the rules' keys (not the history), in one transaction.
    fn load_rules(&self, app: u64, room_id: String) -> StoreFuture<'_, Option<StoredRules>> {
        Box::pin(async move {
            Ok(self.load(app, &room_id, false).await?.map(|r| StoredRules {
                info: r.info,
                moderation: r.moderation,
                deleted: r.deleted,
            }))
        })
    }

    fn rooms_owned(&self, app: u64, owner: String) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut conn = self.redis.conn();
            Redis::call(conn.scard(keys::owned(app, &owner))).await
        })
    }

    /// A page of the app's rooms by creation number, the count with it in one transaction.
    fn list_rooms(&self, app: u64, after: u64, limit: u32) -> StoreFuture<'_, RoomPage> {
        Box::pin(async move {
            let key = keys::rooms(app);
            let mut conn = self.redis.conn();
            // One more than asked: whether a next page exists.
            let (total, mut rows): (u64, Vec<(String, u64)>) = Redis::call(
                redis::pipe()
                    .atomic()
                    .zcard(&key)
                    .cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(format!("({after}"))
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(u64::from(limit) + 1)
                    .query_async(&mut conn),
            )
            .await?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next = match rows.last() {
                Some((_, n)) if more => *n,
                _ => 0,
            };
            Ok(RoomPage {
                total,
                rooms: rows.into_iter().map(|(id, _)| id).collect(),
                next,
            })
        })
    }

    fn append_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        _time: i64,
        json: Encoded,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let k = RoomKeys::new(app, &room_id);
            let mut conn = self.redis.conn();
            Redis::call(
                self.scripts
                    .append
                    .key(k.history())
                    .key(k.seq())
                    .key(k.trimmed())
                    .arg(seq)
                    .arg(json.as_str())
                    .arg(self.history)
                    .invoke_async::<()>(&mut conn),
            )
            .await
        })
    }

    fn set_push_stopped(
        &self,
        app: u64,
        room_id: String,
        postscript: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.update_info(app, &room_id, None, |info| {
                info.push_stopped = true;
                info.postscript.clone_from(&postscript);
            })
            .await
        })
    }

    fn mute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: i64,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let args = vec![user, until.to_string()];
        self.moderate(|s| &s.hset, app, room_id, audit, |k| vec![k.mutes()], args)
    }

    fn unmute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.moderate(
            |s| &s.hdel,
            app,
            room_id,
            audit,
            |k| vec![k.mutes()],
            vec![user],
        )
    }

    fn kick_member(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()> {
        self.moderate(|s| &s.audit_only, app, room_id, audit, |_| vec![], vec![])
    }

    fn ban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: Option<i64>,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let until = until.map_or_else(|| "null".to_owned(), |t| t.to_string());
        let args = vec![user, until];
        self.moderate(|s| &s.hset, app, room_id, audit, |k| vec![k.bans()], args)
    }

    fn unban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.moderate(
            |s| &s.hdel,
            app,
            room_id,
            audit,
            |k| vec![k.bans()],
            vec![user],
        )
    }

    fn set_settings(
        &self,
        app: u64,
        room_id: String,
        settings: RoomSettings,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let json = match encode(&settings) {
            Ok(json) => json,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let keys = |k: &RoomKeys| vec![k.settings()];
        self.moderate(|s| &s.set_value, app, room_id, audit, keys, vec![json])
    }

    fn set_admin(
        &self,
        app: u64,
        room_id: String,
        user: String,
        admin: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let args = vec![user, flag(admin)];
        let keys = |k: &RoomKeys| vec![k.admins()];
        self.moderate(|s| &s.set_member, app, room_id, audit, keys, args)
    }

    fn set_blocked_word(
        &self,
        app: u64,
        room_id: String,
        word: String,
        add: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let args = vec![word, flag(add)];
        let keys = |k: &RoomKeys| vec![k.words()];
        self.moderate(|s| &s.set_member, app, room_id, audit, keys, args)
    }

    fn delete_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        message_id: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        let deletion = match encode(&(seq, message_id)) {
            Ok(json) => json,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let args = vec![seq.to_string(), deletion, DELETIONS_KEPT.to_string()];
        let keys = |k: &RoomKeys| vec![k.history(), k.deleted()];
        self.moderate(|s| &s.delete_message, app, room_id, audit, keys, args)
    }

    fn edit_room(
        &self,
        app: u64,
        room_id: String,
        info: RoomInfo,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        // Only the editable fields, as the local store: the rest (the stream's state, the
        // owner) is not the caller's to change.
        Box::pin(async move {
            self.update_info(app, &room_id, Some(audit), |stored| {
                stored.name.clone_from(&info.name);
                stored.notification.clone_from(&info.notification);
                stored.introduction.clone_from(&info.introduction);
                stored.avatar.clone_from(&info.avatar);
            })
            .await
        })
    }

    fn change_owner(
        &self,
        app: u64,
        room_id: String,
        owner: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let k = RoomKeys::new(app, &room_id);
            let tail = audit_tail(audit)?;
            for _ in 0..CAS_TRIES {
                let mut conn = self.redis.conn();
                let Some(cur) = Redis::call(conn.get::<_, Option<String>>(k.info())).await? else {
                    // Gone meanwhile: nothing to hand over, the audit row still written.
                    return self
                        .audited(&self.scripts.audit_only, &k, Some(&tail), &[], &[])
                        .await;
                };
                let mut info: RoomInfo = decode(&cur, "room profile")?;
                let keys = [
                    k.info(),
                    keys::owned(app, &info.owner_id),
                    keys::owned(app, &owner),
                ];
                info.owner_id.clone_from(&owner);
                let args = [cur, encode(&info)?, room_id.clone()];
                let done: bool = self
                    .audited(&self.scripts.change_owner, &k, Some(&tail), &keys, &args)
                    .await?;
                if done {
                    return Ok(());
                }
            }
            tracing::warn!(app, room = %room_id, "room profile kept changing under its change of owner");
            Err(StoreError::Unavailable)
        })
    }

    fn dismiss_room(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let k = RoomKeys::new(app, &room_id);
            let tail = audit_tail(audit)?;
            let state = k.room_state();
            for _ in 0..CAS_TRIES {
                let mut conn = self.redis.conn();
                let cur: Option<String> = Redis::call(conn.get(k.info())).await?;
                let mut keys = vec![k.info()];
                keys.extend(state.iter().cloned());
                keys.push(keys::rooms(app));
                if let Some(cur) = &cur {
                    let info: RoomInfo = decode(cur, "room profile")?;
                    keys.push(keys::owned(app, &info.owner_id));
                }
                let args = [
                    cur.unwrap_or_default(),
                    room_id.clone(),
                    state.len().to_string(),
                ];
                // `keys` starts with the profile the script checks, then the state keys.
                let done: bool = self
                    .audited(&self.scripts.dismiss, &k, Some(&tail), &keys, &args)
                    .await?;
                if done {
                    return Ok(());
                }
            }
            tracing::warn!(app, room = %room_id, "room profile kept changing under its dismissal");
            Err(StoreError::Unavailable)
        })
    }

    fn save_stats(
        &self,
        _app: u64,
        _room_id: String,
        _created: i64,
        _stats: crate::stats::Counts,
    ) -> StoreFuture<'_, ()> {
        // The Redis broker counts in Redis itself (durable there): nothing to keep here.
        Box::pin(std::future::ready(Ok(())))
    }

    fn audit_log(&self, app: u64, room_id: String, limit: u32) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let k = RoomKeys::new(app, &room_id);
            let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
            let mut conn = self.redis.conn();
            let rows: Vec<String> = Redis::call(conn.lrange(k.audit(), 0, stop)).await?;
            rows.iter().map(|r| decode(r, "audit row")).collect()
        })
    }

    /// Nothing to do: Redis persists on its own terms (its `save`/`appendonly` settings).
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// An audit row's JSON after its `id` (the script prepends the ID it draws): `"time":...}`,
/// timed now.
fn audit_tail(audit: AuditRecord) -> Result<String, StoreError> {
    let entry = AuditEntry {
        id: 0,
        time: liveroom_usersig::now_secs(),
        actor: audit.actor,
        target: audit.target,
        action: audit.action,
        reason: audit.reason,
        details: audit.details,
    };
    let json = encode(&entry)?;
    json.strip_prefix(r#"{"id":0,"#)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt(format!("audit row does not start with its id: {json}")))
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A reply converted to `T`; a stored value of the wrong type is corrupt.
fn typed<T: redis::FromRedisValue>(v: Value) -> Result<T, StoreError> {
    redis::from_owned_redis_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_redis::TestRedis;

    fn room(id: &str) -> RoomInfo {
        crate::test_support::room_info(id)
    }

    use crate::test_support::record;

    async fn connect(redis: &TestRedis) -> Redis {
        Redis::connect(&redis.url()).await.unwrap()
    }

    async fn store(redis: &TestRedis, history: usize) -> RedisStore {
        RedisStore::new(connect(redis).await, history)
    }

    fn seqs(r: &StoredRoom) -> Vec<u64> {
        r.history.iter().map(|(s, _)| *s).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_taken_id_is_refused_and_changes_nothing() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        let mut other = room("r");
        other.name = "other".into();
        other.owner_id = "x".into();
        assert!(!store.create_room(1, other).await.unwrap());
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(r.info, room("r"));
        assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 1);
        assert_eq!(store.rooms_owned(1, "x".into()).await.unwrap(), 0);
        assert!(store.create_room(2, room("r")).await.unwrap(), "apps apart");
        assert!(store.create_room(1, room("s")).await.unwrap());
        assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn history_is_capped_oldest_first_and_sequences_survive() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        assert!(store.create_room(2, room("r")).await.unwrap());
        for seq in 1..=5 {
            store
                .append_message(1, "r".into(), seq, 0, Encoded::new(&seq).unwrap())
                .await
                .unwrap();
        }
        // A new store on the same Redis (another node, or this one restarted).
        let store = self::store(&redis, 3).await;
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(r.last_seq, 5);
        assert_eq!(seqs(&r), [3, 4, 5]);
        let bodies: Vec<&str> = r.history.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(bodies, ["3", "4", "5"]);
        let mut conn = connect(&redis).await.conn();
        let trimmed: Option<String> = conn.get(RoomKeys::new(1, "r").trimmed()).await.unwrap();
        assert_eq!(
            trimmed.as_deref(),
            Some("2"),
            "the newest sequence trimmed off"
        );
        assert!(store.load_room(1, "x".into()).await.unwrap().is_none());
        let other = store.load_room(2, "r".into()).await.unwrap().unwrap();
        assert_eq!(other.last_seq, 0);
        assert!(other.history.is_empty());

        // Without history, only the last sequence is kept.
        let bare = self::store(&redis, 0).await;
        bare.append_message(2, "r".into(), 1, 0, Encoded::new(&1).unwrap())
            .await
            .unwrap();
        let other = bare.load_room(2, "r".into()).await.unwrap().unwrap();
        assert_eq!(other.last_seq, 1);
        assert!(other.history.is_empty());
        let kept: u64 = conn.zcard(RoomKeys::new(2, "r").history()).await.unwrap();
        assert_eq!(kept, 0);
        let trimmed: Option<String> = conn.get(RoomKeys::new(2, "r").trimmed()).await.unwrap();
        assert_eq!(trimmed.as_deref(), Some("1"), "nothing kept: all trimmed");

        // The cap counts the messages kept (as the broker's send does): a deleted one leaves
        // room for an older one.
        store
            .delete_message(1, "r".into(), 4, "m4".into(), record("delete_message", ""))
            .await
            .unwrap();
        for seq in 6..=7 {
            store
                .append_message(1, "r".into(), seq, 0, Encoded::new(&seq).unwrap())
                .await
                .unwrap();
        }
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!((seqs(&r), r.last_seq), (vec![5, 6, 7], 7));
        let trimmed: Option<String> = conn.get(RoomKeys::new(1, "r").trimmed()).await.unwrap();
        assert_eq!(trimmed.as_deref(), Some("3"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deleted_message_leaves_the_history_and_its_deletion_is_kept() {
        let redis = TestRedis::start();
        let store = store(&redis, 10).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        for seq in 1..=3 {
            store
                .append_message(1, "r".into(), seq, 0, Encoded::new(&seq).unwrap())
                .await
                .unwrap();
        }
        store
            .delete_message(1, "r".into(), 2, "m2".into(), record("delete_message", ""))
            .await
            .unwrap();
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(seqs(&r), [1, 3]);
        assert_eq!(r.last_seq, 3);
        assert_eq!(r.deleted, [(2, "m2".to_owned())]);
        let log = store.audit_log(1, "r".into(), 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, "delete_message");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn deletions_are_kept_oldest_first_up_to_the_cap() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        crate::store_contract::deletions_are_kept_oldest_first_up_to_the_cap(&store, room("r"))
            .await;
        let n = DELETIONS_KEPT as u64 + 4;
        // Deleting one again records it once.
        store
            .delete_message(
                1,
                "r".into(),
                n,
                format!("m{n}"),
                record("delete_message", ""),
            )
            .await
            .unwrap();
        let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(loaded.deleted.len(), DELETIONS_KEPT);
        assert_eq!(loaded.deleted.first(), Some(&(5, "m5".to_owned())));
        assert_eq!(loaded.deleted.last(), Some(&(n, format!("m{n}"))));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_moderation_write_is_stored_with_its_audit_row() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        let far = liveroom_usersig::now_secs() + 3600;
        let before = liveroom_usersig::now_secs();
        let r = || "r".to_owned();
        store
            .mute_member(1, r(), "m".into(), far, record("mute_member", "spam"))
            .await
            .unwrap();
        store
            .mute_member(1, r(), "m2".into(), far, record("mute_member", ""))
            .await
            .unwrap();
        store
            .unmute_member(1, r(), "m2".into(), record("unmute_member", ""))
            .await
            .unwrap();
        store
            .kick_member(1, r(), record("kick_member", ""))
            .await
            .unwrap();
        store
            .ban_member(1, r(), "b".into(), None, record("ban_member", ""))
            .await
            .unwrap();
        store
            .ban_member(1, r(), "c".into(), Some(far), record("ban_member", ""))
            .await
            .unwrap();
        store
            .ban_member(1, r(), "d".into(), Some(far), record("ban_member", ""))
            .await
            .unwrap();
        store
            .unban_member(1, r(), "d".into(), record("unban_member", ""))
            .await
            .unwrap();
        let settings = RoomSettings {
            mute_all: true,
            slow_mode: 7,
        };
        store
            .set_settings(1, r(), settings, record("mute_all", ""))
            .await
            .unwrap();
        for (user, admin) in [("a", true), ("z", true), ("z", false)] {
            store
                .set_admin(1, r(), user.into(), admin, record("set_admin", ""))
                .await
                .unwrap();
        }
        for (word, add) in [("w", true), ("x", true), ("x", false)] {
            store
                .set_blocked_word(1, r(), word.into(), add, record("blocked_words", ""))
                .await
                .unwrap();
        }
        let mut edit = room("r");
        edit.name = "renamed".into();
        edit.owner_id = "not the owner".into();
        store
            .edit_room(1, r(), edit, record("edit_room", ""))
            .await
            .unwrap();

        // Read back by another store on the same Redis.
        let store = self::store(&redis, 3).await;
        let loaded = store.load_room(1, r()).await.unwrap().unwrap();
        let m = &loaded.moderation;
        assert_eq!(m.mutes, [("m".to_owned(), far)]);
        assert_eq!(
            m.bans,
            [("b".to_owned(), None), ("c".to_owned(), Some(far))]
        );
        assert_eq!(m.settings, settings);
        assert_eq!(m.admins, ["a"]);
        assert_eq!(m.words, ["w"]);
        assert_eq!(loaded.info.name, "renamed");
        assert_eq!(loaded.info.owner_id, "o", "only the editable fields change");

        let log = store.audit_log(1, r(), 100).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "edit_room",
                "blocked_words",
                "blocked_words",
                "blocked_words",
                "set_admin",
                "set_admin",
                "set_admin",
                "mute_all",
                "unban_member",
                "ban_member",
                "ban_member",
                "ban_member",
                "kick_member",
                "unmute_member",
                "mute_member",
                "mute_member",
            ],
            "one row per write, newest first"
        );
        let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
        let expected: Vec<i64> = (1..=16).rev().collect();
        assert_eq!(ids, expected);
        let first = &log[15];
        assert_eq!((first.actor.as_str(), first.target.as_str()), ("o", "m"));
        assert_eq!(
            (first.reason.as_str(), first.details.as_str()),
            ("spam", "{}")
        );
        let now = liveroom_usersig::now_secs();
        assert!(log.iter().all(|e| (before..=now).contains(&e.time)));
        let two = store.audit_log(1, r(), 2).await.unwrap();
        assert_eq!(two.iter().map(|e| e.id).collect::<Vec<_>>(), [16, 15]);
        assert!(store.audit_log(1, r(), 0).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_mutes_and_bans_are_left_out() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        let past = liveroom_usersig::now_secs() - 1;
        store
            .mute_member(1, "r".into(), "m".into(), past, record("mute_member", ""))
            .await
            .unwrap();
        store
            .ban_member(
                1,
                "r".into(),
                "b".into(),
                Some(past),
                record("ban_member", ""),
            )
            .await
            .unwrap();
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert!(r.moderation.mutes.is_empty());
        assert!(r.moderation.bans.is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_audit_log_is_capped_to_its_newest_rows() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await.with_audit_kept(5);
        assert!(store.create_room(1, room("r")).await.unwrap());
        for _ in 0..8 {
            store
                .kick_member(1, "r".into(), record("kick_member", ""))
                .await
                .unwrap();
        }
        let log = store.audit_log(1, "r".into(), 100).await.unwrap();
        let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
        assert_eq!(ids, [8, 7, 6, 5, 4]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_write_stores_neither_its_change_nor_its_audit_row() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        let k = RoomKeys::new(1, "r");
        // The bans key is not a hash: the ban fails inside its script.
        let mut conn = connect(&redis).await.conn();
        let () = conn.set(k.bans(), "not a hash").await.unwrap();
        let err = store
            .ban_member(1, "r".into(), "b".into(), None, record("ban_member", ""))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Redis(_)), "{err:?}");
        assert!(store.audit_log(1, "r".into(), 10).await.unwrap().is_empty());
        let counter: Option<String> = conn.get(k.audit_id()).await.unwrap();
        assert_eq!(counter, None);
        // A stored value that does not decode is reported as corrupt.
        let () = conn.del(k.bans()).await.unwrap();
        let () = conn.set(k.settings(), "{not json").await.unwrap();
        let err = store.load_room(1, "r".into()).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn dismissal_removes_the_room_but_keeps_its_audit_log() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        assert!(store.create_room(1, room("s")).await.unwrap());
        store
            .append_message(1, "r".into(), 1, 0, Encoded::new(&1).unwrap())
            .await
            .unwrap();
        store
            .ban_member(1, "r".into(), "b".into(), None, record("ban_member", ""))
            .await
            .unwrap();
        store
            .delete_message(1, "r".into(), 1, "m1".into(), record("delete_message", ""))
            .await
            .unwrap();
        assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 2);
        store
            .dismiss_room(1, "r".into(), record("dismiss_room", ""))
            .await
            .unwrap();
        assert!(store.load_room(1, "r".into()).await.unwrap().is_none());
        assert_eq!(store.rooms_owned(1, "o".into()).await.unwrap(), 1);
        let mut conn = connect(&redis).await.conn();
        for key in RoomKeys::new(1, "r").room_state() {
            let exists: bool = conn.exists(&key).await.unwrap();
            assert!(!exists, "{key} is gone");
        }
        let log = store.audit_log(1, "r".into(), 10).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["dismiss_room", "delete_message", "ban_member"]);

        // The ID can be taken again, by a clean room; the audit log goes on.
        assert!(store.create_room(1, room("r")).await.unwrap());
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert!(r.moderation.bans.is_empty() && r.deleted.is_empty() && r.history.is_empty());
        assert_eq!(r.last_seq, 0);
        store
            .kick_member(1, "r".into(), record("kick_member", ""))
            .await
            .unwrap();
        let log = store.audit_log(1, "r".into(), 10).await.unwrap();
        assert_eq!((log.len(), log[0].id), (4, 4));
        // The other room is untouched.
        assert!(store.load_room(1, "s".into()).await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stopping_the_push_and_editing_keep_each_others_fields() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        store
            .set_push_stopped(1, "r".into(), "bye \u{1F44B} \"quoted\"".into())
            .await
            .unwrap();
        // An edit from a copy of the profile taken before the stop.
        let mut edit = room("r");
        edit.notification = "notice".into();
        store
            .edit_room(1, "r".into(), edit, record("edit_room", ""))
            .await
            .unwrap();
        let (info, moderation, deleted) = match store.load_rules(1, "r".into()).await.unwrap() {
            Some(StoredRules {
                info,
                moderation,
                deleted,
            }) => (info, moderation, deleted),
            None => panic!("the room is there"),
        };
        assert!(info.push_stopped);
        assert_eq!(info.postscript, "bye \u{1F44B} \"quoted\"");
        assert_eq!(info.notification, "notice");
        assert!(moderation.admins.is_empty() && deleted.is_empty());
        let log = store.audit_log(1, "r".into(), 10).await.unwrap();
        assert_eq!(log.len(), 1, "stopping the push is not a moderation action");
        assert!(store.load_rules(1, "x".into()).await.unwrap().is_none());
        // A room that is gone is not brought back.
        store
            .set_push_stopped(1, "x".into(), String::new())
            .await
            .unwrap();
        assert!(store.load_room(1, "x".into()).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rooms_are_listed_page_by_page() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        crate::store_contract::rooms_are_listed_page_by_page(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_owner_changes_with_the_rooms_owned() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        crate::store_contract::the_owner_changes_with_the_rooms_owned(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn profiles_round_trip() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        crate::store_contract::profiles_round_trip(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn accounts_open_and_revoke() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        crate::store_contract::accounts_open_and_revoke(&store).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_whose_redis_is_gone_answers_an_error() {
        let redis = TestRedis::start();
        let store = store(&redis, 3).await;
        assert!(store.create_room(1, room("r")).await.unwrap());
        drop(redis);
        let err = store.load_room(1, "r".into()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable | StoreError::Redis(_)),
            "{err:?}"
        );
        let err = store
            .kick_member(1, "r".into(), record("kick_member", ""))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable | StoreError::Redis(_)),
            "{err:?}"
        );
    }
}
