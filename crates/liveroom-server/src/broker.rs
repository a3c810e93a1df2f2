//! The broker seam: what a room's sends need that must be one for every node serving the
//! room (centrifuge's `Broker`). Accepting a send (budget, sequence, durable append, history,
//! publish) is one atomic step; history since a sequence answers gap fill; a node subscribes
//! to a room while it has viewers in it.
//!
//! The local broker ([`crate::local_broker`]) is one process's memory over the store; a
//! cluster broker implements the same trait over a shared engine. Either way this node's
//! viewers read the room from its [`Ring`]: the broker publishes into it, and the fan-out
//! (pre-encoded frames, one broadcast ring per room) does not know which broker fed it.

use std::future::Future;
use std::pin::Pin;

use axum::extract::ws::Utf8Bytes;
use liveroom_proto::{code, ApiError, Priority};

use crate::encoded::Encoded;
use crate::fanout::Ring;
use crate::stats::{Counts, Tally};

/// What a broker call returns.
pub(crate) type BrokerFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A send being accepted: encoded once its sequence is known, then made durable before it is
/// published (the sender is acknowledged only after that).
pub(crate) trait Outgoing: Send {
    /// The message as sequence `seq`, encoded. Called again, it is the same message (ID
    /// nonce, time) with another sequence; the last call's is the one sent.
    fn encode(&mut self, seq: u64) -> Result<Encoded, ApiError>;
    /// Makes message `seq` durable; the send fails (and nothing is published) if this does.
    fn persist(&mut self, seq: u64, json: Encoded) -> BrokerFuture<'_, ()>;
    /// What the send adds to the room's statistics (asked after [`Outgoing::encode`]).
    fn tally(&self) -> Tally<'_>;
}

/// What became of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Accepted as this sequence.
    Sent(u64),
    /// Refused untouched (no budget taken, no sequence): the room's rules changed on another
    /// node since this node read them; read them, check the send again, and retry.
    StaleRules,
}

/// The history after a sequence, for gap fill.
#[derive(Debug, Clone)]
pub(crate) struct Since {
    /// Kept messages after the sequence asked for, oldest first.
    pub(crate) messages: Vec<Encoded>,
    /// The room's last sequence when the history was read.
    pub(crate) last_seq: u64,
    /// Messages after the sequence asked for fell out of the history (the gap is older
    /// than what is kept): `messages` is not all that was missed.
    pub(crate) skipped: bool,
}

/// A room's sends, history and subscriptions, as every node serving the room sees them.
pub(crate) trait Broker: Send + Sync {
    /// The ring this node's viewers of the room read from.
    fn ring(&self) -> &Ring;

    /// Accepts a send of `priority` in one atomic step: the room budget's decision (drop
    /// order Lowest → Low → Normal; High always passes and counts), then the next sequence,
    /// `out` encoded and made durable, the history append (capped at the room's history
    /// size) and the publish. Returns the sequence; 10023 when the budget drops it.
    fn accept<'a>(
        &'a self,
        priority: Priority,
        out: &'a mut (dyn Outgoing + 'a),
    ) -> BrokerFuture<'a, Accepted>;

    /// The version of the room's rules now (each change announced with `changed` makes a new
    /// one), read before the rules are read.
    fn rules_version(&self) -> BrokerFuture<'_, u64>;

    /// This node now checks sends against the rules of `version`.
    fn rules_loaded(&self, version: u64);

    /// Where a joining viewer's live stream begins: runs `attach` (which subscribes the
    /// viewer to the ring) at the point after which every message comes through the ring,
    /// and returns the kept messages after `since` (all of them for `None`) up to that
    /// point. So history and stream meet with no gap and no overlap.
    fn snapshot<'a>(
        &'a self,
        since: Option<u64>,
        attach: &'a mut (dyn FnMut() + Send + 'a),
    ) -> BrokerFuture<'a, Since>;

    /// The kept message of sequence `seq`, if any.
    fn message(&self, seq: u64) -> BrokerFuture<'_, Option<Encoded>>;

    /// Takes message `seq` out of the history (it was deleted): never served again.
    fn forget(&self, seq: u64) -> BrokerFuture<'_, ()>;

    /// A viewer of this node enters the room: the node receives the room from now on.
    /// True when the node was not receiving it before (and may have missed changes to the
    /// room's state made on other nodes meanwhile).
    fn subscribe(&self) -> BrokerFuture<'_, bool>;

    /// This node's last viewer of the room left: the node stops receiving it.
    fn unsubscribe(&self);

    /// Publishes a whole frame (a room event) to every node's viewers, in order with the
    /// messages; `changed`: it follows a change of the room's state, which every node
    /// reloads (a new rules version; an empty frame: a change with no event to show).
    fn announce(&self, frame: Utf8Bytes, changed: bool) -> BrokerFuture<'_, ()>;

    /// Publishes a join/leave tip (not kept, sequence 0) to every node's viewers.
    fn tip(&self, json: String) -> BrokerFuture<'_, ()>;

    /// The right to change the room's state, alone among every node serving it: held
    /// through a moderation action's checks, commit and announcement.
    fn exclusive(&self) -> BrokerFuture<'_, Exclusive>;

    /// The room's statistics (every node's sends and samples): each accepted send is
    /// counted in [`Broker::accept`]'s step.
    fn stats(&self) -> BrokerFuture<'_, Counts>;

    /// Records the online count `online` sampled at `at` (unix seconds): the minute's and
    /// the session's highest.
    fn sample_online(&self, at: i64, online: u64) -> BrokerFuture<'_, ()>;

    /// The statistics to keep in the store, with their version, when they changed since
    /// [`Broker::stats_saved`] said they were; `None` when there is nothing to keep (or the
    /// broker's own counts are durable: Redis).
    fn unsaved_stats(&self) -> Option<(u64, Counts)>;

    /// The statistics of `version` are in the store.
    fn stats_saved(&self, version: u64);
}

/// Held while a room's state is changed (see [`Broker::exclusive`]); released when dropped.
pub(crate) struct Exclusive {
    /// Other nodes may have changed the room since this node last read it.
    stale: bool,
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl Exclusive {
    /// One process carries the room: its lock is the room's own.
    pub(crate) fn local() -> Self {
        Self {
            stale: false,
            release: None,
        }
    }

    /// A lock shared by the nodes, released by `release`.
    pub(crate) fn shared(release: Box<dyn FnOnce() + Send>) -> Self {
        Self {
            stale: true,
            release: Some(release),
        }
    }

    /// Whether the room's state must be read again before it is checked.
    pub(crate) fn stale(&self) -> bool {
        self.stale
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// 10023 for a send the room's budget drops.
pub(crate) fn over_budget() -> ApiError {
    ApiError::new(
        code::RATE_LIMITED,
        "room over its send budget; Low messages are dropped first",
    )
}
