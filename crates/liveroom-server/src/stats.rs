//! Room statistics: what a room's accepted sends and online samples add up to over its
//! session (from its creation), and the report built from them (`get_room_stats`, the
//! `room_stats` push). The counting rules are `liveroom_proto::stats`'.
//!
//! The numbers are the broker's (one for every node): the local broker keeps [`Counts`] in
//! memory, counted as it accepts a send, and the room saves them in the store at most once
//! per stats tick when they changed (and before the room is unloaded); the Redis broker
//! counts in its send script and reads its keys back into a [`Counts`]. Either way the
//! state per room is bounded: [`MINUTES_KEPT`] minutes and [`GIFTERS_KEPT`] gifters.

use std::collections::{HashMap, VecDeque};

use liveroom_proto::stats::{Counted, MINUTES_KEPT, TOP_GIFTERS};
use liveroom_proto::{RoomStats, StatsMinute, TopGifter};
use serde::{Deserialize, Serialize};

/// Gifters a room keeps count of. A new gifter arriving when the room keeps this many takes
/// the place of the one with the fewest gifts (the "space-saving" rule): the top gifters are
/// exact while a session has at most this many, and a forgotten gifter who gives again
/// starts from their new gifts.
pub(crate) const GIFTERS_KEPT: usize = 256;

/// The first second of the minute of `t` (unix seconds).
pub(crate) fn minute_of(t: i64) -> i64 {
    t.div_euclid(60) * 60
}

/// The oldest minute kept when the newest is `minute`.
pub(crate) fn oldest_kept(minute: i64) -> i64 {
    minute - (MINUTES_KEPT as i64 - 1) * 60
}

/// What one accepted send adds to its room's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally<'a> {
    /// What it counts as.
    pub(crate) counted: Counted,
    /// The sender (a gifter's name).
    pub(crate) user: &'a str,
    /// The message's time (unix seconds).
    pub(crate) time: i64,
}

/// A room's numbers over its session, as every broker reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    /// Messages (texts, pictures, other custom messages).
    pub(crate) messages: u64,
    /// Likes.
    pub(crate) likes: u64,
    /// Gifts (each gift message counts its `count`).
    pub(crate) gifts: u64,
    /// The highest online count sampled.
    pub(crate) peak: u64,
    /// The minutes with a sample or a message, oldest first: (first second, highest online
    /// count sampled, messages); at most [`MINUTES_KEPT`], the newest.
    pub(crate) minutes: VecDeque<(i64, u64, u64)>,
    /// Gifter → gifts, at most [`GIFTERS_KEPT`].
    pub(crate) gifters: HashMap<String, u64>,
}

impl Counts {
    /// Counts an accepted send.
    pub(crate) fn add(&mut self, tally: &Tally<'_>) {
        match tally.counted {
            Counted::Message => {
                self.messages += 1;
                if let Some(minute) = self.minute(tally.time) {
                    minute.2 += 1;
                }
            }
            Counted::Like => self.likes += 1,
            Counted::Gift(n) => {
                self.gifts += u64::from(n);
                add_gifts(&mut self.gifters, tally.user, u64::from(n), GIFTERS_KEPT);
            }
            Counted::Nothing => {}
        }
    }

    /// Records an online count sampled at `at` (unix seconds).
    pub(crate) fn sample_online(&mut self, at: i64, online: u64) {
        self.peak = self.peak.max(online);
        if let Some(minute) = self.minute(at) {
            minute.1 = minute.1.max(online);
        }
    }

    /// The entry of the minute of `t`, made if needed (the oldest beyond [`MINUTES_KEPT`]
    /// dropped). A time before the newest minute (the clock went back) counts in the newest.
    fn minute(&mut self, t: i64) -> Option<&mut (i64, u64, u64)> {
        let at = minute_of(t);
        if self.minutes.back().is_none_or(|m| at > m.0) {
            self.minutes.push_back((at, 0, 0));
            let oldest = oldest_kept(at);
            while self.minutes.front().is_some_and(|m| m.0 < oldest) {
                self.minutes.pop_front();
            }
        }
        self.minutes.back_mut()
    }

    /// The top gifters, most gifts first (ties by user ID), at most [`TOP_GIFTERS`].
    pub(crate) fn top_gifters(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(&String, &u64)> = self.gifters.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(TOP_GIFTERS)
            .map(|(u, n)| (u.clone(), *n))
            .collect()
    }
}

/// Adds `n` gifts of `user` to `gifters`, which keeps at most `cap`: a new gifter when it is
/// full takes the place of the one with the fewest gifts.
pub(crate) fn add_gifts(gifters: &mut HashMap<String, u64>, user: &str, n: u64, cap: usize) {
    if let Some(gifts) = gifters.get_mut(user) {
        *gifts += n;
        return;
    }
    if gifters.len() >= cap {
        let fewest = gifters
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
            .map(|(u, _)| u.clone());
        if let Some(fewest) = fewest {
            gifters.remove(&fewest);
        }
    }
    gifters.insert(user.to_owned(), n);
}

/// The report of room `room_id` at `now`: `counts` over the session begun at `started_at`,
/// `online` connections now, the top gifters with their nicks (`gifters`, most first).
pub(crate) fn report(
    room_id: &str,
    started_at: i64,
    now: i64,
    online: u64,
    counts: &Counts,
    top_gifters: Vec<TopGifter>,
) -> RoomStats {
    let current = minute_of(now);
    let first = minute_of(started_at).max(oldest_kept(current)).min(current);
    let kept: HashMap<i64, (u64, u64)> = counts
        .minutes
        .iter()
        .map(|&(at, online, messages)| (at, (online, messages)))
        .collect();
    let minutes: Vec<StatsMinute> = (0..)
        .map(|i| first + i * 60)
        .take_while(|at| *at <= current)
        .map(|at| {
            let (online, messages) = kept.get(&at).copied().unwrap_or_default();
            StatsMinute {
                at,
                online,
                messages,
            }
        })
        .collect();
    let this_minute = kept.get(&current).map_or(0, |m| m.1);
    let previous = kept.get(&(current - 60)).map_or(0, |m| m.1);
    // The previous minute's share of the last 60 s, as if its messages came evenly.
    let elapsed = u64::try_from(now - current).unwrap_or(0).min(60);
    let messages_last_minute = this_minute + previous * (60 - elapsed) / 60;
    RoomStats {
        room_id: room_id.to_owned(),
        started_at,
        at: now,
        online,
        peak_online: counts.peak.max(online),
        minutes,
        messages_last_minute,
        messages_total: counts.messages,
        likes_total: counts.likes,
        gifts_total: counts.gifts,
        top_gifters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(counted: Counted, user: &str, time: i64) -> Tally<'_> {
        Tally {
            counted,
            user,
            time,
        }
    }

    #[test]
    fn sends_count_by_kind_and_minute() {
        let mut c = Counts::default();
        let t0 = 1_764_600_000; // a minute's first second
        c.add(&tally(Counted::Message, "a", t0 + 5));
        c.sample_online(t0 + 10, 4);
        c.sample_online(t0 + 20, 7);
        c.add(&tally(Counted::Message, "b", t0 + 59));
        c.add(&tally(Counted::Message, "a", t0 + 60));
        c.add(&tally(Counted::Like, "a", t0 + 61));
        c.add(&tally(Counted::Gift(3), "a", t0 + 62));
        c.add(&tally(Counted::Gift(5), "b", t0 + 62));
        c.add(&tally(Counted::Gift(1), "a", t0 + 63));
        c.add(&tally(Counted::Nothing, "a", t0 + 64));
        c.sample_online(t0 + 70, 2);
        assert_eq!((c.messages, c.likes, c.gifts, c.peak), (3, 1, 9, 7));
        assert_eq!(
            c.minutes,
            VecDeque::from([(t0, 7, 2), (t0 + 60, 2, 1)]),
            "per minute: the highest sample and the messages"
        );
        assert_eq!(c.top_gifters(), vec![("b".into(), 5), ("a".into(), 4)]);
        // The clock going back counts in the newest minute.
        c.add(&tally(Counted::Message, "a", t0 - 600));
        assert_eq!(c.minutes.back(), Some(&(t0 + 60, 2, 2)));

        let r = report("r", t0 - 30, t0 + 90, 3, &c, Vec::new());
        assert_eq!(
            r.minutes.len(),
            3,
            "from the creation's minute: {:?}",
            r.minutes
        );
        assert_eq!(
            r.minutes[0],
            StatsMinute {
                at: t0 - 60,
                online: 0,
                messages: 0
            }
        );
        assert_eq!(r.minutes[1].messages, 2);
        assert_eq!(r.minutes[2].online, 2);
        assert_eq!((r.messages_total, r.likes_total, r.gifts_total), (4, 1, 9));
        assert_eq!((r.online, r.peak_online), (3, 7));
        // 30 s into the minute: all of this minute's 2, half of the previous minute's 2.
        assert_eq!(r.messages_last_minute, 3);
    }

    #[test]
    fn a_day_of_minutes_at_most() {
        let mut c = Counts::default();
        let t0 = 1_764_600_000;
        for i in 0..(MINUTES_KEPT as i64 + 100) {
            c.add(&tally(Counted::Message, "a", t0 + i * 60));
        }
        assert_eq!(c.minutes.len(), MINUTES_KEPT);
        let now = t0 + (MINUTES_KEPT as i64 + 99) * 60;
        assert_eq!(c.minutes.front().map(|m| m.0), Some(oldest_kept(now)));
        let r = report("r", t0, now, 0, &c, Vec::new());
        assert_eq!(r.minutes.len(), MINUTES_KEPT);
        assert_eq!(r.minutes.last().map(|m| m.at), Some(now));
        assert!(r.minutes.iter().all(|m| m.messages == 1));
        assert_eq!(
            r.messages_total,
            MINUTES_KEPT as u64 + 100,
            "totals are the session's"
        );
    }

    #[test]
    fn the_gifters_kept_are_capped_and_the_fewest_give_way() {
        let mut g = HashMap::new();
        add_gifts(&mut g, "a", 10, 3);
        add_gifts(&mut g, "b", 2, 3);
        add_gifts(&mut g, "c", 5, 3);
        add_gifts(&mut g, "a", 1, 3);
        assert_eq!(g.len(), 3);
        // Full: "d" takes the place of "b", who has the fewest.
        add_gifts(&mut g, "d", 1, 3);
        assert_eq!(g.len(), 3);
        assert!(!g.contains_key("b"));
        assert_eq!(g.get("a"), Some(&11));
        // "b" again: gives way to nobody but the fewest ("d"), and starts from its new gifts.
        add_gifts(&mut g, "b", 4, 3);
        assert_eq!(g.get("b"), Some(&4));
        assert!(!g.contains_key("d"));

        let mut c = Counts::default();
        for i in 0..(GIFTERS_KEPT + 50) {
            c.add(&tally(Counted::Gift(1), &format!("u{i}"), 0));
        }
        c.add(&tally(Counted::Gift(9_999), "big", 0));
        assert_eq!(c.gifters.len(), GIFTERS_KEPT);
        let top = c.top_gifters();
        assert_eq!(top.len(), TOP_GIFTERS);
        assert_eq!(top[0], ("big".into(), 9_999));
        assert_eq!(c.gifts, GIFTERS_KEPT as u64 + 50 + 9_999);
    }
}
