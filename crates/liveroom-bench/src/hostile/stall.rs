//! Attack 2: viewers that never read. Each connects with a tiny receive buffer, logs in, enters
//! a room flooded with large messages and stops reading, so the server's writes to it block.
//! One is left alone (how long until the server lets go of it), one is kicked and one banned
//! while blocked (do they leave the room at once), and a fourth is blocked when the server gets
//! SIGTERM (does it finish within its grace period). Reading viewers count their deliveries.
//!
//! Whether the server still holds a victim's socket, and how much it has queued for it, is read
//! from /proc/net/tcp and the server's /proc/PID/fd: a victim that never reads cannot see a
//! close itself.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::{fds, mib, rss, secs, start, Figures, Outcome, PeakRss, Scale};
use crate::conn::{now_micros, scan_frame, source_ip, Conn};
use crate::procstat;
use crate::rawws::{RawWs, Read};
use crate::server::{Target, APP};
use crate::worker::call;

/// The victims' `SO_RCVBUF` (the kernel doubles it).
pub const RECV_BUFFER: u32 = 4096;
/// Bytes of each flood message's text (the limit is 8 KiB).
pub const TEXT_BYTES: usize = 8000;
/// Flood messages per second.
const RATE: u32 = 400;
/// Viewers that keep reading.
const READERS: usize = 4;
/// A victim counts as blocked once the server has this much queued for it and the queue has
/// stopped moving.
const BLOCKED_QUEUE: u64 = 64 * 1024;

struct Bounds {
    /// Longest wait for the victims' writes to block.
    block: Duration,
    /// Longest wait for a kicked or banned victim to leave the room.
    leave: Duration,
    /// Longest wait for the server to close the victim left alone, from the flood's start.
    close: Duration,
    /// Longest wait for SIGTERM to end the server.
    term: Duration,
}

fn bounds(scale: &Scale) -> Bounds {
    if scale.smoke {
        Bounds {
            block: Duration::from_secs(3),
            leave: Duration::from_secs(1),
            close: Duration::from_secs(4),
            term: Duration::from_secs(5),
        }
    } else {
        Bounds {
            block: Duration::from_secs(6),
            leave: Duration::from_secs(2),
            close: Duration::from_secs(15),
            term: Duration::from_secs(20),
        }
    }
}

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    let b = bounds(scale);
    let mut started = start(target, scale, &["--room-budget", "0", "--user-rate", "0"])?;
    let pid = started.pid();
    let server = started.server.addr()?;
    let url = started.server.url.clone();
    let ours = target == Target::Liveroom;

    let mut owner = Conn::connect(&url, source_ip(0)).await?;
    owner
        .request(
            json!({"op": "login", "user_id": "owner", "user_sig": started.server.sig("owner")}),
        )
        .await?;
    let room = owner
        .request(json!({"op": "create_room", "name": "stalled"}))
        .await?["groupID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let readers = Readers::start(server, &room).await?;
    let fds_before = fds(pid);
    let rss_before = rss(pid);
    let peak = PeakRss::start(pid);
    let alone = Victim::join(server, &started.server, &room, "alone", 10).await?;
    let kicked = Victim::join(server, &started.server, &room, "kicked", 11).await?;
    let banned = Victim::join(server, &started.server, &room, "banned", 12).await?;
    let fds_joined = fds(pid);
    let watch = Watcher::start(pid, server, &[&alone, &kicked, &banned]);

    let flood = Flooder::start(&url, &started.server.sig("sender"), &room).await?;
    let t0 = Instant::now();
    flood.run(true);
    watch
        .wait(
            |w| w[1].blocked.is_some() && w[2].blocked.is_some(),
            b.block,
        )
        .await;

    // Kick and ban while their writes are blocked; then ask where they stand until they are out.
    let (kick_out, ban_out) = if ours {
        owner
            .request(json!({"op": "kick_member", "room_id": room, "user_id": "kicked"}))
            .await?;
        let kick_at = Instant::now();
        owner
            .request(json!({"op": "ban_member", "room_id": room, "user_id": "banned"}))
            .await?;
        let ban_at = Instant::now();
        let kick_out = left_room(&mut owner, &room, "kicked", kick_at, b.leave).await?;
        let ban_out = left_room(&mut owner, &room, "banned", ban_at, b.leave).await?;
        (kick_out, ban_out)
    } else {
        (Value::Null, Value::Null)
    };

    // The one left alone: how long until the server lets go of it.
    watch
        .wait(
            |w| w[0].closed.is_some(),
            b.close.saturating_sub(t0.elapsed()),
        )
        .await;
    flood.run(false);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let states = watch.snapshot();
    let (min_delivered, accepted) = (readers.min(), flood.accepted());
    let fds_after = fds(pid);
    let rss_end = rss(pid);
    let peak_growth = peak.peak() - rss_before;
    let alone_closed = match (states[0].blocked, states[0].closed) {
        (Some(blocked), Some(closed)) => secs(closed.saturating_sub(blocked)),
        (None, Some(closed)) => format!("at {:.2} s, never blocked", closed.as_secs_f64()).into(),
        (_, None) => format!("held after {} s", b.close.as_secs()).into(),
    };
    let freed = if ours {
        Value::from(states[1].closed.is_some() && states[2].closed.is_some())
    } else {
        Value::Null
    };

    // SIGTERM with a viewer whose writes are blocked.
    let last = Victim::join(server, &started.server, &room, "last", 13).await?;
    let watch_last = Watcher::start(pid, server, &[&last]);
    flood.run(true);
    watch_last.wait(|w| w[0].blocked.is_some(), b.block).await;
    let last_blocked = watch_last.snapshot()[0].blocked.is_some();
    let term = started.server.terminate(b.term)?;
    let term = match term {
        Some(d) => secs(d),
        None => format!("running after {} s (killed)", b.term.as_secs()).into(),
    };
    drop((alone, kicked, banned, last, readers, flood));

    let figures: Figures = vec![
        (
            "victim's writes blocked after (s)".into(),
            states[0].blocked.map_or("never".into(), secs),
        ),
        (
            "server's send queue to a victim (KiB)".into(),
            (states[0].max_queue / 1024).into(),
        ),
        (
            "victim left alone: closed after blocking (s)".into(),
            alone_closed,
        ),
        ("kicked victim out of the room after".into(), kick_out),
        ("banned victim out of the room after".into(), ban_out),
        ("kicked and banned victims' sockets freed".into(), freed),
        (
            "server fds: before / victims in / after".into(),
            format!("{fds_before} / {fds_joined} / {fds_after}").into(),
        ),
        ("server RSS growth, peak (MiB)".into(), mib(peak_growth)),
        (
            "server RSS growth at the end (MiB)".into(),
            mib(rss_end - rss_before),
        ),
        (
            "readers: fewest delivered / accepted".into(),
            format!("{min_delivered} / {accepted}").into(),
        ),
        (
            "SIGTERM with a blocked viewer: exit after (s)".into(),
            if last_blocked {
                term
            } else {
                format!("{} (viewer never blocked)", super::cell(&term)).into()
            },
        ),
    ];
    Ok(Outcome::new(&started, figures))
}

/// Asks `get_member` every 50 ms until `user` is no longer in the room, up to `bound`.
async fn left_room(
    owner: &mut Conn,
    room: &str,
    user: &str,
    since: Instant,
    bound: Duration,
) -> anyhow::Result<Value> {
    loop {
        let standing = owner
            .request(json!({"op": "get_member", "room_id": room, "user_id": user}))
            .await?;
        if standing["inRoom"] == false {
            return Ok(format!("{} ms", since.elapsed().as_millis()).into());
        }
        if since.elapsed() > bound {
            return Ok(format!("still in after {} s", bound.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A logged-in viewer in the room that stopped reading.
struct Victim {
    _ws: RawWs,
    addr: SocketAddr,
}

impl Victim {
    async fn join(
        server: SocketAddr,
        bench: &crate::server::BenchServer,
        room: &str,
        user: &str,
        source: usize,
    ) -> anyhow::Result<Self> {
        let mut ws = RawWs::connect_with(server, source_ip(source), RECV_BUFFER).await?;
        call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
        call(
            &mut ws,
            &json!({"id": 2, "op": "login", "user_id": user, "user_sig": bench.sig(user)}),
        )
        .await?;
        call(
            &mut ws,
            &json!({"id": 3, "op": "enter_room", "room_id": room}),
        )
        .await?;
        let addr = ws.local_addr()?;
        Ok(Self { _ws: ws, addr })
    }
}

/// What the kernel showed of one victim's server-side socket.
#[derive(Debug, Clone, Default)]
struct VictimState {
    /// When the send queue stopped growing at [`BLOCKED_QUEUE`] or more.
    blocked: Option<Duration>,
    /// When the server no longer held the socket.
    closed: Option<Duration>,
    max_queue: u64,
    last_queue: [u64; 3],
}

/// Polls the victims' sockets every 100 ms.
struct Watcher {
    states: Arc<Mutex<Vec<VictimState>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn start(pid: u32, server: SocketAddr, victims: &[&Victim]) -> Self {
        let peers: Vec<SocketAddr> = victims.iter().map(|v| v.addr).collect();
        let states = Arc::new(Mutex::new(vec![VictimState::default(); peers.len()]));
        let s = states.clone();
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                for (i, peer) in peers.iter().enumerate() {
                    let sock = procstat::server_socket(pid, server, *peer);
                    let Ok(mut states) = s.lock() else { return };
                    let st = &mut states[i];
                    if st.closed.is_some() {
                        continue;
                    }
                    match sock {
                        Some(sock) if sock.held => {
                            let q = sock.send_queue;
                            st.max_queue = st.max_queue.max(q);
                            st.last_queue = [st.last_queue[1], st.last_queue[2], q];
                            if st.blocked.is_none()
                                && q >= BLOCKED_QUEUE
                                && st.last_queue.iter().all(|&x| x == q)
                            {
                                st.blocked = Some(t0.elapsed());
                            }
                        }
                        _ => st.closed = Some(t0.elapsed()),
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { states, task }
    }

    fn snapshot(&self) -> Vec<VictimState> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until `done` holds for the states, or `bound`.
    async fn wait(&self, done: impl Fn(&[VictimState]) -> bool, bound: Duration) {
        let until = Instant::now() + bound;
        while Instant::now() < until && !done(&self.snapshot()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Guest viewers that keep reading; each counts its messages.
struct Readers {
    counts: Arc<Vec<AtomicU64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Readers {
    async fn start(server: SocketAddr, room: &str) -> anyhow::Result<Self> {
        let counts: Arc<Vec<AtomicU64>> =
            Arc::new((0..READERS).map(|_| AtomicU64::new(0)).collect());
        let mut tasks = Vec::new();
        for i in 0..READERS {
            let mut ws = RawWs::connect(server, source_ip(20 + i)).await?;
            call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
            call(
                &mut ws,
                &json!({"id": 2, "op": "enter_room", "room_id": room}),
            )
            .await?;
            let counts = counts.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let mut n = 0;
                    let read = ws.next_frames(|f| n += scan_frame(f, |_, _| {})).await;
                    counts[i].fetch_add(n as u64, Ordering::Relaxed);
                    if !matches!(read, Ok(Read::Frames)) {
                        break;
                    }
                }
            }));
        }
        Ok(Self { counts, tasks })
    }

    fn min(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A member sending [`TEXT_BYTES`]-byte texts at [`RATE`]/s while switched on.
struct Flooder {
    on: watch::Sender<bool>,
    accepted: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Flooder {
    async fn start(url: &str, sig: &str, room: &str) -> anyhow::Result<Self> {
        let mut c = Conn::connect(url, source_ip(1)).await?;
        c.request(json!({"op": "login", "user_id": "sender", "user_sig": sig}))
            .await?;
        c.request(json!({"op": "enter_room", "room_id": room}))
            .await?;
        let (mut sink, mut stream) = c.ws.split();
        let accepted = Arc::new(AtomicU64::new(0));
        let (on, mut on_rx) = watch::channel(false);
        let reader = {
            let accepted = accepted.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    if let Message::Text(t) = msg {
                        if t.as_str().starts_with("{\"t\":\"reply\"") {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        let room = room.to_owned();
        let writer = tokio::spawn(async move {
            let pad = "x".repeat(TEXT_BYTES - 24);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(RATE)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut id = 100u64;
            loop {
                if !*on_rx.borrow_and_update() {
                    if on_rx.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                tick.tick().await;
                id += 1;
                let text = format!("t{}:N{pad}", now_micros());
                let frame = json!({"id": id, "op": "send_text", "room_id": room, "text": text});
                if sink
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Self {
            on,
            accepted,
            tasks: vec![reader, writer],
        })
    }

    fn run(&self, on: bool) {
        let _ = self.on.send(on);
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Flooder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
