//! A real `redis-server` (Debian package `redis-server`) on a free loopback port, in its own
//! folder, for the cluster tests and the cluster benchmark: real parts, not a fake.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis may take to answer PING (loading a large AOF included).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A `redis-server` process on 127.0.0.1 with its own data folder; killed on drop. Its log
/// goes to `redis.log` in that folder (to the test's stderr if `LIVEROOM_TEST_SERVER_LOG`
/// is set).
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    aof: bool,
}

impl RedisProcess {
    /// Starts Redis with no persistence at all (`--save "" --appendonly no`). Panics if it
    /// cannot (tests); [`RedisProcess::try_start`] returns the reason instead.
    pub fn start() -> Self {
        Self::try_start(false).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts Redis with an append-only file synced on every write
    /// (`--appendonly yes --appendfsync always`): what survives [`RedisProcess::restart`].
    pub fn start_aof() -> Self {
        Self::try_start(true).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts Redis on a free loopback port, with the AOF (`aof`) or without persistence.
    pub fn try_start(aof: bool) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut last = String::new();
        // A port found free may be taken before Redis binds it: try a few.
        for _ in 0..10 {
            let port = free_port()?;
            match spawn(dir.path(), port, aof) {
                Ok(child) => {
                    return Ok(Self {
                        child: Some(child),
                        port,
                        dir,
                        aof,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `redis://127.0.0.1:PORT`: what `liveroom-server --redis` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its data folder (the AOF lives in `appendonlydir/` there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether it was started with the append-only file.
    pub fn is_aof(&self) -> bool {
        self.aof
    }

    /// Kills it at once (SIGKILL) and waits for it: Redis crashing or going away.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, folder and options (killing it first if it runs), and
    /// waits until it answers PING: with the AOF, every acknowledged write is back.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = String::new();
        // The old process's sockets may hold the port for a moment.
        for _ in 0..50 {
            match spawn(self.dir.path(), self.port, self.aof) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}: {last}", self.port);
    }

    /// CPU time it has used, user plus system, in seconds (`/proc/PID/stat`); 0 once it is
    /// gone. The cluster benchmark reports it.
    pub fn cpu_seconds(&self) -> f64 {
        self.pid().and_then(cpu_seconds).unwrap_or(0.0)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// User plus system CPU seconds of process `pid`, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')';
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks at USER_HZ = 100 on every architecture we run on.
    Some((utime + stime) as f64 / 100.0)
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The Debian package's binary, or `redis-server` on PATH.
fn redis_binary() -> PathBuf {
    let debian = Path::new("/usr/bin/redis-server");
    if debian.exists() {
        debian.to_owned()
    } else {
        PathBuf::from("redis-server")
    }
}

/// Starts `redis-server` on `port` in `dir` and waits until it answers PING.
fn spawn(dir: &Path, port: u16, aof: bool) -> Result<Child, String> {
    let log_to_stderr = std::env::var_os("LIVEROOM_TEST_SERVER_LOG").is_some();
    let mut cmd = Command::new(redis_binary());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        // No config file is read, so nothing of the system's Redis (its port, its folder,
        // its service) is shared with ours.
        .args(["--daemonize", "no", "--save", ""]);
    if aof {
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        cmd.args(["--appendonly", "no"]);
    }
    if log_to_stderr {
        cmd.args(["--logfile", ""]).stdout(Stdio::inherit());
    } else {
        cmd.arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdout(Stdio::null());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server does not start (Debian package redis-server): {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "redis-server on port {port} exited ({status}); see {}",
                dir.join("redis.log").display()
            ));
        }
        if answers_ping(addr) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server on port {port} did not answer PING within {} s",
                READY_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether Redis at `addr` answers an inline `PING` with `+PONG` (not `-LOADING`).
fn answers_ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"+PONG")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one command as a RESP array and reads one reply line (enough for SET/GET of
    /// short values: `+OK`, `$1` then the value).
    fn command(s: &mut TcpStream, args: &[&str]) -> String {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "redis closed the connection");
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            // A bulk string is two lines; anything else one.
            let lines = if text.starts_with('$') && !text.starts_with("$-1") {
                2
            } else {
                1
            };
            if text.matches("\r\n").count() >= lines {
                return text.into_owned();
            }
        }
    }

    fn connect(r: &RedisProcess) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", r.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn answers_on_its_port_and_keeps_aof_writes_across_a_restart() {
        let mut r = RedisProcess::start_aof();
        assert_eq!(r.url(), format!("redis://127.0.0.1:{}", r.port()));
        let mut s = connect(&r);
        assert_eq!(command(&mut s, &["PING"]), "+PONG\r\n");
        assert_eq!(command(&mut s, &["SET", "k", "v"]), "+OK\r\n");
        drop(s);

        let pid = r.pid().unwrap();
        r.kill();
        assert!(r.pid().is_none());
        assert!(cpu_seconds(pid).is_none(), "the old process is gone");
        r.restart();
        assert_ne!(r.pid(), Some(pid));
        let mut s = connect(&r);
        assert_eq!(command(&mut s, &["GET", "k"]), "$1\r\nv\r\n");
        assert!(r.cpu_seconds() >= 0.0);
    }

    #[test]
    fn without_aof_a_restart_starts_empty() {
        let mut r = RedisProcess::start();
        let mut s = connect(&r);
        assert_eq!(command(&mut s, &["SET", "k", "v"]), "+OK\r\n");
        drop(s);
        r.restart();
        let mut s = connect(&r);
        assert_eq!(command(&mut s, &["GET", "k"]), "$-1\r\n");
    }

    #[test]
    fn two_at_once_get_their_own_ports() {
        let (a, b) = (RedisProcess::start(), RedisProcess::start());
        assert_ne!(a.port(), b.port());
        assert!(answers_ping(SocketAddr::from(([127, 0, 0, 1], a.port()))));
        assert!(answers_ping(SocketAddr::from(([127, 0, 0, 1], b.port()))));
    }
}
