//! Liveroom room server: WebSocket gateway (`GET /ws`), room fan-out, and its store: SQLite
//! in one process, or Redis shared by the nodes of a cluster (`--redis`; the `cluster` module).
//!
//! Run it standalone (`liveroom-server --listen ADDR --data DIR --app ID:SECRET`) or embed it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), liveroom_server::ServerError> {
//! let config = liveroom_server::Config::builder()
//!     .listen("127.0.0.1:0".parse().unwrap())
//!     .data_dir("/tmp/liveroom")
//!     .app(1400000000, "secret")
//!     .build();
//! let server = liveroom_server::start(config).await?;
//! println!("ws://{}/ws", server.local_addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

mod auth;
mod broker;
mod budget;
mod cluster;
pub mod config;
mod connection;
mod deferred_sends;
mod encoded;
mod engine;
pub mod error;
mod external_images;
mod fanout;
pub mod fd_limit;
mod housekeeping;
mod http;
mod images;
mod listener;
mod local_broker;
mod local_presence;
mod local_sessions;
mod moderation;
mod overlay;
mod presence;
mod registry;
mod reply;
mod rest;
mod room;
mod rules;
mod service;
mod session;
mod sqlite;
mod stats;
mod store;
#[cfg(test)]
mod store_contract;
#[cfg(test)]
mod test_support;
mod tim;
mod webhooks;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, ConfigBuilder};
pub use error::{ServerError, StoreError};

use engine::Engine;
use registry::Registry;
use room::RoomLimits;
use session::SessionRegistry;
use store::Store;

/// State shared by every connection.
pub(crate) struct Shared {
    config: Config,
    media: Arc<liveroom_media::MediaStore>,
    store: Store,
    rooms: Registry,
    sessions: Arc<dyn SessionRegistry>,
    rules: rules::AppRules,
    /// Each user's message rate, across all its connections and logins.
    send_rates: budget::UserRates,
    /// Each user's room creations.
    create_rates: budget::UserRates,
    /// Each app's REST calls, per command.
    api_rates: rest::CallRates,
    /// REST sends of the last minutes by their `Random`, for de-duplication.
    rest_sends: rest::RecentSends,
    /// Each app's callbacks to its backend.
    webhooks: webhooks::Webhooks,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    next_conn: AtomicU64,
    /// Open connections per client address.
    addr_limits: Arc<listener::AddrLimits>,
    /// Open connections, every client together.
    open_connections: Arc<listener::OpenConnections>,
}

impl Shared {
    fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

/// Starts the server: opens the store, binds, and serves in background tasks.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (engine, store, sessions) = open_engine(&config, &shutdown, &tracker).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let limits = RoomLimits {
        budget: config.room_budget,
        history: config.history,
        join_leave_threshold: config.join_leave_threshold,
        ring: fanout::RingConfig {
            slots: config.room_ring,
            batch_from: match config.shared_batches_from {
                0 => usize::MAX,
                n => n,
            },
        },
    };
    let media_dir = config
        .media_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("images"));
    let media = liveroom_media::MediaStore::open(&media_dir)
        .map(|m| m.with_max_decodes(config.max_decodes))
        .map_err(|source| ServerError::DataDir {
            path: media_dir.clone(),
            source,
        })?;
    let webhooks = webhooks::Webhooks::start(&config, &shutdown)?;
    let shared = Arc::new(Shared {
        media: Arc::new(media),
        rooms: Registry::new(store.clone(), limits, engine),
        store: store.clone(),
        sessions,
        rules: rules::AppRules::from_config(&config),
        send_rates: budget::UserRates::new(
            f64::from(config.user_rate),
            2.0 * f64::from(config.user_rate),
        ),
        create_rates: budget::UserRates::new(
            f64::from(config.room_create_rate) / 60.0,
            f64::from(config.room_create_rate),
        ),
        api_rates: rest::CallRates::default(),
        rest_sends: rest::RecentSends::default(),
        webhooks,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        next_conn: AtomicU64::new(1),
        addr_limits: listener::AddrLimits::new(config.max_connections_per_ip),
        open_connections: listener::OpenConnections::new(config.max_connections),
        config,
    });

    tracker.spawn(housekeeping::push_online(shared.clone()));
    tracker.spawn(housekeeping::sweep(shared.clone()));
    tracker.spawn(housekeeping::room_stats(shared.clone()));
    let app = http::router(shared.clone());
    let serve = tokio::spawn(listener::serve(listener, app, shared.clone()));
    tracing::info!(addr = %local_addr, apps = shared.config.apps.len(), "listening");
    Ok(RunningServer {
        local_addr,
        shutdown,
        tracker,
        serve,
        store,
        shared,
    })
}

/// The rooms' engine with its store and session registry: SQLite and this process alone, or
/// a node of a cluster over Redis (`config.redis`).
async fn open_engine(
    config: &Config,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<(Engine, Store, Arc<dyn SessionRegistry>), ServerError> {
    match &config.redis {
        None => {
            let dir = config.data_dir.clone();
            let history = config.history;
            let local =
                tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&dir, history))
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))??;
            Ok((
                Engine::Local,
                Arc::new(local),
                Arc::new(local_sessions::LocalSessions::default()),
            ))
        }
        Some(url) => {
            let node = cluster::Node::start(url, config.node_id.clone(), shutdown.clone(), tracker)
                .await?;
            let store = cluster::store::RedisStore::new(node.redis().clone(), config.history);
            let sessions = cluster::sessions::RedisSessions::start(node.clone()).await?;
            Ok((Engine::Cluster(node), Arc::new(store), sessions))
        }
    }
}

/// Triggers a graceful shutdown from anywhere (signal handlers, the desktop app).
#[derive(Clone, Debug)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Starts the shutdown; [`RunningServer::wait`] then completes.
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

/// A started server. Dropping it starts the shutdown without waiting; call
/// [`RunningServer::shutdown`] to wait until every socket is closed and the store is flushed.
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    serve: JoinHandle<()>,
    store: Store,
    shared: Arc<Shared>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RunningServer {
    /// The bound address (the real port when listening on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many rooms are loaded in memory (rooms unused for `room_unload_after` are not).
    pub fn loaded_rooms(&self) -> usize {
        self.shared.rooms.loaded()
    }

    /// A handle that starts the shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Graceful shutdown: stop accepting, close every WebSocket with 1001, let in-flight
    /// requests finish (acknowledged sends are already committed), checkpoint the store.
    /// Clients get `shutdown_grace` at most: whatever they do, this returns by then (a
    /// connection still open is left to its own write deadline).
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until a [`ShutdownHandle`] stops the server (or the HTTP server fails), then
    /// completes the graceful shutdown.
    pub async fn wait(mut self) -> Result<(), ServerError> {
        let served = tokio::select! {
            _ = self.shutdown.cancelled() => None,
            r = &mut self.serve => Some(r),
        };
        self.shutdown.cancel();
        let served = match served {
            Some(r) => r,
            None => (&mut self.serve).await,
        };
        self.tracker.close();
        let grace = self.shared.config.shutdown_grace;
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = self.tracker.len(),
                ?grace,
                "clients still open after the shutdown grace period: leaving them"
            );
        }
        if let Err(e) = self.store.flush().await {
            tracing::warn!(error = %e, "checkpoint on shutdown failed");
        }
        tracing::info!("stopped");
        match served {
            Ok(()) => Ok(()),
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e.to_string()))),
        }
    }
}
