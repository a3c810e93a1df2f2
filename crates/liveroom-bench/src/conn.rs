//! A bare protocol connection for load: no engine, small buffers, a chosen source address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::server::APP;

/// A WebSocket speaking the Liveroom wire protocol.
pub struct Conn {
    /// The socket.
    pub ws: WebSocketStream<TcpStream>,
    next_id: u64,
}

/// Microseconds since the Unix epoch: comparable across the bench's processes.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The loopback source address for connection `index`: 127.0.0.2 .. 127.0.0.201.
pub fn source_ip(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (index % 200) as u8)
}

/// `ws://HOST:PORT` → the socket address.
pub fn server_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let host = url
        .trim_start_matches("ws://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    host.parse()
        .with_context(|| format!("server address {host}"))
}

impl Conn {
    /// Connects from `source` to `url`'s `/ws`, sends `hello` for the bench app.
    pub async fn connect(url: &str, source: Ipv4Addr) -> anyhow::Result<Self> {
        Self::connect_app(url, source, APP).await
    }

    /// Like [`Conn::connect`], for the SDKAppID `app`.
    pub async fn connect_app(url: &str, source: Ipv4Addr, app: u64) -> anyhow::Result<Self> {
        let addr = server_addr(url)?;
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            format!("ws://{addr}/ws"),
            stream,
            Some(config),
        )
        .await
        .context("websocket handshake")?;
        let mut conn = Self { ws, next_id: 0 };
        conn.request(json!({"op": "hello", "sdk_app_id": app}))
            .await?;
        Ok(conn)
    }

    /// Sends a request (an `id` is added) without waiting; returns the id.
    pub async fn send(&mut self, mut request: Value) -> anyhow::Result<u64> {
        self.next_id += 1;
        request["id"] = self.next_id.into();
        self.ws
            .send(Message::Text(request.to_string().into()))
            .await?;
        Ok(self.next_id)
    }

    /// Sends a request and waits for its reply, skipping pushed frames.
    pub async fn request(&mut self, request: Value) -> anyhow::Result<Value> {
        let id = self.send(request).await?;
        loop {
            let msg = self.ws.next().await.ok_or_else(|| anyhow!("closed"))??;
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str())?;
            if v["id"] == id {
                if v["t"] == "error" {
                    bail!("error {}: {}", v["code"], v["message"]);
                }
                return Ok(v["data"].clone());
            }
        }
    }
}

/// Counts messages in a `messages` frame and hands each one's send stamp and priority mark
/// (`t<micros>:<P>` texts) to `each`, without parsing the JSON.
pub fn scan_frame(frame: &[u8], mut each: impl FnMut(u64, u8)) -> usize {
    const KEY: &[u8] = b"\"text\":\"t";
    let mut count = 0;
    let mut i = 0;
    while let Some(pos) = find(&frame[i..], KEY) {
        let mut j = i + pos + KEY.len();
        let mut stamp = 0u64;
        while j < frame.len() && frame[j].is_ascii_digit() {
            stamp = stamp * 10 + u64::from(frame[j] - b'0');
            j += 1;
        }
        let mark = if frame.get(j) == Some(&b':') {
            frame.get(j + 1).copied().unwrap_or(b'N')
        } else {
            b'N'
        };
        each(stamp, mark);
        count += 1;
        i = j;
    }
    count
}

/// One message of the cluster scenario's numbered texts (`t<micros>:<P><n>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    /// Send time, µs since the epoch.
    pub stamp: u64,
    /// The sender's number for it, from 1.
    pub n: u64,
    /// The room sequence the server gave it (0 if the frame has none, as Socket.IO's).
    pub sequence: u64,
}

/// Like [`scan_frame`] for numbered texts: hands each message's stamp, number and the
/// `"sequence"` that follows its text in the same message to `each`; returns the count.
pub fn scan_numbered(frame: &[u8], mut each: impl FnMut(Numbered)) -> usize {
    const KEY: &[u8] = b"\"text\":\"t";
    const SEQ: &[u8] = b"\"sequence\":";
    let digits = |from: usize| {
        let mut j = from;
        let mut v = 0u64;
        while j < frame.len() && frame[j].is_ascii_digit() {
            v = v * 10 + u64::from(frame[j] - b'0');
            j += 1;
        }
        (v, j)
    };
    let mut count = 0;
    let mut next = find(frame, KEY);
    while let Some(pos) = next {
        let (stamp, j) = digits(pos + KEY.len());
        // `:` then the priority mark, then the number.
        let (n, j) = if frame.get(j) == Some(&b':') {
            digits(j + 2)
        } else {
            (0, j)
        };
        next = find(&frame[j..], KEY).map(|p| p + j);
        let end = next.unwrap_or(frame.len());
        let sequence = find(&frame[j..end], SEQ).map_or(0, |p| digits(j + p + SEQ.len()).0);
        each(Numbered { stamp, n, sequence });
        count += 1;
    }
    count
}

/// SIMD substring search: the viewers' scan is load-generator CPU taken from the server.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_stamps_and_marks() {
        let f = br#"{"t":"messages","room":"r","list":[{"payload":{"text":"t123:H"}},{"payload":{"text":"t45:L"}}]}"#;
        let mut seen = Vec::new();
        assert_eq!(scan_frame(f, |s, m| seen.push((s, m))), 2);
        assert_eq!(seen, [(123, b'H'), (45, b'L')]);
    }

    #[test]
    fn scans_numbers_and_sequences() {
        let f = br#"{"t":"messages","list":[{"payload":{"text":"t123:N7"},"time":1,"sequence":40},{"payload":{"text":"t45:N8"}},{"payload":{"text":"t46:N9"},"sequence":42}]}"#;
        let mut seen = Vec::new();
        assert_eq!(scan_numbered(f, |m| seen.push(m)), 3);
        let num = |stamp, n, sequence| Numbered { stamp, n, sequence };
        assert_eq!(seen, [num(123, 7, 40), num(45, 8, 0), num(46, 9, 42)]);
    }
}
