//! The node's connection to Redis: one multiplexed connection shared by every task
//! (reconnected by the connection manager), and every call under a deadline, so a Redis that
//! is down or stuck answers a coded error in time instead of a hang.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::StoreError;

/// Longest a Redis call may take, reconnecting included: a send or a moderation action
/// answers within 2 s even when Redis is gone.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_millis(1500);

/// A handle on Redis, cheap to clone.
#[derive(Clone)]
pub(crate) struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
}

impl Redis {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`).
    pub(crate) async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1)
            .set_max_delay(200);
        let conn = tokio::time::timeout(
            CALL_DEADLINE * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| StoreError::Unavailable)??;
        Ok(Self { client, conn })
    }

    /// The shared connection, to run commands on (through [`Redis::call`]).
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The client, for connections of their own (the subscriber's).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Runs a call under [`CALL_DEADLINE`].
    pub(crate) async fn call<T>(
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        Self::call_within(CALL_DEADLINE, fut).await
    }

    /// Runs a call under `deadline`.
    pub(crate) async fn call_within<T>(
        deadline: Duration,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(deadline, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
}
