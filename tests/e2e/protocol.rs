//! What a broken or hostile client can send: the server answers with clear errors or closes
//! that one connection, and nobody else notices.

use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_tests::{sig, Server, APP};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::{messages, RawClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_errors_and_the_connection_survives() {
    let server = Server::start();
    let mut c = RawClient::connect(&server).await;

    let r = c
        .request(json!({"id": 1, "op": "login", "user_id": "a", "user_sig": "x"}))
        .await;
    assert_eq!(r["t"], "error", "login before hello: {r}");

    let r = c
        .request(json!({"id": 2, "op": "hello", "sdk_app_id": 42}))
        .await;
    assert_eq!(r["code"], 70020, "{r}");
    let r = c
        .request(json!({"id": 3, "op": "hello", "sdk_app_id": APP}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");

    // Not JSON at all: an error without an id.
    c.send_text("{this is not json").await;
    let r = c.next_json().await.expect("error frame");
    assert_eq!(r["t"], "error");
    assert_eq!(r["code"], 10004);

    let r = c.request(json!({"id": 4, "op": "explode"})).await;
    assert_eq!(r["code"], 10004, "{r}");
    assert!(r["message"].as_str().unwrap().contains("explode"), "{r}");

    let r = c
        .request(json!({"id": 5, "op": "enter_room", "room_id": 12345}))
        .await;
    assert_eq!(r["code"], 10004, "wrong field type: {r}");

    let r = c
        .request(
            json!({"id": 6, "op": "send_text", "room_id": "x", "text": "hi", "priority": "Urgent"}),
        )
        .await;
    assert_eq!(r["t"], "error", "{r}");

    let r = c
        .request(json!({"id": 7, "op": "login", "user_id": "a".repeat(40), "user_sig": sig("a")}))
        .await;
    assert_eq!(r["code"], 10004, "{r}");

    let r = c.request(json!({"id": 8, "op": "ping"})).await;
    assert_eq!(r["t"], "reply", "the connection still works: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_binary_and_invalid_utf8_frames_close_only_that_connection() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: "p".into(),
        room_id: Some("p".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("p").await.unwrap();
    let viewer = server.engine();
    let mut rx = viewer.events();
    viewer.enter_room("p").await.unwrap();

    // A 1 MiB frame.
    let mut c = RawClient::connect(&server).await;
    // The server may close while the frame is still going out: the send itself may fail.
    let _ = c.send(WsMessage::Text("x".repeat(1 << 20).into())).await;
    assert!(
        c.next_json().await.is_none(),
        "huge frame closes the connection"
    );

    // A binary frame.
    let mut c = RawClient::connect(&server).await;
    let _ = c
        .send(WsMessage::Binary(vec![0u8, 159, 146, 150].into()))
        .await;
    assert!(
        c.next_json().await.is_none(),
        "binary frame closes the connection"
    );

    // A text frame that is not UTF-8.
    let mut c = RawClient::connect(&server).await;
    let bad = Frame::message(
        vec![0xC3u8, 0x28, 0xA0, 0xA1],
        OpCode::Data(Data::Text),
        true,
    );
    let _ = c.send(WsMessage::Frame(bad)).await;
    assert!(
        c.next_json().await.is_none(),
        "invalid UTF-8 closes the connection"
    );

    // Many connections that say nothing and vanish.
    for _ in 0..50 {
        drop(RawClient::connect(&server).await);
    }

    host.send_text_message("p", "still here", Priority::Normal)
        .await
        .expect("server alive");
    let got = messages(&mut rx, "t_text_message_received", 1).await;
    assert_eq!(got[0]["payload"]["text"], "still here");
}
