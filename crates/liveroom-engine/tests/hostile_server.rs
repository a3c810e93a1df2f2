//! A server that floods the engine: messages far over the protocol's limits while a subscriber
//! has stopped reading, and live messages for a room whose `enter_room` it never answers. The
//! engine's memory stays bounded, it drops the socket when it must, and it goes on working.
//!
//! Alone in its test binary, so that the process's resident memory is this test's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveroom_engine::proto::message::Flow;
use liveroom_engine::proto::{
    code, Body, ClientFrame, Message, Priority, Request, RoomInfo, TextPayload,
};
use liveroom_engine::{EventName, Im, NetState};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Frames of one 1 MiB message each (64 times the largest message a server may send).
const HUGE_FRAMES: u64 = 100;
/// Frames of 40 messages of 8 KB each for the room whose enter is never answered: 32 MB.
const FLOOD_FRAMES: u64 = 100;
const FLOOD_BATCH: u64 = 40;
/// The sequence of the ordinary message sent after the huge ones.
const LAST_SEQ: u64 = 1_000_000;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

fn message(room: &str, seq: u64, text: String) -> Message {
    Message {
        id: format!("GROUP{room}-{seq}-1"),
        body: Body::Text(TextPayload { text }),
        to: room.into(),
        from: "mallory".into(),
        nick: String::new(),
        avatar: String::new(),
        time: 1,
        sequence: seq,
        priority: Priority::Normal,
        flow: Flow::In,
        conversation_type: "GROUP".into(),
        conversation_id: format!("GROUP{room}"),
    }
}

fn push(room: &str, list: Vec<Message>) -> WsMessage {
    WsMessage::text(json!({"t": "messages", "room": room, "list": list}).to_string())
}

fn enter_reply(room: &str, last_sequence: u64) -> Value {
    let group = RoomInfo {
        group_id: room.into(),
        kind: "AVChatRoom".into(),
        name: room.into(),
        owner_id: "mallory".into(),
        notification: String::new(),
        introduction: String::new(),
        avatar: String::new(),
        create_time: 1,
        push_stopped: false,
        postscript: String::new(),
    };
    json!({"status": "JoinedSuccess", "group": group, "online": 1, "messages": [],
           "last_sequence": last_sequence})
}

/// Connection 1: enters `big` at once, then sends it the huge messages and one ordinary
/// message; never answers the enter of `flood` but floods that room. Later connections answer
/// everything.
async fn hostile_server() -> (String, Arc<AtomicUsize>) {
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
                while let Some(Ok(WsMessage::Text(text))) = ws.next().await {
                    let Ok(frame) = serde_json::from_str::<ClientFrame>(text.as_str()) else {
                        return;
                    };
                    let data = match &frame.request {
                        Request::Hello { .. } => {
                            json!({"server": "hostile", "time": 0, "upload_path": "/upload"})
                        }
                        Request::Login { user_id, .. } => json!({
                            "user_id": user_id,
                            "profile": {"userID": user_id, "nick": "", "avatar": ""},
                            "expires_at": 0,
                            "upload_token": "t"
                        }),
                        Request::EnterRoom { room_id, .. } if n == 1 && room_id == "flood" => {
                            for f in 0..FLOOD_FRAMES {
                                let list = (0..FLOOD_BATCH)
                                    .map(|i| {
                                        message("flood", 1 + f * FLOOD_BATCH + i, "f".repeat(8000))
                                    })
                                    .collect();
                                if ws.send(push("flood", list)).await.is_err() {
                                    return; // the engine hung up, as it should
                                }
                            }
                            continue; // and never answers the enter
                        }
                        Request::EnterRoom { room_id, .. } => enter_reply(room_id, 0),
                        _ => json!({}),
                    };
                    let reply = json!({"t": "reply", "id": frame.id, "data": data});
                    if ws.send(WsMessage::text(reply.to_string())).await.is_err() {
                        return;
                    }
                    if n == 1
                        && matches!(&frame.request, Request::EnterRoom { room_id, .. } if room_id == "big")
                    {
                        for seq in 1..=HUGE_FRAMES {
                            let huge = message("big", seq, "h".repeat(1 << 20));
                            if ws.send(push("big", vec![huge])).await.is_err() {
                                return;
                            }
                        }
                        let fine = message("big", LAST_SEQ, "after the huge ones".into());
                        let _ = ws.send(push("big", vec![fine])).await;
                    }
                }
            });
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_server_cannot_grow_the_engine_and_the_engine_survives() {
    let (url, connections) = hostile_server().await;
    let im = Im::new(1, &url).unwrap();
    // A subscriber that never reads: the events it misses stay in the ring.
    let _stalled = im.events();
    let mut rx = im.events();
    im.login("alice", "sig").await.unwrap();
    let before = resident_bytes();

    // 100 MiB of messages far over the protocol's size: none is delivered (nor kept for the
    // stalled subscriber); the ordinary one after them is.
    im.enter_room("big").await.unwrap();
    let wait = async {
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.name == EventName::TextMessageReceived {
                return ev;
            }
        }
    };
    let ev = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the ordinary message arrives");
    let seqs: Vec<u64> = ev.messages().iter().map(|m| m.sequence).collect();
    assert_eq!(seqs, [LAST_SEQ], "only the ordinary message is delivered");

    // Live messages for a room whose enter is never answered: the engine stops buffering,
    // drops the socket and fails the enter at once, instead of waiting out its timeout.
    let started = std::time::Instant::now();
    let err = im.enter_room("flood").await.unwrap_err();
    assert_eq!(err.code, code::NETWORK, "{err:?}");
    assert!(err.message.contains("enter reply"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(8), "failed fast");

    // It reconnects, logs in again and re-enters the room it was in.
    let wait = async {
        while connections.load(Ordering::SeqCst) < 2 || im.net_state() != NetState::Connected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("reconnected");
    assert_eq!(im.user_id().as_deref(), Some("alice"));
    assert_eq!(im.joined_rooms(), ["big"]);

    let grown = resident_bytes().saturating_sub(before);
    eprintln!("resident memory grew by {} MiB", grown >> 20);
    assert!(
        grown < 48 << 20,
        "the engine grew by {} MiB under a 132 MB flood",
        grown >> 20
    );
    im.shutdown().await;
}
