//! The REST API for the app's backend against the real server: Tencent's URL form and
//! envelope, the administrator check, and messages sent through it reaching engines.

use liveroom_tests::{sig, APP};
use serde_json::json;

use crate::rest_support::{assert_fail, assert_ok, call, call_as, post, server, ADMIN};
use crate::wait_for;

#[tokio::test]
async fn a_backend_creates_a_room_and_sends_a_gift_as_the_host() {
    let server = server();
    let created = call(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "host", "Type": "AVChatRoom", "GroupId": "live-1", "Name": "Evening show",
               "Introduction": "hi", "Notification": "be nice", "FaceUrl": "https://x/a.png"}),
    )
    .await;
    assert_ok(&created);
    assert_eq!(created["GroupId"], "live-1");
    let imported = call(
        &server,
        "im_open_login_svc/account_import",
        json!({"UserID": "host", "Nick": "Host Ann", "FaceUrl": "https://x/h.png"}),
    )
    .await;
    assert_ok(&imported);

    let viewer = server.login("viewer").await;
    let entered = viewer.enter_room("live-1").await.expect("the room exists");
    assert_eq!(entered.group.owner_id, "host");
    let mut events = viewer.events();
    let gift = json!({"GroupId": "live-1", "From_Account": "host", "Random": 42, "MsgPriority": "High",
        "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rose", "Ext": "{\"count\":3}"}}]});
    let sent = call(&server, "group_open_http_svc/send_group_msg", gift.clone()).await;
    assert_ok(&sent);
    let seq = sent["MsgSeq"].as_u64().expect("MsgSeq");
    assert!(seq > 0);
    assert!(sent["MsgTime"].as_i64().expect("MsgTime") > 1_700_000_000);
    let got = wait_for(&mut events, "t_custom_message_received").await;
    let msg = &got["data"][0];
    assert_eq!(msg["from"], "host");
    assert_eq!(
        msg["nick"], "Host Ann",
        "the imported nick rides on the message"
    );
    assert_eq!(msg["sequence"], seq);
    assert_eq!(msg["priority"], "High");
    assert_eq!(msg["payload"]["data"], "gift");
    assert_eq!(msg["payload"]["description"], "rose");

    // The same Random again: the first send's answer, nothing sent twice.
    let again = call(&server, "group_open_http_svc/send_group_msg", gift).await;
    assert_ok(&again);
    assert_eq!(again["MsgSeq"], seq);
    let text = json!({"GroupId": "live-1", "Random": 43,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "welcome all"}}]});
    let next = call(&server, "group_open_http_svc/send_group_msg", text).await;
    assert_ok(&next);
    assert_eq!(next["MsgSeq"], seq + 1, "the repeat took no sequence");
    let got = wait_for(&mut events, "t_text_message_received").await;
    assert_eq!(
        got["data"][0]["from"], ADMIN,
        "without From_Account: the administrator"
    );
    assert_eq!(got["data"][0]["payload"]["text"], "welcome all");

    // Through the room's history like any message: a late joiner sees both.
    let late = server.login("late").await;
    let mut late_events = late.events();
    late.enter_room("live-1").await.expect("enter");
    let gift = wait_for(&mut late_events, "t_custom_message_received").await;
    assert_eq!(gift["data"][0]["sequence"], seq);
    let text = wait_for(&mut late_events, "t_text_message_received").await;
    assert_eq!(text["data"][0]["sequence"], seq + 1);

    let destroyed = call(
        &server,
        "group_open_http_svc/destroy_group",
        json!({"GroupId": "live-1"}),
    )
    .await;
    assert_ok(&destroyed);
    wait_for(&mut events, "t_room_dismissed").await;
    let gone = call(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": "live-1", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}),
    )
    .await;
    assert_fail(&gone, 10010);
}

#[tokio::test]
async fn only_an_app_administrator_with_a_valid_usersig_may_call() {
    let server = server();
    let body = json!({"Type": "AVChatRoom", "Name": "r"}).to_string();
    let member = call_as(&server, "viewer", "group_open_http_svc/create_group", &body).await;
    assert_fail(&member, 60010);
    let account = call_as(
        &server,
        "viewer",
        "im_open_login_svc/account_import",
        r#"{"UserID":"a"}"#,
    )
    .await;
    assert_fail(&account, 70403);
    let base = server.http_url();
    let forged = format!(
        "{base}/v4/group_open_http_svc/create_group?sdkappid={APP}&identifier={ADMIN}&usersig={}&random=1&contenttype=json",
        sig("someone-else")
    );
    assert_fail(&post(&forged, &body).await, 70013);
    let no_app = format!(
        "{base}/v4/group_open_http_svc/create_group?identifier={ADMIN}&usersig={}",
        sig(ADMIN)
    );
    assert_fail(&post(&no_app, &body).await, 60012);
    let no_sig =
        format!("{base}/v4/group_open_http_svc/create_group?sdkappid={APP}&identifier={ADMIN}");
    assert_fail(&post(&no_sig, &body).await, 70002);
}

#[tokio::test]
async fn bad_requests_get_tencents_codes_and_say_why() {
    let server = server();
    let not_json = call_as(&server, ADMIN, "group_open_http_svc/create_group", "{nope").await;
    assert_fail(&not_json, 60003);
    let missing = call(
        &server,
        "group_open_http_svc/create_group",
        json!({"Type": "AVChatRoom"}),
    )
    .await;
    assert_fail(&missing, 10004);
    assert!(
        missing["ErrorInfo"]
            .as_str()
            .unwrap_or_default()
            .contains("Name"),
        "{missing}"
    );
    let public = call(
        &server,
        "group_open_http_svc/create_group",
        json!({"Type": "Public", "Name": "r"}),
    )
    .await;
    assert_fail(&public, 10007);
    let unknown = call(&server, "group_open_http_svc/no_such_command", json!({})).await;
    assert_fail(&unknown, 60009);
    let no_room = call(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": "nowhere", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}),
    )
    .await;
    assert_fail(&no_room, 10010);
    call(
        &server,
        "group_open_http_svc/create_group",
        json!({"Type": "AVChatRoom", "Name": "r", "GroupId": "r1"}),
    )
    .await;
    let two = call(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": "r1", "MsgBody": [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "a"}},
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "b"}}]}),
    )
    .await;
    assert_fail(&two, 10004);
    let long = call(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": "r1", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x".repeat(9000)}}]}),
    )
    .await;
    assert_fail(&long, 80002);
    let bad_account = call(
        &server,
        "im_open_login_svc/account_import",
        json!({"UserID": ""}),
    )
    .await;
    assert_fail(&bad_account, 70402);
}
