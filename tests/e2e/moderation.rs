//! Moderation against the real server: the permission matrix (guest, member, admin, app
//! admin, owner × every action), each action's effect and event, deleted messages never
//! served again (late joiners, reconnects, restarts), the audit log and the CLI commands.

use std::time::Duration;

use liveroom_engine::proto::{
    code, ApiError, AuditEntry, CreateRoomOptions, Priority, Role, RoomSettings, WordsAction,
};
use liveroom_engine::{EditRoomOptions, Im};
use liveroom_tests::{json_out, Server, APP};
use serde_json::{json, Value};

use crate::{assert_no_event, messages, wait_for, RawClient};

async fn room_of(server: &Server, owner: &str, id: &str) -> Im {
    let im = server.login(owner).await;
    im.create_room(CreateRoomOptions {
        name: id.into(),
        room_id: Some(id.into()),
        ..Default::default()
    })
    .await
    .expect("create room");
    im.enter_room(id).await.expect("owner enters");
    im
}

async fn member(server: &Server, user: &str, room: &str) -> Im {
    let im = server.login(user).await;
    im.enter_room(room).await.expect("member enters");
    im
}

fn code_of<T>(r: &Result<T, ApiError>) -> u32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.code,
    }
}

/// Every moderation action but dismiss, by `im`, against member `vic`; (action, code).
async fn every_action(im: &Im, room: &str, tag: &str, message_id: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut note = |what: &str, c: u32| out.push((format!("{tag}: {what}"), c));
    note("mute", code_of(&im.mute_member(room, "vic", 60, "r").await));
    note("unmute", code_of(&im.unmute_member(room, "vic").await));
    note("mute_all on", code_of(&im.set_mute_all(room, true).await));
    note("mute_all off", code_of(&im.set_mute_all(room, false).await));
    note("kick", code_of(&im.kick_member(room, "vic", "r").await));
    note(
        "ban",
        code_of(&im.ban_member(room, "vic", Some(60), "r").await),
    );
    note("unban", code_of(&im.unban_member(room, "vic").await));
    note(
        "delete",
        code_of(&im.delete_message(room, message_id, "r").await),
    );
    note("slow_mode", code_of(&im.set_slow_mode(room, 0).await));
    let word = format!("w{tag}");
    note(
        "words add",
        code_of(&im.blocked_words(room, WordsAction::Add, Some(&word)).await),
    );
    note(
        "words remove",
        code_of(
            &im.blocked_words(room, WordsAction::Remove, Some(&word))
                .await,
        ),
    );
    note(
        "words list",
        code_of(&im.blocked_words(room, WordsAction::List, None).await),
    );
    let edit = EditRoomOptions {
        notification: Some(format!("by {tag}")),
        ..Default::default()
    };
    note("edit_room", code_of(&im.edit_room(room, edit).await));
    note("audit", code_of(&im.get_audit_log(room, None).await));
    note("get_member", code_of(&im.get_member(room, "vic").await));
    note("restrictions", code_of(&im.get_restrictions(room).await));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix() {
    let admin = format!("{APP}:boss");
    let server = Server::start_with(&["--admin", &admin]);
    let room = "pm";
    let own = room_of(&server, "own", room).await;
    own.set_admin(room, "adm", true)
        .await
        .expect("owner appoints");
    let mem = member(&server, "mem", room).await;
    let adm = member(&server, "adm", room).await;
    let boss = server.login("boss").await; // moderates without entering
    let _vic = member(&server, "vic", room).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let m = own
            .send_text_message(room, &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
        ids.push(m.id);
    }

    // Members: 10007 for everything, and nothing changed.
    for (what, c) in every_action(&mem, room, "mem", &ids[0]).await {
        assert_eq!(c, code::NO_PERMISSION, "{what}");
    }
    assert_eq!(
        code_of(&mem.set_admin(room, "vic", true).await),
        code::NO_PERMISSION
    );
    assert_eq!(code_of(&mem.dismiss_room(room).await), code::NO_PERMISSION);
    assert_eq!(
        mem.joined_rooms(),
        [room],
        "a refused dismiss leaves nothing"
    );

    // Guests: 10007 on the wire (the engine would stop them at 2999 before sending).
    let mut raw = RawClient::connect(&server).await;
    let hello = raw
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    assert_eq!(hello["t"], "reply", "{hello}");
    let guest_ops = [
        json!({"op": "mute_member", "room_id": room, "user_id": "vic", "seconds": 60}),
        json!({"op": "unmute_member", "room_id": room, "user_id": "vic"}),
        json!({"op": "mute_all", "room_id": room, "on": true}),
        json!({"op": "kick_member", "room_id": room, "user_id": "vic"}),
        json!({"op": "ban_member", "room_id": room, "user_id": "vic"}),
        json!({"op": "unban_member", "room_id": room, "user_id": "vic"}),
        json!({"op": "delete_message", "room_id": room, "message_id": ids[0]}),
        json!({"op": "set_slow_mode", "room_id": room, "seconds": 5}),
        json!({"op": "set_admin", "room_id": room, "user_id": "vic", "admin": true}),
        json!({"op": "blocked_words", "room_id": room, "action": "list"}),
        json!({"op": "edit_room", "room_id": room, "name": "x"}),
        json!({"op": "dismiss_room", "room_id": room}),
        json!({"op": "get_audit_log", "room_id": room}),
    ];
    for (i, mut op) in guest_ops.into_iter().enumerate() {
        op["id"] = json!(10 + i);
        let r = raw.request(op.clone()).await;
        assert_eq!(r["code"], code::NO_PERMISSION, "guest {op}: {r}");
    }

    // Admin, app admin, owner: allowed.
    for (im, tag, id) in [
        (&adm, "adm", &ids[1]),
        (&boss, "boss", &ids[2]),
        (&own, "own", &ids[3]),
    ] {
        for (what, c) in every_action(im, room, tag, id).await {
            assert_eq!(c, 0, "{what}");
        }
    }
    // Appointing admins: owner and app admin only.
    assert_eq!(
        code_of(&adm.set_admin(room, "vic", true).await),
        code::NO_PERMISSION
    );
    assert_eq!(code_of(&boss.set_admin(room, "vic", true).await), 0);
    assert_eq!(code_of(&own.set_admin(room, "vic", false).await), 0);
    // Nobody acts on the owner; admins do not act on their peers or on app admins.
    assert_eq!(
        code_of(&adm.mute_member(room, "own", 60, "").await),
        code::NO_PERMISSION
    );
    assert_eq!(
        code_of(&boss.kick_member(room, "own", "").await),
        code::NO_PERMISSION
    );
    assert_eq!(
        code_of(&adm.ban_member(room, "boss", None, "").await),
        code::NO_PERMISSION
    );
    assert_eq!(code_of(&boss.mute_member(room, "adm", 1, "").await), 0);
    // Dismiss: the owner only.
    assert_eq!(code_of(&adm.dismiss_room(room).await), code::NO_PERMISSION);
    assert_eq!(code_of(&boss.dismiss_room(room).await), code::NO_PERMISSION);
    // The audit log holds every allowed action (3 moderators × 13 + the extras).
    let log = own.get_audit_log(room, None).await.unwrap();
    // 12 audited actions each (listing words and reading the log are not) + 4 more.
    assert_eq!(log.len(), 3 * 12 + 4);
    assert!(log.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(code_of(&own.dismiss_room(room).await), 0);
    assert_eq!(code_of(&own.enter_room(room).await), code::ROOM_NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_mute_all_and_slow_mode() {
    let mut server = Server::start();
    let room = "mu";
    let own = room_of(&server, "own", room).await;
    let mem = member(&server, "mem", room).await;
    let mut rx = mem.events();

    let r = own.mute_member(room, "mem", 60, "flood").await.unwrap();
    let until = r.until.expect("until");
    let ev = wait_for(&mut rx, "t_muted").await;
    assert_eq!(
        ev["data"],
        json!({"roomID": room, "userID": "mem", "until": until})
    );
    let e = mem
        .send_text_message(room, "hi", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::MUTED);
    assert!(
        e.message.contains("until") && e.message.contains(&until.to_string()),
        "{}",
        e.message
    );
    own.unmute_member(room, "mem").await.unwrap();
    assert_eq!(wait_for(&mut rx, "t_muted").await["data"]["until"], 0);
    mem.send_text_message(room, "back", Priority::Normal)
        .await
        .unwrap();

    own.set_mute_all(room, true).await.unwrap();
    let ev = wait_for(&mut rx, "t_room_settings_updated").await;
    assert_eq!(
        ev["data"],
        json!({"roomID": room, "muteAll": true, "slowMode": 0})
    );
    let e = mem
        .send_text_message(room, "x", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::MUTED);
    own.send_text_message(room, "owner speaks", Priority::Normal)
        .await
        .unwrap();
    own.set_mute_all(room, false).await.unwrap();

    own.set_slow_mode(room, 30).await.unwrap();
    let off = wait_for(&mut rx, "t_room_settings_updated").await;
    assert_eq!(off["data"]["muteAll"], false);
    let ev = wait_for(&mut rx, "t_room_settings_updated").await;
    assert_eq!(ev["data"]["slowMode"], 30);
    mem.send_text_message(room, "one", Priority::Normal)
        .await
        .unwrap();
    let e = mem
        .send_text_message(room, "two", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::RATE_LIMITED);
    assert!(
        e.message.contains("wait") && e.message.contains(" s "),
        "{}",
        e.message
    );
    for t in ["a", "b"] {
        own.send_text_message(room, t, Priority::Normal)
            .await
            .expect("the owner is exempt from slow mode");
    }
    own.set_slow_mode(room, 0).await.unwrap();

    // Mutes and bans survive a restart.
    own.mute_member(room, "mem", 600, "").await.unwrap();
    own.ban_member(room, "bad", None, "").await.unwrap();
    // No old session may come back and kick the new ones.
    own.shutdown().await;
    mem.shutdown().await;
    server.kill();
    server.restart();
    let mem2 = member(&server, "mem", room).await;
    let e = mem2
        .send_text_message(room, "after restart", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::MUTED);
    let bad = server.login("bad").await;
    let e = bad.enter_room(room).await.unwrap_err();
    assert_eq!(e.code, code::NO_PERMISSION);
    assert!(e.message.contains("banned"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_ban() {
    let server = Server::start();
    let room = "kb";
    let own = room_of(&server, "own", room).await;
    let mem = member(&server, "mem", room).await;
    let bystander = member(&server, "bys", room).await;
    let mut rx = mem.events();
    let mut seen = bystander.events();

    own.kick_member(room, "mem", "calm down").await.unwrap();
    let ev = wait_for(&mut rx, "t_kicked_from_room").await;
    assert_eq!(ev["roomID"], room);
    assert_eq!(ev["data"]["reason"], "calm down");
    assert_eq!(ev["data"]["banned"], false);
    // The room is told who was removed (not why).
    let ev = wait_for(&mut seen, "t_member_removed").await;
    assert_eq!(
        ev["data"],
        json!({"roomID": room, "userID": "mem", "banned": false})
    );
    assert!(mem.joined_rooms().is_empty());
    assert_eq!(
        code_of(&mem.send_text_message(room, "x", Priority::Normal).await),
        code::NOT_IN_ROOM
    );
    // Kicked members no longer get the room's messages, and may come back.
    own.send_text_message(room, "after kick", Priority::Normal)
        .await
        .unwrap();
    assert_no_event(
        &mut rx,
        "t_text_message_received",
        Duration::from_millis(300),
    )
    .await;
    mem.enter_room(room).await.expect("a kick is not a ban");

    own.ban_member(room, "mem", None, "spam").await.unwrap();
    let ev = wait_for(&mut rx, "t_kicked_from_room").await;
    assert_eq!(ev["data"]["banned"], true);
    let ev = wait_for(&mut seen, "t_member_removed").await;
    assert_eq!(ev["data"]["banned"], true, "{ev}");
    assert_eq!(ev["data"]["until"], Value::Null);
    let e = mem.enter_room(room).await.unwrap_err();
    assert_eq!(e.code, code::NO_PERMISSION);
    assert!(
        e.message.contains("banned") && e.message.contains("for good"),
        "{}",
        e.message
    );
    own.unban_member(room, "mem").await.unwrap();
    mem.enter_room(room).await.expect("unbanned");

    // A timed ban ends by itself.
    own.ban_member(room, "mem", Some(2), "").await.unwrap();
    let ev = wait_for(&mut rx, "t_kicked_from_room").await;
    assert!(ev["data"]["until"].as_i64().is_some(), "{ev}");
    let e = mem.enter_room(room).await.unwrap_err();
    assert!(e.message.contains("until"), "{}", e.message);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    mem.enter_room(room).await.expect("the ban is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_messages_are_never_served_again() {
    let mut server = Server::start();
    let room = "del";
    let own = room_of(&server, "own", room).await;
    let viewer = member(&server, "viewer", room).await;
    let mut rx = viewer.events();
    let mut ids = Vec::new();
    for t in ["a", "b", "c"] {
        ids.push(
            own.send_text_message(room, t, Priority::Normal)
                .await
                .unwrap()
                .id,
        );
    }
    messages(&mut rx, "t_text_message_received", 3).await;
    own.delete_message(room, &ids[1], "rude").await.unwrap();
    let ev = wait_for(&mut rx, "t_message_deleted").await;
    assert_eq!(ev["data"], json!({"roomID": room, "messageID": ids[1]}));
    // Unknown IDs are refused.
    assert_eq!(
        code_of(&own.delete_message(room, &ids[1], "").await),
        code::INVALID_PARAMETER
    );

    let texts = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|m| m["payload"]["text"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // A client coming back after the deletion (enter with `since` past it) is told to drop
    // it; one whose `since` is before it simply never gets it.
    let mut back = RawClient::connect(&server).await;
    back.request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = back
        .request(json!({"id": 2, "op": "enter_room", "room_id": room, "since": 3}))
        .await;
    assert_eq!(r["data"]["deleted"], json!([ids[1]]), "{r}");
    let mut before = RawClient::connect(&server).await;
    before
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = before
        .request(json!({"id": 2, "op": "enter_room", "room_id": room, "since": 1}))
        .await;
    assert_eq!(r["data"]["deleted"], Value::Null, "{r}");
    assert_eq!(
        r["data"]["messages"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );

    // A late joiner gets the history without it.
    let late = server.login("late").await;
    let mut late_rx = late.events();
    late.enter_room(room).await.unwrap();
    let got = messages(&mut late_rx, "t_text_message_received", 2).await;
    assert_eq!(texts(&got), ["a", "c"]);
    own.shutdown().await;
    viewer.shutdown().await;
    late.shutdown().await;

    // After a crash: the store no longer has it either (late joiners, gap fill from 0).
    server.kill();
    server.restart();
    let fresh = server.login("fresh").await;
    let mut fresh_rx = fresh.events();
    fresh.enter_room(room).await.unwrap();
    let got = messages(&mut fresh_rx, "t_text_message_received", 2).await;
    assert_eq!(texts(&got), ["a", "c"]);
    let mut raw = RawClient::connect(&server).await;
    raw.request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = raw
        .request(json!({"id": 2, "op": "enter_room", "room_id": room, "since": 0}))
        .await;
    let served: Vec<Value> = r["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(texts(&served), ["a", "c"], "{r}");
    // The deletion itself is remembered across the crash: a client that saw the message
    // before it and comes back now is still told to drop it.
    let r = raw
        .request(json!({"id": 3, "op": "enter_room", "room_id": room, "since": 3}))
        .await;
    assert_eq!(r["data"]["deleted"], json!([ids[1]]), "{r}");

    // A reconnecting client that missed a message deleted meanwhile never gets it.
    server.kill();
    server.restart();
    let own3 = server.login("own").await;
    own3.enter_room(room).await.unwrap();
    let d = own3
        .send_text_message(room, "d", Priority::Normal)
        .await
        .unwrap();
    own3.send_text_message(room, "e", Priority::Normal)
        .await
        .unwrap();
    own3.delete_message(room, &d.id, "").await.unwrap();
    let got = messages(&mut fresh_rx, "t_text_message_received", 1).await;
    assert_eq!(texts(&got), ["e"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_words_profile_dismiss_and_audit() {
    let word = format!("{APP}:Spam");
    let server = Server::start_with(&["--blocked-word", &word]);
    let room = "bw";
    let own = room_of(&server, "own", room).await;
    let mem = member(&server, "mem", room).await;
    let mut rx = mem.events();

    let e = mem
        .send_text_message(room, "buy ＳＰＡＭ now", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::BLOCKED_WORD, "app-wide word, full-width");
    let words = own
        .blocked_words(room, WordsAction::Add, Some("bad word"))
        .await
        .unwrap();
    assert_eq!(words.room, ["bad word"]);
    assert_eq!(words.app, ["Spam"]);
    for text in ["BAD WORD", "a ｂａｄ\u{3000}ＷＯＲＤ!", "Bad Word"] {
        let e = mem
            .send_text_message(room, text, Priority::Normal)
            .await
            .unwrap_err();
        assert_eq!(e.code, code::BLOCKED_WORD, "{text}");
    }
    let e = mem
        .send_text_message(room, "bad words are fun", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::BLOCKED_WORD, "a substring matches");
    own.blocked_words(room, WordsAction::Remove, Some("bad word"))
        .await
        .unwrap();
    mem.send_text_message(room, "bad word", Priority::Normal)
        .await
        .expect("removed");

    let info = own
        .edit_room(
            room,
            EditRoomOptions {
                name: Some("New name".into()),
                introduction: Some("hello".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(info.name, "New name");
    let ev = wait_for(&mut rx, "t_room_profile_updated").await;
    assert_eq!(ev["data"]["name"], "New name");
    assert_eq!(ev["data"]["introduction"], "hello");
    let long = "n".repeat(101);
    let bad = own
        .edit_room(
            room,
            EditRoomOptions {
                name: Some(long),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(code_of(&bad), code::INVALID_PARAMETER);

    own.mute_member(room, "mem", 5, "cool off").await.unwrap();
    let log = own.get_audit_log(room, None).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["mute_member", "edit_room", "blocked_words", "blocked_words"]
    );
    assert_eq!(log[0].actor, "own");
    assert_eq!(log[0].target, "mem");
    assert_eq!(log[0].reason, "cool off");
    assert!(
        log[0].details.contains("\"seconds\":5"),
        "{}",
        log[0].details
    );
    assert!(log[0].time > 0);
    assert_eq!(
        code_of(&mem.get_audit_log(room, None).await),
        code::NO_PERMISSION
    );

    own.dismiss_room(room).await.unwrap();
    let ev = wait_for(&mut rx, "t_room_dismissed").await;
    assert_eq!(ev["data"], room);
    assert!(mem.joined_rooms().is_empty());
    assert!(own.joined_rooms().is_empty());
    assert_eq!(code_of(&mem.enter_room(room).await), code::ROOM_NOT_FOUND);
    assert_eq!(
        code_of(&own.set_mute_all(room, true).await),
        code::ROOM_NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_moderation_commands() {
    let server = Server::start();
    let room = "cm";
    json_out(&server.cli_as("own", &["create-room", "--name", "CLI", "--room-id", room]));
    let sent = json_out(&server.cli_as("mem", &["send", room, "hello"]));
    let id = sent["ID"].as_str().expect("message ID").to_owned();
    let run = |args: &[&str]| json_out(&server.cli_as("own", args));

    let r = run(&["mute", room, "mem", "--seconds", "60", "--reason", "spam"]);
    assert_eq!(r["target"], "mem");
    assert!(r["until"].as_i64().is_some());
    let out = server.cli_as("mem", &["send", room, "muted?"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error 10017:"));
    run(&["unmute", room, "mem"]);
    assert_eq!(run(&["mute-all", room, "on"])["muteAll"], true);
    assert_eq!(run(&["mute-all", room, "off"])["muteAll"], false);
    assert_eq!(run(&["slow-mode", room, "5"])["slowMode"], 5);
    run(&["set-admin", room, "adm", "on"]);
    let w = run(&["blocked-words", room, "add", "foo"]);
    assert_eq!(w["room"], json!(["foo"]));
    assert_eq!(
        run(&["blocked-words", room, "list"])["room"],
        json!(["foo"])
    );
    run(&["blocked-words", room, "remove", "foo"]);
    let info = run(&[
        "edit-room",
        room,
        "--name",
        "Renamed",
        "--notification",
        "hi",
    ]);
    assert_eq!(info["name"], "Renamed");
    assert_eq!(run(&["delete", room, &id])["target"], id.as_str());
    run(&["kick", room, "mem"]);
    assert!(run(&["ban", room, "mem", "--seconds", "60"])["until"].is_i64());
    let r = run(&["restrictions", room]);
    assert_eq!(r["banned"][0]["userID"], "mem", "{r}");
    assert_eq!(r["admins"], json!(["adm"]), "{r}");
    let m = run(&["member", room, "mem"]);
    assert_eq!(
        (&m["role"], &m["banned"]),
        (&json!("member"), &json!(true)),
        "{m}"
    );
    assert!(m["bannedUntil"].is_i64(), "{m}");
    run(&["unban", room, "mem"]);
    let out = server.cli_as("mem", &["kick", room, "own"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error 10007:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = run(&["audit", room]);
    assert_eq!(log.as_array().map(Vec::len), Some(13), "{log}");
    assert_eq!(log[0]["action"], "unban_member");
    assert_eq!(run(&["dismiss", room])["groupID"], room);
    let out = server.cli_as("own", &["audit", room]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error 10010:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_tells_role_settings_and_own_mute() {
    let admin = format!("{APP}:boss");
    let server = Server::start_with(&["--admin", &admin]);
    let room = "er";
    let own = room_of(&server, "own", room).await;
    let r = own.enter_room(room).await.unwrap();
    assert_eq!(r.role, Role::Owner);
    assert_eq!(r.settings, RoomSettings::default());
    own.set_slow_mode(room, 5).await.unwrap();
    own.set_mute_all(room, true).await.unwrap();

    let boss = server.login("boss").await;
    assert_eq!(boss.enter_room(room).await.unwrap().role, Role::AppAdmin);
    let guest = server.engine();
    let r = guest.enter_room(room).await.unwrap();
    assert_eq!(r.role, Role::Guest);
    assert_eq!(
        r.settings,
        RoomSettings {
            mute_all: true,
            slow_mode: 5
        },
        "settings as they are now"
    );

    // A member learns its mute on entering, and an appointment as it happens.
    let mem = server.login("mem").await;
    let r = mem.enter_room(room).await.unwrap();
    assert_eq!((r.role, r.muted_until), (Role::Member, None));
    let mut rx = mem.events();
    let mut seen = boss.events();
    own.set_admin(room, "mem", true).await.unwrap();
    let ev = wait_for(&mut rx, "t_admin_changed").await;
    assert_eq!(
        ev["data"],
        json!({"roomID": room, "userID": "mem", "admin": true})
    );
    wait_for(&mut seen, "t_admin_changed").await;
    let r = mem.enter_room(room).await.unwrap();
    assert_eq!(r.role, Role::Admin, "re-entering reports the new role");
    own.set_admin(room, "mem", false).await.unwrap();
    let ev = wait_for(&mut rx, "t_admin_changed").await;
    assert_eq!(ev["data"]["admin"], false);

    let until = own.mute_member(room, "mem", 600, "").await.unwrap().until;
    mem.exit_room(room).await.unwrap();
    let r = mem.enter_room(room).await.unwrap();
    assert_eq!(r.role, Role::Member);
    assert!(
        r.muted_until.is_some() && r.muted_until == until,
        "{r:?} vs {until:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_sees_where_a_member_stands() {
    let boss = format!("{APP}:boss");
    let server = Server::start_with(&["--admin", &boss]);
    let room = "standing";
    let own = room_of(&server, "own", room).await;
    let vic = member(&server, "vic", room).await;
    own.set_admin(room, "adm", true).await.unwrap();

    let s = own.get_member(room, "vic").await.unwrap();
    assert_eq!(
        (s.user_id.as_str(), s.role, s.in_room),
        ("vic", Role::Member, true)
    );
    assert_eq!(
        (s.muted_until, s.banned, s.banned_until),
        (None, false, None)
    );
    assert_eq!(own.get_member(room, "own").await.unwrap().role, Role::Owner);
    assert_eq!(
        own.get_member(room, "boss").await.unwrap().role,
        Role::AppAdmin
    );
    let adm = own.get_member(room, "adm").await.unwrap();
    assert_eq!((adm.role, adm.in_room), (Role::Admin, false));

    let muted = own.mute_member(room, "vic", 600, "spam").await.unwrap();
    let s = own.get_member(room, "vic").await.unwrap();
    assert_eq!(s.muted_until, muted.until);
    assert!(s.muted_until.is_some());
    let r = own.get_restrictions(room).await.unwrap();
    assert_eq!(r.admins, ["adm"]);
    assert_eq!(r.muted.len(), 1);
    assert_eq!(
        (r.muted[0].user_id.as_str(), r.muted[0].until),
        ("vic", muted.until)
    );
    assert!(r.banned.is_empty());
    own.unmute_member(room, "vic").await.unwrap();
    assert_eq!(own.get_member(room, "vic").await.unwrap().muted_until, None);

    let banned = own.ban_member(room, "vic", Some(3600), "").await.unwrap();
    let s = own.get_member(room, "vic").await.unwrap();
    assert_eq!(
        (s.banned, s.banned_until, s.in_room),
        (true, banned.until, false)
    );
    own.ban_member(room, "vic", None, "").await.unwrap();
    let s = own.get_member(room, "vic").await.unwrap();
    assert_eq!((s.banned, s.banned_until), (true, None), "for good");
    own.ban_member(room, "zed", Some(60), "").await.unwrap();
    let r = own.get_restrictions(room).await.unwrap();
    let banned: Vec<(&str, bool)> = r
        .banned
        .iter()
        .map(|b| (b.user_id.as_str(), b.until.is_some()))
        .collect();
    assert_eq!(
        banned,
        [("vic", false), ("zed", true)],
        "sorted; vic for good"
    );

    // Members may not look; bad input is refused.
    let mem = member(&server, "mem", room).await;
    assert_eq!(
        code_of(&mem.get_member(room, "own").await),
        code::NO_PERMISSION
    );
    assert_eq!(
        code_of(&own.get_member(room, "").await),
        code::INVALID_PARAMETER
    );
    drop(vic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_do_not_get_past_blocked_words() {
    let server = Server::start();
    let room = "zw";
    let own = room_of(&server, "own", room).await;
    let mem = member(&server, "mem", room).await;
    own.blocked_words(room, WordsAction::Add, Some("spam"))
        .await
        .unwrap();
    for text in [
        "sp\u{200B}am",                 // zero-width space
        "buy sp\u{00AD}am",             // soft hyphen
        "s\u{200C}p\u{200D}a\u{2060}m", // zero-width non-joiner, joiner, word joiner
        "\u{FEFF}SP\u{FE0F}AM",         // zero-width no-break space, variation selector
        "ｓｐ\u{200B}ａｍ",             // with full-width forms
    ] {
        let e = mem
            .send_text_message(room, text, Priority::Normal)
            .await
            .unwrap_err();
        assert_eq!(e.code, code::BLOCKED_WORD, "{text:?}");
    }
    // A word written with an invisible character inside blocks the plain word too.
    own.blocked_words(room, WordsAction::Add, Some("ha\u{200B}m"))
        .await
        .unwrap();
    let e = mem
        .send_text_message(room, "ham", Priority::Normal)
        .await
        .unwrap_err();
    assert_eq!(e.code, code::BLOCKED_WORD);
    mem.send_text_message(room, "s p a m is fine", Priority::Normal)
        .await
        .expect("visible spaces still separate");
}

/// A raw, logged-in connection for `user`.
async fn raw_login(server: &Server, user: &str) -> RawClient {
    let mut raw = RawClient::connect(server).await;
    let r = raw
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    let r = raw
        .request(
            json!({"id": 2, "op": "login", "user_id": user, "user_sig": liveroom_tests::sig(user)}),
        )
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    raw
}

/// The room's settings as a (guest) entering client is told them.
async fn entered_settings(server: &Server, room: &str) -> Value {
    let mut raw = RawClient::connect(server).await;
    raw.request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    let r = raw
        .request(json!({"id": 2, "op": "enter_room", "room_id": room}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    r["data"]["settings"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_moderators_at_once_never_lose_each_others_change() {
    const ROUNDS: u64 = 200;
    let boss = format!("{APP}:boss");
    let mut server = Server::start_with(&["--admin", &boss]);
    let room = "race";
    let mut a = raw_login(&server, "own").await;
    let r = a
        .request(json!({"id": 3, "op": "create_room", "name": "race", "room_id": room}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    let mut b = raw_login(&server, "boss").await;
    let mut watcher = RawClient::connect(&server).await;
    watcher
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;

    // Each round the owner sets mute-all and the app administrator slow mode, at the same
    // time; the room must then hold both changes.
    let mut acked = (0, 0);
    let mut lost = Vec::new();
    for round in 1..=ROUNDS {
        let on = round % 2 == 1;
        let (ra, rb) = tokio::join!(
            a.request(json!({"id": 10 + round, "op": "mute_all", "room_id": room, "on": on})),
            b.request(
                json!({"id": 10 + round, "op": "set_slow_mode", "room_id": room, "seconds": round})
            ),
        );
        assert_eq!(ra["t"], "reply", "{ra}");
        assert_eq!(rb["t"], "reply", "{rb}");
        acked.0 += 1;
        acked.1 += 1;
        let r = watcher
            .request(json!({"id": 10 + round, "op": "enter_room", "room_id": room}))
            .await;
        let now = &r["data"]["settings"];
        if *now != json!({"muteAll": on, "slowMode": round}) {
            lost.push(format!("round {round}: {now}"));
        }
    }
    assert!(lost.is_empty(), "updates lost: {lost:?}");
    let last = json!({"muteAll": ROUNDS % 2 == 1, "slowMode": ROUNDS});
    assert_eq!(entered_settings(&server, room).await, last, "in memory");

    // One audit row per acknowledged action, the newest matching what is in force.
    let r = a
        .request(json!({"id": 1000, "op": "get_audit_log", "room_id": room}))
        .await;
    let log: Vec<AuditEntry> = serde_json::from_value(r["data"].clone()).expect("audit log");
    let count = |action: &str| log.iter().filter(|e| e.action == action).count();
    assert_eq!(
        (count("mute_all"), count("set_slow_mode")),
        acked,
        "audit rows"
    );
    assert_eq!(log.len(), acked.0 + acked.1, "nothing else was audited");
    let newest: Value = serde_json::from_str(&log[0].details).unwrap();
    assert_eq!(newest, last, "the newest audit row: {}", log[0].details);

    // The store holds the same after a crash.
    drop((a, b, watcher));
    server.kill();
    server.restart();
    assert_eq!(
        entered_settings(&server, room).await,
        last,
        "after a restart"
    );
}
