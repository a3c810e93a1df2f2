#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod backoff;
mod client;
mod connection;
mod download;
mod endpoint;
mod error;
mod events;
mod inbound;
mod rooms;
mod shared;
mod tls;
mod upload;

/// The wire protocol (messages, payloads, errors, limits), re-exported.
pub use liveroom_proto as proto;

pub use client::{EditRoomOptions, EnterResult, Im, LoginResult};
pub use download::ServerImage;
pub use events::{room_stats_value, Event, EventData, EventName, HandlerId, NextTry};
pub use inbound::MAX_SERVER_FRAME;
pub use liveroom_proto::{ApiError, EnterStatus, Priority};
pub use shared::NetState;
pub use tls::TlsConfig;
pub use upload::{ImageSource, ProgressFn};

/// The HTTP root of each node of `server` (one address, or a cluster's comma-separated list,
/// as [`Im::new`] takes it), in the order given: `ws://` becomes `http://`, `wss://`
/// `https://`, no trailing slash. Where the server's HTTP routes are (its REST API at
/// `/v4/...`), for a caller that talks HTTP to the same addresses the engine uses.
pub fn http_roots(server: &str) -> Result<Vec<String>, ApiError> {
    Ok(endpoint::Servers::parse(server)?
        .http_roots()
        .map(str::to_owned)
        .collect())
}

/// Locks a mutex, recovering from poisoning: engine state stays usable even if a thread
/// panicked while holding it (handlers never run under these locks).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
