//! The Redis broker: a room's sends accepted by one Lua script (budget, sequence, history
//! append capped at the room's history size, publish: one atomic step, so every node sees one
//! order), its history read from the shared sorted set, and this node's viewers fed from the
//! room's channel while the node has viewers in the room.
//!
//! A node delivers a room's messages into its ring strictly in sequence order: a sequence
//! already delivered is dropped, a jump is filled from the shared history first, and after
//! a lost pub/sub connection the feed catches up from the history. So a viewer of any node
//! sees every message once, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use liveroom_proto::stats::{Counted, MINUTES_KEPT};
use liveroom_proto::{code, ApiError, Priority, RoomEvent, ServerFrame};
use rand::Rng;
use redis::AsyncCommands;

use super::conn::{Redis, CALL_DEADLINE};
use super::keys::RoomKeys;
use super::subscriber::{ChannelHandler, HandlerFuture, Subscriber};
use super::wire::RoomItem;
use crate::broker::{over_budget, Accepted, Broker, BrokerFuture, Exclusive, Outgoing, Since};
use crate::encoded::Encoded;
use crate::error::StoreError;
use crate::fanout::{Ring, RingConfig};
use crate::stats::{self, Counts};

/// The sequence a message is encoded with before the script gives it its own; the script
/// puts the real one in its two places (see [`template`]).
const SENTINEL: u64 = u64::MAX;

/// Accepts a send. KEYS: seq, history, trimmed, budget, channel, info, version, stats,
/// stats minutes, stats gifters. ARGV: priority (0 High .. 3 Lowest), budget per second (0:
/// none), history cap, the message's three parts around its sequence, the rules version the
/// send was checked against; then what the send counts as (0 nothing, 1 message, 2 like, 3
/// gift), its gifts, its minute, its sender, the gifters kept, the oldest minute kept, the
/// minutes kept. Returns {1, seq}; {0} over budget; {-1} no such room; {-2} checked against
/// older rules.
const SEND: &str = r#"
if redis.call('EXISTS', KEYS[6]) == 0 then return {-1} end
if (redis.call('GET', KEYS[7]) or '0') ~= ARGV[7] then return {-2} end
local budget = tonumber(ARGV[2])
if budget > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local b = redis.call('HMGET', KEYS[4], 'tokens', 'at_ms')
  local tokens = tonumber(b[1]) or budget
  local at = tonumber(b[2]) or now
  local dt = now - at
  if dt < 0 then dt = 0 end
  tokens = math.min(budget, tokens + dt * budget / 1000)
  local p = tonumber(ARGV[1])
  local ok = true
  if p == 0 then
    tokens = math.max(-budget, tokens - 1)
  else
    local reserve = 0
    if p == 2 then reserve = budget / 4 elseif p == 3 then reserve = budget / 2 end
    if tokens >= 1 and tokens > reserve then tokens = tokens - 1 else ok = false end
  end
  redis.call('HSET', KEYS[4], 'tokens', tostring(tokens), 'at_ms', tostring(now))
  redis.call('PEXPIRE', KEYS[4], 60000)
  if not ok then return {0} end
end
local seq = redis.call('INCR', KEYS[1])
local msg = ARGV[4] .. seq .. ARGV[5] .. seq .. ARGV[6]
local cap = tonumber(ARGV[3])
if cap > 0 then
  redis.call('ZADD', KEYS[2], seq, msg)
  local n = redis.call('ZCARD', KEYS[2])
  if n > cap then
    local old = redis.call('ZRANGE', KEYS[2], n - cap - 1, n - cap - 1, 'WITHSCORES')
    redis.call('SET', KEYS[3], old[2])
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - cap - 1)
  end
else
  redis.call('SET', KEYS[3], seq)
end
redis.call('PUBLISH', KEYS[5], 'M' .. ARGV[1] .. seq .. ' ' .. msg)
local kind = ARGV[8]
if kind == '1' then
  redis.call('HINCRBY', KEYS[8], 'messages', 1)
  if redis.call('HINCRBY', KEYS[9], ARGV[10], 1) == 1 and redis.call('HLEN', KEYS[9]) > tonumber(ARGV[14]) then
    local oldest = tonumber(ARGV[13])
    for _, m in ipairs(redis.call('HKEYS', KEYS[9])) do
      if tonumber(m) < oldest then redis.call('HDEL', KEYS[9], m) end
    end
  end
elseif kind == '2' then
  redis.call('HINCRBY', KEYS[8], 'likes', 1)
elseif kind == '3' then
  redis.call('HINCRBY', KEYS[8], 'gifts', ARGV[9])
  if not redis.call('ZSCORE', KEYS[10], ARGV[11]) and redis.call('ZCARD', KEYS[10]) >= tonumber(ARGV[12]) then
    redis.call('ZPOPMIN', KEYS[10])
  end
  redis.call('ZINCRBY', KEYS[10], ARGV[9], ARGV[11])
end
return {1, seq}
"#;

/// Records an online sample. KEYS: stats, stats online, info. ARGV: the minute, the count,
/// the oldest minute kept, the minutes kept. The minute's and the session's highest; nothing
/// for a room that is gone.
const SAMPLE: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local n = tonumber(ARGV[2])
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur or n > tonumber(cur) then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  if not cur and redis.call('HLEN', KEYS[2]) > tonumber(ARGV[4]) then
    local oldest = tonumber(ARGV[3])
    for _, m in ipairs(redis.call('HKEYS', KEYS[2])) do
      if tonumber(m) < oldest then redis.call('HDEL', KEYS[2], m) end
    end
  end
end
if n > tonumber(redis.call('HGET', KEYS[1], 'peak') or '0') then
  redis.call('HSET', KEYS[1], 'peak', ARGV[2])
end
return 1
"#;

/// Announces a change of the room's state: a new rules version and the event, together.
/// KEYS: version, channel. ARGV: the channel item.
const CHANGED: &str = r#"
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1
"#;

/// Takes the room's moderation lock. KEYS: lock. ARGV: token, expiry (ms).
const LOCK: &str = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0";

/// Releases the lock if it is still ours. KEYS: lock. ARGV: token.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// How long a send that got no answer in time is looked for in the history (after
/// [`CALL_DEADLINE`], so that the sender has its answer within 2 s).
const CONFIRM_DEADLINE: Duration = Duration::from_millis(400);

/// 10002 for a send Redis neither confirmed nor was found to hold.
fn unconfirmed() -> ApiError {
    ApiError::new(
        code::UNAVAILABLE,
        "the room service's store did not confirm the message in time; it may still appear: \
         look before sending it again",
    )
}

/// How long a moderation lock lives if its node dies holding it.
const LOCK_EXPIRY: Duration = Duration::from_secs(5);

/// A room's broker in cluster mode.
pub(crate) struct RedisBroker {
    feed: Arc<Feed>,
    subscriber: Subscriber,
    /// Budget per second (0: none).
    budget: u32,
    room_id: String,
    /// The rules version this node checks sends against ([`UNKNOWN`] until first read).
    rules_version: AtomicU64,
}

/// No rules version read yet: the first send reads the rules.
const UNKNOWN: u64 = u64::MAX;

impl RedisBroker {
    /// The broker of room `room_id` of `app`: `budget` messages/s, `cap` kept, its `ring`;
    /// `on_change` runs when another node (or this one) changed the room's state.
    pub(crate) fn new(
        redis: Redis,
        subscriber: Subscriber,
        app: u64,
        room_id: &str,
        budget: u32,
        cap: usize,
        ring: RingConfig,
    ) -> Self {
        Self {
            feed: Arc::new(Feed {
                ring: Ring::new(room_id, ring),
                keys: RoomKeys::new(app, room_id),
                redis,
                state: Mutex::new(FeedState::default()),
                on_change: OnceLock::new(),
                cap,
            }),
            subscriber,
            budget,
            room_id: room_id.to_owned(),
            rules_version: AtomicU64::new(UNKNOWN),
        }
    }

    /// What to run when the room's state changed (set once, by the room).
    pub(crate) fn on_change(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.feed.on_change.set(f);
    }

    fn conn(&self) -> redis::aio::ConnectionManager {
        self.feed.redis.conn()
    }

    /// The sequence of the message with ID nonce `nonce` among the newest kept, if Redis
    /// has it (looked for within [`CONFIRM_DEADLINE`]).
    async fn find_sent(&self, nonce: &str) -> Option<u64> {
        if nonce.is_empty() {
            return None;
        }
        let mut conn = self.conn();
        let newest: Vec<(String, f64)> = Redis::call_within(
            CONFIRM_DEADLINE,
            conn.zrevrange_withscores(self.feed.keys.history(), 0, 63),
        )
        .await
        .ok()?;
        let tail = format!("-{nonce}\"");
        newest
            .into_iter()
            .find(|(json, seq)| json.contains(&format!("-{}{tail}", *seq as u64)))
            .map(|(_, seq)| seq as u64)
    }

    async fn publish_item(&self, item: RoomItem) -> Result<(), ApiError> {
        let mut conn = self.conn();
        let channel = self.feed.keys.channel();
        Redis::call(conn.publish::<_, _, ()>(channel, item.encode())).await?;
        Ok(())
    }
}

/// What a feed knows of what it delivered.
#[derive(Default)]
struct FeedState {
    /// The last sequence put into the ring; `None` while the node is not subscribed.
    delivered: Option<u64>,
    /// Subscribed to the room's channel.
    subscribed: bool,
    /// Items received between the subscription and learning where the room stands.
    early: Vec<RoomItem>,
    /// This node's copy of the shared history while subscribed: joiners are served from it
    /// without a trip to Redis.
    kept: Kept,
}

/// A copy of the room's kept history: loaded when the node subscribes, then every message
/// the feed delivers, capped like the shared one; deletions are taken out as they are
/// learnt. It holds exactly what Redis holds up to the last delivered sequence.
#[derive(Default)]
struct Kept {
    messages: VecDeque<(u64, Encoded)>,
    /// The newest sequence that fell out by the cap (a gap from before it is `skipped`).
    trimmed_through: u64,
}

impl Kept {
    fn push(&mut self, cap: usize, seq: u64, json: &str) {
        if cap == 0 {
            self.trimmed_through = seq;
            return;
        }
        let Ok(json) = Encoded::parse(json.to_owned()) else {
            return;
        };
        if self.messages.len() >= cap {
            if let Some((old, _)) = self.messages.pop_front() {
                self.trimmed_through = old;
            }
        }
        self.messages.push_back((seq, json));
    }
}

/// Where a room stands when a node subscribes: its last sequence, the newest trimmed one,
/// its kept history (JSON, sequence).
type RoomNow = (Option<u64>, Option<u64>, Vec<(String, f64)>);

/// Items kept while a subscription learns where the room stands, at most.
const EARLY_MAX: usize = 4096;

/// This node's end of a room's channel: into the ring, in sequence order.
struct Feed {
    ring: Ring,
    keys: RoomKeys,
    redis: Redis,
    state: Mutex<FeedState>,
    on_change: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Messages the room keeps.
    cap: usize,
}

impl Feed {
    /// Puts message `seq` into the ring and this node's copy of the history.
    fn put(&self, st: &mut FeedState, priority: Priority, seq: u64, json: &str) {
        self.ring.publish_message(json, priority);
        st.kept.push(self.cap, seq, json);
        st.delivered = Some(seq);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept messages with a sequence in (after, upto], oldest first.
    async fn range(&self, after: u64, upto: Option<u64>) -> Result<Vec<(u64, String)>, StoreError> {
        let mut conn = self.redis.conn();
        let max = upto.map_or_else(|| "+inf".to_owned(), |u| u.to_string());
        let rows: Vec<(String, f64)> = Redis::call(conn.zrangebyscore_withscores(
            self.keys.history(),
            format!("({after}"),
            max,
        ))
        .await?;
        Ok(rows.into_iter().map(|(m, s)| (s as u64, m)).collect())
    }

    /// Puts message `seq` into the ring if it is the next one; false if a gap comes first.
    fn deliver(&self, st: &mut FeedState, priority: Priority, seq: u64, json: &str) -> bool {
        let Some(delivered) = st.delivered else {
            return true;
        };
        if seq == 0 {
            // A join/leave tip: not sequenced.
            self.ring.publish_message(json, priority);
            return true;
        }
        if seq <= delivered {
            return true;
        }
        if seq > delivered + 1 {
            return false;
        }
        self.put(st, priority, seq, json);
        true
    }

    /// Delivers message `seq` in its turn: at once if it is the next one, after what the
    /// history holds before it if there is a gap, not at all if it was delivered already.
    async fn offer(&self, priority: Priority, seq: u64, json: &str) {
        if self.deliver(&mut self.lock(), priority, seq, json) {
            return;
        }
        self.fill(Some(seq)).await;
        self.deliver(&mut self.lock(), priority, seq, json);
    }

    /// Fills the ring from the history up to `upto` (all when `None`).
    async fn fill(&self, upto: Option<u64>) {
        let Some(after) = self.lock().delivered else {
            return;
        };
        match self.range(after, upto).await {
            Ok(rows) => {
                let mut st = self.lock();
                // Every kept message after what was delivered, in order: a missing sequence
                // was deleted (or trimmed), never to be served.
                for (seq, json) in rows {
                    if st.delivered.is_some_and(|d| seq > d) {
                        self.put(&mut st, priority_in(&json), seq, &json);
                    }
                }
                if let (Some(upto), Some(d)) = (upto, st.delivered) {
                    if d + 1 < upto {
                        // Fell out of the history (or deleted) meanwhile: go on from here.
                        st.delivered = Some(upto - 1);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "gap fill from the shared history failed"),
        }
    }

    /// A deletion announced by `frame` leaves this node's copy of the history before the
    /// event goes on: no joiner is served the message after it.
    fn take_deleted(&self, frame: &str) {
        let Ok(ServerFrame::RoomEvent {
            event: RoomEvent::MessageDeleted { message_id },
            ..
        }) = serde_json::from_str::<ServerFrame>(frame)
        else {
            return;
        };
        let Ok(id) = serde_json::to_string(&message_id) else {
            return;
        };
        // The ID is a message's first field.
        let head = format!("{{\"ID\":{id}");
        self.lock()
            .kept
            .messages
            .retain(|(_, json)| !json.as_str().starts_with(&head));
    }

    fn take_item(&self, item: RoomItem) -> Option<(Priority, u64, String)> {
        match item {
            RoomItem::Message {
                priority,
                seq,
                json,
            } => return Some((priority, seq, json)),
            RoomItem::Frame(frame) => self.ring.publish_frame(Utf8Bytes::from(frame)),
            RoomItem::Changed(frame) => {
                self.take_deleted(&frame);
                if let Some(f) = self.on_change.get() {
                    f();
                }
                // A change with no event for the viewers carries no frame.
                if !frame.is_empty() {
                    self.ring.publish_frame(Utf8Bytes::from(frame));
                }
            }
        }
        None
    }
}

/// A kept message's priority (what a slow viewer may drop); Normal if unreadable.
fn priority_in(json: &str) -> Priority {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(default)]
        priority: Priority,
    }
    serde_json::from_str::<P>(json).map_or(Priority::Normal, |p| p.priority)
}

impl ChannelHandler for Feed {
    fn receive<'a>(&'a self, payload: &'a str) -> HandlerFuture<'a> {
        Box::pin(async move {
            let Some(item) = RoomItem::decode(payload) else {
                tracing::warn!("unreadable item on a room channel: ignored");
                return;
            };
            {
                let mut st = self.lock();
                if st.delivered.is_none() {
                    if st.subscribed && st.early.len() < EARLY_MAX {
                        st.early.push(item);
                    }
                    return;
                }
            }
            let Some((priority, seq, json)) = self.take_item(item) else {
                return;
            };
            self.offer(priority, seq, &json).await;
        })
    }

    fn resync(&self) -> HandlerFuture<'_> {
        Box::pin(self.fill(None))
    }
}

impl Broker for RedisBroker {
    fn ring(&self) -> &Ring {
        &self.feed.ring
    }

    fn accept<'a>(
        &'a self,
        priority: Priority,
        out: &'a mut (dyn Outgoing + 'a),
    ) -> BrokerFuture<'a, Accepted> {
        Box::pin(async move {
            let version = self.rules_version.load(Ordering::Acquire);
            if version == UNKNOWN {
                return Ok(Accepted::StaleRules);
            }
            let json = out.encode(SENTINEL)?;
            let [a, b, c] = template(json.as_str(), &self.room_id)?;
            let tally = out.tally();
            let (kind, gifts) = match tally.counted {
                Counted::Nothing => (0, 0),
                Counted::Message => (1, 0),
                Counted::Like => (2, 0),
                Counted::Gift(n) => (3, n),
            };
            let minute = stats::minute_of(tally.time);
            let keys = &self.feed.keys;
            let script = redis::Script::new(SEND);
            let mut invocation = script.prepare_invoke();
            invocation
                .key(keys.seq())
                .key(keys.history())
                .key(keys.trimmed())
                .key(keys.budget())
                .key(keys.channel())
                .key(keys.info())
                .key(keys.version())
                .key(keys.stats())
                .key(keys.stats_minutes())
                .key(keys.stats_gifters())
                .arg(RoomItem::priority_digit(priority).to_string())
                .arg(self.budget)
                .arg(self.feed.cap)
                .arg(a)
                .arg(b)
                .arg(c)
                .arg(version)
                .arg(kind)
                .arg(gifts)
                .arg(minute)
                .arg(tally.user)
                .arg(stats::GIFTERS_KEPT)
                .arg(stats::oldest_kept(minute))
                .arg(MINUTES_KEPT);
            let mut conn = self.conn();
            let reply: Vec<i64> = match Redis::call(invocation.invoke_async(&mut conn)).await {
                Ok(reply) => reply,
                Err(e) if e.outcome_unknown() => {
                    // No answer in time: Redis may still have run the script. Look for the
                    // message before saying anything (never "failed" for a sent message).
                    let nonce = b.get(1..).and_then(|rest| rest.split('"').next());
                    match self.find_sent(nonce.unwrap_or_default()).await {
                        Some(seq) => vec![1, i64::try_from(seq).unwrap_or(0)],
                        None => return Err(unconfirmed()),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            match reply.as_slice() {
                [1, seq] => {
                    let seq = u64::try_from(*seq).unwrap_or(0);
                    // This node's viewers get it now, without waiting for the channel to
                    // bring it back (which then finds it delivered); in its turn, as ever.
                    self.feed
                        .offer(priority, seq, &format!("{a}{seq}{b}{seq}{c}"))
                        .await;
                    // The sender's copy: the same message with its sequence.
                    out.encode(seq)?;
                    Ok(Accepted::Sent(seq))
                }
                [-2] => Ok(Accepted::StaleRules),
                [0] => Err(over_budget()),
                [-1] => Err(ApiError::new(
                    code::ROOM_NOT_FOUND,
                    format!("room '{}' does not exist (dismissed)", self.room_id),
                )),
                other => {
                    tracing::error!(?other, "unexpected reply of the send script");
                    Err(ApiError::new(code::INTERNAL, "internal storage error"))
                }
            }
        })
    }

    fn rules_version(&self) -> BrokerFuture<'_, u64> {
        Box::pin(async move {
            let mut conn = self.conn();
            let v: Option<u64> = Redis::call(conn.get(self.feed.keys.version())).await?;
            Ok(v.unwrap_or(0))
        })
    }

    fn rules_loaded(&self, version: u64) {
        self.rules_version.store(version, Ordering::Release);
    }

    fn snapshot<'a>(
        &'a self,
        since: Option<u64>,
        attach: &'a mut (dyn FnMut() + Send + 'a),
    ) -> BrokerFuture<'a, Since> {
        Box::pin(async move {
            let upto = {
                let st = self.feed.lock();
                attach();
                if let Some(last_seq) = st.delivered {
                    // Subscribed: this node's copy is the history up to what it delivered.
                    let after = since.unwrap_or(0);
                    return Ok(Since {
                        messages: st
                            .kept
                            .messages
                            .iter()
                            .filter(|(s, _)| *s > after)
                            .map(|(_, j)| j.clone())
                            .collect(),
                        last_seq,
                        skipped: since.is_some_and(|s| s < st.kept.trimmed_through),
                    });
                }
                st.delivered
            };
            let mut conn = self.conn();
            let (last, trimmed): (Option<u64>, Option<u64>) = Redis::call(
                redis::pipe()
                    .get(self.feed.keys.seq())
                    .get(self.feed.keys.trimmed())
                    .query_async(&mut conn),
            )
            .await?;
            let last_seq = upto.unwrap_or(last.unwrap_or(0));
            let after = since.unwrap_or(0);
            let rows = self.feed.range(after, Some(last_seq)).await?;
            Ok(Since {
                messages: rows
                    .into_iter()
                    .filter_map(|(_, json)| Encoded::parse(json).ok())
                    .collect(),
                last_seq,
                skipped: since.is_some_and(|s| s < trimmed.unwrap_or(0)),
            })
        })
    }

    fn message(&self, seq: u64) -> BrokerFuture<'_, Option<Encoded>> {
        Box::pin(async move {
            {
                let st = self.feed.lock();
                if st.delivered.is_some_and(|d| seq <= d) {
                    return Ok(st
                        .kept
                        .messages
                        .iter()
                        .find(|(s, _)| *s == seq)
                        .map(|(_, j)| j.clone()));
                }
            }
            let rows = self.feed.range(seq.saturating_sub(1), Some(seq)).await?;
            Ok(rows
                .into_iter()
                .find(|(s, _)| *s == seq)
                .and_then(|(_, json)| Encoded::parse(json).ok()))
        })
    }

    fn forget(&self, seq: u64) -> BrokerFuture<'_, ()> {
        // The store's delete took it out of the shared history, in the same step as the
        // deletion's audit row; this node's copy follows.
        self.feed.lock().kept.messages.retain(|(s, _)| *s != seq);
        Box::pin(async { Ok(()) })
    }

    fn subscribe(&self) -> BrokerFuture<'_, bool> {
        Box::pin(async move {
            if self.feed.lock().subscribed {
                return Ok(false);
            }
            self.feed.lock().subscribed = true;
            let channel = self.feed.keys.channel();
            let handler: Arc<dyn ChannelHandler> = self.feed.clone();
            if let Err(e) = self.subscriber.subscribe(channel, handler).await {
                let mut st = self.feed.lock();
                st.subscribed = false;
                st.early.clear();
                return Err(e.into());
            }
            // Subscribed: everything published from now on arrives. Where the room stands
            // now is where this node's delivery starts; what arrived meanwhile and is newer
            // goes into the ring after it.
            let mut conn = self.conn();
            let keys = &self.feed.keys;
            let now: Result<RoomNow, StoreError> = Redis::call(
                redis::pipe()
                    .get(keys.seq())
                    .get(keys.trimmed())
                    .zrange_withscores(keys.history(), 0, -1)
                    .query_async(&mut conn),
            )
            .await;
            let (last, kept) = match now {
                Ok((last, trimmed, rows)) => {
                    let mut kept = Kept {
                        trimmed_through: trimmed.unwrap_or(0),
                        ..Kept::default()
                    };
                    for (json, seq) in rows {
                        kept.push(self.feed.cap, seq as u64, &json);
                    }
                    (last.unwrap_or(0), kept)
                }
                Err(e) => {
                    self.subscriber.unsubscribe(&self.feed.keys.channel());
                    let mut st = self.feed.lock();
                    st.subscribed = false;
                    st.early.clear();
                    return Err(e.into());
                }
            };
            let early = {
                let mut st = self.feed.lock();
                st.delivered = Some(last);
                st.kept = kept;
                std::mem::take(&mut st.early)
            };
            for item in early {
                if let Some((priority, seq, json)) = self.feed.take_item(item) {
                    let mut st = self.feed.lock();
                    self.feed.deliver(&mut st, priority, seq, &json);
                }
            }
            Ok(true)
        })
    }

    fn unsubscribe(&self) {
        self.subscriber.unsubscribe(&self.feed.keys.channel());
        let mut st = self.feed.lock();
        st.subscribed = false;
        st.delivered = None;
        st.early.clear();
        st.kept = Kept::default();
        self.feed.ring.release();
    }

    fn announce(&self, frame: Utf8Bytes, changed: bool) -> BrokerFuture<'_, ()> {
        Box::pin(async move {
            let frame = frame.as_str().to_owned();
            if !changed {
                return self.publish_item(RoomItem::Frame(frame)).await;
            }
            let mut conn = self.conn();
            let keys = &self.feed.keys;
            let _: i64 = Redis::call(
                redis::Script::new(CHANGED)
                    .key(keys.version())
                    .key(keys.channel())
                    .arg(RoomItem::Changed(frame).encode())
                    .invoke_async(&mut conn),
            )
            .await?;
            Ok(())
        })
    }

    fn tip(&self, json: String) -> BrokerFuture<'_, ()> {
        Box::pin(async move {
            self.publish_item(RoomItem::Message {
                priority: Priority::Normal,
                seq: 0,
                json,
            })
            .await
        })
    }

    fn exclusive(&self) -> BrokerFuture<'_, Exclusive> {
        Box::pin(async move {
            let token: u64 = rand::thread_rng().gen();
            let token = token.to_string();
            let lock = self.feed.keys.lock();
            let deadline = tokio::time::Instant::now() + CALL_DEADLINE;
            loop {
                let mut conn = self.conn();
                let got: i64 = Redis::call(
                    redis::Script::new(LOCK)
                        .key(&lock)
                        .arg(&token)
                        .arg(LOCK_EXPIRY.as_millis() as u64)
                        .invoke_async(&mut conn),
                )
                .await?;
                if got == 1 {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApiError::new(
                        code::UNAVAILABLE,
                        "the room is busy with another moderator's action; try again",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut conn = self.conn();
            Ok(Exclusive::shared(Box::new(move || {
                tokio::spawn(async move {
                    let released: Result<i64, StoreError> = Redis::call(
                        redis::Script::new(UNLOCK)
                            .key(&lock)
                            .arg(&token)
                            .invoke_async(&mut conn),
                    )
                    .await;
                    if let Err(e) = released {
                        tracing::warn!(error = %e, "moderation lock not released: it expires");
                    }
                });
            })))
        })
    }

    fn stats(&self) -> BrokerFuture<'_, Counts> {
        Box::pin(async move {
            let keys = &self.feed.keys;
            let mut conn = self.conn();
            type Read = (
                HashMap<String, u64>,
                HashMap<i64, u64>,
                HashMap<i64, u64>,
                Vec<(String, f64)>,
            );
            let (totals, minutes, online, gifters): Read = Redis::call(
                redis::pipe()
                    .hgetall(keys.stats())
                    .hgetall(keys.stats_minutes())
                    .hgetall(keys.stats_online())
                    .zrange_withscores(keys.stats_gifters(), 0, -1)
                    .query_async(&mut conn),
            )
            .await?;
            let total = |name: &str| totals.get(name).copied().unwrap_or(0);
            // The scripts keep about a day; the report takes the day it shows.
            let mut kept: Vec<(i64, u64, u64)> = online
                .iter()
                .map(|(at, n)| (*at, *n, minutes.get(at).copied().unwrap_or(0)))
                .chain(
                    minutes
                        .iter()
                        .filter(|(at, _)| !online.contains_key(at))
                        .map(|(at, m)| (*at, 0, *m)),
                )
                .collect();
            kept.sort_unstable_by_key(|m| m.0);
            Ok(Counts {
                messages: total("messages"),
                likes: total("likes"),
                gifts: total("gifts"),
                peak: total("peak"),
                minutes: kept.into(),
                gifters: gifters
                    .into_iter()
                    .map(|(user, gifts)| (user, gifts.max(0.0) as u64))
                    .collect(),
            })
        })
    }

    fn sample_online(&self, at: i64, online: u64) -> BrokerFuture<'_, ()> {
        Box::pin(async move {
            let keys = &self.feed.keys;
            let minute = stats::minute_of(at);
            let mut conn = self.conn();
            let _: i64 = Redis::call(
                redis::Script::new(SAMPLE)
                    .key(keys.stats())
                    .key(keys.stats_online())
                    .key(keys.info())
                    .arg(minute)
                    .arg(online)
                    .arg(stats::oldest_kept(minute))
                    .arg(MINUTES_KEPT)
                    .invoke_async(&mut conn),
            )
            .await?;
            Ok(())
        })
    }

    fn unsaved_stats(&self) -> Option<(u64, Counts)> {
        // Counted in Redis, durable there.
        None
    }

    fn stats_saved(&self, _version: u64) {}
}

/// The three parts of `json` (a message of room `room` encoded with [`SENTINEL`] as its
/// sequence) around the sentinel's two places: its ID (`GROUP<room>-<seq>-<nonce>`, the first
/// field) and its `sequence` field. The places are found by structure, never by searching
/// user text: the ID's offset follows from the room ID, and `"sequence":` with unescaped
/// quotes occurs once (quotes inside strings are escaped).
fn template<'a>(json: &'a str, room: &str) -> Result<[&'a str; 3], ApiError> {
    let bad = || {
        tracing::error!("a message does not have the shape the send script expects");
        ApiError::new(code::INTERNAL, "cannot encode message")
    };
    let sentinel = SENTINEL.to_string();
    let room_json = serde_json::to_string(room).map_err(|_| bad())?;
    let room_inner = room_json
        .get(1..room_json.len().saturating_sub(1))
        .ok_or_else(bad)?;
    let id_at = format!("{{\"ID\":\"GROUP{room_inner}-").len();
    if json.get(id_at..id_at + sentinel.len()) != Some(sentinel.as_str()) {
        return Err(bad());
    }
    let field = format!("\"sequence\":{sentinel}");
    let mut found = json.match_indices(&field);
    let (at, _) = found.next().ok_or_else(bad)?;
    if found.next().is_some() {
        return Err(bad());
    }
    let seq_at = at + "\"sequence\":".len();
    Ok([
        &json[..id_at],
        json.get(id_at + sentinel.len()..seq_at).ok_or_else(bad)?,
        json.get(seq_at + sentinel.len()..).ok_or_else(bad)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_redis::TestRedis;
    use crate::fanout::{Item, Subscription};
    use crate::test_support::Viewer;

    fn message(seq: u64) -> String {
        format!(
            r#"{{"ID":"GROUPr-{seq}-1","type":"TIMTextElem","payload":{{"text":"t"}},"to":"r","from":"u","time":1,"sequence":{seq}}}"#
        )
    }

    /// The sequences the viewer has been given so far.
    async fn received(sub: &mut Subscription<Viewer<RedisBroker>>, want: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seqs.len() < want && tokio::time::Instant::now() < deadline {
            match sub.try_next() {
                Some(Item::Messages { frame, .. }) => {
                    match serde_json::from_str(frame.as_str()).unwrap() {
                        ServerFrame::Messages { list, .. } => {
                            seqs.extend(list.iter().map(|m| m.sequence))
                        }
                        f => panic!("{f:?}"),
                    }
                }
                Some(Item::Frame(_)) => {}
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        seqs
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_jump_is_filled_from_the_history_past_deleted_messages() {
        let server = TestRedis::start();
        let redis = Redis::connect(&server.url()).await.unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let subscriber = Subscriber::start(redis.clone(), shutdown.clone(), &tracker);
        let broker = RedisBroker::new(
            redis.clone(),
            subscriber,
            1,
            "r",
            0,
            100,
            RingConfig::slots(64),
        );
        let keys = RoomKeys::new(1, "r");
        let mut conn = redis.conn();
        let _: () = conn.set(keys.info(), "{}").await.unwrap();
        assert!(broker.subscribe().await.unwrap(), "newly subscribed");
        let viewer = Arc::new(Viewer(broker));
        let mut sub = Subscription::new(viewer.clone());

        // Sequences 1..=4 are kept but 2 (deleted); this node saw none of their publishes.
        for seq in [1u64, 3, 4] {
            let _: () = conn.zadd(keys.history(), message(seq), seq).await.unwrap();
        }
        let _: () = conn.set(keys.seq(), 5).await.unwrap();
        // Then 5 arrives live: the feed fills 1, 3 and 4 first, in order, and skips 2.
        let live = RoomItem::Message {
            priority: Priority::Normal,
            seq: 5,
            json: message(5),
        };
        let _: () = conn.publish(keys.channel(), live.encode()).await.unwrap();
        assert_eq!(received(&mut sub, 4).await, [1, 3, 4, 5]);
        // An old one arriving late again is dropped.
        let _: () = conn.publish(keys.channel(), live.encode()).await.unwrap();
        let again = RoomItem::Message {
            priority: Priority::Normal,
            seq: 6,
            json: message(6),
        };
        let _: () = conn.publish(keys.channel(), again.encode()).await.unwrap();
        assert_eq!(received(&mut sub, 1).await, [6], "5 once, then 6");

        // Joiners are served this node's copy: what Redis keeps, up to what was delivered.
        let since = |s| {
            let viewer = viewer.clone();
            async move {
                let got = viewer.0.snapshot(s, &mut || {}).await.unwrap();
                let seqs: Vec<u64> = got
                    .messages
                    .iter()
                    .map(|j| {
                        serde_json::from_str::<liveroom_proto::Message>(j.as_str())
                            .unwrap()
                            .sequence
                    })
                    .collect();
                (seqs, got.last_seq)
            }
        };
        assert_eq!(since(Some(3)).await, (vec![4, 5, 6], 6));
        // A deletion announced on the channel leaves the copy before its event goes on.
        let deleted = ServerFrame::RoomEvent {
            room: "r".into(),
            event: RoomEvent::MessageDeleted {
                message_id: "GROUPr-5-1".into(),
            },
        };
        let item = RoomItem::Changed(serde_json::to_string(&deleted).unwrap());
        let _: () = conn.publish(keys.channel(), item.encode()).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while since(Some(3)).await.0 != [4, 6] {
            assert!(tokio::time::Instant::now() < deadline, "5 still served");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
    }

    /// A send of room `r` that counts as `counted` from `user`, its commit a no-op.
    struct Counting {
        counted: Counted,
        user: String,
    }

    impl Outgoing for Counting {
        fn encode(&mut self, seq: u64) -> Result<Encoded, ApiError> {
            Encoded::parse(format!(
                r#"{{"ID":"GROUPr-{seq}-1","type":"TIMTextElem","payload":{{"text":"t"}},"sequence":{seq}}}"#
            ))
            .map_err(|e| ApiError::new(code::INTERNAL, e.to_string()))
        }

        fn persist(&mut self, _seq: u64, _json: Encoded) -> BrokerFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }

        fn tally(&self) -> stats::Tally<'_> {
            stats::Tally {
                counted: self.counted,
                user: &self.user,
                time: 1_764_600_030,
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_send_script_counts_as_the_local_counts_do_and_caps_the_gifters() {
        let server = TestRedis::start();
        let redis = Redis::connect(&server.url()).await.unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let subscriber = Subscriber::start(redis.clone(), shutdown.clone(), &tracker);
        let broker = RedisBroker::new(
            redis.clone(),
            subscriber,
            1,
            "r",
            0,
            10,
            RingConfig::slots(64),
        );
        let mut conn = redis.conn();
        let _: () = conn.set(RoomKeys::new(1, "r").info(), "{}").await.unwrap();
        broker.rules_loaded(0);

        // One big gifter, then more small ones than the room keeps: the fewest give way, in
        // Redis as in one process.
        let mut sends = vec![
            (Counted::Message, "a".to_owned()),
            (Counted::Like, "a".to_owned()),
            (Counted::Gift(9_999), "big".to_owned()),
            (Counted::Nothing, "a".to_owned()),
        ];
        for i in 0..(stats::GIFTERS_KEPT + 40) {
            sends.push((Counted::Gift(1 + (i % 3) as u32), format!("u{i:03}")));
        }
        let mut local = Counts::default();
        for (counted, user) in sends {
            let mut out = Counting { counted, user };
            local.add(&out.tally());
            assert!(matches!(
                broker.accept(Priority::Normal, &mut out).await.unwrap(),
                Accepted::Sent(_)
            ));
        }
        broker.sample_online(1_764_600_040, 5).await.unwrap();
        broker.sample_online(1_764_600_050, 3).await.unwrap();
        local.sample_online(1_764_600_040, 5);
        local.sample_online(1_764_600_050, 3);

        let shared = broker.stats().await.unwrap();
        assert_eq!(shared.gifters.len(), stats::GIFTERS_KEPT);
        assert_eq!(shared.gifters.get("big"), Some(&9_999));
        assert_eq!(shared, local, "the same numbers, the same gifters kept");
        assert_eq!(shared.minutes, VecDeque::from([(1_764_600_000, 5, 1)]));
        shutdown.cancel();
    }

    #[test]
    fn a_message_is_cut_around_its_two_sequences_only() {
        let room = "r\"18446744073709551615";
        let json = format!(
            r#"{{"ID":"GROUPr\"18446744073709551615-{s}-9","type":"TIMTextElem","payload":{{"text":"\"sequence\":{s}"}},"sequence":{s},"time":1}}"#,
            s = SENTINEL
        );
        let [a, b, c] = template(&json, room).unwrap();
        let built = format!("{a}7{b}7{c}");
        assert_eq!(
            built,
            r#"{"ID":"GROUPr\"18446744073709551615-7-9","type":"TIMTextElem","payload":{"text":"\"sequence\":18446744073709551615"},"sequence":7,"time":1}"#
        );
        assert!(template(r#"{"ID":"GROUPx-1-2"}"#, "x").is_err());
    }
}
