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
pub use events::{Event, EventData, EventName, HandlerId, NextTry};
pub use inbound::MAX_SERVER_FRAME;
pub use liveroom_proto::{ApiError, EnterStatus, Priority};
pub use shared::NetState;
pub use tls::TlsConfig;
pub use upload::{ImageSource, ProgressFn};

/// Locks a mutex, recovering from poisoning: engine state stays usable even if a thread
/// panicked while holding it (handlers never run under these locks).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
