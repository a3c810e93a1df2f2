//! The engine given a comma-separated list of server addresses (the nodes of a cluster),
//! against real `liveroom-server` processes on loopback. The nodes here share nothing (the
//! Redis side is tested with the cluster): what is tested is the engine's choice of node.

mod common;

use std::time::Duration;

use common::{sig, Server, APP};
use liveroom_engine::proto::{code, Body, CreateRoomOptions, Priority};
use liveroom_engine::{EventData, EventName, Im, ImageSource, NetState};

fn room(id: &str) -> CreateRoomOptions {
    CreateRoomOptions {
        name: format!("Room {id}"),
        room_id: Some(id.into()),
        ..Default::default()
    }
}

/// A loopback address nobody listens on (a port just freed).
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("ws://{addr}")
}

/// Whether `room_id` exists on `server` (a guest enters it there).
async fn exists_on(server: &Server, room_id: &str) -> bool {
    let probe = server.im();
    let entered = probe.enter_room(room_id).await;
    probe.shutdown().await;
    match entered {
        Ok(_) => true,
        Err(e) if e.code == code::ROOM_NOT_FOUND => false,
        Err(e) => panic!("probing {room_id}: {e}"),
    }
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
async fn dead_nodes_in_the_list_are_skipped_at_login() {
    let live = Server::start();
    let list = format!(
        "{} , {},{}, {}",
        dead_address(),
        dead_address(),
        dead_address(),
        live.url()
    );
    // Each engine starts on a node chosen at random: with five, some start on a dead one
    // (all but a 1-in-625 chance) and must move on to the live one at once.
    for n in 0..5 {
        let user = format!("user_{n}");
        let im = Im::new(APP, &list).unwrap();
        let started = std::time::Instant::now();
        im.login(&user, &sig(&user)).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no backoff for a refused node at login: {:?}",
            started.elapsed()
        );
        assert_eq!(im.net_state(), NetState::Connected);
        im.create_room(room(&format!("skip-{n}"))).await.unwrap();
        im.shutdown().await;
    }

    // Every node dead: one error naming each, quickly.
    let dead = [dead_address(), dead_address(), dead_address()];
    let im = Im::new(APP, dead.join(",")).unwrap();
    let started = std::time::Instant::now();
    let e = im.login("alice", &sig("alice")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.code, code::NETWORK, "{e}");
    assert!(
        e.message.contains("cannot connect to any of the 3 servers"),
        "{e}"
    );
    for addr in &dead {
        assert!(e.message.contains(&format!("{addr}/ws")), "{addr}: {e}");
    }
    assert_eq!(im.net_state(), NetState::Disconnected);
}

#[tokio::test]
async fn a_killed_node_is_left_for_the_next_live_one() {
    let a = Server::start();
    let b = Server::start();
    // A dead entry in the middle: whichever live node the viewer starts on, the other is at
    // most one refused node away.
    let list = format!("{}, {}, {}", a.url(), dead_address(), b.url());
    let viewer = Im::new(APP, &list).unwrap();
    viewer.login("viewer", &sig("viewer")).await.unwrap();
    viewer.create_room(room("node-room")).await.unwrap();
    viewer.enter_room("node-room").await.unwrap();
    let on_a = exists_on(&a, "node-room").await;
    assert_ne!(on_a, exists_on(&b, "node-room").await, "on one node only");
    let (mut gone, other) = if on_a { (a, b) } else { (b, a) };

    let mut rx = viewer.events();
    gone.kill();
    let mut dismissed = false;
    let mut tries = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(left, rx.recv())
            .await
            .expect("reconnected to the other node within 20 s")
            .unwrap();
        match event.name {
            EventName::NetStateChange if event.text() == Some("connecting") => {
                assert!(event.next_try.is_some(), "{event:?}");
                tries += 1;
            }
            EventName::NetStateChange if event.text() == Some("connected") => break,
            // The other node has no such room: the viewer is told it is gone.
            EventName::RoomDismissed => {
                assert!(matches!(&event.data, EventData::Text(r) if r == "node-room"));
                dismissed = true;
            }
            _ => {}
        }
    }
    assert!((1..=3).contains(&tries), "{tries} tries");
    assert!(dismissed, "re-entering a room the node lacks says so");
    assert_eq!(
        viewer.user_id().as_deref(),
        Some("viewer"),
        "logged in again"
    );
    assert!(
        viewer.joined_rooms().is_empty(),
        "{:?}",
        viewer.joined_rooms()
    );

    // Everything now happens on the live node, pictures included.
    viewer.create_room(room("second")).await.unwrap();
    viewer.enter_room("second").await.unwrap();
    assert!(exists_on(&other, "second").await);
    let sent = viewer
        .send_text_message("second", "on the other node", Priority::Normal)
        .await
        .unwrap();
    assert!(sent.sequence > 0);
    let sent = viewer
        .send_image_message(
            "second",
            ImageSource::Bytes(PNG.to_vec()),
            Priority::Normal,
            None,
        )
        .await
        .expect("uploaded to the live node");
    let Body::Image(image) = &sent.body else {
        panic!("not an image: {sent:?}");
    };
    let other_http = format!("http://{}", other.addr);
    let url = &image.image_info_array[0].url;
    assert!(url.starts_with(&format!("{other_http}/images/")), "{url}");
    let picture = viewer.fetch_image(url).await.unwrap();
    assert_eq!(&picture.bytes[..], PNG);
    // A picture named by the dead node's address is asked of the live one (in a cluster every
    // node serves every picture; these two share nothing, so it is missing there).
    let gone_http = format!("http://{}", gone.addr);
    let e = viewer
        .fetch_image(&format!("{gone_http}/images/nothing.small.jpg"))
        .await
        .unwrap_err();
    assert!(
        e.message
            .contains(&format!("{other_http}/images/nothing.small.jpg")),
        "{e}"
    );
    viewer.shutdown().await;
}

#[tokio::test]
async fn a_bad_list_names_the_bad_entry() {
    for (list, says) in [
        ("ws://a,", "server address 2 of 2 in 'ws://a,' is empty"),
        (
            "ws://a,,ws://b",
            "server address 2 of 3 in 'ws://a,,ws://b' is empty",
        ),
        (
            "ws://a, ftp://x",
            "server address 2 of 2 in 'ws://a, ftp://x': 'ftp://x': unsupported scheme 'ftp'",
        ),
        (
            "ws://a , ws:// ,ws://b",
            "server address 2 of 3 in 'ws://a , ws:// ,ws://b': 'ws://' has no host",
        ),
    ] {
        let e = Im::new(APP, list).unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMETER, "{list}");
        assert!(e.message.starts_with(says), "{list}: {e}");
    }
    // One address is taken as it always was, errors included.
    for ok in ["http://x", "ws://a:1", "x:9000"] {
        assert!(Im::new(APP, ok).is_ok(), "{ok}");
    }
    let e = Im::new(APP, "ftp://x").unwrap_err();
    assert_eq!(
        e.message,
        "server address: unsupported scheme 'ftp' (use ws://, wss://, http:// or https://)"
    );
}
