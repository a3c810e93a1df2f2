//! SQLite store: profiles, rooms, and each room's recent messages.
//!
//! One connection behind a mutex, used from `spawn_blocking`, so SQLite never blocks the
//! async workers. WAL mode keeps commits cheap; a send is acknowledged only after its row is
//! committed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use liveroom_proto::{Profile, RoomInfo};
use rusqlite::{params, Connection, OptionalExtension};

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
];

/// A room as loaded from the store: its profile, last sequence and recent messages.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    /// The room's profile.
    pub info: RoomInfo,
    /// Highest sequence ever assigned in the room.
    pub last_seq: u64,
    /// The kept history, oldest first: (sequence, encoded message JSON).
    pub history: Vec<(u64, String)>,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Messages kept per room (0 = none).
    history: usize,
}

impl Store {
    /// Opens (creating and migrating) `DIR/liveroom.db`.
    pub fn open(dir: &Path, history: usize) -> Result<Self, StoreError> {
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

    /// Runs `f` on the connection in a blocking thread.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, usize) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = this.lock()?;
            f(&mut conn, this.history)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// A user's profile (empty nick and avatar when never set).
    pub async fn profile(&self, app: u64, user_id: String) -> Result<Profile, StoreError> {
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
    pub async fn save_profile(&self, app: u64, profile: Profile) -> Result<(), StoreError> {
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
    pub async fn create_room(&self, app: u64, info: RoomInfo) -> Result<bool, StoreError> {
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
    pub async fn load_room(
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
            let mut stmt = c.prepare(
                "SELECT seq, json FROM messages WHERE app = ?1 AND room_id = ?2
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let mut rows: Vec<(u64, String)> = stmt
                .query_map(params![app as i64, room_id, history as i64], |r| {
                    Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            rows.reverse();
            let max_stored = rows.last().map(|(s, _)| *s).unwrap_or(0);
            Ok(Some(StoredRoom {
                info,
                last_seq: (last_seq.max(0) as u64).max(max_stored),
                history: rows,
            }))
        })
        .await
    }

    /// Commits a message: its row (when history is kept), the room's last sequence, and the
    /// trim of rows beyond the history size, in one transaction.
    pub async fn append_message(
        &self,
        app: u64,
        room_id: String,
        seq: u64,
        time: i64,
        json: Arc<str>,
    ) -> Result<(), StoreError> {
        self.call(move |c, history| {
            let tx = c.transaction()?;
            if history > 0 {
                tx.execute(
                    "INSERT OR REPLACE INTO messages (app, room_id, seq, json, time)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![app as i64, room_id, seq as i64, &*json, time],
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
    pub async fn set_push_stopped(
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

    /// Folds the WAL into the main file; called on graceful shutdown.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.call(|c, _| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: &str) -> RoomInfo {
        RoomInfo {
            group_id: id.into(),
            kind: "AVChatRoom".into(),
            name: "n".into(),
            owner_id: "o".into(),
            notification: String::new(),
            introduction: String::new(),
            avatar: String::new(),
            create_time: 1,
            push_stopped: false,
            postscript: String::new(),
        }
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
                .append_message(1, "r".into(), seq, 0, format!("{{\"s\":{seq}}}").into())
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
