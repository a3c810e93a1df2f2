//! Rooms: create/enter/exit, messages, history and gap fill, tips, stop-push, budget.

mod common;

use std::time::Duration;

use common::*;
use liveroom_proto::code;
use serde_json::json;

#[tokio::test]
async fn create_room_validates_and_reports_taken_ids() {
    let s = TestServer::start().await;
    let mut a = s.user("alice").await;
    let r = a
        .req(
            "create_room",
            json!({"name": "Live", "room_id": "room-1", "notification": "n", "introduction": "i", "avatar": "http://x"}),
        )
        .await
        .ok();
    assert_eq!(r["groupID"], "room-1");
    assert_eq!(r["ownerID"], "alice");
    assert_eq!(r["type"], "AVChatRoom");
    assert_eq!(r["notification"], "n");

    let auto = a.req("create_room", json!({"name": "Auto"})).await.ok();
    assert!(auto["groupID"].as_str().unwrap().starts_with("@TGS#"));

    let bad = [
        (json!({"name": ""}), code::INVALID_PARAMETER, "name"),
        (
            json!({"name": "x".repeat(101)}),
            code::INVALID_PARAMETER,
            "name",
        ),
        (
            json!({"name": "n", "notification": "x".repeat(301)}),
            code::INVALID_PARAMETER,
            "notification",
        ),
        (
            json!({"name": "n", "introduction": "x".repeat(241)}),
            code::INVALID_PARAMETER,
            "introduction",
        ),
        (
            json!({"name": "n", "avatar": "x".repeat(101)}),
            code::INVALID_PARAMETER,
            "avatar",
        ),
        (
            json!({"name": "n", "room_id": "@TGS#mine"}),
            code::ROOM_ID_INVALID,
            "@TGS#",
        ),
        (
            json!({"name": "n", "room_id": "r".repeat(49)}),
            code::ROOM_ID_INVALID,
            "roomID",
        ),
        (
            json!({"name": "n", "room_id": "tab\there"}),
            code::ROOM_ID_INVALID,
            "roomID",
        ),
    ];
    for (fields, expected, word) in bad {
        let (c, m) = a.req("create_room", fields.clone()).await.err();
        assert_eq!(c, expected, "{fields}");
        assert!(m.contains(word), "{m} should name {word}");
    }
    assert_eq!(
        a.req("create_room", json!({"name": "n", "room_id": "room-1"}))
            .await
            .code(),
        code::ROOM_ID_TAKEN_BY_YOU
    );
    let mut b = s.user("bob").await;
    assert_eq!(
        b.req("create_room", json!({"name": "n", "room_id": "room-1"}))
            .await
            .code(),
        code::ROOM_ID_TAKEN
    );
    // Room IDs are per SDKAppID.
    let mut other = s.client().await;
    other.hello(APP2).await;
    other
        .req(
            "login",
            json!({"user_id": "carol", "user_sig": liveroom_usersig::gen_usersig(APP2, KEY2, "carol", 60)}),
        )
        .await
        .ok();
    other.create("room-1").await;
}

#[tokio::test]
async fn enter_exit_and_send_rules() {
    let s = TestServer::start().await;
    let mut a = s.user("alice").await;
    assert_eq!(
        a.req("enter_room", json!({"room_id": "nope"})).await.code(),
        code::ROOM_NOT_FOUND
    );
    a.create("r").await;
    assert_eq!(a.text("r", "hi").await.code(), code::NOT_IN_ROOM);
    let e = a.enter("r").await;
    assert_eq!(e["status"], "JoinedSuccess");
    assert_eq!(e["online"], 1);
    assert_eq!(e["group"]["groupID"], "r");
    assert_eq!(e["last_sequence"], 0);
    assert_eq!(a.enter("r").await["status"], "AlreadyInGroup");

    let m = a.text("r", "hello").await.ok()["message"].clone();
    assert_eq!(m["sequence"], 1);
    assert_eq!(m["flow"], "out");
    assert_eq!(m["conversationID"], "GROUPr");
    assert!(m["ID"].as_str().unwrap().starts_with("GROUPr-1-"));

    assert_eq!(a.text("r", "").await.code(), code::INVALID_PARAMETER);
    assert_eq!(
        a.text("r", &"x".repeat(8193)).await.code(),
        code::MESSAGE_TOO_LONG
    );
    assert_eq!(
        a.req(
            "send_custom",
            json!({"room_id": "r", "data": "x".repeat(5000), "description": "y".repeat(4000)})
        )
        .await
        .code(),
        code::MESSAGE_TOO_LONG
    );
    assert_eq!(
        a.req(
            "send_custom",
            json!({"room_id": "r", "data": "push_stopped"})
        )
        .await
        .code(),
        code::NO_PERMISSION
    );
    assert_eq!(
        a.req("send_image", json!({"room_id": "r", "uuid": "u"}))
            .await
            .code(),
        code::INVALID_PARAMETER
    );

    let x = a.req("exit_room", json!({"room_id": "r"})).await.ok();
    assert_eq!(x["groupID"], "r");
    assert_eq!(a.text("r", "after").await.code(), code::NOT_IN_ROOM);
}

#[tokio::test]
async fn live_messages_history_and_gap_fill() {
    let s = TestServer::start_with(|b| b.history(5)).await;
    let mut a = s.user("alice").await;
    a.req(
        "set_profile",
        json!({"nick": "Alice", "avatar": "http://a"}),
    )
    .await
    .ok();
    a.create("r").await;
    a.enter("r").await;
    for i in 1..=7 {
        a.text("r", &format!("m{i}")).await.ok();
    }
    // A joiner gets the last 5.
    let mut b = s.user("bob").await;
    let e = b.enter("r").await;
    let hist: Vec<u64> = e["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(hist, vec![3, 4, 5, 6, 7]);
    assert_eq!(e["last_sequence"], 7);
    assert_eq!(e["messages"][0]["nick"], "Alice");
    assert_eq!(e["messages"][0]["flow"], "in");

    // Live: custom message with all fields, nick and avatar from the profile.
    a.req(
        "send_custom",
        json!({"room_id": "r", "data": "like", "description": "d", "extension": "e", "priority": "Low"}),
    )
    .await
    .ok();
    let m = b.until(|m| m["sequence"] == 8).await;
    assert_eq!(m["type"], "TIMCustomElem");
    assert_eq!(m["payload"]["data"], "like");
    assert_eq!(m["priority"], "Low");
    assert_eq!(m["avatar"], "http://a");

    // Gap fill: a reconnecting client that saw up to 5 gets exactly 6..=8.
    let mut g = s.client().await;
    g.hello(APP).await;
    let e = g
        .req("enter_room", json!({"room_id": "r", "since": 5}))
        .await
        .ok();
    let seqs: Vec<u64> = e["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![6, 7, 8]);
    // Guests receive but may not send.
    a.text("r", "for the guest").await.ok();
    let got = g.messages(1).await;
    assert_eq!(got[0]["sequence"], 9);
    assert_eq!(g.text("r", "nope").await.code(), code::NOT_LOGGED_IN);
}

#[tokio::test]
async fn no_gap_and_no_duplicate_between_history_and_live() {
    let s = TestServer::start_with(|b| b.room_budget(0)).await;
    let mut a = s.user("alice").await;
    a.create("r").await;
    a.enter("r").await;
    let url = s.url();
    // Send continuously while viewers join.
    let sender = tokio::spawn(async move {
        for i in 0..60 {
            a.text("r", &format!("m{i}")).await.ok();
        }
        a
    });
    let mut viewers = Vec::new();
    for _ in 0..4 {
        let mut v = Client::connect(&url).await;
        v.hello(APP).await;
        let e = v.enter("r").await;
        viewers.push((v, e));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sender.await.unwrap();
    for (mut v, e) in viewers {
        let mut seqs: Vec<u64> = e["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sequence"].as_u64().unwrap())
            .collect();
        let last = e["last_sequence"].as_u64().unwrap();
        assert_eq!(seqs.last().copied().unwrap_or(0), last);
        let live = v.messages((60 - last) as usize).await;
        seqs.extend(live.iter().map(|m| m["sequence"].as_u64().unwrap()));
        let expected: Vec<u64> = (1..=60).collect();
        let from = seqs.first().copied().unwrap_or(1) as usize;
        assert_eq!(seqs, expected[from - 1..].to_vec());
    }
}

#[tokio::test]
async fn join_and_leave_tips_below_threshold_only() {
    let s = TestServer::start_with(|b| b.join_leave_threshold(2)).await;
    let mut a = s.user("alice").await;
    a.create("r").await;
    a.enter("r").await;
    a.messages(1).await; // alice's own join tip
    let mut b = s.user("bob").await;
    b.enter("r").await;
    let tip = &a.messages(1).await[0];
    assert_eq!(tip["type"], "TIMGroupTipElem");
    assert_eq!(tip["payload"]["operationType"], 1);
    assert_eq!(tip["payload"]["userIDList"], json!(["bob"]));
    assert_eq!(tip["from"], "bob");
    assert_eq!(tip["sequence"], 0);
    // Guests make no tips; the third member is over the threshold.
    let mut g = s.client().await;
    g.hello(APP).await;
    g.enter("r").await;
    let mut c = s.user("carol").await;
    c.enter("r").await;
    a.assert_quiet(150).await;
    // Tips are not stored.
    let e = c
        .req("enter_room", json!({"room_id": "r", "since": 0}))
        .await
        .ok();
    assert_eq!(e["messages"], json!([]));
    drop(c);
    drop(g);
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.req("exit_room", json!({"room_id": "r"})).await.ok();
    let tip = &a.messages(1).await[0];
    assert_eq!(tip["payload"]["operationType"], 2);
    assert_eq!(tip["payload"]["userIDList"], json!(["bob"]));
}

#[tokio::test]
async fn online_count_is_pushed() {
    let s = TestServer::start_with(|b| b.online_interval(Duration::from_millis(100))).await;
    let mut a = s.user("alice").await;
    a.create("r").await;
    a.enter("r").await;
    let mut g = s.client().await;
    g.hello(APP).await;
    g.enter("r").await;
    loop {
        let f = g.next_push().await;
        if f["t"] == "online" {
            assert_eq!(f["room"], "r");
            assert_eq!(f["count"], 2);
            break;
        }
    }
}

#[tokio::test]
async fn stop_push_owner_only() {
    let s = TestServer::start().await;
    let mut host = s.user("host").await;
    host.create("live").await;
    let mut v = s.user("viewer").await;
    v.enter("live").await;
    assert_eq!(
        v.req("stop_push", json!({"room_id": "live", "postscript": "x"}))
            .await
            .code(),
        code::NO_PERMISSION
    );
    assert_eq!(
        host.req("stop_push", json!({"room_id": "nope"}))
            .await
            .code(),
        code::ROOM_NOT_FOUND
    );
    let r = host
        .req("stop_push", json!({"room_id": "live", "postscript": "bye"}))
        .await
        .ok();
    assert_eq!(r["message"]["priority"], "High");
    let m = v.until(|m| m["type"] == "TIMCustomElem").await;
    assert_eq!(m["payload"]["data"], "push_stopped");
    assert_eq!(m["payload"]["description"], "bye");
    let e = s.user("late").await.enter("live").await;
    assert_eq!(e["group"]["pushStopped"], true);
    assert_eq!(e["group"]["postscript"], "bye");
}

#[tokio::test]
async fn budget_drops_lowest_first_high_always_passes() {
    let s = TestServer::start_with(|b| b.room_budget(20)).await;
    let mut a = s.user("alice").await;
    a.create("r").await;
    a.enter("r").await;
    let mut passed = std::collections::HashMap::new();
    let mut dropped_msg = None;
    for _ in 0..15 {
        for p in ["High", "Normal", "Low", "Lowest"] {
            let r = a
                .req(
                    "send_text",
                    json!({"room_id": "r", "text": "x", "priority": p}),
                )
                .await;
            match r {
                Resp::Ok(_) => *passed.entry(p).or_insert(0) += 1,
                Resp::Err(c, m) => {
                    assert_eq!(c, code::RATE_LIMITED);
                    dropped_msg = Some(m);
                }
            }
        }
    }
    let n = |p| passed.get(p).copied().unwrap_or(0);
    assert_eq!(n("High"), 15);
    assert!(n("Lowest") < n("Low"), "{passed:?}");
    assert!(n("Low") < n("Normal"), "{passed:?}");
    assert!(dropped_msg.unwrap().contains("budget"));
    // Dropped messages get no sequence: the sequences are dense.
    let e = s.user("bob").await.enter("r").await;
    let total: u64 = passed.values().sum::<u64>();
    assert_eq!(e["last_sequence"].as_u64().unwrap(), total);
}

#[tokio::test]
async fn user_rate_limit() {
    let s = TestServer::start_with(|b| b.user_rate(2)).await;
    let mut a = s.user("alice").await;
    a.create("r").await;
    a.enter("r").await;
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..8 {
        match a.text("r", "x").await {
            Resp::Ok(_) => ok += 1,
            Resp::Err(c, _) => {
                assert_eq!(c, code::RATE_LIMITED);
                limited += 1;
            }
        }
    }
    assert!((4..=5).contains(&ok), "burst is twice the rate: {ok}");
    assert!(limited >= 3);
}
