//! The app backend's webhook endpoint, inside the bench: a small HTTP server on loopback that
//! answers every callback "allow" after a set delay, or never answers, and counts what it got.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::serve::ListenerExt;
use axum::Json;
use hdrhistogram::Histogram;
use serde_json::json;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `{"ActionStatus":"OK","ErrorCode":0}` (allow) after this long.
    After(Duration),
    /// Reads the request and never answers (a hung backend).
    Never,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/callback`
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the receiver saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Calls by `CallbackCommand`.
    pub by_command: BTreeMap<String, u64>,
    /// Time from a call's arrival (body read) to its answer, µs: what "answering in 1 ms"
    /// really took on this box.
    pub answer_us: Histogram<u64>,
}

#[derive(Clone)]
struct Ctx {
    answer: Answer,
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start(answer: Answer) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen {
            by_command: BTreeMap::new(),
            answer_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        }));
        let ctx = Ctx {
            answer,
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(ctx);
        // As a backend tuned for latency would: no Nagle delay on the answers.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("webhook receiver stopped: {e}");
            }
        });
        Ok(Self {
            url: format!("http://{addr}/callback"),
            seen,
            task,
        })
    }

    /// What it saw so far.
    pub fn seen(&self) -> Option<Seen> {
        self.seen.lock().ok().map(|s| s.clone())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
    _body: axum::body::Bytes,
) -> impl IntoResponse {
    let arrived = Instant::now();
    let command = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("CallbackCommand="))
        .unwrap_or("(none)")
        .to_owned();
    if let Ok(mut seen) = ctx.seen.lock() {
        *seen.by_command.entry(command).or_default() += 1;
    }
    match ctx.answer {
        // A thread's sleep, not tokio's: the timer wheel rounds a 1 ms sleep up to ~2 ms.
        Answer::After(delay) => {
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
        }
        Answer::Never => std::future::pending::<()>().await,
    }
    if let Ok(mut seen) = ctx.seen.lock() {
        let us = arrived.elapsed().as_micros() as u64;
        let _ = seen.answer_us.record(us.max(1));
    }
    Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}))
}

/// A loopback address nothing listens on (bound, then closed): connections are refused.
pub fn dead_url() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}/callback"))
}
