//! Cluster mode: several nodes serve one room over Redis (`--redis`). The seams' Redis
//! implementations (broker, presence, sessions, store), side by side with the local ones at
//! the crate's top level, and the [`Node`] they share: its Redis connection, its pub/sub
//! subscriber and its heartbeat.

pub(crate) mod broker;
pub(crate) mod conn;
pub(crate) mod keys;
pub(crate) mod presence;
pub(crate) mod sessions;
pub(crate) mod store;
pub(crate) mod subscriber;
#[cfg(test)]
pub(crate) mod test_redis;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use conn::Redis;
use subscriber::Subscriber;

use crate::error::StoreError;

/// How often a node tells the cluster it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node silent this long is dead: its members are no longer counted.
const HEARTBEAT_EXPIRY: Duration = Duration::from_secs(5);

/// This process as a node of the cluster.
pub(crate) struct Node {
    id: String,
    redis: Redis,
    subscriber: Subscriber,
}

impl Node {
    /// Joins the cluster over the Redis at `url` as `id` (a random name when `None`).
    pub(crate) async fn start(
        url: &str,
        id: Option<String>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Arc<Self>, StoreError> {
        let redis = Redis::connect(url).await?;
        let id = id.unwrap_or_else(|| format!("node-{:08x}", rand::thread_rng().gen::<u32>()));
        let subscriber = Subscriber::start(redis.clone(), shutdown.clone(), tracker);
        let node = Arc::new(Self {
            id,
            redis,
            subscriber,
        });
        node.forget_previous_life().await?;
        node.beat().await?;
        tracker.spawn(heartbeat(node.clone(), shutdown));
        tracing::info!(node = %node.id, "cluster mode: joined over redis");
        Ok(node)
    }

    /// The node's name.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The shared Redis connection.
    pub(crate) fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The node's pub/sub subscriber.
    pub(crate) fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// A node started again under the same name (killed, then restarted within its
    /// heartbeat's expiry, or any time later) clears what its previous run left in the
    /// rooms' presence: that run's members are gone.
    async fn forget_previous_life(&self) -> Result<(), StoreError> {
        let mut conn = self.redis.conn();
        let mut cursor = 0u64;
        // Only a room's presence keys end so: every room key ends with a fixed name.
        let users = format!("}}:users:{}", self.id);
        loop {
            let (next, found): (u64, Vec<String>) = Redis::call(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("lr:{*}:*")
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn),
            )
            .await?;
            for key in found {
                if key.ends_with(":online") {
                    Redis::call(conn.hdel::<_, _, ()>(&key, &self.id)).await?;
                } else if key.ends_with(&users) {
                    Redis::call(conn.del::<_, ()>(&key)).await?;
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn beat(&self) -> Result<(), StoreError> {
        let mut conn = self.redis.conn();
        Redis::call(
            conn.set_options::<_, _, ()>(
                keys::node_alive(&self.id),
                1,
                redis::SetOptions::default()
                    .with_expiration(redis::SetExpiry::PX(HEARTBEAT_EXPIRY.as_millis() as u64)),
            ),
        )
        .await
    }
}

/// Keeps the node's heartbeat key alive until shutdown; then deletes it, so the others stop
/// counting this node's members at once.
async fn heartbeat(node: Arc<Node>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = node.beat().await {
                    tracing::warn!(error = %e, "heartbeat to redis failed");
                }
            }
        }
    }
    let mut conn = node.redis.conn();
    let _: Result<(), _> = Redis::call(conn.del(keys::node_alive(&node.id))).await;
}
