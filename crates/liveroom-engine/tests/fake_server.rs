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
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Serves every connection: answers hello and login, then, on connection number `n`
/// (1-based), after the login, plays `script(n)`: optional junk, then a close code (or none:
/// keep serving).
async fn fake_server(script: fn(usize) -> Option<u16>) -> (String, Arc<AtomicUsize>) {
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
                        if let Some(code) = script(n) {
                            let _ = ws
                                .send(Message::Close(Some(CloseFrame {
                                    code: CloseCode::from(code),
                                    reason: "scripted".into(),
                                })))
                                .await;
                            return;
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
    let (url, connections) = fake_server(|_| Some(4002)).await;
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
    let (url, connections) = fake_server(|n| (n == 1).then_some(4108)).await;
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
