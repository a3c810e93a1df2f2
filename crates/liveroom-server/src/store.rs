//! SQLite store: profiles, rooms, and each room's recent messages.
//!
//! One connection behind a mutex, used from `spawn_blocking`, so SQLite never blocks the
//! async workers. WAL mode keeps commits cheap; a send is acknowledged only after its row is
//! committed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use liveroom_proto::{AuditEntry, Profile, RoomInfo, RoomSettings};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::encoded::Encoded;
use crate::error::StoreError;

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
];

/// Deletions a room remembers for re-entering clients.
pub(crate) const DELETIONS_KEPT: usize = 256;

/// Tables keyed by (app, room_id) that go with the room when it is dismissed.
const ROOM_TABLES: &[&str] = &[
    "rooms",
    "messages",
    "room_admins",
    "room_mutes",
    "room_bans",
    "room_blocked_words",
    "room_deletions",
];

/// A room as loaded from the store: its profile, last sequence and recent messages.
#[derive(Debug, Clone)]
pub(crate) struct StoredRoom {
    /// The room's profile.
    pub(crate) info: RoomInfo,
    /// Highest sequence ever assigned in the room.
    pub(crate) last_seq: u64,
    /// The kept history, oldest first: (sequence, encoded message).
    pub(crate) history: Vec<(u64, Encoded)>,
    /// Admins, mutes, bans, blocked words and settings.
    pub(crate) moderation: StoredModeration,
    /// Recent deletions (sequence, message ID), oldest first.
    pub(crate) deleted: Vec<(u64, String)>,
}

/// A room's stored moderation state.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredModeration {
    /// Appointed admins.
    pub(crate) admins: Vec<String>,
    /// Muted members and the end of their mute (unix seconds).
    pub(crate) mutes: Vec<(String, i64)>,
    /// Banned members and the end of their ban (`None`: for good).
    pub(crate) bans: Vec<(String, Option<i64>)>,
    /// The room's blocked words, as written.
    pub(crate) words: Vec<String>,
    /// Mute-all and slow mode.
    pub(crate) settings: RoomSettings,
}

/// An audit row to write.
#[derive(Debug, Clone)]
pub(crate) struct AuditRecord {
    /// Who acted.
    pub(crate) actor: String,
    /// Whom or what.
    pub(crate) target: String,
    /// The op.
    pub(crate) action: String,
    /// The reason.
    pub(crate) reason: String,
    /// JSON details.
    pub(crate) details: String,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Messages kept per room (0 = none).
    history: usize,
}

impl Store {
    /// Opens (creating and migrating) `DIR/liveroom.db`.
    pub(crate) fn open(dir: &Path, history: usize) -> Result<Self, StoreError> {
        let conn = Connection::open(dir.join("liveroom.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self {
            conn: Arc::new(Mutex::new(conn)),
            history,
        };
        store.migrate()?;
        Ok(store)
    }

    /// A store in memory, for unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory(history: usize) -> Self {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        let mut store = Self {
            conn: Arc::new(Mutex::new(conn)),
            history,
        };
        store.migrate().expect("migrations run");
        store
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
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

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Task("store mutex poisoned".into()))
    }

    /// Runs `f` on the connection: in place on a multi-thread runtime (`block_in_place`),
    /// else in a blocking thread. In place because a task woken from the blocking pool
    /// waits behind the runtime's whole global queue, which during a big room's fan-out
    /// holds thousands of viewers: senders would get one commit per fan-out round.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, usize) -> Result<T, StoreError> + Send + 'static,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(|| {
                let mut conn = self.lock()?;
                f(&mut conn, self.history)
            });
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = this.lock()?;
            f(&mut conn, this.history)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// A user's profile (empty nick and avatar when never set).
    pub(crate) async fn profile(&self, app: u64, user_id: String) -> Result<Profile, StoreError> {
        self.call(move |c, _| {
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
        .await
    }

    /// Saves a profile.
    pub(crate) async fn save_profile(&self, app: u64, profile: Profile) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute(
                "INSERT INTO profiles (app, user_id, nick, avatar) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app, user_id) DO UPDATE SET nick = excluded.nick, avatar = excluded.avatar",
                params![app as i64, profile.user_id, profile.nick, profile.avatar],
            )?;
            Ok(())
        })
        .await
    }

    /// Inserts a new room; `Ok(false)` when the ID is already taken.
    pub(crate) async fn create_room(&self, app: u64, info: RoomInfo) -> Result<bool, StoreError> {
        self.call(move |c, _| {
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
        .await
    }

    /// Loads a room with its kept history; `None` when it does not exist.
    pub(crate) async fn load_room(
        &self,
        app: u64,
        room_id: String,
    ) -> Result<Option<StoredRoom>, StoreError> {
        self.call(move |c, history| {
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
            Ok(Some(StoredRoom {
                info,
                last_seq: (last_seq.max(0) as u64).max(max_stored),
                history: rows,
                moderation,
                deleted,
            }))
        })
        .await
    }

    /// How many rooms `owner` owns in `app`.
    pub(crate) async fn rooms_owned(&self, app: u64, owner: String) -> Result<u64, StoreError> {
        self.call(move |c, _| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM rooms WHERE app = ?1 AND owner = ?2",
                params![app as i64, owner],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// Commits a message: its row (when history is kept), the room's last sequence, and the
    /// trim of rows beyond the history size, in one transaction.
    pub(crate) async fn append_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        time: i64,
        json: Encoded,
    ) -> Result<(), StoreError> {
        self.call(move |c, history| {
            let tx = c.transaction()?;
            if history > 0 {
                tx.execute(
                    "INSERT OR REPLACE INTO messages (app, room_id, seq, json, time)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![app as i64, room_id, seq as i64, json.as_str(), time],
                )?;
                let keep_from = seq.saturating_sub(history as u64) as i64;
                tx.execute(
                    "DELETE FROM messages WHERE app = ?1 AND room_id = ?2 AND seq <= ?3",
                    params![app as i64, room_id, keep_from],
                )?;
            }
            tx.execute(
                "UPDATE rooms SET last_seq = MAX(last_seq, ?3) WHERE app = ?1 AND room_id = ?2",
                params![app as i64, room_id, seq as i64],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Marks a room's stream as stopped, with the host's postscript.
    pub(crate) async fn set_push_stopped(
        &self,
        app: u64,
        room_id: String,
        postscript: String,
    ) -> Result<(), StoreError> {
        self.call(move |c, _| {
            c.execute(
                "UPDATE rooms SET push_stopped = 1, postscript = ?3 WHERE app = ?1 AND room_id = ?2",
                params![app as i64, room_id, postscript],
            )?;
            Ok(())
        })
        .await
    }

    /// Runs `change` and writes `audit` in one transaction: both are stored or neither is.
    async fn audited<F>(
        &self,
        app: u64,
        room_id: String,
        audit: AuditRecord,
        change: F,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(&Transaction<'_>, i64, &str) -> Result<(), StoreError> + Send + 'static,
    {
        let now = liveroom_usersig::now_secs();
        self.call(move |c, _| {
            let tx = c.transaction()?;
            change(&tx, app as i64, &room_id)?;
            tx.execute(
                "INSERT INTO audit_log (app, room_id, time, actor, target, action, reason, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    app as i64,
                    room_id,
                    now,
                    audit.actor,
                    audit.target,
                    audit.action,
                    audit.reason,
                    audit.details
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Mutes `user` until `until` (unix seconds), with its audit row.
    pub(crate) async fn mute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: i64,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "INSERT OR REPLACE INTO room_mutes (app, room_id, user_id, until)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app, room, user, until],
            )?;
            Ok(())
        })
        .await
    }

    /// Lifts `user`'s mute, with its audit row.
    pub(crate) async fn unmute_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "DELETE FROM room_mutes WHERE app = ?1 AND room_id = ?2 AND user_id = ?3",
                params![app, room, user],
            )?;
            Ok(())
        })
        .await
    }

    /// Records a kick: nothing is stored for it but its audit row.
    pub(crate) async fn kick_member(
        &self,
        app: u64,
        room_id: String,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, |_, _, _| Ok(())).await
    }

    /// Bans `user` until `until` (`None`: for good), with its audit row.
    pub(crate) async fn ban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        until: Option<i64>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "INSERT OR REPLACE INTO room_bans (app, room_id, user_id, until)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app, room, user, until],
            )?;
            Ok(())
        })
        .await
    }

    /// Lifts `user`'s ban, with its audit row.
    pub(crate) async fn unban_member(
        &self,
        app: u64,
        room_id: String,
        user: String,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            tx.execute(
                "DELETE FROM room_bans WHERE app = ?1 AND room_id = ?2 AND user_id = ?3",
                params![app, room, user],
            )?;
            Ok(())
        })
        .await
    }

    /// Stores the room's mute-all and slow mode, with its audit row.
    pub(crate) async fn set_settings(
        &self,
        app: u64,
        room_id: String,
        settings: RoomSettings,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
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
        .await
    }

    /// Appoints `user` admin (`admin`) or removes them as one, with its audit row.
    pub(crate) async fn set_admin(
        &self,
        app: u64,
        room_id: String,
        user: String,
        admin: bool,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            let sql = if admin {
                "INSERT OR IGNORE INTO room_admins (app, room_id, user_id) VALUES (?1, ?2, ?3)"
            } else {
                "DELETE FROM room_admins WHERE app = ?1 AND room_id = ?2 AND user_id = ?3"
            };
            tx.execute(sql, params![app, room, user])?;
            Ok(())
        })
        .await
    }

    /// Adds `word` to the room's blocked words (`add`) or removes it, with its audit row.
    pub(crate) async fn set_blocked_word(
        &self,
        app: u64,
        room_id: String,
        word: String,
        add: bool,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.audited(app, room_id, audit, move |tx, app, room| {
            let sql = if add {
                "INSERT OR IGNORE INTO room_blocked_words (app, room_id, word) VALUES (?1, ?2, ?3)"
            } else {
                "DELETE FROM room_blocked_words WHERE app = ?1 AND room_id = ?2 AND word = ?3"
            };
            tx.execute(sql, params![app, room, word])?;
            Ok(())
        })
        .await
    }

    /// Deletes message `seq` from the kept history and remembers its deletion for
    /// re-entering clients (the newest [`DELETIONS_KEPT`]), with its audit row.
    pub(crate) async fn delete_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        message_id: String,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
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
        .await
    }

    /// Stores the room's editable profile fields (name, notification, introduction,
    /// avatar), with its audit row.
    pub(crate) async fn edit_room(
        &self,
        app: u64,
        room_id: String,
        info: RoomInfo,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
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
        .await
    }

    /// Deletes the room with its messages and moderation state (the audit log stays, and
    /// gets this action's row).
    pub(crate) async fn dismiss_room(
        &self,
        app: u64,
        room_id: String,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
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
        .await
    }

    /// A room's audit log, newest first, at most `limit` rows.
    pub(crate) async fn audit_log(
        &self,
        app: u64,
        room_id: String,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.call(move |c, _| {
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
        .await
    }

    /// Folds the WAL into the main file; called on graceful shutdown.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        self.call(|c, _| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
        .await
    }
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

    fn record(action: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            actor: "o".into(),
            target: "m".into(),
            action: action.into(),
            reason: reason.into(),
            details: "{}".into(),
        }
    }

    #[tokio::test]
    async fn deletions_are_kept_newest_first_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 3).unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        let n = DELETIONS_KEPT as u64 + 4;
        for seq in 1..=n {
            store
                .delete_message(
                    1,
                    "r".into(),
                    seq,
                    format!("m{seq}"),
                    record("delete_message", ""),
                )
                .await
                .unwrap();
        }
        let loaded = store.load_room(1, "r".into()).await.unwrap().unwrap();
        assert_eq!(loaded.deleted.len(), DELETIONS_KEPT);
        assert_eq!(loaded.deleted.first(), Some(&(5, "m5".to_owned())));
        assert_eq!(loaded.deleted.last(), Some(&(n, format!("m{n}"))));
    }

    #[tokio::test]
    async fn history_is_trimmed_and_sequences_survive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 3).unwrap();
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
        let store = Store::open(dir.path(), 3).unwrap();
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
        let store = Store::open(dir.path(), 3).unwrap();
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
        let store = Store::open(dir.path(), 3).unwrap();
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
        let store = Store::open(dir.path(), 3).unwrap();
        assert!(store.create_room(1, room("r")).await.unwrap());
        // The change fails inside the transaction (its table is gone): the audit row, written
        // in the same transaction, must not be committed either.
        store
            .call(|c, _| Ok(c.execute_batch("DROP TABLE room_mutes;")?))
            .await
            .unwrap();
        assert!(store
            .mute_member(1, "r".into(), "m".into(), 1, record("mute_member", ""))
            .await
            .is_err());
        assert!(store.audit_log(1, "r".into(), 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn profiles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 3).unwrap();
        assert_eq!(store.profile(1, "u".into()).await.unwrap().nick, "");
        let p = Profile {
            user_id: "u".into(),
            nick: "N".into(),
            avatar: "a".into(),
        };
        store.save_profile(1, p.clone()).await.unwrap();
        assert_eq!(store.profile(1, "u".into()).await.unwrap(), p);
    }
}
