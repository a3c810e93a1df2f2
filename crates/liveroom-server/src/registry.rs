//! The rooms loaded in memory: loaded from the store on first use, created, forgotten when
//! dismissed, and unloaded when nobody has used them for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liveroom_proto::RoomInfo;

use crate::engine::Engine;
use crate::error::StoreError;
use crate::room::{Room, RoomLimits};
use crate::store::{Store, StoredRoom};

/// Why a room could not be created.
pub(crate) enum CreateError {
    /// Taken by someone else (10021).
    Taken,
    /// Taken by the caller (10025).
    TakenByYou,
    /// Storage failed.
    Store(StoreError),
}

/// A loaded room.
struct Loaded {
    room: Arc<Room>,
    /// When the sweep first found the room unused (see [`Registry::unload_idle`]).
    unused_since: Option<Instant>,
}

/// The loaded rooms, keyed by (SDKAppID, room ID).
pub(crate) struct Registry {
    rooms: Mutex<HashMap<(u64, String), Loaded>>,
    store: Store,
    limits: RoomLimits,
    engine: Engine,
}

impl Registry {
    /// An empty registry over `store`; its rooms get `limits` and run on `engine`.
    pub(crate) fn new(store: Store, limits: RoomLimits, engine: Engine) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            store,
            limits,
            engine,
        }
    }

    /// The loaded room, unless dismissed (then it is gone, whether or not forgotten yet).
    fn cached(&self, app: u64, id: &str) -> Option<Arc<Room>> {
        let rooms = self.rooms.lock().ok()?;
        rooms
            .get(&(app, id.to_owned()))
            .map(|l| &l.room)
            .filter(|r| !r.is_dismissed())
            .cloned()
    }

    /// Forgets a dismissed room.
    pub(crate) fn remove(&self, app: u64, id: &str) {
        if let Ok(mut rooms) = self.rooms.lock() {
            rooms.remove(&(app, id.to_owned()));
        }
    }

    fn insert(&self, app: u64, stored: StoredRoom) -> Arc<Room> {
        let key = (app, stored.info.group_id.clone());
        let room = Room::new(app, stored, self.limits, self.store.clone(), &self.engine);
        match self.rooms.lock() {
            Ok(mut rooms) => {
                let entry = rooms.entry(key).or_insert_with(|| Loaded {
                    room: room.clone(),
                    unused_since: None,
                });
                // A room dismissed but not yet forgotten gives way to its successor.
                if entry.room.is_dismissed() {
                    entry.room = room;
                }
                entry.room.clone()
            }
            Err(_) => room,
        }
    }

    /// The room, loading it from the store when needed; `None` when it does not exist.
    pub(crate) async fn get(&self, app: u64, id: &str) -> Result<Option<Arc<Room>>, StoreError> {
        if let Some(room) = self.cached(app, id) {
            return Ok(Some(room));
        }
        match self.store.load_room(app, id.to_owned()).await? {
            Some(stored) => Ok(Some(self.insert(app, stored))),
            None => Ok(None),
        }
    }

    /// Creates a room owned by `info.owner_id`.
    pub(crate) async fn create(&self, app: u64, info: RoomInfo) -> Result<Arc<Room>, CreateError> {
        let owner = info.owner_id.clone();
        let id = info.group_id.clone();
        let created = self
            .store
            .create_room(app, info.clone())
            .await
            .map_err(CreateError::Store)?;
        if !created {
            let existing = self.get(app, &id).await.map_err(CreateError::Store)?;
            return match existing {
                Some(room) if room.info().await.owner_id == owner => Err(CreateError::TakenByYou),
                _ => Err(CreateError::Taken),
            };
        }
        Ok(self.insert(
            app,
            StoredRoom {
                info,
                last_seq: 0,
                history: Vec::new(),
                moderation: Default::default(),
                deleted: Vec::new(),
                stats: Default::default(),
            },
        ))
    }

    /// Unloads rooms nobody has used for `after`, as seen by successive calls (the sweep's):
    /// no member, no request holding the room, no statistics the store does not have yet
    /// (the stats tick saves them). Everything that matters is in the store (profile,
    /// messages, moderation, recent deletions, statistics); the next use reloads it. What is
    /// lost is what a restart loses too: the send budget's window. Returns how many were
    /// unloaded.
    pub(crate) fn unload_idle(&self, now: Instant, after: Duration) -> usize {
        let Ok(mut rooms) = self.rooms.lock() else {
            return 0;
        };
        let before = rooms.len();
        rooms.retain(|_, loaded| {
            // Members hold the room through their subscriptions and requests through their
            // handle; under the registry's lock nobody can take a new one, so a count of one
            // (the registry's) means unused.
            let unused = Arc::strong_count(&loaded.room) == 1 && !loaded.room.has_unsaved_stats();
            match (unused, loaded.unused_since) {
                (false, _) => {
                    loaded.unused_since = None;
                    true
                }
                (true, None) => {
                    loaded.unused_since = Some(now);
                    true
                }
                (true, Some(t)) => now.saturating_duration_since(t) < after,
            }
        });
        before - rooms.len()
    }

    /// How many rooms are in memory.
    pub(crate) fn loaded(&self) -> usize {
        self.rooms.lock().map_or(0, |rooms| rooms.len())
    }

    /// Every loaded room.
    pub(crate) fn all(&self) -> Vec<Arc<Room>> {
        match self.rooms.lock() {
            Ok(rooms) => rooms.values().map(|l| l.room.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::{Body, Priority, Profile, TextPayload};

    use crate::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_room_is_unloaded_only_once_its_statistics_are_saved() {
        let store: Store = Arc::new(SqliteStore::in_memory(10));
        let limits = RoomLimits {
            budget: 0,
            history: 10,
            join_leave_threshold: 0,
            ring: crate::fanout::RingConfig::slots(16),
        };
        let rooms = Registry::new(store.clone(), limits, Engine::Local);
        let info = crate::test_support::room_info("r");
        let room = rooms.create(1, info.clone()).await.ok().unwrap();
        let from = Profile {
            user_id: "u".into(),
            ..Profile::default()
        };
        let text = Body::Text(TextPayload { text: "hi".into() });
        room.publish(&from, text, Priority::Normal, None)
            .await
            .unwrap();
        let t0 = Instant::now();
        let idle = Duration::from_secs(1);
        let sweeps = |room: Option<Arc<Room>>| {
            drop(room);
            rooms.unload_idle(t0, idle) + rooms.unload_idle(t0 + idle * 2, idle)
        };
        assert_eq!(sweeps(Some(room)), 0, "unsaved: kept");
        assert_eq!(rooms.loaded(), 1);
        let room = rooms.get(1, "r").await.unwrap().unwrap();
        room.save_stats().await;
        assert_eq!(sweeps(Some(room)), 1, "saved: unloaded");
        // Loaded again, it has what was counted.
        let room = rooms.get(1, "r").await.unwrap().unwrap();
        assert_eq!(room.stats().await.unwrap().messages_total, 1);
    }
}
