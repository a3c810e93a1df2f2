//! Hello, login, error codes, malformed frames, kicks.

mod common;

use common::*;
use futures_util::SinkExt;
use liveroom_proto::{close, code};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn hello_first_and_unknown_app() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    let (c1, m) = c.req("ping", json!({})).await.err();
    assert_eq!(c1, code::INVALID_PARAMETER);
    assert!(m.contains("hello"), "{m}");
    assert_eq!(
        c.req("hello", json!({"sdk_app_id": 42})).await.code(),
        code::UNKNOWN_SDKAPPID
    );
    let h = c.hello(APP).await;
    assert_eq!(h["upload_path"], "/upload");
    assert!(h["time"].as_i64().unwrap() > 0);
    c.req("ping", json!({})).await.ok();
}

#[tokio::test]
async fn malformed_frames_get_10004_and_keep_the_connection() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    c.hello(APP).await;

    c.send_raw("this is not json").await;
    let (code_, msg) = c.wait_reply(None).await.err();
    assert_eq!(code_, code::INVALID_PARAMETER);
    assert!(msg.contains("JSON"), "{msg}");

    c.send_raw(r#"{"id": 9, "op": "explode"}"#).await;
    let (code_, msg) = c.wait_reply(Some(9)).await.err();
    assert_eq!(code_, code::INVALID_PARAMETER);
    assert!(msg.contains("explode"), "{msg}");

    c.send_raw(r#"{"id": 10, "op": "enter_room", "room_id": 5}"#)
        .await;
    let (_, msg) = c.wait_reply(Some(10)).await.err();
    assert!(msg.contains("room_id"), "{msg}");

    c.send_raw(r#"{"id": 11, "op": "send_text", "room_id": "r"}"#)
        .await;
    let (_, msg) = c.wait_reply(Some(11)).await.err();
    assert!(msg.contains("text"), "{msg}");

    c.send_raw(
        r#"{"id": 12, "op": "send_text", "room_id": "r", "text": "x", "priority": "Urgent"}"#,
    )
    .await;
    let (_, msg) = c.wait_reply(Some(12)).await.err();
    assert!(msg.contains("priority"), "{msg}");

    // Moderation requests are read by their own enum, with serde's own messages too.
    c.send_raw(r#"{"id": 13, "op": "mute_member", "room_id": "r", "user_id": "u"}"#)
        .await;
    let (code_, msg) = c.wait_reply(Some(13)).await.err();
    assert_eq!(code_, code::INVALID_PARAMETER);
    assert!(msg.contains("seconds"), "{msg}");

    c.send_raw(r#"{"id": 14, "op": "mute_all", "room_id": "r", "on": "yes"}"#)
        .await;
    let (_, msg) = c.wait_reply(Some(14)).await.err();
    assert!(
        msg.contains("field `on` of 'mute_all' must be true or false"),
        "{msg}"
    );

    c.req("ping", json!({})).await.ok();
}

#[tokio::test]
async fn login_error_codes() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    c.hello(APP).await;
    let now = liveroom_usersig::now_secs();
    let cases = [
        (
            "alice",
            liveroom_usersig::gen_usersig_at(APP, KEY, "alice", now - 100, 10, None),
            code::USERSIG_EXPIRED,
        ),
        ("alice", "garbage".to_owned(), code::USERSIG_MALFORMED),
        (
            "alice",
            liveroom_usersig::gen_usersig(APP, "wrong", "alice", 60),
            code::USERSIG_BAD_SIGNATURE,
        ),
        ("alice", sig("bob"), code::USERSIG_USER_MISMATCH),
        (
            "alice",
            liveroom_usersig::gen_usersig(APP2, KEY2, "alice", 60),
            code::USERSIG_APP_MISMATCH,
        ),
        ("bad id!", sig("bad id!"), code::INVALID_PARAMETER),
    ];
    for (user, sig, expected) in cases {
        let got = c
            .req("login", json!({"user_id": user, "user_sig": sig}))
            .await
            .code();
        assert_eq!(got, expected, "user {user}");
    }
    // Calls needing login.
    for (op, fields) in [
        ("create_room", json!({"name": "n"})),
        ("send_text", json!({"room_id": "r", "text": "x"})),
        ("get_profile", json!({})),
        ("set_profile", json!({"nick": "n"})),
        ("stop_push", json!({"room_id": "r"})),
    ] {
        assert_eq!(c.req(op, fields).await.code(), code::NOT_LOGGED_IN, "{op}");
    }
    let r = c.login("alice").await;
    assert_eq!(r["user_id"], "alice");
    assert_eq!(r["upload_token"].as_str().unwrap().len(), 32);
    assert!(r["expires_at"].as_i64().unwrap() > now);
}

#[tokio::test]
async fn profile_round_trip_and_limits() {
    let s = TestServer::start().await;
    let mut c = s.user("alice").await;
    let p = c
        .req(
            "set_profile",
            json!({"nick": "Alice", "avatar": "http://a/x.png"}),
        )
        .await
        .ok();
    assert_eq!(p["nick"], "Alice");
    assert_eq!(p["userID"], "alice");
    let (code_, msg) = c
        .req("set_profile", json!({"avatar": "x".repeat(101)}))
        .await
        .err();
    assert_eq!(code_, code::INVALID_PARAMETER);
    assert!(msg.contains("avatar"));
    c.req("set_profile", json!({"nick": "A2"})).await.ok();
    let p = c.req("get_profile", json!({})).await.ok();
    assert_eq!(p["nick"], "A2");
    assert_eq!(p["avatar"], "http://a/x.png");
    // A new login sees the stored profile.
    let mut c2 = s.user("alice").await;
    let p = c2.req("get_profile", json!({})).await.ok();
    assert_eq!(p["nick"], "A2");
}

#[tokio::test]
async fn second_login_kicks_the_first() {
    let s = TestServer::start().await;
    let mut a = s.user("alice").await;
    a.create("r1").await;
    a.enter("r1").await;
    let mut watcher = s.user("bob").await;
    watcher.enter("r1").await;

    let mut a2 = s.user("alice").await;
    assert_eq!(a.closed().await, close::KICKED);
    let kicked = a
        .pushes
        .iter()
        .find(|f| f["t"] == "kicked")
        .expect("kicked frame");
    assert_eq!(kicked["reason"], "multipleAccount");
    // The kicked session left its room: bob sees alice's leave tip.
    let tip = watcher
        .until(|m| m["type"] == "TIMGroupTipElem" && m["payload"]["operationType"] == 2)
        .await;
    assert_eq!(tip["payload"]["userIDList"], json!(["alice"]));
    // The new session works.
    a2.enter("r1").await;
    a2.text("r1", "hi").await.ok();
}

#[tokio::test]
async fn expired_usersig_kicks_the_session() {
    let s = TestServer::start().await;
    let mut c = s.client().await;
    c.hello(APP).await;
    loop {
        let now = liveroom_usersig::now_secs();
        // Valid now, expired from the next second on.
        let sig = liveroom_usersig::gen_usersig_at(APP, KEY, "alice", now - 10, 10, None);
        match c
            .req("login", json!({"user_id": "alice", "user_sig": sig}))
            .await
        {
            common::Resp::Ok(_) => break,
            common::Resp::Err(c, _) => assert_eq!(c, code::USERSIG_EXPIRED),
        }
    }
    assert_eq!(c.closed().await, close::KICKED);
    assert_eq!(c.pushes[0]["reason"], "userSigExpired");
}

#[tokio::test]
async fn huge_and_binary_frames_close_only_their_connection() {
    let s = TestServer::start().await;
    let mut alice = s.user("alice").await;
    alice.create("r").await;
    alice.enter("r").await;

    let mut huge = s.client().await;
    huge.hello(APP).await;
    let big = format!(
        r#"{{"id":1,"op":"ping","pad":"{}"}}"#,
        "x".repeat(liveroom_proto::limits::CLIENT_FRAME_MAX)
    );
    let _ = huge.ws.send(Message::text(big)).await;
    assert_eq!(huge.closed().await, close::PROTOCOL);

    let mut bin = s.client().await;
    bin.hello(APP).await;
    bin.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(bin.closed().await, close::PROTOCOL);

    let mut bob = s.user("bob").await;
    bob.enter("r").await;
    alice.text("r", "still fine").await.ok();
    let m = bob.until(|m| m["type"] == "TIMTextElem").await;
    assert_eq!(m["payload"]["text"], "still fine");
}

#[tokio::test]
async fn graceful_shutdown_closes_with_1001() {
    let mut s = TestServer::start().await;
    let mut c = s.user("alice").await;
    let handle = tokio::spawn(async move { c.closed().await });
    s.shutdown().await;
    assert_eq!(handle.await.unwrap(), close::GOING_AWAY);
}
