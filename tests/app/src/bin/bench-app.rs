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
//! Checks (a failure makes the exit status 1, after the figures are printed): every send is
//! accepted, every room shows its newest messages, and what was typed is in the composer and,
//! once sent, reaches another member of the room.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use liveroom_app_tests::{artifacts, free_port, terminate, tree_pss_kib, user_sig, App};
use liveroom_engine::proto::{Body, CustomPayload};
use liveroom_engine::{Im, Priority};
use serde_json::{json, Value};

/// What is typed into the composer while messages flow, one key every [`KEY_EVERY`].
const TYPED: &str = "typing while the room floods, nothing may be lost 0123456789 ";
/// A fast typist: 8 keys a second.
const KEY_EVERY: Duration = Duration::from_millis(125);
/// Senders per room (different users, as in a real room).
const SENDERS_PER_ROOM: usize = 2;
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
                "-h" | "--help" => {
                    println!("bench-app [--json] [--smoke] [--app PATH] [--bare PATH] [--app-env KEY=VALUE ...] [--css RULE ...] [--secs N] [--no-bare] [--likes N]");
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

// ---------- memory ----------

/// PSS of the processes under `root` (the app and its WebKit processes; never the driver's),
/// and how many WebKit processes of other programs ran meanwhile: PSS splits a shared
/// library's pages between every process that maps it, so those make our figures look smaller.
fn memory(root: u32) -> Value {
    let tree = tree_pss_kib(root);
    let mut procs: Vec<_> = tree
        .iter()
        .filter(|(_, name, _)| !is_driver(name))
        .cloned()
        .collect();
    procs.sort_by_key(|p| std::cmp::Reverse(p.2));
    let total: u64 = procs.iter().map(|p| p.2).sum();
    let ours: Vec<u32> = tree.iter().map(|p| p.0).collect();
    json!({
        "total_mib": mib(total),
        "processes": procs.iter().map(|(pid, name, pss)| json!({"pid": pid, "name": name, "pss_mib": mib(*pss), "anon_mib": mib(pss_anon_kib(*pid))})).collect::<Vec<_>>(),
        "foreign_webkit_processes": foreign_webkit(&ours),
    })
}

/// The anonymous part of a process's PSS (heaps, JS and DOM; not the libraries' pages).
fn pss_anon_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Pss_Anon:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// WebKit processes on this machine that are not in `ours`.
fn foreign_webkit(ours: &[u32]) -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| !ours.contains(pid))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|n| n.starts_with("WebKit") && !is_driver(&n))
                .unwrap_or(false)
        })
        .count()
}

fn is_driver(name: &str) -> bool {
    name.starts_with("tauri-driver") || name.starts_with("WebKitWebDriver")
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// The process under `root` running `bin` (its name is the file name, cut to 15 bytes).
fn find_process(root: u32, bin: &Path) -> Option<u32> {
    let name: String = bin
        .file_name()?
        .to_string_lossy()
        .chars()
        .take(15)
        .collect();
    tree_pss_kib(root)
        .into_iter()
        .find(|(_, n, _)| *n == name)
        .map(|(pid, _, _)| pid)
}

/// Waits until a WebKit web process runs under `root` (the page is being made).
async fn wait_web_process(root: u32) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if tree_pss_kib(root)
            .iter()
            .any(|(_, n, _)| n.starts_with("WebKitWebProces"))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no WebKitWebProcess under {root} after 20 s")
}

/// When a process started, in milliseconds since the Unix epoch (10 ms resolution).
fn process_started_ms(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').context("stat")? + 2..];
    // Field 22 (starttime, clock ticks since boot); `rest` starts at field 3.
    let ticks: f64 = rest
        .split_whitespace()
        .nth(19)
        .context("starttime")?
        .parse()?;
    // SAFETY: sysconf and clock_gettime only write the timespec we pass.
    let (hz, boot) = unsafe {
        let hz = libc::sysconf(libc::_SC_CLK_TCK) as f64;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts);
        (hz, ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6)
    };
    Ok(now_ms() - (boot - ticks * 1000.0 / hz))
}

/// CPU time (ms) used so far by the processes under `root`, the driver's excepted.
fn cpu_ms(root: u32) -> f64 {
    // SAFETY: sysconf has no side effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks: u64 = tree_pss_kib(root)
        .iter()
        .filter(|(_, name, _)| !is_driver(name))
        .filter_map(|(pid, _, _)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime: fields 14 and 15; `rest` starts at field 3.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 * 1000.0 / hz
}

/// The share of one core (%) the processes under `root` used while `work` ran.
async fn cpu_during<T>(root: u32, work: impl std::future::Future<Output = T>) -> (T, f64) {
    let (cpu0, t0) = (cpu_ms(root), Instant::now());
    let out = work.await;
    let pct = (cpu_ms(root) - cpu0) / t0.elapsed().as_secs_f64() / 10.0;
    (out, (pct * 10.0).round() / 10.0)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------- a window started without the driver ----------

/// A window started directly, as a user starts it, in its own data folders.
struct Direct {
    child: Child,
    dir: PathBuf,
}

impl Direct {
    fn spawn(name: &str, bin: &Path, env: &[(&str, String)]) -> Result<Direct> {
        let dir =
            std::env::temp_dir().join(format!("liveroom-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(artifacts().join(format!("bench-{name}.log")))?;
        let child = Command::new(bin)
            .env("LIVEROOM_APP_DATA", &dir)
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
            .env("LANG", "en_US.UTF-8")
            .env("RUST_LOG", "warn")
            .env_remove("WEBKIT_DISABLE_DMABUF_RENDERER")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Direct { child, dir })
    }

    fn close(mut self) {
        terminate(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The bare window's idle memory, started directly (with `env`).
async fn bare_direct(opts: &Opts, label: &str, env: &[(&str, String)]) -> Result<Value> {
    let w = Direct::spawn(label, &opts.bare, env)?;
    let r = async {
        wait_web_process(w.child.id()).await?;
        idle_sample(w.child.id(), opts).await
    }
    .await;
    w.close();
    r
}

/// A window left alone: a second to finish starting, then its CPU over the settle time and
/// its memory after it.
async fn idle_sample(root: u32, opts: &Opts) -> Result<Value> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ((), cpu) = cpu_during(root, tokio::time::sleep(opts.settle())).await;
    let mut mem = memory(root);
    mem["idle_cpu_pct"] = json!(cpu);
    Ok(mem)
}

/// Our app's idle memory on the start screen, started directly.
async fn ours_direct(opts: &Opts) -> Result<Value> {
    let port = free_port();
    let mut env = opts.app_env.clone();
    env.push(("LIVEROOM_EMBEDDED_PORT".into(), port.to_string()));
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let w = Direct::spawn("app-idle", &opts.app, &env)?;
    let r = async {
        // The page asks for the embedded server as soon as it runs: its port answers.
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                Instant::now() < end,
                "the app's embedded server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        idle_sample(w.child.id(), opts).await
    }
    .await;
    w.close();
    r
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

/// One rate's run: frame intervals, typing, sends, and whether each room followed its newest.
struct RateRun {
    rate: u32,
    rooms: usize,
    frames: Value,
    typing: Value,
    sent: u64,
    send_errors: u64,
    typed_ok: bool,
    delivered_ok: bool,
    follows_newest: bool,
    seconds: f64,
    /// The app's processes' CPU, % of one core, while the messages flowed.
    cpu_pct: f64,
}

impl RateRun {
    fn json(&self) -> Value {
        let f = &self.frames["frameIntervalMs"];
        let i = &self.typing["inputLatencyMs"];
        json!({
            "rate": self.rate,
            "rooms": self.rooms,
            "frame_p50_ms": round1(&f["p50"]),
            "frame_p95_ms": round1(&f["p95"]),
            "frame_p99_ms": round1(&f["p99"]),
            "frames": f["count"],
            "input_p50_ms": round1(&i["p50"]),
            "input_p95_ms": round1(&i["p95"]),
            "input_max_ms": round1(&i["max"]),
            "keys": i["count"],
            "key_handler_delay_p95_ms": round1(&self.typing["handlerDelayMs"]["p95"]),
            "render_p95_ms": round1(&self.frames["renderMs"]["p95"]),
            "sent": self.sent,
            "sent_per_s": (self.sent as f64 / self.seconds).round(),
            "send_errors": self.send_errors,
            "typed_ok": self.typed_ok,
            "typed_delivered": self.delivered_ok,
            "follows_newest": self.follows_newest,
            "app_cpu_pct": self.cpu_pct,
        })
    }
}

fn round1(v: &Value) -> Value {
    v.as_f64()
        .map(|x| json!((x * 10.0).round() / 10.0))
        .unwrap_or(Value::Null)
}

/// The engines that send into one room.
#[derive(Clone)]
struct Room {
    id: String,
    senders: Vec<Im>,
}

async fn senders(app: &App, room: &str, first: usize) -> Result<Room> {
    let (app_id, key) = app.keys()?;
    let mut list = Vec::new();
    for i in first..first + SENDERS_PER_ROOM {
        let user = format!("sender_{i}");
        let im = Im::new(app_id, app.server())?;
        im.login(&user, &user_sig(app_id, &key, &user)).await?;
        im.set_my_profile(Some(format!("Sender {i}")), None).await?;
        im.enter_room(room).await?;
        list.push(im);
    }
    Ok(Room {
        id: room.to_owned(),
        senders: list,
    })
}

/// Chat lines of varied length, so some wrap.
const LINES: &[&str] = &[
    "hi",
    "hello from the back row",
    "this stream is great, greetings from Lyon",
    "can you show the setup again? the camera angle from before was much better",
    "哈哈哈 太好笑了",
    "gg",
    "where can I find the slides from last week? I missed the first half and would like to catch up before the Q&A",
];

/// Sends `per_room` messages a second into every room for `secs`; returns (sent, errors) and
/// the last text of every sender (room, text).
async fn flood(
    rooms: &[Room],
    per_room: u32,
    secs: u64,
    tag: &str,
) -> (u64, u64, Vec<(String, String)>) {
    let errors = Arc::new(AtomicU64::new(0));
    let per_sender = per_room as f64 / SENDERS_PER_ROOM as f64;
    let mut tasks = Vec::new();
    for room in rooms {
        for (s, im) in room.senders.iter().enumerate() {
            let (im, room_id, errors, tag) =
                (im.clone(), room.id.clone(), errors.clone(), tag.to_owned());
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let end = Duration::from_secs(secs);
                let mut sent = 0u64;
                let mut last = String::new();
                let mut sends = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                while start.elapsed() < end {
                    tick.tick().await;
                    let due = (start.elapsed().as_secs_f64() * per_sender) as u64;
                    while sent < due {
                        let text = format!(
                            "{tag} {s}-{sent}: {}",
                            LINES[(sent as usize + s) % LINES.len()]
                        );
                        last = text.clone();
                        let (im, room_id, errors) = (im.clone(), room_id.clone(), errors.clone());
                        sends.push(tokio::spawn(async move {
                            if im
                                .send_text_message(&room_id, &text, Priority::Normal)
                                .await
                                .is_err()
                            {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }));
                        sent += 1;
                    }
                }
                for t in sends {
                    let _ = t.await;
                }
                (sent, room_id, last)
            }));
        }
    }
    let mut sent = 0;
    let mut last = Vec::new();
    for t in tasks {
        if let Ok((n, room, text)) = t.await {
            sent += n;
            last.push((room, text));
        }
    }
    (sent, errors.load(Ordering::Relaxed), last)
}

/// `visible(paneCss, text)`: whether a text node holding `text` is on screen in that pane.
const VISIBLE_JS: &str = r#"
function visible(css, text) {
  const pane = document.querySelector(css);
  if (!pane) return false;
  pane.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const walk = document.createTreeWalker(pane, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.data.includes(text)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const box = range.getClientRects()[0];
    if (!box || !box.height) continue;
    const hit = document.elementFromPoint(box.left + Math.min(box.width, 8) / 2, box.top + box.height / 2);
    if (hit && (hit === n.parentElement || hit.contains(n) || n.parentElement.contains(hit))) return true;
  }
  return false;
}
"#;

/// Sends `per_room` likes a second into every room for `secs` (hearts float up for each).
async fn like(rooms: &[Room], per_room: u32, secs: u64) {
    if per_room == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_room as f64));
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        tick.tick().await;
        for room in rooms {
            let (im, id) = (room.senders[SENDERS_PER_ROOM - 1].clone(), room.id.clone());
            tokio::spawn(async move {
                let like = CustomPayload {
                    data: "like".into(),
                    ..CustomPayload::default()
                };
                let _ = im.send_custom_message(&id, like, Priority::Low).await;
            });
        }
    }
}

fn pane(room: &str) -> String {
    format!(".pane[data-room='{room}']")
}

/// Runs one rate: `per_room` msg/s into each of `rooms` while keys are typed into the first
/// room's composer.
async fn run_rate(app: &App, opts: &Opts, rooms: &[Room], per_room: u32) -> Result<RateRun> {
    let rate = per_room * rooms.len() as u32;
    let secs = opts.flood_secs(rate);
    let typing_room = &rooms[0].id;
    let input = app
        .wait_css(&format!("{} .text-input", pane(typing_room)))
        .await?;
    input.clear().await.context("clearing the composer")?;
    // Focused from script: a click can land on a toast passing over the composer.
    app.client
        .execute(
            "arguments[0].focus(); return true",
            vec![serde_json::to_value(&input)?],
        )
        .await
        .context("focusing the composer")?;
    app.js(
        "window.liveroomPerf.start(); window.liveroomPerf.startTyping(); return true",
        vec![],
    )
    .await?;
    let started = Instant::now();
    let cpu0 = cpu_ms(app.driver_pid());
    let tag = format!("r{rate}");
    let sending = {
        let rooms = rooms.to_vec();
        let likes = opts.likes;
        tokio::spawn(async move {
            let (out, ()) = tokio::join!(
                flood(&rooms, per_room, secs, &tag),
                like(&rooms, likes, secs)
            );
            out
        })
    };
    // Type at a steady pace for as long as the flood runs.
    let mut typed = String::new();
    let mut keys = TYPED.chars().cycle();
    while started.elapsed() + KEY_EVERY < Duration::from_secs(secs) {
        let next = started + KEY_EVERY * (typed.chars().count() as u32 + 1);
        let ch = keys.next().unwrap_or(' ');
        input
            .send_keys(&ch.to_string())
            .await
            .with_context(|| format!("typing {ch:?} into {typing_room}'s composer"))?;
        typed.push(ch);
        tokio::time::sleep_until(next.into()).await;
    }
    let (sent, send_errors, last) = sending.await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_pct = ((cpu_ms(app.driver_pid()) - cpu0) / seconds / 10.0 * 10.0).round() / 10.0;
    // The last frames of what arrived: let them be drawn before stopping the sampling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let typing = app
        .js("return window.liveroomPerf.stopTyping()", vec![])
        .await?;
    let frames = app.js("return window.liveroomPerf.stop()", vec![]).await?;
    let value = input
        .prop("value")
        .await
        .context("reading the composer")?
        .unwrap_or_default();
    let typed_ok = value == typed;
    if !typed_ok {
        eprintln!("rate {rate}: typed {typed:?}, the composer holds {value:?}");
    }
    // Every room shows the last message of each of its senders, on screen (hit-tested, so a
    // row that is in the DOM but scrolled away, clipped or not painted does not count).
    let mut follows_newest = true;
    for (room, text) in &last {
        let script = format!(
            "{VISIBLE_JS} return visible({}, {});",
            json!(pane(room)),
            json!(text)
        );
        if app
            .wait_js("the newest message shown", &script)
            .await
            .is_err()
        {
            let view = app
                .js(
                    "const c = document.querySelector(arguments[0] + ' .chat'); return c && {scrollTop: c.scrollTop, scrollHeight: c.scrollHeight, clientHeight: c.clientHeight, last: [...c.children].slice(-3).map((li) => li.textContent.slice(0, 100))}",
                    vec![json!(pane(room))],
                )
                .await
                .unwrap_or_default();
            eprintln!("rate {rate}: room {room} does not show its newest message {text:?}; its chat: {view}");
            let _ = app
                .screenshot(&format!("bench-app-{rate}-not-newest"))
                .await;
            follows_newest = false;
        }
    }
    // Send what was typed: another member of the room gets it, whole.
    let mut events = rooms[0].senders[0].events();
    input
        .send_keys("\u{e007}")
        .await
        .context("pressing Enter")?;
    let wanted = typed.trim().to_owned();
    let delivered_ok = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if ev
                        .messages()
                        .iter()
                        .any(|m| matches!(&m.body, Body::Text(t) if t.text.trim() == wanted))
                    {
                        return true;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    if !delivered_ok {
        eprintln!("rate {rate}: the typed message did not reach the room");
    }
    Ok(RateRun {
        rate,
        rooms: rooms.len(),
        frames,
        typing,
        sent,
        send_errors,
        typed_ok,
        delivered_ok,
        follows_newest,
        seconds,
        cpu_pct,
    })
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

// ---------- report ----------

fn ratio(a: &Value, b: &Value) -> Value {
    match (a["total_mib"].as_f64(), b["total_mib"].as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

fn table(r: &Value) -> String {
    let mut out = String::new();
    let m = |k: &str| {
        r[k].as_f64()
            .map(|x| format!("{x:.0}"))
            .unwrap_or("-".into())
    };
    let x = |k: &str| {
        r["ratios"][k]
            .as_f64()
            .map(|x| format!("{x:.2}×"))
            .unwrap_or("-".into())
    };
    out += &format!(
        "desktop app benchmark ({}; load before {}, after {})\n\n",
        r["mode"].as_str().unwrap_or(""),
        r["load_before"].as_str().unwrap_or(""),
        r["load_after"].as_str().unwrap_or("")
    );
    if r["foreign_webkit_processes"].as_u64().unwrap_or(0) > 0 {
        out += &format!("WARNING: {} WebKit processes of other programs ran meanwhile: memory figures too low\n\n", r["foreign_webkit_processes"]);
    }
    out += "| memory (PSS, all processes) | MiB | × bare idle | target |\n|---|---:|---:|---|\n";
    out += &format!(
        "| bare window, idle | {} | 1.00× | |\n",
        m("bare_idle_pss_mib")
    );
    out += &format!(
        "| bare window, idle, compositing off | {} | {} | |\n",
        m("bare_nocompositing_idle_pss_mib"),
        x("bare_nocompositing")
    );
    out += &format!(
        "| bare window, idle, under WebDriver | {} | {} | |\n",
        m("bare_driver_idle_pss_mib"),
        x("bare_driver")
    );
    out += &format!(
        "| ours, idle on the start screen | {} | {} | ≤ 1.15× |\n",
        m("idle_pss_mib"),
        x("idle")
    );
    out += &format!(
        "| ours, idle, under WebDriver | {} | {} | |\n",
        m("idle_driver_pss_mib"),
        x("idle_driver")
    );
    out += &format!(
        "| ours, logged in, one room (WebDriver) | {} | {} | ≤ 1.3× |\n",
        m("room_pss_mib"),
        x("room")
    );
    out += &format!(
        "| ours, after the 40 msg/s run (WebDriver) | {} | {} | |\n",
        m("after_40_pss_mib"),
        x("after_40")
    );
    out += &format!(
        "| ours, after 10,000 messages (WebDriver) | {} | {} | ≤ 1.4× |\n",
        m("after_flood_pss_mib"),
        x("after_flood")
    );
    out += &format!(
        "| ours, the same 30 s later | {} | {} | |\n",
        m("after_flood_30s_pss_mib"),
        x("after_flood_30s")
    );
    out += &format!(
        "| ours, 5 rooms side by side after 5×40/s (WebDriver) | {} | {} | |\n\n",
        m("side_by_side_pss_mib"),
        x("side_by_side")
    );
    out += &format!(
        "CPU (% of a core) left alone: bare window {}, ours on the start screen {}, ours with one quiet room {}\n\n",
        r["bare_idle_cpu_pct"], r["idle_cpu_pct"], r["room_idle_cpu_pct"]
    );
    out += "| rate (msg/s) | rooms | sent/s | frame p50 | frame p95 | frame target | input p50 | input p95 | input target | keys | app CPU | checks |\n|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|\n";
    for run in r["rates"].as_array().into_iter().flatten() {
        let f = |k: &str| {
            run[k]
                .as_f64()
                .map(|x| format!("{x:.1}"))
                .unwrap_or("-".into())
        };
        let target = match run["rate"].as_u64() {
            Some(40) => "≤ 20 ms",
            Some(200) => "≤ 33 ms",
            _ => "≤ 50 ms",
        };
        let ok = run["send_errors"] == json!(0)
            && run["typed_ok"] == json!(true)
            && run["typed_delivered"] == json!(true)
            && run["follows_newest"] == json!(true);
        out += &format!(
            "| {} | {} | {} | {} | {} | {target} | {} | {} | ≤ 50 ms | {} | {}% | {} |\n",
            run["rate"],
            run["rooms"],
            run["sent_per_s"],
            f("frame_p50_ms"),
            f("frame_p95_ms"),
            f("input_p50_ms"),
            f("input_p95_ms"),
            run["keys"],
            run["app_cpu_pct"],
            if ok { "ok" } else { "FAILED" }
        );
    }
    let c = &r["cold_start"];
    let n = |v: &Value| v.as_f64().map(|x| format!("{x:.0}")).unwrap_or("-".into());
    out += "\n| start (ms) | ours | bare window | target |\n|---|---:|---:|---|\n";
    out += &format!(
        "| process start → page starts loading | {} | {} | |\n",
        n(&c["process_to_page_ms"]),
        n(&r["bare_start"]["process_to_page_ms"])
    );
    out += &format!(
        "| process start → first frame / bare page loaded | {} | {} | |\n",
        n(&c["first_frame_ms"]),
        n(&r["bare_start"]["process_to_loaded_ms"])
    );
    out += &format!(
        "| cold start → start screen drawn | {} | | ≤ 1500 |\n",
        n(&c["start_screen_ms"])
    );
    out += &format!(
        "| cold start → embedded server's address shown | {} | | |\n",
        n(&c["embedded_ready_ms"])
    );
    out += &format!(
        "| \"Start\" clicked → main screen drawn | {} | | ≤ 1000 |\n",
        n(&r["start_to_main_ms"])
    );
    out += &format!(
        "| \"Create\" clicked → room drawn | {} | | ≤ 1000 |\n",
        n(&r["room_open_ms"])
    );
    out += "\nprocesses (PSS MiB, of which anonymous: heaps, JS, DOM):\n";
    for (label, key) in [
        ("bare idle", "bare_idle"),
        ("ours idle", "idle"),
        ("one room", "room"),
        ("after flood", "after_flood"),
        ("30 s later", "after_flood_30s"),
    ] {
        let procs: Vec<String> = r["processes"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?");
                format!("{name} {} ({})", p["pss_mib"], p["anon_mib"])
            })
            .collect();
        out += &format!("  {label:<12} {}\n", procs.join(", "));
    }
    out
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
