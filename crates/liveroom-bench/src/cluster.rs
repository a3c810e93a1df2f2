//! `liveroom-bench cluster`: one room served by N nodes sharing one Redis (issue 13). Starts a
//! real `redis-server` and N server processes on 127.0.0.1..127.0.0.N (each under the
//! 20,000 open files a process may hold), spreads the viewers evenly over them (in worker
//! processes, as `fanout` does), sends numbered messages from one sender on the last node,
//! and reports per node and in total what `fanout` reports plus duplicates, order, the
//! sender's send→ack latency, each node's CPU and Redis's. `--kill-node-after S` kills node 1
//! (SIGKILL) mid-run: its viewers reconnect to the others and the report says how many came
//! back, how soon they received again, and whether any acknowledged message was lost or
//! duplicated. Beside ours, by default, Socket.IO 4 with the Redis Streams adapter on as many
//! Node.js processes (`bench/socketio-cluster`), through the same viewers and sender.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

use crate::cluster_report;
use crate::cluster_viewer::{Protocol, ViewerReport};
use crate::conn::{now_micros, server_addr, source_ip};
use crate::fanout::{self, Worker};
use crate::procstat::{self, Sample};
use crate::rawws::{RawWs, Read};
use crate::server::{self, BenchServer, APP};
use crate::socketio;
use crate::worker::{call, decode_histogram};

/// Flags of `liveroom-bench cluster`.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Server nodes (one process each, on 127.0.0.1 .. 127.0.0.N).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Viewer connections, spread evenly over the nodes.
    #[arg(long, default_value_t = 57_000)]
    pub viewers: usize,
    /// Messages per second (one sender, on the last node).
    #[arg(long, default_value_t = 40)]
    pub rate: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Kill node 1 (SIGKILL) this many seconds after sending starts.
    #[arg(long)]
    pub kill_node_after: Option<f64>,
    /// Which cluster to measure; `both`: ours and the Socket.IO peer, side by side.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub target: Which,
    /// Also run the single-node server (no Redis) with the same viewers and rate, first: the
    /// baseline for cluster mode with one node (`--nodes 1 --single`).
    #[arg(long)]
    pub single: bool,
    /// Messages each room keeps for gap fill (the nodes' `--history`; default: the server's).
    /// A killed node's viewers get back what they missed only if it is still kept.
    #[arg(long)]
    pub history: Option<usize>,
    /// Seconds the viewers are given after the last acknowledgement for what is still on its
    /// way (a saturated run has seconds of backlog: what has not arrived by then counts as
    /// lost) [default: 3, plus 5 with --kill-node-after].
    #[arg(long)]
    pub drain: Option<u64>,
    /// Redis with its append-only file synced on every write (`appendfsync always`); by
    /// default Redis keeps nothing on disk.
    #[arg(long)]
    pub aof: bool,
    /// Record latency on one viewer in this many.
    #[arg(long, default_value_t = 10)]
    pub sample_every: usize,
    /// 2 nodes, 200 viewers, 3 s, node 1 killed after 1.5 s, with the single-node baseline:
    /// a smoke test (overrides the numbers above).
    #[arg(long)]
    pub smoke: bool,
    /// Print JSON (one report per line) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Which cluster `cluster` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Liveroom,
    Socketio,
    Both,
}

/// One run's server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Our server in cluster mode over Redis.
    Cluster,
    /// Our server as it runs by default: one process, no Redis.
    Single,
    /// Socket.IO with the Redis Streams adapter.
    SocketIo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Cluster => "liveroom",
            Self::Single => "liveroom-single",
            Self::SocketIo => "socketio",
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Self::Cluster | Self::Single => Protocol::Liveroom,
            Self::SocketIo => Protocol::Socketio,
        }
    }
}

/// What one node's viewers (those that first connected to it) saw, or all viewers'.
#[derive(Debug, Clone, Serialize, Default)]
pub struct NodeReport {
    pub node: String,
    pub connections: usize,
    pub delivered: u64,
    /// Acknowledged messages × connections.
    pub expected: u64,
    /// Acknowledged messages a viewer never received.
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Received in a re-enter's history.
    pub gap_filled: u64,
    pub deliveries_per_sec: f64,
    pub frames_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The node process's CPU while sending, % of one core (total: all nodes added).
    pub cpu_percent: f64,
}

/// What the kill of node 1 did to its viewers.
#[derive(Debug, Clone, Serialize, Default)]
pub struct KillReport {
    pub node: String,
    pub after_secs: f64,
    pub viewers: usize,
    pub disconnected: u64,
    /// Back in the room on another node.
    pub resumed: u64,
    /// Received a message again after resuming.
    pub receiving_again: u64,
    /// From the kill to the last of its viewers receiving again, seconds.
    pub max_secs_to_receive_again: f64,
    /// The longest one viewer went without messages (disconnect → first message), seconds.
    pub max_viewer_gap_secs: f64,
    /// Acknowledged messages its viewers never received.
    pub lost_acked: u64,
    pub duplicated: u64,
    /// Re-enters told that messages older than the history were skipped.
    pub skipped_notices: u64,
}

/// One run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ClusterReport {
    pub scenario: &'static str,
    pub target: String,
    pub nodes: usize,
    pub viewers: usize,
    pub rate: u32,
    pub seconds: u64,
    /// `none` or `appendfsync always`; empty without Redis.
    pub redis_persistence: String,
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// How many refusals of each error code ("10023": over the room's send budget, ...).
    pub rejected_codes: std::collections::BTreeMap<u32, u64>,
    /// Sends with no answer 30 s after the last one.
    pub unanswered: u64,
    /// Refused sends that viewers received all the same (a refusal must mean not sent).
    pub refused_but_delivered: u64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub ack_max_ms: f64,
    pub redis_cpu_seconds: f64,
    pub redis_cpu_percent: f64,
    pub per_node: Vec<NodeReport>,
    pub total: NodeReport,
    pub kill: Option<KillReport>,
}

pub async fn run(mut a: Args) -> anyhow::Result<()> {
    if a.smoke {
        a = Args {
            nodes: 2,
            viewers: 200,
            rate: 40,
            seconds: 3,
            kill_node_after: Some(1.5),
            single: true,
            ..a
        };
    }
    if a.nodes == 0 || a.nodes > 250 {
        bail!("--nodes must be 1 to 250");
    }
    if a.kill_node_after.is_some() && a.nodes < 2 {
        bail!("--kill-node-after needs at least 2 nodes");
    }
    // A process may hold 20,000 open files here: the survivors must have room for the
    // killed node's viewers too.
    if a.kill_node_after.is_some() && a.nodes >= 2 && a.viewers.div_ceil(a.nodes - 1) > 19_500 {
        eprintln!(
            "warning: after the kill, {} nodes must hold {} viewers each, past the 20,000 open \
             files a process may hold: use more nodes (e.g. --nodes {})",
            a.nodes - 1,
            a.viewers.div_ceil(a.nodes - 1),
            a.viewers.div_ceil(19_500) + 1
        );
    }
    let mut kinds = Vec::new();
    if a.single {
        kinds.push(Kind::Single);
    }
    if matches!(a.target, Which::Liveroom | Which::Both) {
        kinds.push(Kind::Cluster);
    }
    if matches!(a.target, Which::Socketio | Which::Both) {
        kinds.push(Kind::SocketIo);
    }
    let mut reports = Vec::new();
    for kind in kinds {
        let r = run_one(kind, &a)
            .await
            .with_context(|| format!("cluster run of {}", kind.name()))?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            cluster_report::print_run(&r);
        }
        reports.push(r);
    }
    if !a.json {
        cluster_report::print_summary(&reports);
    }
    Ok(())
}

/// Starts Redis (unless `Single`) and the nodes, runs the load, and reports.
async fn run_one(kind: Kind, a: &Args) -> anyhow::Result<ClusterReport> {
    let node_count = if kind == Kind::Single { 1 } else { a.nodes };
    let redis = match kind {
        Kind::Single => None,
        Kind::Cluster | Kind::SocketIo => {
            Some(liveroom_testkit::RedisProcess::try_start(a.aof).map_err(|e| anyhow!(e))?)
        }
    };
    let media = tempfile::tempdir()?;
    let mut nodes = Vec::with_capacity(node_count);
    for k in 0..node_count {
        let url = redis.as_ref().map(|r| r.url());
        nodes.push(start_node(
            kind,
            k,
            url.as_deref(),
            media.path(),
            a.history,
        )?);
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let sender_node = node_count - 1;
    let room = match kind {
        Kind::SocketIo => "bench".to_owned(),
        Kind::Cluster | Kind::Single => fanout::create_room(&nodes[sender_node]).await?,
    };
    let messages = u64::from(a.rate) * a.seconds;

    // Viewers: an even share per node, each share in worker processes.
    let per_worker = fanout::viewers_per_worker(a.viewers);
    let mut workers: Vec<(usize, Worker)> = Vec::new();
    let mut offset = 1;
    for (home, share) in shares(a.viewers, node_count).into_iter().enumerate() {
        let mut left = share;
        while left > 0 {
            let n = left.min(per_worker);
            let args: Vec<String> = [
                "cluster-worker",
                "--protocol",
                match kind.protocol() {
                    Protocol::Liveroom => "liveroom",
                    Protocol::Socketio => "socketio",
                },
                "--urls",
                &urls.join(","),
                "--home",
                &home.to_string(),
                "--room",
                &room,
                "--viewers",
                &n.to_string(),
                "--source-offset",
                &offset.to_string(),
                "--sample-every",
                &a.sample_every.to_string(),
                "--messages",
                &messages.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            workers.push((home, Worker::spawn(&args)?));
            left -= n;
            offset += n;
        }
    }
    let mut connections = vec![0usize; node_count];
    for (home, w) in &mut workers {
        connections[*home] += fanout::wait_ready(std::slice::from_mut(w)).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // CPU readings: at the start, then every half second (a killed node keeps its last).
    let pids: Vec<Option<u32>> = nodes.iter().map(|n| n.pid).collect();
    let first: Vec<Option<Sample>> = pids.iter().map(|p| p.and_then(procstat::sample)).collect();
    let latest = Arc::new(Mutex::new(first.clone()));
    let sampler = {
        let latest = latest.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(mut l) = latest.lock() {
                    for (slot, pid) in l.iter_mut().zip(&pids) {
                        if let Some(s) = pid.and_then(procstat::sample) {
                            *slot = Some(s);
                        }
                    }
                }
            }
        })
    };
    let redis_pid = redis.as_ref().and_then(|r| r.pid());
    let redis_before = redis_pid.and_then(liveroom_testkit::cpu_seconds);
    let started = Instant::now();

    let sender = tokio::spawn(send_all(
        kind,
        server_addr(&urls[sender_node])?,
        room.clone(),
        a.rate,
        a.seconds,
        nodes[sender_node].sig("sender"),
    ));
    let mut killed_at = None;
    // The single-node baseline is never killed: it has no other node to go to.
    let kill_after = a.kill_node_after.filter(|_| kind != Kind::Single);
    if let Some(after) = kill_after {
        tokio::time::sleep(Duration::from_secs_f64(after.max(0.0))).await;
        killed_at = Some(now_micros());
        nodes[0].kill();
    }
    let sent = sender.await??;
    let sending = started.elapsed();
    let redis_after = redis_pid.and_then(liveroom_testkit::cpu_seconds);
    sampler.abort();
    let last = latest.lock().map(|l| l.clone()).unwrap_or_default();
    // Let the last deliveries arrive, and the killed node's viewers come back.
    let drain =
        a.drain.unwrap_or(if a.smoke { 2 } else { 3 }) + if killed_at.is_some() { 5 } else { 0 };
    tokio::time::sleep(Duration::from_secs(drain)).await;

    let mut by_node: Vec<Vec<ViewerReport>> = vec![Vec::new(); node_count];
    for (home, w) in workers {
        by_node[home].push(serde_json::from_str(&w.finish().await?)?);
    }
    let secs = sending.as_secs_f64().max(0.001);
    let mut per_node = Vec::new();
    let mut all = Vec::new();
    for (k, reports) in by_node.iter().enumerate() {
        let cpu = match (&first[k], &last[k]) {
            (Some(x), Some(y)) => procstat::cpu_percent(x, y),
            _ => 0.0,
        };
        per_node.push(node_report(
            format!("node{}", k + 1),
            connections[k],
            reports,
            &sent.accepted,
            secs,
            cpu,
        )?);
        all.extend(reports.iter().cloned());
    }
    let cpu_total = per_node.iter().map(|n| n.cpu_percent).sum();
    let everyone = merge(&all);
    let refused_but_delivered = sent
        .refused
        .iter()
        .enumerate()
        .filter(|(n, r)| **r && everyone.received.get(*n).is_some_and(|c| *c > 0))
        .count() as u64;
    let total = node_report(
        "total".to_owned(),
        connections.iter().sum(),
        &all,
        &sent.accepted,
        secs,
        cpu_total,
    )?;
    let kill = killed_at.map(|at| {
        let r = merge(&by_node[0]);
        KillReport {
            node: "node1".to_owned(),
            after_secs: kill_after.unwrap_or(0.0),
            viewers: connections[0],
            disconnected: r.disconnected,
            resumed: r.reconnected,
            receiving_again: r.receiving_again,
            max_secs_to_receive_again: r.last_receiving_again_micros.saturating_sub(at) as f64
                / 1e6,
            max_viewer_gap_secs: r.max_gap_us as f64 / 1e6,
            lost_acked: per_node[0].lost,
            duplicated: per_node[0].duplicated,
            skipped_notices: r.skipped_notices,
        }
    });
    let redis_cpu_seconds = match (redis_before, redis_after) {
        (Some(x), Some(y)) => y - x,
        _ => 0.0,
    };
    let ms = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    Ok(ClusterReport {
        scenario: "cluster",
        target: kind.name().to_owned(),
        nodes: node_count,
        viewers: a.viewers,
        rate: a.rate,
        seconds: a.seconds,
        redis_persistence: match (&redis, a.aof) {
            (None, _) => String::new(),
            (Some(_), true) => "appendfsync always".to_owned(),
            (Some(_), false) => "none".to_owned(),
        },
        sent: sent.sent,
        accepted: sent.accepted.iter().filter(|a| **a).count() as u64,
        rejected: sent.rejected,
        rejected_codes: sent.rejected_codes.clone(),
        unanswered: sent.sent - sent.rejected - sent.accepted.iter().filter(|a| **a).count() as u64,
        refused_but_delivered,
        ack_p50_ms: ms(&sent.ack_us, 0.5),
        ack_p99_ms: ms(&sent.ack_us, 0.99),
        ack_max_ms: if sent.ack_us.is_empty() {
            0.0
        } else {
            sent.ack_us.max() as f64 / 1000.0
        },
        redis_cpu_seconds,
        redis_cpu_percent: redis_cpu_seconds / secs * 100.0,
        per_node,
        total,
        kill,
    })
}

/// `viewers` split over `nodes` as evenly as can be.
fn shares(viewers: usize, nodes: usize) -> Vec<usize> {
    (0..nodes)
        .map(|k| viewers / nodes + usize::from(k < viewers % nodes))
        .collect()
}

/// Starts node `k` (0-based) on 127.0.0.(k+1).
fn start_node(
    kind: Kind,
    k: usize,
    redis: Option<&str>,
    media: &std::path::Path,
    history: Option<usize>,
) -> anyhow::Result<BenchServer> {
    let ip = format!("127.0.0.{}", k + 1);
    let mut extra: Vec<String> = vec!["--user-rate".into(), "1000000".into()];
    if let Some(h) = history {
        extra.extend(["--history".into(), h.to_string()]);
    }
    let cmd = match (kind, redis) {
        (Kind::Single, _) => {
            let data = tempfile::tempdir()?;
            let cmd = server::liveroom_command(&ip, data.path(), &extra, "warn")?;
            return BenchServer::spawn(cmd, Some(data));
        }
        (Kind::Cluster, Some(url)) => {
            if !server::supports("--redis")? {
                bail!("this liveroom-server has no --redis (cluster mode): build a newer one");
            }
            extra.extend([
                "--redis".into(),
                url.to_owned(),
                "--node-id".into(),
                format!("node{}", k + 1),
                "--media".into(),
                media.display().to_string(),
            ]);
            let data = tempfile::tempdir()?;
            let cmd = server::liveroom_command(&ip, data.path(), &extra, "warn")?;
            return BenchServer::spawn(cmd, Some(data));
        }
        (Kind::SocketIo, Some(url)) => {
            let dir = server::node_package("socketio-cluster", "socket.io")?;
            let mut c = std::process::Command::new("node");
            c.arg(dir.join("server.js"))
                .args(["--host", &ip, "--port", "0", "--redis", url]);
            c
        }
        (Kind::Cluster | Kind::SocketIo, None) => bail!("a cluster needs Redis"),
    };
    BenchServer::spawn(cmd, None)
}

/// Adds up workers' reports.
fn merge(reports: &[ViewerReport]) -> ViewerReport {
    let mut m = ViewerReport::default();
    for r in reports {
        m.delivered += r.delivered;
        m.frames += r.frames;
        m.duplicated += r.duplicated;
        m.out_of_order += r.out_of_order;
        m.gap_filled += r.gap_filled;
        m.skipped_notices += r.skipped_notices;
        m.disconnected += r.disconnected;
        m.reconnected += r.reconnected;
        m.receiving_again += r.receiving_again;
        m.max_gap_us = m.max_gap_us.max(r.max_gap_us);
        m.last_receiving_again_micros = m
            .last_receiving_again_micros
            .max(r.last_receiving_again_micros);
        if m.received.len() < r.received.len() {
            m.received.resize(r.received.len(), 0);
        }
        for (total, n) in m.received.iter_mut().zip(&r.received) {
            *total += n;
        }
    }
    m
}

fn node_report(
    node: String,
    connections: usize,
    reports: &[ViewerReport],
    accepted: &[bool],
    secs: f64,
    cpu_percent: f64,
) -> anyhow::Result<NodeReport> {
    let m = merge(reports);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for r in reports {
        hist.add(decode_histogram(&r.histogram)?)?;
    }
    let acked = accepted.iter().filter(|a| **a).count() as u64;
    let received_acked: u64 = accepted
        .iter()
        .enumerate()
        .filter(|(_, a)| **a)
        .map(|(n, _)| u64::from(m.received.get(n).copied().unwrap_or(0)))
        .sum();
    let expected = acked * connections as u64;
    let q = |q: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(q) as f64 / 1000.0
        }
    };
    Ok(NodeReport {
        node,
        connections,
        delivered: m.delivered,
        expected,
        lost: expected.saturating_sub(received_acked),
        duplicated: m.duplicated,
        out_of_order: m.out_of_order,
        gap_filled: m.gap_filled,
        deliveries_per_sec: m.delivered as f64 / secs,
        frames_per_sec: m.frames as f64 / secs,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: if hist.is_empty() {
            0.0
        } else {
            hist.max() as f64 / 1000.0
        },
        cpu_percent,
    })
}

/// What the sender saw.
struct Sent {
    sent: u64,
    /// `accepted[n]`: message number `n` was acknowledged.
    accepted: Vec<bool>,
    /// `refused[n]`: message number `n` was answered with an error.
    refused: Vec<bool>,
    rejected: u64,
    rejected_codes: std::collections::BTreeMap<u32, u64>,
    /// Send → acknowledgement, µs.
    ack_us: Histogram<u64>,
}

/// Connects the sender to `addr` (logged in and in the room for Liveroom; Socket.IO needs
/// neither) and sends `rate × seconds` numbered texts at `rate`, timing each until its
/// acknowledgement; waits up to 30 s for the last ones (an overloaded node answers late).
async fn send_all(
    kind: Kind,
    addr: SocketAddr,
    room: String,
    rate: u32,
    seconds: u64,
    sig: String,
) -> anyhow::Result<Sent> {
    let protocol = kind.protocol();
    let mut ws = match protocol {
        Protocol::Socketio => socketio::connect(addr, source_ip(0)).await?,
        Protocol::Liveroom => {
            let mut ws = RawWs::connect(addr, source_ip(0)).await?;
            call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
            let login = json!({"id": 2, "op": "login", "user_id": "sender", "user_sig": sig});
            call(&mut ws, &login).await?;
            call(
                &mut ws,
                &json!({"id": 3, "op": "enter_room", "room_id": room}),
            )
            .await?;
            ws
        }
    };
    // Request ids of the sends: 1000 + n, clear of the setup's.
    const BASE: u64 = 1000;
    let total = u64::from(rate) * seconds;
    let mut out = Sent {
        sent: 0,
        accepted: vec![false; total as usize + 1],
        refused: vec![false; total as usize + 1],
        rejected: 0,
        rejected_codes: Default::default(),
        ack_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
    };
    let mut pending: HashMap<u64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0u64;
    let mut last_deadline = None;
    loop {
        if n == total {
            let deadline =
                *last_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
        }
        let (mut pings, mut answers) = (0, Vec::new());
        let fire = tokio::select! {
            _ = tick.tick(), if n < total => true,
            read = ws.next_frames(|f| match answer(protocol, f) {
                Answer::Ping => pings += 1,
                Answer::Reply(id, code) => answers.push((id, code)),
                Answer::None => {}
            }) => {
                if matches!(read?, Read::Closed) {
                    bail!("the sender's node closed its connection");
                }
                false
            }
            _ = tokio::time::sleep(Duration::from_millis(100)), if n == total => false,
        };
        let now = Instant::now();
        for (id, code) in answers {
            let Some(at) = pending.remove(&id) else {
                continue;
            };
            let num = id.saturating_sub(BASE) as usize;
            if code.is_none() {
                if let Some(slot) = out.accepted.get_mut(num) {
                    *slot = true;
                }
                let _ = out
                    .ack_us
                    .record(now.duration_since(at).as_micros().max(1) as u64);
            } else {
                if let Some(slot) = out.refused.get_mut(num) {
                    *slot = true;
                }
                out.rejected += 1;
                *out.rejected_codes.entry(code.unwrap_or(0)).or_insert(0) += 1;
            }
        }
        for _ in 0..pings {
            ws.send_text(socketio::PONG).await?;
        }
        if fire {
            n += 1;
            let text = format!("t{}:N{n}", now_micros());
            let id = BASE + n;
            let frame = match protocol {
                Protocol::Liveroom => json!({"id": id, "op": "send_text", "room_id": room, "text": text, "priority": "Normal"}).to_string(),
                Protocol::Socketio => socketio::emit(id, "send", &json!({"room": room, "text": text})),
            };
            pending.insert(id, Instant::now());
            ws.send_text(&frame).await?;
            out.sent += 1;
        }
    }
    Ok(out)
}

/// What a frame the sender receives means to it.
enum Answer {
    Ping,
    /// The answer to request `id`: accepted (`None`) or refused with an error code (0: a
    /// refusal without one).
    Reply(u64, Option<u32>),
    None,
}

fn answer(protocol: Protocol, f: &[u8]) -> Answer {
    match protocol {
        Protocol::Socketio => match socketio::packet(f) {
            socketio::Packet::Ping => Answer::Ping,
            socketio::Packet::Ack(id) => Answer::Reply(id, None),
            _ => Answer::None,
        },
        Protocol::Liveroom => {
            let (rest, ok) = if let Some(r) = f.strip_prefix(b"{\"t\":\"reply\",\"id\":") {
                (r, true)
            } else if let Some(r) = f.strip_prefix(b"{\"t\":\"error\",\"id\":") {
                (r, false)
            } else {
                return Answer::None;
            };
            let Some(id) = leading_number(rest) else {
                return Answer::None;
            };
            if ok {
                return Answer::Reply(id, None);
            }
            let code = rest
                .windows(7)
                .position(|w| w == b"\"code\":")
                .and_then(|at| leading_number(&rest[at + 7..]))
                .and_then(|c| u32::try_from(c).ok());
            Answer::Reply(id, Some(code.unwrap_or(0)))
        }
    }
}

/// The number `bytes` start with.
fn leading_number(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_viewers_evenly() {
        assert_eq!(shares(57_000, 3), [19_000, 19_000, 19_000]);
        assert_eq!(shares(200, 3), [67, 67, 66]);
        assert_eq!(shares(5, 1), [5]);
    }

    #[test]
    fn reads_the_senders_answers() {
        let ok = br#"{"t":"reply","id":1042,"data":{"message":{}}}"#;
        assert!(matches!(
            answer(Protocol::Liveroom, ok),
            Answer::Reply(1042, None)
        ));
        let refused = br#"{"t":"error","id":1043,"code":10016,"message":"x"}"#;
        assert!(matches!(
            answer(Protocol::Liveroom, refused),
            Answer::Reply(1043, Some(10016))
        ));
        let pushed = br#"{"t":"messages","room":"r","list":[]}"#;
        assert!(matches!(answer(Protocol::Liveroom, pushed), Answer::None));
        assert!(matches!(
            answer(Protocol::Socketio, b"431001[{}]"),
            Answer::Reply(1001, None)
        ));
        assert!(matches!(answer(Protocol::Socketio, b"2"), Answer::Ping));
    }
}
