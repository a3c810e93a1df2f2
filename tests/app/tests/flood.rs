//! Benchmark, not a test (ignored): 1,000 messages/s flood a room the app shows; reports the
//! UI's frame intervals and batched render times (from `window.liveroomPerf`) and the memory
//! (PSS) of every app process, idle and under the flood.
//!
//! ```sh
//! xvfb-run -a -s '-screen 0 1280x800x24' \
//!     cargo test -p liveroom-app-tests --test flood -- --ignored --nocapture
//! ```
//! Knobs: FLOOD_RATE (messages/s, default 1000), FLOOD_SECS (default 10).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use liveroom_app_tests::{tree_pss_kib, user_sig, App};
use liveroom_engine::{Im, Priority};
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn memory_report(app: &App, label: &str) -> u64 {
    let procs = tree_pss_kib(app.driver_pid());
    let app_procs: Vec<_> = procs
        .iter()
        .filter(|(_, name, _)| {
            !name.starts_with("tauri-driver") && !name.starts_with("WebKitWebDriver")
        })
        .collect();
    let total: u64 = app_procs.iter().map(|p| p.2).sum();
    println!(
        "memory {label}: {} MiB PSS in {} processes",
        total / 1024,
        app_procs.len()
    );
    for (pid, name, pss) in app_procs {
        println!("  {pid:>7} {name:<20} {:>7} KiB", pss);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark of the app's window (needs a display and tauri-driver): run by hand with --ignored"]
async fn flood_of_1000_messages_per_second() -> Result<()> {
    let rate = env_or("FLOOD_RATE", 1000);
    let secs = env_or("FLOOD_SECS", 10);
    // The room's send budget and the per-user rate are lifted for the run.
    let app = App::launch_with_env(
        "flood",
        &[("LIVEROOM_ROOM_BUDGET", "0"), ("LIVEROOM_USER_RATE", "0")],
    )
    .await?;
    let r: Result<()> = async {
        app.login_local("flood_host", "Flood host").await?;
        app.create_room("flood-1", "Flood", "1,000 messages/s").await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = memory_report(&app, "idle (logged in, one room)");

        let (app_id, key) = app.keys()?;
        let senders = 4u64;
        let mut ims = Vec::new();
        for i in 0..senders {
            let user = format!("flooder_{i}");
            let im = Im::new(app_id, app.server())?;
            im.login(&user, &user_sig(app_id, &key, &user)).await?;
            im.enter_room("flood-1").await?;
            ims.push(im);
        }
        app.js("window.liveroomPerf.start(); return true", vec![]).await?;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (i, im) in ims.iter().enumerate() {
            let im = im.clone();
            let per_sender = rate / senders;
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sender));
                let mut sent = 0u64;
                let end = Instant::now() + Duration::from_secs(secs);
                while Instant::now() < end {
                    tick.tick().await;
                    let im = im.clone();
                    let text = format!("flood {i}-{sent}");
                    tokio::spawn(async move { im.send_text_message("flood-1", &text, Priority::Normal).await });
                    sent += 1;
                }
                sent
            }));
        }
        // Sample the memory every second while the flood runs.
        let mut peak = 0;
        while !tasks.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            peak = peak.max(memory_report(&app, "during the flood"));
        }
        let mut sent = 0;
        for t in tasks {
            sent += t.await?;
        }
        let elapsed = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = app.js("return window.liveroomPerf.stop()", vec![]).await?;
        let shown = app
            .js("return document.querySelectorAll(\".pane[data-room='flood-1'] .chat > li\").length", vec![])
            .await?;
        println!(
            "flood: {sent} messages in {:.1} s ({:.0}/s) from {senders} senders",
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64()
        );
        println!("frames: {}", serde_json::to_string_pretty(&report)?);
        println!("chat items kept: {shown} (cap 1000)");
        let after = memory_report(&app, "after the flood");
        println!("memory summary: idle {} MiB, flood {} MiB, after {} MiB", idle / 1024, peak / 1024, after / 1024);
        ensure!(shown.as_u64().unwrap_or(0) <= 1000, "the chat is bounded: {shown}");
        ensure!(report["messages"].as_u64().unwrap_or(0) > 0, "messages rendered: {report}");
        std::fs::write(
            liveroom_app_tests::artifacts().join("flood.json"),
            serde_json::to_vec_pretty(&json!({"sent": sent, "seconds": elapsed.as_secs_f64(), "frames": report,
                "pss_kib": {"idle": idle, "flood": peak, "after": after}}))?,
        )?;
        app.screenshot("flood").await?;
        for im in ims {
            im.shutdown().await;
        }
        Ok(())
    }
    .await;
    app.finish(r).await
}
