//! Fan-out: messages are encoded once per room and shared by every viewer.
//!
//! A room publishes [`Item`]s into a `tokio::sync::broadcast` channel. Each connection, when
//! woken, drains everything pending for a room and writes ONE `messages` frame built by
//! concatenating the pre-encoded messages between the proto's prefix and suffix. No viewer
//! ever serializes JSON; the only per-viewer allocation is the outgoing frame of a wake-up.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use futures_util::future::select_all;
use liveroom_proto::frame::MESSAGES_FRAME_SUFFIX;
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::room::Room;

/// Slots of a room's channel. A viewer that falls this far behind is closed as a slow
/// consumer (it reconnects and gap-fills from history).
pub const ROOM_CHANNEL_CAPACITY: usize = 1024;

/// Largest batch frame a viewer gets in one go; beyond it the batch is split.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What a room publishes.
#[derive(Debug, Clone)]
pub enum Item {
    /// One encoded message, to be batched into a `messages` frame.
    Message(Arc<str>),
    /// A complete frame (e.g. `online`), sent as is, in order with the messages.
    Frame(Utf8Bytes),
}

/// A connection's membership in a room: the room and its receiver.
pub struct Subscription {
    /// The room.
    pub room: Arc<Room>,
    rx: broadcast::Receiver<Item>,
}

impl Subscription {
    /// Wraps a receiver obtained under the room lock.
    pub fn new(room: Arc<Room>, rx: broadcast::Receiver<Item>) -> Self {
        Self { room, rx }
    }
}

/// Why draining stopped a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum DrainError {
    /// The viewer fell more than [`ROOM_CHANNEL_CAPACITY`] items behind.
    Lagged,
}

/// Waits until one of the subscriptions has something; returns its index and first item.
/// Cancel-safe (broadcast `recv` is), so it can sit in a `select!`.
pub async fn next(subs: &mut [Subscription]) -> (usize, Result<Item, DrainError>) {
    loop {
        let (i, r) = match subs.len() {
            0 => std::future::pending().await,
            1 => (0, subs[0].rx.recv().await),
            _ => {
                // Moderators only: several rooms per connection.
                let futs = subs
                    .iter_mut()
                    .enumerate()
                    .map(|(i, s)| Box::pin(async move { (i, s.rx.recv().await) }));
                select_all(futs).await.0
            }
        };
        match r {
            Ok(item) => return (i, Ok(item)),
            Err(broadcast::error::RecvError::Lagged(_)) => return (i, Err(DrainError::Lagged)),
            // The room is gone (never while the registry holds it): wait on the others.
            Err(broadcast::error::RecvError::Closed) => {
                if subs.len() == 1 {
                    std::future::pending::<()>().await;
                }
                continue;
            }
        }
    }
}

/// Drains `sub` starting with `first` into frames appended to `out`: consecutive messages
/// become one `messages` frame, whole frames keep their place in the order.
pub fn drain(
    sub: &mut Subscription,
    first: Item,
    out: &mut Vec<Utf8Bytes>,
) -> Result<(), DrainError> {
    let prefix = sub.room.frame_prefix();
    let mut batch: Option<String> = None;
    let mut item = Some(first);
    while let Some(it) = item.take() {
        match it {
            Item::Message(m) => {
                let b = batch.get_or_insert_with(|| {
                    let mut s = String::with_capacity(prefix.len() + m.len() + 2);
                    s.push_str(prefix);
                    s
                });
                if b.len() > prefix.len() {
                    b.push(',');
                }
                b.push_str(&m);
                if b.len() >= MAX_BATCH_BYTES {
                    flush(&mut batch, out);
                }
            }
            Item::Frame(f) => {
                flush(&mut batch, out);
                out.push(f);
            }
        }
        item = match sub.rx.try_recv() {
            Ok(next) => Some(next),
            Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => None,
            Err(TryRecvError::Lagged(_)) => return Err(DrainError::Lagged),
        };
    }
    flush(&mut batch, out);
    Ok(())
}

/// Drains every subscription that has something pending without waiting.
pub fn drain_ready(subs: &mut [Subscription], out: &mut Vec<Utf8Bytes>) -> Result<(), DrainError> {
    for sub in subs.iter_mut() {
        match sub.rx.try_recv() {
            Ok(first) => drain(sub, first, out)?,
            Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => {}
            Err(TryRecvError::Lagged(_)) => return Err(DrainError::Lagged),
        }
    }
    Ok(())
}

fn flush(batch: &mut Option<String>, out: &mut Vec<Utf8Bytes>) {
    if let Some(mut b) = batch.take() {
        b.push_str(MESSAGES_FRAME_SUFFIX);
        out.push(Utf8Bytes::from(b));
    }
}
