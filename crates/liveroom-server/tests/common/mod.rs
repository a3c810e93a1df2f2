//! Test harness: an in-process server on 127.0.0.1:0 with a temp dir, and a small client.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveroom_server::{Config, ConfigBuilder, RunningServer};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const APP: u64 = 1_400_000_000;
pub const KEY: &str = "test-secret-key";
pub const APP2: u64 = 1_400_000_001;
pub const KEY2: &str = "other-secret";

pub const WAIT: Duration = Duration::from_secs(2);

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

pub fn base_config(dir: &std::path::Path) -> ConfigBuilder {
    Config::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .data_dir(dir)
        .app(APP, KEY)
        .app(APP2, KEY2)
        .user_rate(0)
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|b| b).await
    }

    pub async fn start_with(f: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = liveroom_server::start(f(base_config(dir.path())).build())
            .await
            .unwrap();
        Self {
            server: Some(server),
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.server.as_ref().unwrap().local_addr())
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await
    }

    /// A client that said hello to APP and logged in as `user`.
    pub async fn user(&self, user: &str) -> Client {
        let mut c = self.client().await;
        c.hello(APP).await;
        c.login(user).await;
        c
    }

    /// Like [`TestServer::user`], with the client's socket receive buffer fixed at `bytes`
    /// (no autotuning: here it may grow to 32 MiB and swallow what a test means to back up).
    pub async fn user_with_recv_buffer(&self, user: &str, bytes: u32) -> Client {
        let mut c = Client::connect_with_recv_buffer(&self.url(), bytes).await;
        c.hello(APP).await;
        c.login(user).await;
        c
    }

    pub async fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

pub fn sig(user: &str) -> String {
    liveroom_usersig::gen_usersig(APP, KEY, user, 3600)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Client {
    pub ws: Ws,
    next_id: u64,
    /// Push frames received while waiting for replies.
    pub pushes: VecDeque<Value>,
}

/// Outcome of a request.
#[derive(Debug)]
pub enum Resp {
    Ok(Value),
    Err(u32, String),
}

impl Resp {
    #[track_caller]
    pub fn ok(self) -> Value {
        match self {
            Resp::Ok(v) => v,
            Resp::Err(c, m) => panic!("expected success, got {c}: {m}"),
        }
    }
    #[track_caller]
    pub fn code(self) -> u32 {
        match self {
            Resp::Ok(v) => panic!("expected an error, got {v}"),
            Resp::Err(c, _) => c,
        }
    }
    #[track_caller]
    pub fn err(self) -> (u32, String) {
        match self {
            Resp::Ok(v) => panic!("expected an error, got {v}"),
            Resp::Err(c, m) => (c, m),
        }
    }
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .unwrap();
        Self::over(ws)
    }

    fn over(ws: Ws) -> Self {
        Self {
            ws,
            next_id: 1,
            pushes: VecDeque::new(),
        }
    }

    pub async fn connect_with_recv_buffer(url: &str, bytes: u32) -> Self {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(stream), None)
                .await
                .unwrap();
        Self::over(ws)
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// Next text frame as JSON (panics on timeout or close).
    pub async fn next_frame(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("socket ended")
                .expect("socket error");
            match m {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Sends `op` with fields, returns the reply or error for its id.
    pub async fn req(&mut self, op: &str, fields: Value) -> Resp {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = fields;
        frame["id"] = json!(id);
        frame["op"] = json!(op);
        self.send_raw(&frame.to_string()).await;
        self.wait_reply(Some(id)).await
    }

    pub async fn wait_reply(&mut self, id: Option<u64>) -> Resp {
        loop {
            let f = self.next_frame().await;
            match f["t"].as_str() {
                Some("reply") if f["id"].as_u64() == id => return Resp::Ok(f["data"].clone()),
                Some("error") if f["id"].as_u64() == id => {
                    return Resp::Err(
                        f["code"].as_u64().unwrap() as u32,
                        f["message"].as_str().unwrap().to_owned(),
                    )
                }
                _ => self.pushes.push_back(f),
            }
        }
    }

    /// Next push frame (buffered first).
    pub async fn next_push(&mut self) -> Value {
        if let Some(f) = self.pushes.pop_front() {
            return f;
        }
        self.next_frame().await
    }

    /// Next `messages` push's list, skipping online frames; flattens consecutive frames until
    /// `n` messages are collected.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let f = self.next_push().await;
            if f["t"] == "messages" {
                out.extend(f["list"].as_array().unwrap().iter().cloned());
            }
        }
        out
    }

    /// Collects pushed messages until one matches `pred`; returns that one.
    pub async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = self.next_push().await;
            if f["t"] == "messages" {
                if let Some(m) = f["list"].as_array().unwrap().iter().find(|m| pred(m)) {
                    return m.clone();
                }
            }
        }
    }

    /// Asserts nothing arrives for a short while.
    pub async fn assert_quiet(&mut self, ms: u64) {
        assert!(self.pushes.is_empty(), "pending: {:?}", self.pushes);
        if let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            panic!("unexpected frame {m:?}");
        }
    }

    /// Waits for the close frame; returns its code. Frames before it are buffered.
    pub async fn closed(&mut self) -> u16 {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for close");
            match m {
                Some(Ok(Message::Close(Some(c)))) => return u16::from(c.code),
                Some(Ok(Message::Close(None))) => return u16::from(CloseCode::Status),
                Some(Ok(Message::Text(t))) => self
                    .pushes
                    .push_back(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error before close: {e}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    }

    pub async fn hello(&mut self, app: u64) -> Value {
        self.req("hello", json!({ "sdk_app_id": app })).await.ok()
    }

    pub async fn login(&mut self, user: &str) -> Value {
        self.req("login", json!({ "user_id": user, "user_sig": sig(user) }))
            .await
            .ok()
    }

    pub async fn create(&mut self, room: &str) -> Value {
        self.req("create_room", json!({ "name": "Room", "room_id": room }))
            .await
            .ok()
    }

    pub async fn enter(&mut self, room: &str) -> Value {
        self.req("enter_room", json!({ "room_id": room }))
            .await
            .ok()
    }

    pub async fn text(&mut self, room: &str, text: &str) -> Resp {
        self.req("send_text", json!({ "room_id": room, "text": text }))
            .await
    }
}
