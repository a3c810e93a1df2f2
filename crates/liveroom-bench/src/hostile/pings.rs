//! Attack 3: a client with a tiny receive buffer sends pings with 125-byte payloads (the most
//! a control frame may carry) as fast as it can and never reads the pongs. Without a bound on
//! the write buffer, every pong the server cannot write stays queued in its memory.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{mib, rss, secs, start, Figures, Outcome, PeakRss, Scale};
use crate::conn::source_ip;
use crate::procstat;
use crate::rawws::{push_frame, RawWs, OP_PING};
use crate::server::{Target, APP};
use crate::worker::call;

/// Payload of each ping.
const PAYLOAD: [u8; 125] = [b'p'; 125];
/// Pings per write.
const PER_WRITE: u64 = 1000;

/// Pings to send.
pub fn count(scale: &Scale) -> u64 {
    if scale.smoke {
        50_000
    } else {
        1_500_000
    }
}

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    let started = start(target, scale, &[])?;
    let pid = started.pid();
    let server = started.server.addr()?;
    let bound = Duration::from_secs(if scale.smoke { 10 } else { 60 });

    let mut ws = RawWs::connect_with(server, source_ip(30), super::stall::RECV_BUFFER).await?;
    call(&mut ws, &json!({"id": 1, "op": "hello", "sdk_app_id": APP})).await?;
    let peer = ws.local_addr()?;
    let rss_before = rss(pid);
    let peak = PeakRss::start(pid);

    let mut chunk = Vec::with_capacity(PER_WRITE as usize * 131);
    for _ in 0..PER_WRITE {
        push_frame(&mut chunk, OP_PING, &PAYLOAD);
    }
    let total = count(scale);
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    let mut sent = 0u64;
    // Why the writing stopped early, if it did.
    let mut stopped = None;
    while sent < total {
        match tokio::time::timeout_at(deadline, ws.write_raw(&chunk)).await {
            Ok(Ok(())) => sent += PER_WRITE,
            Ok(Err(_)) => {
                stopped = Some(format!(
                    "closed by the server after {:.2} s",
                    t0.elapsed().as_secs_f64()
                ));
                break;
            }
            Err(_) => {
                stopped = Some(format!(
                    "server stopped reading; {} s bound",
                    bound.as_secs()
                ));
                break;
            }
        }
    }
    let took = t0.elapsed();
    // A pong the server cannot write waits for its write deadline: watch the socket a little
    // longer than that.
    let watch = Duration::from_secs(scale.write_timeout + 3);
    let after = Instant::now();
    let mut sock = procstat::server_socket(pid, server, peer);
    let mut send_queue = sock.map_or(0, |s| s.send_queue);
    while sock.is_some_and(|s| s.held) && after.elapsed() < watch {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sock = procstat::server_socket(pid, server, peer);
        send_queue = send_queue.max(sock.map_or(0, |s| s.send_queue));
    }
    let held = sock.is_some_and(|s| s.held);
    let rss_after = rss(pid);
    let closed = match (&stopped, held) {
        (Some(why), _) => why.clone().into(),
        (None, true) => format!("no: held {} s after the last ping", watch.as_secs()).into(),
        (None, false) => {
            format!("{:.1} s after the last ping", after.elapsed().as_secs_f64()).into()
        }
    };
    drop(ws);
    let figures: Figures = vec![
        ("pings written".into(), sent.into()),
        ("writing them took (s)".into(), secs(took)),
        ("client closed by the server".into(), closed),
        (
            "server's send queue to it (KiB)".into(),
            (send_queue / 1024).into(),
        ),
        (
            "server RSS growth, peak (MiB)".into(),
            mib(peak.peak() - rss_before),
        ),
        (
            "server RSS growth at the end (MiB)".into(),
            mib(rss_after - rss_before),
        ),
    ];
    Ok(Outcome::new(&started, figures))
}
