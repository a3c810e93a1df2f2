//! The local broker: one process carries the room. Budget, sequence, history and the
//! room's statistics live in memory, durability is the store's commit (awaited inside the
//! step), and publishing is straight into the room's broadcast ring. The statistics are
//! saved by the room at most once per stats tick (see [`Broker::unsaved_stats`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use liveroom_proto::Priority;

use crate::broker::{over_budget, Accepted, Broker, BrokerFuture, Exclusive, Outgoing, Since};
use crate::budget::RoomBudget;
use crate::encoded::Encoded;
use crate::fanout::{Ring, RingConfig};
use crate::stats::Counts;

/// The room's sequence and kept history.
struct Log {
    last_seq: u64,
    /// (sequence, encoded message), oldest first, at most `cap` long.
    history: VecDeque<(u64, Encoded)>,
    /// Messages kept.
    cap: usize,
    /// The newest sequence that fell out of the history (by the cap): a gap from before it
    /// cannot be filled whole.
    trimmed_through: u64,
}

impl Log {
    fn append(&mut self, seq: u64, json: Encoded) {
        self.last_seq = seq;
        if self.cap == 0 {
            self.trimmed_through = seq;
            return;
        }
        if self.history.len() >= self.cap {
            if let Some((old, _)) = self.history.pop_front() {
                self.trimmed_through = old;
            }
        }
        self.history.push_back((seq, json));
    }
}

/// The room's statistics and how far the store has them.
#[derive(Default)]
struct Stats {
    counts: Counts,
    /// Raised by every change.
    version: u64,
    /// The version the store has.
    saved: u64,
}

/// A room's broker in one process.
pub(crate) struct LocalBroker {
    ring: Ring,
    budget: Mutex<RoomBudget>,
    /// Held through a send's commit, so sequence order is commit order is publish order.
    log: tokio::sync::Mutex<Log>,
    /// Taken inside the send's step (under `log`) and by the stats tick: never contended
    /// by sends.
    stats: Mutex<Stats>,
}

impl LocalBroker {
    /// The broker of room `room_id`: `budget` messages/s, `cap` kept, its `ring`,
    /// starting from the stored `last_seq`, `history` (oldest first) and statistics.
    pub(crate) fn new(
        room_id: &str,
        budget: u32,
        cap: usize,
        ring: RingConfig,
        last_seq: u64,
        history: Vec<(u64, Encoded)>,
        counts: Counts,
    ) -> Self {
        let trimmed_through = match history.first() {
            Some((oldest, _)) => oldest.saturating_sub(1),
            None => last_seq,
        };
        Self {
            ring: Ring::new(room_id, ring),
            budget: Mutex::new(RoomBudget::new(budget, Instant::now())),
            log: tokio::sync::Mutex::new(Log {
                last_seq,
                history: history.into_iter().collect(),
                cap,
                trimmed_through,
            }),
            stats: Mutex::new(Stats {
                counts,
                ..Stats::default()
            }),
        }
    }

    fn stats_lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The budget's decision for `priority` now (its token taken when admitted).
    fn admit(&self, priority: Priority) -> bool {
        match self.budget.lock() {
            Ok(mut b) => b.admit(priority, Instant::now()),
            Err(_) => true,
        }
    }
}

impl Broker for LocalBroker {
    fn ring(&self) -> &Ring {
        &self.ring
    }

    fn accept<'a>(
        &'a self,
        priority: Priority,
        out: &'a mut (dyn Outgoing + 'a),
    ) -> BrokerFuture<'a, Accepted> {
        Box::pin(async move {
            if !self.admit(priority) {
                return Err(over_budget());
            }
            let mut log = self.log.lock().await;
            let seq = log.last_seq + 1;
            let json = out.encode(seq)?;
            out.persist(seq, json.clone()).await?;
            self.ring.publish_message(json.as_str(), priority);
            log.append(seq, json);
            {
                let mut stats = self.stats_lock();
                stats.counts.add(&out.tally());
                stats.version += 1;
            }
            Ok(Accepted::Sent(seq))
        })
    }

    fn rules_version(&self) -> BrokerFuture<'_, u64> {
        // One process: the room's rules in memory are the rules.
        Box::pin(std::future::ready(Ok(0)))
    }

    fn rules_loaded(&self, _version: u64) {}

    fn snapshot<'a>(
        &'a self,
        since: Option<u64>,
        attach: &'a mut (dyn FnMut() + Send + 'a),
    ) -> BrokerFuture<'a, Since> {
        Box::pin(async move {
            // Publishing holds the log: nothing is published between attaching and reading.
            let log = self.log.lock().await;
            attach();
            let after = since.unwrap_or(0);
            Ok(Since {
                messages: log
                    .history
                    .iter()
                    .filter(|(s, _)| *s > after)
                    .map(|(_, j)| j.clone())
                    .collect(),
                last_seq: log.last_seq,
                skipped: since.is_some_and(|s| s < log.trimmed_through),
            })
        })
    }

    fn message(&self, seq: u64) -> BrokerFuture<'_, Option<Encoded>> {
        Box::pin(async move {
            let log = self.log.lock().await;
            Ok(log
                .history
                .iter()
                .find(|(s, _)| *s == seq)
                .map(|(_, j)| j.clone()))
        })
    }

    fn forget(&self, seq: u64) -> BrokerFuture<'_, ()> {
        Box::pin(async move {
            self.log.lock().await.history.retain(|(s, _)| *s != seq);
            Ok(())
        })
    }

    fn subscribe(&self) -> BrokerFuture<'_, bool> {
        // The ring makes itself on its first receiver; nothing happens elsewhere.
        Box::pin(std::future::ready(Ok(false)))
    }

    fn unsubscribe(&self) {
        self.ring.release();
    }

    fn announce(&self, frame: Utf8Bytes, _changed: bool) -> BrokerFuture<'_, ()> {
        // A change with no event for the viewers carries no frame.
        if !frame.is_empty() {
            self.ring.publish_frame(frame);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn tip(&self, json: String) -> BrokerFuture<'_, ()> {
        self.ring.publish_message(&json, Priority::Normal);
        Box::pin(std::future::ready(Ok(())))
    }

    fn exclusive(&self) -> BrokerFuture<'_, Exclusive> {
        Box::pin(std::future::ready(Ok(Exclusive::local())))
    }

    fn stats(&self) -> BrokerFuture<'_, Counts> {
        let counts = self.stats_lock().counts.clone();
        Box::pin(std::future::ready(Ok(counts)))
    }

    fn sample_online(&self, at: i64, online: u64) -> BrokerFuture<'_, ()> {
        {
            let mut stats = self.stats_lock();
            let before = (stats.counts.peak, stats.counts.minutes.back().copied());
            stats.counts.sample_online(at, online);
            if before != (stats.counts.peak, stats.counts.minutes.back().copied()) {
                stats.version += 1;
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn unsaved_stats(&self) -> Option<(u64, Counts)> {
        let stats = self.stats_lock();
        (stats.version != stats.saved).then(|| (stats.version, stats.counts.clone()))
    }

    fn stats_saved(&self, version: u64) {
        let mut stats = self.stats_lock();
        stats.saved = stats.saved.max(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use liveroom_proto::code;

    use crate::fanout::Subscription;
    use crate::test_support::Viewer;

    /// A send whose commit always succeeds (or always fails).
    struct Fake {
        fail: bool,
    }

    impl Outgoing for Fake {
        fn encode(&mut self, seq: u64) -> Result<Encoded, liveroom_proto::ApiError> {
            Ok(Encoded::parse(format!(r#"{{"sequence":{seq}}}"#)).unwrap())
        }

        fn tally(&self) -> crate::stats::Tally<'_> {
            crate::stats::Tally {
                counted: liveroom_proto::stats::Counted::Message,
                user: "u",
                time: 0,
            }
        }

        fn persist(&mut self, _seq: u64, _json: Encoded) -> BrokerFuture<'_, ()> {
            let fail = self.fail;
            Box::pin(async move {
                if fail {
                    Err(liveroom_proto::ApiError::new(code::INTERNAL, "disk"))
                } else {
                    Ok(())
                }
            })
        }
    }

    /// The kept history after `since` (no viewer attaching).
    async fn history(
        b: &LocalBroker,
        since: Option<u64>,
    ) -> Result<Since, liveroom_proto::ApiError> {
        b.snapshot(since, &mut || {}).await
    }

    async fn send(b: &LocalBroker, priority: Priority) -> Result<u64, liveroom_proto::ApiError> {
        match b.accept(priority, &mut Fake { fail: false }).await? {
            Accepted::Sent(seq) => Ok(seq),
            Accepted::StaleRules => panic!("one process never has stale rules"),
        }
    }

    fn seqs(since: &Since) -> Vec<u64> {
        since
            .messages
            .iter()
            .map(|j| {
                serde_json::from_str::<serde_json::Value>(j.as_str()).unwrap()["sequence"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_budget_drops_lowest_then_low_then_normal_and_never_high() {
        let b = LocalBroker::new(
            "r",
            100,
            1000,
            RingConfig::slots(16),
            0,
            Vec::new(),
            Counts::default(),
        );
        let lowest = {
            let mut n = 0u64;
            while send(&b, Priority::Lowest).await.is_ok() {
                n += 1;
            }
            n
        };
        let low = {
            let mut n = 0u64;
            while send(&b, Priority::Low).await.is_ok() {
                n += 1;
            }
            n
        };
        let normal = {
            let mut n = 0u64;
            while send(&b, Priority::Normal).await.is_ok() {
                n += 1;
            }
            n
        };
        // The bucket refills while the test runs, so the counts are near, not exactly, a
        // half, a quarter and a quarter of the budget.
        assert!(
            (49..=52).contains(&lowest),
            "Lowest stops at half: {lowest}"
        );
        assert!((24..=27).contains(&low), "Low stops at a quarter: {low}");
        assert!(
            (23..=27).contains(&normal),
            "Normal takes the rest: {normal}"
        );
        assert!(
            send(&b, Priority::Lowest).await.is_err() && send(&b, Priority::Low).await.is_err(),
            "once Normal is dropped, so are the lower ones"
        );
        let refused = send(&b, Priority::Normal).await.unwrap_err();
        assert_eq!(refused.code, code::RATE_LIMITED);
        assert!(send(&b, Priority::High).await.is_ok(), "High always passes");
        // Dropped sends take no sequence: the accepted ones are numbered without holes.
        let h = history(&b, None).await.unwrap();
        let accepted = lowest + low + normal + 1;
        assert_eq!(h.last_seq, accepted);
        assert_eq!(seqs(&h), (1..=accepted).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_history_keeps_the_newest_up_to_its_size() {
        let b = LocalBroker::new(
            "r",
            0,
            3,
            RingConfig::slots(16),
            0,
            Vec::new(),
            Counts::default(),
        );
        for _ in 0..5 {
            send(&b, Priority::Normal).await.unwrap();
        }
        let h = history(&b, None).await.unwrap();
        assert_eq!(seqs(&h), vec![3, 4, 5]);
        assert_eq!(h.last_seq, 5);
        let gap = history(&b, Some(3)).await.unwrap();
        assert_eq!(seqs(&gap), vec![4, 5]);
        assert!(!gap.skipped, "the gap is inside the history");
        let caught_up = history(&b, Some(5)).await.unwrap();
        assert!(caught_up.messages.is_empty() && !caught_up.skipped);
    }

    #[tokio::test]
    async fn a_gap_older_than_the_history_is_marked_skipped() {
        let b = LocalBroker::new(
            "r",
            0,
            3,
            RingConfig::slots(16),
            0,
            Vec::new(),
            Counts::default(),
        );
        for _ in 0..5 {
            send(&b, Priority::Normal).await.unwrap();
        }
        // 1 and 2 fell out: a client at 0 or 1 gets 3..=5 and is told it missed some.
        for since in [0, 1] {
            let h = history(&b, Some(since)).await.unwrap();
            assert_eq!(seqs(&h), vec![3, 4, 5]);
            assert!(h.skipped, "since {since}");
        }
        // A client at 2 missed exactly what is kept.
        assert!(!history(&b, Some(2)).await.unwrap().skipped);
        // A deleted message is a hole, not a skip.
        b.forget(4).await.unwrap();
        let h = history(&b, Some(2)).await.unwrap();
        assert_eq!(seqs(&h), vec![3, 5]);
        assert!(!h.skipped);
        // A room loaded from the store knows what it no longer holds.
        let stored = (8..=9)
            .map(|s| (s, Encoded::parse(format!(r#"{{"sequence":{s}}}"#)).unwrap()))
            .collect();
        let loaded = LocalBroker::new(
            "r",
            0,
            3,
            RingConfig::slots(16),
            9,
            stored,
            Counts::default(),
        );
        assert!(history(&loaded, Some(6)).await.unwrap().skipped);
        assert!(!history(&loaded, Some(7)).await.unwrap().skipped);
    }

    #[tokio::test]
    async fn a_failed_commit_publishes_nothing_and_takes_no_sequence() {
        let viewer = Arc::new(Viewer(LocalBroker::new(
            "r",
            0,
            3,
            RingConfig::slots(16),
            0,
            Vec::new(),
            Counts::default(),
        )));
        let b = &viewer.0;
        let mut sub = Subscription::new(viewer.clone());
        let err = b
            .accept(Priority::Normal, &mut Fake { fail: true })
            .await
            .unwrap_err();
        assert_eq!(err.code, code::INTERNAL);
        assert!(sub.try_next().is_none(), "nothing published");
        assert_eq!(send(b, Priority::Normal).await.unwrap(), 1);
        assert!(sub.try_next().is_some(), "the next send is");
    }
}
