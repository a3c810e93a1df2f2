//! The windows' processes: their memory, CPU and start time, read from /proc; a window
//! started directly (without the driver) and its idle sample.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use liveroom_app_tests::{artifacts, free_port, terminate, tree_pss_kib};
use serde_json::{json, Value};

use crate::Opts;

// ---------- memory ----------

/// PSS of the processes under `root` (the app and its WebKit processes; never the driver's),
/// and how many WebKit processes of other programs ran meanwhile: PSS splits a shared
/// library's pages between every process that maps it, so those make our figures look smaller.
pub(crate) fn memory(root: u32) -> Value {
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
pub(crate) fn find_process(root: u32, bin: &Path) -> Option<u32> {
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
pub(crate) fn process_started_ms(pid: u32) -> Result<f64> {
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
pub(crate) fn cpu_ms(root: u32) -> f64 {
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
pub(crate) async fn cpu_during<T>(
    root: u32,
    work: impl std::future::Future<Output = T>,
) -> (T, f64) {
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

pub(crate) fn load_average() -> String {
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
pub(crate) async fn bare_direct(opts: &Opts, label: &str, env: &[(&str, String)]) -> Result<Value> {
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
pub(crate) async fn ours_direct(opts: &Opts) -> Result<Value> {
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
