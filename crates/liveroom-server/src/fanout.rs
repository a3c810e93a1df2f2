//! Fan-out: messages are encoded once per room and shared by every viewer.
//!
//! A room publishes [`Item`]s into a `tokio::sync::broadcast` ring. A message item is a
//! complete one-message `messages` frame built once per room, published at once (no timer).
//! Each connection, when woken, drains everything pending for a room and writes it as ONE
//! frame: a lone item goes out as the room's shared frame (no per-viewer allocation or
//! copy); several items are concatenated between the room's prefix and suffix. No viewer
//! ever serializes JSON. The batching is self-clocked: the busier the server, the more a
//! viewer has pending when its turn comes, the fuller (and fewer) its frames.
//!
//! Lagging viewers: a viewer with more than half the ring pending skips the Low and Lowest
//! items it drains until it is back under half (High, Normal and room events still go); a
//! viewer a whole ring behind is closed with 4108 (slow consumer) and gap-fills on reconnect.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use futures_util::future::select_all;
use liveroom_proto::frame::MESSAGES_FRAME_SUFFIX;
use liveroom_proto::Priority;
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::room::Room;

/// Most a viewer drains per wake-up (and the largest batch frame): the rest waits in the
/// ring, where the lagging policy applies, so a stalled viewer holds at most this much in
/// its write buffer.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What a room publishes.
#[derive(Debug, Clone)]
pub enum Item {
    /// A complete `messages` frame of one or more messages, built once per room. A viewer
    /// woken for just this item sends it as is (no copy); batches reuse the list between the
    /// room's frame prefix and [`MESSAGES_FRAME_SUFFIX`].
    Messages {
        /// The frame.
        frame: Utf8Bytes,
        /// Only Low and Lowest messages inside: a lagging viewer skips it.
        droppable: bool,
    },
    /// A complete frame (e.g. `online`, `room_event`), sent as is, in order with the messages.
    Frame(Utf8Bytes),
}

/// Whether a lagging viewer skips messages of `priority`.
pub fn droppable(priority: Priority) -> bool {
    matches!(priority, Priority::Low | Priority::Lowest)
}

/// Wraps one encoded message of the room with frame `prefix` into an [`Item::Messages`].
pub fn message_item(prefix: &str, json: &str, priority: Priority) -> Item {
    let mut s = String::with_capacity(prefix.len() + json.len() + MESSAGES_FRAME_SUFFIX.len());
    s.push_str(prefix);
    s.push_str(json);
    s.push_str(MESSAGES_FRAME_SUFFIX);
    Item::Messages {
        frame: Utf8Bytes::from(s),
        droppable: droppable(priority),
    }
}

/// The message list (JSON objects separated by commas) inside a `messages` frame of a room
/// whose prefix is `prefix_len` long.
fn message_list(frame: &Utf8Bytes, prefix_len: usize) -> &str {
    let s = frame.as_str();
    s.len()
        .checked_sub(MESSAGES_FRAME_SUFFIX.len())
        .and_then(|end| s.get(prefix_len..end))
        .unwrap_or("")
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

    /// The next pending item, if any, without waiting (tests).
    #[cfg(test)]
    pub fn try_next(&mut self) -> Option<Item> {
        self.rx.try_recv().ok()
    }
}

/// Why draining stopped a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum DrainError {
    /// The viewer fell a whole ring behind.
    Lagged,
}

/// Appends every frame still pending for `sub` (messages batched), ignoring a lag: used
/// when a room is dismissed, to deliver its last events before the subscription is dropped.
pub fn drain_rest(sub: &mut Subscription, out: &mut Vec<Utf8Bytes>) {
    loop {
        match sub.rx.try_recv() {
            Ok(item) => {
                let _ = drain(sub, item, out);
            }
            Err(TryRecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
}

/// Waits until one of the subscriptions has something; returns its index and first item.
/// Cancel-safe (broadcast `recv` is), so it can sit in a `select!`.
pub async fn next(subs: &mut [Subscription]) -> (usize, Result<Item, DrainError>) {
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
        Ok(item) => (i, Ok(item)),
        Err(broadcast::error::RecvError::Lagged(_)) => (i, Err(DrainError::Lagged)),
        // A subscription holds its room, and so the sender: this cannot happen. Waiting
        // forever (instead of spinning) keeps the connection's other duties running.
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

/// Drains `sub` starting with `first` into frames appended to `out`: consecutive message
/// items become one `messages` frame, whole frames keep their place in the order. A lone
/// item goes out as its shared pre-built frame, so the common case allocates nothing per
/// viewer. While more than the room's lag threshold is pending, droppable (Low, Lowest)
/// items are skipped. Stops after [`MAX_BATCH_BYTES`]; the rest waits for the next wake-up.
pub fn drain(
    sub: &mut Subscription,
    first: Item,
    out: &mut Vec<Utf8Bytes>,
) -> Result<(), DrainError> {
    let prefix = sub.room.frame_prefix();
    let threshold = sub.room.lag_threshold();
    // Items pending, `first` included: one look at the ring's tail per wake-up.
    let mut backlog = sub.rx.len() + 1;
    let mut skipped = 0usize;
    let mut taken = 0usize;
    let mut pending = Pending::default();
    let mut item = Some(first);
    while let Some(it) = item.take() {
        let lagging = backlog > threshold;
        backlog = backlog.saturating_sub(1);
        match it {
            Item::Messages {
                droppable: true, ..
            } if lagging => skipped += 1,
            Item::Messages { frame, .. } => {
                taken += frame.len();
                pending.push(prefix, frame, out);
            }
            Item::Frame(f) => {
                taken += f.len();
                pending.flush(out);
                out.push(f);
            }
        }
        if taken >= MAX_BATCH_BYTES {
            break;
        }
        item = match sub.rx.try_recv() {
            Ok(next) => Some(next),
            Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => None,
            Err(TryRecvError::Lagged(_)) => return Err(DrainError::Lagged),
        };
    }
    pending.flush(out);
    if skipped > 0 {
        tracing::debug!(room = %sub.room.id(), skipped, "lagging viewer: Low/Lowest skipped");
    }
    Ok(())
}

/// Message items gathered for one frame: a lone pre-built frame, or a batch being concatenated.
#[derive(Default)]
struct Pending {
    single: Option<Utf8Bytes>,
    batch: Option<String>,
}

impl Pending {
    fn push(&mut self, prefix: &str, frame: Utf8Bytes, out: &mut Vec<Utf8Bytes>) {
        let json = message_list(&frame, prefix.len());
        if let Some(b) = self.batch.as_mut() {
            b.push(',');
            b.push_str(json);
        } else if let Some(first) = self.single.take() {
            let first_json = message_list(&first, prefix.len());
            let mut b = String::with_capacity(first.len() + json.len() + 1);
            b.push_str(prefix);
            b.push_str(first_json);
            b.push(',');
            b.push_str(json);
            self.batch = Some(b);
        } else {
            self.single = Some(frame);
            return;
        }
        if self
            .batch
            .as_ref()
            .is_some_and(|b| b.len() >= MAX_BATCH_BYTES)
        {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Utf8Bytes>) {
        if let Some(mut b) = self.batch.take() {
            b.push_str(MESSAGES_FRAME_SUFFIX);
            out.push(Utf8Bytes::from(b));
        } else if let Some(f) = self.single.take() {
            out.push(f);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Room;
    use liveroom_proto::ServerFrame;

    fn room(id: &str) -> Arc<Room> {
        room_with_ring(id, 1024)
    }

    fn room_with_ring(id: &str, ring: usize) -> Arc<Room> {
        crate::test_support::room(id, ring)
    }

    fn msg_in(room: &str, seq: u64) -> Item {
        msg_prio(room, seq, Priority::Normal)
    }

    fn msg_prio(room: &str, seq: u64, priority: Priority) -> Item {
        let json = format!(
            r#"{{"ID":"m{seq}","type":"TIMTextElem","payload":{{"text":"t"}},"to":"r","from":"u","time":1,"sequence":{seq}}}"#
        );
        message_item(&ServerFrame::messages_frame_prefix(room), &json, priority)
    }

    fn msg(seq: u64) -> Item {
        msg_in("r", seq)
    }

    #[tokio::test]
    async fn pending_messages_become_one_frame_and_frames_keep_their_place() {
        let (tx, rx) = broadcast::channel(16);
        let mut sub = Subscription::new(room("r\"x"), rx);
        tx.send(msg_in("r\"x", 1)).unwrap();
        tx.send(msg_in("r\"x", 2)).unwrap();
        tx.send(Item::Frame(Utf8Bytes::from(
            r#"{"t":"online","room":"r","count":2}"#,
        )))
        .unwrap();
        tx.send(msg_in("r\"x", 3)).unwrap();
        let mut subs = [sub];
        let (i, first) = next(&mut subs).await;
        sub = subs.into_iter().next().unwrap();
        assert_eq!(i, 0);
        let mut out = Vec::new();
        drain(&mut sub, first.unwrap(), &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let frames: Vec<ServerFrame> = out
            .iter()
            .map(|f| serde_json::from_str(f.as_str()).unwrap())
            .collect();
        match &frames[0] {
            ServerFrame::Messages { room, list } => {
                assert_eq!(room, "r\"x");
                assert_eq!(list.iter().map(|m| m.sequence).collect::<Vec<_>>(), [1, 2]);
            }
            f => panic!("{f:?}"),
        }
        assert!(matches!(frames[1], ServerFrame::Online { count: 2, .. }));
        assert!(matches!(&frames[2], ServerFrame::Messages { list, .. } if list[0].sequence == 3));
    }

    #[tokio::test]
    async fn a_lone_message_is_sent_without_copying() {
        let (tx, rx) = broadcast::channel(4);
        let mut subs = [Subscription::new(room("r"), rx)];
        let item = msg(1);
        let Item::Messages {
            frame: original, ..
        } = &item
        else {
            panic!("not a message")
        };
        let ptr = original.as_str().as_ptr();
        tx.send(item.clone()).unwrap();
        let (_, first) = next(&mut subs).await;
        let mut out = Vec::new();
        drain(&mut subs[0], first.unwrap(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_str().as_ptr(), ptr, "the shared frame itself");
        let f: ServerFrame = serde_json::from_str(out[0].as_str()).unwrap();
        assert!(matches!(f, ServerFrame::Messages { list, .. } if list.len() == 1));
    }

    #[tokio::test]
    async fn a_lagging_receiver_is_reported() {
        let (tx, rx) = broadcast::channel(2);
        let mut subs = [Subscription::new(room("r"), rx)];
        for seq in 1..=5 {
            tx.send(msg(seq)).unwrap();
        }
        let (_, first) = next(&mut subs).await;
        assert_eq!(first.unwrap_err(), DrainError::Lagged);
        let mut out = Vec::new();
        tx.send(msg(6)).unwrap();
        tx.send(msg(7)).unwrap();
        tx.send(msg(8)).unwrap();
        assert_eq!(drain_ready(&mut subs, &mut out), Err(DrainError::Lagged));
    }

    #[tokio::test]
    async fn a_lagging_viewer_skips_low_and_lowest_until_back_under_half_the_ring() {
        // Ring of 16: lagging while more than 8 items are pending.
        let (tx, rx) = broadcast::channel(16);
        let mut subs = [Subscription::new(room_with_ring("r", 16), rx)];
        let cycle = [
            Priority::Low,
            Priority::High,
            Priority::Lowest,
            Priority::Normal,
        ];
        for seq in 1..=12u64 {
            tx.send(msg_prio("r", seq, cycle[(seq as usize - 1) % 4]))
                .unwrap();
        }
        tx.send(Item::Frame(Utf8Bytes::from(
            r#"{"t":"online","room":"r","count":2}"#,
        )))
        .unwrap();
        let (_, first) = next(&mut subs).await;
        let mut out = Vec::new();
        drain(&mut subs[0], first.unwrap(), &mut out).unwrap();
        assert_eq!(
            out.len(),
            2,
            "the messages in one frame, then the online frame"
        );
        let ServerFrame::Messages { list, .. } = serde_json::from_str(out[0].as_str()).unwrap()
        else {
            panic!("not a messages frame: {}", out[0]);
        };
        // 13 pending: items 1-5 are drained while more than 8 are pending, so Low 1 and
        // Lowest 3 and Low 5 are skipped; High 2 and Normal 4 still go; from 6 on, everything.
        let seqs: Vec<u64> = list.iter().map(|m| m.sequence).collect();
        assert_eq!(seqs, [2, 4, 6, 7, 8, 9, 10, 11, 12]);
        assert!(matches!(
            serde_json::from_str(out[1].as_str()).unwrap(),
            ServerFrame::Online { count: 2, .. }
        ));
    }

    #[tokio::test]
    async fn several_rooms_are_polled() {
        let (tx1, rx1) = broadcast::channel(4);
        let (tx2, rx2) = broadcast::channel(4);
        let mut subs = [
            Subscription::new(room("a"), rx1),
            Subscription::new(room("b"), rx2),
        ];
        tx2.send(msg_in("b", 1)).unwrap();
        let (i, first) = next(&mut subs).await;
        assert_eq!(i, 1);
        tx1.send(msg_in("a", 1)).unwrap();
        let mut out = Vec::new();
        drain(&mut subs[1], first.unwrap(), &mut out).unwrap();
        drain_ready(&mut subs, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0].as_str().contains(r#""room":"b""#));
        assert!(out[1].as_str().contains(r#""room":"a""#));
        drop(tx1);
    }
}
