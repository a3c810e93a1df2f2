//! Fan-out: messages are encoded once per room and shared by every viewer.
//!
//! A room publishes [`Item`]s into its [`Ring`], a `tokio::sync::broadcast` channel. A message item is a
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

use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use futures_util::future::select_all;
use liveroom_proto::frame::MESSAGES_FRAME_SUFFIX;
use liveroom_proto::{Priority, ServerFrame};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// Most a viewer drains per wake-up (and the largest batch frame): the rest waits in the
/// ring, where the lagging policy applies, so a stalled viewer holds at most this much in
/// its write buffer.
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What a room publishes.
#[derive(Debug, Clone)]
pub(crate) enum Item {
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

/// A room's broadcast ring. It exists only while someone is in the room: a ring is its slots
/// allocated up front, and most rooms are empty most of the time.
pub(crate) struct Ring {
    /// `{"t":"messages","room":...,"list":[` for the room, computed once.
    prefix: Box<str>,
    /// Slots of the ring (see `Config::room_ring`).
    slots: usize,
    tx: Mutex<Option<broadcast::Sender<Item>>>,
}

impl Ring {
    /// The (not yet allocated) ring of room `room_id`, of `slots` items.
    pub(crate) fn new(room_id: &str, slots: usize) -> Self {
        Self {
            prefix: ServerFrame::messages_frame_prefix(room_id).into_boxed_str(),
            slots,
            tx: Mutex::new(None),
        }
    }

    /// The room's `messages` frame prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Items a viewer may have pending before it is lagging (half the ring): past it, its
    /// Low and Lowest messages are skipped.
    pub(crate) fn lag_threshold(&self) -> usize {
        // tokio rounds the ring up to a power of two.
        self.slots.next_power_of_two() / 2
    }

    /// Publishes one encoded message at once, as the room's shared frame. There is no
    /// timer: a viewer busy writing gathers what arrives meanwhile into its next frame, so
    /// frames get fuller exactly when the server is loaded (measured better than fixed
    /// coalescing windows at every room size; see BENCHMARKS.md).
    pub(crate) fn publish_message(&self, json: &str, priority: Priority) {
        self.publish(|| message_item(&self.prefix, json, priority));
    }

    /// Publishes a whole frame, in order with the messages.
    pub(crate) fn publish_frame(&self, frame: Utf8Bytes) {
        self.publish(|| Item::Frame(frame));
    }

    /// Sends an item to the ring, built only if there is one (someone is in the room).
    fn publish(&self, item: impl FnOnce() -> Item) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            // No receivers is fine: nobody is watching.
            let _ = tx.send(item());
        }
    }

    /// A receiver, making the ring if there is none. The room calls it under its state
    /// lock, as it does [`Ring::release`].
    fn subscribe(&self) -> broadcast::Receiver<Item> {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.subscribe(),
            None => {
                let (sender, rx) = broadcast::channel(self.slots);
                *tx = Some(sender);
                rx
            }
        }
    }

    /// Frees the ring: the last one out left.
    pub(crate) fn release(&self) {
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the ring is allocated now.
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.tx.lock().map_or(true, |tx| tx.is_some())
    }

    /// Sends `item` as it is (tests).
    #[cfg(test)]
    pub(crate) fn send(&self, item: Item) {
        self.publish(|| item);
    }
}

/// A room as its viewers' subscriptions see it: something with a ring.
pub(crate) trait Source {
    /// The room ID (for logs).
    fn id(&self) -> &str;
    /// The room's ring.
    fn ring(&self) -> &Ring;
}

/// Whether a lagging viewer skips messages of `priority`.
pub(crate) fn droppable(priority: Priority) -> bool {
    matches!(priority, Priority::Low | Priority::Lowest)
}

/// Wraps one encoded message of the room with frame `prefix` into an [`Item::Messages`].
pub(crate) fn message_item(prefix: &str, json: &str, priority: Priority) -> Item {
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
pub(crate) struct Subscription<R> {
    /// The room.
    pub(crate) room: Arc<R>,
    rx: broadcast::Receiver<Item>,
}

impl<R: Source> Subscription<R> {
    /// Subscribes to `room`'s ring (made if need be). Called under the room's lock, so
    /// what the subscriber is given as history and what it receives meet exactly.
    pub(crate) fn new(room: Arc<R>) -> Self {
        let rx = room.ring().subscribe();
        Self { room, rx }
    }

    /// The next pending item, if any, without waiting (tests).
    #[cfg(test)]
    pub(crate) fn try_next(&mut self) -> Option<Item> {
        self.rx.try_recv().ok()
    }
}

/// Why draining stopped a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DrainError {
    /// The viewer fell a whole ring behind.
    Lagged,
}

/// Appends every frame still pending for `sub` (messages batched), ignoring a lag: used
/// when a room is dismissed, to deliver its last events before the subscription is dropped.
pub(crate) fn drain_rest<R: Source>(sub: &mut Subscription<R>, out: &mut Vec<Utf8Bytes>) {
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
pub(crate) async fn next<R>(subs: &mut [Subscription<R>]) -> (usize, Result<Item, DrainError>) {
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
pub(crate) fn drain<R: Source>(
    sub: &mut Subscription<R>,
    first: Item,
    out: &mut Vec<Utf8Bytes>,
) -> Result<(), DrainError> {
    let ring = sub.room.ring();
    let prefix = ring.prefix();
    let threshold = ring.lag_threshold();
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
pub(crate) fn drain_ready<R: Source>(
    subs: &mut [Subscription<R>],
    out: &mut Vec<Utf8Bytes>,
) -> Result<(), DrainError> {
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

    /// A room as far as the fan-out knows one.
    struct TestRoom {
        id: String,
        ring: Ring,
    }

    impl Source for TestRoom {
        fn id(&self) -> &str {
            &self.id
        }

        fn ring(&self) -> &Ring {
            &self.ring
        }
    }

    fn room_with_ring(id: &str, slots: usize) -> Arc<TestRoom> {
        Arc::new(TestRoom {
            id: id.to_owned(),
            ring: Ring::new(id, slots),
        })
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
        let r = room_with_ring("r\"x", 16);
        let mut sub = Subscription::new(r.clone());
        r.ring.send(msg_in("r\"x", 1));
        r.ring.send(msg_in("r\"x", 2));
        r.ring.send(Item::Frame(Utf8Bytes::from(
            r#"{"t":"online","room":"r","count":2}"#,
        )));
        r.ring.send(msg_in("r\"x", 3));
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
        let r = room_with_ring("r", 4);
        let mut subs = [Subscription::new(r.clone())];
        let item = msg(1);
        let Item::Messages {
            frame: original, ..
        } = &item
        else {
            panic!("not a message")
        };
        let ptr = original.as_str().as_ptr();
        r.ring.send(item.clone());
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
        let r = room_with_ring("r", 2);
        let mut subs = [Subscription::new(r.clone())];
        for seq in 1..=5 {
            r.ring.send(msg(seq));
        }
        let (_, first) = next(&mut subs).await;
        assert_eq!(first.unwrap_err(), DrainError::Lagged);
        let mut out = Vec::new();
        r.ring.send(msg(6));
        r.ring.send(msg(7));
        r.ring.send(msg(8));
        assert_eq!(drain_ready(&mut subs, &mut out), Err(DrainError::Lagged));
    }

    #[tokio::test]
    async fn a_lagging_viewer_skips_low_and_lowest_until_back_under_half_the_ring() {
        // Ring of 16: lagging while more than 8 items are pending.
        let r = room_with_ring("r", 16);
        let mut subs = [Subscription::new(r.clone())];
        let cycle = [
            Priority::Low,
            Priority::High,
            Priority::Lowest,
            Priority::Normal,
        ];
        for seq in 1..=12u64 {
            r.ring
                .send(msg_prio("r", seq, cycle[(seq as usize - 1) % 4]));
        }
        r.ring.send(Item::Frame(Utf8Bytes::from(
            r#"{"t":"online","room":"r","count":2}"#,
        )));
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
        let (a, b) = (room_with_ring("a", 4), room_with_ring("b", 4));
        let mut subs = [Subscription::new(a.clone()), Subscription::new(b.clone())];
        b.ring.send(msg_in("b", 1));
        let (i, first) = next(&mut subs).await;
        assert_eq!(i, 1);
        a.ring.send(msg_in("a", 1));
        let mut out = Vec::new();
        drain(&mut subs[1], first.unwrap(), &mut out).unwrap();
        drain_ready(&mut subs, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0].as_str().contains(r#""room":"b""#));
        assert!(out[1].as_str().contains(r#""room":"a""#));
    }
}
