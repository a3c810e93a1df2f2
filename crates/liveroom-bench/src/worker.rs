//! A viewer process: holds many viewer connections in one room and counts what they receive.
//! The orchestrator starts several of these when one process's file limit is not enough.
//!
//! Protocol on stdio: prints `{"ready": N, "failed": F}` once its viewers are in the room,
//! waits for a line on stdin (or its end), then prints its [`WorkerReport`] as JSON.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{watch, Semaphore};

use crate::conn::{now_micros, scan_frame, server_addr, source_ip};
use crate::rawws::{RawWs, Read};
use crate::server::APP;

/// Flags of the hidden `worker` command.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Server, ws://HOST:PORT.
    #[arg(long)]
    pub url: String,
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
    /// Viewers (of these) that stop reading once in the room.
    #[arg(long, default_value_t = 0)]
    pub slow: usize,
}

/// What a worker saw.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Messages received by all reading viewers.
    pub delivered: u64,
    /// WebSocket frames those messages came in (a frame may carry several).
    #[serde(default)]
    pub frames: u64,
    /// Of those, by priority mark (H, N, L, W).
    pub by_priority: [u64; 4],
    /// Connections the server closed before the end.
    pub closed_early: u64,
    /// Messages received by each reading viewer (the soak checks that each got them all).
    #[serde(default)]
    pub per_viewer: Vec<u64>,
    /// Latency histogram in µs (HDR V2, base64).
    pub histogram: String,
}

impl WorkerReport {
    /// The latency histogram.
    pub fn histogram(&self) -> anyhow::Result<Histogram<u64>> {
        decode_histogram(&self.histogram)
    }
}

/// A histogram as a report carries it: HDR V2, base64.
pub fn encode_histogram(hist: &Histogram<u64>) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(hist, &mut buf)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// The reverse of [`encode_histogram`].
pub fn decode_histogram(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
}

/// Index of a priority mark in [`WorkerReport::by_priority`].
pub fn mark_index(mark: u8) -> usize {
    match mark {
        b'H' => 0,
        b'N' => 1,
        b'L' => 2,
        _ => 3,
    }
}

struct Shared {
    delivered: AtomicU64,
    frames: AtomicU64,
    by_priority: [AtomicU64; 4],
    closed_early: AtomicU64,
    per_viewer: Mutex<Vec<u64>>,
    hist: Mutex<Histogram<u64>>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        by_priority: Default::default(),
        closed_early: AtomicU64::new(0),
        per_viewer: Mutex::new(Vec::with_capacity(args.viewers)),
        hist: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
    });
    let addr = server_addr(&args.url)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(128));
    let mut tasks = Vec::with_capacity(args.viewers);
    for i in 0..args.viewers {
        let (shared, ready, failed, gate) =
            (shared.clone(), ready.clone(), failed.clone(), gate.clone());
        let mut stop = stop_rx.clone();
        let room = args.room.clone();
        let sampled = i % args.sample_every.max(1) == 0;
        let slow = i < args.slow;
        let source = source_ip(args.source_offset + i);
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let conn = async {
                let mut ws = RawWs::connect(addr, source).await?;
                call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
                call(
                    &mut ws,
                    &json!({"id": 2, "op": "enter_room", "room_id": room}),
                )
                .await?;
                anyhow::Ok(ws)
            }
            .await;
            drop(permit);
            let Ok(mut ws) = conn else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            ready.fetch_add(1, Ordering::Relaxed);
            if slow {
                // Hold the socket, never read it.
                let _ = stop.changed().await;
                drop(ws);
                return;
            }
            let mut lat = Vec::new();
            // Counted per viewer and added to the shared totals once at the end: no atomic
            // operation per message.
            let mut delivered = 0u64;
            let mut frames = 0u64;
            let mut by_priority = [0u64; 4];
            let flush = |delivered: u64, frames: u64, by_priority: [u64; 4]| {
                shared.delivered.fetch_add(delivered, Ordering::Relaxed);
                shared.frames.fetch_add(frames, Ordering::Relaxed);
                for (total, n) in shared.by_priority.iter().zip(by_priority) {
                    total.fetch_add(n, Ordering::Relaxed);
                }
                if let Ok(mut p) = shared.per_viewer.lock() {
                    p.push(delivered);
                }
            };
            loop {
                tokio::select! {
                    read = ws.next_frames(|frame| {
                        let now = now_micros();
                        let n = scan_frame(frame, |stamp, mark| {
                            by_priority[mark_index(mark)] += 1;
                            if sampled {
                                lat.push(now.saturating_sub(stamp).max(1));
                            }
                        });
                        delivered += n as u64;
                        frames += u64::from(n > 0);
                    }) => {
                        if !matches!(read, Ok(Read::Frames)) {
                            if !*stop.borrow() {
                                shared.closed_early.fetch_add(1, Ordering::Relaxed);
                            }
                            flush(delivered, frames, by_priority);
                            return;
                        }
                        if !lat.is_empty() {
                            if let Ok(mut h) = shared.hist.lock() {
                                for l in lat.drain(..) {
                                    let _ = h.record(l);
                                }
                            }
                        }
                    }
                    _ = stop.changed() => {
                        flush(delivered, frames, by_priority);
                        return;
                    }
                }
            }
        }));
    }
    // Report readiness once every viewer connected or failed.
    loop {
        let (r, f) = (
            ready.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
        );
        if r + f >= args.viewers {
            println!("{}", json!({"ready": r, "failed": f}));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let hist = shared
        .hist
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let report = WorkerReport {
        delivered: shared.delivered.load(Ordering::Relaxed),
        frames: shared.frames.load(Ordering::Relaxed),
        by_priority: std::array::from_fn(|i| shared.by_priority[i].load(Ordering::Relaxed)),
        closed_early: shared.closed_early.load(Ordering::Relaxed),
        per_viewer: shared
            .per_viewer
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default(),
        histogram: encode_histogram(&hist)?,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Sends a request and reads until its reply (or error) arrives.
pub async fn call(ws: &mut RawWs, request: &serde_json::Value) -> anyhow::Result<()> {
    ws.send_text(&request.to_string()).await?;
    loop {
        let mut answer = None;
        let read = ws
            .next_frames(|f| {
                if f.starts_with(b"{\"t\":\"reply\"") {
                    answer = Some(true);
                } else if f.starts_with(b"{\"t\":\"error\"") {
                    answer = Some(false);
                }
            })
            .await?;
        match (answer, read) {
            (Some(true), _) => return Ok(()),
            (Some(false), _) => anyhow::bail!("{request} was refused"),
            (None, Read::Closed) => anyhow::bail!("closed"),
            (None, Read::Frames) => continue,
        }
    }
}
