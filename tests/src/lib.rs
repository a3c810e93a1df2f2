//! Harness for the end-to-end tests: runs the real `liveroom-server` binary on a loopback
//! port with its own data folder, signs UserSigs for it, and runs the real `liveroom` CLI.
//!
//! The process itself is `liveroom_testkit::ServerProcess`, shared with the engine's and the
//! CLI's tests.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use liveroom_engine::Im;
use liveroom_testkit::ServerProcess;

/// The SDKAppID every test server knows.
pub const APP: u64 = 1_400_000_001;
/// Its secret key.
pub const KEY: &str = "e2e-secret-key-0123456789abcdef";

pub use liveroom_testkit::bin;

/// A UserSig for `user` on the test app, valid for a day.
pub fn sig(user: &str) -> String {
    liveroom_usersig::gen_usersig(APP, KEY, user, 86_400)
}

/// A running `liveroom-server` process for the test app; killed on drop.
pub struct Server {
    process: ServerProcess,
}

impl Server {
    /// Starts a server on a free loopback port with default room rules.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra flags (e.g. `["--room-budget", "5"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        Self {
            process: ServerProcess::start(APP, KEY, extra),
        }
    }

    /// `ws://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr())
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.process.data_dir()
    }

    /// The server process (its pid, memory and open files).
    pub fn process(&self) -> &ServerProcess {
        &self.process
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
        self.process.kill();
    }

    /// Stops the process with SIGTERM and waits for it: a graceful shutdown.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }

    /// Starts the server again on the same port and data folder.
    pub fn restart(&mut self) {
        self.process.restart();
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
