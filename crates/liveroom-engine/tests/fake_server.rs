//! Close codes and broken frames, against a scripted WebSocket server (the real one does not
//! misbehave on demand).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveroom_engine::proto::{ClientFrame, Request};
use liveroom_engine::{EventName, Im, NetState};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// What a connection does after the login (and the junk).
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Keep serving.
    Serve,
    /// Close with this code.
    Close(u16),
    /// Send one text message this many bytes long, in fragments of at most 6 MiB (each under
    /// tungstenite's default 16 MiB frame limit), then keep serving.
    Oversized(usize),
}

/// Serves every connection: answers hello and login, then, on connection number `n`
/// (1-based), after the login, sends junk and plays `script(n)`.
async fn fake_server(script: fn(usize) -> Then) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let Ok(frame) = serde_json::from_str::<ClientFrame>(text.as_str()) else {
                        return;
                    };
                    let data = match &frame.request {
                        Request::Hello { .. } => {
                            json!({"server": "fake", "time": 0, "upload_path": "/upload"})
                        }
                        Request::Login { user_id, .. } => json!({
                            "user_id": user_id,
                            "profile": {"userID": user_id, "nick": "", "avatar": ""},
                            "expires_at": 0,
                            "upload_token": "t"
                        }),
                        _ => json!({}),
                    };
                    let reply = json!({"t": "reply", "id": frame.id, "data": data});
                    if ws.send(Message::text(reply.to_string())).await.is_err() {
                        return;
                    }
                    if matches!(frame.request, Request::Login { .. }) {
                        let _ = ws.send(Message::text("this is not a frame")).await;
                        let _ = ws.send(Message::text(r#"{"t":"unknown"}"#)).await;
                        let _ = ws.send(Message::binary(vec![1, 2, 3])).await;
                        match script(n) {
                            Then::Serve => {}
                            Then::Close(code) => {
                                let _ = ws
                                    .send(Message::Close(Some(CloseFrame {
                                        code: CloseCode::from(code),
                                        reason: "scripted".into(),
                                    })))
                                    .await;
                                return;
                            }
                            Then::Oversized(len) => {
                                let chunk = 6 << 20;
                                let mut sent = 0;
                                while sent < len {
                                    let n = chunk.min(len - sent);
                                    let opcode = if sent == 0 {
                                        Data::Text
                                    } else {
                                        Data::Continue
                                    };
                                    let frame = Frame::message(
                                        vec![b'x'; n],
                                        OpCode::Data(opcode),
                                        sent + n == len,
                                    );
                                    if ws.send(Message::Frame(frame)).await.is_err() {
                                        return;
                                    }
                                    sent += n;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn junk_is_ignored_and_a_terminal_close_code_stops_for_good() {
    let (url, connections) = fake_server(|_| Then::Close(4002)).await;
    let im = Im::new(1, &url).unwrap();
    let mut rx = im.events();
    im.login("alice", "sig").await.unwrap();
    let wait = async {
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.name == EventName::NetStateChange && ev.text() == Some("disconnected") {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), wait)
        .await
        .expect("disconnected");
    assert_eq!(im.user_id(), None);
    assert_eq!(im.net_state(), NetState::Disconnected);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "no reconnect after 4002"
    );
}

#[tokio::test]
async fn a_slow_consumer_close_reconnects_and_logs_in_again() {
    let (url, connections) = fake_server(|n| match n {
        1 => Then::Close(4108),
        _ => Then::Serve,
    })
    .await;
    let im = Im::new(1, &url).unwrap();
    let mut rx = im.events();
    im.login("alice", "sig").await.unwrap();
    let mut states = Vec::new();
    let wait = async {
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.name == EventName::NetStateChange {
                states.push(ev.text().unwrap_or_default().to_owned());
                if states.len() == 4 {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(4), wait)
        .await
        .expect("reconnected");
    assert_eq!(
        states,
        ["connecting", "connected", "connecting", "connected"]
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert_eq!(im.user_id().as_deref(), Some("alice"));
    im.shutdown().await;
}

/// The next `n` net states.
async fn states(
    rx: &mut tokio::sync::broadcast::Receiver<liveroom_engine::Event>,
    n: usize,
) -> Vec<String> {
    let mut states = Vec::new();
    while states.len() < n {
        let ev = rx.recv().await.unwrap();
        if ev.name == EventName::NetStateChange {
            states.push(ev.text().unwrap_or_default().to_owned());
        }
    }
    states
}

#[tokio::test]
async fn a_frame_over_the_limit_is_a_protocol_error_and_the_engine_reconnects() {
    // Old engines took messages up to tungstenite's default 64 MiB; a server never sends
    // 16 MiB (inbound.rs works out its largest frame).
    let (url, connections) = fake_server(|n| match n {
        1 => Then::Oversized(liveroom_engine::MAX_SERVER_FRAME + 1),
        _ => Then::Serve,
    })
    .await;
    let im = Im::new(1, &url).unwrap();
    let mut rx = im.events();
    im.login("alice", "sig").await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(6), states(&mut rx, 4))
        .await
        .expect("the engine dropped the socket and reconnected");
    assert_eq!(seen, ["connecting", "connected", "connecting", "connected"]);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        im.user_id().as_deref(),
        Some("alice"),
        "the login was replayed"
    );
    im.shutdown().await;
}
