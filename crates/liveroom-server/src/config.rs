//! Settings: flags > environment > TOML file > defaults, and a builder for embedding.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::error::ServerError;

/// Everything the server needs to run. Build one with [`Config::builder`] to embed the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Directory of `liveroom.db`; created when missing.
    pub data_dir: PathBuf,
    /// SDKAppID → secret key.
    pub apps: BTreeMap<u64, String>,
    /// Messages per second per room (0 = unlimited).
    pub room_budget: u32,
    /// Messages kept per room (0 = none).
    pub history: usize,
    /// Join/leave tips are sent while a room has at most this many members.
    pub join_leave_threshold: usize,
    /// Messages per second per user, burst twice that (0 = unlimited).
    pub user_rate: u32,
    /// How often each room gets its online count (and idle rooms are looked for).
    pub online_interval: Duration,
    /// A room with no member and no request in flight for this long is dropped from memory;
    /// it reloads from the store on its next use.
    pub room_unload_after: Duration,
    /// How often each room's statistics are pushed to its moderators in it (and saved, in
    /// local mode, when they changed).
    pub room_stats_every: Duration,
    /// Slots of each room's broadcast ring. A viewer with more than half of it pending is
    /// lagging (its Low and Lowest messages are skipped); a whole ring behind, it is closed
    /// with 4108.
    pub room_ring: usize,
    /// Viewers of one room on this node from which the room's messages are batched once for
    /// all of them (one item in flight, the next batch sent when it is taken) instead of by
    /// each viewer; 0 = never (see `fanout`).
    pub shared_batches_from: usize,
    /// Pictures decoded at once (each holds up to 100 MB while it decodes); more uploads wait
    /// up to `decode_wait` for a turn.
    pub max_decodes: usize,
    /// Longest an upload waits for a decode turn before it is refused (10023).
    pub decode_wait: Duration,
    /// An upload whose body sends nothing for this long is abandoned (408, 2801) and its
    /// connection closed.
    pub upload_idle_timeout: Duration,
    /// Longest an upload's body may take to arrive in full, however it trickles (408, 2801).
    pub upload_timeout: Duration,
    /// App administrators: SDKAppID → userIDs who moderate every room of that app.
    pub admins: BTreeMap<u64, BTreeSet<String>>,
    /// App-wide blocked words: SDKAppID → words (as written; matching folds case and width).
    pub blocked_words: BTreeMap<u64, BTreeSet<String>>,
    /// Longest a write to one client may take; a client past it is closed (4108) and freed.
    pub write_timeout: Duration,
    /// Most bytes queued for one WebSocket client (frames and pongs not yet taken by its
    /// socket); past it the client is closed.
    pub max_write_buffer: usize,
    /// Longest a new TCP connection may take to send its first byte and then its whole HTTP
    /// request head (including a WebSocket upgrade's).
    pub handshake_timeout: Duration,
    /// Most open connections from one client address (0 = unlimited). Behind a trusted proxy
    /// the client's address is the one `X-Forwarded-For` names.
    pub max_connections_per_ip: usize,
    /// Most open connections to this server at once, every client together; past it a new
    /// one is answered `503` (code 10002) and closed, so the process keeps file descriptors
    /// for its own files, Redis and outgoing HTTP, and a cluster's clients go to another node
    /// at once instead of hanging in the accept queue. Default: the open-file limit less a
    /// reserve ([`crate::fd_limit::connections_under`]).
    pub max_connections: usize,
    /// Proxies (such as nginx) whose `X-Forwarded-For` is believed, and whose own address is
    /// not capped.
    pub trusted_proxies: BTreeSet<IpAddr>,
    /// Rooms one user may create per minute (0 = unlimited); a burst of as many.
    pub room_create_rate: u32,
    /// Rooms one user may own at once (0 = unlimited).
    pub max_rooms_per_user: u32,
    /// How long a graceful shutdown waits for clients before it drops them.
    pub shutdown_grace: Duration,
    /// How often the server pings each WebSocket client.
    pub keepalive: Duration,
    /// A WebSocket client silent (not even a pong) for this long is dropped: its peer vanished.
    pub keepalive_timeout: Duration,
    /// WebSocket pings a client may send per second, in bursts of five seconds' worth
    /// (0 = unlimited); a client pinging faster is closed with 4002.
    pub client_ping_rate: u32,
    /// External pictures (avatar URLs) fetched at once for `GET /external-image`; each is
    /// then decoded one at a time (0: the proxy is off).
    pub external_image_fetches: usize,
    /// Largest external picture fetched, bytes (at most the 20 MB picture limit).
    pub external_image_max_bytes: u64,
    /// Longest one external picture's fetch may take: connecting, redirects and the body.
    pub external_image_timeout: Duration,
    /// Redirects followed for one external picture.
    pub external_image_max_redirects: usize,
    /// How long a fetched external picture is served from the cache before it is fetched again.
    pub external_image_cache_ttl: Duration,
    /// How long a failed external picture answers its failure from the cache before it is
    /// tried again.
    pub external_image_retry_after: Duration,
    /// Most external pictures (and failures) kept in the cache; the oldest go first.
    pub external_image_cache_entries: usize,
    /// Whether external pictures may come from loopback, private, link-local and other
    /// internal addresses (tests, LAN deployments). Off by default: any user picks the URL.
    pub external_image_allow_internal: bool,
    /// Cluster mode: the Redis every node of the cluster shares (`redis://HOST:PORT[/DB]`).
    /// `None`: one process carries its rooms, over SQLite.
    pub redis: Option<String>,
    /// This node's name in the cluster (default: a random one).
    pub node_id: Option<String>,
    /// Where pictures are kept (default: `DATA/images`). In cluster mode a folder every node
    /// shares, so any node serves any picture.
    pub media_dir: Option<PathBuf>,
    /// Webhooks: SDKAppID → the URL of the app's backend that Tencent's callbacks are POSTed
    /// to (`http://` or `https://`; a query it has is kept).
    pub callbacks: BTreeMap<u64, String>,
    /// Longest the backend may take to answer one callback.
    pub callback_timeout: Duration,
    /// What a send gets when its before-send callback times out or fails.
    pub callback_on_timeout: CallbackOnTimeout,
    /// SDKAppID → the token its callbacks are signed with (`&Sign=&RequestTime=`).
    pub callback_tokens: BTreeMap<u64, String>,
    /// After-events queued per app while its backend is slow or down; more are dropped
    /// (and counted).
    pub callback_queue: usize,
    /// Before-send callbacks waiting on one app's backend at once; a send beyond them gets
    /// the on-timeout policy at once, so a backend that never answers holds no more.
    pub callback_in_flight: usize,
}

/// The most after-events queued, or before-send callbacks in flight, per app.
const CALLBACK_COUNT_MAX: usize = 1_000_000;

/// What a send gets when the backend's before-send callback does not answer in time, answers
/// an HTTP error or something that is not Tencent's JSON reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CallbackOnTimeout {
    /// The message goes out as sent (Tencent's default).
    #[default]
    Allow,
    /// The sender gets 80003.
    Refuse,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            data_dir: PathBuf::from("liveroom-data"),
            apps: BTreeMap::new(),
            room_budget: 40,
            history: 100,
            join_leave_threshold: 500,
            user_rate: 10,
            online_interval: Duration::from_secs(10),
            room_unload_after: Duration::from_secs(600),
            room_stats_every: Duration::from_secs(10),
            room_ring: 1024,
            shared_batches_from: 10_000,
            max_decodes: 2,
            decode_wait: Duration::from_secs(10),
            upload_idle_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(120),
            admins: BTreeMap::new(),
            blocked_words: BTreeMap::new(),
            write_timeout: Duration::from_secs(5),
            max_write_buffer: 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            max_connections_per_ip: 256,
            max_connections: crate::fd_limit::connections_under(crate::fd_limit::soft()),
            trusted_proxies: BTreeSet::new(),
            room_create_rate: 10,
            max_rooms_per_user: 100,
            shutdown_grace: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(75),
            client_ping_rate: 2,
            external_image_fetches: 4,
            external_image_max_bytes: 5 * 1024 * 1024,
            external_image_timeout: Duration::from_secs(10),
            external_image_max_redirects: 3,
            external_image_cache_ttl: Duration::from_secs(86_400),
            external_image_retry_after: Duration::from_secs(300),
            external_image_cache_entries: 10_000,
            external_image_allow_internal: false,
            redis: None,
            node_id: None,
            media_dir: None,
            callbacks: BTreeMap::new(),
            callback_timeout: Duration::from_secs(2),
            callback_on_timeout: CallbackOnTimeout::Allow,
            callback_tokens: BTreeMap::new(),
            callback_queue: 10_000,
            callback_in_flight: 1_000,
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }

    /// Checks that the settings can run a server.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.validate_external_images()?;
        self.validate_callbacks()?;
        if self.apps.is_empty() {
            return Err(ServerError::Config(
                "no app configured: pass --app ID:SECRET (or LIVEROOM_APPS)".into(),
            ));
        }
        if let Some((id, _)) = self.apps.iter().find(|(_, s)| s.is_empty()) {
            return Err(ServerError::Config(format!("app {id} has an empty secret")));
        }
        if self.apps.contains_key(&0) {
            return Err(ServerError::Config("SDKAppID 0 is not valid".into()));
        }
        if self.online_interval.is_zero() {
            return Err(ServerError::Config("online interval must be > 0".into()));
        }
        if self.room_stats_every.is_zero() {
            return Err(ServerError::Config(
                "room stats interval must be > 0".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ServerError::Config("max connections must be > 0".into()));
        }
        if self.room_ring < 16 {
            return Err(ServerError::Config(
                "room ring must hold at least 16".into(),
            ));
        }
        if self.max_decodes == 0 {
            return Err(ServerError::Config("max decodes must be > 0".into()));
        }
        if self.upload_idle_timeout.is_zero() || self.upload_timeout.is_zero() {
            return Err(ServerError::Config("upload timeouts must be > 0".into()));
        }
        for (what, d) in [
            ("write timeout", self.write_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("keepalive", self.keepalive),
        ] {
            if d.is_zero() {
                return Err(ServerError::Config(format!("{what} must be > 0")));
            }
        }
        if self.keepalive_timeout <= self.keepalive {
            return Err(ServerError::Config(
                "keepalive timeout must be longer than the keepalive interval".into(),
            ));
        }
        if let Some(id) = &self.node_id {
            let ok = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(ServerError::Config(format!(
                    "node id '{id}': 1 to 64 of A-Z a-z 0-9 - _ ."
                )));
            }
        }
        if let Some(url) = &self.redis {
            if !url.starts_with("redis://") {
                return Err(ServerError::Config(format!(
                    "redis '{url}': expected redis://HOST:PORT[/DB]"
                )));
            }
        }
        // A batch frame (256 KiB) plus a reply must fit.
        if self.max_write_buffer < 512 * 1024 {
            return Err(ServerError::Config(
                "max write buffer must be at least 524288 bytes (a batch frame and a reply)".into(),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// The webhooks' settings (`callback*`).
    fn validate_callbacks(&self) -> Result<(), ServerError> {
        for (app, url) in &self.callbacks {
            if !self.apps.contains_key(app) {
                return Err(ServerError::Config(format!(
                    "callback for app {app}, which is not configured (--app {app}:SECRET)"
                )));
            }
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| ServerError::Config(format!("callback URL '{url}': {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
                return Err(ServerError::Config(format!(
                    "callback URL '{url}': expected http://HOST/... or https://HOST/..."
                )));
            }
        }
        if let Some(app) = self
            .callback_tokens
            .keys()
            .find(|app| !self.callbacks.contains_key(app))
        {
            return Err(ServerError::Config(format!(
                "callback token for app {app}, which has no callback URL (--callback {app}:URL)"
            )));
        }
        if let Some((app, _)) = self.callback_tokens.iter().find(|(_, t)| t.is_empty()) {
            return Err(ServerError::Config(format!(
                "callback token for app {app} is empty"
            )));
        }
        let max = Duration::from_secs(60);
        if self.callback_timeout.is_zero() || self.callback_timeout > max {
            return Err(ServerError::Config(
                "callback timeout must be more than 0 and at most 60 seconds".into(),
            ));
        }
        let most = 1..=CALLBACK_COUNT_MAX;
        if !most.contains(&self.callback_queue) || !most.contains(&self.callback_in_flight) {
            return Err(ServerError::Config(format!(
                "callback queue and callback in-flight must be 1..={CALLBACK_COUNT_MAX}"
            )));
        }
        Ok(())
    }

    /// The image proxy's settings (`external_image_*`).
    fn validate_external_images(&self) -> Result<(), ServerError> {
        let max = liveroom_proto::limits::IMAGE_MAX;
        if self.external_image_max_bytes == 0 || self.external_image_max_bytes > max {
            return Err(ServerError::Config(format!(
                "external image max bytes must be 1..={max}"
            )));
        }
        if self.external_image_timeout.is_zero() {
            return Err(ServerError::Config(
                "external image timeout must be > 0".into(),
            ));
        }
        if self.external_image_cache_entries == 0 {
            return Err(ServerError::Config(
                "external image cache entries must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Config`]: `Config::builder().listen(addr).data_dir(dir).app(1400000000, "key").build()`.
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// Listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.0.listen = addr;
        self
    }
    /// Data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.data_dir = dir.into();
        self
    }
    /// Adds (or replaces) an app and its secret key.
    pub fn app(mut self, sdk_app_id: u64, secret: impl Into<String>) -> Self {
        self.0.apps.insert(sdk_app_id, secret.into());
        self
    }
    /// Room send budget, messages per second.
    pub fn room_budget(mut self, per_sec: u32) -> Self {
        self.0.room_budget = per_sec;
        self
    }
    /// Messages kept per room.
    pub fn history(mut self, n: usize) -> Self {
        self.0.history = n;
        self
    }
    /// Join/leave tip threshold.
    pub fn join_leave_threshold(mut self, n: usize) -> Self {
        self.0.join_leave_threshold = n;
        self
    }
    /// Per-user rate, messages per second.
    pub fn user_rate(mut self, per_sec: u32) -> Self {
        self.0.user_rate = per_sec;
        self
    }
    /// Online count interval.
    pub fn online_interval(mut self, every: Duration) -> Self {
        self.0.online_interval = every;
        self
    }
    /// How long an unused room stays in memory (see [`Config::room_unload_after`]).
    pub fn room_unload_after(mut self, after: Duration) -> Self {
        self.0.room_unload_after = after;
        self
    }
    /// How often room statistics are pushed (see [`Config::room_stats_every`]).
    pub fn room_stats_every(mut self, every: Duration) -> Self {
        self.0.room_stats_every = every;
        self
    }
    /// Slots of each room's broadcast ring (see [`Config::room_ring`]).
    pub fn room_ring(mut self, slots: usize) -> Self {
        self.0.room_ring = slots;
        self
    }
    /// Viewers from which a room's messages are batched once (see
    /// [`Config::shared_batches_from`]; 0 = never).
    pub fn shared_batches_from(mut self, viewers: usize) -> Self {
        self.0.shared_batches_from = viewers;
        self
    }
    /// Pictures decoded at once (see [`Config::max_decodes`]).
    pub fn max_decodes(mut self, n: usize) -> Self {
        self.0.max_decodes = n;
        self
    }
    /// Longest wait for a decode turn (see [`Config::decode_wait`]).
    pub fn decode_wait(mut self, wait: Duration) -> Self {
        self.0.decode_wait = wait;
        self
    }
    /// Idle-body timeout of uploads (see [`Config::upload_idle_timeout`]).
    pub fn upload_idle_timeout(mut self, idle: Duration) -> Self {
        self.0.upload_idle_timeout = idle;
        self
    }
    /// Longest an upload's body may take (see [`Config::upload_timeout`]).
    pub fn upload_timeout(mut self, whole: Duration) -> Self {
        self.0.upload_timeout = whole;
        self
    }
    /// Names `user` an app administrator of `sdk_app_id` (moderates every room of the app).
    pub fn admin(mut self, sdk_app_id: u64, user: impl Into<String>) -> Self {
        self.0
            .admins
            .entry(sdk_app_id)
            .or_default()
            .insert(user.into());
        self
    }
    /// Blocks `word` in every room of `sdk_app_id`.
    pub fn blocked_word(mut self, sdk_app_id: u64, word: impl Into<String>) -> Self {
        self.0
            .blocked_words
            .entry(sdk_app_id)
            .or_default()
            .insert(word.into());
        self
    }
    /// Write deadline per client (see [`Config::write_timeout`]).
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.0.write_timeout = d;
        self
    }
    /// Most bytes queued per client (see [`Config::max_write_buffer`]).
    pub fn max_write_buffer(mut self, bytes: usize) -> Self {
        self.0.max_write_buffer = bytes;
        self
    }
    /// Request-head deadline (see [`Config::handshake_timeout`]).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.0.handshake_timeout = d;
        self
    }
    /// Connections per client address (0 = unlimited).
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.0.max_connections_per_ip = n;
        self
    }
    /// Open connections to this server at once (see [`Config::max_connections`]).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.0.max_connections = n;
        self
    }
    /// Believes `X-Forwarded-For` from `proxy`.
    pub fn trusted_proxy(mut self, proxy: IpAddr) -> Self {
        self.0.trusted_proxies.insert(proxy);
        self
    }
    /// Rooms per user per minute (0 = unlimited).
    pub fn room_create_rate(mut self, per_minute: u32) -> Self {
        self.0.room_create_rate = per_minute;
        self
    }
    /// Rooms one user may own (0 = unlimited).
    pub fn max_rooms_per_user(mut self, n: u32) -> Self {
        self.0.max_rooms_per_user = n;
        self
    }
    /// Graceful shutdown's wait for clients.
    pub fn shutdown_grace(mut self, d: Duration) -> Self {
        self.0.shutdown_grace = d;
        self
    }
    /// Pings per second a client may send (0 = unlimited).
    pub fn client_ping_rate(mut self, per_sec: u32) -> Self {
        self.0.client_ping_rate = per_sec;
        self
    }
    /// Ping interval and silence after which a client is dropped.
    pub fn keepalive(mut self, every: Duration, timeout: Duration) -> Self {
        self.0.keepalive = every;
        self.0.keepalive_timeout = timeout;
        self
    }
    /// External pictures fetched at once (0: no proxy).
    pub fn external_image_fetches(mut self, n: usize) -> Self {
        self.0.external_image_fetches = n;
        self
    }
    /// Largest external picture, bytes.
    pub fn external_image_max_bytes(mut self, bytes: u64) -> Self {
        self.0.external_image_max_bytes = bytes;
        self
    }
    /// Deadline of one external picture's fetch.
    pub fn external_image_timeout(mut self, d: Duration) -> Self {
        self.0.external_image_timeout = d;
        self
    }
    /// Redirects followed per external picture.
    pub fn external_image_max_redirects(mut self, n: usize) -> Self {
        self.0.external_image_max_redirects = n;
        self
    }
    /// How long a fetched external picture is cached.
    pub fn external_image_cache_ttl(mut self, d: Duration) -> Self {
        self.0.external_image_cache_ttl = d;
        self
    }
    /// How long an external picture's failure is cached.
    pub fn external_image_retry_after(mut self, d: Duration) -> Self {
        self.0.external_image_retry_after = d;
        self
    }
    /// Most external pictures cached.
    pub fn external_image_cache_entries(mut self, n: usize) -> Self {
        self.0.external_image_cache_entries = n;
        self
    }
    /// Lets external pictures come from internal addresses (loopback, private, link-local).
    pub fn external_image_allow_internal(mut self, allow: bool) -> Self {
        self.0.external_image_allow_internal = allow;
        self
    }
    /// Cluster mode over this Redis (`redis://HOST:PORT[/DB]`).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.0.redis = Some(url.into());
        self
    }
    /// This node's name in the cluster.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.0.node_id = Some(id.into());
        self
    }
    /// The pictures' folder (shared by every node in cluster mode).
    pub fn media_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.media_dir = Some(dir.into());
        self
    }
    /// POSTs `sdk_app_id`'s webhooks (Tencent's callbacks) to `url`.
    pub fn callback(mut self, sdk_app_id: u64, url: impl Into<String>) -> Self {
        self.0.callbacks.insert(sdk_app_id, url.into());
        self
    }
    /// Longest the backend may take to answer one callback.
    pub fn callback_timeout(mut self, d: Duration) -> Self {
        self.0.callback_timeout = d;
        self
    }
    /// What a send gets when its before-send callback times out or fails.
    pub fn callback_on_timeout(mut self, policy: CallbackOnTimeout) -> Self {
        self.0.callback_on_timeout = policy;
        self
    }
    /// Signs `sdk_app_id`'s callbacks with `token`.
    pub fn callback_token(mut self, sdk_app_id: u64, token: impl Into<String>) -> Self {
        self.0.callback_tokens.insert(sdk_app_id, token.into());
        self
    }
    /// After-events queued per app (see [`Config::callback_queue`]).
    pub fn callback_queue(mut self, n: usize) -> Self {
        self.0.callback_queue = n;
        self
    }
    /// Before-send callbacks in flight per app (see [`Config::callback_in_flight`]).
    pub fn callback_in_flight(mut self, n: usize) -> Self {
        self.0.callback_in_flight = n;
        self
    }
    /// The config.
    pub fn build(self) -> Config {
        self.0
    }
}

/// Command line of `liveroom-server`. Every flag also reads an environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "liveroom-server",
    version,
    about = "Liveroom room server: WebSocket gateway and SQLite store for live rooms"
)]
pub struct Cli {
    /// TOML config file (keys: listen, data, apps = ["ID:SECRET"], room_budget, history,
    /// join_leave_threshold, user_rate, online_interval, room_unload_after, room_stats_every,
    /// admins = ["ID:USER"],
    /// blocked_words = ["ID:WORD"], callbacks = ["ID:URL"], callback_tokens = ["ID:TOKEN"],
    /// callback_timeout, callback_on_timeout, callback_queue, callback_in_flight, ...). Flags
    /// and env override it.
    #[arg(long, env = "LIVEROOM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000]; port 0 picks a free one.
    #[arg(long, env = "LIVEROOM_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory holding liveroom.db [default: ./liveroom-data].
    #[arg(long, env = "LIVEROOM_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// An app as SDKAppID:SECRET; repeat for several apps (env: comma-separated).
    #[arg(
        long = "app",
        env = "LIVEROOM_APPS",
        value_name = "ID:SECRET",
        value_delimiter = ','
    )]
    pub apps: Vec<String>,
    /// Messages per second per room; over it, lower priorities are dropped first [default: 40; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_ROOM_BUDGET", value_name = "N")]
    pub room_budget: Option<u32>,
    /// Messages kept per room for joiners and gap fill [default: 100; 0 = none].
    #[arg(long, env = "LIVEROOM_HISTORY", value_name = "N")]
    pub history: Option<usize>,
    /// Join/leave tips are sent while a room has at most N members [default: 500].
    #[arg(long, env = "LIVEROOM_JOIN_LEAVE_THRESHOLD", value_name = "N")]
    pub join_leave_threshold: Option<usize>,
    /// Messages per second per user, burst twice that [default: 10; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_USER_RATE", value_name = "N")]
    pub user_rate: Option<u32>,
    /// Seconds between online-count pushes to each room [default: 10].
    #[arg(long, env = "LIVEROOM_ONLINE_INTERVAL", value_name = "SECS")]
    pub online_interval: Option<u64>,
    /// Seconds a room with no member stays in memory before it is unloaded (it reloads from
    /// the store when used again) [default: 600].
    #[arg(long, env = "LIVEROOM_ROOM_UNLOAD_AFTER", value_name = "SECS")]
    pub room_unload_after: Option<u64>,
    /// Seconds between pushes of each room's statistics (get_room_stats) to its moderators
    /// in it; local mode saves them as often when they changed [default: 10].
    #[arg(long, env = "LIVEROOM_ROOM_STATS_EVERY", value_name = "SECS")]
    pub room_stats_every: Option<u64>,
    /// Pictures decoded at once; more uploads wait for a turn [default: 2].
    #[arg(long, env = "LIVEROOM_MAX_DECODES", value_name = "N")]
    pub max_decodes: Option<usize>,
    /// Seconds an upload waits for a decode turn before it is refused (10023) [default: 10].
    #[arg(long, env = "LIVEROOM_DECODE_WAIT", value_name = "SECS")]
    pub decode_wait: Option<u64>,
    /// Seconds an upload's body may send nothing before it is abandoned (408) [default: 10].
    #[arg(long, env = "LIVEROOM_UPLOAD_IDLE_TIMEOUT", value_name = "SECS")]
    pub upload_idle_timeout: Option<u64>,
    /// Seconds an upload's whole body may take (408) [default: 120].
    #[arg(long, env = "LIVEROOM_UPLOAD_TIMEOUT", value_name = "SECS")]
    pub upload_timeout: Option<u64>,
    /// An app administrator as SDKAppID:USER, who moderates every room of the app; repeat
    /// for several (env: comma-separated).
    #[arg(
        long = "admin",
        env = "LIVEROOM_ADMINS",
        value_name = "ID:USER",
        value_delimiter = ','
    )]
    pub admins: Vec<String>,
    /// A word blocked in every room of an app, as SDKAppID:WORD; repeat for several (env:
    /// comma-separated).
    #[arg(
        long = "blocked-word",
        env = "LIVEROOM_BLOCKED_WORDS",
        value_name = "ID:WORD",
        value_delimiter = ','
    )]
    pub blocked_words: Vec<String>,
    /// Seconds a write to one client may take before it is closed (4108) [default: 5].
    #[arg(long, env = "LIVEROOM_WRITE_TIMEOUT", value_name = "SECS")]
    pub write_timeout: Option<u64>,
    /// Bytes queued for one client before it is closed [default: 1048576].
    #[arg(long, env = "LIVEROOM_MAX_WRITE_BUFFER", value_name = "BYTES")]
    pub max_write_buffer: Option<usize>,
    /// Seconds a new connection has to send its HTTP request head [default: 5].
    #[arg(long, env = "LIVEROOM_HANDSHAKE_TIMEOUT", value_name = "SECS")]
    pub handshake_timeout: Option<u64>,
    /// Open connections per client address [default: 256; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Open connections to this server at once, all clients together [default: the
    /// open-file limit minus a reserve for the server's own files: 19,688 of 20,000].
    #[arg(long, env = "LIVEROOM_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// A proxy whose X-Forwarded-For is believed (its own address is not capped); repeat for
    /// several (env: comma-separated).
    #[arg(
        long = "trusted-proxy",
        env = "LIVEROOM_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Rooms one user may create per minute [default: 10; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_ROOM_CREATE_RATE", value_name = "N")]
    pub room_create_rate: Option<u32>,
    /// Rooms one user may own [default: 100; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_MAX_ROOMS_PER_USER", value_name = "N")]
    pub max_rooms_per_user: Option<u32>,
    /// Seconds a graceful shutdown waits for clients before dropping them [default: 10].
    #[arg(long, env = "LIVEROOM_SHUTDOWN_GRACE", value_name = "SECS")]
    pub shutdown_grace: Option<u64>,
    /// Seconds between the server's pings to each client [default: 30].
    #[arg(long, env = "LIVEROOM_KEEPALIVE", value_name = "SECS")]
    pub keepalive: Option<u64>,
    /// Seconds of silence after which a client is dropped [default: 75].
    #[arg(long, env = "LIVEROOM_KEEPALIVE_TIMEOUT", value_name = "SECS")]
    pub keepalive_timeout: Option<u64>,
    /// WebSocket pings a client may send per second, bursts of 5 s worth; faster is closed
    /// with 4002 [default: 2; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_CLIENT_PING_RATE", value_name = "N")]
    pub client_ping_rate: Option<u32>,
    /// Slots of each room's broadcast ring: a viewer more than half of it behind loses Low
    /// and Lowest, a whole ring behind is closed with 4108 [default: 1024; at least 16].
    #[arg(long, env = "LIVEROOM_ROOM_RING", value_name = "N")]
    pub room_ring: Option<usize>,
    /// Viewers of one room on this node from which its messages are batched once for all of
    /// them, one batch in flight, instead of by each viewer [default: 10000; 0 = never].
    #[arg(long, env = "LIVEROOM_SHARED_BATCHES_FROM", value_name = "VIEWERS")]
    pub shared_batches_from: Option<usize>,
    /// External pictures (avatar URLs) fetched at once by GET /external-image [default: 4;
    /// 0 = the proxy is off].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_FETCHES", value_name = "N")]
    pub external_image_fetches: Option<usize>,
    /// Largest external picture fetched, bytes [default: 5242880; at most 20971520].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_MAX_BYTES", value_name = "BYTES")]
    pub external_image_max_bytes: Option<u64>,
    /// Seconds one external picture's fetch may take, redirects and body included [default: 10].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_TIMEOUT", value_name = "SECS")]
    pub external_image_timeout: Option<u64>,
    /// Redirects followed for one external picture [default: 3].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_MAX_REDIRECTS", value_name = "N")]
    pub external_image_max_redirects: Option<usize>,
    /// Seconds a fetched external picture is served from the cache [default: 86400].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_CACHE_TTL", value_name = "SECS")]
    pub external_image_cache_ttl: Option<u64>,
    /// Seconds an external picture that failed answers its failure before it is tried again
    /// [default: 300].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_RETRY_AFTER", value_name = "SECS")]
    pub external_image_retry_after: Option<u64>,
    /// External pictures (and failures) kept in the cache [default: 10000].
    #[arg(long, env = "LIVEROOM_EXTERNAL_IMAGE_CACHE_ENTRIES", value_name = "N")]
    pub external_image_cache_entries: Option<usize>,
    /// Fetch external pictures from loopback, private and link-local addresses too (tests,
    /// LAN deployments) [default: false].
    #[arg(
        long,
        env = "LIVEROOM_EXTERNAL_IMAGE_ALLOW_INTERNAL",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub external_image_allow_internal: Option<bool>,
    /// Cluster mode: the Redis every node shares, `redis://HOST:PORT[/DB]` [default: none,
    /// one process over SQLite].
    #[arg(long, env = "LIVEROOM_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// This node's name in the cluster [default: a random one].
    #[arg(long, env = "LIVEROOM_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
    /// Where pictures are kept; in cluster mode a folder every node shares [default:
    /// DATA/images].
    #[arg(long, env = "LIVEROOM_MEDIA", value_name = "DIR")]
    pub media: Option<PathBuf>,
    /// Webhooks: POST an app's callbacks (Tencent's) to its backend, as SDKAppID:URL
    /// (http:// or https://); repeat for several apps (env: comma-separated).
    #[arg(
        long = "callback",
        env = "LIVEROOM_CALLBACKS",
        value_name = "ID:URL",
        value_delimiter = ','
    )]
    pub callbacks: Vec<String>,
    /// Seconds the backend may take to answer one callback, fractions allowed (0.5)
    /// [default: 2].
    #[arg(long, env = "LIVEROOM_CALLBACK_TIMEOUT", value_name = "SECS")]
    pub callback_timeout: Option<f64>,
    /// What a send gets when its before-send callback times out or fails: allow (it goes
    /// out) or refuse (80003) [default: allow].
    #[arg(long, env = "LIVEROOM_CALLBACK_ON_TIMEOUT", value_name = "POLICY")]
    pub callback_on_timeout: Option<CallbackOnTimeout>,
    /// Signs an app's callbacks, as SDKAppID:TOKEN: each URL gets &Sign=&RequestTime=, Sign
    /// = hex SHA-256 of TOKEN then RequestTime (env: comma-separated).
    #[arg(
        long = "callback-token",
        env = "LIVEROOM_CALLBACK_TOKENS",
        value_name = "ID:TOKEN",
        value_delimiter = ','
    )]
    pub callback_tokens: Vec<String>,
    /// After-events (sent, joined, left, created, destroyed, login state) queued per app
    /// while its backend is slow or down; more are dropped and counted [default: 10000].
    #[arg(long, env = "LIVEROOM_CALLBACK_QUEUE", value_name = "N")]
    pub callback_queue: Option<usize>,
    /// Before-send callbacks waiting on one app's backend at once; a send beyond them gets
    /// the on-timeout policy at once [default: 1000].
    #[arg(long, env = "LIVEROOM_CALLBACK_IN_FLIGHT", value_name = "N")]
    pub callback_in_flight: Option<usize>,
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    apps: Option<FileApps>,
    room_budget: Option<u32>,
    history: Option<usize>,
    join_leave_threshold: Option<usize>,
    user_rate: Option<u32>,
    online_interval: Option<u64>,
    room_unload_after: Option<u64>,
    room_stats_every: Option<u64>,
    max_decodes: Option<usize>,
    decode_wait: Option<u64>,
    upload_idle_timeout: Option<u64>,
    upload_timeout: Option<u64>,
    admins: Option<Vec<String>>,
    blocked_words: Option<Vec<String>>,
    write_timeout: Option<u64>,
    max_write_buffer: Option<usize>,
    handshake_timeout: Option<u64>,
    max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
    trusted_proxies: Option<Vec<IpAddr>>,
    room_create_rate: Option<u32>,
    max_rooms_per_user: Option<u32>,
    shutdown_grace: Option<u64>,
    keepalive: Option<u64>,
    keepalive_timeout: Option<u64>,
    client_ping_rate: Option<u32>,
    room_ring: Option<usize>,
    shared_batches_from: Option<usize>,
    external_image_fetches: Option<usize>,
    external_image_max_bytes: Option<u64>,
    external_image_timeout: Option<u64>,
    external_image_max_redirects: Option<usize>,
    external_image_cache_ttl: Option<u64>,
    external_image_retry_after: Option<u64>,
    external_image_cache_entries: Option<usize>,
    external_image_allow_internal: Option<bool>,
    redis: Option<String>,
    node_id: Option<String>,
    media: Option<PathBuf>,
    callbacks: Option<Vec<String>>,
    callback_timeout: Option<f64>,
    callback_on_timeout: Option<CallbackOnTimeout>,
    callback_tokens: Option<Vec<String>>,
    callback_queue: Option<usize>,
    callback_in_flight: Option<usize>,
}

/// `apps = ["ID:SECRET", ...]` or `[apps]` with `ID = "SECRET"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileApps {
    List(Vec<String>),
    Table(BTreeMap<String, String>),
}

/// Parses `ID:SECRET`.
pub fn parse_app(s: &str) -> Result<(u64, String), ServerError> {
    let (id, secret) = s
        .split_once(':')
        .ok_or_else(|| ServerError::Config(format!("app '{s}' is not ID:SECRET")))?;
    let id = parse_app_id(id)?;
    Ok((id, secret.to_owned()))
}

/// Parses `ID:VALUE` lists (admins, blocked words) into a map; empty entries are skipped.
fn parse_app_pairs(
    what: &str,
    list: &[String],
) -> Result<BTreeMap<u64, BTreeSet<String>>, ServerError> {
    let mut map: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for item in list.iter().filter(|a| !a.trim().is_empty()) {
        let (id, value) = item
            .split_once(':')
            .ok_or_else(|| ServerError::Config(format!("{what} '{item}' is not ID:VALUE")))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(ServerError::Config(format!(
                "{what} '{item}' has an empty value"
            )));
        }
        map.entry(parse_app_id(id)?)
            .or_default()
            .insert(value.to_owned());
    }
    Ok(map)
}

/// Parses `ID:VALUE` lists with one value per app (callback URLs, tokens); empty entries are
/// skipped, an app named twice is refused.
fn parse_app_map(what: &str, list: &[String]) -> Result<BTreeMap<u64, String>, ServerError> {
    let mut map = BTreeMap::new();
    for (id, values) in parse_app_pairs(what, list)? {
        let mut values = values.into_iter();
        if let (Some(value), None) = (values.next(), values.next()) {
            map.insert(id, value);
        } else {
            return Err(ServerError::Config(format!(
                "app {id} has more than one {what}"
            )));
        }
    }
    Ok(map)
}

/// Seconds (fractions allowed) from a flag or the file, else the default.
fn secs_f64(v: Option<f64>, default: Duration) -> Result<Duration, ServerError> {
    match v {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .map_err(|_| ServerError::Config(format!("{s} is not a number of seconds"))),
    }
}

/// Seconds from a flag or the file, else the default.
fn secs(v: Option<u64>, default: Duration) -> Duration {
    v.map_or(default, Duration::from_secs)
}

fn parse_app_id(id: &str) -> Result<u64, ServerError> {
    id.trim()
        .parse::<u64>()
        .map_err(|_| ServerError::Config(format!("SDKAppID '{id}' is not a number")))
}

impl Cli {
    /// Merges flags/env over the file (when given) over the defaults.
    pub fn into_config(self) -> Result<Config, ServerError> {
        let file = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ServerError::ConfigFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let mut apps = BTreeMap::new();
        if self.apps.is_empty() {
            match file.apps {
                Some(FileApps::List(list)) => {
                    for a in list {
                        let (id, s) = parse_app(&a)?;
                        apps.insert(id, s);
                    }
                }
                Some(FileApps::Table(t)) => {
                    for (id, s) in t {
                        apps.insert(parse_app_id(&id)?, s);
                    }
                }
                None => {}
            }
        } else {
            for a in self.apps.iter().filter(|a| !a.trim().is_empty()) {
                let (id, s) = parse_app(a)?;
                apps.insert(id, s);
            }
        }
        let config = Config {
            listen: self.listen.or(file.listen).unwrap_or(d.listen),
            data_dir: self.data.or(file.data).unwrap_or(d.data_dir),
            apps,
            room_budget: self
                .room_budget
                .or(file.room_budget)
                .unwrap_or(d.room_budget),
            history: self.history.or(file.history).unwrap_or(d.history),
            join_leave_threshold: self
                .join_leave_threshold
                .or(file.join_leave_threshold)
                .unwrap_or(d.join_leave_threshold),
            user_rate: self.user_rate.or(file.user_rate).unwrap_or(d.user_rate),
            online_interval: self
                .online_interval
                .or(file.online_interval)
                .map(Duration::from_secs)
                .unwrap_or(d.online_interval),
            room_unload_after: self
                .room_unload_after
                .or(file.room_unload_after)
                .map(Duration::from_secs)
                .unwrap_or(d.room_unload_after),
            room_stats_every: self
                .room_stats_every
                .or(file.room_stats_every)
                .map(Duration::from_secs)
                .unwrap_or(d.room_stats_every),
            room_ring: self.room_ring.or(file.room_ring).unwrap_or(d.room_ring),
            shared_batches_from: self
                .shared_batches_from
                .or(file.shared_batches_from)
                .unwrap_or(d.shared_batches_from),
            max_decodes: self
                .max_decodes
                .or(file.max_decodes)
                .unwrap_or(d.max_decodes),
            decode_wait: self
                .decode_wait
                .or(file.decode_wait)
                .map(Duration::from_secs)
                .unwrap_or(d.decode_wait),
            upload_idle_timeout: self
                .upload_idle_timeout
                .or(file.upload_idle_timeout)
                .map(Duration::from_secs)
                .unwrap_or(d.upload_idle_timeout),
            upload_timeout: self
                .upload_timeout
                .or(file.upload_timeout)
                .map(Duration::from_secs)
                .unwrap_or(d.upload_timeout),
            admins: parse_app_pairs(
                "admin",
                if self.admins.is_empty() {
                    file.admins.as_deref().unwrap_or_default()
                } else {
                    &self.admins
                },
            )?,
            blocked_words: parse_app_pairs(
                "blocked word",
                if self.blocked_words.is_empty() {
                    file.blocked_words.as_deref().unwrap_or_default()
                } else {
                    &self.blocked_words
                },
            )?,
            write_timeout: secs(self.write_timeout.or(file.write_timeout), d.write_timeout),
            max_write_buffer: self
                .max_write_buffer
                .or(file.max_write_buffer)
                .unwrap_or(d.max_write_buffer),
            handshake_timeout: secs(
                self.handshake_timeout.or(file.handshake_timeout),
                d.handshake_timeout,
            ),
            max_connections_per_ip: self
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(d.max_connections_per_ip),
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            trusted_proxies: if self.trusted_proxies.is_empty() {
                file.trusted_proxies
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            } else {
                self.trusted_proxies.into_iter().collect()
            },
            room_create_rate: self
                .room_create_rate
                .or(file.room_create_rate)
                .unwrap_or(d.room_create_rate),
            max_rooms_per_user: self
                .max_rooms_per_user
                .or(file.max_rooms_per_user)
                .unwrap_or(d.max_rooms_per_user),
            shutdown_grace: secs(
                self.shutdown_grace.or(file.shutdown_grace),
                d.shutdown_grace,
            ),
            keepalive: secs(self.keepalive.or(file.keepalive), d.keepalive),
            keepalive_timeout: secs(
                self.keepalive_timeout.or(file.keepalive_timeout),
                d.keepalive_timeout,
            ),
            client_ping_rate: self
                .client_ping_rate
                .or(file.client_ping_rate)
                .unwrap_or(d.client_ping_rate),
            external_image_fetches: self
                .external_image_fetches
                .or(file.external_image_fetches)
                .unwrap_or(d.external_image_fetches),
            external_image_max_bytes: self
                .external_image_max_bytes
                .or(file.external_image_max_bytes)
                .unwrap_or(d.external_image_max_bytes),
            external_image_timeout: secs(
                self.external_image_timeout.or(file.external_image_timeout),
                d.external_image_timeout,
            ),
            external_image_max_redirects: self
                .external_image_max_redirects
                .or(file.external_image_max_redirects)
                .unwrap_or(d.external_image_max_redirects),
            external_image_cache_ttl: secs(
                self.external_image_cache_ttl
                    .or(file.external_image_cache_ttl),
                d.external_image_cache_ttl,
            ),
            external_image_retry_after: secs(
                self.external_image_retry_after
                    .or(file.external_image_retry_after),
                d.external_image_retry_after,
            ),
            external_image_cache_entries: self
                .external_image_cache_entries
                .or(file.external_image_cache_entries)
                .unwrap_or(d.external_image_cache_entries),
            external_image_allow_internal: self
                .external_image_allow_internal
                .or(file.external_image_allow_internal)
                .unwrap_or(d.external_image_allow_internal),
            redis: self.redis.or(file.redis).filter(|r| !r.trim().is_empty()),
            node_id: self
                .node_id
                .or(file.node_id)
                .filter(|n| !n.trim().is_empty()),
            media_dir: self.media.or(file.media),
            callbacks: parse_app_map(
                "callback",
                if self.callbacks.is_empty() {
                    file.callbacks.as_deref().unwrap_or_default()
                } else {
                    &self.callbacks
                },
            )?,
            callback_timeout: secs_f64(
                self.callback_timeout.or(file.callback_timeout),
                d.callback_timeout,
            )?,
            callback_on_timeout: self
                .callback_on_timeout
                .or(file.callback_on_timeout)
                .unwrap_or(d.callback_on_timeout),
            callback_tokens: parse_app_map(
                "callback token",
                if self.callback_tokens.is_empty() {
                    file.callback_tokens.as_deref().unwrap_or_default()
                } else {
                    &self.callback_tokens
                },
            )?,
            callback_queue: self
                .callback_queue
                .or(file.callback_queue)
                .unwrap_or(d.callback_queue),
            callback_in_flight: self
                .callback_in_flight
                .or(file.callback_in_flight)
                .unwrap_or(d.callback_in_flight),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_settings_are_checked() {
        let base = || Config::builder().app(1, "k");
        assert!(base()
            .redis("redis://127.0.0.1:6379/2")
            .node_id("n-1.a_b")
            .build()
            .validate()
            .is_ok());
        for bad in ["", "has space", "n/1", &"x".repeat(65)] {
            let e = base().node_id(bad).build().validate();
            assert!(matches!(e, Err(ServerError::Config(_))), "{bad:?}");
        }
        let e = base().redis("127.0.0.1:6379").build().validate();
        assert!(matches!(e, Err(ServerError::Config(m)) if m.contains("redis://")));
    }

    #[test]
    fn the_room_stats_period_comes_from_the_file_or_the_flag_and_is_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "apps = [\"1:a\"]\nroom_stats_every = 30\n").unwrap();
        let from = |extra: &[&str]| {
            let mut args = vec!["liveroom-server", "--config", path.to_str().unwrap()];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).unwrap().into_config()
        };
        assert_eq!(from(&[]).unwrap().room_stats_every, Duration::from_secs(30));
        let flag = from(&["--room-stats-every", "2"]).unwrap();
        assert_eq!(flag.room_stats_every, Duration::from_secs(2));
        assert!(matches!(
            from(&["--room-stats-every", "0"]),
            Err(ServerError::Config(m)) if m.contains("stats")
        ));
        assert_eq!(Config::default().room_stats_every, Duration::from_secs(10));
    }

    #[test]
    fn every_flag_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_file_and_defaults_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1234\"\nhistory = 7\nroom_budget = 5\napps = [\"1:a\", \"2:b\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--config",
            path.to_str().unwrap(),
            "--room-budget",
            "9",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.history, 7);
        assert_eq!(c.room_budget, 9);
        assert_eq!(c.user_rate, 10);
        assert_eq!(c.apps.len(), 2);
        assert_eq!(c.apps[&2], "b");
    }

    #[test]
    fn apps_flag_repeats_and_table_form() {
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "1400000000:k:with:colons",
            "--app",
            "7:x",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.apps[&1400000000], "k:with:colons");
        assert_eq!(c.apps[&7], "x");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[apps]\n42 = \"s\"\n").unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(cli.into_config().unwrap().apps[&42], "s");
    }

    #[test]
    fn admins_and_blocked_words() {
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--admin",
            "7:mod1",
            "--admin",
            "7:mod2",
            "--blocked-word",
            "7:Spam",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.admins[&7].len(), 2);
        assert!(c.blocked_words[&7].contains("Spam"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "apps = [\"7:x\"]\nadmins = [\"7:boss\"]\nblocked_words = [\"7:bad\"]\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        let c = cli.into_config().unwrap();
        assert!(c.admins[&7].contains("boss"));
        assert!(c.blocked_words[&7].contains("bad"));
        let cli =
            Cli::try_parse_from(["liveroom-server", "--app", "7:x", "--admin", "x:y"]).unwrap();
        assert!(cli.into_config().is_err());
    }

    #[test]
    fn picture_settings() {
        let d = Config::default();
        assert_eq!(d.max_decodes, 2);
        assert_eq!(d.decode_wait, Duration::from_secs(10));
        assert_eq!(d.upload_idle_timeout, Duration::from_secs(10));
        assert_eq!(d.upload_timeout, Duration::from_secs(120));
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--max-decodes",
            "3",
            "--decode-wait",
            "0",
            "--upload-idle-timeout",
            "2",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.max_decodes, 3);
        assert_eq!(c.decode_wait, Duration::ZERO);
        assert_eq!(c.upload_idle_timeout, Duration::from_secs(2));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "apps = [\"7:x\"]\nmax_decodes = 1\nupload_timeout = 30\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.max_decodes, 1);
        assert_eq!(c.upload_timeout, Duration::from_secs(30));
        for bad in [["--max-decodes", "0"], ["--upload-idle-timeout", "0"]] {
            let cli =
                Cli::try_parse_from(["liveroom-server", "--app", "7:x", bad[0], bad[1]]).unwrap();
            assert!(cli.into_config().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_image_settings() {
        let d = Config::default();
        assert_eq!(d.external_image_fetches, 4);
        assert!(!d.external_image_allow_internal);
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--external-image-allow-internal",
            "--external-image-timeout",
            "2",
            "--external-image-max-bytes",
            "1000",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert!(c.external_image_allow_internal);
        assert_eq!(c.external_image_timeout, Duration::from_secs(2));
        assert_eq!(c.external_image_max_bytes, 1000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "apps = [\"7:x\"]\nexternal_image_allow_internal = true\nexternal_image_fetches = 0\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        let c = cli.into_config().unwrap();
        assert!(c.external_image_allow_internal);
        assert_eq!(c.external_image_fetches, 0);
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--external-image-max-bytes",
            "20971521",
        ])
        .unwrap();
        assert!(cli.into_config().is_err());
    }

    #[test]
    fn callback_settings() {
        let d = Config::default();
        assert_eq!(d.callback_timeout, Duration::from_secs(2));
        assert_eq!(d.callback_on_timeout, CallbackOnTimeout::Allow);
        assert_eq!(d.callback_queue, 10_000);
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--app",
            "8:y",
            "--callback",
            "7:https://backend.example/hook?key=a:b",
            "--callback",
            "8:http://127.0.0.1:8080/im",
            "--callback-timeout",
            "0.25",
            "--callback-on-timeout",
            "refuse",
            "--callback-token",
            "7:tok:en",
            "--callback-queue",
            "5",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.callbacks[&7], "https://backend.example/hook?key=a:b");
        assert_eq!(c.callbacks[&8], "http://127.0.0.1:8080/im");
        assert_eq!(c.callback_timeout, Duration::from_millis(250));
        assert_eq!(c.callback_on_timeout, CallbackOnTimeout::Refuse);
        assert_eq!(c.callback_tokens[&7], "tok:en");
        assert_eq!(c.callback_queue, 5);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "apps = [\"7:x\"]\ncallbacks = [\"7:http://h/cb\"]\ncallback_timeout = 3\n\
             callback_on_timeout = \"refuse\"\ncallback_tokens = [\"7:t\"]\ncallback_in_flight = 9\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.callbacks[&7], "http://h/cb");
        assert_eq!(c.callback_timeout, Duration::from_secs(3));
        assert_eq!(c.callback_on_timeout, CallbackOnTimeout::Refuse);
        assert_eq!(c.callback_tokens[&7], "t");
        assert_eq!(c.callback_in_flight, 9);

        let refused = |args: &[&str]| {
            let mut all = vec!["liveroom-server", "--app", "7:x"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.into_config().map_err(|e| e.to_string()))
                .expect_err("refused")
        };
        assert!(refused(&["--callback", "9:http://h/"]).contains("not configured"));
        assert!(refused(&["--callback", "7:ftp://h/"]).contains("http://"));
        assert!(refused(&["--callback", "7:h/cb"]).contains("callback URL"));
        assert!(
            refused(&["--callback", "7:http://a/", "--callback", "7:http://b/"])
                .contains("more than one")
        );
        assert!(refused(&["--callback-token", "7:t"]).contains("no callback URL"));
        assert!(
            refused(&["--callback", "7:http://a/", "--callback-timeout", "0"]).contains("timeout")
        );
        assert!(
            refused(&["--callback", "7:http://a/", "--callback-timeout=-1"]).contains("seconds")
        );
        assert!(refused(&["--callback", "7:http://a/", "--callback-queue", "0"]).contains("queue"));
        let flight = [
            "--callback",
            "7:http://a/",
            "--callback-in-flight",
            "1000001",
        ];
        assert!(refused(&flight).contains("in-flight"));
        assert!(refused(&["--callback-on-timeout", "maybe"]).contains("maybe"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let cli = Cli::try_parse_from(["liveroom-server", "--app", "nope"]).unwrap();
        assert!(cli.into_config().is_err());
        assert!(Config::default().validate().is_err());
        assert!(Config::builder().app(1, "k").build().validate().is_ok());
    }
}
