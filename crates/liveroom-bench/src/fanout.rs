//! The fan-out harness: one room, N viewer connections in worker processes, S senders at R
//! messages/s, optional churn and slow viewers; reports deliveries, loss, latency and the
//! server's CPU and memory.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{now_micros, source_ip, Conn};
use crate::procstat;
use crate::server::{BenchServer, Target};
use crate::worker::WorkerReport;

/// Most viewers per worker process: well under the 20,000 open files a process may hold here.
const VIEWERS_PER_WORKER: usize = 7000;

/// Viewers per worker process: at most [`VIEWERS_PER_WORKER`], and spread over at least one
/// single-threaded worker per core, so a worker's own backlog does not add to the latency
/// it measures (one worker reading 5,000 sockets on one thread added ~10 ms at p50 here).
pub fn viewers_per_worker(viewers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    viewers.div_ceil(cores).clamp(1, VIEWERS_PER_WORKER)
}
const MARKS: [u8; 4] = [b'H', b'N', b'L', b'W'];
const PRIORITIES: [&str; 4] = ["High", "Normal", "Low", "Lowest"];

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// Scenario name, for the report.
    pub scenario: &'static str,
    /// Server to measure.
    pub target: Target,
    /// An already running server instead of starting one.
    pub server: Option<String>,
    /// Viewer connections.
    pub viewers: usize,
    /// Messages per second, all senders together.
    pub rate: u32,
    /// Seconds of sending.
    pub seconds: u64,
    /// Sender connections.
    pub senders: usize,
    /// Cycle priorities High, Normal, Low, Lowest instead of all Normal.
    pub mixed_priorities: bool,
    /// Viewers that stop reading.
    pub slow: usize,
    /// Joins (and as many leaves) per second while chatting.
    pub churn_per_sec: u32,
    /// Latency recorded on one viewer in this many.
    pub sample_every: usize,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub viewers: usize,
    pub connections: usize,
    pub rate: u32,
    pub seconds: u64,
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub delivered: u64,
    /// Frames the delivered messages came in, all viewers together.
    pub frames: u64,
    pub expected: u64,
    pub lost: u64,
    pub deliveries_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub server_cpu_percent: f64,
    pub server_rss_bytes: u64,
    pub server_rss_peak_bytes: u64,
    pub bytes_per_connection: f64,
    pub slow_viewers: usize,
    pub closed_early: u64,
    pub churn_joins: u64,
    /// Per priority (High, Normal, Low, Lowest): sent, accepted, delivered per viewer.
    pub by_priority: Vec<Value>,
}

pub async fn run(p: Params) -> anyhow::Result<Report> {
    Ok(run_with(p, &[], "warn", None).await?.0)
}

/// [`run`] with `flags` added to our server's command line (e.g. a webhook to a dead port),
/// the server logging at `log`; with `probe`, that HTTP path's JSON read from the server at
/// the end of the run (e.g. its counters) is returned beside the report.
pub async fn run_with(
    p: Params,
    flags: &[String],
    log: &str,
    probe: Option<&str>,
) -> anyhow::Result<(Report, Option<Value>)> {
    let mut extra: Vec<String> = ["--user-rate", "1000000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    extra.extend_from_slice(flags);
    let server = BenchServer::start_logged(p.target, p.server.clone(), &extra, log)?;
    let room = create_room(&server).await?;
    let pid = server.pid;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = pid.and_then(procstat::sample);

    // Viewers, in worker processes.
    let mut workers = spawn_workers(&server.url, &room, p.viewers, p.slow, p.sample_every)?;
    let connections = wait_ready(&mut workers).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = pid.and_then(procstat::sample);
    let bytes_per_connection = match (&before, &idle) {
        (Some(a), Some(b)) if connections > 0 => {
            b.rss_bytes.saturating_sub(a.rss_bytes) as f64 / connections as f64
        }
        _ => 0.0,
    };

    // Senders and churn.
    let counts = Arc::new(Counts::default());
    let peak = Arc::new(AtomicU64::new(idle.map(|s| s.rss_bytes).unwrap_or(0)));
    let start = pid.and_then(procstat::sample);
    let started = Instant::now();
    let mut tasks = Vec::new();
    if p.rate > 0 {
        for i in 0..p.senders.max(1) {
            let mut c = Conn::connect(&server.url, source_ip(0)).await?;
            let user = format!("sender{i}");
            c.request(json!({"op": "login", "user_id": user, "user_sig": server.sig(&user)}))
                .await?;
            c.request(json!({"op": "enter_room", "room_id": room}))
                .await?;
            let per = f64::from(p.rate) / p.senders.max(1) as f64;
            tasks.push(tokio::spawn(send_loop(
                c,
                room.clone(),
                per,
                p.seconds,
                p.mixed_priorities,
                i,
                counts.clone(),
            )));
        }
    }
    let churn = if p.churn_per_sec > 0 {
        Some(tokio::spawn(churn_loop(
            server.url.clone(),
            room.clone(),
            p.churn_per_sec,
            p.seconds,
            counts.clone(),
        )))
    } else {
        None
    };
    let sampler = pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(s) = procstat::sample(pid) {
                    peak.fetch_max(s.rss_bytes, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    });
    for t in tasks {
        t.await??;
    }
    let sending = started.elapsed();
    let end = pid.and_then(procstat::sample);
    // Let the last deliveries arrive.
    tokio::time::sleep(Duration::from_secs(if p.rate > 0 { 3 } else { 0 })).await;
    if let Some(c) = churn {
        c.await?;
    }
    if let Some(s) = sampler {
        s.abort();
    }

    let probed = match probe {
        Some(path) => Some(server.get_json(path).await?),
        None => None,
    };
    let Collected {
        delivered,
        frames,
        closed_early,
        by_priority: by_priority_delivered,
        hist,
        ..
    } = collect(workers).await?;

    let reading = connections.saturating_sub(p.slow) as u64;
    let accepted: u64 = counts
        .accepted
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .sum();
    let sent: u64 = counts.sent.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    let rejected = counts.rejected.load(Ordering::Relaxed);
    // Every send the server did not refuse should reach every reading viewer.
    let expected = sent.saturating_sub(rejected) * reading;
    let ms = |us: u64| us as f64 / 1000.0;
    let by_priority = (0..4)
        .map(|i| {
            json!({
                "priority": PRIORITIES[i],
                "sent": counts.sent[i].load(Ordering::Relaxed),
                "accepted": counts.accepted[i].load(Ordering::Relaxed),
                "delivered_per_viewer": if reading > 0 { by_priority_delivered[i] as f64 / reading as f64 } else { 0.0 },
            })
        })
        .collect();
    let report = Report {
        scenario: p.scenario.to_owned(),
        target: p.target.name().to_owned(),
        viewers: p.viewers,
        connections,
        rate: p.rate,
        seconds: p.seconds,
        sent,
        accepted,
        rejected,
        delivered,
        frames,
        expected,
        lost: expected.saturating_sub(delivered),
        deliveries_per_sec: delivered as f64 / sending.as_secs_f64().max(0.001),
        p50_ms: if hist.is_empty() {
            0.0
        } else {
            ms(hist.value_at_quantile(0.5))
        },
        p99_ms: if hist.is_empty() {
            0.0
        } else {
            ms(hist.value_at_quantile(0.99))
        },
        max_ms: if hist.is_empty() { 0.0 } else { ms(hist.max()) },
        server_cpu_percent: match (start, end) {
            (Some(a), Some(b)) if p.rate > 0 => procstat::cpu_percent(&a, &b),
            _ => 0.0,
        },
        server_rss_bytes: idle.map(|s| s.rss_bytes).unwrap_or(0),
        server_rss_peak_bytes: peak.load(Ordering::Relaxed),
        bytes_per_connection,
        slow_viewers: p.slow,
        closed_early,
        churn_joins: counts.churn_joins.load(Ordering::Relaxed),
        by_priority,
    };
    Ok((report, probed))
}

/// Logs in as `host` on `server` and creates the bench's room; its ID.
pub async fn create_room(server: &BenchServer) -> anyhow::Result<String> {
    let mut host = Conn::connect(&server.url, source_ip(0)).await?;
    host.request(json!({"op": "login", "user_id": "host", "user_sig": server.sig("host")}))
        .await?;
    let room = host
        .request(json!({"op": "create_room", "name": "bench"}))
        .await?["groupID"]
        .as_str()
        .ok_or_else(|| anyhow!("create_room gave no groupID"))?
        .to_owned();
    Ok(room)
}

/// Sends and joins counted while a scenario runs.
#[derive(Default)]
pub struct Counts {
    /// Sends by priority.
    pub sent: [AtomicU64; 4],
    /// Accepted sends by priority.
    pub accepted: [AtomicU64; 4],
    /// Refused sends.
    pub rejected: AtomicU64,
    /// Churn connections that entered the room.
    pub churn_joins: AtomicU64,
}

/// Starts worker processes holding `viewers` viewers in `room`, `slow` of them never reading.
pub fn spawn_workers(
    url: &str,
    room: &str,
    viewers: usize,
    slow: usize,
    sample_every: usize,
) -> anyhow::Result<Vec<Worker>> {
    let mut workers = Vec::new();
    let mut remaining = viewers;
    let mut slow_left = slow;
    let mut offset = 1;
    let per_worker = viewers_per_worker(viewers);
    while remaining > 0 {
        let n = remaining.min(per_worker);
        let slow = slow_left.min(n);
        workers.push(spawn_worker(url, room, n, offset, sample_every, slow)?);
        remaining -= n;
        slow_left -= slow;
        offset += n;
    }
    Ok(workers)
}

/// Waits until every worker's viewers are in the room; how many connected.
pub async fn wait_ready(workers: &mut [Worker]) -> anyhow::Result<usize> {
    let mut connections = 0usize;
    for w in workers {
        let line = tokio::time::timeout(Duration::from_secs(300), w.stdout.next_line())
            .await
            .context("workers connect within 300 s")??
            .ok_or_else(|| anyhow!("worker ended early"))?;
        let v: Value = serde_json::from_str(&line)?;
        connections += v["ready"].as_u64().unwrap_or(0) as usize;
    }
    Ok(connections)
}

/// What all workers' viewers received.
pub struct Collected {
    pub delivered: u64,
    pub frames: u64,
    pub closed_early: u64,
    pub by_priority: [u64; 4],
    pub hist: Histogram<u64>,
    /// Messages received by each reading viewer.
    pub per_viewer: Vec<u64>,
}

/// Stops the workers and adds up their reports.
pub async fn collect(workers: Vec<Worker>) -> anyhow::Result<Collected> {
    let mut c = Collected {
        delivered: 0,
        frames: 0,
        closed_early: 0,
        by_priority: [0; 4],
        hist: Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?,
        per_viewer: Vec::new(),
    };
    for w in workers {
        let r: WorkerReport = serde_json::from_str(&w.finish().await?)?;
        c.delivered += r.delivered;
        c.frames += r.frames;
        c.closed_early += r.closed_early;
        for (i, d) in r.by_priority.iter().enumerate() {
            c.by_priority[i] += d;
        }
        c.hist.add(r.histogram()?)?;
        c.per_viewer.extend(&r.per_viewer);
    }
    Ok(c)
}

/// A viewer worker process.
pub struct Worker {
    child: Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

fn spawn_worker(
    url: &str,
    room: &str,
    viewers: usize,
    offset: usize,
    sample_every: usize,
    slow: usize,
) -> anyhow::Result<Worker> {
    let args: Vec<String> = [
        "worker",
        "--url",
        url,
        "--room",
        room,
        "--viewers",
        &viewers.to_string(),
        "--source-offset",
        &offset.to_string(),
        "--sample-every",
        &sample_every.to_string(),
        "--slow",
        &slow.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Worker::spawn(&args)
}

impl Worker {
    /// Starts this executable with `args` (a hidden viewer command: `worker`, or the cluster
    /// scenario's `cluster-worker`), which prints `{"ready": N, ...}`, then its report after
    /// a line on stdin.
    pub fn spawn(args: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("worker stdin"))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| anyhow!("worker stdout"))?,
        )
        .lines();
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// Tells the worker to stop and returns its report line (JSON).
    pub async fn finish(mut self) -> anyhow::Result<String> {
        self.stdin.write_all(b"stop\n").await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .context("worker report")??
            .ok_or_else(|| anyhow!("worker gave no report"))?;
        let _ = self.child.wait().await;
        Ok(line)
    }
}

/// Sends at `rate`/s for `seconds`, pipelined; replies are counted as they come back.
pub async fn send_loop(
    conn: Conn,
    room: String,
    rate: f64,
    seconds: u64,
    mixed: bool,
    index: usize,
    counts: Arc<Counts>,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = conn.ws.split();
    let pending: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let reader = {
        let (pending, counts) = (pending.clone(), counts.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                if !t.as_str().starts_with("{\"t\":\"reply\"")
                    && !t.as_str().starts_with("{\"t\":\"error\"")
                {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                let Some(id) = v["id"].as_u64() else { continue };
                let Some(prio) = pending.lock().ok().and_then(|mut p| p.remove(&id)) else {
                    continue;
                };
                if v["t"] == "reply" {
                    counts.accepted[prio].fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let total = (rate * seconds as f64).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..total {
        tick.tick().await;
        let prio = if mixed { (n as usize + index) % 4 } else { 1 };
        let id = n + 1;
        if let Ok(mut p) = pending.lock() {
            p.insert(id, prio);
        }
        let text = format!("t{}:{}", now_micros(), MARKS[prio] as char);
        let frame = json!({"id": id, "op": "send_text", "room_id": room, "text": text, "priority": PRIORITIES[prio]});
        sink.send(Message::Text(frame.to_string().into())).await?;
        counts.sent[prio].fetch_add(1, Ordering::Relaxed);
    }
    // Wait for the last replies.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && pending.lock().map(|p| !p.is_empty()).unwrap_or(false) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
    // A server that fell behind may still deliver what it has not answered: such sends stay
    // expected (see `expected` in `run`).
    Ok(())
}

/// Opens a connection that enters the room, reads for a moment and leaves, `per_sec` times a
/// second.
pub async fn churn_loop(
    url: String,
    room: String,
    per_sec: u32,
    seconds: u64,
    counts: Arc<Counts>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1))));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0usize;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let (url, room, counts) = (url.clone(), room.clone(), counts.clone());
        tokio::spawn(async move {
            let Ok(mut c) = Conn::connect(&url, source_ip(200 + n % 50)).await else {
                return;
            };
            if c.request(json!({"op": "enter_room", "room_id": room}))
                .await
                .is_ok()
            {
                counts.churn_joins.fetch_add(1, Ordering::Relaxed);
            }
            let hold = tokio::time::sleep(Duration::from_millis(500));
            tokio::pin!(hold);
            loop {
                tokio::select! {
                    _ = &mut hold => break,
                    m = c.ws.next() => if m.is_none() { break },
                }
            }
        });
    }
}
