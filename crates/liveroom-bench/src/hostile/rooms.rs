//! Attack 5: one user creates thousands of rooms as fast as it can (pipelined).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::flood::codes;
use super::{mib, rss, secs, start, Figures, Outcome, PeakRss, Scale};
use crate::conn::{source_ip, Conn};
use crate::server::Target;

/// `create_room` calls.
pub fn count(scale: &Scale) -> u64 {
    if scale.smoke {
        200
    } else {
        3000
    }
}

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    let started = start(target, scale, &[])?;
    let pid = started.pid();
    let mut conn = Conn::connect(&started.server.url, source_ip(70)).await?;
    conn.request(
        json!({"op": "login", "user_id": "builder", "user_sig": started.server.sig("builder")}),
    )
    .await?;
    let rss_before = rss(pid);
    let peak = PeakRss::start(pid);
    let n = count(scale);
    let (mut sink, mut stream) = conn.ws.split();
    let t0 = Instant::now();
    let reader = tokio::spawn(async move {
        let mut accepted = 0u64;
        let mut refused: BTreeMap<i64, u64> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while accepted + refused.values().sum::<u64>() < n {
            let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, stream.next()).await else {
                break;
            };
            let Message::Text(t) = msg else { continue };
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            match v["t"].as_str() {
                Some("reply") => accepted += 1,
                Some("error") => *refused.entry(v["code"].as_i64().unwrap_or(0)).or_default() += 1,
                _ => {}
            }
        }
        (accepted, refused, t0.elapsed())
    });
    for i in 0..n {
        let frame = json!({"id": 1000 + i, "op": "create_room", "name": format!("room {i}")});
        sink.send(Message::Text(frame.to_string().into())).await?;
    }
    let (accepted, refused, took) = reader.await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss(pid);
    let figures: Figures = vec![
        ("create_room calls".into(), n.into()),
        ("accepted".into(), accepted.into()),
        ("refused (code×count)".into(), codes(&refused)),
        ("all answered after (s)".into(), secs(took)),
        (
            "server RSS growth, peak (MiB)".into(),
            mib(peak.peak() - rss_before),
        ),
        (
            "server RSS growth 1 s after (MiB)".into(),
            mib(rss_after - rss_before),
        ),
    ];
    Ok(Outcome::new(&started, figures))
}
