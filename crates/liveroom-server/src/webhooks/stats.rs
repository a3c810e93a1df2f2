//! What an operator reads of each app's webhooks (`GET /healthz/webhooks`): counters of the
//! before-send callbacks and of the after-events, and a throttle for the warnings a dead
//! backend would otherwise repeat for every message.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Serialize, Serializer};

/// A counter that serializes as its value.
#[derive(Debug, Default)]
pub(super) struct Counter(AtomicU64);

impl Counter {
    pub(super) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Serialize for Counter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

/// `Group.CallbackBeforeSendMsg`.
#[derive(Debug, Default, Serialize)]
pub(super) struct BeforeSend {
    /// Callbacks POSTed.
    pub(super) calls: Counter,
    /// Answered 0: sent as it was.
    pub(super) allowed: Counter,
    /// Answered 0 with another `MsgBody`: sent with it.
    pub(super) replaced: Counter,
    /// Answered 1 or a code in [10100, 10200]: the sender got the refusal.
    pub(super) refused: Counter,
    /// Answered 2: dropped silently.
    pub(super) dropped: Counter,
    /// No answer in time: the on-timeout policy decided.
    pub(super) timeouts: Counter,
    /// An HTTP error, no connection, a reply that is not Tencent's JSON or not usable: the
    /// on-timeout policy decided.
    pub(super) failures: Counter,
    /// Not POSTed: as many callbacks as `--callback-in-flight` were waiting already; the
    /// on-timeout policy decided at once.
    pub(super) busy: Counter,
}

/// The after-events.
#[derive(Debug, Default, Serialize)]
pub(super) struct After {
    /// Taken into the queue.
    pub(super) queued: Counter,
    /// Answered 200 (the reply's body is not read).
    pub(super) delivered: Counter,
    /// POSTed again after a failure.
    pub(super) retried: Counter,
    /// Given up after every try failed.
    pub(super) failed: Counter,
    /// Not queued: the queue was full (`--callback-queue`).
    pub(super) dropped: Counter,
}

/// One app's counters.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) before_send: BeforeSend,
    pub(super) after: After,
    /// Warnings about the before-send callback.
    pub(super) before_log: Throttle,
    /// Warnings about after-events dropped or given up.
    pub(super) after_log: Throttle,
}

/// How often a warning of one kind is logged at most, per app.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Lets a warning through at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
pub(super) struct Throttle {
    /// Unix milliseconds of the last warning let through (0: none yet).
    last_ms: AtomicI64,
}

impl Throttle {
    /// Whether a warning may be logged now (and if so, the next one waits).
    pub(super) fn ready(&self) -> bool {
        self.ready_at(super::now_ms())
    }

    fn ready_at(&self, now_ms: i64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        let every = i64::try_from(WARN_EVERY.as_millis()).unwrap_or(i64::MAX);
        (last == 0 || now_ms.saturating_sub(last) >= every)
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_warning_through_per_period() {
        let t = Throttle::default();
        assert!(t.ready_at(1_000));
        assert!(!t.ready_at(1_001));
        assert!(!t.ready_at(10_999));
        assert!(t.ready_at(11_000));
    }

    #[test]
    fn counters_serialize_as_numbers() {
        let s = Stats::default();
        s.before_send.busy.inc();
        s.after.dropped.inc();
        s.after.dropped.inc();
        let v = serde_json::to_value(&s.after).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"queued": 0, "delivered": 0, "retried": 0, "failed": 0, "dropped": 2})
        );
        assert_eq!(serde_json::to_value(&s.before_send).unwrap()["busy"], 1);
    }
}
