//! The engine against the real `liveroom-server` binary.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{drain, messages, next_event, sig, Server, TlsProxy, APP};
use liveroom_engine::proto::message::Flow;
use liveroom_engine::proto::{code, Body, CreateRoomOptions, CustomPayload, Priority};
use liveroom_engine::{EnterStatus, Event, EventData, EventName, Im, NetState, TlsConfig};

fn room(name: &str, id: &str) -> CreateRoomOptions {
    CreateRoomOptions {
        name: name.into(),
        room_id: Some(id.into()),
        ..Default::default()
    }
}

fn texts(list: &[liveroom_engine::proto::Message]) -> Vec<String> {
    list.iter()
        .map(|m| match &m.body {
            Body::Text(t) => t.text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn login_repeat_login_and_switching_user() {
    let server = Server::start();
    let im = server.im();
    let mut rx = im.events();
    let r = im.login("alice", &sig("alice")).await.unwrap();
    assert!(!r.repeat_login);
    next_event(&mut rx, EventName::ImReady, 2).await;
    assert_eq!(im.user_id().as_deref(), Some("alice"));
    assert_eq!(im.net_state(), NetState::Connected);

    assert!(im.login("alice", &sig("alice")).await.unwrap().repeat_login);

    // Another user: logs out first, then in.
    assert!(!im.login("bob", &sig("bob")).await.unwrap().repeat_login);
    next_event(&mut rx, EventName::ImNotReady, 2).await;
    next_event(&mut rx, EventName::ImReady, 2).await;
    assert_eq!(im.user_id().as_deref(), Some("bob"));

    im.logout().await.unwrap();
    next_event(&mut rx, EventName::ImNotReady, 2).await;
    assert_eq!(im.user_id(), None);
    im.shutdown().await;
}

#[tokio::test]
async fn bad_signatures_and_local_validation() {
    let server = Server::start();
    let im = server.im();
    let wrong = liveroom_usersig::gen_usersig(APP, "not-the-key", "alice", 600);
    let e = im.login("alice", &wrong).await.unwrap_err();
    assert_eq!(e.code, 70009, "{e}");
    let e = im.login("alice", &sig("bob")).await.unwrap_err();
    assert_eq!(e.code, 70013, "{e}");
    assert_eq!(
        im.login("bad user!", "x").await.unwrap_err().code,
        code::INVALID_PARAMETER
    );
    assert_eq!(
        Im::new(0, "ws://127.0.0.1:1").unwrap_err().code,
        code::INVALID_PARAMETER
    );

    // Calls that need a login, before one.
    assert_eq!(
        im.send_text_message("r", "hi", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        code::NOT_LOGGED_IN
    );
    assert_eq!(
        im.get_my_profile().await.unwrap_err().code,
        code::NOT_LOGGED_IN
    );
    assert_eq!(
        im.create_room(room("x", "x")).await.unwrap_err().code,
        code::NOT_LOGGED_IN
    );

    im.login("alice", &sig("alice")).await.unwrap();
    assert_eq!(
        im.send_text_message("nowhere", "hi", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        code::NOT_IN_ROOM
    );
    im.create_room(room("Limits", "limits")).await.unwrap();
    im.enter_room("limits").await.unwrap();
    let long = "x".repeat(8 * 1024 + 1);
    assert_eq!(
        im.send_text_message("limits", &long, Priority::Normal)
            .await
            .unwrap_err()
            .code,
        code::MESSAGE_TOO_LONG
    );
    assert_eq!(
        im.create_room(room("Bad", "@TGS#mine"))
            .await
            .unwrap_err()
            .code,
        code::ROOM_ID_INVALID
    );
    im.shutdown().await;
}

#[tokio::test]
async fn unknown_app_and_closed_port_fail_fast() {
    let server = Server::start();
    let im = Im::new(42, server.url()).unwrap();
    let e = im.enter_room("r").await.unwrap_err();
    assert_eq!(e.code, 70020, "{e}");

    // Nothing listens on port 1.
    let im = Im::new(APP, "ws://127.0.0.1:1").unwrap();
    let started = std::time::Instant::now();
    let e = im.login("alice", &sig("alice")).await.unwrap_err();
    assert_eq!(e.code, code::NETWORK, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(im.net_state(), NetState::Disconnected);
}

#[tokio::test]
async fn create_enter_exit_and_profile() {
    let server = Server::start();
    let im = server.login("host").await;
    let info = im
        .create_room(CreateRoomOptions {
            name: "Show".into(),
            room_id: Some("show-1".into()),
            notification: "welcome".into(),
            introduction: "intro".into(),
            avatar: "https://example.org/a.png".into(),
        })
        .await
        .unwrap();
    assert_eq!(info.group_id, "show-1");
    assert_eq!(info.owner_id, "host");
    assert_eq!(info.notification, "welcome");
    assert_eq!(
        im.create_room(room("Show", "show-1"))
            .await
            .unwrap_err()
            .code,
        code::ROOM_ID_TAKEN_BY_YOU
    );
    let auto = im
        .create_room(CreateRoomOptions {
            name: "Auto".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(auto.group_id.starts_with("@TGS#"), "{}", auto.group_id);

    let e = im.enter_room("show-1").await.unwrap();
    assert_eq!(e.status, EnterStatus::JoinedSuccess);
    assert_eq!(e.group.name, "Show");
    assert_eq!(
        im.enter_room("show-1").await.unwrap().status,
        EnterStatus::AlreadyInGroup
    );
    assert_eq!(im.joined_rooms(), ["show-1"]);
    assert_eq!(
        im.enter_room("no-such-room").await.unwrap_err().code,
        code::ROOM_NOT_FOUND
    );
    assert_eq!(im.joined_rooms(), ["show-1"]);
    im.exit_room("show-1").await.unwrap();
    assert!(im.joined_rooms().is_empty());

    let p = im
        .set_my_profile(
            Some("The Host".into()),
            Some("https://example.org/h.png".into()),
        )
        .await
        .unwrap();
    assert_eq!(p.nick, "The Host");
    let p = im.set_my_profile(None, None).await.unwrap();
    assert_eq!(p.nick, "The Host");
    assert_eq!(
        im.get_my_profile().await.unwrap().avatar,
        "https://example.org/h.png"
    );
    im.shutdown().await;
}

#[tokio::test]
async fn text_and_custom_round_trip_between_two_engines() {
    let server = Server::start();
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    alice
        .set_my_profile(Some("Alice".into()), None)
        .await
        .unwrap();
    alice.create_room(room("Chat", "chat")).await.unwrap();
    alice.enter_room("chat").await.unwrap();
    let mut alice_rx = alice.events();
    let mut bob_rx = bob.events();
    bob.enter_room("chat").await.unwrap();
    let join = next_event(&mut alice_rx, EventName::RemoteUserJoin, 3).await;
    assert_eq!(join.room_id.as_deref(), Some("chat"));

    let sent = alice
        .send_text_message("chat", "hello bob", Priority::Normal)
        .await
        .unwrap();
    assert_eq!(sent.flow, Flow::Out);
    assert!(sent.sequence > 0);
    assert!(!sent.id.is_empty());
    let got = messages(&mut bob_rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(got[0].id, sent.id);
    assert_eq!(got[0].from, "alice");
    assert_eq!(got[0].nick, "Alice");
    assert_eq!(got[0].flow, Flow::In);
    assert_eq!(got[0].to, "chat");

    let like = CustomPayload {
        data: "like".into(),
        description: "a heart".into(),
        extension: "{}".into(),
    };
    bob.send_custom_message("chat", like.clone(), Priority::Low)
        .await
        .unwrap();
    let got = messages(&mut alice_rx, EventName::CustomMessageReceived, 1, 3).await;
    assert_eq!(got[0].body, Body::Custom(like));
    assert_eq!(got[0].priority, Priority::Low);

    // Own messages are not re-delivered.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let own = drain(&mut alice_rx);
    assert!(
        own.iter()
            .flat_map(|e| e.messages())
            .all(|m| m.from != "alice"),
        "{own:?}"
    );
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn guest_viewer_receives_history_and_live_but_cannot_send() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Live", "live")).await.unwrap();
    host.enter_room("live").await.unwrap();
    host.send_text_message("live", "before", Priority::Normal)
        .await
        .unwrap();

    let guest = server.im();
    let mut rx = guest.events();
    let e = guest.enter_room("live").await.unwrap();
    assert_eq!(e.status, EnterStatus::JoinedSuccess);
    assert_eq!(guest.user_id(), None);
    let history = messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(texts(&history), ["before"]);

    host.send_text_message("live", "after", Priority::Normal)
        .await
        .unwrap();
    let live = messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(texts(&live), ["after"]);
    assert_eq!(
        guest
            .send_text_message("live", "hi", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        code::NOT_LOGGED_IN
    );
    host.shutdown().await;
    guest.shutdown().await;
}

#[tokio::test]
async fn stop_push_reaches_viewers_as_push_stopped() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Live", "stop")).await.unwrap();
    host.enter_room("stop").await.unwrap();
    let viewer = server.login("viewer").await;
    viewer.enter_room("stop").await.unwrap();
    let mut rx = viewer.events();

    assert_eq!(
        viewer.stop_push("stop", "nope").await.unwrap_err().code,
        code::NO_PERMISSION
    );
    let sent = host.stop_push("stop", "see you tomorrow").await.unwrap();
    assert_eq!(sent.priority, Priority::High);
    let ev = next_event(&mut rx, EventName::PushStopped, 3).await;
    assert_eq!(ev.text(), Some("see you tomorrow"));
    assert_eq!(ev.room_id.as_deref(), Some("stop"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(drain(&mut rx)
        .iter()
        .all(|e| e.name != EventName::CustomMessageReceived));
    host.shutdown().await;
    viewer.shutdown().await;
}

#[tokio::test]
async fn second_login_kicks_the_first() {
    let server = Server::start();
    let first = server.login("alice").await;
    first.create_room(room("K", "kick")).await.unwrap();
    first.enter_room("kick").await.unwrap();
    let mut rx = first.events();
    let _second = server.login("alice").await;
    let ev = next_event(&mut rx, EventName::KickedOut, 3).await;
    assert_eq!(ev.text(), Some("multipleAccount"));
    next_event(&mut rx, EventName::ImNotReady, 1).await;
    assert_eq!(first.user_id(), None);
    assert!(first.joined_rooms().is_empty());
    assert_eq!(first.net_state(), NetState::Disconnected);
    // No reconnect after a kick.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(drain(&mut rx)
        .iter()
        .all(|e| e.name != EventName::NetStateChange));
    // The engine can log in again (kicking the other one in turn).
    assert!(
        !first
            .login("alice", &sig("alice"))
            .await
            .unwrap()
            .repeat_login
    );
}

#[tokio::test]
async fn off_really_unsubscribes_and_a_panicking_handler_hurts_no_one() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Off", "off")).await.unwrap();
    host.enter_room("off").await.unwrap();
    let viewer = server.im();
    let removed = Arc::new(AtomicUsize::new(0));
    let kept = Arc::new(AtomicUsize::new(0));
    viewer.on(EventName::TextMessageReceived, |_| {
        panic!("a broken handler")
    });
    let r = Arc::clone(&removed);
    let id = viewer.on(EventName::TextMessageReceived, move |e| {
        r.fetch_add(e.messages().len(), Ordering::SeqCst);
    });
    let k = Arc::clone(&kept);
    viewer.on(EventName::TextMessageReceived, move |e| {
        k.fetch_add(e.messages().len(), Ordering::SeqCst);
    });
    viewer.enter_room("off").await.unwrap();
    let mut rx = viewer.events();

    host.send_text_message("off", "one", Priority::Normal)
        .await
        .unwrap();
    messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert!(viewer.off(id));
    assert!(!viewer.off(id));
    host.send_text_message("off", "two", Priority::Normal)
        .await
        .unwrap();
    messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(removed.load(Ordering::SeqCst), 1);
    assert_eq!(kept.load(Ordering::SeqCst), 2);
    host.shutdown().await;
    viewer.shutdown().await;
}

#[tokio::test]
async fn reconnect_fills_the_gap_without_loss_or_duplicates() {
    let mut server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Gap", "gap")).await.unwrap();
    host.enter_room("gap").await.unwrap();
    let viewer = server.login("viewer").await;
    viewer.enter_room("gap").await.unwrap();
    let mut rx = viewer.events();

    for text in ["1", "2", "3"] {
        host.send_text_message("gap", text, Priority::Normal)
            .await
            .unwrap();
    }
    let mut got = messages(&mut rx, EventName::TextMessageReceived, 3, 3).await;

    server.kill();
    next_event(&mut rx, EventName::NetStateChange, 3).await; // connecting
    assert_eq!(viewer.net_state(), NetState::Connecting);
    // Let the first retries fail, so that the viewer is still away when the server is back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.restart();

    // A fresh sender talks while the viewer (and the host) are still reconnecting.
    let other = server.login("other").await;
    other.enter_room("gap").await.unwrap();
    for text in ["4", "5", "6"] {
        other
            .send_text_message("gap", text, Priority::Normal)
            .await
            .unwrap();
    }
    got.extend(messages(&mut rx, EventName::TextMessageReceived, 3, 20).await);
    assert_eq!(texts(&got), ["1", "2", "3", "4", "5", "6"]);
    let seqs: Vec<u64> = got.iter().map(|m| m.sequence).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Back to normal: connected, logged in, still in the room, sending works.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while viewer.net_state() != NetState::Connected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewer never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(viewer.user_id().as_deref(), Some("viewer"));
    assert_eq!(viewer.joined_rooms(), ["gap"]);
    viewer
        .send_text_message("gap", "7", Priority::Normal)
        .await
        .unwrap();
    other
        .send_text_message("gap", "8", Priority::Normal)
        .await
        .unwrap();
    let more = messages(&mut rx, EventName::TextMessageReceived, 1, 5).await;
    assert_eq!(texts(&more), ["8"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(drain(&mut rx)
        .iter()
        .all(|e| e.messages().is_empty() || e.name != EventName::TextMessageReceived));
    host.shutdown().await;
    viewer.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn a_lost_connection_gets_exactly_the_gap_and_waiting_calls_go_through() {
    let server = Server::start();
    let proxy = common::Proxy::start(server.addr).await;
    let host = server.login("host").await;
    host.create_room(room("Cut", "cut")).await.unwrap();
    host.enter_room("cut").await.unwrap();
    let viewer = Im::new(APP, proxy.url()).unwrap();
    viewer.login("viewer", &sig("viewer")).await.unwrap();
    viewer.enter_room("cut").await.unwrap();
    let mut rx = viewer.events();
    let mut net = viewer.events();

    for text in ["1", "2", "3"] {
        host.send_text_message("cut", text, Priority::Normal)
            .await
            .unwrap();
    }
    let mut got = messages(&mut rx, EventName::TextMessageReceived, 3, 3).await;

    proxy.cut();
    let ev = next_event(&mut net, EventName::NetStateChange, 3).await;
    assert_eq!(ev.text(), Some("connecting"));
    // Sent while the viewer is away: only the gap fill can bring them.
    for text in ["4", "5", "6"] {
        host.send_text_message("cut", text, Priority::Normal)
            .await
            .unwrap();
    }
    // A call made while disconnected waits for the reconnect.
    let waiting = {
        let viewer = viewer.clone();
        tokio::spawn(async move {
            viewer
                .send_text_message("cut", "from the viewer", Priority::Normal)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        drain(&mut rx)
            .iter()
            .all(|e| e.name != EventName::TextMessageReceived),
        "nothing can arrive while cut"
    );
    proxy.restore();

    got.extend(messages(&mut rx, EventName::TextMessageReceived, 3, 9).await);
    assert_eq!(texts(&got), ["1", "2", "3", "4", "5", "6"]);
    let ev = next_event(&mut net, EventName::NetStateChange, 9).await;
    assert_eq!(ev.text(), Some("connected"));
    let sent = waiting.await.unwrap().unwrap();
    assert_eq!(sent.flow, Flow::Out);

    host.send_text_message("cut", "7", Priority::Normal)
        .await
        .unwrap();
    let more = messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(texts(&more), ["7"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rest: Vec<_> = drain(&mut rx)
        .into_iter()
        .filter(|e| e.name == EventName::TextMessageReceived)
        .collect();
    assert!(rest.is_empty(), "duplicates: {rest:?}");
    host.shutdown().await;
    viewer.shutdown().await;
}

#[tokio::test]
async fn a_guest_who_logs_in_stays_in_its_rooms() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("G", "guest-login")).await.unwrap();
    host.enter_room("guest-login").await.unwrap();
    let im = server.im();
    im.enter_room("guest-login").await.unwrap();
    let mut rx = im.events();
    im.login("late", &sig("late")).await.unwrap();
    assert_eq!(im.joined_rooms(), ["guest-login"]);
    host.send_text_message("guest-login", "still here?", Priority::Normal)
        .await
        .unwrap();
    let got = messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(texts(&got), ["still here?"]);
    im.send_text_message("guest-login", "yes", Priority::Normal)
        .await
        .unwrap();
    host.shutdown().await;
    im.shutdown().await;
}

/// A 2x2 RGB PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0,
    0x00, 0xc2, 0x0c, 0xff, 0x81, 0x00, 0x00, 0x1f, 0xee, 0x05, 0xfb, 0x0b, 0xd9, 0x68, 0x8b, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn images_are_checked_locally_then_uploaded_and_sent() {
    use liveroom_engine::ImageSource;
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Pics", "pics")).await.unwrap();
    host.enter_room("pics").await.unwrap();
    let viewer = server.im();
    viewer.enter_room("pics").await.unwrap();
    let mut rx = viewer.events();

    let not_a_picture = ImageSource::Bytes(b"<svg></svg>".to_vec());
    let e = host
        .send_image_message("pics", not_a_picture, Priority::Normal, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::IMAGE_TYPE);
    let huge = ImageSource::Bytes(vec![0xFF; 20 * 1024 * 1024 + 1]);
    let e = host
        .send_image_message("pics", huge, Priority::Normal, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::IMAGE_TOO_LARGE);

    let progress = Arc::new(std::sync::Mutex::new(Vec::new()));
    let p = Arc::clone(&progress);
    let result = host
        .send_image_message(
            "pics",
            ImageSource::Bytes(PNG.to_vec()),
            Priority::Normal,
            Some(Box::new(move |f: f64| p.lock().unwrap().push(f))),
        )
        .await;
    let sent = result.expect("the picture is uploaded and sent");
    let Body::Image(image) = &sent.body else {
        panic!("not an image: {sent:?}");
    };
    assert_eq!(image.image_format, 3);
    assert_eq!(image.image_info_array.len(), 3);
    assert_eq!(progress.lock().unwrap().last(), Some(&1.0));
    let got = messages(&mut rx, EventName::ImageMessageReceived, 1, 3).await;
    assert_eq!(got[0].id, sent.id);

    // Its pictures come from the server, and nothing from anywhere else.
    let original = viewer
        .fetch_image(&image.image_info_array[0].url)
        .await
        .unwrap();
    assert_eq!(
        (original.content_type.as_str(), &original.bytes[..]),
        ("image/png", PNG)
    );
    let small = viewer
        .fetch_image(&image.image_info_array[2].url)
        .await
        .unwrap();
    assert!(small.content_type.starts_with("image/"), "{small:?}");
    // (Other http(s) URLs go through the server's proxy: tests/e2e/external_images.rs.)
    for elsewhere in ["javascript:alert(1)", "/upload", "/images/../liveroom.db"] {
        let e = viewer.fetch_image(elsewhere).await.unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMETER, "{elsewhere}: {e}");
    }
    let e = viewer
        .fetch_image("/images/nothing.small.jpg")
        .await
        .unwrap_err();
    assert_eq!(e.code, code::NETWORK, "{e}");
    host.shutdown().await;
    viewer.shutdown().await;
}

#[tokio::test]
async fn a_server_behind_tls_is_reached_over_wss_and_https_once_its_root_is_trusted() {
    use liveroom_engine::ImageSource;
    let server = Server::start();
    let proxy = TlsProxy::start(server.addr).await;
    let url = format!("https://localhost:{}", proxy.addr.port());

    // A self-signed certificate is not trusted by default: a clear network error, fast.
    let untrusted = Im::new(APP, &url).unwrap();
    let started = std::time::Instant::now();
    let e = untrusted.login("alice", &sig("alice")).await.unwrap_err();
    assert_eq!(e.code, code::NETWORK, "{e}");
    assert!(e.message.contains("certificate"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    assert!(TlsConfig::with_root_certificates_pem(b"not a certificate").is_err());
    let tls = TlsConfig::with_root_certificates_pem(&proxy.cert_pem).unwrap();
    let host = Im::with_tls(APP, &url, tls).unwrap();
    host.login("host", &sig("host")).await.unwrap();
    host.create_room(room("Over TLS", "tls")).await.unwrap();
    host.enter_room("tls").await.unwrap();
    // A viewer on the plain address sees what goes through the TLS proxy.
    let viewer = server.login("viewer").await;
    let mut rx = viewer.events();
    viewer.enter_room("tls").await.unwrap();
    host.send_text_message("tls", "over wss", Priority::Normal)
        .await
        .unwrap();
    let got = messages(&mut rx, EventName::TextMessageReceived, 1, 3).await;
    assert_eq!(texts(&got), ["over wss"]);
    // The picture is uploaded over https.
    let sent = host
        .send_image_message(
            "tls",
            ImageSource::Bytes(PNG.to_vec()),
            Priority::Normal,
            None,
        )
        .await
        .expect("uploaded over https and sent");
    let got = messages(&mut rx, EventName::ImageMessageReceived, 1, 3).await;
    assert_eq!(got[0].id, sent.id);
    // And downloaded over https with the same trusted root.
    let Body::Image(image) = &sent.body else {
        panic!("not an image: {sent:?}");
    };
    assert!(image.image_info_array[2]
        .url
        .starts_with("https://localhost:"));
    let small = host
        .fetch_image(&image.image_info_array[2].url)
        .await
        .unwrap();
    assert!(!small.bytes.is_empty());
    assert!(untrusted
        .fetch_image(&image.image_info_array[2].url)
        .await
        .is_err());
    host.shutdown().await;
    viewer.shutdown().await;
}

#[tokio::test]
async fn a_lost_connection_tells_when_each_next_try_is() {
    let mut server = Server::start();
    let viewer = server.login("viewer").await;
    let mut net = viewer.events();
    let unix_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };

    server.kill();
    // The loss, then the first try failing (the server is still down): each says when the next
    // try is, and the seed's `data` stays the state string.
    let mut tries = Vec::new();
    while tries.len() < 2 {
        let ev = next_event(&mut net, EventName::NetStateChange, 5).await;
        assert_eq!(ev.text(), Some("connecting"), "{ev:?}");
        let next = ev
            .next_try
            .expect("a connecting event after a loss names the next try");
        let now = unix_ms();
        assert!(
            next.at + 50 >= now && next.at <= now + next.in_ms + 50,
            "{next:?} at {now}"
        );
        tries.push(next);
    }
    assert_eq!((tries[0].attempt, tries[1].attempt), (1, 2), "{tries:?}");
    // 1 s then 2 s nominal, with jitter into [d/2, d).
    assert!((500..=1000).contains(&tries[0].in_ms), "{tries:?}");
    assert!((1000..=2000).contains(&tries[1].in_ms), "{tries:?}");
    let wire =
        serde_json::to_value(Event::new(EventName::NetStateChange, EventData::None)).unwrap();
    assert!(
        wire.get("nextTry").is_none(),
        "absent unless reconnecting: {wire}"
    );

    server.restart();
    let back = loop {
        let ev = next_event(&mut net, EventName::NetStateChange, 20).await;
        if ev.text() == Some("connected") {
            break ev;
        }
        assert!(ev.next_try.is_some(), "{ev:?}");
    };
    assert!(back.next_try.is_none(), "{back:?}");
    let v = serde_json::to_value(&back).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name": "t_net_state_change", "data": "connected"})
    );
    viewer.shutdown().await;
}
