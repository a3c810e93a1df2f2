//! Send budgets: the room's priority-aware token bucket and the per-user rate limit.
//!
//! The room bucket holds up to `budget` tokens, refilled at `budget` per second. Each priority
//! needs a different reserve before it may take a token, so under load the lower priorities
//! run dry first: Lowest needs more than budget/2, Low more than budget/4, Normal at least
//! one. High always passes and always takes its token, into debt if need be (down to one
//! budget's worth), so High traffic shuts the lower priorities out instead of riding over them.
//!
//! The user rate belongs to the user (per SDKAppID), not to a login or a connection: logging
//! in again or reconnecting does not refill it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use liveroom_proto::Priority;

/// A token bucket with explicit time, so tests are exact.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `rate` per second.
    pub(crate) fn new(capacity: f64, rate: f64, now: Instant) -> Self {
        Self {
            capacity,
            rate,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
    }

    /// Takes one token if more than `reserve` remain (and at least one).
    pub(crate) fn take_above(&mut self, reserve: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 && self.tokens > reserve {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token whatever is left, down to a debt of one full bucket.
    pub(crate) fn take_into_debt(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(-self.capacity);
    }

    /// Tokens now (after refill).
    pub(crate) fn tokens(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Whether the bucket is full at `now`: it then holds no memory of past sends.
    fn is_full(&mut self, now: Instant) -> bool {
        self.tokens(now) >= self.capacity
    }
}

/// The room's send budget (0 = unlimited).
#[derive(Debug, Clone)]
pub(crate) struct RoomBudget {
    bucket: Option<TokenBucket>,
    budget: f64,
}

impl RoomBudget {
    /// A budget of `per_sec` messages per second.
    pub(crate) fn new(per_sec: u32, now: Instant) -> Self {
        let budget = f64::from(per_sec);
        Self {
            bucket: (per_sec > 0).then(|| TokenBucket::new(budget, budget, now)),
            budget,
        }
    }

    /// Whether a message of `priority` may be sent now; takes its token when it may.
    pub(crate) fn admit(&mut self, priority: Priority, now: Instant) -> bool {
        let Some(bucket) = self.bucket.as_mut() else {
            return true;
        };
        match priority {
            Priority::High => {
                // Always delivered, and counted: lower priorities yield until it is paid back.
                bucket.take_into_debt(now);
                true
            }
            Priority::Normal => bucket.take_above(0.0, now),
            Priority::Low => bucket.take_above(self.budget / 4.0, now),
            Priority::Lowest => bucket.take_above(self.budget / 2.0, now),
        }
    }
}

/// Per-user rate limits of one kind (messages, room creations), keyed by (SDKAppID, userID):
/// `rate` per second with a burst of `burst` (rate 0 = unlimited). Shared by every connection
/// of the server, so a user's logins and reconnects all draw on one bucket.
#[derive(Debug)]
pub(crate) struct UserRates {
    rate: f64,
    burst: f64,
    /// SDKAppID → userID → bucket: nested so a send looks its user up by `&str`, without
    /// allocating a key.
    buckets: Mutex<HashMap<u64, HashMap<String, TokenBucket>>>,
}

impl UserRates {
    /// `rate` per second, bursts of `burst`.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user` of `app` may act now; takes a token when so.
    pub(crate) fn admit(&self, app: u64, user: &str, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let users = buckets.entry(app).or_default();
        let bucket = match users.get_mut(user) {
            Some(b) => b,
            None => users
                .entry(user.to_owned())
                .or_insert_with(|| TokenBucket::new(self.burst, self.rate, now)),
        };
        bucket.take_above(0.0, now)
    }

    /// Forgets users whose bucket has refilled: they are as good as new. Keeps the table as
    /// small as the set of users who acted within the last burst's refill time.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for users in buckets.values_mut() {
            users.retain(|_, b| !b.is_full(now));
        }
        buckets.retain(|_, users| !users.is_empty());
    }

    /// Users with a partly drained bucket.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .map_or(0, |b| b.values().map(HashMap::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Offers `n` messages of each priority, interleaved, at one instant; counts admissions.
    fn flood(budget: &mut RoomBudget, n: usize, now: Instant) -> [usize; 4] {
        let mut passed = [0usize; 4];
        for _ in 0..n {
            for (i, p) in Priority::ALL.iter().enumerate() {
                if budget.admit(*p, now) {
                    passed[i] += 1;
                }
            }
        }
        passed
    }

    #[test]
    fn drop_order_under_flood() {
        let t0 = Instant::now();
        let mut b = RoomBudget::new(40, t0);
        // Priority::ALL is High, Normal, Low, Lowest.
        let [high, normal, low, lowest] = flood(&mut b, 100, t0);
        assert_eq!(high, 100, "High always passes");
        assert!(lowest < low && low < normal, "{lowest} < {low} < {normal}");
        // Exact: Lowest stops once tokens <= 20, Low once <= 10, Normal once < 1.
        assert_eq!(lowest, 5);
        assert_eq!(low, 8);
        assert_eq!(normal, 13);
    }

    #[test]
    fn sustained_flood_only_high_and_normal_survive() {
        let t0 = Instant::now();
        let mut b = RoomBudget::new(40, t0);
        let mut totals = [0usize; 4];
        // 10 s at 100 offers/s of each priority.
        for step in 0..1000u64 {
            let now = t0 + Duration::from_millis(step * 10);
            let p = flood(&mut b, 1, now);
            for i in 0..4 {
                totals[i] += p[i];
            }
        }
        let [high, normal, low, lowest] = totals;
        assert_eq!(high, 1000);
        assert!(normal > 0);
        assert!(low <= normal && lowest <= low);
        // Once the bucket is drained by High alone, nothing else gets through steadily.
        assert!(normal + low + lowest < 100, "{normal} {low} {lowest}");
    }

    #[test]
    fn lowest_dropped_before_low_before_normal() {
        let t0 = Instant::now();
        let mut b = RoomBudget::new(40, t0);
        // Only Lowest offered: stops at the half reserve.
        let n = (0..100).filter(|_| b.admit(Priority::Lowest, t0)).count();
        assert_eq!(n, 20);
        let n = (0..100).filter(|_| b.admit(Priority::Low, t0)).count();
        assert_eq!(n, 10);
        let n = (0..100).filter(|_| b.admit(Priority::Normal, t0)).count();
        assert_eq!(n, 10);
        assert!(b.admit(Priority::High, t0));
        // Refill: a quarter second brings 10 tokens back, enough for Normal only.
        let t1 = t0 + Duration::from_millis(250);
        assert!(!b.admit(Priority::Lowest, t1));
        assert!(!b.admit(Priority::Low, t1));
        assert!(b.admit(Priority::Normal, t1));
    }

    #[test]
    fn zero_budget_is_unlimited() {
        let t0 = Instant::now();
        let mut b = RoomBudget::new(0, t0);
        assert!((0..1000).all(|_| b.admit(Priority::Lowest, t0)));
        let u = UserRates::new(0.0, 0.0);
        assert!((0..1000).all(|_| u.admit(1, "u", t0)));
    }

    #[test]
    fn user_rate_bursts_twice_per_user() {
        let t0 = Instant::now();
        let u = UserRates::new(10.0, 20.0);
        assert_eq!((0..100).filter(|_| u.admit(1, "u", t0)).count(), 20);
        assert!(u.admit(1, "u", t0 + Duration::from_millis(100)));
        assert!(!u.admit(1, "u", t0 + Duration::from_millis(100)));
        // Another user, or the same userID in another app, has its own bucket.
        assert!(u.admit(1, "v", t0));
        assert!(u.admit(2, "u", t0));
    }

    #[test]
    fn swept_users_are_only_those_back_to_a_full_bucket() {
        let t0 = Instant::now();
        let u = UserRates::new(10.0, 20.0);
        assert!(u.admit(1, "a", t0));
        for _ in 0..20 {
            u.admit(1, "b", t0);
        }
        // 0.2 s later "a" (one token short) has refilled, "b" (20 short) has not.
        u.sweep(t0 + Duration::from_millis(200));
        assert_eq!(u.tracked(), 1);
    }

    #[test]
    fn high_always_passes_but_counts_against_the_room() {
        let t0 = Instant::now();
        let mut b = RoomBudget::new(40, t0);
        assert!((0..80).all(|_| b.admit(Priority::High, t0)));
        // 80 High took the 40 tokens and 40 more of debt: a second refills only 40.
        let t1 = t0 + Duration::from_secs(1);
        assert!(
            !b.admit(Priority::Normal, t1),
            "the debt is paid back first"
        );
        let t2 = t0 + Duration::from_millis(1100);
        assert!(b.admit(Priority::Normal, t2));
        // The debt is bounded: a High flood cannot shut the room out for longer than a second.
        assert!((0..10_000).all(|_| b.admit(Priority::High, t2)));
        let t3 = t2 + Duration::from_millis(2100);
        assert!(b.admit(Priority::Normal, t3));
    }
}
