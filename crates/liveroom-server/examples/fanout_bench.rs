//! Fan-out sanity benchmark: N guest viewers in one room, one sender at R msg/s for T s.
//! Prints deliveries/s and send→receive latency percentiles.
//!
//! `cargo run --release -p liveroom-server --example fanout_bench -- 2000 40 10`
//! (viewers, rate, seconds). Starts the server in-process on a temp dir.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const APP: u64 = 1_400_000_000;
const KEY: &str = "bench-key";

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let viewers = args.first().copied().unwrap_or(1000) as usize;
    let rate = args.get(1).copied().unwrap_or(40);
    let secs = args.get(2).copied().unwrap_or(5);

    let dir = tempfile::tempdir().expect("tempdir");
    let server = liveroom_server::start(
        liveroom_server::Config::builder()
            .listen("127.0.0.1:0".parse().expect("addr"))
            .data_dir(dir.path())
            .app(APP, KEY)
            .user_rate(0)
            .room_budget(0)
            .build(),
    )
    .await
    .expect("server");
    let url = format!("ws://{}/ws", server.local_addr());
    let t0 = Instant::now();

    let mut host = connect(&url).await;
    req(&mut host, 1, json!({"op":"hello","sdk_app_id":APP})).await;
    let sig = liveroom_usersig::gen_usersig(APP, KEY, "host", 3600);
    req(
        &mut host,
        2,
        json!({"op":"login","user_id":"host","user_sig":sig}),
    )
    .await;
    req(
        &mut host,
        3,
        json!({"op":"create_room","name":"bench","room_id":"bench"}),
    )
    .await;
    req(&mut host, 4, json!({"op":"enter_room","room_id":"bench"})).await;

    let delivered = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut tasks = Vec::new();
    for i in 0..viewers {
        let mut ws = connect(&url).await;
        req(&mut ws, 1, json!({"op":"hello","sdk_app_id":APP})).await;
        req(&mut ws, 2, json!({"op":"enter_room","room_id":"bench"})).await;
        let delivered = delivered.clone();
        let latencies = latencies.clone();
        let sample = i % 50 == 0;
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(t) = m else { continue };
                let now = t0.elapsed().as_micros() as u64;
                for part in t.as_str().split("\"text\":\"at").skip(1) {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    if sample {
                        if let Some(sent) =
                            part.split('"').next().and_then(|s| s.parse::<u64>().ok())
                        {
                            if let Ok(mut l) = latencies.lock() {
                                l.push(now.saturating_sub(sent));
                            }
                        }
                    }
                }
            }
        }));
    }
    eprintln!("{viewers} viewers in the room after {:?}", t0.elapsed());

    let total = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let start = Instant::now();
    let (mut tx, mut rx) = host.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    for n in 0..total {
        tick.tick().await;
        let text = format!("at{}", t0.elapsed().as_micros());
        let f = json!({"id": 100 + n, "op":"send_text","room_id":"bench","text":text});
        if tx.send(Message::text(f.to_string())).await.is_err() {
            break;
        }
    }
    let expected = total * viewers as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let got = delivered.load(Ordering::Relaxed);
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "viewers {viewers} rate {rate}/s: delivered {got}/{expected} in {elapsed:.1}s ({:.0}/s), latency p50 {} us p99 {} us",
        got as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    reader.abort();
    for t in tasks {
        t.abort();
    }
    let _ = server.shutdown().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    // Small client buffers, so the process's memory is mostly the server's.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .expect("connect")
        .0
}

async fn req(ws: &mut Ws, id: u64, mut frame: Value) {
    frame["id"] = json!(id);
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            if v["id"] == json!(id) {
                assert_eq!(v["t"], "reply", "{v}");
                return;
            }
        }
    }
}
