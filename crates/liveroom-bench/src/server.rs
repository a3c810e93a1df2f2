//! Starts the server under test: our `liveroom-server` binary, or the Node.js `ws` baseline in
//! `bench/node-ws-baseline` (which speaks the same few operations), or points at a remote one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

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
        if let Some(url) = remote {
            return Ok(Self {
                child: None,
                url,
                pid: None,
                _data: None,
            });
        }
        let data = tempfile::tempdir()?;
        let mut cmd = match target {
            Target::Liveroom => {
                let bin = sibling("liveroom-server")?;
                let mut c = Command::new(bin);
                c.args([
                    "--listen",
                    "127.0.0.1:0",
                    "--app",
                    &format!("{APP}:{KEY}"),
                    "--data",
                ])
                .arg(data.path())
                .args(extra)
                .env("RUST_LOG", "warn");
                c
            }
            Target::Node => {
                let dir = baseline_dir()?;
                if !dir.join("node_modules/ws").exists() {
                    let ok = Command::new("npm")
                        .args(["install", "--silent", "--no-audit", "--no-fund"])
                        .current_dir(&dir)
                        .status()
                        .context("npm install in bench/node-ws-baseline")?;
                    if !ok.success() {
                        bail!("npm install failed in {}", dir.display());
                    }
                }
                let mut c = Command::new("node");
                c.arg(dir.join("server.js")).args(["--port", "0"]);
                c
            }
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let addr = line
            .trim()
            .split_once("listening on http://")
            .map(|(_, a)| a.to_owned())
            .ok_or_else(|| anyhow!("unexpected server output: {line}"))?;
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let pid = Some(child.id());
        Ok(Self {
            child: Some(child),
            url: format!("ws://{addr}"),
            pid,
            _data: Some(data),
        })
    }

    /// A UserSig for `user` on the benchmark app.
    pub fn sig(&self, user: &str) -> String {
        liveroom_usersig::gen_usersig(APP, KEY, user, 86_400)
    }
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

/// `bench/node-ws-baseline` in the source tree.
fn baseline_dir() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/node-ws-baseline");
    if !dir.join("server.js").exists() {
        bail!("{} not found", dir.display());
    }
    Ok(dir)
}
