//! The REST API's rooms, messages and moderation against the real server, in Tencent's raw
//! URL form: every command's success, a bad field, a caller who is not an app
//! administrator and a room that does not exist; the effects as real engines in the room see
//! them; and the audit log naming the administrator as the actor.

use std::time::Duration;

use liveroom_engine::proto::{code, ApiError, AuditEntry, Priority};
use liveroom_engine::Im;
use liveroom_tests::Server;
use serde_json::{json, Value};

use crate::rest_support::{assert_fail, assert_ok, call, call_as, server, ADMIN};
use crate::{assert_no_event, wait_for};

/// Tencent's code for a caller who is not an app administrator (group service).
const NEEDS_ADMIN: u32 = 60010;
/// Tencent's code for more accounts than a command takes.
const TOO_MANY_ACCOUNTS: u32 = 10005;
/// Tencent's code for a call over its command's rate.
const FREQUENCY: u32 = 60007;
/// What the commands limited to one call a second need between two calls.
const ONE_SECOND: Duration = Duration::from_millis(1100);

/// `group_open_http_svc/COMMAND` as the administrator.
async fn group(server: &Server, command: &str, body: Value) -> Value {
    call(server, &format!("group_open_http_svc/{command}"), body).await
}

/// The same call by `viewer`, who is no administrator: 60010 whatever the body.
async fn assert_needs_admin(server: &Server, command: &str, body: Value) {
    let path = format!("group_open_http_svc/{command}");
    let refused = call_as(server, "viewer", &path, &body.to_string()).await;
    assert_fail(&refused, NEEDS_ADMIN);
}

/// Room `id` owned by `host`, made through the API.
async fn room(server: &Server, id: &str) {
    let created = group(
        server,
        "create_group",
        json!({"Type": "AVChatRoom", "GroupId": id, "Name": format!("Room {id}"), "Owner_Account": "host"}),
    )
    .await;
    assert_ok(&created);
}

/// An engine logged in as `user`, in room `id`.
async fn member(server: &Server, user: &str, id: &str) -> Im {
    let im = server.login(user).await;
    im.enter_room(id).await.expect("enters the room");
    im
}

fn code_of<T>(r: &Result<T, ApiError>) -> u32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.code,
    }
}

/// A text message body.
fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

/// The room's audit log, read by the app administrator through an engine (the WebSocket
/// `get_audit_log`), newest first.
async fn audit(server: &Server, id: &str) -> Vec<AuditEntry> {
    let admin = server.login(ADMIN).await;
    admin.get_audit_log(id, None).await.expect("the audit log")
}

/// The audit log has `action` on `target` by the administrator.
fn assert_audited(log: &[AuditEntry], action: &str, target: &str) {
    assert!(
        log.iter()
            .any(|e| e.action == action && e.target == target && e.actor == ADMIN),
        "no {action} on '{target}' by {ADMIN} in {log:#?}"
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A small PNG picture.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_group_msg_sends_an_uploaded_picture_by_its_uuid() {
    let server = server();
    room(&server, "pics").await;
    let host = member(&server, "host", "pics").await;
    let viewer = member(&server, "viewer", "pics").await;
    let mut rx = viewer.events();
    let uploaded = host
        .send_image_message(
            "pics",
            liveroom_engine::ImageSource::Bytes(png()),
            Priority::Normal,
            None,
        )
        .await
        .expect("uploaded and sent");
    let liveroom_engine::proto::Body::Image(picture) = &uploaded.body else {
        panic!("not a picture: {uploaded:?}");
    };
    crate::messages(&mut rx, "t_image_message_received", 1).await;

    // The backend names the picture by its UUID: the viewers get the picture with its sizes
    // (looked up in the media folder off the async threads).
    let sent = group(
        &server,
        "send_group_msg",
        json!({"GroupId": "pics", "MsgBody": [{"MsgType": "TIMImageElem", "MsgContent": {"UUID": picture.uuid}}]}),
    )
    .await;
    assert_ok(&sent);
    let got = crate::messages(&mut rx, "t_image_message_received", 1).await;
    assert_eq!(got[0]["payload"]["uuid"], picture.uuid.as_str(), "{got:?}");
    assert_eq!(
        got[0]["payload"]["imageInfoArray"].as_array().map(Vec::len),
        Some(3),
        "{got:?}"
    );
    assert_eq!(got[0]["sequence"], sent["MsgSeq"]);
    // An unknown UUID is refused, and nothing is sent.
    let unknown = group(
        &server,
        "send_group_msg",
        json!({"GroupId": "pics", "MsgBody": [{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "0123456789abcdef"}}]}),
    )
    .await;
    assert_fail(&unknown, 10004);
    assert_no_event(
        &mut rx,
        "t_image_message_received",
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test]
async fn get_group_info_answers_each_room_with_its_own_code() {
    let server = server();
    room(&server, "live-1").await;
    let host = member(&server, "host", "live-1").await;
    let _viewer = member(&server, "viewer", "live-1").await;
    let sent = group(
        &server,
        "send_group_msg",
        json!({"GroupId": "live-1", "MsgBody": text("hello")}),
    )
    .await;
    assert_ok(&sent);
    let seq = sent["MsgSeq"].as_u64().expect("MsgSeq");

    let info = group(
        &server,
        "get_group_info",
        json!({"GroupIdList": ["live-1", "nowhere"], "ResponseFilter": {"GroupBaseInfoFilter": ["Name"]}}),
    )
    .await;
    assert_ok(&info);
    let rooms = info["GroupInfo"].as_array().expect("GroupInfo");
    assert_eq!(rooms.len(), 2, "{info}");
    let r = &rooms[0];
    assert_eq!(r["GroupId"], "live-1");
    assert_eq!(r["ErrorCode"], 0);
    assert_eq!(r["Type"], "AVChatRoom");
    assert_eq!(r["Name"], "Room live-1");
    assert_eq!(r["Owner_Account"], "host");
    assert_eq!(r["Appid"], liveroom_tests::APP);
    assert_eq!(r["NextMsgSeq"], seq + 1);
    assert_eq!(r["LastMsgTime"], sent["MsgTime"]);
    assert_eq!(r["MemberNum"], 2, "the online count: {r}");
    assert_eq!(r["MuteAllMember"], "Off");
    assert!(r["CreateTime"].as_i64().expect("CreateTime") > 1_700_000_000);
    let gone = &rooms[1];
    assert_eq!(gone["GroupId"], "nowhere");
    assert_eq!(
        gone["ErrorCode"], 10010,
        "a missing room has its own code: {gone}"
    );
    assert!(gone.get("Name").is_none());

    let too_many: Vec<String> = (0..51).map(|i| format!("r{i}")).collect();
    let refused = group(&server, "get_group_info", json!({"GroupIdList": too_many})).await;
    assert_fail(&refused, 10004);
    assert_fail(&group(&server, "get_group_info", json!({})).await, 10004);
    assert_needs_admin(
        &server,
        "get_group_info",
        json!({"GroupIdList": ["live-1"]}),
    )
    .await;
    drop(host);
}

#[tokio::test]
async fn modify_group_base_info_edits_the_room_and_mutes_everyone() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let mut events = viewer.events();

    let modified = group(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "live-1", "Name": "New name", "Notification": "be kind",
               "Introduction": "intro", "FaceUrl": "https://x/f.png",
               "MaxMemberNum": 10, "ApplyJoinOption": "NeedPermission", "MuteAllMember": "On"}),
    )
    .await;
    assert_ok(&modified);
    let profile = wait_for(&mut events, "t_room_profile_updated").await;
    assert_eq!(profile["data"]["name"], "New name");
    assert_eq!(profile["data"]["notification"], "be kind");
    assert_eq!(profile["data"]["avatar"], "https://x/f.png");
    let settings = wait_for(&mut events, "t_room_settings_updated").await;
    assert_eq!(settings["data"]["muteAll"], true);
    let refused = viewer
        .send_text_message("live-1", "hi", Priority::Normal)
        .await;
    assert_eq!(code_of(&refused), code::MUTED, "everyone is muted");
    let info = group(
        &server,
        "get_group_info",
        json!({"GroupIdList": ["live-1"]}),
    )
    .await;
    assert_eq!(info["GroupInfo"][0]["MuteAllMember"], "On");
    assert_eq!(info["GroupInfo"][0]["Introduction"], "intro");

    // The older name of the field.
    let off = group(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "live-1", "ShutUpAllMember": "Off"}),
    )
    .await;
    assert_ok(&off);
    wait_for(&mut events, "t_room_settings_updated").await;
    viewer
        .send_text_message("live-1", "hi", Priority::Normal)
        .await
        .expect("may speak again");

    let bad = group(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "live-1", "Name": "kept?", "MuteAllMember": "Yes"}),
    )
    .await;
    assert_fail(&bad, 10004);
    let long = group(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "live-1", "Notification": "x".repeat(301)}),
    )
    .await;
    assert_fail(&long, 10004);
    let info = group(
        &server,
        "get_group_info",
        json!({"GroupIdList": ["live-1"]}),
    )
    .await;
    assert_eq!(
        info["GroupInfo"][0]["Name"], "New name",
        "a refused call changes nothing"
    );
    let gone = group(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "nowhere", "Name": "x"}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "modify_group_base_info",
        json!({"GroupId": "live-1", "Name": "x"}),
    )
    .await;

    let log = audit(&server, "live-1").await;
    assert_audited(&log, "edit_room", "");
    assert_audited(&log, "mute_all", "");
}

#[tokio::test]
async fn the_apps_rooms_are_listed_page_by_page_at_one_call_a_second() {
    let server = server();
    for id in ["a", "b", "c"] {
        room(&server, id).await;
    }
    let first = group(&server, "get_appid_group_list", json!({"Limit": 2})).await;
    assert_ok(&first);
    assert_eq!(first["TotalCount"], 3);
    assert_eq!(
        first["GroupIdList"],
        json!([{"GroupId": "a"}, {"GroupId": "b"}])
    );
    let next = first["Next"].as_u64().expect("Next");
    assert_ne!(next, 0, "more to come");
    let again = group(&server, "get_appid_group_list", json!({"Next": next})).await;
    assert_fail(&again, FREQUENCY);

    tokio::time::sleep(ONE_SECOND).await;
    let last = group(
        &server,
        "get_appid_group_list",
        json!({"Limit": 2, "Next": next, "GroupType": "AVChatRoom"}),
    )
    .await;
    assert_ok(&last);
    assert_eq!(last["GroupIdList"], json!([{"GroupId": "c"}]));
    assert_eq!(last["Next"], 0, "the last page");

    tokio::time::sleep(ONE_SECOND).await;
    let public = group(
        &server,
        "get_appid_group_list",
        json!({"GroupType": "Public"}),
    )
    .await;
    assert_ok(&public);
    assert_eq!(
        (public["TotalCount"].clone(), public["GroupIdList"].clone()),
        (json!(0), json!([]))
    );

    tokio::time::sleep(ONE_SECOND).await;
    let bad = group(&server, "get_appid_group_list", json!({"Limit": 20000})).await;
    assert_fail(&bad, 10004);
    assert_needs_admin(&server, "get_appid_group_list", json!({})).await;
}

#[tokio::test]
async fn get_online_member_num_counts_who_is_in() {
    let server = server();
    room(&server, "live-1").await;
    let empty = group(
        &server,
        "get_online_member_num",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_ok(&empty);
    assert_eq!(empty["OnlineMemberNum"], 0);
    let _a = member(&server, "a", "live-1").await;
    let _b = member(&server, "b", "live-1").await;
    let two = group(
        &server,
        "get_online_member_num",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_eq!(two["OnlineMemberNum"], 2, "{two}");
    assert_fail(
        &group(&server, "get_online_member_num", json!({})).await,
        10004,
    );
    let gone = group(
        &server,
        "get_online_member_num",
        json!({"GroupId": "nowhere"}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "get_online_member_num",
        json!({"GroupId": "live-1"}),
    )
    .await;
}

#[tokio::test]
async fn change_group_owner_hands_the_room_over() {
    let server = server();
    room(&server, "live-1").await;
    let host = member(&server, "host", "live-1").await;
    let heir = member(&server, "heir", "live-1").await;
    let mut events = heir.events();
    let changed = group(
        &server,
        "change_group_owner",
        json!({"GroupId": "live-1", "NewOwner_Account": "heir"}),
    )
    .await;
    assert_ok(&changed);
    let profile = wait_for(&mut events, "t_room_profile_updated").await;
    assert_eq!(profile["data"]["ownerID"], "heir");
    let info = group(
        &server,
        "get_group_info",
        json!({"GroupIdList": ["live-1"]}),
    )
    .await;
    assert_eq!(info["GroupInfo"][0]["Owner_Account"], "heir");

    // The old owner is a member now; the new one has the owner's rights.
    assert_eq!(
        code_of(&host.dismiss_room("live-1").await),
        code::NO_PERMISSION
    );
    let log = audit(&server, "live-1").await;
    assert_audited(&log, "change_owner", "heir");

    let bad = group(
        &server,
        "change_group_owner",
        json!({"GroupId": "live-1", "NewOwner_Account": "not a user id"}),
    )
    .await;
    assert_fail(&bad, 10004);
    let gone = group(
        &server,
        "change_group_owner",
        json!({"GroupId": "nowhere", "NewOwner_Account": "heir"}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "change_group_owner",
        json!({"GroupId": "live-1", "NewOwner_Account": "viewer"}),
    )
    .await;
    heir.dismiss_room("live-1")
        .await
        .expect("the new owner dismisses the room");
}

#[tokio::test]
async fn delete_group_member_is_liverooms_kick() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let other = member(&server, "other", "live-1").await;
    let mut viewer_events = viewer.events();
    let mut room_events = other.events();
    let kicked = group(
        &server,
        "delete_group_member",
        json!({"GroupId": "live-1", "MemberToDel_Account": ["viewer"], "Silence": 1, "Reason": "off topic"}),
    )
    .await;
    assert_ok(&kicked);
    let ev = wait_for(&mut viewer_events, "t_kicked_from_room").await;
    assert_eq!(ev["data"]["reason"], "off topic");
    assert_eq!(ev["data"]["banned"], false);
    let removed = wait_for(&mut room_events, "t_member_removed").await;
    assert_eq!(removed["data"]["userID"], "viewer");
    viewer
        .enter_room("live-1")
        .await
        .expect("a kicked member may come back");
    assert_audited(&audit(&server, "live-1").await, "kick_member", "viewer");

    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let refused = group(
        &server,
        "delete_group_member",
        json!({"GroupId": "live-1", "MemberToDel_Account": many}),
    )
    .await;
    assert_fail(&refused, TOO_MANY_ACCOUNTS);
    let empty = group(
        &server,
        "delete_group_member",
        json!({"GroupId": "live-1", "MemberToDel_Account": []}),
    )
    .await;
    assert_fail(&empty, 10004);
    let owner = group(
        &server,
        "delete_group_member",
        json!({"GroupId": "live-1", "MemberToDel_Account": ["host"]}),
    )
    .await;
    assert_fail(&owner, code::NO_PERMISSION);
    let gone = group(
        &server,
        "delete_group_member",
        json!({"GroupId": "nowhere", "MemberToDel_Account": ["viewer"]}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "delete_group_member",
        json!({"GroupId": "live-1", "MemberToDel_Account": ["other"]}),
    )
    .await;
}

#[tokio::test]
async fn a_system_notification_reaches_everyone_in_the_room() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let mut events = viewer.events();
    let sent = group(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "live-1", "Content": "the show starts at 8"}),
    )
    .await;
    assert_ok(&sent);
    let ev = wait_for(&mut events, "t_group_system_notice").await;
    let notice = &ev["data"][0];
    assert_eq!(notice["type"], "TIMGroupSystemNoticeElem");
    assert_eq!(notice["payload"]["operationType"], 255);
    assert_eq!(
        notice["payload"]["userDefinedField"],
        "the show starts at 8"
    );
    assert_eq!(notice["payload"]["operatorID"], ADMIN);
    assert_eq!(notice["from"], "@TIM#SYSTEM");
    assert_eq!(notice["priority"], "High");
    assert!(notice["sequence"].as_u64().expect("sequence") > 0);

    // In the room's history like any message: a late joiner sees it too.
    let late = server.login("late").await;
    let mut late_events = late.events();
    late.enter_room("live-1").await.expect("enter");
    let ev = wait_for(&mut late_events, "t_group_system_notice").await;
    assert_eq!(
        ev["data"][0]["payload"]["userDefinedField"],
        "the show starts at 8"
    );

    let to_some = group(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "live-1", "Content": "x", "ToMembers_Account": ["viewer"]}),
    )
    .await;
    assert_fail(&to_some, 10004);
    let empty = group(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "live-1", "Content": ""}),
    )
    .await;
    assert_fail(&empty, 10004);
    let long = group(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "live-1", "Content": "x".repeat(9000)}),
    )
    .await;
    assert_fail(&long, 80002);
    let gone = group(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "nowhere", "Content": "x"}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "send_group_system_notification",
        json!({"GroupId": "live-1", "Content": "x"}),
    )
    .await;
    assert_no_event(
        &mut events,
        "t_group_system_notice",
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test]
async fn group_msg_recall_deletes_by_sequence() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let mut events = viewer.events();
    let mut seqs = Vec::new();
    for t in ["oops", "fine"] {
        let sent = group(
            &server,
            "send_group_msg",
            json!({"GroupId": "live-1", "From_Account": "host", "MsgBody": text(t)}),
        )
        .await;
        assert_ok(&sent);
        seqs.push(sent["MsgSeq"].as_u64().expect("MsgSeq"));
    }
    let first = wait_for(&mut events, "t_text_message_received").await;
    let oops = first["data"][0].clone();
    assert_eq!(oops["payload"]["text"], "oops");

    let recalled = group(
        &server,
        "group_msg_recall",
        json!({"GroupId": "live-1", "MsgSeqList": [{"MsgSeq": seqs[0]}, {"MsgSeq": 999}], "Reason": "typo"}),
    )
    .await;
    assert_ok(&recalled);
    assert_eq!(
        recalled["RecallRetList"],
        json!([{"MsgSeq": seqs[0], "RetCode": 0}, {"MsgSeq": 999, "RetCode": 10030}])
    );
    let deleted = wait_for(&mut events, "t_message_deleted").await;
    assert_eq!(deleted["data"]["messageID"], oops["ID"]);

    // Gone from the history: a late joiner gets only the other one.
    let late = server.login("late").await;
    let mut late_events = late.events();
    late.enter_room("live-1").await.expect("enter");
    let history = wait_for(&mut late_events, "t_text_message_received").await;
    let texts: Vec<&Value> = history["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["payload"]["text"])
        .collect();
    assert_eq!(texts, [&json!("fine")]);
    let again = group(
        &server,
        "group_msg_recall",
        json!({"GroupId": "live-1", "MsgSeqList": [{"MsgSeq": seqs[0]}]}),
    )
    .await;
    assert_eq!(again["RecallRetList"][0]["RetCode"], 10030, "already gone");
    let log = audit(&server, "live-1").await;
    assert_audited(&log, "delete_message", oops["ID"].as_str().expect("ID"));

    let eleven: Vec<Value> = (1..=11).map(|s| json!({"MsgSeq": s})).collect();
    let refused = group(
        &server,
        "group_msg_recall",
        json!({"GroupId": "live-1", "MsgSeqList": eleven}),
    )
    .await;
    assert_fail(&refused, 10004);
    let gone = group(
        &server,
        "group_msg_recall",
        json!({"GroupId": "nowhere", "MsgSeqList": [{"MsgSeq": 1}]}),
    )
    .await;
    assert_fail(&gone, 10010);
    assert_needs_admin(
        &server,
        "group_msg_recall",
        json!({"GroupId": "live-1", "MsgSeqList": [{"MsgSeq": seqs[1]}]}),
    )
    .await;
}

#[tokio::test]
async fn a_broadcast_reaches_every_room_of_the_app() {
    let server = server();
    for id in ["one", "two", "empty"] {
        room(&server, id).await;
    }
    let a = member(&server, "a", "one").await;
    let b = member(&server, "b", "two").await;
    let (mut a_events, mut b_events) = (a.events(), b.events());

    let bad = call(
        &server,
        "group_open_http_svc/send_broadcast_msg",
        json!({"Random": 1, "MsgBody": []}),
    )
    .await;
    assert_fail(&bad, 10004);
    tokio::time::sleep(ONE_SECOND).await;

    let body = json!({"From_Account": "host", "Random": 77, "MsgBody": text("we are live in 5")});
    let sent = call(
        &server,
        "group_open_http_svc/send_broadcast_msg",
        body.clone(),
    )
    .await;
    assert_ok(&sent);
    let seq = sent["MsgSeq"].as_u64().expect("MsgSeq");
    assert!(seq > 0);
    for events in [&mut a_events, &mut b_events] {
        let got = wait_for(events, "t_text_message_received").await;
        assert_eq!(got["data"][0]["payload"]["text"], "we are live in 5");
        assert_eq!(got["data"][0]["from"], "host");
        assert_eq!(got["data"][0]["priority"], "High");
    }
    let empty = group(&server, "get_group_info", json!({"GroupIdList": ["empty"]})).await;
    assert_eq!(
        empty["GroupInfo"][0]["NextMsgSeq"], 2,
        "a room nobody is in gets it too"
    );

    let soon = call(
        &server,
        "group_open_http_svc/send_broadcast_msg",
        json!({"Random": 78, "MsgBody": text("again")}),
    )
    .await;
    assert_fail(&soon, FREQUENCY);
    tokio::time::sleep(ONE_SECOND).await;
    let repeat = call(&server, "group_open_http_svc/send_broadcast_msg", body).await;
    assert_ok(&repeat);
    assert_eq!(
        repeat["MsgSeq"], seq,
        "the same Random: the first broadcast's answer"
    );
    assert_no_event(
        &mut a_events,
        "t_text_message_received",
        Duration::from_millis(500),
    )
    .await;
    let not_admin = call_as(
        &server,
        "viewer",
        "group_open_http_svc/send_broadcast_msg",
        &json!({"Random": 79, "MsgBody": text("x")}).to_string(),
    )
    .await;
    assert_fail(&not_admin, NEEDS_ADMIN);
}

#[tokio::test]
async fn forbid_send_msg_mutes_for_a_while_and_zero_lifts() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let other = member(&server, "other", "live-1").await;
    let mut events = other.events();
    let muted = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": ["viewer"], "MuteTime": 60}),
    )
    .await;
    assert_ok(&muted);
    let ev = wait_for(&mut events, "t_muted").await;
    assert_eq!(ev["data"]["userID"], "viewer");
    let refused = viewer
        .send_text_message("live-1", "hi", Priority::Normal)
        .await;
    assert_eq!(code_of(&refused), code::MUTED);
    let list = group(
        &server,
        "get_group_muted_account",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_ok(&list);
    assert_eq!(list["GroupId"], "live-1");
    let until = list["MutedAccountList"][0]["MutedUntil"]
        .as_i64()
        .expect("MutedUntil");
    assert_eq!(list["MutedAccountList"][0]["Member_Account"], "viewer");
    assert!((now() + 55..=now() + 65).contains(&until), "{until}");
    let legacy = group(
        &server,
        "get_group_shutted_uin",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_ok(&legacy);
    assert_eq!(
        legacy["ShuttedUinList"],
        json!([{"Member_Account": "viewer", "ShuttedUntil": until}])
    );

    // The older field name, and Tencent's "for good": Liveroom's longest mute, 14 days.
    let for_good = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": ["other"], "ShutUpTime": 4_294_967_295u32}),
    )
    .await;
    assert_ok(&for_good);
    let list = group(
        &server,
        "get_group_muted_account",
        json!({"GroupId": "live-1"}),
    )
    .await;
    let other_until = list["MutedAccountList"]
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["Member_Account"] == "other")
        .and_then(|m| m["MutedUntil"].as_i64())
        .expect("other is muted");
    let fortnight = now() + 14 * 86_400;
    assert!(
        (fortnight - 5..=fortnight + 5).contains(&other_until),
        "{other_until}"
    );

    let lifted = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": ["viewer", "other"], "MuteTime": 0}),
    )
    .await;
    assert_ok(&lifted);
    viewer
        .send_text_message("live-1", "thanks", Priority::Normal)
        .await
        .expect("may speak again");
    let list = group(
        &server,
        "get_group_muted_account",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_eq!(list["MutedAccountList"], json!([]));
    let log = audit(&server, "live-1").await;
    assert_audited(&log, "mute_member", "viewer");
    assert_audited(&log, "unmute_member", "viewer");

    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let refused = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": many, "MuteTime": 60}),
    )
    .await;
    assert_fail(&refused, TOO_MANY_ACCOUNTS);
    let no_time = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": ["viewer"]}),
    )
    .await;
    assert_fail(&no_time, 10004);
    let owner = group(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "live-1", "Members_Account": ["host"], "MuteTime": 60}),
    )
    .await;
    assert_fail(&owner, code::NO_PERMISSION);
    for command in [
        "forbid_send_msg",
        "get_group_muted_account",
        "get_group_shutted_uin",
    ] {
        let body = json!({"GroupId": "nowhere", "Members_Account": ["viewer"], "MuteTime": 60});
        assert_fail(&group(&server, command, body.clone()).await, 10010);
        assert_needs_admin(&server, command, body).await;
    }
}

#[tokio::test]
async fn ban_group_member_removes_and_keeps_out_until_unbanned() {
    let server = server();
    room(&server, "live-1").await;
    let viewer = member(&server, "viewer", "live-1").await;
    let mut events = viewer.events();
    let banned = group(
        &server,
        "ban_group_member",
        json!({"GroupId": "live-1", "Members_Account": ["viewer", "x1", "x2"], "Duration": 3600, "Description": "spam"}),
    )
    .await;
    assert_ok(&banned);
    let ev = wait_for(&mut events, "t_kicked_from_room").await;
    assert_eq!(ev["data"]["banned"], true);
    assert_eq!(ev["data"]["reason"], "spam");
    assert_eq!(
        code_of(&viewer.enter_room("live-1").await),
        code::NO_PERMISSION,
        "a banned member cannot come back"
    );

    let page = group(
        &server,
        "get_group_ban_member",
        json!({"GroupId": "live-1", "Offset": 0, "Limit": 2}),
    )
    .await;
    assert_ok(&page);
    let list = page["BannedAccountList"].as_array().expect("list");
    assert_eq!(list.len(), 2, "{page}");
    assert_eq!(list[0]["Member_Account"], "viewer");
    let until = list[0]["BannedUntil"].as_i64().expect("BannedUntil");
    assert!((now() + 3595..=now() + 3605).contains(&until), "{until}");
    assert_eq!(page["NextOffset"], 2);
    let rest = group(
        &server,
        "get_group_ban_member",
        json!({"GroupId": "live-1", "Offset": 2, "Limit": 2}),
    )
    .await;
    assert_eq!(rest["BannedAccountList"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["NextOffset"], 0, "the last page");

    let unbanned = group(
        &server,
        "unban_group_member",
        json!({"GroupId": "live-1", "Members_Account": ["viewer"]}),
    )
    .await;
    assert_ok(&unbanned);
    viewer
        .enter_room("live-1")
        .await
        .expect("unbanned, the member may enter");
    let log = audit(&server, "live-1").await;
    assert_audited(&log, "ban_member", "viewer");
    assert_audited(&log, "unban_member", "viewer");

    let zero = group(
        &server,
        "ban_group_member",
        json!({"GroupId": "live-1", "Members_Account": ["viewer"], "Duration": 0}),
    )
    .await;
    assert_fail(&zero, 10004);
    let many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    for command in ["ban_group_member", "unban_group_member"] {
        let body = json!({"GroupId": "live-1", "Members_Account": many, "Duration": 60});
        assert_fail(&group(&server, command, body).await, TOO_MANY_ACCOUNTS);
    }
    let big_page = group(
        &server,
        "get_group_ban_member",
        json!({"GroupId": "live-1", "Limit": 101}),
    )
    .await;
    assert_fail(&big_page, 10004);
    for command in [
        "ban_group_member",
        "unban_group_member",
        "get_group_ban_member",
    ] {
        let body = json!({"GroupId": "nowhere", "Members_Account": ["viewer"], "Duration": 60});
        assert_fail(&group(&server, command, body.clone()).await, 10010);
        assert_needs_admin(&server, command, body).await;
    }
}
