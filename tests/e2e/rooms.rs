//! Rooms, profiles and messages through real engines: every method and message event.

use liveroom_engine::proto::{CreateRoomOptions, CustomPayload, EnterStatus, Priority};
use liveroom_tests::Server;

use crate::{assert_no_event, messages, wait_for};

fn room(name: &str, id: &str) -> CreateRoomOptions {
    CreateRoomOptions {
        name: name.into(),
        room_id: Some(id.into()),
        notification: "Welcome!".into(),
        introduction: "An e2e room".into(),
        avatar: "http://example.com/a.png".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_enter_chat_exit() {
    let server = Server::start();
    let host = server.login("host").await;
    let viewer = server.login("viewer").await;

    let info = host
        .create_room(room("Live", "live-1"))
        .await
        .expect("create");
    assert_eq!(info.group_id, "live-1");
    assert_eq!(info.owner_id, "host");
    assert_eq!(info.kind, "AVChatRoom");
    assert_eq!(info.notification, "Welcome!");

    // The owner re-creating gets 10025, someone else 10021.
    assert_eq!(
        host.create_room(room("Live", "live-1"))
            .await
            .unwrap_err()
            .code,
        10025
    );
    assert_eq!(
        viewer
            .create_room(room("Live", "live-1"))
            .await
            .unwrap_err()
            .code,
        10021
    );
    // Without an ID the server picks one starting with @TGS#.
    let auto = host
        .create_room(CreateRoomOptions {
            name: "Auto".into(),
            ..Default::default()
        })
        .await
        .expect("auto id");
    assert!(auto.group_id.starts_with("@TGS#"), "{}", auto.group_id);

    let e = host.enter_room("live-1").await.expect("enter");
    assert_eq!(e.status, EnterStatus::JoinedSuccess);
    assert_eq!(
        host.enter_room("live-1").await.unwrap().status,
        EnterStatus::AlreadyInGroup
    );

    let mut host_rx = host.events();
    let mut viewer_rx = viewer.events();
    let e = viewer.enter_room("live-1").await.expect("viewer enters");
    assert_eq!(e.group.name, "Live");
    let joined = messages(&mut host_rx, "t_remote_user_join", 1).await;
    assert_eq!(joined[0]["payload"]["userIDList"][0], "viewer");
    assert_eq!(joined[0]["type"], "TIMGroupTipElem");

    viewer
        .set_my_profile(Some("Vee".into()), Some("http://example.com/v.png".into()))
        .await
        .expect("profile");
    assert_eq!(viewer.get_my_profile().await.unwrap().nick, "Vee");

    let sent = viewer
        .send_text_message("live-1", "hello host", Priority::Normal)
        .await
        .expect("send text");
    assert!(!sent.id.is_empty());
    assert!(sent.sequence > 0);
    let got = messages(&mut host_rx, "t_text_message_received", 1).await;
    assert_eq!(got[0]["payload"]["text"], "hello host");
    assert_eq!(got[0]["from"], "viewer");
    assert_eq!(got[0]["nick"], "Vee", "messages carry the sender's nick");
    assert_eq!(got[0]["avatar"], "http://example.com/v.png");
    assert_eq!(got[0]["to"], "live-1");
    assert_eq!(got[0]["flow"], "in");
    assert_eq!(got[0]["ID"], sent.id.as_str());

    let like = CustomPayload {
        data: "like".into(),
        description: "1".into(),
        extension: String::new(),
    };
    host.send_custom_message("live-1", like, Priority::Low)
        .await
        .expect("custom");
    let got = messages(&mut viewer_rx, "t_custom_message_received", 1).await;
    assert_eq!(got[0]["payload"]["data"], "like");
    assert_eq!(got[0]["priority"], "Low");

    // Own messages are not echoed back as events.
    assert_no_event(
        &mut host_rx,
        "t_custom_message_received",
        std::time::Duration::from_millis(300),
    )
    .await;

    viewer.exit_room("live-1").await.expect("exit");
    let left = messages(&mut host_rx, "t_remote_user_leave", 1).await;
    assert_eq!(left[0]["payload"]["userIDList"][0], "viewer");
    assert_eq!(
        viewer
            .send_text_message("live-1", "gone", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        2100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_receives_history_and_live_but_cannot_send() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Live", "r2")).await.unwrap();
    host.enter_room("r2").await.unwrap();
    for i in 0..3 {
        host.send_text_message("r2", &format!("before {i}"), Priority::Normal)
            .await
            .unwrap();
    }

    let guest = server.engine();
    let mut rx = guest.events();
    let e = guest
        .enter_room("r2")
        .await
        .expect("guest enters without login");
    assert_eq!(e.status, EnterStatus::JoinedSuccess);
    let history = messages(&mut rx, "t_text_message_received", 3).await;
    let texts: Vec<_> = history
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["before 0", "before 1", "before 2"]);

    host.send_text_message("r2", "live!", Priority::Normal)
        .await
        .unwrap();
    let live = messages(&mut rx, "t_text_message_received", 1).await;
    assert_eq!(live[0]["payload"]["text"], "live!");

    assert_eq!(
        guest
            .send_text_message("r2", "hi", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        2999
    );
    assert_eq!(guest.get_my_profile().await.unwrap_err().code, 2999);

    // Entering a room that does not exist.
    assert_eq!(guest.enter_room("nope").await.unwrap_err().code, 10010);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_coming_back_sees_its_own_earlier_messages() {
    let server = Server::start();
    let host = server.login("host").await;
    host.create_room(room("Back", "r-back")).await.unwrap();
    host.enter_room("r-back").await.unwrap();
    host.send_text_message("r-back", "mine, earlier", Priority::Normal)
        .await
        .unwrap();
    let viewer = server.login("viewer").await;
    viewer.enter_room("r-back").await.unwrap();
    let mut rx = host.events();
    viewer
        .send_text_message("r-back", "theirs", Priority::Normal)
        .await
        .unwrap();
    // Own live messages are not echoed back to the sender.
    let live = messages(&mut rx, "t_text_message_received", 1).await;
    assert_eq!(live[0]["payload"]["text"], "theirs");
    host.shutdown().await;

    // The app restarted: a new engine, a first enter. The history holds both, in order, the
    // host's own marked as sent by it.
    let again = server.login("host").await;
    let mut rx = again.events();
    again.enter_room("r-back").await.unwrap();
    let history = messages(&mut rx, "t_text_message_received", 2).await;
    let seen: Vec<_> = history
        .iter()
        .map(|m| (m["payload"]["text"].clone(), m["flow"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("mine, earlier".into(), "out".into()),
            ("theirs".into(), "in".into())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_push_is_for_the_owner_and_reaches_viewers() {
    let server = Server::start();
    let host = server.login("host").await;
    let viewer = server.login("viewer").await;
    host.create_room(room("Live", "r3")).await.unwrap();
    host.enter_room("r3").await.unwrap();
    viewer.enter_room("r3").await.unwrap();
    let mut rx = viewer.events();

    assert_eq!(
        viewer.stop_push("r3", "fake").await.unwrap_err().code,
        10007
    );
    // Faking the stop-push custom message is refused too.
    let fake = CustomPayload {
        data: "push_stopped".into(),
        ..Default::default()
    };
    assert_eq!(
        viewer
            .send_custom_message("r3", fake, Priority::High)
            .await
            .unwrap_err()
            .code,
        10007
    );

    let m = host
        .stop_push("r3", "see you tomorrow")
        .await
        .expect("stop push");
    assert_eq!(m.priority, Priority::High);
    let ev = wait_for(&mut rx, "t_push_stopped").await;
    assert_eq!(ev["data"], "see you tomorrow");
    assert_eq!(ev["roomID"], "r3");

    // A late joiner sees the room as ended.
    let late = server.engine();
    let e = late.enter_room("r3").await.unwrap();
    assert!(e.group.push_stopped);
    assert_eq!(e.group.postscript, "see you tomorrow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_limits_are_enforced_with_clear_errors() {
    let server = Server::start();
    let host = server.login("host").await;
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(CreateRoomOptions, u32, &str)> = vec![
        (
            CreateRoomOptions {
                name: String::new(),
                ..room("", "a1")
            },
            10004,
            "name",
        ),
        (
            CreateRoomOptions {
                name: long(101),
                ..room("", "a2")
            },
            10004,
            "name",
        ),
        (
            CreateRoomOptions {
                notification: long(301),
                ..room("n", "a3")
            },
            10004,
            "notification",
        ),
        (
            CreateRoomOptions {
                introduction: long(241),
                ..room("n", "a4")
            },
            10004,
            "introduction",
        ),
        (
            CreateRoomOptions {
                avatar: long(101),
                ..room("n", "a5")
            },
            10004,
            "avatar",
        ),
        (room("n", "@TGS#mine"), 10015, "roomID"),
        (room("n", &long(49)), 10015, "roomID"),
        (room("n", "tab\there"), 10015, "roomID"),
    ];
    for (opts, code, field) in cases {
        let err = host.create_room(opts).await.expect_err("refused");
        assert_eq!(err.code, code, "{err}");
        assert!(err.message.contains(field), "message names {field}: {err}");
    }
    host.create_room(room("ok", "ok")).await.unwrap();
    host.enter_room("ok").await.unwrap();
    let err = host
        .send_text_message("ok", &long(8 * 1024 + 1), Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(err.code, 93000);
    let big = CustomPayload {
        data: long(5000),
        description: long(5000),
        extension: String::new(),
    };
    assert_eq!(
        host.send_custom_message("ok", big, Priority::Normal)
            .await
            .unwrap_err()
            .code,
        93000
    );
    assert_eq!(
        host.send_text_message("ok", "", Priority::Normal)
            .await
            .unwrap_err()
            .code,
        10004
    );
    let err = host
        .set_my_profile(Some(long(501)), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, 10004);
    // A bad userID never reaches a session.
    let im = server.engine();
    assert_eq!(im.login("bad user!", "sig").await.unwrap_err().code, 10004);
    // Exactly 8 KB is fine.
    host.send_text_message("ok", &long(8 * 1024), Priority::Normal)
        .await
        .expect("8 KB text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_in_several_rooms_gets_events_naming_each_room() {
    let server = Server::start();
    let host = server.login("host").await;
    let moderator = server.login("mod").await;
    for id in ["m1", "m2"] {
        host.create_room(room(id, id)).await.unwrap();
        host.enter_room(id).await.unwrap();
        moderator.enter_room(id).await.unwrap();
    }
    let mut rx = moderator.events();
    host.send_text_message("m1", "in one", Priority::Normal)
        .await
        .unwrap();
    host.send_text_message("m2", "in two", Priority::Normal)
        .await
        .unwrap();
    let a = wait_for(&mut rx, "t_text_message_received").await;
    let b = wait_for(&mut rx, "t_text_message_received").await;
    let mut rooms = vec![
        a["roomID"].as_str().unwrap().to_owned(),
        b["roomID"].as_str().unwrap().to_owned(),
    ];
    rooms.sort();
    assert_eq!(rooms, ["m1", "m2"]);
    let mut joined = moderator.joined_rooms();
    joined.sort();
    assert_eq!(joined, ["m1", "m2"]);
}
