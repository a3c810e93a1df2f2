//! Input hygiene against the real server, on raw WebSockets (an engine would never send
//! these): a frame that is not JSON is still answered with its `id`, and room IDs with
//! spaces at either end are refused.

use liveroom_engine::proto::code;
use liveroom_tests::{Server, APP};
use serde_json::{json, Value};

use crate::RawClient;

async fn hello(server: &Server) -> RawClient {
    let mut raw = RawClient::connect(server).await;
    let r = raw
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    raw
}

/// Sends `text` as it is and returns the next frame, which must be its answer.
async fn answer(raw: &mut RawClient, text: &str) -> Value {
    raw.send_text(text).await;
    raw.next_json().await.expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_that_is_not_json_is_answered_with_its_id() {
    let server = Server::start();
    let mut raw = hello(&server).await;
    // A lone surrogate: valid UTF-8 on the socket, not valid JSON text.
    let lone = r#"{"id":7,"op":"send_text","room_id":"r","text":"\ud800"}"#;
    let r = answer(&mut raw, lone).await;
    assert_eq!(
        (&r["t"], &r["id"], &r["code"]),
        (&json!("error"), &json!(7), &json!(code::INVALID_PARAMETER)),
        "{r}"
    );
    assert!(
        r["message"].as_str().is_some_and(|m| m.contains("JSON")),
        "{r}"
    );
    // The id after the broken part, and a frame cut short after its id.
    let after = r#"{"op":"send_text","room_id":"r","text":"x\udfff","id":8}"#;
    assert_eq!(answer(&mut raw, after).await["id"], 8);
    assert_eq!(answer(&mut raw, r#"{"id":9,"op":"ping""#).await["id"], 9);
    // No readable id: the error says so without one, and the connection goes on.
    let r = answer(&mut raw, "{\"op\":\"ping\",\"x\":\"\\ud800\"}").await;
    assert_eq!((&r["t"], r.get("id")), (&json!("error"), None), "{r}");
    let r = raw.request(json!({"id": 10, "op": "ping"})).await;
    assert_eq!(r["t"], "reply", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_ids_with_spaces_at_either_end_are_refused() {
    let server = Server::start();
    let mut raw = hello(&server).await;
    let r = raw
        .request(json!({"id": 2, "op": "login", "user_id": "own", "user_sig": liveroom_tests::sig("own")}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    let r = raw
        .request(json!({"id": 3, "op": "create_room", "name": "inner", "room_id": "a b"}))
        .await;
    assert_eq!(r["t"], "reply", "a space inside is fine: {r}");

    let mut id = 10;
    for room in [" ", "   ", " a b", "a b ", " a b "] {
        let ops = [
            json!({"op": "create_room", "name": "x", "room_id": room}),
            json!({"op": "enter_room", "room_id": room}),
            json!({"op": "send_text", "room_id": room, "text": "hi"}),
            json!({"op": "exit_room", "room_id": room}),
            json!({"op": "stop_push", "room_id": room, "postscript": ""}),
            json!({"op": "mute_all", "room_id": room, "on": true}),
        ];
        for mut op in ops {
            id += 1;
            op["id"] = json!(id);
            let r = raw.request(op.clone()).await;
            assert_eq!(r["code"], code::ROOM_ID_INVALID, "{op}: {r}");
            assert!(
                r["message"].as_str().is_some_and(|m| m.contains("space")),
                "{op}: {r}"
            );
        }
    }
}
