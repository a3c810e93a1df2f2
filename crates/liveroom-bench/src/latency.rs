//! One sender, N receiving engines in one room; latency from the send call to each receiver's
//! event, through the real server on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_engine::{EventName, Im};
use tokio::sync::Mutex;

use crate::server::{BenchServer, APP};

/// Flags of `liveroom-bench latency`.
#[derive(clap::Args)]
pub struct Args {
    /// Receiving engines.
    #[arg(long, default_value_t = 10)]
    receivers: usize,
    /// Messages to send.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Messages per second (the room budget is raised above it).
    #[arg(long, default_value_t = 40)]
    rate: u32,
    /// Use this server (ws://HOST:PORT) instead of starting one; it must know the bench app.
    #[arg(long)]
    server: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let budget = (args.rate * 2).max(40).to_string();
    let server = BenchServer::start(
        args.server.clone(),
        &[
            "--room-budget".into(),
            budget,
            "--user-rate".into(),
            "100000".into(),
        ],
    )?;
    let sender = Im::new(APP, &server.url).map_err(anyhow::Error::msg)?;
    sender
        .login("sender", &server.sig("sender"))
        .await
        .map_err(anyhow::Error::msg)?;
    let room = sender
        .create_room(CreateRoomOptions {
            name: "latency".into(),
            ..Default::default()
        })
        .await
        .map_err(anyhow::Error::msg)?
        .group_id;
    sender.enter_room(&room).await.map_err(anyhow::Error::msg)?;

    let start = Instant::now();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let mut receivers = Vec::new();
    for i in 0..args.receivers {
        let im = Im::new(APP, &server.url).map_err(anyhow::Error::msg)?;
        let user = format!("r{i}");
        im.login(&user, &server.sig(&user))
            .await
            .map_err(anyhow::Error::msg)?;
        im.enter_room(&room).await.map_err(anyhow::Error::msg)?;
        let mut rx = im.events();
        let hist = hist.clone();
        let expected = args.messages;
        let task = tokio::spawn(async move {
            let mut got = 0usize;
            while got < expected {
                let Ok(ev) = rx.recv().await else { break };
                if ev.name != EventName::TextMessageReceived {
                    continue;
                }
                let now = start.elapsed().as_micros() as u64;
                let v = serde_json::to_value(&ev).unwrap_or_default();
                for m in v["data"].as_array().into_iter().flatten() {
                    if let Some(sent) = m["payload"]["text"]
                        .as_str()
                        .and_then(|t| t.parse::<u64>().ok())
                    {
                        let _ = hist.lock().await.record(now.saturating_sub(sent).max(1));
                        got += 1;
                    }
                }
            }
            got
        });
        receivers.push((im, task));
    }

    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut tick = tokio::time::interval(interval);
    for _ in 0..args.messages {
        tick.tick().await;
        let stamp = start.elapsed().as_micros().to_string();
        sender
            .send_text_message(&room, &stamp, Priority::Normal)
            .await
            .map_err(anyhow::Error::msg)
            .context("send")?;
    }
    let mut delivered = 0;
    for (_im, task) in receivers {
        delivered += tokio::time::timeout(Duration::from_secs(30), task).await??;
    }
    let expected = args.messages * args.receivers;
    if delivered != expected {
        bail!("delivered {delivered} of {expected}");
    }
    let h = hist.lock().await;
    let ms = |us: u64| us as f64 / 1000.0;
    let report = serde_json::json!({
        "scenario": "latency",
        "receivers": args.receivers,
        "messages": args.messages,
        "rate": args.rate,
        "delivered": delivered,
        "expected": expected,
        "lost": expected - delivered,
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "latency: 1 sender -> {} receivers, {} msgs at {}/s",
            args.receivers, args.messages, args.rate
        );
        println!("  delivered {delivered}/{expected}");
        println!(
            "  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
    Ok(())
}
