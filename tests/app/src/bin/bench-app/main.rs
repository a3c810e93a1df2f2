//! The desktop app's benchmark (issue 12): memory of every process beside a bare Tauri window,
//! frame intervals and input latency while messages flow, cold start. Run it through
//! `scripts/bench-app [--json] [--smoke]` (which builds the release app and the bare window and
//! starts this under Xvfb); it prints a table, or JSON with `--json`.
//!
//! One window at a time, so shared libraries are not split between the two apps' processes:
//! 1. the bare window, started directly (and once more with compositing off, and once under
//!    tauri-driver, to see what WebDriver's automation costs);
//! 2. our app started directly, idle on the start screen;
//! 3. our app under tauri-driver: cold start, "Start" (login on the embedded server), one room,
//!    then 40 msg/s into it, 1,000 msg/s (10,000 messages), 5 rooms × 40 msg/s side by side in
//!    the moderator view. Senders are engines on the app's embedded server, whose room budget
//!    and user rate are lifted. While they send, keys are typed into the room's composer.
//!
//! With `--tools`, issue 15's tools run throughout: danmaku on and the host panel's live
//! dashboard open in every room (the server's room stats pushed every 10 s, as by default).
//!
//! Checks (a failure makes the exit status 1, after the figures are printed): every send is
//! accepted, every room shows its newest messages, and what was typed is in the composer and,
//! once sent, reaches another member of the room.

mod flood;
mod procs;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use liveroom_app_tests::{artifacts, App};
use serde_json::{json, Value};

use flood::{pane, run_rate, senders, SENDERS_PER_ROOM};
use procs::{
    bare_direct, cpu_during, find_process, load_average, memory, ours_direct, process_started_ms,
};
use report::{ratio, table};

/// Extra rooms for the side-by-side run (5 in all).
const SIDE_BY_SIDE_ROOMS: usize = 5;

struct Opts {
    json: bool,
    smoke: bool,
    app: PathBuf,
    bare: PathBuf,
    /// Extra environment for our app (`--app-env K=V`): experiments with WebKit's settings.
    app_env: Vec<(String, String)>,
    /// CSS rules added to our page once it is up (`--css RULE`): experiments with effects.
    css: Vec<String>,
    /// Seconds each rate runs (`--secs N`), instead of the defaults.
    secs: Option<u64>,
    /// Skip the bare window (`--no-bare`): quicker experiments, no ratios.
    no_bare: bool,
    /// Likes per second into each room while messages flow (`--likes N`): floating hearts.
    likes: u32,
    /// Danmaku on and the live dashboard open in every room (`--tools`).
    tools: bool,
}

impl Opts {
    fn parse() -> Result<Opts> {
        let mut opts = Opts {
            json: false,
            smoke: false,
            app: PathBuf::from("target/release/liveroom-app"),
            bare: PathBuf::from("target/release/bare-window"),
            app_env: Vec::new(),
            css: Vec::new(),
            secs: None,
            no_bare: false,
            likes: 0,
            tools: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--json" => opts.json = true,
                "--smoke" => opts.smoke = true,
                "--app" => opts.app = args.next().context("--app PATH")?.into(),
                "--bare" => opts.bare = args.next().context("--bare PATH")?.into(),
                "--app-env" => {
                    let kv = args.next().context("--app-env KEY=VALUE")?;
                    let (k, v) = kv.split_once('=').context("--app-env KEY=VALUE")?;
                    opts.app_env.push((k.to_owned(), v.to_owned()));
                }
                "--css" => opts.css.push(args.next().context("--css RULE")?),
                "--secs" => opts.secs = Some(args.next().context("--secs N")?.parse()?),
                "--no-bare" => opts.no_bare = true,
                "--likes" => opts.likes = args.next().context("--likes N")?.parse()?,
                "--tools" => opts.tools = true,
                "-h" | "--help" => {
                    println!("bench-app [--json] [--smoke] [--app PATH] [--bare PATH] [--app-env KEY=VALUE ...] [--css RULE ...] [--secs N] [--no-bare] [--likes N] [--tools]");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other} (try --help)"),
            }
        }
        opts.app = std::fs::canonicalize(&opts.app)
            .with_context(|| format!("app binary {}", opts.app.display()))?;
        opts.bare = std::fs::canonicalize(&opts.bare)
            .with_context(|| format!("bare window binary {}", opts.bare.display()))?;
        Ok(opts)
    }

    /// How long memory settles before it is read, and how long each rate runs.
    fn settle(&self) -> Duration {
        Duration::from_secs(if self.smoke { 1 } else { 5 })
    }
    fn flood_secs(&self, rate: u32) -> u64 {
        if let Some(secs) = self.secs {
            return secs;
        }
        match (self.smoke, rate) {
            (true, _) => 2,
            // 10,000 messages: the "after 10,000 messages" memory is read after this run.
            (false, 1000) => 10,
            (false, _) => 20,
        }
    }
}

// ---------- under the driver ----------

/// The bare window under tauri-driver: its memory there, and its start (process → page load).
async fn bare_driver(opts: &Opts) -> Result<(Value, Value)> {
    let app = App::launch_binary("bench-bare", &opts.bare, &[]).await?;
    let r = async {
        let pid = find_process(app.driver_pid(), &opts.bare).context("bare window process")?;
        let started = process_started_ms(pid)?;
        let v = app
            .wait_js(
                "the bare page loaded",
                "const n = performance.getEntriesByType('navigation')[0]; return n && n.loadEventEnd > 0 && [performance.timeOrigin, n.loadEventEnd]",
            )
            .await?;
        let origin = v[0].as_f64().context("timeOrigin")?;
        let loaded = v[1].as_f64().context("loadEventEnd")?;
        tokio::time::sleep(opts.settle() + Duration::from_secs(1)).await;
        let start = json!({
            "process_to_page_ms": (origin - started).round(),
            "process_to_loaded_ms": (origin + loaded - started).round(),
        });
        Ok((memory(app.driver_pid()), start))
    }
    .await;
    app.close().await;
    r
}

/// Our app under tauri-driver, from cold start to 5 rooms side by side.
async fn ours_driver(opts: &Opts) -> Result<Value> {
    let mut env = vec![("LIVEROOM_ROOM_BUDGET", "0"), ("LIVEROOM_USER_RATE", "0")];
    env.extend(opts.app_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let app = App::launch_binary("bench-app", &opts.app, &env).await?;
    let r = drive(&app, opts).await;
    if r.is_err() {
        let _ = app.screenshot("bench-app-FAILED").await;
    }
    app.close().await;
    r
}

async fn drive(app: &App, opts: &Opts) -> Result<Value> {
    // Cold start: from the app's process start to the start screen drawn (perf.js).
    let pid = find_process(app.driver_pid(), &opts.app).context("app process")?;
    let started = process_started_ms(pid)?;
    let v = app
        .wait_js(
            "the start screen",
            "const s = window.liveroomPerf && window.liveroomPerf.startup; return s && s.startScreen !== null && s.embeddedReady !== null && [performance.timeOrigin, s]",
        )
        .await?;
    let origin = v[0].as_f64().context("timeOrigin")?;
    let at = |k: &str| v[1][k].as_f64().map(|t| (origin + t - started).round());
    let cold = json!({
        "process_to_page_ms": (origin - started).round(),
        "first_frame_ms": at("firstFrame"),
        "start_screen_ms": at("startScreen"),
        "embedded_ready_ms": at("embeddedReady"),
    });
    tokio::time::sleep(opts.settle()).await;
    let idle_driver = memory(app.driver_pid());
    for rule in &opts.css {
        app.js(
            "const s = document.styleSheets[document.styleSheets.length - 1]; s.insertRule(arguments[0], s.cssRules.length); return true",
            vec![json!(rule)],
        )
        .await
        .with_context(|| format!("adding the CSS rule {rule}"))?;
    }

    // "Start": log in on the embedded server.
    app.fill("#local-user", "bench_host").await?;
    app.fill("#local-nick", "Bench host").await?;
    watch(app, "start", "#local-start", "#screen-main").await?;
    app.click("#local-start").await?;
    let start_to_main = mark(app, "start").await?;

    // One room, made from the sidebar.
    app.fill("#create-name", "Bench 1").await?;
    app.fill("#create-id", "bench-1").await?;
    let entered = format!("{}[data-entered] .text-input", pane("bench-1"));
    watch(app, "room", "#create-submit", &entered).await?;
    app.click("#create-submit").await?;
    let room_open = mark(app, "room").await?;
    if opts.tools {
        tools_on(app, "bench-1").await?;
    }
    // The "room created" toast plays for 4 s: CPU is read once it is gone.
    tokio::time::sleep(opts.settle()).await;
    let ((), room_idle_cpu) = cpu_during(app.driver_pid(), tokio::time::sleep(opts.settle())).await;
    let room_mem = memory(app.driver_pid());

    let one = [senders(app, "bench-1", 0).await?];
    let r40 = run_rate(app, opts, &one, 40).await?;
    tokio::time::sleep(opts.settle()).await;
    let after_40 = memory(app.driver_pid());
    let r1000 = run_rate(app, opts, &one, 1000).await?;
    tokio::time::sleep(opts.settle()).await;
    let after_flood = memory(app.driver_pid());
    app.screenshot("bench-app-1000").await?;
    // What a quiet half minute gives back (garbage collected, freed pages returned).
    tokio::time::sleep(opts.settle() * 5).await;
    let after_flood_later = memory(app.driver_pid());

    // 5 rooms side by side (the moderator view), 40 msg/s each.
    let mut rooms = Vec::from(one);
    for i in 2..=SIDE_BY_SIDE_ROOMS {
        let id = format!("bench-{i}");
        app.create_room(&id, &format!("Bench {i}"), "").await?;
        if opts.tools {
            tools_on(app, &id).await?;
        }
        rooms.push(senders(app, &id, i * SENDERS_PER_ROOM).await?);
    }
    app.click("#btn-moderator")
        .await
        .context("the moderator view")?;
    app.wait_js(
        "the moderator view",
        "return document.getElementById('panes').classList.contains('side-by-side')",
    )
    .await?;
    let r200 = run_rate(app, opts, &rooms, 40).await?;
    app.screenshot("bench-app-5x40").await?;
    let side_mem = memory(app.driver_pid());
    for room in &rooms {
        for im in &room.senders {
            im.shutdown().await;
        }
    }
    let runs: Vec<Value> = [&r40, &r200, &r1000].iter().map(|r| r.json()).collect();
    let checks_ok = [&r40, &r200, &r1000]
        .iter()
        .all(|r| r.send_errors == 0 && r.typed_ok && r.delivered_ok && r.follows_newest);
    Ok(json!({
        "cold_start": cold,
        "start_to_main_ms": start_to_main,
        "room_open_ms": room_open,
        "idle_driver": idle_driver,
        "room": room_mem,
        "room_idle_cpu_pct": room_idle_cpu,
        "after_40": after_40,
        "after_flood": after_flood,
        "after_flood_later": after_flood_later,
        "side_by_side": side_mem,
        "runs": runs,
        "checks_ok": checks_ok,
    }))
}

/// Danmaku on (the toggle is kept per user: rooms made later start with it on) and the host
/// panel open on the live dashboard, in `room`; waits for the dashboard's first drawing.
async fn tools_on(app: &App, room: &str) -> Result<()> {
    let p = pane(room);
    let on = app
        .js(
            &format!("return document.querySelector(\"{p} .btn-danmaku\").getAttribute('aria-pressed') === 'true'"),
            vec![],
        )
        .await?;
    if on != json!(true) {
        app.click(&format!("{p} .btn-danmaku")).await?;
    }
    app.click(&format!("{p} .btn-host")).await?;
    app.wait_js(
        "the live dashboard drawn",
        &format!("return window.liveroomApp.panes.get('{room}').features.dashboard.draws > 0"),
    )
    .await
    .with_context(|| format!("the dashboard of {room}"))?;
    Ok(())
}

async fn watch(app: &App, name: &str, trigger: &str, target: &str) -> Result<()> {
    app.js(
        "window.liveroomPerf.watch(arguments[0], arguments[1], arguments[2]); return true",
        vec![json!(name), json!(trigger), json!(target)],
    )
    .await?;
    Ok(())
}

async fn mark(app: &App, name: &str) -> Result<f64> {
    let v = app
        .wait_js(
            name,
            &format!(
                "const m = window.liveroomPerf.marks[{}]; return m && m.ms",
                json!(name)
            ),
        )
        .await?;
    Ok(v.as_f64().unwrap_or(0.0).round())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let opts = Opts::parse()?;
    let load_before = load_average();
    eprintln!(
        "bench-app: load average {load_before}; app {}, bare {}",
        opts.app.display(),
        opts.bare.display()
    );

    let (bare, bare_nocomp, bare_drv, bare_start) = if opts.no_bare {
        (json!({}), json!({}), json!({}), json!({}))
    } else {
        let bare = bare_direct(&opts, "bare", &[]).await?;
        let nocomp = [("WEBKIT_DISABLE_COMPOSITING_MODE", "1".to_owned())];
        let bare_nocomp = bare_direct(&opts, "bare-nocompositing", &nocomp).await?;
        let (bare_drv, bare_start) = bare_driver(&opts).await?;
        (bare, bare_nocomp, bare_drv, bare_start)
    };
    let idle = ours_direct(&opts).await?;
    let ours = ours_driver(&opts).await?;

    let samples = [
        &bare,
        &bare_nocomp,
        &bare_drv,
        &idle,
        &ours["idle_driver"],
        &ours["room"],
        &ours["after_40"],
        &ours["after_flood"],
        &ours["after_flood_later"],
        &ours["side_by_side"],
    ];
    let foreign = samples
        .iter()
        .filter_map(|v| v["foreign_webkit_processes"].as_u64())
        .max()
        .unwrap_or(0);
    if foreign > 0 {
        eprintln!("bench-app: WARNING: {foreign} WebKit processes of other programs ran during the run: the memory figures are too low (shared pages split with them)");
    }
    let total = |v: &Value| v["total_mib"].clone();
    let procs = |v: &Value| v["processes"].clone();
    let report = json!({
        "mode": if opts.smoke { "smoke" } else { "full" },
        "load_before": load_before,
        "load_after": load_average(),
        "idle_pss_mib": total(&idle),
        "bare_idle_pss_mib": total(&bare),
        "bare_nocompositing_idle_pss_mib": total(&bare_nocomp),
        "bare_driver_idle_pss_mib": total(&bare_drv),
        "idle_driver_pss_mib": total(&ours["idle_driver"]),
        "room_pss_mib": total(&ours["room"]),
        "after_flood_pss_mib": total(&ours["after_flood"]),
        "side_by_side_pss_mib": total(&ours["side_by_side"]),
        "after_flood_30s_pss_mib": total(&ours["after_flood_later"]),
        "after_40_pss_mib": total(&ours["after_40"]),
        "ratios": {
            "idle": ratio(&idle, &bare),
            "room": ratio(&ours["room"], &bare),
            "after_flood": ratio(&ours["after_flood"], &bare),
            "after_flood_30s": ratio(&ours["after_flood_later"], &bare),
            "after_40": ratio(&ours["after_40"], &bare),
            "side_by_side": ratio(&ours["side_by_side"], &bare),
            "idle_driver": ratio(&ours["idle_driver"], &bare),
            "bare_driver": ratio(&bare_drv, &bare),
            "bare_nocompositing": ratio(&bare_nocomp, &bare),
            "room_vs_bare_driver": ratio(&ours["room"], &bare_drv),
            "after_flood_vs_bare_driver": ratio(&ours["after_flood"], &bare_drv),
        },
        "rates": ours["runs"],
        "cold_start": ours["cold_start"],
        "cold_start_ms": ours["cold_start"]["start_screen_ms"],
        "start_to_main_ms": ours["start_to_main_ms"],
        "room_idle_cpu_pct": ours["room_idle_cpu_pct"],
        "idle_cpu_pct": idle["idle_cpu_pct"],
        "bare_idle_cpu_pct": bare["idle_cpu_pct"],
        "app_env": opts.app_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "css": opts.css,
        "likes_per_room_s": opts.likes,
        "tools": opts.tools,
        "room_open_ms": ours["room_open_ms"],
        "bare_start": bare_start,
        "processes": {
            "bare_idle": procs(&bare),
            "bare_nocompositing_idle": procs(&bare_nocomp),
            "bare_driver_idle": procs(&bare_drv),
            "idle": procs(&idle),
            "idle_driver": procs(&ours["idle_driver"]),
            "room": procs(&ours["room"]),
            "after_40": procs(&ours["after_40"]),
            "after_flood": procs(&ours["after_flood"]),
            "after_flood_30s": procs(&ours["after_flood_later"]),
            "side_by_side": procs(&ours["side_by_side"]),
        },
        "checks_ok": ours["checks_ok"],
        "foreign_webkit_processes": foreign,
    });
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    std::fs::write(
        artifacts().join("bench-app.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    ensure!(report["checks_ok"] == json!(true), "a check failed (see above): sends refused, typing lost, or a room not showing its newest messages");
    Ok(())
}
