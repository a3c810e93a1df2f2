//! Test support shared by the workspace's integration tests (the engine's, the CLI's, the
//! end-to-end suite and the app's window tests): the workspace's binaries found next to the
//! running test, the real `liveroom-server` run as a process on a loopback port with its own
//! data folder, a real `redis-server` for cluster mode ([`RedisProcess`]), and a
//! TLS-terminating proxy with a self-signed certificate.
//!
//! The test command builds every binary first (`cargo build --workspace --all-targets`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod cluster;
mod redis;
pub use redis::{cpu_seconds, RedisProcess};

/// Path of workspace binary `name`, built next to the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-HASH -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> folder");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --all-targets` first",
        path.display()
    );
    path
}

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `liveroom-server` process with its own data folder; killed on drop. Its stderr is
/// dropped unless `LIVEROOM_TEST_SERVER_LOG` is set (then it goes to the test's stderr).
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    data: tempfile::TempDir,
    args: Vec<String>,
}

impl ServerProcess {
    /// Starts a server on a free loopback port for app `app` with secret `key`, plus `extra`
    /// flags (e.g. `["--room-budget", "5"]`).
    pub fn start(app: u64, key: &str, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1", app, key, extra)
    }

    /// Like [`ServerProcess::start`], on a free port of loopback address `ip` (e.g.
    /// `"127.0.0.2"`): cluster tests give each node its own address, as hosts have.
    pub fn start_on(ip: &str, app: u64, key: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut args = vec!["--app".to_owned(), format!("{app}:{key}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let (child, addr) =
            spawn(data.path(), &format!("{ip}:0"), &args).unwrap_or_else(|e| panic!("{e}"));
        Self {
            child: Some(child),
            addr,
            data,
            args,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process's resident memory in bytes (`VmRSS` of `/proc/PID/status`): what hostile
    /// tests watch grow.
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.pid().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// How many file descriptors the process holds (`/proc/PID/fd`).
    pub fn open_fds(&self) -> usize {
        let pid = self.pid().expect("the server is running");
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
    }

    /// Kills the process at once (SIGKILL): a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for it: a graceful shutdown.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("server exit status")
    }

    /// Starts it again on the same port and data folder (stopping it first if it runs),
    /// retrying while the port is still held by the old process's sockets.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        let mut last = String::new();
        for _ in 0..50 {
            match spawn(self.data.path(), &listen, &self.args) {
                Ok((child, _)) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not restart on {listen}: {last}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(data: &Path, listen: &str, args: &[String]) -> Result<(Child, SocketAddr), String> {
    let stderr = if std::env::var_os("LIVEROOM_TEST_SERVER_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut child = Command::new(bin("liveroom-server"))
        .args(["--listen", listen, "--data"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("liveroom-server does not start: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("liveroom-server listening on http://") {
                let _ = tx.send(addr.trim().to_owned());
            }
            // Keep reading so the server never writes to a closed pipe.
        }
    });
    let addr = match rx.recv_timeout(START_TIMEOUT) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "liveroom-server on {listen} printed no address within {} s",
                START_TIMEOUT.as_secs()
            ));
        }
    };
    let addr = addr
        .parse()
        .map_err(|_| format!("liveroom-server printed a bad address: {addr}"))?;
    Ok((child, addr))
}

/// A TLS-terminating proxy in front of a server, as a self-hosted deployment puts one, with a
/// self-signed certificate for `localhost` and 127.0.0.1 made by the `openssl` command.
pub struct TlsProxy {
    /// Where engines connect (`https://localhost:PORT`).
    pub addr: SocketAddr,
    /// The proxy's certificate (PEM): the root a client must trust.
    pub cert_pem: Vec<u8>,
    accept: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    /// Starts terminating TLS and forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the openssl command runs (Debian package openssl)");
        assert!(status.success(), "openssl made no certificate");
        let cert_pem = std::fs::read(&cert).expect("certificate");
        let key_pem = std::fs::read(&key).expect("key");
        let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem).expect("identity");
        let acceptor = tokio_native_tls::TlsAcceptor::from(
            native_tls::TlsAcceptor::new(identity).expect("TLS acceptor"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return; // the client refused our certificate
                    };
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                    }
                });
            }
        });
        Self {
            addr,
            cert_pem,
            accept,
            _dir: dir,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
