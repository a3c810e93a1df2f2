//! Attack 4: connections that never finish a request. Many TCP connections from one address
//! that send nothing; a slowloris (a request head trickled a byte a second); an upload whose
//! body stops after its first kilobyte. Each client reads, so it sees the server close it.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::{fds, start, Figures, Outcome, Scale};
use crate::conn::{source_ip, Conn};
use crate::server::Target;

/// Bare connections.
pub fn count(scale: &Scale) -> usize {
    if scale.smoke {
        50
    } else {
        500
    }
}

/// When each client saw its connection end, from the attack's start.
type Ends = Arc<Mutex<Vec<Option<Duration>>>>;

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    let started = start(target, scale, &[])?;
    let pid = started.pid();
    let server = started.server.addr()?;
    // The upload needs a logged-in session's token (the baseline ignores it).
    let mut session = Conn::connect(&started.server.url, source_ip(60)).await?;
    let token = session
        .request(json!({"op": "login", "user_id": "uploader", "user_sig": started.server.sig("uploader")}))
        .await?["upload_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let n = count(scale);
    let checks = [
        Duration::from_secs(1),
        Duration::from_secs(scale.handshake_timeout + 2),
        Duration::from_secs(scale.upload_idle_timeout + 3),
    ];
    let fds_before = fds(pid);
    let ends: Ends = Arc::new(Mutex::new(vec![None; n + 2]));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let ends = ends.clone();
        match connect(server, 50).await {
            Ok(stream) => tasks.push(tokio::spawn(async move {
                wait_end(stream, &ends, i, t0).await;
            })),
            Err(_) => mark(&ends, i, t0),
        }
    }
    // Slowloris: a request head that never ends, a byte a second.
    match connect(server, 51).await {
        Ok(stream) => {
            let ends = ends.clone();
            tasks.push(tokio::spawn(async move {
                let (mut rd, mut wr) = stream.into_split();
                let trickle = async {
                    if wr
                        .write_all(b"GET /ws HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if wr.write_all(b"a").await.is_err() {
                            return;
                        }
                    }
                };
                let mut buf = [0u8; 4096];
                let ended = async {
                    while let Ok(k) = rd.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                    }
                };
                tokio::select! { _ = trickle => {}, _ = ended => {} }
                mark(&ends, n, t0);
            }));
        }
        Err(_) => mark(&ends, n, t0),
    }
    // An upload that stops after 1 KB of a declared 1 MB.
    let answer: Arc<Mutex<Option<String>>> = Arc::default();
    match connect(server, 52).await {
        Ok(mut stream) => {
            let head = format!(
                "POST /upload HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
            );
            let sent = stream.write_all(head.as_bytes()).await.is_ok()
                && stream.write_all(&[0u8; 1000]).await.is_ok();
            if sent {
                let (ends, answer) = (ends.clone(), answer.clone());
                tasks.push(tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(k) = stream.read(&mut buf).await {
                        if k == 0 {
                            break;
                        }
                        if let Ok(mut a) = answer.lock() {
                            if a.is_none() {
                                let text = String::from_utf8_lossy(&buf[..k]);
                                *a = text.lines().next().map(str::to_owned);
                            }
                        }
                    }
                    mark(&ends, n + 1, t0);
                }));
            } else {
                mark(&ends, n + 1, t0);
            }
        }
        Err(_) => mark(&ends, n + 1, t0),
    }

    let mut held_at = Vec::new();
    let mut fds_at = Vec::new();
    for at in checks {
        tokio::time::sleep(at.saturating_sub(t0.elapsed())).await;
        let ends = ends.lock().map(|e| e.clone()).unwrap_or_default();
        held_at.push(ends[..n].iter().filter(|e| e.is_none()).count());
        fds_at.push(fds(pid));
    }
    let ends_now = ends.lock().map(|e| e.clone()).unwrap_or_default();
    let last = checks[2].as_secs();
    let ended = |e: Option<Duration>| -> Value {
        match e {
            Some(d) => format!("closed after {:.1} s", d.as_secs_f64()).into(),
            None => format!("held at {last} s").into(),
        }
    };
    let closed_at_once = ends_now[..n]
        .iter()
        .filter(|e| e.is_some_and(|d| d < Duration::from_millis(500)))
        .count();
    for t in &tasks {
        t.abort();
    }
    drop(tasks);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds_after = fds(pid);
    drop(session);

    let figures: Figures = vec![
        ("bare connections opened".into(), n.into()),
        (
            "  refused or closed at once (< 0.5 s)".into(),
            closed_at_once.into(),
        ),
        (
            format!("  still held at {} s", checks[0].as_secs()),
            held_at[0].into(),
        ),
        (
            format!("  still held at {} s", checks[1].as_secs()),
            held_at[1].into(),
        ),
        (
            format!("  still held at {} s", checks[2].as_secs()),
            held_at[2].into(),
        ),
        (
            "slowloris (a header byte a second)".into(),
            ended(ends_now[n]),
        ),
        (
            "upload stalled after 1 KB of 1 MB".into(),
            ended(ends_now[n + 1]),
        ),
        (
            "  its answer".into(),
            answer
                .lock()
                .ok()
                .and_then(|a| a.clone())
                .unwrap_or_else(|| "none".into())
                .into(),
        ),
        (
            format!(
                "server fds: before / {} s / {} s / {} s",
                checks[0].as_secs(),
                checks[1].as_secs(),
                checks[2].as_secs()
            ),
            format!(
                "{fds_before} / {} / {} / {}",
                fds_at[0], fds_at[1], fds_at[2]
            )
            .into(),
        ),
        (
            "server fds after the clients hung up".into(),
            fds_after.into(),
        ),
    ];
    Ok(Outcome::new(&started, figures))
}

async fn connect(server: SocketAddr, source: usize) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source_ip(source), 0)))?;
    socket.connect(server).await
}

/// Reads until the server closes (or resets) the connection; records when.
async fn wait_end(mut stream: TcpStream, ends: &Ends, i: usize, t0: Instant) {
    let mut buf = [0u8; 1024];
    while let Ok(k) = stream.read(&mut buf).await {
        if k == 0 {
            break;
        }
    }
    mark(ends, i, t0);
}

fn mark(ends: &Ends, i: usize, t0: Instant) {
    if let Ok(mut e) = ends.lock() {
        e[i] = Some(t0.elapsed());
    }
}
