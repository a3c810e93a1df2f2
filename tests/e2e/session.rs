//! Login sessions: ready events, repeat login, one login per user, expiry, handlers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use liveroom_engine::proto::Priority;
use liveroom_engine::EventName;
use liveroom_tests::{sig, Server, APP, KEY};

use crate::{messages, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_repeat_login_and_logout() {
    let server = Server::start();
    let im = server.engine();
    let mut rx = im.events();
    let r = im.login("alice", &sig("alice")).await.expect("login");
    assert!(!r.repeat_login);
    wait_for(&mut rx, "t_im_ready").await;
    assert_eq!(im.user_id().as_deref(), Some("alice"));
    let r = im.login("alice", &sig("alice")).await.expect("login again");
    assert!(
        r.repeat_login,
        "same user on the same engine is a repeat login"
    );

    im.logout().await.expect("logout");
    wait_for(&mut rx, "t_im_not_ready").await;
    assert_eq!(im.user_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_login_kicks_the_first() {
    let server = Server::start();
    let first = server.login("alice").await;
    let mut rx = first.events();
    let _second = server.login("alice").await;
    let ev = wait_for(&mut rx, "t_kicked_out").await;
    assert_eq!(ev["data"], "multipleAccount");
    // The kicked engine does not reconnect and cannot send.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(first.user_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_usersig_kicks_the_session() {
    let server = Server::start();
    let im = server.engine();
    let mut rx = im.events();
    let short = liveroom_usersig::gen_usersig(APP, KEY, "brief", 2);
    im.login("brief", &short).await.expect("still valid");
    let ev = wait_for(&mut rx, "t_kicked_out").await;
    assert_eq!(ev["data"], "userSigExpired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_unsubscribes_and_a_failing_handler_hurts_no_one() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(liveroom_engine::proto::CreateRoomOptions {
        name: "h".into(),
        room_id: Some("h".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("h").await.unwrap();
    let viewer = server.login("viewer").await;
    viewer.enter_room("h").await.unwrap();

    let removed = Arc::new(AtomicUsize::new(0));
    let kept = Arc::new(AtomicUsize::new(0));
    let r = removed.clone();
    let handle = viewer.on(EventName::TextMessageReceived, move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    viewer.on(EventName::TextMessageReceived, |_| {
        panic!("a broken handler")
    });
    let k = kept.clone();
    viewer.on(EventName::TextMessageReceived, move |_| {
        k.fetch_add(1, Ordering::SeqCst);
    });
    let mut rx = viewer.events();

    host.send_text_message("h", "one", Priority::Normal)
        .await
        .unwrap();
    messages(&mut rx, "t_text_message_received", 1).await;
    assert!(viewer.off(handle), "off removes a registered handler");
    assert!(!viewer.off(handle), "a second off finds nothing");
    host.send_text_message("h", "two", Priority::Normal)
        .await
        .unwrap();
    messages(&mut rx, "t_text_message_received", 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        removed.load(Ordering::SeqCst),
        1,
        "removed handler ran only before off"
    );
    assert_eq!(
        kept.load(Ordering::SeqCst),
        2,
        "the panicking handler broke nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_rejects_zero_app_and_needs_login() {
    let server = Server::start();
    assert_eq!(
        liveroom_engine::Im::new(0, server.url())
            .err()
            .map(|e| e.code),
        Some(10004)
    );
    let im = server.engine();
    assert_eq!(
        im.create_room(liveroom_engine::proto::CreateRoomOptions {
            name: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code,
        2999
    );
    assert_eq!(
        im.set_my_profile(Some("n".into()), None)
            .await
            .unwrap_err()
            .code,
        2999
    );
    assert_eq!(im.stop_push("x", "").await.unwrap_err().code, 2999);
}
