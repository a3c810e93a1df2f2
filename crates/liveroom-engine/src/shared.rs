//! State shared by the [`crate::Im`] handle and its connection task.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::download::Downloader;
use crate::endpoint::{Endpoints, Servers};
use crate::events::{Emitter, Event, EventData, EventName, NextTry};
use crate::lock;
use crate::rooms::Rooms;
use crate::tls::TlsConfig;

/// The connection's state, as the seed's `NET_STATE_*` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetState {
    /// The socket is open and the session restored.
    Connected,
    /// Opening the socket, or reconnecting after losing it.
    Connecting,
    /// No socket (not yet needed, shut down, kicked, or the server refused the app).
    Disconnected,
}

impl NetState {
    /// `connected`, `connecting` or `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Connecting => "connecting",
            Self::Disconnected => "disconnected",
        }
    }
}

/// A logged-in user: what a reconnect replays.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) user_id: String,
    pub(crate) user_sig: String,
    /// Bearer token for HTTP uploads.
    pub(crate) upload_token: String,
}

/// Everything the connection task and the handle both read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) session: Option<Session>,
    pub(crate) rooms: Rooms,
    pub(crate) net: NetState,
    /// Upload path from the `hello` reply.
    pub(crate) upload_path: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) sdk_app_id: u64,
    /// The nodes the engine may talk to.
    pub(crate) servers: Servers,
    /// The node connected to, or being tried: an index into `servers`, changed only by the
    /// connection task.
    current: AtomicUsize,
    /// Roots trusted for `wss://` and `https://`.
    pub(crate) tls: TlsConfig,
    pub(crate) emitter: Emitter,
    /// Pictures from the server (one HTTP client, made on first use).
    pub(crate) downloader: Downloader,
    pub(crate) state: Mutex<State>,
    log_level: AtomicU8,
    next_id: AtomicU64,
}

/// The seed's default log level: 1, release.
const DEFAULT_LOG_LEVEL: u8 = 1;

impl Shared {
    /// The first node is one of `servers` chosen at random, so that clients given the same
    /// list spread over the nodes.
    pub(crate) fn new(sdk_app_id: u64, servers: Servers, tls: TlsConfig) -> Self {
        let first = match servers.len() {
            0 | 1 => 0,
            n => rand::random::<usize>() % n,
        };
        Self {
            sdk_app_id,
            servers,
            current: AtomicUsize::new(first),
            tls,
            emitter: Emitter::new(),
            downloader: Downloader::default(),
            state: Mutex::new(State {
                session: None,
                rooms: Rooms::default(),
                net: NetState::Disconnected,
                upload_path: None,
            }),
            log_level: AtomicU8::new(DEFAULT_LOG_LEVEL),
            next_id: AtomicU64::new(1),
        }
    }

    /// The node connected to (or being tried): its WebSocket, and the HTTP root that uploads,
    /// downloads and image URLs use.
    pub(crate) fn endpoints(&self) -> &Endpoints {
        self.servers.get(self.current.load(Ordering::Relaxed))
    }

    /// Moves to the next node of the list (round-robin from the current one); with one
    /// address this changes nothing.
    pub(crate) fn next_server(&self) {
        if self.servers.len() > 1 {
            let next = (self.current.load(Ordering::Relaxed) + 1) % self.servers.len();
            self.current.store(next, Ordering::Relaxed);
        }
    }

    /// A fresh request id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn set_log_level(&self, level: u8) {
        self.log_level.store(level.min(4), Ordering::Relaxed);
    }

    /// Whether a record at `level` passes the engine's own level (0 verbose .. 4 silent). The
    /// tracing subscriber filters again after this.
    pub(crate) fn log_enabled(&self, level: tracing::Level) -> bool {
        let needed = match level {
            tracing::Level::TRACE | tracing::Level::DEBUG => 0,
            tracing::Level::INFO => 1,
            tracing::Level::WARN => 2,
            tracing::Level::ERROR => 3,
        };
        let current = self.log_level.load(Ordering::Relaxed);
        current < 4 && needed >= current
    }

    /// The logged-in user, if any.
    pub(crate) fn me(&self) -> Option<String> {
        lock(&self.state)
            .session
            .as_ref()
            .map(|s| s.user_id.clone())
    }

    /// Sets the net state, emitting `t_net_state_change` when it changes.
    pub(crate) fn set_net(&self, net: NetState) {
        let changed = {
            let mut state = lock(&self.state);
            std::mem::replace(&mut state.net, net) != net
        };
        if changed {
            self.emitter.emit(Event::new(
                EventName::NetStateChange,
                EventData::Text(net.as_str().to_owned()),
            ));
        }
    }

    /// Reconnecting: the next try is `attempt`, in `delay`. Always emits `t_net_state_change`
    /// (`connecting`, with `nextTry`): each new try time is news to a user waiting for it.
    pub(crate) fn set_reconnecting(&self, attempt: u32, delay: Duration) {
        lock(&self.state).net = NetState::Connecting;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut event = Event::new(
            EventName::NetStateChange,
            EventData::Text(NetState::Connecting.as_str().to_owned()),
        );
        event.next_try = Some(NextTry {
            attempt,
            in_ms: millis(delay),
            at: millis(now + delay),
        });
        self.emitter.emit(event);
    }

    /// Ends the login and leaves every room locally; emits `t_im_not_ready` if there was a
    /// login.
    pub(crate) fn end_session(&self) {
        let had_session = self.forget_session();
        self.announce_session_end(had_session);
    }

    /// Forgets the session and its rooms; whether there was one.
    pub(crate) fn forget_session(&self) -> bool {
        let mut state = lock(&self.state);
        state.rooms.clear();
        state.session.take().is_some()
    }

    /// `t_sdk_not_ready` when a session ended.
    pub(crate) fn announce_session_end(&self, had_session: bool) {
        if had_session {
            self.emitter
                .emit(Event::new(EventName::ImNotReady, EventData::None));
        }
    }
}

/// Whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Logs through `tracing` if the engine's level (`set_log_level`) lets it through.
macro_rules! elog {
    ($shared:expr, $level:ident, $($arg:tt)+) => {
        if $shared.log_enabled(tracing::Level::$level) {
            tracing::event!(tracing::Level::$level, $($arg)+);
        }
    };
}
pub(crate) use elog;
