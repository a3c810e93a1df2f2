//! Reconnect and gap fill across a server crash, and graceful shutdown.

use std::collections::BTreeSet;

use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_tests::Server;

use crate::{messages, wait_for};

async fn chat_room(server: &Server, id: &str) -> liveroom_engine::Im {
    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: id.into(),
        room_id: Some(id.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room(id).await.unwrap();
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_loses_nothing_and_duplicates_nothing() {
    let mut server = Server::start();
    let host = chat_room(&server, "rc").await;
    let viewer = server.login("viewer").await;
    viewer.enter_room("rc").await.unwrap();
    let mut rx = viewer.events();

    for i in 1..=5 {
        host.send_text_message("rc", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    let before = messages(&mut rx, "t_text_message_received", 5).await;

    server.kill();
    let state = wait_for(&mut rx, "t_net_state_change").await;
    assert_ne!(state["data"], "connected", "{state}");
    server.restart();

    // A fresh sender chats at once, while the viewer is still backing off: that is its gap.
    let late = server.login("late").await;
    late.enter_room("rc").await.unwrap();
    for i in 6..=10 {
        late.send_text_message("rc", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    // The gap arrives as message events around the return to "connected".
    let mut after = Vec::new();
    let mut connected = false;
    while !connected || after.len() < 5 {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("the viewer reconnects within 30 s")
            .expect("event stream open");
        let v = crate::as_json(&ev);
        if v["name"] == "t_net_state_change" && v["data"] == "connected" {
            connected = true;
        } else if v["name"] == "t_text_message_received" {
            after.extend(v["data"].as_array().unwrap().clone());
        }
    }
    for i in 11..=12 {
        late.send_text_message("rc", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    after.extend(messages(&mut rx, "t_text_message_received", 2).await);

    let texts: Vec<String> = before
        .iter()
        .chain(after.iter())
        .map(|m| m["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=12).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "every message once, in order");
    let seqs: BTreeSet<u64> = before
        .iter()
        .chain(after.iter())
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 12, "sequences are unique across the restart");
    // The host's engine came back too and can send again.
    host.send_text_message("rc", "host is back", Priority::Normal)
        .await
        .expect("host reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_every_acknowledged_message() {
    let mut server = Server::start();
    let host = chat_room(&server, "gs").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            host.send_text_message("gs", &format!("g{i}"), Priority::Normal)
                .await
                .unwrap()
                .id,
        );
    }
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits cleanly: {status}");
    host.shutdown().await;
    server.restart();

    let guest = server.engine();
    let mut rx = guest.events();
    guest.enter_room("gs").await.unwrap();
    let history = messages(&mut rx, "t_text_message_received", 20).await;
    let got: Vec<&str> = history.iter().map(|m| m["ID"].as_str().unwrap()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
}
