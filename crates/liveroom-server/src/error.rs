//! Server-level errors (startup, storage). Errors a client sees are `liveroom_proto::ApiError`.

use std::path::PathBuf;

use liveroom_proto::{code, ApiError};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The settings are unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Serve(std::io::Error),
}

/// A storage failure. Never shown to clients in detail (they get 5000).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The thread running the query was lost.
    #[error("store task failed: {0}")]
    Task(String),
    /// The write succeeded but the transaction it was committed in failed.
    #[error("commit failed: {0}")]
    Commit(String),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Redis (cluster mode) failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis (cluster mode) did not answer in time.
    #[error("redis did not answer in time")]
    Unavailable,
}

impl StoreError {
    /// The call may have been carried out though its answer never came (a timeout, or the
    /// connection dropped while it was on its way); not so when Redis refused or failed it.
    pub(crate) fn outcome_unknown(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Redis(r) => r.is_timeout() || r.is_connection_dropped(),
            StoreError::Sqlite(_)
            | StoreError::Task(_)
            | StoreError::Commit(_)
            | StoreError::Corrupt(_) => false,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::new(
                    code::UNAVAILABLE,
                    "the room service's store is unavailable; try again",
                )
            }
            StoreError::Redis(r)
                if r.is_io_error()
                    || r.is_timeout()
                    || r.is_connection_dropped()
                    || r.is_connection_refusal() =>
            {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::new(
                    code::UNAVAILABLE,
                    "the room service's store is unavailable; try again",
                )
            }
            _ => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(code::INTERNAL, "internal storage error")
            }
        }
    }
}
