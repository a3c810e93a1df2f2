//! The local store: SQLite in `<data>/liveroom.db` (WAL, `synchronous=NORMAL`).
//!
//! One writer thread owns the write connection and commits in groups: it takes every write
//! waiting when it wakes (up to [`BATCH_MAX`]), runs each in a savepoint of one transaction
//! (a write that fails is rolled back alone) and commits once; each writer is answered only
//! after that commit. Reads go to a reader thread with its own connection (WAL lets it read
//! while the writer writes). No lock is shared by rooms: a room waits for its own commit
//! (in place, see [`wait`]), and the commits of all rooms share the writer's transactions.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use liveroom_proto::{AuditEntry, Profile, RoomInfo, RoomSettings};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::encoded::Encoded;
use crate::error::StoreError;
use crate::stats::Counts;
use crate::store::{
    Account, AuditRecord, RoomPage, RoomStore, StoreFuture, StoredModeration, StoredRoom,
    DELETIONS_KEPT,
};

/// Most writes committed in one transaction.
const BATCH_MAX: usize = 256;

/// Schema migrations, applied in order; `PRAGMA user_version` = how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE profiles (
        app INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        nick TEXT NOT NULL DEFAULT '',
        avatar TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, user_id)
    );
    CREATE TABLE rooms (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        notification TEXT NOT NULL DEFAULT '',
        introduction TEXT NOT NULL DEFAULT '',
        avatar TEXT NOT NULL DEFAULT '',
        create_time INTEGER NOT NULL,
        push_stopped INTEGER NOT NULL DEFAULT 0,
        postscript TEXT NOT NULL DEFAULT '',
        last_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (app, room_id)
    );
    CREATE TABLE messages (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        json TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (app, room_id, seq)
    );",
    // 2: moderation
    "ALTER TABLE rooms ADD COLUMN mute_all INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN slow_mode INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE room_admins (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (app, room_id, user_id)
    );
    CREATE TABLE room_mutes (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        until INTEGER NOT NULL,
        PRIMARY KEY (app, room_id, user_id)
    );
    CREATE TABLE room_bans (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        until INTEGER,
        PRIMARY KEY (app, room_id, user_id)
    );
    CREATE TABLE room_blocked_words (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        word TEXT NOT NULL,
        PRIMARY KEY (app, room_id, word)
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        actor TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_room ON audit_log (app, room_id, id);",
    // 3: recent deletions, told to clients re-entering after them (kept across restarts and
    // room unloads; trimmed to the newest DELETIONS_KEPT per room)
    "CREATE TABLE room_deletions (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (app, room_id, seq)
    );",
    // 4: accounts: a profile row is the account (opened by a login, an import or a profile
    // write); the REST API's kick refuses UserSigs issued at or before `revoked_at`
    "ALTER TABLE profiles ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;",
    // 5: room statistics (get_room_stats): the room's counts as JSON (`stats::Counts`),
    // written at most once per stats tick when they changed, read when the room loads
    "CREATE TABLE room_stats (
        app INTEGER NOT NULL,
        room_id TEXT NOT NULL,
        stats TEXT NOT NULL,
        PRIMARY KEY (app, room_id)
    );",
];

/// Tables keyed by (app, room_id) that go with the room when it is dismissed.
const ROOM_TABLES: &[&str] = &[
    "rooms",
    "messages",
    "room_admins",
    "room_mutes",
    "room_bans",
    "room_blocked_words",
    "room_deletions",
    "room_stats",
];

/// A write waiting for the writer thread: run inside the batch's transaction, answered after
/// its commit.
trait Write: Send {
    /// Runs the write; whether it succeeded (its savepoint is kept) or not (rolled back).
    fn run(&mut self, c: &Connection, history: usize) -> bool;
    /// Answers the caller, given how the batch's commit went.
    fn answer(self: Box<Self>, commit: Result<(), &StoreError>);
}

/// A write and the caller waiting for its result.
struct Pending<T, F> {
    write: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection, usize) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, c: &Connection, history: usize) -> bool {
        let result = match self.write.take() {
            Some(write) => write(c, history),
            None => Err(StoreError::Task("a write ran twice".into())),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), &StoreError>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(StoreError::Commit(e.to_string())),
            (None, Ok(())) => Err(StoreError::Task("a write was not run".into())),
        };
        // The caller may have given up waiting: nothing to tell then.
        let _ = self.reply.send(result);
    }
}

/// What the writer thread is asked to do.
enum Job {
    Write(Box<dyn Write>),
    /// Fold the WAL into the main file (outside any transaction).
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
}

/// A read, run on the reader's connection; it answers its caller itself.
type Read = Box<dyn FnOnce(&Connection, usize) + Send>;

/// The SQLite store; its threads stop when it is dropped.
pub(crate) struct SqliteStore {
    writes: mpsc::Sender<Job>,
    /// `None`: reads go to the writer (an in-memory database has one connection).
    reads: Option<mpsc::Sender<Read>>,
}

impl SqliteStore {
    /// Opens (creating and migrating) `DIR/liveroom.db`; `history` messages are kept per room.
    pub(crate) fn open(dir: &Path, history: usize) -> Result<Self, StoreError> {
        let path = dir.join("liveroom.db");
        let mut writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.busy_timeout(Duration::from_secs(5))?;
        migrate(&mut writer)?;
        let reader = Connection::open(&path)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        let reads = spawn_reader(reader, history)?;
        Ok(Self {
            writes: spawn_writer(writer, history)?,
            reads: Some(reads),
        })
    }

    /// A store in memory, for unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory(history: usize) -> Self {
        let mut conn = Connection::open_in_memory().expect("an in-memory database");
        migrate(&mut conn).expect("migrations run");
        Self {
            writes: spawn_writer(conn, history).expect("a writer thread"),
            reads: None,
        }
    }

    /// Queues `write` for the writer; resolves once its batch is committed.
    fn write<T, F>(&self, write: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, usize) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Write(Box::new(Pending {
            write: Some(write),
            result: None,
            reply,
        }));
        let queued = self.writes.send(job).map_err(|_| stopped());
        Box::pin(async move {
            queued?;
            wait(answer).await.map_err(|_| stopped())?
        })
    }

    /// Runs `read` on the reader's connection.
    fn read<T, F>(&self, read: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, usize) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(reads) = &self.reads else {
            return self.write(read);
        };
        let (reply, answer) = oneshot::channel();
        let job: Read = Box::new(move |c, history| {
            let _ = reply.send(read(c, history));
        });
        let queued = reads.send(job).map_err(|_| stopped());
        Box::pin(async move {
            queued?;
            wait(answer).await.map_err(|_| stopped())?
        })
    }

    /// Runs `change` and writes `audit` as one write: both are stored or neither is.
    fn audited<F>(
        &self,
        app: u64,
        room_id: String,
        audit: AuditRecord,
        change: F,
    ) -> StoreFuture<'static, ()>
    where
        F: FnOnce(&Connection, i64, &str) -> Result<(), StoreError> + Send + 'static,
    {
        let now = liveroom_usersig::now_secs();
        self.write(move |c, _| {
            change(c, app as i64, &room_id)?;
            c.prepare_cached(
                "INSERT INTO audit_log (app, room_id, time, actor, target, action, reason, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                app as i64,
                room_id,
                now,
                audit.actor,
                audit.target,
                audit.action,
                audit.reason,
                audit.details
            ])?;
            Ok(())
        })
    }
}

impl RoomStore for SqliteStore {
    /// A user's profile (empty nick and avatar when never set).
    fn profile(&self, app: u64, user_id: String) -> StoreFuture<'_, Profile> {
        self.read(move |c, _| {
            let row = c
                .query_row(
                    "SELECT nick, avatar FROM profiles WHERE app = ?1 AND user_id = ?2",
                    params![app as i64, user_id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?;
            let (nick, avatar) = row.unwrap_or_default();
            Ok(Profile {
                user_id,
                nick,
                avatar,
            })
        })
    }

    /// Saves a profile.
    fn save_profile(&self, app: u64, profile: Profile) -> StoreFuture<'_, ()> {
        self.write(move |c, _| {
            c.execute(
                "INSERT INTO profiles (app, user_id, nick, avatar) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app, user_id) DO UPDATE SET nick = excluded.nick, avatar = excluded.avatar",
                params![app as i64, profile.user_id, profile.nick, profile.avatar],
            )?;
            Ok(())
        })
    }

    fn open_account(&self, app: u64, user_id: String) -> StoreFuture<'_, Account> {
        Box::pin(async move {
            let id = user_id.clone();
            if let Some(account) = self.read(move |c, _| read_account(c, app, &id)).await? {
                return Ok(account);
            }
            // The first login: one write, and the row as it is after it (a profile another
            // write stored meanwhile is kept).
            self.write(move |c, _| {
                c.prepare_cached("INSERT OR IGNORE INTO profiles (app, user_id) VALUES (?1, ?2)")?
                    .execute(params![app as i64, user_id])?;
                read_account(c, app, &user_id)?
                    .ok_or_else(|| StoreError::Corrupt("an account just opened is gone".into()))
            })
            .await
        })
    }

    fn accounts(&self, app: u64, user_ids: Vec<String>) -> StoreFuture<'_, Vec<Option<Profile>>> {
        self.read(move |c, _| {
            user_ids
                .into_iter()
                .map(|user_id| Ok(read_account(c, app, &user_id)?.map(|a| a.profile)))
                .collect()
        })
    }

    fn revoke_usersigs(&self, app: u64, user_id: String, at: i64) -> StoreFuture<'_, ()> {
        self.write(move |c, _| {
            c.prepare_cached(
                "INSERT INTO profiles (app, user_id, revoked_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app, user_id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at)",
            )?
            .execute(params![app as i64, user_id, at])?;
            Ok(())
        })
    }

    /// Inserts a new room; `Ok(false)` when the ID is already taken.
    fn create_room(&self, app: u64, info: RoomInfo) -> StoreFuture<'_, bool> {
        self.write(move |c, _| {
            let n = c.execute(
                "INSERT OR IGNORE INTO rooms
                 (app, room_id, name, owner, notification, introduction, avatar, create_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    app as i64,
                    info.group_id,
                    info.name,
                    info.owner_id,
                    info.notification,
                    info.introduction,
                    info.avatar,
                    info.create_time
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// Loads a room with its kept history; `None` when it does not exist.
    fn load_room(&self, app: u64, room_id: String) -> StoreFuture<'_, Option<StoredRoom>> {
        self.read(move |c, history| {
            let row = c
                .query_row(
                    "SELECT name, owner, notification, introduction, avatar, create_time,
                            push_stopped, postscript, last_seq
                     FROM rooms WHERE app = ?1 AND room_id = ?2",
                    params![app as i64, room_id],
                    |r| {
                        Ok((
                            RoomInfo {
                                group_id: room_id.clone(),
                                kind: "AVChatRoom".into(),
                                name: r.get(0)?,
                                owner_id: r.get(1)?,
                                notification: r.get(2)?,
                                introduction: r.get(3)?,
                                avatar: r.get(4)?,
                                create_time: r.get(5)?,
                                push_stopped: r.get::<_, i64>(6)? != 0,
                                postscript: r.get(7)?,
                            },
                            r.get::<_, i64>(8)?,
                        ))
                    },
                )
                .optional()?;
            let Some((info, last_seq)) = row else {
                return Ok(None);
            };
            let rows = newest(c, "messages", "json", app, &room_id, history)?;
            let max_stored = rows.last().map(|(s, _)| *s).unwrap_or(0);
            let rows = rows
                .into_iter()
                .filter_map(|(seq, json)| match Encoded::parse(json) {
                    Ok(m) => Some((seq, m)),
                    Err(e) => {
                        // Never served as it is: a client would choke on the whole reply.
                        tracing::warn!(app, room = %room_id, seq, error = %e, "stored message is not JSON: skipped");
                        None
                    }
                })
                .collect();
            let moderation = load_moderation(c, app, &room_id)?;
            let deleted = newest(
                c,
                "room_deletions",
                "message_id",
                app,
                &room_id,
                DELETIONS_KEPT,
            )?;
            let stats = load_stats(c, app, &room_id)?;
            Ok(Some(StoredRoom {
                info,
                last_seq: (last_seq.max(0) as u64).max(max_stored),
                history: rows,
                moderation,
                deleted,
                stats,
            }))
        })
    }

    /// How many rooms `owner` owns in `app`.
    fn rooms_owned(&self, app: u64, owner: String) -> StoreFuture<'_, u64> {
        self.read(move |c, _| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM rooms WHERE app = ?1 AND owner = ?2",
                params![app as i64, owner],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// A page of the app's rooms in rowid order: a room inserted later comes later (SQLite
    /// may give a new room the rowid of the newest one just dismissed).
    fn list_rooms(&self, app: u64, after: u64, limit: u32) -> StoreFuture<'_, RoomPage> {
        self.read(move |c, _| {
            let total: i64 = c.query_row(
                "SELECT COUNT(*) FROM rooms WHERE app = ?1",
                params![app as i64],
                |r| r.get(0),
            )?;
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT rowid, room_id FROM rooms WHERE app = ?1 AND rowid > ?2
                 ORDER BY rowid LIMIT ?3",
            )?;
            // One more than asked: whether a next page exists.
            let mut rows = stmt
                .query_map(params![app as i64, after, i64::from(limit) + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next = match rows.last() {
                Some((rowid, _)) if more => u64::try_from(*rowid).unwrap_or(0),
                _ => 0,
            };
            Ok(RoomPage {
                total: u64::try_from(total).unwrap_or(0),
                rooms: rows.into_iter().map(|(_, id)| id).collect(),
                next,
            })
        })
    }

    /// Commits a message: its row (when history is kept), the room's last sequence, and the
    /// trim of rows beyond the history size, together.
    fn append_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        time: i64,
        json: Encoded,
    ) -> StoreFuture<'_, ()> {
        // Every send runs these: prepared once per connection.
        self.write(move |c, history| {
            if history > 0 {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO messages (app, room_id, seq, json, time)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    app as i64,
                    room_id,
                    seq as i64,
                    json.as_str(),
                    time
                ])?;
                let keep_from = seq.saturating_sub(history as u64) as i64;
                c.prepare_cached(
                    "DELETE FROM messages WHERE app = ?1 AND room_id = ?2 AND seq <= ?3",
                )?
                .execute(params![app as i64, room_id, keep_from])?;
            }
            c.prepare_cached(
                "UPDATE rooms SET last_seq = MAX(last_seq, ?3) WHERE app = ?1 AND room_id = ?2",
            )?
            .execute(params![app as i64, room_id, seq as i64])?;
            Ok(())
        })
    }

    /// Marks a room's stream as stopped, with the host's postscript.
    fn set_push_stopped(
        &self,
        app: u64,
        room_id: String,
        postscript: String,
    ) -> StoreFuture<'_, ()> {
        self.write(move |c, _| {
            c.execute(
                "UPDATE rooms SET push_stopped = 1, postscript = ?3 WHERE app = ?1 AND room_id = ?2",
                params![app as i64, room_id, postscript],
            )?;
            Ok(())
        })
    }

    /// Mutes `user` until `until` (unix seconds), with its audit row.
    fn mute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: i64,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "INSERT OR REPLACE INTO room_mutes (app, room_id, user_id, until)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app, room, user, until],
            )?;
            Ok(())
        })
    }

    /// Lifts `user`'s mute, with its audit row.
    fn unmute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "DELETE FROM room_mutes WHERE app = ?1 AND room_id = ?2 AND user_id = ?3",
                params![app, room, user],
            )?;
            Ok(())
        })
    }

    /// Records a kick: nothing is stored for it but its audit row.
    fn kick_member(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, |_, _, _| Ok(()))
    }

    /// Bans `user` until `until` (`None`: for good), with its audit row.
    fn ban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: Option<i64>,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "INSERT OR REPLACE INTO room_bans (app, room_id, user_id, until)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app, room, user, until],
            )?;
            Ok(())
        })
    }

    /// Lifts `user`'s ban, with its audit row.
    fn unban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "DELETE FROM room_bans WHERE app = ?1 AND room_id = ?2 AND user_id = ?3",
                params![app, room, user],
            )?;
            Ok(())
        })
    }

    /// Stores the room's mute-all and slow mode, with its audit row.
    fn set_settings(
        &self,
        app: u64,
        room_id: String,
        settings: RoomSettings,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "UPDATE rooms SET mute_all = ?3, slow_mode = ?4 WHERE app = ?1 AND room_id = ?2",
                params![
                    app,
                    room,
                    i64::from(settings.mute_all),
                    i64::from(settings.slow_mode)
                ],
            )?;
            Ok(())
        })
    }

    /// Appoints `user` admin (`admin`) or removes them as one, with its audit row.
    fn set_admin(
        &self,
        app: u64,
        room_id: String,
        user: String,
        admin: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            let sql = if admin {
                "INSERT OR IGNORE INTO room_admins (app, room_id, user_id) VALUES (?1, ?2, ?3)"
            } else {
                "DELETE FROM room_admins WHERE app = ?1 AND room_id = ?2 AND user_id = ?3"
            };
            tx.execute(sql, params![app, room, user])?;
            Ok(())
        })
    }

    /// Adds `word` to the room's blocked words (`add`) or removes it, with its audit row.
    fn set_blocked_word(
        &self,
        app: u64,
        room_id: String,
        word: String,
        add: bool,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            let sql = if add {
                "INSERT OR IGNORE INTO room_blocked_words (app, room_id, word) VALUES (?1, ?2, ?3)"
            } else {
                "DELETE FROM room_blocked_words WHERE app = ?1 AND room_id = ?2 AND word = ?3"
            };
            tx.execute(sql, params![app, room, word])?;
            Ok(())
        })
    }

    /// Deletes message `seq` from the kept history and remembers its deletion for
    /// re-entering clients (the newest [`DELETIONS_KEPT`]), with its audit row.
    fn delete_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        message_id: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            let seq = seq as i64;
            tx.execute(
                "DELETE FROM messages WHERE app = ?1 AND room_id = ?2 AND seq = ?3",
                params![app, room, seq],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO room_deletions (app, room_id, seq, message_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app, room, seq, message_id],
            )?;
            tx.execute(
                "DELETE FROM room_deletions WHERE app = ?1 AND room_id = ?2 AND seq <= (
                     SELECT seq FROM room_deletions WHERE app = ?1 AND room_id = ?2
                     ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
                params![app, room, DELETIONS_KEPT as i64],
            )?;
            Ok(())
        })
    }

    /// Stores the room's editable profile fields (name, notification, introduction,
    /// avatar), with its audit row.
    fn edit_room(
        &self,
        app: u64,
        room_id: String,
        info: RoomInfo,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "UPDATE rooms SET name = ?3, notification = ?4, introduction = ?5, avatar = ?6
                 WHERE app = ?1 AND room_id = ?2",
                params![
                    app,
                    room,
                    info.name,
                    info.notification,
                    info.introduction,
                    info.avatar
                ],
            )?;
            Ok(())
        })
    }

    /// Makes `owner` the room's owner (the count of rooms owned is read from the same
    /// column), with its audit row.
    fn change_owner(
        &self,
        app: u64,
        room_id: String,
        owner: String,
        audit: AuditRecord,
    ) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "UPDATE rooms SET owner = ?3 WHERE app = ?1 AND room_id = ?2",
                params![app, room, owner],
            )?;
            Ok(())
        })
    }

    /// Deletes the room with its messages and moderation state (the audit log stays, and
    /// gets this action's row).
    fn dismiss_room(&self, app: u64, room_id: String, audit: AuditRecord) -> StoreFuture<'_, ()> {
        self.audited(app, room_id, audit, |tx, app, room| {
            for table in ROOM_TABLES {
                // `table` is one of this module's constants, never input.
                tx.execute(
                    &format!("DELETE FROM {table} WHERE app = ?1 AND room_id = ?2"),
                    params![app, room],
                )?;
            }
            Ok(())
        })
    }

    fn save_stats(
        &self,
        app: u64,
        room_id: String,
        created: i64,
        stats: Counts,
    ) -> StoreFuture<'_, ()> {
        self.write(move |c, _| {
            let json = serde_json::to_string(&stats)
                .map_err(|e| StoreError::Task(format!("statistics not encoded: {e}")))?;
            // Only while the room it counted is the room of that ID.
            c.prepare_cached(
                "INSERT OR REPLACE INTO room_stats (app, room_id, stats)
                 SELECT ?1, ?2, ?3 FROM rooms
                 WHERE app = ?1 AND room_id = ?2 AND create_time = ?4",
            )?
            .execute(params![app as i64, room_id, json, created])?;
            Ok(())
        })
    }

    /// A room's audit log, newest first, at most `limit` rows.
    fn audit_log(&self, app: u64, room_id: String, limit: u32) -> StoreFuture<'_, Vec<AuditEntry>> {
        self.read(move |c, _| {
            let mut stmt = c.prepare(
                "SELECT id, time, actor, target, action, reason, details FROM audit_log
                 WHERE app = ?1 AND room_id = ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![app as i64, room_id, limit as i64], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        time: r.get(1)?,
                        actor: r.get(2)?,
                        target: r.get(3)?,
                        action: r.get(4)?,
                        reason: r.get(5)?,
                        details: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        let (reply, answer) = oneshot::channel();
        let queued = self
            .writes
            .send(Job::Checkpoint(reply))
            .map_err(|_| stopped());
        Box::pin(async move {
            queued?;
            wait(answer).await.map_err(|_| stopped())?
        })
    }
}

/// Waits for the store thread's answer: in place on a multi-thread runtime
/// (`block_in_place`), else by awaiting it. In place because a task woken from another
/// thread is queued behind the runtime's whole global queue, which during a big room's
/// fan-out holds thousands of viewers: a sender would publish a fan-out round late
/// (`liveroom-bench fanout --viewers 5000 --rate 40` on a loaded 2-core box: p99 0.8-1.3 s
/// awaiting, 0.15-0.16 s in place, as with the former shared connection).
async fn wait<T>(answer: oneshot::Receiver<T>) -> Result<T, oneshot::error::RecvError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(|| answer.blocking_recv());
    }
    answer.await
}

fn stopped() -> StoreError {
    StoreError::Task("the store's thread stopped".into())
}

/// A room's saved statistics (empty when none, or unreadable: logged).
fn load_stats(c: &Connection, app: u64, room_id: &str) -> Result<Counts, StoreError> {
    let json: Option<String> = c
        .prepare_cached("SELECT stats FROM room_stats WHERE app = ?1 AND room_id = ?2")?
        .query_row(params![app as i64, room_id], |r| r.get(0))
        .optional()?;
    Ok(json
        .and_then(|j| {
            serde_json::from_str(&j)
                .inspect_err(|e| {
                    tracing::warn!(app, room = %room_id, error = %e, "saved statistics unreadable: starting afresh");
                })
                .ok()
        })
        .unwrap_or_default())
}

/// Applies the migrations not yet run.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done = usize::try_from(version.max(0)).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "store migrated");
    }
    Ok(())
}

/// Starts the writer thread on `conn`.
fn spawn_writer(mut conn: Connection, history: usize) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("liveroom-store-writer".into())
        .spawn(move || {
            // Until every sender (the store) is gone.
            while let Ok(first) = jobs.recv() {
                let mut batch = Vec::new();
                let mut job = Some(first);
                while let Some(j) = job.take() {
                    match j {
                        Job::Write(w) => batch.push(w),
                        Job::Checkpoint(reply) => {
                            commit(&mut conn, history, std::mem::take(&mut batch));
                            let _ = reply.send(checkpoint(&conn));
                        }
                    }
                    if batch.len() < BATCH_MAX {
                        job = jobs.try_recv().ok();
                    }
                }
                commit(&mut conn, history, batch);
            }
        })
        .map_err(|e| StoreError::Task(format!("cannot start the store writer: {e}")))?;
    Ok(tx)
}

/// Starts the reader thread on `conn`.
fn spawn_reader(conn: Connection, history: usize) -> Result<mpsc::Sender<Read>, StoreError> {
    let (tx, reads) = mpsc::channel::<Read>();
    std::thread::Builder::new()
        .name("liveroom-store-reader".into())
        .spawn(move || {
            while let Ok(read) = reads.recv() {
                read(&conn, history);
            }
        })
        .map_err(|e| StoreError::Task(format!("cannot start the store reader: {e}")))?;
    Ok(tx)
}

/// Runs `batch` in one transaction, each write in its own savepoint, commits, then answers
/// every write.
fn commit(conn: &mut Connection, history: usize, mut batch: Vec<Box<dyn Write>>) {
    if batch.is_empty() {
        return;
    }
    let outcome = run_batch(conn, history, &mut batch);
    if let Err(e) = &outcome {
        tracing::error!(error = %e, writes = batch.len(), "store commit failed");
    }
    for write in batch {
        write.answer(outcome.as_ref().map(|_| ()));
    }
}

fn run_batch(
    conn: &mut Connection,
    history: usize,
    batch: &mut [Box<dyn Write>],
) -> Result<(), StoreError> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for write in batch.iter_mut() {
        let sp = tx.savepoint()?;
        if write.run(&sp, history) {
            sp.commit()?;
        } else {
            sp.finish()?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Folds the WAL into the main file.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// A user's account row; `None` when there is none.
fn read_account(c: &Connection, app: u64, user_id: &str) -> Result<Option<Account>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT nick, avatar, revoked_at FROM profiles WHERE app = ?1 AND user_id = ?2",
        )?
        .query_row(params![app as i64, user_id], |r| {
            Ok(Account {
                profile: Profile {
                    user_id: user_id.to_owned(),
                    nick: r.get(0)?,
                    avatar: r.get(1)?,
                },
                revoked_at: r.get(2)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Loads a room's moderation state (expired mutes and bans are left out).
fn load_moderation(
    c: &Connection,
    app: u64,
    room_id: &str,
) -> Result<StoredModeration, StoreError> {
    let now = liveroom_usersig::now_secs();
    let key = params![app as i64, room_id];
    let settings = c
        .query_row(
            "SELECT mute_all, slow_mode FROM rooms WHERE app = ?1 AND room_id = ?2",
            key,
            |r| {
                Ok(RoomSettings {
                    mute_all: r.get::<_, i64>(0)? != 0,
                    slow_mode: u32::try_from(r.get::<_, i64>(1)?.max(0)).unwrap_or(0),
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    let strings = |sql: &str| -> Result<Vec<String>, StoreError> {
        let mut stmt = c.prepare(sql)?;
        let rows = stmt
            .query_map(key, |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    let admins = strings("SELECT user_id FROM room_admins WHERE app = ?1 AND room_id = ?2")?;
    let words = strings("SELECT word FROM room_blocked_words WHERE app = ?1 AND room_id = ?2")?;
    let mut stmt = c.prepare(
        "SELECT user_id, until FROM room_mutes WHERE app = ?1 AND room_id = ?2 AND until > ?3",
    )?;
    let mutes = stmt
        .query_map(params![app as i64, room_id, now], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = c.prepare(
        "SELECT user_id, until FROM room_bans WHERE app = ?1 AND room_id = ?2
         AND (until IS NULL OR until > ?3)",
    )?;
    let bans = stmt
        .query_map(params![app as i64, room_id, now], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StoredModeration {
        admins,
        mutes,
        bans,
        words,
        settings,
    })
}

/// The newest `limit` rows (sequence, `column`) of a room's `table`, oldest first.
fn newest(
    c: &Connection,
    table: &str,
    column: &str,
    app: u64,
    room_id: &str,
    limit: usize,
) -> Result<Vec<(u64, String)>, StoreError> {
    // `table` and `column` are this module's constants, never input.
    let mut stmt = c.prepare(&format!(
        "SELECT seq, {column} FROM {table} WHERE app = ?1 AND room_id = ?2
         ORDER BY seq DESC LIMIT ?3"
    ))?;
    let mut rows: Vec<(u64, String)> = stmt
        .query_map(params![app as i64, room_id, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: &str) -> RoomInfo {
        crate::test_support::room_info(id)
    }

    use crate::test_support::record;

    #[tokio::test]
    async fn deletions_are_kept_oldest_first_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        crate::store_contract::deletions_are_kept_oldest_first_up_to_the_cap(&store, room("r"))
            .await;
    }

    #[tokio::test]
    async fn rooms_are_listed_page_by_page() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        crate::store_contract::rooms_are_listed_page_by_page(&store).await;
    }

    #[tokio::test]
    async fn the_owner_changes_with_the_rooms_owned() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        crate::store_contract::the_owner_changes_with_the_rooms_owned(&store).await;
    }

    #[tokio::test]
    async fn history_is_trimmed_and_sequences_survive() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        assert!(!store.create_room(1, room("r")).await.unwrap());
        assert!(store.create_room(2, room("r")).await.unwrap());
        for seq in 1..=5 {
            store
                .append_message(1, "r".into(), seq, 0, Encoded::new(&seq).unwrap())
                .await
                .unwrap();
        }
        drop(store);
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(r.last_seq, 5);
        let seqs: Vec<u64> = r.history.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert!(store.load_room(1, "x".into()).await.unwrap().is_none());
        assert_eq!(
            store
                .load_room(2, "r".into())
                .await
                .unwrap()
                .unwrap()
                .last_seq,
            0
        );
    }

    #[tokio::test]
    async fn moderation_state_survives_and_dismiss_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        let far = liveroom_usersig::now_secs() + 3600;
        store
            .mute_member(
                1,
                "r".into(),
                "m".into(),
                far,
                record("mute_member", "spam"),
            )
            .await
            .unwrap();
        store
            .ban_member(1, "r".into(), "b".into(), None, record("ban_member", ""))
            .await
            .unwrap();
        let settings = RoomSettings {
            mute_all: true,
            slow_mode: 7,
        };
        store
            .set_settings(1, "r".into(), settings, record("mute_all", ""))
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(r.moderation.mutes, vec![("m".to_owned(), far)]);
        assert_eq!(r.moderation.bans, vec![("b".to_owned(), None)]);
        assert_eq!(r.moderation.settings, settings);
        let log = store.audit_log(1, "r".into(), 10).await.unwrap();
        assert_eq!(log.len(), 3, "one audit row per action");
        assert_eq!(log[2].reason, "spam");
        store
            .dismiss_room(1, "r".into(), record("dismiss_room", ""))
            .await
            .unwrap();
        assert!(store.load_room(1, "r".into()).await.unwrap().is_none());
        assert!(store.create_room(1, room("r")).await.unwrap());
        let r = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert!(r.moderation.bans.is_empty());
        assert_eq!(
            store.audit_log(1, "r".into(), 10).await.unwrap().len(),
            4,
            "the audit log outlives the room"
        );
    }

    #[tokio::test]
    async fn a_failed_action_stores_neither_its_change_nor_its_audit_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        // The change fails inside the transaction (its table is gone): the audit row, written
        // in the same transaction, must not be committed either.
        store
            .write(|c, _| Ok(c.execute_batch("DROP TABLE room_mutes;")?))
            .await
            .unwrap();
        assert!(store
            .mute_member(1, "r".into(), "m".into(), 1, record("mute_member", ""))
            .await
            .is_err());
        assert!(store.audit_log(1, "r".into(), 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn writes_queued_together_commit_together_and_a_failing_one_alone_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 10).unwrap();
        for id in ["a", "b"] {
            assert!(store.create_room(1, room(id)).await.unwrap());
        }
        // Queued at once (most often one batch, one transaction). The
        // second writes, then fails: what it wrote is undone, the others are kept.
        let msg = |seq: u64| Encoded::new(&seq).unwrap();
        let (a1, failed, b1, kick, a2) = tokio::join!(
            store.append_message(1, "a".into(), 1, 0, msg(1)),
            store.write(|c, _| {
                c.execute(
                    "INSERT INTO profiles (app, user_id, nick) VALUES (1, 'ghost', 'g')",
                    [],
                )?;
                Err::<(), _>(StoreError::Corrupt("on purpose".into()))
            }),
            store.append_message(1, "b".into(), 1, 0, msg(1)),
            store.kick_member(1, "a".into(), record("kick_member", "")),
            store.append_message(1, "a".into(), 2, 0, msg(2)),
        );
        assert!(failed.is_err());
        assert_eq!(store.profile(1, "ghost".into()).await.unwrap().nick, "");
        for ok in [a1, b1, kick, a2] {
            ok.unwrap();
        }
        let a = store.load_room(1, "a".into()).await.unwrap().unwrap();
        let seqs: Vec<u64> = a.history.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(a.last_seq, 2);
        let b = store.load_room(1, "b".into()).await.unwrap().unwrap();
        assert_eq!(b.last_seq, 1);
        let log = store.audit_log(1, "a".into(), 10).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["kick_member"],
            "the failed mute left no audit row"
        );
        store.flush().await.unwrap();
    }

    #[tokio::test]
    async fn statistics_are_kept_for_the_room_they_counted_and_go_with_it() {
        let store = SqliteStore::in_memory(10);
        assert!(store.create_room(1, room("r")).await.unwrap());
        let created = room("r").create_time;
        let mut counts = Counts {
            messages: 7,
            ..Counts::default()
        };
        counts.gifters.insert("fan".into(), 3);
        counts.minutes.push_back((1_764_600_000, 4, 7));
        store
            .save_stats(1, "r".into(), created, counts.clone())
            .await
            .unwrap();
        let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(loaded.stats, counts);
        // Another room of that ID (created at another time) is not written over.
        let mut other = counts.clone();
        other.messages = 99;
        store
            .save_stats(1, "r".into(), created + 1, other)
            .await
            .unwrap();
        let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(loaded.stats.messages, 7);
        // Dismissed: the row goes, and a late save of the old room writes nothing.
        store
            .dismiss_room(
                1,
                "r".into(),
                crate::test_support::record("dismiss_room", ""),
            )
            .await
            .unwrap();
        store
            .save_stats(1, "r".into(), created, counts)
            .await
            .unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        let fresh = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(fresh.stats, Counts::default());
    }

    #[tokio::test]
    async fn profiles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        crate::store_contract::profiles_round_trip(&store).await;
    }

    #[tokio::test]
    async fn accounts_open_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        crate::store_contract::accounts_open_and_revoke(&store).await;
    }

    #[tokio::test]
    async fn a_revocation_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path(), 3).unwrap();
            store.revoke_usersigs(1, "u".into(), 77).await.unwrap();
            store.flush().await.unwrap();
        }
        let store = SqliteStore::open(dir.path(), 3).unwrap();
        assert_eq!(
            store.open_account(1, "u".into()).await.unwrap().revoked_at,
            77
        );
    }
}
