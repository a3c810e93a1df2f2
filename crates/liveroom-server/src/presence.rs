//! The presence seam: who is in a room, and how many, as every node serving the room sees
//! it (centrifuge's `PresenceManager`). The room calls it under its lock, so a join or leave
//! and what it announces (join/leave tips, the online count) agree.
//!
//! The local presence ([`crate::local_presence`]) is one process's members; a cluster
//! presence implements the same trait over a shared engine, counting every node's members.

use std::future::Future;
use std::pin::Pin;

use liveroom_proto::ApiError;

/// What a presence call returns.
pub(crate) type PresenceFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A connection joined the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined {
    /// Members after the join.
    pub(crate) online: usize,
    /// The user was not in the room on another connection: others see it join.
    pub(crate) first: bool,
}

/// A connection left the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    /// Members before the leave.
    pub(crate) before: usize,
    /// Members after it.
    pub(crate) online: usize,
    /// The user it was logged in as (None for a guest).
    pub(crate) user: Option<String>,
    /// The user is in the room on no other connection: others see it leave.
    pub(crate) last: bool,
    /// No connection of this node is left in the room: the node may stop receiving it.
    pub(crate) node_empty: bool,
}

/// A room's members: connections (each as a user, or a guest) of every node.
pub(crate) trait Presence: Send + Sync {
    /// Members now, every node's (as last known: read on every tick, never waits).
    fn online(&self) -> usize;

    /// Members on this node.
    fn here(&self) -> usize;

    /// Whether connection `conn` of this node is in the room.
    fn contains(&self, conn: u64) -> bool;

    /// Connection `conn` joins as `user` (None: a guest). Joining twice changes nothing.
    fn join<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, Joined>;

    /// Connection `conn` leaves; `None` when it was not in the room.
    fn leave(&self, conn: u64) -> PresenceFuture<'_, Option<Left>>;

    /// Connection `conn`, in the room, logged in (or out) as `user`.
    fn set_user<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, ()>;

    /// Whether `user` is in the room on a connection of this node.
    fn has_user_here(&self, user: &str) -> bool;

    /// Whether `user` is in the room on some connection.
    fn has_user<'a>(&'a self, user: &'a str) -> PresenceFuture<'a, bool>;

    /// Reads every node's members again (the online ticker, before it publishes the count).
    fn refresh(&self) -> PresenceFuture<'_, ()>;
}
