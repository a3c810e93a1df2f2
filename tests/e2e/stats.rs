//! Room statistics (issue 15 item 3): `get_room_stats` and the `t_room_stats` push, counted
//! by the real server binary from what was really sent (engines, the REST API), refused to
//! viewers, kept across a crash, and the same on two cluster nodes over one Redis.

use std::time::Duration;

use liveroom_engine::proto::{code, CreateRoomOptions, CustomPayload, Priority, RoomStats};
use liveroom_engine::Im;
use liveroom_testkit::RedisProcess;
use liveroom_tests::{json_out, sig, Server, APP, KEY};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::rest_support::{self, assert_ok, ADMIN};
use crate::{assert_no_event, wait_for, RawClient};

/// A room `id` made by `owner` (nick `Host`) on the server at `url`, the owner in it.
async fn host_room(url: &str, owner: &str, id: &str) -> Im {
    let im = login(url, owner, "Host").await;
    im.create_room(CreateRoomOptions {
        name: id.into(),
        room_id: Some(id.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    im.enter_room(id).await.unwrap();
    im
}

/// An engine logged in as `user` with `nick`.
async fn login(url: &str, user: &str, nick: &str) -> Im {
    let im = Im::new(APP, url).unwrap();
    im.login(user, &sig(user)).await.expect("login");
    im.set_my_profile(Some(nick.into()), None).await.unwrap();
    im
}

fn custom(data: &str, extension: &str) -> CustomPayload {
    CustomPayload {
        data: data.into(),
        description: "rocket".into(),
        extension: extension.into(),
    }
}

/// What a viewer sends: `texts` texts, one custom message that is neither like nor gift, a
/// like of each spelling, and gift messages of `gifts` (their extension's count).
async fn send_all(im: &Im, room: &str, texts: usize, gifts: &[&str]) {
    for i in 0..texts {
        im.send_text_message(room, &format!("hi {i}"), Priority::Normal)
            .await
            .unwrap();
    }
    im.send_custom_message(room, custom("vote", "{}"), Priority::Normal)
        .await
        .unwrap();
    for like in ["like", "dianzan"] {
        im.send_custom_message(room, custom(like, ""), Priority::Low)
            .await
            .unwrap();
    }
    for ext in gifts {
        im.send_custom_message(room, custom("gift", ext), Priority::High)
            .await
            .unwrap();
    }
}

/// The totals and top gifters of stats in the JS shape (an event's `data`).
fn js_totals(data: &Value) -> (u64, u64, u64, Vec<(String, String, u64)>) {
    let n = |k: &str| data[k].as_u64().unwrap_or_else(|| panic!("{k}: {data}"));
    let top = data["topGifters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["userID"].as_str().unwrap().to_owned(),
                g["nick"].as_str().unwrap().to_owned(),
                g["gifts"].as_u64().unwrap(),
            )
        })
        .collect();
    (n("messagesTotal"), n("likesTotal"), n("giftsTotal"), top)
}

/// The same of a typed reply.
fn totals(s: &RoomStats) -> (u64, u64, u64, Vec<(String, String, u64)>) {
    let top = s
        .top_gifters
        .iter()
        .map(|g| (g.user_id.clone(), g.nick.clone(), g.gifts))
        .collect();
    (s.messages_total, s.likes_total, s.gifts_total, top)
}

/// Waits for a `t_room_stats` push of `room` whose data satisfies `ok`.
async fn push_where(
    rx: &mut broadcast::Receiver<liveroom_engine::Event>,
    room: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev = tokio::time::timeout(left, wait_for(rx, "t_room_stats"))
            .await
            .unwrap_or_else(|_| panic!("no fitting t_room_stats of {room} within 15 s"));
        if ev["roomID"] == room && ok(&ev["data"]) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_get_exactly_what_was_sent_and_viewers_get_10007() {
    let server = Server::start_with(&[
        "--room-stats-every",
        "1",
        "--online-interval",
        "1",
        "--admin",
        &format!("{APP}:{ADMIN}"),
    ]);
    let url = server.url();
    let host = host_room(&url, "host", "live").await;
    let mut host_rx = host.events();
    let fan1 = login(&url, "fan1", "Fan One").await;
    let fan2 = login(&url, "fan2", "Fan Two").await;
    fan1.enter_room("live").await.unwrap();
    fan2.enter_room("live").await.unwrap();
    let mut fan_rx = fan1.events();

    // fan1: 3 texts, a vote, 2 likes, gifts of 3 and "12"; fan2: 2 texts, a vote, 2 likes,
    // gifts of none (1), 0 (1) and 20000 (clamped to 9999).
    send_all(&fan1, "live", 3, &[r#"{"count":3}"#, r#"{"count":"12"}"#]).await;
    send_all(
        &fan2,
        "live",
        2,
        &["", r#"{"count":0}"#, r#"{"count":20000}"#],
    )
    .await;
    // The backend's REST send counts like any other: a text and a gift of 4 from fan1.
    for body in [
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "from the backend"}}),
        json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rose", "Ext": "{\"count\":4}"}}),
    ] {
        let answer = rest_support::call(
            &server,
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": "live", "From_Account": "fan1", "Random": rest_support::rand_u32(), "MsgBody": [body]}),
        )
        .await;
        assert_ok(&answer);
    }
    // The host's own text counts too.
    host.send_text_message("live", "welcome", Priority::Normal)
        .await
        .unwrap();

    let messages = 3 + 1 + 2 + 1 + 1 + 1; // fan1, fan2, the REST text, the host's text
    let likes = 4;
    let expected_top = vec![
        ("fan2".to_owned(), "Fan Two".to_owned(), 1 + 1 + 9999),
        ("fan1".to_owned(), "Fan One".to_owned(), 3 + 12 + 4),
    ];
    let gifts = 10_001 + 19;

    // A viewer asking is refused; a room that does not exist is 10010.
    let refused = fan1.get_room_stats("live").await.unwrap_err();
    assert_eq!(refused.code, code::NO_PERMISSION, "{refused:?}");
    let missing = host.get_room_stats("nowhere").await.unwrap_err();
    assert_eq!(missing.code, code::ROOM_NOT_FOUND, "{missing:?}");
    // On the wire too, a guest (no login) included.
    let mut guest = RawClient::connect(&server).await;
    guest
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = guest
        .request(json!({"id": 2, "op": "get_room_stats", "room_id": "live"}))
        .await;
    assert_eq!(
        (r["t"].as_str(), r["code"].as_u64()),
        (Some("error"), Some(10007)),
        "{r}"
    );
    let r = guest
        .request(json!({"id": 3, "op": "get_room_stats", "room_id": "nowhere"}))
        .await;
    assert_eq!(r["code"], 10010, "{r}");

    let stats = host.get_room_stats("live").await.unwrap();
    assert_eq!(stats.room_id, "live");
    assert_eq!(
        totals(&stats),
        (messages, likes, gifts, expected_top.clone())
    );
    assert_eq!(stats.online, 3);
    assert!(stats.at >= stats.started_at, "{stats:?}");
    // One entry per minute of the session, oldest first, the current one last; every
    // message of this session is in them.
    let minute_of = |t: i64| t - t.rem_euclid(60);
    assert_eq!(
        stats.minutes.first().map(|m| m.at),
        Some(minute_of(stats.started_at))
    );
    assert_eq!(
        stats.minutes.last().map(|m| m.at),
        Some(minute_of(stats.at))
    );
    assert!(stats.minutes.windows(2).all(|w| w[1].at == w[0].at + 60));
    assert_eq!(
        stats.minutes.iter().map(|m| m.messages).sum::<u64>(),
        messages
    );
    let last = stats.minutes.last().map_or(0, |m| m.messages);
    assert!(
        (last..=messages).contains(&stats.messages_last_minute),
        "{stats:?}"
    );

    // The push comes by itself, to the owner, with the same numbers in the JS shape; the
    // online ticker's sample of this minute is in it: 3 connections.
    let ev = push_where(&mut host_rx, "live", |d| {
        d["minutes"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["online"] == 3)
            && d["messagesTotal"] == messages
    })
    .await;
    let data = &ev["data"];
    assert_eq!(
        js_totals(data),
        (messages, likes, gifts, expected_top.clone())
    );
    assert_eq!(data["roomID"], "live");
    assert_eq!(data["peakOnline"], 3);
    assert_eq!(data["online"], 3);
    for key in ["startedAt", "at", "messagesLastMinute"] {
        assert!(data[key].is_i64() || data[key].is_u64(), "{key}: {data}");
    }
    // A viewer never gets it.
    assert_no_event(&mut fan_rx, "t_room_stats", Duration::from_millis(2500)).await;

    // An admin the owner appoints gets it too; an app administrator asks from the CLI,
    // outside the room, and reads the same numbers (snake_case, the wire's).
    host.set_admin("live", "fan2", true).await.unwrap();
    let mut fan2_rx = fan2.events();
    push_where(&mut fan2_rx, "live", |d| d["messagesTotal"] == messages).await;
    let fan2_stats = fan2.get_room_stats("live").await.unwrap();
    assert_eq!(totals(&fan2_stats), totals(&stats));
    let cli: RoomStats =
        serde_json::from_value(json_out(&server.cli_as(ADMIN, &["room-stats", "live"]))).unwrap();
    assert_eq!(totals(&cli), totals(&stats));
    assert_eq!(cli.peak_online, 3);
    let refused = server.cli_as("fan1", &["room-stats", "live"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("error 10007"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_survive_a_crash_and_go_with_the_room() {
    let mut server = Server::start_with(&["--room-stats-every", "1", "--online-interval", "1"]);
    let url = server.url();
    let host = host_room(&url, "host", "kept").await;
    let fan = login(&url, "fan", "Fan").await;
    fan.enter_room("kept").await.unwrap();
    send_all(&fan, "kept", 2, &[r#"{"count":7}"#]).await;
    let before = host.get_room_stats("kept").await.unwrap();
    assert_eq!(
        totals(&before),
        (3, 2, 7, vec![("fan".into(), "Fan".into(), 7)])
    );
    // Two ticks: saved, and the online sample (2) with them.
    let mut rx = host.events();
    push_where(&mut rx, "kept", |d| d["peakOnline"] == 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop((host, fan));
    server.kill();
    server.restart();

    let host = login(&url, "host", "Host").await;
    let after = host.get_room_stats("kept").await.unwrap();
    assert_eq!(totals(&after), totals(&before), "counted before the crash");
    assert_eq!(after.peak_online, 2);
    assert_eq!(after.started_at, before.started_at);
    assert_eq!(after.online, 0);
    let sampled: Vec<u64> = after.minutes.iter().map(|m| m.online).collect();
    assert!(sampled.contains(&2), "{:?}", after.minutes);

    // Counting goes on from there; a room of the same ID made after a dismissal starts
    // afresh.
    host.enter_room("kept").await.unwrap();
    host.send_custom_message("kept", custom("like", ""), Priority::Normal)
        .await
        .unwrap();
    assert_eq!(host.get_room_stats("kept").await.unwrap().likes_total, 3);
    host.dismiss_room("kept").await.unwrap();
    let again = host_room(&url, "host", "kept").await;
    let fresh = again.get_room_stats("kept").await.unwrap();
    assert_eq!(totals(&fresh), (0, 0, 0, Vec::new()));
    assert_eq!(fresh.peak_online, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_on_two_nodes_see_the_same_numbers() {
    let cluster = liveroom_testkit::cluster::Cluster::start_over(
        RedisProcess::start(),
        2,
        APP,
        KEY,
        &["--room-stats-every", "1", "--online-interval", "1"],
    );
    let (a, b) = (cluster.url(0), cluster.url(1));
    let host = host_room(&a, "host", "both").await;
    host.set_admin("both", "mod", true).await.unwrap();
    let moderator = login(&b, "mod", "Mod").await;
    moderator.enter_room("both").await.unwrap();
    let mut mod_rx = moderator.events();
    let mut host_rx = host.events();
    let fan_a = login(&a, "fana", "Fan A").await;
    let fan_b = login(&b, "fanb", "Fan B").await;
    fan_a.enter_room("both").await.unwrap();
    fan_b.enter_room("both").await.unwrap();
    send_all(&fan_a, "both", 2, &[r#"{"count":5}"#]).await;
    send_all(&fan_b, "both", 3, &[r#"{"count":2}"#, r#"{"count":2}"#]).await;

    let expected = (
        2 + 1 + 3 + 1,
        4,
        9,
        vec![
            ("fana".to_owned(), "Fan A".to_owned(), 5),
            ("fanb".to_owned(), "Fan B".to_owned(), 4),
        ],
    );
    let on_a = host.get_room_stats("both").await.unwrap();
    let on_b = moderator.get_room_stats("both").await.unwrap();
    assert_eq!(totals(&on_a), expected);
    assert_eq!(totals(&on_b), expected);
    assert_eq!(on_a.started_at, on_b.started_at);
    assert_eq!(on_a.minutes.iter().map(|m| m.messages).sum::<u64>(), 7);
    assert_eq!(on_b.minutes.iter().map(|m| m.messages).sum::<u64>(), 7);
    let refused = fan_b.get_room_stats("both").await.unwrap_err();
    assert_eq!(refused.code, code::NO_PERMISSION);

    // Each node pushes to its own moderators; both see every node's members (4).
    for rx in [&mut host_rx, &mut mod_rx] {
        let ev = push_where(rx, "both", |d| {
            d["peakOnline"] == 4 && d["messagesTotal"] == expected.0
        })
        .await;
        assert_eq!(js_totals(&ev["data"]), expected);
    }
}
