//! Starts the `liveroom-server` binary for a benchmark, or points at an existing one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, Context};

/// The SDKAppID and key the benchmark's own server is started with.
pub const APP: u64 = 1_400_000_002;
/// Secret key of [`APP`].
pub const KEY: &str = "bench-secret-key";

/// A server under test: our own child process, or a remote address.
pub struct BenchServer {
    child: Option<Child>,
    /// `ws://HOST:PORT`
    pub url: String,
    _data: Option<tempfile::TempDir>,
}

impl BenchServer {
    /// Starts `liveroom-server` (next to this executable) with extra flags, or uses `remote`.
    pub fn start(remote: Option<String>, extra: &[String]) -> anyhow::Result<Self> {
        if let Some(url) = remote {
            return Ok(Self { child: None, url, _data: None });
        }
        let data = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let bin: PathBuf = exe
            .parent()
            .map(|d| d.join("liveroom-server"))
            .ok_or_else(|| anyhow!("no folder for the benchmark executable"))?;
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--app", &format!("{APP}:{KEY}"), "--data"])
            .arg(data.path())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("liveroom-server listening on http://")
            .ok_or_else(|| anyhow!("unexpected server output: {line}"))?
            .to_owned();
        Ok(Self { child: Some(child), url: format!("ws://{addr}"), _data: Some(data) })
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
