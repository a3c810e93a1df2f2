//! Harness for the end-to-end tests: runs the real `liveroom-server` binary on a loopback
//! port with its own data folder, signs UserSigs for it, and runs the real `liveroom` CLI.
//!
//! The binaries are found next to the test executable (`target/<profile>/`); the test command
//! builds them first (`cargo build --workspace --bins`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use liveroom_engine::Im;

/// The SDKAppID every test server knows.
pub const APP: u64 = 1_400_000_001;
/// Its secret key.
pub const KEY: &str = "e2e-secret-key-0123456789abcdef";

/// Path of a workspace binary built next to the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-HASH -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> folder");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A UserSig for `user` on the test app, valid for a day.
pub fn sig(user: &str) -> String {
    liveroom_usersig::gen_usersig(APP, KEY, user, 86_400)
}

/// A running `liveroom-server` process; killed on drop.
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    data: tempfile::TempDir,
    extra_args: Vec<String>,
}

impl Server {
    /// Starts a server on a free loopback port with default room rules.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra flags (e.g. `["--room-budget", "5"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr) = spawn(data.path(), "127.0.0.1:0", &extra_args);
        Self {
            child: Some(child),
            addr,
            data,
            extra_args,
        }
    }

    /// `ws://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// A new engine for this server's test app.
    pub fn engine(&self) -> Im {
        Im::new(APP, self.url()).expect("engine")
    }

    /// A new engine, logged in as `user`.
    pub async fn login(&self, user: &str) -> Im {
        let im = self.engine();
        im.login(user, &sig(user)).await.expect("login");
        im
    }

    /// Kills the process at once (SIGKILL): a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for it: a graceful shutdown.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("server is running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().expect("server exit status")
    }

    /// Starts the server again on the same port and data folder.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        let (child, addr) = spawn(self.data.path(), &self.addr.to_string(), &self.extra_args);
        assert_eq!(addr, self.addr);
        self.child = Some(child);
    }

    /// Runs the `liveroom` CLI against this server (`--server` and `--app` added).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("liveroom"))
            .args(args)
            .env("LIVEROOM_SERVER", self.url())
            .env("LIVEROOM_APP", APP.to_string())
            .env_remove("LIVEROOM_USER")
            .env_remove("LIVEROOM_SIG")
            .output()
            .expect("run liveroom")
    }

    /// Runs the CLI as `user` (with a valid sig).
    pub fn cli_as(&self, user: &str, args: &[&str]) -> Output {
        Command::new(bin("liveroom"))
            .args(args)
            .env("LIVEROOM_SERVER", self.url())
            .env("LIVEROOM_APP", APP.to_string())
            .env("LIVEROOM_USER", user)
            .env("LIVEROOM_SIG", sig(user))
            .output()
            .expect("run liveroom")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(data: &Path, listen: &str, extra: &[String]) -> (Child, SocketAddr) {
    let app = format!("{APP}:{KEY}");
    let mut child = Command::new(bin("liveroom-server"))
        .args(["--listen", listen, "--app", &app, "--data"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start liveroom-server");
    let stdout = child.stdout.take().expect("server stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("liveroom-server listening on http://") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            panic!("liveroom-server did not report its address within 20 s");
        }
    };
    (child, addr.parse().expect("server address"))
}

/// Parses stdout of a CLI run as JSON, failing with its stderr when it did not succeed.
pub fn json_out(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "liveroom failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
