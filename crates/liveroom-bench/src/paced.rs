//! Paced sends for the REST and webhook scenarios, through the engine (WebSocket) or the REST
//! API, each timed from its start to its answer. Open loop: every send starts on its tick, so
//! a slow answer never delays the sends after it (their latency shows it instead).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use liveroom_engine::proto::Priority;
use liveroom_engine::Im;
use serde::Serialize;
use serde_json::{json, Value};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::conn::{now_micros, source_ip, Conn};

/// The REST API as the app's backend calls it: one keep-alive client, signed as the app
/// administrator.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    /// `http://HOST:PORT`
    base: String,
    app: u64,
    admin: String,
    sig: String,
}

impl Rest {
    /// A client for `server` (`ws://HOST:PORT`), as `admin` of `app` with a fresh UserSig.
    pub fn new(server: &str, app: u64, key: &str, admin: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            base: server.replacen("ws://", "http://", 1),
            app,
            admin: admin.to_owned(),
            sig: liveroom_usersig::gen_usersig(app, key, admin, 86_400),
        })
    }

    /// `POST /v4/PATH` the way Tencent's server SDKs build it: the envelope's JSON, or the
    /// failure (`ErrorCode`, or what went wrong on the way).
    pub async fn call(&self, path: &str, body: &Value, random: u32) -> Result<Value, Failure> {
        let url = format!(
            "{}/v4/{path}?sdkappid={}&identifier={}&usersig={}&random={random}&contenttype=json",
            self.base, self.app, self.admin, self.sig
        );
        let resp = self
            .http
            .post(url)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        if resp.status() != 200 {
            return Err(Failure::Transport(format!("HTTP {}", resp.status())));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        if v["ActionStatus"] != "OK" {
            return Err(Failure::Code(v["ErrorCode"].as_u64().unwrap_or(0)));
        }
        Ok(v)
    }

    /// Creates an `AVChatRoom` named `room` owned by `owner`.
    pub async fn create_room(&self, room: &str, owner: &str) -> anyhow::Result<()> {
        let body =
            json!({"Owner_Account": owner, "Type": "AVChatRoom", "GroupId": room, "Name": room});
        self.call("group_open_http_svc/create_group", &body, 1)
            .await
            .map_err(|e| anyhow!("create_group {room}: {e}"))?;
        Ok(())
    }
}

/// Why a send failed.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server's error code.
    Code(u64),
    /// The request did not get an answer (connection, timeout, not JSON).
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(c) => write!(f, "{c}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
        }
    }
}

/// How one sender reaches its room.
#[derive(Clone)]
pub enum Via {
    /// An engine logged in and in the room: `send_text_message`, answered by the server's ack.
    Ws(Im),
    /// `group_open_http_svc/send_group_msg` with a `TIMTextElem`, as the administrator.
    Rest(Rest),
    /// A bare protocol connection (TCP_NODELAY, unlike the engine's socket), its requests
    /// pipelined: what the server does, without the engine's socket in between.
    Raw(Arc<RawSender>),
}

/// A bare connection's writing half and the answers it waits for, by request id.
pub struct RawSender {
    sink: tokio::sync::Mutex<futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>>,
    waiting: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Result<(), Failure>>>>,
    next_id: std::sync::atomic::AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for RawSender {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// One sender into one room.
#[derive(Clone)]
pub struct Sender {
    pub via: Via,
    pub room: String,
}

impl Sender {
    /// A bare connection logged in as `user` in `room`.
    pub async fn raw(
        server: &str,
        app: u64,
        key: &str,
        user: &str,
        room: &str,
    ) -> anyhow::Result<Self> {
        let mut conn = Conn::connect_app(server, source_ip(0), app).await?;
        let sig = liveroom_usersig::gen_usersig(app, key, user, 86_400);
        conn.request(json!({"op": "login", "user_id": user, "user_sig": sig}))
            .await?;
        conn.request(json!({"op": "enter_room", "room_id": room}))
            .await
            .with_context(|| format!("{user} enters {room}"))?;
        let (sink, mut stream) = conn.ws.split();
        let waiting: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Result<(), Failure>>>> =
            Mutex::default();
        let raw = Arc::new_cyclic(|weak: &std::sync::Weak<RawSender>| {
            let weak = weak.clone();
            let reader = tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(t) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                        continue;
                    };
                    let Some(id) = v["id"].as_u64() else { continue };
                    let Some(raw) = weak.upgrade() else { break };
                    let Some(tx) = raw.waiting.lock().ok().and_then(|mut w| w.remove(&id)) else {
                        continue;
                    };
                    let result = if v["t"] == "error" {
                        Err(Failure::Code(v["code"].as_u64().unwrap_or(0)))
                    } else {
                        Ok(())
                    };
                    let _ = tx.send(result);
                }
            });
            RawSender {
                sink: tokio::sync::Mutex::new(sink),
                waiting,
                // Below the ids `Conn::request` used for hello, login and enter.
                next_id: std::sync::atomic::AtomicU64::new(1_000),
                reader,
            }
        });
        Ok(Self {
            via: Via::Raw(raw),
            room: room.to_owned(),
        })
    }

    /// Logs an engine in as `user` and enters `room`.
    pub async fn ws(
        server: &str,
        app: u64,
        key: &str,
        user: &str,
        room: &str,
    ) -> anyhow::Result<Self> {
        let im = Im::new(app, server).map_err(anyhow::Error::msg)?;
        let sig = liveroom_usersig::gen_usersig(app, key, user, 86_400);
        im.login(user, &sig).await.map_err(anyhow::Error::msg)?;
        im.enter_room(room)
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{user} enters {room}"))?;
        Ok(Self {
            via: Via::Ws(im),
            room: room.to_owned(),
        })
    }

    /// Sends message `n` (text `t<µs>:N`, which the viewer workers read their latency from).
    pub async fn send(&self, n: u64) -> Result<(), Failure> {
        let text = format!("t{}:N", now_micros());
        match &self.via {
            Via::Ws(im) => im
                .send_text_message(&self.room, &text, Priority::Normal)
                .await
                .map(|_| ())
                .map_err(|e| Failure::Code(u64::from(e.code))),
            Via::Raw(raw) => {
                let id = raw
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (tx, rx) = tokio::sync::oneshot::channel();
                if let Ok(mut w) = raw.waiting.lock() {
                    w.insert(id, tx);
                }
                let frame = json!({"id": id, "op": "send_text", "room_id": self.room, "text": text, "priority": "Normal"});
                raw.sink
                    .lock()
                    .await
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .map_err(|e| Failure::Transport(e.to_string()))?;
                rx.await
                    .unwrap_or_else(|_| Err(Failure::Transport("connection closed".into())))
            }
            Via::Rest(rest) => {
                let body = json!({
                    "GroupId": self.room,
                    "Random": n as u32,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
                });
                rest.call("group_open_http_svc/send_group_msg", &body, n as u32)
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// The sends of one series and how long each took.
#[derive(Debug, Clone)]
pub struct Series {
    pub hist: Histogram<u64>,
    pub sent: u64,
    pub ok: u64,
    /// Failed sends by code (or `transport: ...`).
    pub failed: BTreeMap<String, u64>,
}

impl Series {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            sent: 0,
            ok: 0,
            failed: BTreeMap::new(),
        })
    }

    fn record(&mut self, took: Duration, result: Result<(), Failure>) {
        self.sent += 1;
        match result {
            Ok(()) => {
                self.ok += 1;
                let _ = self.hist.record((took.as_micros() as u64).max(1));
            }
            Err(e) => *self.failed.entry(e.to_string()).or_default() += 1,
        }
    }

    /// Adds `other`'s sends to these.
    pub fn add(&mut self, other: &Series) -> anyhow::Result<()> {
        self.hist.add(&other.hist)?;
        self.sent += other.sent;
        self.ok += other.ok;
        for (k, v) in &other.failed {
            *self.failed.entry(k.clone()).or_default() += v;
        }
        Ok(())
    }

    /// Its figures under `name`.
    pub fn row(&self, name: &str) -> Row {
        let ms = |q: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(q) as f64 / 1000.0
            }
        };
        Row {
            name: name.to_owned(),
            sent: self.sent,
            ok: self.ok,
            failed: self.failed.clone(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: if self.hist.is_empty() {
                0.0
            } else {
                self.hist.max() as f64 / 1000.0
            },
        }
    }
}

/// One line of a latency table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub sent: u64,
    pub ok: u64,
    pub failed: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Sends `count` messages through `senders` in turn at `rate` a second in all (each sender
/// `rate / senders.len()`), each started on its tick; waits up to `wait` after the last for
/// the answers. Sends still unanswered then are counted as failed (`unanswered`).
pub async fn paced(
    senders: &[Sender],
    rate: f64,
    count: u64,
    first_n: u64,
    wait: Duration,
) -> anyhow::Result<Series> {
    if senders.is_empty() {
        bail!("no senders");
    }
    let series = Arc::new(Mutex::new(Series::new()?));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        tick.tick().await;
        let sender = senders[i as usize % senders.len()].clone();
        let series = series.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = sender.send(first_n + i).await;
            if let Ok(mut s) = series.lock() {
                s.record(started.elapsed(), result);
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + wait;
    for mut t in tasks {
        if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
            t.abort();
        }
    }
    let mut s = series
        .lock()
        .map_err(|_| anyhow!("series lock poisoned"))?
        .clone();
    let unanswered = count.saturating_sub(s.sent);
    if unanswered > 0 {
        s.sent = count;
        *s.failed.entry("unanswered".into()).or_default() += unanswered;
    }
    Ok(s)
}
