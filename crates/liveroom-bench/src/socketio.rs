//! Just enough Socket.IO 4 (Engine.IO v4 over WebSocket, no polling) to drive the Socket.IO
//! peer in `bench/socketio-cluster` with the same raw client as our viewers: the open packet
//! `0{...}`, the namespace connect `40`, events with acks `42<id>["event",...]` answered by
//! `43<id>[...]`, and the server's pings `2` answered by `3`. No Socket.IO crate: the
//! harness's WebSocket client carries the packets as text frames, one packet per frame.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::rawws::{RawWs, Read};

/// The upgrade path of a WebSocket-only Engine.IO v4 connection.
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// An Engine.IO ping (the server sends it; the client must answer [`PONG`]).
pub const PING: &[u8] = b"2";
/// The answer to a ping.
pub const PONG: &str = "3";

/// What one incoming text frame is, as far as the bench cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// Engine.IO open (`0{"sid":...}`).
    Open,
    /// Engine.IO ping.
    Ping,
    /// Socket.IO connect to the main namespace accepted (`40{...}`).
    Connected,
    /// Socket.IO connect refused (`44{...}`) or namespace disconnect (`41`).
    Refused,
    /// An event (`42[...]`).
    Event,
    /// An acknowledgement of event `id` (`43<id>[...]`).
    Ack(u64),
    /// Anything else (Engine.IO close, noop, ...).
    Other,
}

/// Classifies one text frame.
pub fn packet(frame: &[u8]) -> Packet {
    match frame {
        [b'0', ..] => Packet::Open,
        [b'2'] => Packet::Ping,
        [b'4', b'0', ..] => Packet::Connected,
        [b'4', b'1', ..] | [b'4', b'4', ..] => Packet::Refused,
        [b'4', b'2', ..] => Packet::Event,
        [b'4', b'3', rest @ ..] => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .map_or(Packet::Other, Packet::Ack)
        }
        _ => Packet::Other,
    }
}

/// An event with an acknowledgement id: `42<id>["<event>",<payload JSON>]`.
pub fn emit(id: u64, event: &str, payload: &serde_json::Value) -> String {
    format!("42{id}[{},{payload}]", serde_json::Value::from(event))
}

/// Connects to the Socket.IO server at `addr` from `source` and joins the main namespace:
/// the open packet, `40`, and the server's `40{...}`.
pub async fn connect(addr: SocketAddr, source: Ipv4Addr) -> anyhow::Result<RawWs> {
    let mut ws = RawWs::connect_path(addr, source, PATH).await?;
    wait_for(&mut ws, |p| p == Packet::Open).await?;
    ws.send_text("40").await?;
    wait_for(&mut ws, |p| p == Packet::Connected).await?;
    Ok(ws)
}

/// Sends event `event` with `payload` and ack id `id`, and waits for its ack.
pub async fn call(
    ws: &mut RawWs,
    id: u64,
    event: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<()> {
    ws.send_text(&emit(id, event, payload)).await?;
    wait_for(ws, |p| p == Packet::Ack(id)).await
}

/// Reads until a packet for which `done` holds, answering pings; fails on a refusal or close.
async fn wait_for(ws: &mut RawWs, done: impl Fn(Packet) -> bool) -> anyhow::Result<()> {
    let work = async {
        loop {
            let (mut found, mut refused, mut pings) = (false, false, 0);
            let read = ws
                .next_frames(|f| match packet(f) {
                    Packet::Ping => pings += 1,
                    Packet::Refused => refused = true,
                    p => found |= done(p),
                })
                .await?;
            for _ in 0..pings {
                ws.send_text(PONG).await?;
            }
            if refused {
                bail!("the Socket.IO server refused the connection");
            }
            if found {
                return Ok(());
            }
            if matches!(read, Read::Closed) {
                bail!("closed");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .context("Socket.IO answer within 30 s")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packets_the_bench_meets() {
        assert_eq!(
            packet(br#"0{"sid":"x","pingInterval":25000}"#),
            Packet::Open
        );
        assert_eq!(packet(b"2"), Packet::Ping);
        assert_eq!(packet(br#"40{"sid":"y"}"#), Packet::Connected);
        assert_eq!(packet(br#"44{"message":"no"}"#), Packet::Refused);
        assert_eq!(packet(br#"42["messages",{}]"#), Packet::Event);
        assert_eq!(packet(br#"4317[{"ok":true}]"#), Packet::Ack(17));
        assert_eq!(packet(b"43[]"), Packet::Other);
        assert_eq!(packet(b"6"), Packet::Other);
    }

    #[test]
    fn writes_an_event_with_an_ack_id() {
        let p = serde_json::json!({"room": "r", "text": "t1:N1"});
        assert_eq!(
            emit(5, "send", &p),
            r#"425["send",{"room":"r","text":"t1:N1"}]"#
        );
    }
}
