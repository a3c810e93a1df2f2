//! Sends a connection answers later: those waiting on the app's before-send callback.
//!
//! A connection answers its requests one at a time; a send waiting there on a slow backend
//! would hold every request after it, and the connection's deliveries, kicks and shutdown,
//! for up to the callback's time limit each. Instead such sends wait here, side by side: each
//! is vetted at once, enters its room only after the send before it did (or gave up), and is
//! answered in the order it was made, while the connection goes on. So a backend that never
//! answers delays each send by its time limit, not by the sum of the limits of the sends
//! ahead of it.

use std::future::Future;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::oneshot;

/// Sends one connection may have waiting; beyond it the connection reads no more requests
/// until one is answered (the client's own sends wait, nobody else's).
pub(crate) const MAX_WAITING: usize = 64;

/// A send's turn to enter its room: resolves once the send made before it entered its room
/// or gave up.
pub(crate) type Turn = BoxFuture<'static, ()>;

/// The waiting sends of one connection, in the order they were made.
#[derive(Default)]
pub(crate) struct DeferredSends {
    /// Each resolves to its reply frame; yielded in the order pushed.
    waiting: FuturesOrdered<BoxFuture<'static, String>>,
    /// Resolves when the newest send is done: the next one's turn.
    newest_done: Option<oneshot::Receiver<()>>,
}

impl DeferredSends {
    /// How many are waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Adds a send: `send(turn)` vets the message, awaits `turn` before it enters the room,
    /// and resolves to the reply frame.
    pub(crate) fn push<F, Fut>(&mut self, send: F)
    where
        F: FnOnce(Turn) -> Fut,
        Fut: Future<Output = String> + Send + 'static,
    {
        let (done, newest_done) = oneshot::channel();
        let previous = self.newest_done.replace(newest_done);
        let (go, turn) = oneshot::channel::<()>();
        let send = send(Box::pin(async move {
            let _ = turn.await;
        }));
        self.waiting
            .push_back(Box::pin(in_turn(send, previous, go, done)));
    }

    /// The next reply frame, in order; pending while the oldest send still waits.
    pub(crate) async fn next(&mut self) -> Option<String> {
        self.waiting.next().await
    }
}

/// Runs `send`, giving it its turn (`go`) once the previous send is done, and tells the next
/// send (`done`) only after both this send and the previous one are done: a send refused
/// before its turn does not let the next one pass the previous one.
async fn in_turn(
    send: impl Future<Output = String>,
    mut previous: Option<oneshot::Receiver<()>>,
    go: oneshot::Sender<()>,
    done: oneshot::Sender<()>,
) -> String {
    tokio::pin!(send);
    let mut go = Some(go);
    let frame = loop {
        tokio::select! {
            frame = &mut send => break frame,
            () = wait(&mut previous), if go.is_some() => {
                if let Some(go) = go.take() {
                    let _ = go.send(());
                }
            }
        }
    };
    wait(&mut previous).await;
    drop(done);
    frame
}

/// Waits for the previous send (at once when there is none, or it is already done).
async fn wait(previous: &mut Option<oneshot::Receiver<()>>) {
    if let Some(rx) = previous.as_mut() {
        let _ = rx.await;
        *previous = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::Barrier;

    use super::*;

    struct Room {
        entered: Mutex<Vec<&'static str>>,
        /// Every send's vetting waits here for all the others: only vetting side by side
        /// gets past it.
        all_vetting: Barrier,
    }

    /// A send vetted for `vet_ms` (after every send started vetting), then, unless refused,
    /// entering the room in its turn.
    fn send(
        sends: &mut DeferredSends,
        room: &Arc<Room>,
        name: &'static str,
        vet_ms: u64,
        refused: bool,
    ) {
        let room = room.clone();
        sends.push(move |turn| async move {
            room.all_vetting.wait().await;
            tokio::time::sleep(Duration::from_millis(vet_ms)).await;
            if refused {
                return format!("{name} refused");
            }
            turn.await;
            if let Ok(mut entered) = room.entered.lock() {
                entered.push(name);
            }
            format!("{name} sent")
        });
    }

    #[tokio::test]
    async fn sends_vetted_side_by_side_enter_in_order_and_are_answered_in_order() {
        let room = Arc::new(Room {
            entered: Mutex::new(Vec::new()),
            all_vetting: Barrier::new(4),
        });
        let mut sends = DeferredSends::default();
        // Vetted slowest first: without turns they would enter c, d, a.
        send(&mut sends, &room, "a", 300, false);
        send(&mut sends, &room, "b", 100, true);
        send(&mut sends, &room, "c", 10, false);
        send(&mut sends, &room, "d", 200, false);
        assert_eq!(sends.len(), 4);
        let answers = tokio::time::timeout(Duration::from_secs(10), async {
            let mut answers = Vec::new();
            while let Some(frame) = sends.next().await {
                answers.push(frame);
            }
            answers
        })
        .await
        .expect("the sends are vetted side by side");
        assert_eq!(answers, ["a sent", "b refused", "c sent", "d sent"]);
        assert_eq!(*room.entered.lock().unwrap(), ["a", "c", "d"]);
    }
}
