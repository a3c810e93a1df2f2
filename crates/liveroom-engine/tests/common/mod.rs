//! Runs the real `liveroom-server` binary for the engine's integration tests (the process is
//! `liveroom_testkit::ServerProcess`).

#![allow(dead_code, unused_imports)] // each test binary uses a part of it

use std::net::SocketAddr;
use std::time::Duration;

use liveroom_engine::proto::Message;
use liveroom_engine::{Event, EventName, Im};
use liveroom_testkit::ServerProcess;
pub use liveroom_testkit::TlsProxy;
use tokio::sync::broadcast;

/// The SDKAppID the test servers know.
pub const APP: u64 = 1_400_000_123;
/// Its secret key.
pub const KEY: &str = "engine-test-secret";

/// A UserSig for `user`, valid for a day.
pub fn sig(user: &str) -> String {
    liveroom_usersig::gen_usersig(APP, KEY, user, 86_400)
}

/// A `liveroom-server` process with its own data folder; killed on drop.
pub struct Server {
    process: ServerProcess,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let process = ServerProcess::start(APP, KEY, &[]);
        Self {
            addr: process.addr(),
            process,
        }
    }

    /// The address engines are given.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A new engine on this server.
    pub fn im(&self) -> Im {
        Im::new(APP, self.url()).expect("engine")
    }

    /// A new engine logged in as `user`.
    pub async fn login(&self, user: &str) -> Im {
        let im = self.im();
        im.login(user, &sig(user)).await.expect("login");
        im
    }

    /// Kills the process (as a crash would).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and data folder.
    pub fn restart(&mut self) {
        self.process.restart();
    }
}

/// Waits (at most `secs`) for the next event called `name`, skipping others.
pub async fn next_event(rx: &mut broadcast::Receiver<Event>, name: EventName, secs: u64) -> Event {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(event) if event.name == name => return event,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} within {secs} s"))
}

/// Collects messages of `name` events until there are `n` (at most `secs`).
pub async fn messages(
    rx: &mut broadcast::Receiver<Event>,
    name: EventName,
    n: usize,
    secs: u64,
) -> Vec<Message> {
    let mut out = Vec::new();
    let wait = async {
        while out.len() < n {
            let event = next_event(rx, name, secs).await;
            out.extend(event.messages().iter().cloned());
        }
    };
    if tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .is_err()
    {
        panic!("only {} of {n} {name} messages within {secs} s", out.len());
    }
    out
}

/// Events already queued on `rx`, without waiting.
pub fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        out.push(event);
    }
    out
}

/// A loopback TCP proxy in front of a server that a test can cut and restore, to lose one
/// engine's connection while the server and everyone else carry on.
pub struct Proxy {
    /// Where engines connect.
    pub addr: SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the engine sees the connection fail
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().expect("proxy lock").push(task.abort_handle());
            }
        });
        Self {
            addr,
            up,
            conns,
            accept,
        }
    }

    /// The address engines are given.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Drops every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for conn in self.conns.lock().expect("proxy lock").drain(..) {
            conn.abort();
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
