//! Send budgets: the room's priority-aware token bucket and the per-user rate limit.
//!
//! The room bucket holds up to `budget` tokens, refilled at `budget` per second. Each priority
//! needs a different reserve before it may take a token, so under load the lower priorities
//! run dry first: Lowest needs more than budget/2, Low more than budget/4, Normal at least
//! one, and High always passes (taking a token when there is one).

use std::time::Instant;

use liveroom_proto::Priority;

/// A token bucket with explicit time, so tests are exact.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `rate` per second.
    pub fn new(capacity: f64, rate: f64, now: Instant) -> Self {
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
    pub fn take_above(&mut self, reserve: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 && self.tokens > reserve {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Tokens now (after refill).
    pub fn tokens(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }
}

/// The room's send budget (0 = unlimited).
#[derive(Debug, Clone)]
pub struct RoomBudget {
    bucket: Option<TokenBucket>,
    budget: f64,
}

impl RoomBudget {
    /// A budget of `per_sec` messages per second.
    pub fn new(per_sec: u32, now: Instant) -> Self {
        let budget = f64::from(per_sec);
        Self {
            bucket: (per_sec > 0).then(|| TokenBucket::new(budget, budget, now)),
            budget,
        }
    }

    /// Whether a message of `priority` may be sent now; takes its token when it may.
    pub fn admit(&mut self, priority: Priority, now: Instant) -> bool {
        let Some(bucket) = self.bucket.as_mut() else {
            return true;
        };
        match priority {
            Priority::High => {
                // Always delivered; still drains the bucket so lower priorities yield.
                bucket.take_above(0.0, now);
                true
            }
            Priority::Normal => bucket.take_above(0.0, now),
            Priority::Low => bucket.take_above(self.budget / 4.0, now),
            Priority::Lowest => bucket.take_above(self.budget / 2.0, now),
        }
    }
}

/// A user's own rate limit: `per_sec` with a burst of twice that (0 = unlimited).
#[derive(Debug, Clone)]
pub struct UserRate(Option<TokenBucket>);

impl UserRate {
    /// A limit of `per_sec` messages per second.
    pub fn new(per_sec: u32, now: Instant) -> Self {
        let rate = f64::from(per_sec);
        Self((per_sec > 0).then(|| TokenBucket::new(rate * 2.0, rate, now)))
    }

    /// Whether the user may send now; takes a token when so.
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.0.as_mut() {
            Some(b) => b.take_above(0.0, now),
            None => true,
        }
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
        let mut u = UserRate::new(0, t0);
        assert!((0..1000).all(|_| u.admit(t0)));
    }

    #[test]
    fn user_rate_bursts_twice() {
        let t0 = Instant::now();
        let mut u = UserRate::new(10, t0);
        assert_eq!((0..100).filter(|_| u.admit(t0)).count(), 20);
        assert!(u.admit(t0 + Duration::from_millis(100)));
        assert!(!u.admit(t0 + Duration::from_millis(100)));
    }
}
