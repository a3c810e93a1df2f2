//! The cluster scenario's tables: one per run (a column per node and the total), then the
//! runs side by side with their ratios to ours.

use crate::cluster::{ClusterReport, NodeReport};

type Row = (&'static str, fn(&NodeReport) -> f64);

const NODE_ROWS: [Row; 13] = [
    ("connections", |r| r.connections as f64),
    ("delivered", |r| r.delivered as f64),
    ("expected (acked × viewers)", |r| r.expected as f64),
    ("lost (acked)", |r| r.lost as f64),
    ("duplicated", |r| r.duplicated as f64),
    ("out of order", |r| r.out_of_order as f64),
    ("gap-filled", |r| r.gap_filled as f64),
    ("deliveries/s", |r| r.deliveries_per_sec),
    ("frames/s", |r| r.frames_per_sec),
    ("latency p50 ms", |r| r.p50_ms),
    ("latency p99 ms", |r| r.p99_ms),
    ("latency max ms", |r| r.max_ms),
    ("process CPU %", |r| r.cpu_percent),
];

/// One run: per node and total.
pub fn print_run(r: &ClusterReport) {
    let redis = if r.redis_persistence.is_empty() {
        "no Redis".to_owned()
    } else {
        format!("Redis persistence: {}", r.redis_persistence)
    };
    println!(
        "\n== cluster ({}): {} node(s), {} viewers, {} msg/s for {} s; {redis} ==",
        r.target, r.nodes, r.viewers, r.rate, r.seconds
    );
    let mut header = format!("{:<28}", "");
    for n in &r.per_node {
        header.push_str(&format!("{:>13}", n.node));
    }
    header.push_str(&format!("{:>13}", "total"));
    println!("{header}");
    for (name, get) in NODE_ROWS {
        let mut line = format!("{name:<28}");
        for n in r.per_node.iter().chain([&r.total]) {
            line.push_str(&format!("{:>13.1}", get(n)));
        }
        println!("{line}");
    }
    println!(
        "sender: {} sent, {} acknowledged, {} refused ({} of them delivered all the same), {} \
         unanswered; send→ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.sent,
        r.accepted,
        r.rejected,
        r.refused_but_delivered,
        r.unanswered,
        r.ack_p50_ms,
        r.ack_p99_ms,
        r.ack_max_ms
    );
    if !r.rejected_codes.is_empty() {
        let codes: Vec<String> = r
            .rejected_codes
            .iter()
            .map(|(code, n)| format!("{code} ×{n}"))
            .collect();
        println!("refusals by code: {}", codes.join(", "));
    }
    if !r.redis_persistence.is_empty() {
        println!(
            "redis: {:.2} CPU s while sending ({:.1} % of one core)",
            r.redis_cpu_seconds, r.redis_cpu_percent
        );
    }
    if let Some(k) = &r.kill {
        println!(
            "kill of {} after {:.1} s: {} viewers, {} disconnected, {} resumed on another node, \
             {} receiving again, the last {:.2} s after the kill (longest one viewer's gap \
             {:.2} s); acknowledged messages lost {}, duplicated {}, skipped notices {}",
            k.node,
            k.after_secs,
            k.viewers,
            k.disconnected,
            k.resumed,
            k.receiving_again,
            k.max_secs_to_receive_again,
            k.max_viewer_gap_secs,
            k.lost_acked,
            k.duplicated,
            k.skipped_notices
        );
    }
}

/// Every run's totals side by side, each with its ratio to the first cluster run of ours.
pub fn print_summary(reports: &[ClusterReport]) {
    if reports.len() < 2 {
        return;
    }
    let base = reports
        .iter()
        .position(|r| r.target == "liveroom")
        .unwrap_or(0);
    println!(
        "\n== cluster: side by side (ratio: ÷ {}) ==",
        reports[base].target
    );
    let mut header = format!("{:<28}", "");
    for r in reports {
        header.push_str(&format!("{:>18}", r.target));
    }
    for (i, r) in reports.iter().enumerate() {
        if i != base {
            header.push_str(&format!("{:>24}", format!("{} ratio", r.target)));
        }
    }
    println!("{header}");
    type SumRow = (&'static str, fn(&ClusterReport) -> f64);
    let rows: [SumRow; 11] = [
        ("nodes", |r| r.nodes as f64),
        ("connections", |r| r.total.connections as f64),
        ("lost (acked)", |r| r.total.lost as f64),
        ("duplicated", |r| r.total.duplicated as f64),
        ("deliveries/s", |r| r.total.deliveries_per_sec),
        ("latency p50 ms", |r| r.total.p50_ms),
        ("latency p99 ms", |r| r.total.p99_ms),
        ("send→ack p99 ms", |r| r.ack_p99_ms),
        ("nodes' CPU %", |r| r.total.cpu_percent),
        ("Redis CPU %", |r| r.redis_cpu_percent),
        ("killed node: last back s", |r| {
            r.kill.as_ref().map_or(0.0, |k| k.max_secs_to_receive_again)
        }),
    ];
    for (name, get) in rows {
        let mut line = format!("{name:<28}");
        for r in reports {
            line.push_str(&format!("{:>18.2}", get(r)));
        }
        let b = get(&reports[base]);
        for (i, r) in reports.iter().enumerate() {
            if i == base {
                continue;
            }
            let v = get(r);
            if b > 0.0 && v > 0.0 {
                line.push_str(&format!("{:>23.2}x", v / b));
            } else {
                line.push_str(&format!("{:>24}", "-"));
            }
        }
        println!("{line}");
    }
    // Issue 13's target for cluster mode with one node: p99 within 1.5× of the single server.
    let single = reports.iter().find(|r| r.target == "liveroom-single");
    if let (Some(s), Some(c)) = (single, reports.iter().find(|r| r.target == "liveroom")) {
        if s.total.p99_ms > 0.0 {
            println!(
                "liveroom cluster ({} node(s)) ÷ single-node server, latency p99: {:.2}x",
                c.nodes,
                c.total.p99_ms / s.total.p99_ms
            );
        }
    }
}
