//! Reconnect delays: exponential from 1 s, doubling up to 16 s, with jitter so that a room
//! full of clients dropped by one server restart does not come back in lockstep.

use std::time::Duration;

/// First delay.
pub(crate) const BASE: Duration = Duration::from_secs(1);
/// Largest delay.
pub(crate) const MAX: Duration = Duration::from_secs(16);

/// Delays for successive reconnect attempts.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The nominal delay of attempt `n` (0-based): 1, 2, 4, 8, 16, 16, ... seconds.
    pub(crate) fn nominal(n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX);
        BASE.saturating_mul(factor).min(MAX)
    }

    /// Applies jitter: a uniform `unit` in [0, 1) maps the delay into [d/2, d).
    pub(crate) fn jittered(nominal: Duration, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        nominal.mul_f64(0.5 + unit / 2.0)
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = Self::nominal(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        Self::jittered(nominal, rand::random::<f64>())
    }

    /// How many delays were handed out since the last success: the number of the try the
    /// last one leads to.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A connection succeeded: start again from the base delay.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let secs: Vec<u64> = (0..8).map(|n| Backoff::nominal(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16, 16]);
        assert_eq!(Backoff::nominal(u32::MAX), MAX);
    }

    #[test]
    fn jitter_stays_in_half_to_full() {
        let d = Duration::from_secs(8);
        assert_eq!(Backoff::jittered(d, 0.0), Duration::from_secs(4));
        assert!(Backoff::jittered(d, 0.999) < d);
        assert!(Backoff::jittered(d, 7.0) <= d);
        let mut b = Backoff::default();
        for n in 0..10 {
            let delay = b.next_delay();
            let nominal = Backoff::nominal(n);
            assert!(
                delay >= nominal / 2 && delay <= nominal,
                "{delay:?} vs {nominal:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= BASE);
    }
}
