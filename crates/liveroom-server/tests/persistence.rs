//! Restart on the same data dir: rooms, sequences, history and profiles survive.

mod common;

use common::*;
use serde_json::{json, Value};

/// The texts of an `enter_room` reply's history.
fn texts(entered: &Value) -> Vec<&str> {
    entered["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn sequences_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        liveroom_server::start(base_config(dir.path()).history(3).build())
            .await
            .unwrap()
    };
    let server = start().await;
    let url = format!("ws://{}/ws", server.local_addr());
    let mut a = Client::connect(&url).await;
    a.hello(APP).await;
    a.login("alice").await;
    a.req("set_profile", json!({"nick": "Alice"})).await.ok();
    a.create("r").await;
    a.enter("r").await;
    for i in 1..=4 {
        a.text("r", &format!("m{i}")).await.ok();
    }
    server.shutdown().await.unwrap();

    let server = start().await;
    let url = format!("ws://{}/ws", server.local_addr());
    let mut a = Client::connect(&url).await;
    a.hello(APP).await;
    let login = a.login("alice").await;
    assert_eq!(login["profile"]["nick"], "Alice");
    let e = a.enter("r").await;
    assert_eq!(e["last_sequence"], 4);
    let texts = texts(&e);
    assert_eq!(texts, vec!["m2", "m3", "m4"]);
    let m = a.text("r", "m5").await.ok();
    assert_eq!(m["message"]["sequence"], 5);
    assert_eq!(
        a.req("create_room", json!({"name": "n", "room_id": "r"}))
            .await
            .code(),
        liveroom_proto::code::ROOM_ID_TAKEN_BY_YOU
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn zero_history_keeps_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let server = liveroom_server::start(base_config(dir.path()).history(0).build())
        .await
        .unwrap();
    let url = format!("ws://{}/ws", server.local_addr());
    let mut a = Client::connect(&url).await;
    a.hello(APP).await;
    a.login("alice").await;
    a.create("r").await;
    a.enter("r").await;
    a.text("r", "one").await.ok();
    server.shutdown().await.unwrap();
    let server = liveroom_server::start(base_config(dir.path()).history(0).build())
        .await
        .unwrap();
    let url = format!("ws://{}/ws", server.local_addr());
    let mut a = Client::connect(&url).await;
    a.hello(APP).await;
    a.login("alice").await;
    let e = a.enter("r").await;
    assert_eq!(e["messages"], json!([]));
    assert_eq!(e["last_sequence"], 1);
    assert_eq!(a.text("r", "two").await.ok()["message"]["sequence"], 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unused_room_leaves_memory_and_comes_back_whole() {
    let s = TestServer::start_with(|b| {
        b.online_interval(std::time::Duration::from_millis(50))
            .room_unload_after(std::time::Duration::from_millis(200))
    })
    .await;
    let server = s.server.as_ref().unwrap();
    let mut alice = s.user("alice").await;
    alice.create("quiet").await;
    alice.create("busy").await;
    alice.enter("quiet").await;
    for i in 1..=2 {
        alice.text("quiet", &format!("m{i}")).await.ok();
    }
    alice
        .req("ban_member", json!({"room_id": "quiet", "user_id": "bob"}))
        .await
        .ok();
    let mut viewer = s.client().await;
    viewer.hello(APP).await;
    viewer.enter("busy").await;

    // Both rooms have a member: they stay, however many sweeps pass.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(server.loaded_rooms(), 2);

    // Alice leaves `quiet`: it is unloaded; `busy` keeps its viewer and stays.
    alice
        .req("exit_room", json!({"room_id": "quiet"}))
        .await
        .ok();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.loaded_rooms() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unused room was not unloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(server.loaded_rooms(), 1, "a room with a viewer stays");

    // Used again, it reloads from the store whole: history, sequence, the ban.
    let e = alice.enter("quiet").await;
    assert_eq!(server.loaded_rooms(), 2);
    assert_eq!(e["last_sequence"], 2);
    let texts = texts(&e);
    assert_eq!(texts, ["m1", "m2"]);
    let m = alice.text("quiet", "m3").await.ok();
    assert_eq!(m["message"]["sequence"], 3);
    let mut bob = s.user("bob").await;
    assert_eq!(
        bob.req("enter_room", json!({"room_id": "quiet"}))
            .await
            .code(),
        liveroom_proto::code::NO_PERMISSION
    );
}
