//! `liveroom-bench`: measures the room server and prints its figures (a table, or JSON).
//!
//! Scenarios (`liveroom-bench SCENARIO --help` for each):
//! - `latency`: one sender, N receiving engines; send→receive latency.
//! - `fanout`: one room, N viewers, R msgs/s; deliveries, loss, latency, server CPU and memory.
//! - `burst`: 1,000 msgs/s of mixed priorities for 5 s; the budget's drop order.
//! - `idle`: N connections, no messages; server memory per connection.
//! - `churn`: hundreds of joins and leaves per second while chatting.
//! - `slow`: some viewers stop reading; memory stays bounded, others' latency holds.
//! - `all`: every scenario, ours beside the Node.js `ws` baseline, then `hostile` (`--smoke` for
//!   a quick run, which adds the smoke forms of `soak` and `cluster`).
//! - `images`: upload throughput and thumbnail time.
//! - `hostile`: the attacks of issue 11 and the limits that held, ours beside the baseline.
//! - `soak`: a room under steady load for many minutes; memory and open files sampled.
//! - `cluster`: one room on N nodes sharing Redis (optionally one node killed mid-run), beside
//!   Socket.IO with its Redis Streams adapter on as many Node.js processes.
//! - `rest`: issue 14's targets: `send_group_msg` through the REST API beside the WebSocket
//!   send, a before-send webhook answering in 1 ms or never, fan-out with the webhook backend
//!   down.
//!
//! Without `--server`, each run starts its own server binary on a free loopback port
//! (`--server-bin` chooses which binary, e.g. an older build to compare with).

mod cluster;
mod cluster_report;
mod cluster_viewer;
mod conn;
mod fanout;
mod hook_receiver;
mod hostile;
mod images;
mod latency;
mod paced;
mod procstat;
mod rawws;
mod report;
mod rest;
mod server;
mod soak;
mod socketio;
mod worker;

use clap::{Parser, Subcommand};

use crate::fanout::Params;
use crate::server::Target;

#[derive(Parser)]
#[command(version, about = "Benchmarks of the Liveroom room server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// The liveroom-server binary to start (default: the one next to this executable).
    #[arg(long, global = true)]
    server_bin: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Viewer connections.
    #[arg(long)]
    viewers: Option<usize>,
    /// Messages per second (all senders).
    #[arg(long)]
    rate: Option<u32>,
    /// Seconds of sending.
    #[arg(long)]
    seconds: Option<u64>,
    /// Sender connections.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Which server to measure; `both` runs ours and the Node.js baseline side by side.
    #[arg(long, value_enum, default_value_t = Which::Liveroom)]
    target: Which,
    /// Use a running server (ws://HOST:PORT) that knows the bench app.
    #[arg(long)]
    server: Option<String>,
    /// Record latency on one viewer in this many.
    #[arg(long, default_value_t = 10)]
    sample_every: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    Liveroom,
    Node,
    Both,
}

#[derive(Subcommand)]
enum Scenario {
    /// One sender, N receiving engines: latency from send to receive.
    Latency(latency::Args),
    /// N viewers at R msgs/s (default 1000 × 40 for 10 s).
    Fanout(Common),
    /// R = 1,000 msgs/s of mixed priorities for 5 s into the default budget.
    Burst(Common),
    /// N connections and no messages (default 19,000).
    Idle(Common),
    /// Joins and leaves while chatting.
    Churn {
        #[command(flatten)]
        common: Common,
        /// Joins (and leaves) per second.
        #[arg(long, default_value_t = 200)]
        churn: u32,
    },
    /// Some viewers stop reading.
    Slow {
        #[command(flatten)]
        common: Common,
        /// Viewers that never read.
        #[arg(long, default_value_t = 100)]
        slow: usize,
    },
    /// Every scenario, ours and the baseline, then `hostile` (and `soak --smoke` and
    /// `cluster --smoke` with `--smoke`).
    All {
        /// Small numbers, a few seconds each: a smoke test.
        #[arg(long)]
        smoke: bool,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Picture upload throughput and thumbnail time.
    Images(images::Args),
    /// The attacks of issue 11 (flood, not reading, pings, bare sockets, rooms, decode bombs).
    Hostile(hostile::Args),
    /// Long steady load (default 30 min, 5,000 viewers): memory, open files, every delivery.
    Soak(soak::Args),
    /// One room on N nodes sharing Redis (default 3 nodes, 57,000 viewers, 40 msg/s, 20 s),
    /// beside Socket.IO with the Redis Streams adapter.
    Cluster(cluster::Args),
    /// Issue 14: REST `send_group_msg` beside the WebSocket send (`api`), a before-send webhook
    /// answering in 1 ms or never (`before-send`), fan-out with the webhook backend down
    /// (`backend-down`); all three by default.
    Rest(rest::Args),
    /// (internal) a viewer process.
    #[command(hide = true)]
    Worker(worker::Args),
    /// (internal) a viewer process of the cluster scenario.
    #[command(hide = true)]
    ClusterWorker(cluster_viewer::Args),
}

fn params(scenario: &'static str, c: &Common, viewers: usize, rate: u32, seconds: u64) -> Params {
    Params {
        scenario,
        target: Target::Liveroom,
        server: c.server.clone(),
        viewers: c.viewers.unwrap_or(viewers),
        rate: c.rate.unwrap_or(rate),
        seconds: c.seconds.unwrap_or(seconds),
        senders: c.senders,
        mixed_priorities: scenario == "burst",
        slow: 0,
        churn_per_sec: 0,
        sample_every: c.sample_every,
    }
}

async fn run_targets(p: Params, which: Which, json: bool) -> anyhow::Result<()> {
    let targets = match which {
        Which::Liveroom => vec![Target::Liveroom],
        Which::Node => vec![Target::Node],
        Which::Both => vec![Target::Liveroom, Target::Node],
    };
    let mut reports = Vec::new();
    for t in targets {
        reports.push(
            fanout::run(Params {
                target: t,
                ..p.clone()
            })
            .await?,
        );
    }
    report::print(&reports, json);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(bin) = cli.server_bin.clone() {
        server::set_server_binary(bin);
    }
    // A viewer worker is one thread: the orchestrator starts one per core or more, and a
    // single-threaded reader spends nothing on work stealing and cross-thread wake-ups
    // (measured: 15-25 % more frames/s through the same server).
    let rt = if matches!(
        cli.scenario,
        Scenario::Worker(_) | Scenario::ClusterWorker(_)
    ) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    rt.block_on(async move {
        match cli.scenario {
            Scenario::Latency(args) => latency::run(args).await,
            Scenario::Worker(args) => worker::run(args).await,
            Scenario::ClusterWorker(args) => cluster_viewer::run(args).await,
            Scenario::Cluster(args) => cluster::run(args).await,
            Scenario::Images(args) => images::run(args).await,
            Scenario::Hostile(args) => hostile::run(args).await,
            Scenario::Soak(args) => soak::run(args).await,
            Scenario::Rest(args) => rest::run(args).await,
            Scenario::Fanout(c) => {
                run_targets(params("fanout", &c, 1000, 40, 10), c.target, c.json).await
            }
            Scenario::Burst(c) => {
                run_targets(params("burst", &c, 100, 1000, 5), c.target, c.json).await
            }
            Scenario::Idle(c) => {
                run_targets(params("idle", &c, 19_000, 0, 0), c.target, c.json).await
            }
            Scenario::Churn { common, churn } => {
                let p = Params {
                    churn_per_sec: churn,
                    ..params("churn", &common, 1000, 40, 10)
                };
                run_targets(p, common.target, common.json).await
            }
            Scenario::Slow { common, slow } => {
                let p = Params {
                    slow,
                    ..params("slow", &common, 1000, 40, 10)
                };
                run_targets(p, common.target, common.json).await
            }
            Scenario::All { smoke, json } => report::all(smoke, json).await,
        }
    })
}
