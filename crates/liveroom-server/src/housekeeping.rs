//! The server's periodic tasks: the online count pushed to every occupied room (and sampled
//! for its statistics), the statistics pushed to the moderators in each room (and saved),
//! and the sweep that unloads idle rooms and forgets users whose rate buckets are full again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liveroom_proto::ServerFrame;
use tokio::time::MissedTickBehavior;

use crate::session::Signal;
use crate::Shared;

/// Longest time between two sweeps.
const SWEEP_MAX: Duration = Duration::from_secs(10);

/// Pushes each room's online count every `online_interval` (rooms with nobody in get none),
/// every node's members counted (read again first in cluster mode).
pub(crate) async fn push_online(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.online_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {
                for room in shared.rooms.all() {
                    room.refresh_online().await;
                    room.publish_online();
                    room.sample_online().await;
                }
            }
        }
    }
}

/// Every `room_stats_every`: saves each loaded room's statistics that changed (local mode;
/// cluster mode's are in Redis), and pushes each room's statistics to its moderators in it on
/// this node (every node pushes to its own), one signal per moderator with all their
/// rooms'. On shutdown, saves what changed once more.
pub(crate) async fn room_stats(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.room_stats_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = tick.tick() => push_room_stats(&shared).await,
        }
    }
    for room in shared.rooms.all() {
        room.save_stats().await;
    }
}

/// One stats tick (see [`room_stats`]).
async fn push_room_stats(shared: &Shared) {
    let mut pushes: HashMap<(u64, String), Vec<(String, String)>> = HashMap::new();
    let mut admins: HashMap<u64, Vec<String>> = HashMap::new();
    for room in shared.rooms.all() {
        if room.is_dismissed() {
            continue;
        }
        room.save_stats().await;
        let app = room.app();
        let app_admins = admins
            .entry(app)
            .or_insert_with(|| shared.rules.admins(app));
        let moderators = room.moderators_here(app_admins).await;
        if moderators.is_empty() {
            continue;
        }
        let stats = match room.stats().await {
            Ok(stats) => stats,
            Err(e) => {
                tracing::debug!(room = %room.id(), error = %e.message, "room statistics not read");
                continue;
            }
        };
        let frame = ServerFrame::RoomStats {
            room: room.id().to_owned(),
            stats,
        };
        let Ok(frame) = serde_json::to_string(&frame) else {
            continue;
        };
        for user in moderators {
            pushes
                .entry((app, user))
                .or_default()
                .push((room.id().to_owned(), frame.clone()));
        }
    }
    for ((app, user), frames) in pushes {
        shared.sessions.push_here(app, &user, Signal::Push(frames));
    }
}

/// Unloads rooms unused for `room_unload_after` and drops full user-rate buckets. A room is
/// unloaded after two sweeps that find it unused, `room_unload_after` apart: sweeping every
/// quarter of it (at most every [`SWEEP_MAX`]) unloads it within a quarter more.
pub(crate) async fn sweep(shared: Arc<Shared>) {
    let after = shared.config.room_unload_after;
    let period = (after / 4).clamp(Duration::from_millis(1), SWEEP_MAX);
    every(&shared, period, || {
        let now = Instant::now();
        shared.send_rates.sweep(now);
        shared.create_rates.sweep(now);
        let unloaded = shared.rooms.unload_idle(now, after);
        if unloaded > 0 {
            tracing::debug!(
                unloaded,
                loaded = shared.rooms.loaded(),
                "idle rooms unloaded"
            );
        }
    })
    .await;
}

/// Runs `job` every `period` (the first time one period from now) until shutdown.
async fn every(shared: &Shared, period: Duration, mut job: impl FnMut()) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => job(),
        }
    }
}
