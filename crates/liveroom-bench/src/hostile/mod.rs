//! `liveroom-bench hostile`: the attacks of issue 11 (items 1–6), each against a fresh server,
//! and what held: accepted counts, memory growth, time to close, descriptors freed. The
//! socket-level attacks (not reading, ping floods, sockets without a handshake) also run
//! against the Node.js `ws` baseline; it has no logins, rooms or uploads, so the others do not.
//!
//! The bench never fails because a limit did not hold: it reports what it measured. Every
//! attack is bounded in time and count, so a server that holds on to everything costs the
//! bench its bounds, not forever.

mod bombs;
mod flood;
mod pings;
mod rooms;
mod sockets;
mod stall;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::procstat;
use crate::server::{self, BenchServer, Target};
use crate::Which;

/// Flags of `liveroom-bench hostile`.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Small counts and short timeouts: a smoke test of a few seconds per attack.
    #[arg(long)]
    pub smoke: bool,
    /// Only these attacks (comma-separated); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Attack>,
    /// Which servers; `both` adds the Node.js baseline where the attack applies.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub target: Which,
    /// Print JSON (one line per attack) instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The attacks, in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// 1. One member floods a room at High, logging in again every 20 sends.
    Flood,
    /// 2. Viewers with a tiny receive buffer that never read; kick, ban, SIGTERM.
    Stall,
    /// 3. Pings from a client that never reads the pongs.
    Pings,
    /// 4. Connections that never finish a request: bare, slowloris, stalled upload.
    Sockets,
    /// 5. One user creating thousands of rooms.
    Rooms,
    /// 6. Small pictures declaring a 7000×7000 canvas, uploaded at once.
    Bombs,
}

const ALL: [Attack; 6] = [
    Attack::Flood,
    Attack::Stall,
    Attack::Pings,
    Attack::Sockets,
    Attack::Rooms,
    Attack::Bombs,
];

/// Sizes and timeouts of a run: the real attacks, or a smoke test.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub smoke: bool,
    /// `--write-timeout` given to our server, seconds.
    pub write_timeout: u64,
    /// `--handshake-timeout`, seconds.
    pub handshake_timeout: u64,
    /// `--upload-idle-timeout`, seconds.
    pub upload_idle_timeout: u64,
    /// `--shutdown-grace`, seconds.
    pub shutdown_grace: u64,
}

impl Scale {
    fn new(smoke: bool) -> Self {
        if smoke {
            Self {
                smoke,
                write_timeout: 1,
                handshake_timeout: 1,
                upload_idle_timeout: 2,
                shutdown_grace: 2,
            }
        } else {
            // The documented defaults, given explicitly so that the report can name them.
            Self {
                smoke,
                write_timeout: 5,
                handshake_timeout: 5,
                upload_idle_timeout: 10,
                shutdown_grace: 10,
            }
        }
    }

    /// The hardening settings of issue 11 this run configures; each is passed only if the
    /// server lists it in `--help` (servers from before the fixes lack them).
    fn hardening(&self) -> Vec<(&'static str, String)> {
        vec![
            ("--write-timeout", self.write_timeout.to_string()),
            ("--handshake-timeout", self.handshake_timeout.to_string()),
            (
                "--upload-idle-timeout",
                self.upload_idle_timeout.to_string(),
            ),
            ("--shutdown-grace", self.shutdown_grace.to_string()),
            ("--max-decodes", "2".into()),
            // One attacker is one address: keep the default cap (loopback load lifts it).
            ("--max-connections-per-ip", "256".into()),
        ]
    }
}

/// One attack's results, ours beside the baseline.
#[derive(Debug, Serialize)]
pub struct AttackReport {
    pub scenario: &'static str,
    pub attack: &'static str,
    /// What the bench did.
    pub what: String,
    /// What should hold (issue 11).
    pub goal: String,
    /// Flags our server was started with.
    pub settings: Vec<String>,
    /// Hardening flags this server build does not have (not passed).
    pub unsupported: Vec<String>,
    pub rows: Vec<Row>,
}

/// One figure for each server (`null`: does not apply or not run).
#[derive(Debug, Serialize)]
pub struct Row {
    pub figure: String,
    pub liveroom: Value,
    #[serde(rename = "node-ws")]
    pub node: Value,
}

/// Named figures of one server, in report order.
pub type Figures = Vec<(String, Value)>;

/// Pairs ours with the baseline's figures of the same names.
fn rows(ours: Figures, node: Option<Figures>) -> Vec<Row> {
    let mut rows: Vec<Row> = ours
        .into_iter()
        .map(|(figure, liveroom)| Row {
            figure,
            liveroom,
            node: Value::Null,
        })
        .collect();
    for (figure, value) in node.into_iter().flatten() {
        match rows.iter_mut().find(|r| r.figure == figure) {
            Some(r) => r.node = value,
            None => rows.push(Row {
                figure,
                liveroom: Value::Null,
                node: value,
            }),
        }
    }
    rows
}

/// A server for one attack: ours with the hardening settings and `extra`, or the baseline.
pub struct Started {
    pub server: BenchServer,
    pub settings: Vec<String>,
    pub unsupported: Vec<String>,
}

impl Started {
    pub fn pid(&self) -> u32 {
        // Always Some: hostile never uses a remote server.
        self.server.pid.unwrap_or(0)
    }
}

fn start(target: Target, scale: &Scale, extra: &[&str]) -> anyhow::Result<Started> {
    let (mut settings, unsupported) = match target {
        Target::Liveroom => server::supported_args(&scale.hardening())?,
        Target::Node => (Vec::new(), Vec::new()),
    };
    settings.extend(extra.iter().map(|s| s.to_string()));
    let server = BenchServer::start_logged(target, None, &settings, "error")?;
    Ok(Started {
        server,
        settings,
        unsupported,
    })
}

/// Runs the chosen attacks and prints each report as it is done.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let scale = Scale::new(args.smoke);
    let attacks: Vec<Attack> = if args.only.is_empty() {
        ALL.to_vec()
    } else {
        ALL.into_iter().filter(|a| args.only.contains(a)).collect()
    };
    for attack in attacks {
        let report = run_one(attack, &scale, args.target).await?;
        print(&report, args.json);
    }
    Ok(())
}

async fn run_one(attack: Attack, scale: &Scale, which: Which) -> anyhow::Result<AttackReport> {
    let ours = which != Which::Node;
    let node = which != Which::Liveroom;
    let socket_level = matches!(attack, Attack::Stall | Attack::Pings | Attack::Sockets);
    let run = |target| async move {
        match attack {
            Attack::Flood => flood::run(target, scale).await,
            Attack::Stall => stall::run(target, scale).await,
            Attack::Pings => pings::run(target, scale).await,
            Attack::Sockets => sockets::run(target, scale).await,
            Attack::Rooms => rooms::run(target, scale).await,
            Attack::Bombs => bombs::run(target, scale).await,
        }
    };
    let mine = if ours {
        Some(run(Target::Liveroom).await?)
    } else {
        None
    };
    let theirs = if node && socket_level {
        Some(run(Target::Node).await?)
    } else {
        None
    };
    let (what, goal) = describe(attack, scale);
    let (settings, unsupported) = mine
        .as_ref()
        .map(|m| (m.settings.clone(), m.unsupported.clone()))
        .unwrap_or_default();
    Ok(AttackReport {
        scenario: "hostile",
        attack: name(attack),
        what,
        goal,
        settings,
        unsupported,
        rows: rows(
            mine.map(|m| m.figures).unwrap_or_default(),
            theirs.map(|t| t.figures),
        ),
    })
}

/// What one attack measured on one server.
pub struct Outcome {
    pub figures: Figures,
    pub settings: Vec<String>,
    pub unsupported: Vec<String>,
}

impl Outcome {
    fn new(started: &Started, figures: Figures) -> Self {
        Self {
            figures,
            settings: started.settings.clone(),
            unsupported: started.unsupported.clone(),
        }
    }
}

fn name(attack: Attack) -> &'static str {
    match attack {
        Attack::Flood => "1. flood",
        Attack::Stall => "2. not reading",
        Attack::Pings => "3. ping flood",
        Attack::Sockets => "4. sockets without handshake",
        Attack::Rooms => "5. room creation",
        Attack::Bombs => "6. decode bombs",
    }
}

fn describe(attack: Attack, scale: &Scale) -> (String, String) {
    match attack {
        Attack::Flood => (
            format!(
                "one member sends High, pipelined, and every 20 sends logs out and in (or \
                 reconnects) for {} s into a 40 msg/s room; an honest member sends Normal at \
                 {}/s meanwhile",
                flood::seconds(scale),
                flood::HONEST_RATE
            ),
            "the attacker gets at most its user rate (10/s, burst 20) however it reconnects; \
             the honest sender is not starved"
                .into(),
        ),
        Attack::Stall => (
            format!(
                "viewers with a {}-byte receive buffer enter a room flooded with {}-byte \
                 messages and never read; one is left alone, one kicked, one banned; then \
                 SIGTERM with one stalled",
                stall::RECV_BUFFER,
                stall::TEXT_BYTES
            ),
            "a stalled write is cut off after its deadline (write timeout) and the socket \
             freed; kick and ban act at once; SIGTERM ends within the grace period"
                .into(),
        ),
        Attack::Pings => (
            format!(
                "{} pings of 125 bytes from a client that never reads the pongs",
                pings::count(scale)
            ),
            "bounded write buffer: the server's memory stays flat however many pings (pongs \
             it cannot write do not pile up)"
                .into(),
        ),
        Attack::Sockets => (
            format!(
                "{} TCP connections from one address that never send a request; a slowloris \
                 header (a byte a second); an upload whose body stalls",
                sockets::count(scale)
            ),
            "handshake timeout, upload idle timeout and per-address cap: none is held past \
             its timeout; the descriptors come back"
                .into(),
        ),
        Attack::Rooms => (
            format!(
                "{} create_room calls by one user, pipelined",
                rooms::count(scale)
            ),
            "room creation is rate- and count-limited per user; rooms cost memory only with \
             members"
                .into(),
        ),
        Attack::Bombs => (
            format!(
                "{} concurrent uploads of a {}-byte GIF, then of a small PNG, each declaring \
                 7000×7000",
                bombs::count(scale),
                bombs::gif(0).len(),
            ),
            "a pixel limit before decoding, decodes bounded in number: memory stays bounded".into(),
        ),
    }
}

/// Prints one attack: a table of ours beside the baseline, or a JSON line.
pub fn print(report: &AttackReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
        return;
    }
    println!("\n== hostile {}: {} ==", report.attack, report.what);
    println!("goal: {}", report.goal);
    if report.settings.is_empty() {
        println!("liveroom-server with its defaults");
    } else {
        println!("liveroom-server {}", report.settings.join(" "));
    }
    if !report.unsupported.is_empty() {
        println!(
            "not in this server build (not passed): {}",
            report.unsupported.join(" ")
        );
    }
    let has_node = report.rows.iter().any(|r| !r.node.is_null());
    let name_w = report
        .rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let width = |get: fn(&Row) -> &Value, title: &str| {
        report
            .rows
            .iter()
            .map(|r| cell(get(r)).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
            + 3
    };
    let ours_w = width(|r| &r.liveroom, "liveroom");
    let node_w = width(|r| &r.node, "node-ws");
    let mut header = format!("{:<name_w$}{:>ours_w$}", "", "liveroom");
    if has_node {
        header.push_str(&format!("{:>node_w$}", "node-ws"));
    }
    println!("{header}");
    for r in &report.rows {
        let mut line = format!("{:<name_w$}{:>ours_w$}", r.figure, cell(&r.liveroom));
        if has_node {
            line.push_str(&format!("{:>node_w$}", cell(&r.node)));
        }
        println!("{line}");
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        // Floats as they were rounded (`mib`, `secs`), integers as they are.
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: i64) -> Value {
    Value::from((bytes as f64 / 1048576.0 * 10.0).round() / 10.0)
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> Value {
    Value::from((d.as_secs_f64() * 100.0).round() / 100.0)
}

/// The server's resident memory now, in bytes (0 if it is gone).
pub fn rss(pid: u32) -> i64 {
    procstat::sample(pid).map_or(0, |s| s.rss_bytes as i64)
}

/// The server's open file descriptors now (0 if it is gone).
pub fn fds(pid: u32) -> i64 {
    procstat::open_fds(pid).map_or(0, |n| n as i64)
}

/// Samples the server's RSS every 50 ms until dropped; `peak()` is the highest seen.
pub struct PeakRss {
    peak: std::sync::Arc<std::sync::atomic::AtomicI64>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    pub fn start(pid: u32) -> Self {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(rss(pid)));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                p.fetch_max(rss(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { peak, task }
    }

    pub fn peak(&self) -> i64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed).max(0)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.task.abort();
    }
}
