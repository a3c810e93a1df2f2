//! Prints reports as tables (ours beside the baseline, with their ratio) or JSON, and runs the
//! whole suite.

use serde::Serialize;

use crate::fanout::{self, Params, Report};
use crate::paced::Row;
use crate::server::Target;

/// Prints one scenario's reports (one per target).
pub fn print(reports: &[Report], json: bool) {
    if json {
        for r in reports {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return;
    }
    let Some(first) = reports.first() else { return };
    println!(
        "\n== {}: {} viewers, {} msg/s for {} s ==",
        first.scenario, first.viewers, first.rate, first.seconds
    );
    let mut header = format!("{:<26}", "");
    for r in reports {
        header.push_str(&format!("{:>16}", r.target));
    }
    if reports.len() == 2 {
        header.push_str(&format!("{:>12}", "ratio"));
    }
    println!("{header}");
    type Row = (&'static str, fn(&Report) -> f64);
    let rows: [Row; 15] = [
        ("connections", |r| r.connections as f64),
        ("messages accepted", |r| r.accepted as f64),
        ("messages rejected", |r| r.rejected as f64),
        ("delivered", |r| r.delivered as f64),
        ("expected", |r| r.expected as f64),
        ("lost", |r| r.lost as f64),
        ("deliveries/s", |r| r.deliveries_per_sec),
        ("frames/s", |r| {
            r.frames as f64 * r.deliveries_per_sec / r.delivered.max(1) as f64
        }),
        ("messages per frame", |r| {
            r.delivered as f64 / r.frames.max(1) as f64
        }),
        ("latency p50 ms", |r| r.p50_ms),
        ("latency p99 ms", |r| r.p99_ms),
        ("latency max ms", |r| r.max_ms),
        ("server CPU %", |r| r.server_cpu_percent),
        ("server RSS MiB (peak)", |r| {
            r.server_rss_peak_bytes as f64 / 1048576.0
        }),
        ("bytes per idle connection", |r| r.bytes_per_connection),
    ];
    for (name, get) in rows {
        let mut line = format!("{name:<26}");
        for r in reports {
            line.push_str(&format!("{:>16.1}", get(r)));
        }
        if let [a, b] = reports {
            let (x, y) = (get(a), get(b));
            if x > 0.0 && y > 0.0 {
                line.push_str(&format!("{:>11.2}x", y / x));
            }
        }
        println!("{line}");
    }
    if first.scenario == "burst" || first.scenario == "slow" || first.scenario == "churn" {
        for r in reports {
            println!(
                "{}: by priority {}, slow viewers {}, closed early {}, churn joins {}",
                r.target,
                serde_json::Value::from(r.by_priority.clone()),
                r.slow_viewers,
                r.closed_early,
                r.churn_joins
            );
        }
    }
}

/// Every scenario, ours beside the baseline.
pub async fn all(smoke: bool, json: bool) -> anyhow::Result<()> {
    let base = Params {
        scenario: "fanout",
        target: Target::Liveroom,
        server: None,
        viewers: 1000,
        rate: 40,
        seconds: 10,
        senders: 1,
        mixed_priorities: false,
        slow: 0,
        churn_per_sec: 0,
        sample_every: 10,
    };
    let runs: Vec<Params> = if smoke {
        vec![
            Params {
                viewers: 200,
                seconds: 3,
                ..base.clone()
            },
            Params {
                scenario: "burst",
                viewers: 50,
                rate: 1000,
                seconds: 2,
                mixed_priorities: true,
                ..base.clone()
            },
            Params {
                scenario: "idle",
                viewers: 500,
                rate: 0,
                seconds: 0,
                ..base.clone()
            },
            Params {
                scenario: "churn",
                viewers: 100,
                seconds: 3,
                churn_per_sec: 50,
                ..base.clone()
            },
            Params {
                scenario: "slow",
                viewers: 100,
                seconds: 3,
                slow: 10,
                ..base.clone()
            },
        ]
    } else {
        vec![
            Params {
                viewers: 1000,
                seconds: 20,
                ..base.clone()
            },
            Params {
                viewers: 5000,
                seconds: 20,
                ..base.clone()
            },
            Params {
                viewers: 19_000,
                seconds: 20,
                ..base.clone()
            },
            Params {
                scenario: "burst",
                viewers: 100,
                rate: 1000,
                seconds: 5,
                mixed_priorities: true,
                ..base.clone()
            },
            Params {
                scenario: "idle",
                viewers: 19_000,
                rate: 0,
                seconds: 0,
                ..base.clone()
            },
            Params {
                scenario: "churn",
                viewers: 1000,
                seconds: 20,
                churn_per_sec: 200,
                ..base.clone()
            },
            Params {
                scenario: "slow",
                viewers: 1000,
                seconds: 20,
                slow: 100,
                ..base.clone()
            },
        ]
    };
    for p in runs {
        let mut reports = vec![fanout::run(p.clone()).await?];
        reports.push(
            fanout::run(Params {
                target: Target::Node,
                ..p
            })
            .await?,
        );
        print(&reports, json);
    }
    crate::hostile::run(crate::hostile::Args {
        smoke,
        only: Vec::new(),
        target: crate::Which::Both,
        json,
    })
    .await?;
    // The soak takes half an hour at full size, the cluster's 57,000 viewers need a quiet box:
    // `all` runs only their smoke forms.
    if smoke {
        crate::cluster::run(crate::cluster::Args {
            nodes: 0,
            viewers: 0,
            rate: 0,
            seconds: 0,
            kill_node_after: None,
            target: crate::cluster::Which::Both,
            single: false,
            history: None,
            drain: None,
            aof: false,
            sample_every: 10,
            smoke: true,
            json,
        })
        .await?;
        crate::soak::run(crate::soak::Args {
            minutes: 0.0,
            viewers: 0,
            rate: 0,
            churn: 0,
            slow: 0,
            sample_secs: 0,
            smoke: true,
            json,
        })
        .await?;
    }
    Ok(())
}

/// What a scenario of timed sends measured (the REST and webhook scenarios): one row per
/// series of sends, the targets, and any fan-out runs beside them.
#[derive(Debug, Clone, Serialize)]
pub struct SendsReport {
    pub scenario: String,
    /// The table's title (settings).
    pub title: String,
    pub rows: Vec<Row>,
    pub goals: Vec<Goal>,
    /// Other figures of the run, one line each.
    pub notes: Vec<String>,
    /// Fan-out runs, printed side by side (with their ratio when two).
    pub fanout: Vec<Report>,
    /// CPU other processes on the box used during the run, percent of one core on average
    /// (the box has 2 cores; a quiet box shows a few percent).
    pub others_cpu_percent: Option<f64>,
    /// Share of the run's time that some task on the box waited for the disk, percent
    /// (`/proc/pressure/io`): the server's SQLite waits behind other processes' writes.
    pub io_stall_percent: Option<f64>,
}

/// A target and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub target: String,
    pub measured: String,
    /// The target's bound, as measured in the same run where it depends on a baseline.
    pub allowed: String,
    pub met: bool,
}

/// Prints a [`SendsReport`]: a table, or one JSON line.
pub fn print_sends(r: &SendsReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    println!("\n== {}: {} ==", r.scenario, r.title);
    if !r.rows.is_empty() {
        println!(
            "{:<52}{:>8}{:>8}{:>8}{:>10}{:>10}{:>10}",
            "sends", "sent", "ok", "failed", "p50 ms", "p99 ms", "max ms"
        );
        for row in &r.rows {
            let failed: u64 = row.failed.values().sum();
            println!(
                "{:<52}{:>8}{:>8}{:>8}{:>10.3}{:>10.3}{:>10.3}",
                row.name, row.sent, row.ok, failed, row.p50_ms, row.p99_ms, row.max_ms
            );
        }
        for row in r.rows.iter().filter(|row| !row.failed.is_empty()) {
            println!(
                "  {} failed by code: {}",
                row.name,
                serde_json::to_string(&row.failed).unwrap_or_default()
            );
        }
    }
    if !r.fanout.is_empty() {
        print(&r.fanout, false);
    }
    for note in &r.notes {
        println!("{note}");
    }
    if let Some(cpu) = r.others_cpu_percent {
        println!("box: other processes used {cpu:.0} % of a core on average during the run");
    }
    if let Some(io) = r.io_stall_percent {
        println!("box: some task waited for the disk {io:.1} % of the run's time");
    }
    println!(
        "{:<60}{:>16}{:>16}{:>10}",
        "target", "measured", "allowed", ""
    );
    for g in &r.goals {
        let met = if g.met { "met" } else { "NOT MET" };
        println!(
            "{:<60}{:>16}{:>16}{:>10}",
            g.target, g.measured, g.allowed, met
        );
    }
}
