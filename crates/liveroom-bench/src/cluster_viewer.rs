//! A viewer process of the cluster scenario: like [`crate::worker`], many viewers of one room
//! in one process, but each knows every node, tells each message apart by the sender's number
//! (so it counts duplicates and messages out of order, not only deliveries), and when its node
//! goes away reconnects to the next one: for Liveroom re-entering with `since` = the last
//! sequence it saw (the server's gap fill), for Socket.IO joining the room again.
//!
//! Protocol on stdio, as the `worker`'s: `{"ready": N, "failed": F}` once its viewers are in
//! the room, then after a line on stdin its [`ViewerReport`] as JSON.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{watch, Semaphore};

use crate::conn::{now_micros, scan_numbered, server_addr, source_ip, Numbered};
use crate::rawws::{RawWs, Read};
use crate::server::APP;
use crate::socketio;
use crate::worker::{call, encode_histogram};

/// Which wire the viewers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Protocol {
    /// Liveroom's protocol on `/ws`.
    Liveroom,
    /// Socket.IO 4 (Engine.IO v4 over WebSocket).
    Socketio,
}

/// Flags of the hidden `cluster-worker` command.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// The wire.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Every node, ws://HOST:PORT, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub urls: Vec<String>,
    /// Index in `urls` of the node these viewers connect to first.
    #[arg(long, default_value_t = 0)]
    pub home: usize,
    /// Room to enter.
    #[arg(long)]
    pub room: String,
    /// Viewer connections.
    #[arg(long)]
    pub viewers: usize,
    /// First source address index (see `conn::source_ip`).
    #[arg(long, default_value_t = 0)]
    pub source_offset: usize,
    /// Record latency on one viewer in this many (all are counted).
    #[arg(long, default_value_t = 10)]
    pub sample_every: usize,
    /// How many numbered messages the sender sends (numbers 1..=N).
    #[arg(long)]
    pub messages: u64,
}

/// What a cluster worker's viewers saw.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ViewerReport {
    /// Distinct messages received, all viewers together (gap fill included).
    pub delivered: u64,
    /// Frames that carried at least one of them.
    pub frames: u64,
    /// Messages a viewer received again.
    pub duplicated: u64,
    /// Messages received after one with a higher number.
    pub out_of_order: u64,
    /// Of `delivered`, those that came in a re-enter's history (gap fill).
    pub gap_filled: u64,
    /// Re-enter replies that said messages older than the history were skipped.
    pub skipped_notices: u64,
    /// Viewers whose connection closed before the end.
    pub disconnected: u64,
    /// Of those, viewers that got back into the room on some node.
    pub reconnected: u64,
    /// Of those, viewers that received a message again afterwards.
    pub receiving_again: u64,
    /// Longest time from a viewer's disconnect to its first message after reconnecting, µs.
    pub max_gap_us: u64,
    /// Wall clock (µs since the epoch) of the latest such first message.
    pub last_receiving_again_micros: u64,
    /// `received[n]`: viewers that received message number `n`.
    pub received: Vec<u32>,
    /// Latency of live (not gap-filled) messages on sampled viewers, µs: HDR V2, base64.
    pub histogram: String,
}

/// One viewer's account of what it received.
struct Tally {
    /// Bit `n`: message number `n` received.
    seen: Vec<u64>,
    last_n: u64,
    /// The highest room sequence seen: `since` when re-entering.
    last_seq: u64,
    sampled: bool,
    lat: Vec<u64>,
    /// Set when the connection is lost, cleared by the next message.
    lost_at: Option<u64>,
    report: ViewerReport,
}

impl Tally {
    fn new(messages: u64, sampled: bool) -> Self {
        Self {
            seen: vec![0; (messages as usize + 1).div_ceil(64)],
            last_n: 0,
            last_seq: 0,
            sampled,
            lat: Vec::new(),
            lost_at: None,
            report: ViewerReport::default(),
        }
    }

    fn on_message(&mut self, m: Numbered, now: u64, gap_fill: bool) {
        if let Some(lost) = self.lost_at.take() {
            let r = &mut self.report;
            r.receiving_again = 1;
            r.max_gap_us = r.max_gap_us.max(now.saturating_sub(lost));
            r.last_receiving_again_micros = now;
        }
        self.last_seq = self.last_seq.max(m.sequence);
        let n = m.n as usize;
        let Some(word) = self.seen.get_mut(n / 64) else {
            return; // not one of the sender's numbers
        };
        let bit = 1u64 << (n % 64);
        if *word & bit != 0 {
            self.report.duplicated += 1;
            return;
        }
        *word |= bit;
        self.report.delivered += 1;
        if m.n < self.last_n {
            self.report.out_of_order += 1;
        } else {
            self.last_n = m.n;
        }
        if gap_fill {
            self.report.gap_filled += 1;
        } else if self.sampled {
            self.lat.push(now.saturating_sub(m.stamp).max(1));
        }
    }

    /// Scans one frame; `gap_fill`: it is a re-enter's reply.
    fn on_frame(&mut self, frame: &[u8], gap_fill: bool) {
        let now = now_micros();
        let n = scan_numbered(frame, |m| self.on_message(m, now, gap_fill));
        self.report.frames += u64::from(n > 0);
    }
}

/// What every viewer of this process shares.
struct Ctx {
    protocol: Protocol,
    addrs: Vec<SocketAddr>,
    room: String,
    source_offset: usize,
    /// At most this many handshakes at once, so a herd of reconnects does not time out.
    gate: Semaphore,
    totals: Mutex<ViewerReport>,
    hist: Mutex<Histogram<u64>>,
}

impl Ctx {
    fn flush_latency(&self, lat: &mut Vec<u64>) {
        if lat.is_empty() {
            return;
        }
        if let Ok(mut h) = self.hist.lock() {
            for l in lat.drain(..) {
                let _ = h.record(l);
            }
        }
    }

    fn add(&self, t: Tally) {
        let Ok(mut total) = self.totals.lock() else {
            return;
        };
        let r = t.report;
        total.delivered += r.delivered;
        total.frames += r.frames;
        total.duplicated += r.duplicated;
        total.out_of_order += r.out_of_order;
        total.gap_filled += r.gap_filled;
        total.skipped_notices += r.skipped_notices;
        total.disconnected += r.disconnected;
        total.reconnected += r.reconnected;
        total.receiving_again += r.receiving_again;
        total.max_gap_us = total.max_gap_us.max(r.max_gap_us);
        total.last_receiving_again_micros = total
            .last_receiving_again_micros
            .max(r.last_receiving_again_micros);
        for (n, count) in total.received.iter_mut().enumerate() {
            if t.seen.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0) {
                *count += 1;
            }
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let addrs = args
        .urls
        .iter()
        .map(|u| server_addr(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(args.home < addrs.len(), "--home is not one of --urls");
    let ctx = Arc::new(Ctx {
        protocol: args.protocol,
        addrs,
        room: args.room.clone(),
        source_offset: args.source_offset,
        gate: Semaphore::new(128),
        totals: Mutex::new(ViewerReport {
            received: vec![0; args.messages as usize + 1],
            ..ViewerReport::default()
        }),
        hist: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(args.viewers);
    for i in 0..args.viewers {
        let (ctx, ready, failed, stop) =
            (ctx.clone(), ready.clone(), failed.clone(), stop_rx.clone());
        let tally = Tally::new(args.messages, i % args.sample_every.max(1) == 0);
        let home = args.home;
        tasks.push(tokio::spawn(async move {
            viewer(ctx, i, home, tally, stop, ready, failed).await;
        }));
    }
    loop {
        let (r, f) = (
            ready.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
        );
        if r + f >= args.viewers {
            println!("{}", json!({"ready": r, "failed": f}));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let hist = ctx
        .hist
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut report = ctx
        .totals
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    report.histogram = encode_histogram(&hist)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// One viewer: enters on its home node, reads until the end, and whenever its connection is
/// lost, tries the next nodes in turn until one lets it back in.
async fn viewer(
    ctx: Arc<Ctx>,
    i: usize,
    home: usize,
    mut tally: Tally,
    mut stop: watch::Receiver<bool>,
    ready: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) {
    let first = {
        let _permit = ctx.gate.acquire().await;
        tokio::time::timeout(
            Duration::from_secs(120),
            enter(&ctx, home, i, &mut tally, None),
        )
        .await
    };
    let Ok(Ok(mut ws)) = first else {
        failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    ready.fetch_add(1, Ordering::Relaxed);
    let mut node = home;
    while read(&ctx, &mut ws, &mut tally, &mut stop).await {
        tally.report.disconnected = 1;
        tally.lost_at = Some(now_micros());
        match reconnect(&ctx, &mut node, i, &mut tally, &mut stop).await {
            Some(again) => {
                tally.report.reconnected = 1;
                ws = again;
            }
            None => break,
        }
    }
    ctx.flush_latency(&mut tally.lat);
    ctx.add(tally);
}

/// Reads until the connection closes (`true`) or the bench stops (`false`).
async fn read(
    ctx: &Ctx,
    ws: &mut RawWs,
    tally: &mut Tally,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *stop.borrow() {
            return false;
        }
        let mut pings = 0;
        let open = tokio::select! {
            read = ws.next_frames(|f| {
                if ctx.protocol == Protocol::Socketio && f == socketio::PING {
                    pings += 1;
                } else {
                    tally.on_frame(f, false);
                }
            }) => matches!(read, Ok(Read::Frames)),
            _ = stop.changed() => return false,
        };
        if !open {
            return !*stop.borrow();
        }
        for _ in 0..pings {
            if ws.send_text(socketio::PONG).await.is_err() {
                return !*stop.borrow();
            }
        }
        ctx.flush_latency(&mut tally.lat);
    }
}

/// Tries the other nodes in turn, with a growing, jittered pause (the engine's way: a herd of
/// viewers of a dead node spreads over time), starting from a node chosen by the viewer's
/// index so that the herd also spreads evenly over the others (as a random choice would).
async fn reconnect(
    ctx: &Ctx,
    node: &mut usize,
    i: usize,
    tally: &mut Tally,
    stop: &mut watch::Receiver<bool>,
) -> Option<RawWs> {
    let mut rng = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut jitter = |max_ms: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        Duration::from_millis(rng % max_ms.max(1))
    };
    for attempt in 0u32.. {
        let pause = if attempt == 0 {
            jitter(1000)
        } else {
            Duration::from_millis((250u64 << attempt.min(4)).min(4000)) + jitter(250)
        };
        if *stop.borrow() {
            return None;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return None,
        }
        let others = ctx.addrs.len().saturating_sub(1).max(1);
        let step = if attempt == 0 { 1 + i % others } else { 1 };
        *node = (*node + step) % ctx.addrs.len();
        let since = Some(tally.last_seq);
        let attempt = async {
            let _permit = ctx.gate.acquire().await;
            tokio::time::timeout(Duration::from_secs(15), enter(ctx, *node, i, tally, since)).await
        };
        let entered = tokio::select! {
            r = attempt => r,
            _ = stop.changed() => return None,
        };
        if let Ok(Ok(ws)) = entered {
            return Some(ws);
        }
    }
    None
}

/// Connects to node `node` and enters the room (`since`: a re-enter, whose reply's history is
/// the gap fill, counted as such).
async fn enter(
    ctx: &Ctx,
    node: usize,
    i: usize,
    tally: &mut Tally,
    since: Option<u64>,
) -> anyhow::Result<RawWs> {
    let addr = ctx.addrs[node];
    let source = source_ip(ctx.source_offset + i);
    match ctx.protocol {
        Protocol::Socketio => {
            let mut ws = socketio::connect(addr, source).await?;
            socketio::call(&mut ws, 1, "join", &json!(ctx.room)).await?;
            Ok(ws)
        }
        Protocol::Liveroom => {
            let mut ws = RawWs::connect(addr, source).await?;
            call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
            let mut enter = json!({"id": 2, "op": "enter_room", "room_id": ctx.room});
            if let Some(since) = since {
                enter["since"] = since.into();
            }
            ws.send_text(&enter.to_string()).await?;
            loop {
                let (mut done, mut refused) = (false, false);
                let read = ws
                    .next_frames(|f| {
                        if f.starts_with(b"{\"t\":\"reply\"") {
                            done = true;
                            if since.is_some() {
                                tally.report.skipped_notices +=
                                    u64::from(memchr::memmem::find(f, b"\"skipped\"").is_some());
                            }
                            tally.on_frame(f, since.is_some());
                        } else if f.starts_with(b"{\"t\":\"error\"") {
                            refused = true;
                        } else {
                            // A live message may come before the reply.
                            tally.on_frame(f, false);
                        }
                    })
                    .await?;
                if refused {
                    anyhow::bail!("enter_room was refused");
                }
                if done {
                    return Ok(ws);
                }
                if matches!(read, Read::Closed) {
                    anyhow::bail!("closed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u64, sequence: u64) -> Numbered {
        Numbered {
            stamp: 1,
            n,
            sequence,
        }
    }

    #[test]
    fn counts_duplicates_order_and_the_gap() {
        let mut t = Tally::new(10, true);
        t.on_message(msg(1, 11), 5, false);
        t.on_message(msg(3, 13), 5, false);
        t.on_message(msg(2, 12), 5, false);
        t.on_message(msg(3, 13), 5, false);
        assert_eq!(t.report.delivered, 3);
        assert_eq!(t.report.out_of_order, 1);
        assert_eq!(t.report.duplicated, 1);
        assert_eq!(t.last_seq, 13);
        assert_eq!(t.lat.len(), 3);

        t.lost_at = Some(100);
        t.on_message(msg(4, 14), 350, true);
        assert_eq!(t.report.gap_filled, 1);
        assert_eq!(t.report.receiving_again, 1);
        assert_eq!(t.report.max_gap_us, 250);
        assert_eq!(t.lat.len(), 3, "gap-filled messages are not timed");
        // A number the sender never used is ignored.
        t.on_message(msg(99, 0), 400, false);
        assert_eq!(t.report.delivered, 4);
    }
}
