//! End-to-end tests: the real `liveroom-server` binary on loopback, driven by real engines,
//! raw WebSockets and the real `liveroom` CLI. One binary, a module per area.

mod budget;
mod cli;
mod cluster;
mod external_images;
mod hostile;
mod hostile_images;
mod hygiene;
mod images;
mod moderation;
mod overlay;
mod protocol;
mod reconnect;
mod rest;
mod rest_accounts;
mod rest_backend;
mod rest_cli;
mod rest_groups;
mod rest_support;
mod rooms;
mod session;
mod stats;
mod usersig;
mod webhooks;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveroom_engine::Event;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long a test waits for something that should happen at once on loopback.
pub const SOON: Duration = Duration::from_secs(5);

/// An event as the seed shapes it: `{name, data, roomID}`.
pub fn as_json(ev: &Event) -> Value {
    serde_json::to_value(ev).expect("events serialize")
}

/// Waits for the next event named `name`, skipping others.
pub async fn wait_for(rx: &mut broadcast::Receiver<Event>, name: &str) -> Value {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name} event within {SOON:?}"))
            .expect("event stream open");
        let v = as_json(&ev);
        if v["name"] == name {
            return v;
        }
    }
}

/// Waits (as long as the caller lets it) for the next event named `name`, skipping others.
pub async fn wait_for_long(rx: &mut broadcast::Receiver<Event>, name: &str) -> Value {
    loop {
        let ev = rx.recv().await.expect("event stream open");
        let v = as_json(&ev);
        if v["name"] == name {
            return v;
        }
    }
}

/// Collects the messages of `name` events until `n` have arrived.
pub async fn messages(rx: &mut broadcast::Receiver<Event>, name: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let v = wait_for(rx, name).await;
        out.extend(
            v["data"]
                .as_array()
                .expect("message events carry an array")
                .clone(),
        );
    }
    out
}

/// Asserts that no event named `name` arrives within `wait`.
pub async fn assert_no_event(rx: &mut broadcast::Receiver<Event>, name: &str, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        let v = as_json(&ev);
        assert_ne!(v["name"], name, "unexpected event {v}");
    }
}

/// A bare WebSocket client speaking the wire protocol, for what an engine would never send.
pub struct RawClient {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawClient {
    /// Connects to `GET /ws`.
    pub async fn connect(server: &liveroom_tests::Server) -> Self {
        Self::connect_url(&server.url()).await
    }

    /// Connects to `GET /ws` of the server at `url` (`ws://HOST:PORT`).
    pub async fn connect_url(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{url}/ws"))
            .await
            .expect("websocket connect");
        Self { ws }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(WsMessage::Text(text.into().into()))
            .await
            .expect("send");
    }

    /// Sends any frame.
    pub async fn send(
        &mut self,
        msg: WsMessage,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(msg).await
    }

    /// Sends a request and returns the reply or error frame with its id.
    pub async fn request(&mut self, frame: Value) -> Value {
        let id = frame["id"].clone();
        self.send_text(frame.to_string()).await;
        loop {
            let v = self.next_json().await.expect("a reply");
            if v["id"] == id && (v["t"] == "reply" || v["t"] == "error") {
                return v;
            }
        }
    }

    /// The next JSON frame, or `None` when the server closed the connection.
    pub async fn next_json(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(SOON, self.ws.next())
                .await
                .expect("server answers within 5 s")?;
            match msg {
                Ok(WsMessage::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Waits for the close frame and returns its code (None if the socket just dropped).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let msg = tokio::time::timeout(SOON, self.ws.next())
                .await
                .expect("server closes within 5 s");
            match msg {
                Some(Ok(WsMessage::Close(Some(f)))) => return Some(f.code.into()),
                Some(Ok(WsMessage::Close(None))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }
}
