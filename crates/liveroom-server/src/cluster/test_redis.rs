//! A real `redis-server` for the cluster modules' unit tests: started on a free loopback
//! port in a temporary directory, with nothing persisted, and killed when dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian package's server.
const SERVER: &str = "/usr/bin/redis-server";

/// A running `redis-server`, killed on drop.
pub(crate) struct TestRedis {
    child: Child,
    port: u16,
    /// Its working directory, removed after it.
    _dir: tempfile::TempDir,
}

impl TestRedis {
    /// Starts a server and waits until it answers `PING`. Panics when it cannot (a test
    /// cannot run without it).
    pub(crate) fn start() -> TestRedis {
        // The free port is found by binding and released before the server binds it: another
        // process may take it in between, so a server that does not come up is retried.
        for _ in 0..5 {
            if let Some(redis) = Self::try_start() {
                return redis;
            }
        }
        panic!("cannot start {SERVER}");
    }

    /// The URL to connect to.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_start() -> Option<TestRedis> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut redis = TestRedis {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = redis.child.try_wait() {
                return None;
            }
            if ping(port) {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Whether a server on `port` answers `PING`.
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
