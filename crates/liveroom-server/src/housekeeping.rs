//! The server's two periodic tasks: the online count pushed to every occupied room, and the
//! sweep that unloads idle rooms and forgets users whose rate buckets are full again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

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
                }
            }
        }
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
