//! The session seam: one login per (SDKAppID, userID), a new login kicking the old one
//! wherever it is, signals (kick, removal, a new profile) to a user's connection, and upload
//! tokens mapped to their session (the upload route may be served by any node). The signal
//! channel of each connection stays on its node; a shared registry carries the signal there.
//!
//! The local registry is [`crate::local_sessions`].

use std::future::Future;
use std::pin::Pin;

use liveroom_proto::{ApiError, KickReason, Profile};
use tokio::sync::mpsc;

/// What a registry call returns.
pub(crate) type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A signal to a connection from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// End the session with this reason.
    Kick(KickReason),
    /// A moderator removed the user from `room`: send `frame` (the `room_event`), then leave.
    Leave {
        /// The room.
        room: String,
        /// The encoded `room_event` frame telling the user why.
        frame: String,
    },
    /// The user's profile changed elsewhere (the REST API's `portrait_set`): the session's
    /// next messages carry it.
    Profile(Profile),
    /// Frames for the rooms named with them (the room statistics pushed to a moderator):
    /// written for the rooms the connection is in, the others' dropped.
    Push(Vec<(String, String)>),
}

/// Who is logged in where.
pub(crate) trait SessionRegistry: Send + Sync {
    /// Registers connection `conn` as `user`, reachable through `signal`, with its upload
    /// token; a previous session of the user on another connection is kicked
    /// (`multipleAccount`).
    fn login<'a>(
        &'a self,
        app: u64,
        user: &'a str,
        conn: u64,
        signal: mpsc::Sender<Signal>,
        upload_token: String,
    ) -> SessionFuture<'a, Result<(), ApiError>>;

    /// Removes the session of `user` if it is still connection `conn`'s.
    fn logout<'a>(&'a self, app: u64, user: &'a str, conn: u64) -> SessionFuture<'a, ()>;

    /// Sends `signal` to the connection of `user`, if logged in. Best effort: a connection
    /// whose signal queue is full is going away anyway.
    fn signal<'a>(&'a self, app: u64, user: &'a str, signal: Signal) -> SessionFuture<'a, ()>;

    /// Sends `signal` (a periodic [`Signal::Push`]) to the connection of `user` if it is on
    /// this node and its signal queue is at most half full: a push never crowds out a kick
    /// or a removal, and is dropped for a connection that does not keep up.
    fn push_here(&self, app: u64, user: &str, signal: Signal);

    /// The (SDKAppID, userID) an upload token belongs to, while its session lives.
    fn upload_identity<'a>(&'a self, token: &'a str) -> SessionFuture<'a, Option<(u64, String)>>;
}
