//! The node's pub/sub connection: one Redis connection subscribed to the channels of the
//! rooms this node has viewers in, and to the node's own signal channel. A lost connection
//! is made again by itself (with backoff); every channel is subscribed again and each one's
//! handler catches up on what it missed meanwhile ([`ChannelHandler::resync`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::conn::{Redis, CALL_DEADLINE};
use crate::error::StoreError;

/// What a handler call returns.
pub(crate) type HandlerFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Receives one channel's items.
pub(crate) trait ChannelHandler: Send + Sync {
    /// One item, in the order published. Items of all channels are handled one at a time.
    fn receive<'a>(&'a self, payload: &'a str) -> HandlerFuture<'a>;
    /// The connection was lost and is back: catch up on what was published meanwhile.
    fn resync(&self) -> HandlerFuture<'_>;
}

enum Command {
    Subscribe {
        channel: String,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    Unsubscribe {
        channel: String,
    },
}

/// Commands queued to the subscriber task at most.
const COMMANDS: usize = 1024;

/// A handle on the node's subscriber task.
#[derive(Clone)]
pub(crate) struct Subscriber {
    commands: mpsc::Sender<Command>,
    handlers: Arc<Mutex<HashMap<String, Arc<dyn ChannelHandler>>>>,
}

impl Subscriber {
    /// Starts the task over `redis` until `shutdown`.
    pub(crate) fn start(
        redis: Redis,
        shutdown: CancellationToken,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Self {
        let (commands, rx) = mpsc::channel(COMMANDS);
        let handlers: Arc<Mutex<HashMap<String, Arc<dyn ChannelHandler>>>> = Arc::default();
        tracker.spawn(run(redis, rx, handlers.clone(), shutdown));
        Self { commands, handlers }
    }

    /// Subscribes `handler` to `channel`; resolves once Redis confirmed the subscription
    /// (items published from then on reach the handler).
    pub(crate) async fn subscribe(
        &self,
        channel: String,
        handler: Arc<dyn ChannelHandler>,
    ) -> Result<(), StoreError> {
        let channel_name = channel.clone();
        self.lock_handlers().insert(channel.clone(), handler);
        let (done, confirmed) = oneshot::channel();
        self.commands
            .send(Command::Subscribe { channel, done })
            .await
            .map_err(|_| StoreError::Unavailable)?;
        let r = match tokio::time::timeout(CALL_DEADLINE, confirmed).await {
            Ok(Ok(r)) => r,
            _ => Err(StoreError::Unavailable),
        };
        if r.is_err() {
            self.lock_handlers().remove(&channel_name);
        }
        r
    }

    /// Stops receiving `channel`.
    pub(crate) fn unsubscribe(&self, channel: &str) {
        self.lock_handlers().remove(channel);
        let cmd = Command::Unsubscribe {
            channel: channel.to_owned(),
        };
        if self.commands.try_send(cmd).is_err() {
            // Its handler is gone: what still arrives on the channel is ignored.
            tracing::debug!(channel, "unsubscribe not queued");
        }
    }

    fn lock_handlers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn ChannelHandler>>> {
        self.handlers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Longest wait between two attempts to reach Redis again.
const RECONNECT_MAX: Duration = Duration::from_secs(1);

async fn run(
    redis: Redis,
    mut commands: mpsc::Receiver<Command>,
    handlers: Arc<Mutex<HashMap<String, Arc<dyn ChannelHandler>>>>,
    shutdown: CancellationToken,
) {
    let mut wait = Duration::from_millis(50);
    let mut first = true;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = tokio::time::timeout(CALL_DEADLINE, redis.client().get_async_pubsub()) => c,
        };
        let pubsub = match connected {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot reach redis for pub/sub; retrying");
                pause(&shutdown, &mut wait, &mut commands).await;
                continue;
            }
            Err(_) => {
                tracing::warn!("redis pub/sub connect timed out; retrying");
                pause(&shutdown, &mut wait, &mut commands).await;
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let wanted: Vec<(String, Arc<dyn ChannelHandler>)> = handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(c, h)| (c.clone(), h.clone()))
            .collect();
        let mut ok = true;
        for (channel, _) in &wanted {
            if let Err(e) = sink.subscribe(channel).await {
                tracing::warn!(error = %e, "resubscribe failed");
                ok = false;
                break;
            }
        }
        if !ok {
            pause(&shutdown, &mut wait, &mut commands).await;
            continue;
        }
        wait = Duration::from_millis(50);
        if !first {
            tracing::info!(channels = wanted.len(), "redis pub/sub is back");
            for (_, handler) in &wanted {
                handler.resync().await;
            }
        }
        first = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(Command::Subscribe { channel, done }) => {
                        let r = sink.subscribe(&channel).await.map_err(StoreError::from);
                        let failed = r.is_err();
                        let _ = done.send(r);
                        if failed {
                            break;
                        }
                    }
                    Some(Command::Unsubscribe { channel }) => {
                        if sink.unsubscribe(&channel).await.is_err() {
                            break;
                        }
                    }
                },
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let handler = handlers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(msg.get_channel_name())
                        .cloned();
                    let Some(handler) = handler else { continue };
                    match std::str::from_utf8(msg.get_payload_bytes()) {
                        Ok(payload) => handler.receive(payload).await,
                        Err(_) => tracing::warn!("non-UTF-8 item on a channel: ignored"),
                    }
                }
            }
        }
        tracing::warn!("redis pub/sub connection lost; reconnecting");
    }
}

/// Waits before the next attempt (doubling up to [`RECONNECT_MAX`]); subscriptions asked for
/// meanwhile fail at once (the caller answers a coded error) but stay wanted.
async fn pause(
    shutdown: &CancellationToken,
    wait: &mut Duration,
    commands: &mut mpsc::Receiver<Command>,
) {
    let until = tokio::time::Instant::now() + *wait;
    *wait = (*wait * 2).min(RECONNECT_MAX);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(until) => return,
            cmd = commands.recv() => match cmd {
                Some(Command::Subscribe { done, .. }) => {
                    let _ = done.send(Err(StoreError::Unavailable));
                }
                Some(Command::Unsubscribe { .. }) => {}
                None => return,
            },
        }
    }
}
