//! `liveroom-bench soak`: one room held for a long time under steady load (viewers, a sender,
//! joins and leaves, a few viewers that never read), the server's memory and open files
//! sampled at a fixed period; at the end, every reading viewer's count of messages against
//! what was sent. Memory and files should be flat after warm-up, and nothing lost.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::Serialize;
use serde_json::json;

use crate::conn::{source_ip, Conn};
use crate::fanout::{self, Collected, Counts};
use crate::procstat;
use crate::server::BenchServer;

/// Flags of `liveroom-bench soak`.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Minutes of load (fractions allowed).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Viewer connections.
    #[arg(long, default_value_t = 5000)]
    pub viewers: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 40)]
    pub rate: u32,
    /// Joins (and as many leaves) per second.
    #[arg(long, default_value_t = 100)]
    pub churn: u32,
    /// Viewers (of `--viewers`) that never read.
    #[arg(long, default_value_t = 5)]
    pub slow: usize,
    /// Seconds between two samples of the server's memory and open files.
    #[arg(long, default_value_t = 60)]
    pub sample_secs: u64,
    /// A few seconds with few viewers: a smoke test (overrides the numbers above).
    #[arg(long)]
    pub smoke: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One sample of the server.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub at_secs: u64,
    pub rss_bytes: u64,
    pub open_fds: usize,
    /// CPU since the previous sample, % of one core.
    pub cpu_percent: f64,
    /// Sends accepted so far.
    pub accepted: u64,
    /// Churn joins so far.
    pub churn_joins: u64,
}

/// What a soak measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub target: &'static str,
    pub seconds: u64,
    pub viewers: usize,
    pub connections: usize,
    pub rate: u32,
    pub churn_per_sec: u32,
    pub never_reading: usize,
    pub series: Vec<Sample>,
    pub sent: u64,
    pub rejected: u64,
    /// Messages each reading viewer should have: every send the server did not refuse.
    pub expected_per_viewer: u64,
    pub reading_viewers: usize,
    /// Reading viewers that received exactly `expected_per_viewer`.
    pub viewers_complete: usize,
    pub fewest_delivered: u64,
    pub most_delivered: u64,
    pub delivered: u64,
    pub expected: u64,
    pub lost: u64,
    /// Reading viewers the server closed before the end.
    pub closed_early: u64,
    pub churn_joins: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// RSS at the first sample after warm-up (a fifth of the run) and at the last one under
    /// load.
    pub rss_after_warmup_bytes: u64,
    pub rss_last_bytes: u64,
    pub fds_after_warmup: usize,
    pub fds_last: usize,
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.smoke {
        args = Args {
            minutes: 8.0 / 60.0,
            viewers: 100,
            rate: 40,
            churn: 20,
            slow: 2,
            sample_secs: 2,
            ..args
        };
    }
    let report = soak(&args).await?;
    print(&report, args.json);
    Ok(())
}

async fn soak(a: &Args) -> anyhow::Result<Report> {
    let seconds = (a.minutes * 60.0).round().max(1.0) as u64;
    let server = BenchServer::start(None, &["--user-rate".into(), "1000000".into()])?;
    let pid = server.pid.ok_or_else(|| anyhow!("no server process"))?;
    let mut host = Conn::connect(&server.url, source_ip(0)).await?;
    host.request(json!({"op": "login", "user_id": "host", "user_sig": server.sig("host")}))
        .await?;
    let room = host
        .request(json!({"op": "create_room", "name": "soak"}))
        .await?["groupID"]
        .as_str()
        .ok_or_else(|| anyhow!("create_room gave no groupID"))?
        .to_owned();
    drop(host);

    let mut workers = fanout::spawn_workers(&server.url, &room, a.viewers, a.slow, 10)?;
    let connections = fanout::wait_ready(&mut workers).await?;

    let counts = Arc::new(Counts::default());
    let mut sender = Conn::connect(&server.url, source_ip(0)).await?;
    sender
        .request(json!({"op": "login", "user_id": "sender", "user_sig": server.sig("sender")}))
        .await?;
    sender
        .request(json!({"op": "enter_room", "room_id": room}))
        .await?;
    let series: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let (series, counts) = (series.clone(), counts.clone());
        let period = Duration::from_secs(a.sample_secs.max(1));
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(period);
            let mut prev = procstat::sample(pid);
            loop {
                tick.tick().await;
                let now = procstat::sample(pid);
                let cpu = match (&prev, &now) {
                    (Some(p), Some(n)) => procstat::cpu_percent(p, n),
                    _ => 0.0,
                };
                let s = Sample {
                    at_secs: t0.elapsed().as_secs(),
                    rss_bytes: now.map_or(0, |s| s.rss_bytes),
                    open_fds: procstat::open_fds(pid).unwrap_or(0),
                    cpu_percent: cpu,
                    accepted: counts
                        .accepted
                        .iter()
                        .map(|c| c.load(Ordering::Relaxed))
                        .sum(),
                    churn_joins: counts.churn_joins.load(Ordering::Relaxed),
                };
                if let Ok(mut series) = series.lock() {
                    series.push(s);
                }
                prev = now;
            }
        })
    };
    let churn = tokio::spawn(fanout::churn_loop(
        server.url.clone(),
        room.clone(),
        a.churn,
        seconds,
        counts.clone(),
    ));
    fanout::send_loop(
        sender,
        room.clone(),
        f64::from(a.rate),
        seconds,
        false,
        0,
        counts.clone(),
    )
    .await?;
    churn.await?;
    // The last deliveries, then one more sample with the load gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sampler.abort();
    let mut series = series.lock().map(|s| s.clone()).unwrap_or_default();
    if let Some(now) = procstat::sample(pid) {
        series.push(Sample {
            at_secs: seconds + 3,
            rss_bytes: now.rss_bytes,
            open_fds: procstat::open_fds(pid).unwrap_or(0),
            cpu_percent: 0.0,
            accepted: counts
                .accepted
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum(),
            churn_joins: counts.churn_joins.load(Ordering::Relaxed),
        });
    }
    let Collected {
        delivered,
        closed_early,
        hist,
        per_viewer,
        ..
    } = fanout::collect(workers).await?;

    let sent: u64 = counts.sent.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let rejected = counts.rejected.load(Ordering::Relaxed);
    let expected_per_viewer = sent.saturating_sub(rejected);
    let reading_viewers = per_viewer.len();
    let expected = expected_per_viewer * reading_viewers as u64;
    let warm = series
        .iter()
        .find(|s| s.at_secs >= seconds / 5)
        .or(series.first())
        .cloned();
    // The last sample under load (the final one is taken after it stopped).
    let last = series
        .iter()
        .rev()
        .find(|s| s.at_secs <= seconds)
        .or(series.last())
        .cloned();
    let ms = |us: u64| us as f64 / 1000.0;
    let q = |quantile: f64| {
        if hist.is_empty() {
            0.0
        } else {
            ms(hist.value_at_quantile(quantile))
        }
    };
    Ok(Report {
        scenario: "soak",
        target: "liveroom",
        seconds,
        viewers: a.viewers,
        connections,
        rate: a.rate,
        churn_per_sec: a.churn,
        never_reading: a.slow,
        sent,
        rejected,
        expected_per_viewer,
        reading_viewers,
        viewers_complete: per_viewer
            .iter()
            .filter(|&&d| d == expected_per_viewer)
            .count(),
        fewest_delivered: per_viewer.iter().copied().min().unwrap_or(0),
        most_delivered: per_viewer.iter().copied().max().unwrap_or(0),
        delivered,
        expected,
        lost: expected.saturating_sub(delivered),
        closed_early,
        churn_joins: counts.churn_joins.load(Ordering::Relaxed),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: if hist.is_empty() { 0.0 } else { ms(hist.max()) },
        rss_after_warmup_bytes: warm.as_ref().map_or(0, |s| s.rss_bytes),
        rss_last_bytes: last.as_ref().map_or(0, |s| s.rss_bytes),
        fds_after_warmup: warm.as_ref().map_or(0, |s| s.open_fds),
        fds_last: last.as_ref().map_or(0, |s| s.open_fds),
        series,
    })
}

/// Prints the series and the delivery check, or the report as one JSON line.
pub fn print(r: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "\n== soak: {} viewers ({} never reading), {} msg/s, {} joins and leaves/s, {} s ==",
        r.viewers, r.never_reading, r.rate, r.churn_per_sec, r.seconds
    );
    println!(
        "{:>8} {:>10} {:>10} {:>8} {:>10} {:>12}",
        "at s", "RSS MiB", "open fds", "CPU %", "accepted", "churn joins"
    );
    for s in &r.series {
        println!(
            "{:>8} {:>10.1} {:>10} {:>8.0} {:>10} {:>12}",
            s.at_secs,
            mib(s.rss_bytes),
            s.open_fds,
            s.cpu_percent,
            s.accepted,
            s.churn_joins
        );
    }
    println!(
        "after warm-up, under load: RSS {:.1} → {:.1} MiB, open fds {} → {}",
        mib(r.rss_after_warmup_bytes),
        mib(r.rss_last_bytes),
        r.fds_after_warmup,
        r.fds_last
    );
    println!(
        "sent {}, refused {}: expected per reading viewer {}",
        r.sent, r.rejected, r.expected_per_viewer
    );
    println!(
        "reading viewers {} of {} connected: {} got every message; fewest {}, most {}",
        r.reading_viewers, r.connections, r.viewers_complete, r.fewest_delivered, r.most_delivered
    );
    println!(
        "delivered {} of {} (lost {}); reading viewers closed early {}; churn joins {}",
        r.delivered, r.expected, r.lost, r.closed_early, r.churn_joins
    );
    println!(
        "latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        r.p50_ms, r.p99_ms, r.max_ms
    );
}
