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
//! A large audience that falls behind is batched once for all of it instead. In a room with
//! `RingConfig::batch_from` viewers or more on this node, each message item counts the
//! viewers that take it; once all but a sixteenth of them took one, the time that took is
//! the room's round. While a round takes [`SLOW_ROUND`] or more, the room keeps one item in
//! flight: what arrives while its viewers are still taking it waits in one shared batch,
//! sent when the item before is taken (or after [`BATCH_WAIT_MAX`]). A viewer then finds one
//! big item per visit, written as it is, instead of concatenating dozens of small ones into
//! a frame of its own: the copy, allocation and reference counting per message and viewer
//! that capped an overloaded node's deliveries per second. A room whose viewers keep up
//! (rounds shorter than that) is sent every message at once, as below.
//!
//! Lagging viewers: a viewer with more than half the ring pending skips the Low and Lowest
//! items it drains until it is back under half (High, Normal and room events still go); a
//! viewer a whole ring behind is closed with 4108 (slow consumer) and gap-fills on reconnect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use futures_util::future::select_all;
use liveroom_proto::frame::MESSAGES_FRAME_SUFFIX;
use liveroom_proto::{Priority, ServerFrame};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// Most a viewer drains per wake-up (and the largest batch frame): the rest waits in the
/// ring, where the lagging policy applies, so a stalled viewer holds at most this much in
/// its write buffer.
pub(crate) const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Longest a shared batch waits for the item in flight to be taken: bounds what viewers
/// that stopped reading (or left) can add to everyone's latency.
pub(crate) const BATCH_WAIT_MAX: Duration = Duration::from_millis(250);

/// A round at least this long batches the room's next messages (see the module doc): its
/// viewers get a frame less than twice a second, each with a dozen or more messages to
/// concatenate (a 19,000-viewer node keeping up has rounds of ~300 ms).
pub(crate) const SLOW_ROUND: Duration = Duration::from_millis(500);

/// How a room's ring is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingConfig {
    /// Slots of the ring (see `Config::room_ring`).
    pub(crate) slots: usize,
    /// Viewers of the room on this node from which its messages are batched once for all
    /// of them (see the module doc); `usize::MAX`: never.
    pub(crate) batch_from: usize,
}

impl RingConfig {
    /// A ring of `slots` that never batches.
    #[cfg(test)]
    pub(crate) fn slots(slots: usize) -> Self {
        Self {
            slots,
            batch_from: usize::MAX,
        }
    }
}

/// A message item on its way: how many of the viewers it was sent to have yet to take it.
#[derive(Debug)]
pub(crate) struct Flight {
    left: AtomicUsize,
    /// Taken, as far as the next batch is concerned, once `left` is down to this.
    done_at: usize,
    sent: Instant,
}

impl Flight {
    fn new(viewers: usize) -> Self {
        Self {
            left: AtomicUsize::new(viewers),
            done_at: viewers / 16,
            sent: Instant::now(),
        }
    }

    /// One viewer took it; true for the take that made it done.
    fn take(&self) -> bool {
        self.left.fetch_sub(1, Ordering::AcqRel) == self.done_at + 1
    }

    fn is_done(&self) -> bool {
        self.left.load(Ordering::Acquire) <= self.done_at
    }
}

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
        /// Set in a room that batches (see the module doc): every viewer that takes the
        /// item counts itself off.
        flight: Option<Arc<Flight>>,
    },
    /// A complete frame (e.g. `online`, `room_event`), sent as is, in order with the messages.
    Frame(Utf8Bytes),
}

/// A room's broadcast ring. It exists only while someone is in the room: a ring is its slots
/// allocated up front, and most rooms are empty most of the time.
pub(crate) struct Ring {
    /// `{"t":"messages","room":...,"list":[` for the room, computed once.
    prefix: Box<str>,
    config: RingConfig,
    /// Shared with the timers that send a batch that waited [`BATCH_WAIT_MAX`].
    state: Arc<Mutex<RingState>>,
}

/// What the ring's lock guards.
#[derive(Default)]
struct RingState {
    tx: Option<broadcast::Sender<Item>>,
    /// The message item sent last, while its viewers take it (rooms of `batch_from`).
    in_flight: Option<Arc<Flight>>,
    /// The last round took [`SLOW_ROUND`] or more: messages wait for the item in flight.
    slow: bool,
    /// Messages waiting for it: a frame being built, prefix and list so far.
    batch: Option<Batch>,
}

/// Messages gathered for one shared frame.
struct Batch {
    frame: String,
    droppable: bool,
}

impl RingState {
    /// Sends message frame `frame`; in a room of `batch_from` viewers or more, with a
    /// [`Flight`] to be counted off.
    fn send_messages(&mut self, frame: Utf8Bytes, droppable: bool, batch_from: usize) {
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        let viewers = tx.receiver_count();
        let flight = (viewers >= batch_from).then(|| Arc::new(Flight::new(viewers)));
        self.in_flight.clone_from(&flight);
        // No receivers is fine: nobody is watching.
        let _ = tx.send(Item::Messages {
            frame,
            droppable,
            flight,
        });
    }

    /// Sends the waiting batch, if any.
    fn send_batch(&mut self, batch_from: usize) {
        if let Some(mut b) = self.batch.take() {
            b.frame.push_str(MESSAGES_FRAME_SUFFIX);
            self.send_messages(Utf8Bytes::from(b.frame), b.droppable, batch_from);
        }
    }
}

impl Ring {
    /// The (not yet allocated) ring of room `room_id`.
    pub(crate) fn new(room_id: &str, config: RingConfig) -> Self {
        Self {
            prefix: ServerFrame::messages_frame_prefix(room_id).into_boxed_str(),
            config,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room's `messages` frame prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Items a viewer may have pending before it is lagging (half the ring): past it, its
    /// Low and Lowest messages are skipped.
    pub(crate) fn lag_threshold(&self) -> usize {
        // tokio rounds the ring up to a power of two.
        self.config.slots.next_power_of_two() / 2
    }

    /// Publishes one encoded message, as the room's shared frame: at once, unless the room
    /// batches and the item before is still being taken (then into the waiting batch).
    /// Below `batch_from` viewers there is no timer: a viewer busy writing gathers what
    /// arrives meanwhile into its next frame, so frames get fuller exactly when the server
    /// is loaded (measured better than fixed coalescing windows; see BENCHMARKS.md).
    pub(crate) fn publish_message(&self, json: &str, priority: Priority) {
        let batch_from = self.config.batch_from;
        let droppable = droppable(priority);
        let mut st = self.lock();
        let Some(tx) = st.tx.as_ref() else {
            return;
        };
        let wait = st.slow
            && tx.receiver_count() >= batch_from
            && st.in_flight.as_ref().is_some_and(|f| !f.is_done());
        if !wait {
            st.send_batch(batch_from);
            st.send_messages(message_frame(&self.prefix, json), droppable, batch_from);
            return;
        }
        let fits = st.batch.as_ref().is_some_and(|b| {
            b.droppable == droppable && b.frame.len() + json.len() < MAX_BATCH_BYTES / 2
        });
        if !fits {
            // A batch holds one kind (a lagging viewer skips whole items) and a bounded size.
            st.send_batch(batch_from);
        }
        match st.batch.as_mut() {
            Some(b) => {
                b.frame.push(',');
                b.frame.push_str(json);
            }
            None => {
                let mut frame = String::with_capacity(self.prefix.len() + 16 * json.len());
                frame.push_str(&self.prefix);
                frame.push_str(json);
                st.batch = Some(Batch { frame, droppable });
                drop(st);
                self.send_batch_after(BATCH_WAIT_MAX);
            }
        }
    }

    /// Sends the waiting batch after `wait` if it is still waiting then.
    fn send_batch_after(&self, wait: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime (some unit tests): nothing waits.
            self.lock().send_batch(self.config.batch_from);
            return;
        };
        let state: Weak<Mutex<RingState>> = Arc::downgrade(&self.state);
        let batch_from = self.config.batch_from;
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(state) = state.upgrade() {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.send_batch(batch_from);
            }
        });
    }

    /// A viewer took `flight`'s item: once all but a few have, the round is measured and
    /// the waiting batch goes.
    fn taken(&self, flight: &Flight) {
        if flight.take() {
            let mut st = self.lock();
            st.slow = flight.sent.elapsed() >= SLOW_ROUND;
            st.send_batch(self.config.batch_from);
        }
    }

    /// Publishes a whole frame, in order with the messages (a waiting batch goes first).
    pub(crate) fn publish_frame(&self, frame: Utf8Bytes) {
        let mut st = self.lock();
        st.send_batch(self.config.batch_from);
        if let Some(tx) = st.tx.as_ref() {
            // No receivers is fine: nobody is watching.
            let _ = tx.send(Item::Frame(frame));
        }
    }

    /// A receiver, making the ring if there is none. The room calls it under its state
    /// lock, as it does [`Ring::release`]: a waiting batch is sent first, since what it
    /// holds is in the history the subscriber is given.
    fn subscribe(&self) -> broadcast::Receiver<Item> {
        let mut st = self.lock();
        st.send_batch(self.config.batch_from);
        match st.tx.as_ref() {
            Some(tx) => tx.subscribe(),
            None => {
                let (sender, rx) = broadcast::channel(self.config.slots);
                st.tx = Some(sender);
                rx
            }
        }
    }

    /// Frees the ring: the last one out left.
    pub(crate) fn release(&self) {
        *self.lock() = RingState::default();
    }

    /// Whether the ring is allocated now.
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.lock().tx.is_some()
    }

    /// Sends `item` as it is (tests).
    #[cfg(test)]
    pub(crate) fn send(&self, item: Item) {
        if let Some(tx) = self.lock().tx.as_ref() {
            let _ = tx.send(item);
        }
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

/// Wraps one encoded message of the room with frame `prefix` into an [`Item::Messages`] (tests).
#[cfg(test)]
pub(crate) fn message_item(prefix: &str, json: &str, priority: Priority) -> Item {
    Item::Messages {
        frame: message_frame(prefix, json),
        droppable: droppable(priority),
        flight: None,
    }
}

/// The `messages` frame of one encoded message of the room with frame `prefix`.
fn message_frame(prefix: &str, json: &str) -> Utf8Bytes {
    let mut s = String::with_capacity(prefix.len() + json.len() + MESSAGES_FRAME_SUFFIX.len());
    s.push_str(prefix);
    s.push_str(json);
    s.push_str(MESSAGES_FRAME_SUFFIX);
    Utf8Bytes::from(s)
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
        if let Item::Messages {
            flight: Some(f), ..
        } = &it
        {
            ring.taken(f);
        }
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
            ring: Ring::new(id, RingConfig::slots(slots)),
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

    /// A room of `batch_from` whose last round was slow.
    fn batching_room(id: &str, batch_from: usize) -> Arc<TestRoom> {
        let room = keeping_up_room(id, batch_from);
        room.ring.lock().slow = true;
        room
    }

    fn keeping_up_room(id: &str, batch_from: usize) -> Arc<TestRoom> {
        Arc::new(TestRoom {
            id: id.to_owned(),
            ring: Ring::new(
                id,
                RingConfig {
                    slots: 64,
                    batch_from,
                },
            ),
        })
    }

    fn json(seq: u64) -> String {
        format!(
            r#"{{"ID":"m{seq}","type":"TIMTextElem","payload":{{"text":"t"}},"to":"r","from":"u","time":1,"sequence":{seq}}}"#
        )
    }

    /// What one drain of `sub` gives: each frame's message sequences, or the frame itself.
    async fn take_all(sub: &mut Subscription<TestRoom>) -> Vec<Vec<u64>> {
        let subs = std::slice::from_mut(sub);
        let (_, first) = next(subs).await;
        let mut out = Vec::new();
        drain(&mut subs[0], first.unwrap(), &mut out).unwrap();
        out.iter()
            .map(|f| match serde_json::from_str(f.as_str()).unwrap() {
                ServerFrame::Messages { list, .. } => list.iter().map(|m| m.sequence).collect(),
                _ => vec![0],
            })
            .collect()
    }

    fn pending(sub: &Subscription<TestRoom>) -> usize {
        sub.rx.len()
    }

    #[tokio::test]
    async fn a_large_audience_gets_what_arrives_meanwhile_as_one_shared_batch() {
        let r = batching_room("r", 3);
        let mut subs: Vec<_> = (0..3).map(|_| Subscription::new(r.clone())).collect();
        r.ring.publish_message(&json(1), Priority::Normal);
        r.ring.publish_message(&json(2), Priority::Normal);
        r.ring.publish_message(&json(3), Priority::Normal);
        assert_eq!(pending(&subs[0]), 1, "2 and 3 wait for 1 to be taken");
        assert_eq!(take_all(&mut subs[0]).await, [vec![1]]);
        assert_eq!(take_all(&mut subs[1]).await, [vec![1]]);
        assert_eq!(pending(&subs[2]), 1, "one viewer has yet to take 1");
        // The last take sends the batch, to everyone, as one item (the last taker finds it
        // at once, in the same frame).
        assert_eq!(take_all(&mut subs[2]).await, [vec![1, 2, 3]]);
        let mut shared = Vec::new();
        for sub in &mut subs[..2] {
            assert_eq!(pending(sub), 1);
            let (_, first) = next(std::slice::from_mut(sub)).await;
            let Ok(Item::Messages { frame, .. }) = first else {
                panic!("not a message item");
            };
            shared.push(frame.as_str().as_ptr());
            let f: ServerFrame = serde_json::from_str(frame.as_str()).unwrap();
            assert!(
                matches!(&f, ServerFrame::Messages { list, .. } if list.iter().map(|m| m.sequence).eq([2, 3]))
            );
        }
        assert!(shared.windows(2).all(|w| w[0] == w[1]), "one frame for all");
    }

    #[tokio::test]
    async fn a_large_audience_that_keeps_up_is_sent_every_message_at_once_until_a_round_is_slow() {
        let r = keeping_up_room("r", 2);
        let mut subs: Vec<_> = (0..2).map(|_| Subscription::new(r.clone())).collect();
        r.ring.publish_message(&json(1), Priority::Normal);
        r.ring.publish_message(&json(2), Priority::Normal);
        assert_eq!(pending(&subs[0]), 2, "no waiting while rounds are short");
        for sub in &mut subs {
            assert_eq!(take_all(sub).await, [vec![1, 2]]);
        }
        // A round of SLOW_ROUND: the next messages wait for the item in flight.
        r.ring.publish_message(&json(3), Priority::Normal);
        tokio::time::sleep(SLOW_ROUND + Duration::from_millis(10)).await;
        for sub in &mut subs {
            assert_eq!(take_all(sub).await, [vec![3]]);
        }
        r.ring.publish_message(&json(4), Priority::Normal);
        r.ring.publish_message(&json(5), Priority::Normal);
        assert_eq!(pending(&subs[0]), 1, "5 waits for 4");
    }

    #[tokio::test]
    async fn a_small_audience_is_sent_every_message_at_once() {
        let r = batching_room("r", 4);
        let mut subs: Vec<_> = (0..3).map(|_| Subscription::new(r.clone())).collect();
        for seq in 1..=3 {
            r.ring.publish_message(&json(seq), Priority::Normal);
        }
        assert_eq!(pending(&subs[0]), 3);
        assert_eq!(take_all(&mut subs[0]).await, [vec![1, 2, 3]]);
    }

    #[tokio::test]
    async fn a_joiner_is_not_sent_again_what_its_history_holds() {
        let r = batching_room("r", 1);
        let mut first = Subscription::new(r.clone());
        r.ring.publish_message(&json(1), Priority::Normal);
        r.ring.publish_message(&json(2), Priority::Normal);
        // Entering now, the joiner's history has 1 and 2: the waiting batch goes before it
        // subscribes, to the others only.
        let mut joiner = Subscription::new(r.clone());
        assert_eq!(pending(&joiner), 0);
        r.ring.publish_message(&json(3), Priority::Normal);
        assert_eq!(take_all(&mut first).await, [vec![1, 2, 3]]);
        assert_eq!(
            take_all(&mut joiner).await,
            [vec![3]],
            "only what came after it"
        );
    }

    #[tokio::test]
    async fn room_events_keep_their_place_and_kinds_are_not_mixed() {
        let r = batching_room("r", 1);
        let mut sub = Subscription::new(r.clone());
        r.ring.publish_message(&json(1), Priority::Normal);
        r.ring.publish_message(&json(2), Priority::Normal);
        r.ring.publish_message(&json(3), Priority::Low);
        r.ring.publish_message(&json(4), Priority::Low);
        r.ring
            .publish_frame(Utf8Bytes::from(r#"{"t":"online","room":"r","count":2}"#));
        assert_eq!(pending(&sub), 4, "1; 2; 3 and 4 (another kind); the event");
        assert_eq!(take_all(&mut sub).await, [vec![1, 2, 3, 4], vec![0]]);
    }

    #[tokio::test]
    async fn a_batch_waits_at_most_its_limit_for_viewers_that_do_not_read() {
        let r = batching_room("r", 2);
        let mut reader = Subscription::new(r.clone());
        let stalled = Subscription::new(r.clone());
        r.ring.publish_message(&json(1), Priority::Normal);
        r.ring.publish_message(&json(2), Priority::Normal);
        assert_eq!(take_all(&mut reader).await, [vec![1]]);
        assert_eq!(pending(&reader), 0, "2 waits for the stalled viewer");
        tokio::time::sleep(BATCH_WAIT_MAX + Duration::from_millis(1)).await;
        assert_eq!(take_all(&mut reader).await, [vec![2]]);
        drop(stalled);
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
