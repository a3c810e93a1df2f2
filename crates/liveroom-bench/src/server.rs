//! Starts the server under test: our `liveroom-server` binary, or the Node.js `ws` baseline in
//! `bench/node-ws-baseline` (which speaks the same few operations), or points at a remote one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// The SDKAppID and key the benchmark's own server is started with.
pub const APP: u64 = 1_400_000_002;
/// Secret key of [`APP`].
pub const KEY: &str = "bench-secret-key";

/// Which server a scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Our room server.
    Liveroom,
    /// The naive Node.js `ws` broadcast server.
    Node,
}

impl Target {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Liveroom => "liveroom",
            Self::Node => "node-ws",
        }
    }
}

/// A server under test.
pub struct BenchServer {
    child: Option<Child>,
    /// `ws://HOST:PORT`
    pub url: String,
    /// Process ID, when we started it (for CPU and memory readings).
    pub pid: Option<u32>,
    _data: Option<tempfile::TempDir>,
}

impl BenchServer {
    /// Starts our server (next to this executable) with extra flags, or uses `remote`.
    pub fn start(remote: Option<String>, extra: &[String]) -> anyhow::Result<Self> {
        Self::start_target(Target::Liveroom, remote, extra)
    }

    /// Starts the given target.
    pub fn start_target(
        target: Target,
        remote: Option<String>,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        Self::start_logged(target, remote, extra, "warn")
    }

    /// Starts the given target; our server logs at `log` (`RUST_LOG`): the hostile scenarios
    /// provoke a warning per refused client, which would only clutter their tables.
    pub fn start_logged(
        target: Target,
        remote: Option<String>,
        extra: &[String],
        log: &str,
    ) -> anyhow::Result<Self> {
        if let Some(url) = remote {
            return Ok(Self {
                child: None,
                url,
                pid: None,
                _data: None,
            });
        }
        let data = tempfile::tempdir()?;
        let cmd = match target {
            Target::Liveroom => liveroom_command("127.0.0.1", data.path(), extra, log)?,
            Target::Node => {
                let dir = node_package("node-ws-baseline", "ws")?;
                let mut c = Command::new("node");
                c.arg(dir.join("server.js")).args(["--port", "0"]);
                c
            }
        };
        Self::spawn(cmd, Some(data))
    }

    /// Runs `cmd` (a server that prints `... listening on http://HOST:PORT` on stdout) and
    /// waits for that line; `data` is removed when the server is dropped.
    pub fn spawn(mut cmd: Command, data: Option<tempfile::TempDir>) -> anyhow::Result<Self> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut reader = BufReader::new(stdout);
        let mut addr = None;
        // A server may print a few lines (its node id, ...) before its address.
        for _ in 0..20 {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            if let Some((_, a)) = line.trim().split_once("listening on http://") {
                addr = Some(a.to_owned());
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server printed no address");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let pid = Some(child.id());
        Ok(Self {
            child: Some(child),
            url: format!("ws://{addr}"),
            pid,
            _data: data,
        })
    }

    /// Kills the server at once (SIGKILL) and waits for it: a node crashing.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.pid = None;
    }

    /// A UserSig for `user` on the benchmark app.
    pub fn sig(&self, user: &str) -> String {
        liveroom_usersig::gen_usersig(APP, KEY, user, 86_400)
    }

    /// `HOST:PORT` of the server.
    pub fn addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        crate::conn::server_addr(&self.url)
    }

    /// `GET http://HOST:PORT/PATH` on the server, its JSON (e.g. `/healthz/webhooks`).
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.url.replacen("ws://", "http://", 1));
        let resp = reqwest::get(&url)
            .await
            .with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("GET {url}: HTTP {}", resp.status());
        }
        Ok(resp.json().await?)
    }

    /// Sends SIGTERM and waits up to `bound` for the process to exit: the time it took, or
    /// `None` if it was still running (it is then killed).
    pub fn terminate(&mut self, bound: Duration) -> anyhow::Result<Option<Duration>> {
        let Some(child) = self.child.as_mut() else {
            bail!("the server was not started by the bench");
        };
        let started = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !ok.success() {
            bail!("kill -TERM {} failed", child.id());
        }
        while started.elapsed() < bound {
            if child.try_wait()?.is_some() {
                return Ok(Some(started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(None)
    }
}

/// The `liveroom-server` binary to run: `--server-bin` if given (e.g. an older build, to
/// compare before and after a change), else the one next to this executable.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    match SERVER_BIN.get() {
        Some(path) => Ok(path.clone()),
        None => sibling("liveroom-server"),
    }
}

static SERVER_BIN: OnceLock<PathBuf> = OnceLock::new();

/// Chooses the server binary for the whole run (the global `--server-bin`).
pub fn set_server_binary(path: PathBuf) {
    let _ = SERVER_BIN.set(path);
}

/// The flags the server binary lists in its `--help`, read once: settings added by later
/// versions are passed only to a server that has them, so one bench measures old and new.
fn server_flags() -> anyhow::Result<&'static [String]> {
    static FLAGS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(f) = FLAGS.get() {
        return Ok(f);
    }
    let out = Command::new(server_binary()?)
        .arg("--help")
        .output()
        .context("liveroom-server --help")?;
    let help = String::from_utf8_lossy(&out.stdout);
    let flags = help
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '=' | '[' | ']' | '<' | '>'))
        .filter(|w| w.starts_with("--"))
        .map(str::to_owned)
        .collect();
    Ok(FLAGS.get_or_init(|| flags))
}

/// Whether our server binary has the flag `name` (e.g. `--write-timeout`).
pub fn supports(name: &str) -> anyhow::Result<bool> {
    Ok(server_flags()?.iter().any(|f| f == name))
}

/// The given `(flag, value)` pairs that the server supports, as arguments; the others are
/// returned apart, for the report.
pub fn supported_args(pairs: &[(&str, String)]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut args = Vec::new();
    let mut missing = Vec::new();
    for (flag, value) in pairs {
        if supports(flag)? {
            args.push((*flag).to_owned());
            args.push(value.clone());
        } else {
            missing.push((*flag).to_owned());
        }
    }
    Ok((args, missing))
}

/// Every load scenario comes from loopback, thousands of connections from a few addresses:
/// lift the per-address connection cap (when the server has one) unless the caller set it.
fn loopback_defaults(extra: &[String]) -> anyhow::Result<Vec<String>> {
    const CAP: &str = "--max-connections-per-ip";
    if extra.iter().any(|a| a == CAP) || !supports(CAP)? {
        return Ok(Vec::new());
    }
    Ok(vec![CAP.to_owned(), "0".to_owned()])
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A binary next to this executable.
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .map(|d| d.join(name))
        .ok_or_else(|| anyhow!("no folder"))?;
    if !path.exists() {
        bail!(
            "{} not found: build the workspace binaries first",
            path.display()
        );
    }
    Ok(path)
}

/// Our server listening on a free port of loopback address `ip`, with data folder `data`,
/// the bench app, `extra` flags and the loopback defaults, logging at `log`.
pub fn liveroom_command(
    ip: &str,
    data: &std::path::Path,
    extra: &[String],
    log: &str,
) -> anyhow::Result<Command> {
    let mut c = Command::new(server_binary()?);
    c.args([
        "--listen",
        &format!("{ip}:0"),
        "--app",
        &format!("{APP}:{KEY}"),
        "--data",
    ])
    .arg(data)
    .args(extra)
    .args(loopback_defaults(extra)?)
    .env("RUST_LOG", log);
    Ok(c)
}

/// `bench/NAME` in the source tree, its npm packages installed (`npm ci` from its lock file)
/// if `module` is missing from its node_modules.
pub fn node_package(name: &str, module: &str) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench")
        .join(name);
    if !dir.join("server.js").exists() {
        bail!("{} not found", dir.display());
    }
    if !dir.join("node_modules").join(module).exists() {
        let ok = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .with_context(|| format!("npm ci in bench/{name}"))?;
        if !ok.success() {
            bail!("npm ci failed in {}", dir.display());
        }
    }
    Ok(dir)
}
