//! Fixtures shared by the server's unit tests.

use std::sync::Arc;

use liveroom_proto::RoomInfo;

use crate::room::{Room, RoomLimits};
use crate::sqlite::SqliteStore;
use crate::store::StoredRoom;

/// A room profile with only its ID set to something that matters.
pub(crate) fn room_info(id: &str) -> RoomInfo {
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

/// An empty room of app 1 with a `ring`-slot channel, no budget and no history.
pub(crate) fn room(id: &str, ring: usize) -> Arc<Room> {
    let limits = RoomLimits {
        budget: 0,
        history: 0,
        join_leave_threshold: 0,
        ring: crate::fanout::RingConfig::slots(ring),
    };
    let stored = StoredRoom {
        info: room_info(id),
        last_seq: 0,
        history: Vec::new(),
        moderation: Default::default(),
        deleted: Vec::new(),
        stats: Default::default(),
    };
    Room::new(
        1,
        stored,
        limits,
        Arc::new(SqliteStore::in_memory(0)),
        &crate::engine::Engine::Local,
    )
}

/// An audit row by `o` about `m`.
pub(crate) fn record(action: &str, reason: &str) -> crate::store::AuditRecord {
    crate::store::AuditRecord {
        actor: "o".into(),
        target: "m".into(),
        action: action.into(),
        reason: reason.into(),
        details: "{}".into(),
    }
}

/// A viewer's view of a broker's ring (room `r`).
pub(crate) struct Viewer<B>(pub(crate) B);

impl<B: crate::broker::Broker> crate::fanout::Source for Viewer<B> {
    fn id(&self) -> &str {
        "r"
    }

    fn ring(&self) -> &crate::fanout::Ring {
        self.0.ring()
    }
}
