//! Which engine carries the rooms: this process alone (memory over SQLite, the default) or
//! a cluster of nodes over Redis (`--redis`). The one place that picks each seam's
//! implementation.

use std::sync::Arc;

use crate::broker::Broker;
use crate::cluster::broker::RedisBroker;
use crate::cluster::presence::RedisPresence;
use crate::cluster::Node;
use crate::encoded::Encoded;
use crate::local_broker::LocalBroker;
use crate::local_presence::LocalPresence;
use crate::presence::Presence;
use crate::room::RoomLimits;
use crate::stats::Counts;

/// The engine of the rooms.
#[derive(Clone)]
pub(crate) enum Engine {
    /// One process carries every room.
    Local,
    /// This process is one node of a cluster.
    Cluster(Arc<Node>),
}

impl Engine {
    /// The broker of room `room` of `app`, starting from the stored `last_seq`, `history`
    /// and statistics (`stats`: the local broker's; the Redis broker's are in Redis);
    /// `on_change` runs when another node changed the room's state.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn broker(
        &self,
        app: u64,
        room: &str,
        limits: &RoomLimits,
        last_seq: u64,
        history: Vec<(u64, Encoded)>,
        stats: Counts,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> Box<dyn Broker> {
        match self {
            Self::Local => Box::new(LocalBroker::new(
                room,
                limits.budget,
                limits.history,
                limits.ring,
                last_seq,
                history,
                stats,
            )),
            Self::Cluster(node) => {
                let broker = RedisBroker::new(
                    node.redis().clone(),
                    node.subscriber().clone(),
                    app,
                    room,
                    limits.budget,
                    limits.history,
                    limits.ring,
                );
                broker.on_change(on_change);
                Box::new(broker)
            }
        }
    }

    /// The presence of room `room` of `app`.
    pub(crate) fn presence(&self, app: u64, room: &str) -> Box<dyn Presence> {
        match self {
            Self::Local => Box::new(LocalPresence::default()),
            Self::Cluster(node) => Box::new(RedisPresence::new(node.clone(), app, room)),
        }
    }
}
