//! The after-events of one app: a bounded queue (`--callback-queue`) and one worker that POSTs
//! them in order, each tried up to [`TRIES`] times with a growing pause between tries. A send
//! or a join only puts its event in the queue (never waits); when the queue is full the event
//! is dropped and counted.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::backend::Backend;
use super::stats::Stats;
use super::Platform;

/// How many times an event is POSTed before it is given up.
pub(super) const TRIES: usize = 3;
/// The pause after the first failed try, then after the second.
const BACKOFF: [Duration; TRIES - 1] = [Duration::from_millis(250), Duration::from_secs(1)];

/// One event to POST.
pub(super) struct Job {
    pub(super) command: &'static str,
    pub(super) platform: Platform,
    pub(super) client_ip: Option<IpAddr>,
    pub(super) body: Bytes,
}

/// The sending side of one app's queue.
pub(super) struct Queue {
    tx: mpsc::Sender<Job>,
}

impl Queue {
    /// A queue of `capacity` events, its worker running until `shutdown`.
    pub(super) fn start(
        backend: Arc<Backend>,
        stats: Arc<Stats>,
        capacity: usize,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(work(backend, stats, rx, shutdown));
        Self { tx }
    }

    /// Queues `job`, or drops it (counted, and logged at most every few seconds) when the
    /// queue is full. Never waits.
    pub(super) fn push(&self, app: u64, job: Job, stats: &Stats) {
        match self.tx.try_send(job) {
            Ok(()) => stats.after.queued.inc(),
            Err(TrySendError::Full(job)) => {
                stats.after.dropped.inc();
                if stats.after_log.ready() {
                    tracing::warn!(
                        app,
                        command = job.command,
                        dropped = stats.after.dropped.get(),
                        queue = self.tx.max_capacity(),
                        "webhook queue full: after-event dropped (the backend is slow or down)"
                    );
                }
            }
            // The server is stopping.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Events waiting in the queue.
    pub(super) fn pending(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// POSTs the queue's events in order until `shutdown` (what is still queued then is lost).
async fn work(
    backend: Arc<Backend>,
    stats: Arc<Stats>,
    mut rx: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    loop {
        let job = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            job = rx.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = deliver(&backend, &stats, &job) => {}
        }
    }
}

/// Tries `job` up to [`TRIES`] times.
async fn deliver(backend: &Backend, stats: &Stats, job: &Job) {
    for attempt in 0..TRIES {
        let sent = backend
            .post(job.command, job.platform, job.client_ip, job.body.clone())
            .await;
        match sent {
            Ok(_) => {
                stats.after.delivered.inc();
                return;
            }
            Err(e) => match BACKOFF.get(attempt) {
                Some(pause) => {
                    tracing::debug!(command = job.command, error = %e, ?pause, "after-event failed: retrying");
                    stats.after.retried.inc();
                    tokio::time::sleep(*pause).await;
                }
                None => {
                    stats.after.failed.inc();
                    if stats.after_log.ready() {
                        tracing::warn!(
                            command = job.command,
                            error = %e,
                            tries = TRIES,
                            failed = stats.after.failed.get(),
                            "webhook after-event given up"
                        );
                    }
                }
            },
        }
    }
}
