//! The REST API's accounts and profiles against the real server, in Tencent's raw URL form:
//! `im_open_login_svc/{multiaccount_import, account_check, kick}` and
//! `profile/{portrait_set, portrait_get}`, with engines that log in, get kicked and send.

use std::time::Duration;

use liveroom_engine::proto::{code, CreateRoomOptions, Priority};
use liveroom_engine::Im;
use liveroom_tests::{sig, Server, APP, KEY};
use serde_json::{json, Value};

use crate::rest_support::{assert_fail, assert_ok, call, call_as, call_at, server, ADMIN};
use crate::{wait_for, SOON};

/// `account_check` of `users`: each one's `AccountStatus`, in order.
async fn statuses(server: &Server, users: &[&str]) -> Vec<Value> {
    let items: Vec<Value> = users.iter().map(|u| json!({"UserID": u})).collect();
    let v = call(
        server,
        "im_open_login_svc/account_check",
        json!({ "CheckItem": items }),
    )
    .await;
    assert_ok(&v);
    v["ResultItem"]
        .as_array()
        .expect("ResultItem")
        .iter()
        .map(|r| r["AccountStatus"].clone())
        .collect()
}

/// `portrait_get` of one user's nick and avatar: `[nick, avatar]`.
async fn portrait(server: &Server, user: &str) -> [Value; 2] {
    let v = call(
        server,
        "profile/portrait_get",
        json!({"To_Account": [user], "TagList": ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Image"]}),
    )
    .await;
    assert_ok(&v);
    let items = &v["UserProfileItem"][0]["ProfileItem"];
    [items[0]["Value"].clone(), items[1]["Value"].clone()]
}

/// Waits until the clock is past `t` (unix seconds): a UserSig made then is from after it.
async fn past(t: i64) {
    while liveroom_usersig::now_secs() <= t {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn multiaccount_import_takes_both_shapes_and_names_the_accounts_that_failed() {
    let server = server();
    let v = call(
        &server,
        "im_open_login_svc/multiaccount_import",
        json!({
            "Accounts": ["a1", "a2", "not valid"],
            "AccountList": [
                {"UserID": "a3", "Nick": "Three", "FaceUrl": "https://x/3.png"},
                {"UserID": "a4", "Nick": "x".repeat(501)},
                {"UserID": ""}
            ]
        }),
    )
    .await;
    assert_ok(&v);
    assert_eq!(v["FailAccounts"], json!(["not valid", "a4", ""]), "{v}");
    assert_eq!(
        statuses(&server, &["a1", "a2", "a3", "a4", "never"]).await,
        [
            "Imported",
            "Imported",
            "Imported",
            "NotImported",
            "NotImported"
        ]
    );
    assert_eq!(portrait(&server, "a3").await, ["Three", "https://x/3.png"]);

    // AccountList updates an account that exists, keeping what it does not give; Accounts
    // leaves the profile alone.
    let again = call(
        &server,
        "im_open_login_svc/multiaccount_import",
        json!({"Accounts": ["a3"], "AccountList": [{"UserID": "a3", "FaceUrl": "https://x/3b.png"}]}),
    )
    .await;
    assert_ok(&again);
    assert_eq!(again["FailAccounts"], json!([]));
    assert_eq!(portrait(&server, "a3").await, ["Three", "https://x/3b.png"]);

    // The imported nick rides on the user's messages once they log in.
    let a3 = server.login("a3").await;
    a3.create_room(CreateRoomOptions {
        name: "r".into(),
        room_id: Some("r".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    a3.enter_room("r").await.unwrap();
    let sent = a3
        .send_text_message("r", "hi", Priority::Normal)
        .await
        .unwrap();
    assert_eq!(sent.nick, "Three");

    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let big = call(
        &server,
        "im_open_login_svc/multiaccount_import",
        json!({ "Accounts": too_many }),
    )
    .await;
    assert_fail(&big, 70402);
    let none = call(&server, "im_open_login_svc/multiaccount_import", json!({})).await;
    assert_fail(&none, 70402);
    let not_strings = call(
        &server,
        "im_open_login_svc/multiaccount_import",
        json!({"Accounts": [1, 2]}),
    )
    .await;
    assert_fail(&not_strings, 70402);
    let member = call_as(
        &server,
        "a1",
        "im_open_login_svc/multiaccount_import",
        r#"{"Accounts":["z"]}"#,
    )
    .await;
    assert_fail(&member, 70403);
    assert_eq!(statuses(&server, &["z"]).await, ["NotImported"]);
}

#[tokio::test]
async fn account_check_says_imported_after_an_import_a_login_or_a_profile() {
    let server = server();
    assert_ok(
        &call(
            &server,
            "im_open_login_svc/account_import",
            json!({"UserID": "imported"}),
        )
        .await,
    );
    // A user who only logged in with a valid UserSig: imported by that first login, as on
    // Tencent IM.
    let viewer = server.login("viewer").await;
    viewer.logout().await.unwrap();
    let v = call(
        &server,
        "im_open_login_svc/account_check",
        json!({"CheckItem": [{"UserID": "imported"}, {"UserID": "viewer"}, {"UserID": "ghost"},
                             {"UserID": "no spaces"}, {"Identifier": "imported"}]}),
    )
    .await;
    assert_ok(&v);
    let items = v["ResultItem"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{v}");
    for (i, (user, status)) in [
        ("imported", "Imported"),
        ("viewer", "Imported"),
        ("ghost", "NotImported"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(items[i]["UserID"], *user, "{v}");
        assert_eq!(items[i]["ResultCode"], 0, "{v}");
        assert_eq!(items[i]["ResultInfo"], "", "{v}");
        assert_eq!(items[i]["AccountStatus"], *status, "{v}");
    }
    assert_eq!(items[3]["UserID"], "no spaces");
    assert_eq!(
        items[3]["ResultCode"], 70402,
        "a bad userID fails alone: {v}"
    );
    assert!(!items[3]["ResultInfo"].as_str().unwrap().is_empty());
    assert_eq!(items[3]["AccountStatus"], "NotImported");
    assert_eq!(
        items[4]["AccountStatus"], "Imported",
        "the older name Identifier"
    );

    let missing = call(&server, "im_open_login_svc/account_check", json!({})).await;
    assert_fail(&missing, 70402);
    let empty = call(
        &server,
        "im_open_login_svc/account_check",
        json!({"CheckItem": []}),
    )
    .await;
    assert_fail(&empty, 70402);
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"UserID": format!("u{i}")}))
        .collect();
    let big = call(
        &server,
        "im_open_login_svc/account_check",
        json!({ "CheckItem": many }),
    )
    .await;
    assert_fail(&big, 70402);
    let member = call_as(
        &server,
        "viewer",
        "im_open_login_svc/account_check",
        r#"{"CheckItem":[{"UserID":"viewer"}]}"#,
    )
    .await;
    assert_fail(&member, 70403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_ends_the_session_and_refuses_the_usersigs_made_before_it() {
    let server = server();
    let old_sig = sig("viewer");
    let im = server.engine();
    let mut events = im.events();
    im.login("viewer", &old_sig).await.unwrap();
    let before = liveroom_usersig::now_secs();
    let kicked = call(
        &server,
        "im_open_login_svc/kick",
        json!({"UserID": "viewer"}),
    )
    .await;
    assert_ok(&kicked);
    let ev = wait_for(&mut events, "t_kicked_out").await;
    assert_eq!(ev["data"], "REST_API_Kick", "TIM's KICKED_OUT_REST_API");
    assert_eq!(im.user_id(), None, "the kicked engine is logged out");

    // The UserSig it had is refused from now on, as is any made up to the kick.
    let again = server.engine();
    let refused = again.login("viewer", &old_sig).await.unwrap_err();
    assert_eq!(refused.code, code::USERSIG_EXPIRED, "{refused:?}");
    assert!(refused.message.contains("kicked"), "{refused:?}");
    let same_second = liveroom_usersig::gen_usersig_at(APP, KEY, "viewer", before, 86_400, None);
    assert_eq!(
        again.login("viewer", &same_second).await.unwrap_err().code,
        code::USERSIG_EXPIRED
    );
    // A freshly made one logs in, and stays logged in.
    past(liveroom_usersig::now_secs()).await;
    let mut again_events = again.events();
    again
        .login("viewer", &sig("viewer"))
        .await
        .expect("a fresh UserSig");
    // The old UserSig tried again elsewhere is refused without pushing the new session off.
    let thief = server.engine();
    assert_eq!(
        thief.login("viewer", &old_sig).await.unwrap_err().code,
        code::USERSIG_EXPIRED
    );
    crate::assert_no_event(
        &mut again_events,
        "t_kicked_out",
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(again.user_id().as_deref(), Some("viewer"));

    // The older name of the field; a user who is not logged in is kicked all the same (their
    // UserSigs are refused).
    let other_sig = sig("other");
    server.login("other").await.logout().await.unwrap();
    let by_identifier = call(
        &server,
        "im_open_login_svc/kick",
        json!({"Identifier": "other"}),
    )
    .await;
    assert_ok(&by_identifier);
    assert_eq!(
        server
            .engine()
            .login("other", &other_sig)
            .await
            .unwrap_err()
            .code,
        code::USERSIG_EXPIRED
    );

    let nobody = call(
        &server,
        "im_open_login_svc/kick",
        json!({"UserID": "nobody"}),
    )
    .await;
    assert_fail(&nobody, 70107);
    let bad = call(&server, "im_open_login_svc/kick", json!({"UserID": ""})).await;
    assert_fail(&bad, 70402);
    let missing = call(&server, "im_open_login_svc/kick", json!({})).await;
    assert_fail(&missing, 70402);
    let member = call_as(
        &server,
        "viewer",
        "im_open_login_svc/kick",
        r#"{"UserID":"viewer"}"#,
    )
    .await;
    assert_fail(&member, 70403);
    assert_eq!(
        again.user_id().as_deref(),
        Some("viewer"),
        "not kicked by a member"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portrait_set_reaches_a_logged_in_senders_next_message() {
    let server = server();
    let host = server.login("ann").await;
    host.create_room(CreateRoomOptions {
        name: "live".into(),
        room_id: Some("live".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("live").await.unwrap();
    let viewer = server.login("viewer").await;
    let mut events = viewer.events();
    viewer.enter_room("live").await.unwrap();
    let before = host
        .send_text_message("live", "before", Priority::Normal)
        .await
        .unwrap();
    assert_eq!(before.nick, "");

    let set = call(
        &server,
        "profile/portrait_set",
        json!({"From_Account": "ann", "ProfileItem": [
            {"Tag": "Tag_Profile_IM_Nick", "Value": "Ann Live"},
            {"Tag": "Tag_Profile_IM_Image", "Value": "https://x/ann.png"},
            {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Female"},
            {"Tag": "Tag_Profile_IM_Level", "Value": 3}
        ]}),
    )
    .await;
    assert_ok(&set);
    assert_eq!(
        set["ErrorDisplay"], "",
        "the profile service's envelope: {set}"
    );

    // The session got the new profile: its very next message carries it.
    let after = host
        .send_text_message("live", "after", Priority::Normal)
        .await
        .unwrap();
    assert_eq!(
        (after.nick.as_str(), after.avatar.as_str()),
        ("Ann Live", "https://x/ann.png")
    );
    let deadline = tokio::time::Instant::now() + SOON;
    let got = loop {
        let v = wait_for(&mut events, "t_text_message_received").await;
        if v["data"][0]["payload"]["text"] == "after" {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "no 'after' message");
    };
    assert_eq!(got["data"][0]["nick"], "Ann Live");
    assert_eq!(got["data"][0]["avatar"], "https://x/ann.png");
    assert_eq!(host.get_my_profile().await.unwrap().nick, "Ann Live");
    // Ignored standard tags are accepted and not kept.
    let got = call(
        &server,
        "profile/portrait_get",
        json!({"To_Account": ["ann"], "TagList": ["Tag_Profile_IM_Gender", "Tag_Profile_IM_Nick"]}),
    )
    .await;
    assert_ok(&got);
    assert_eq!(
        got["UserProfileItem"][0]["ProfileItem"],
        json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Ann Live"}])
    );

    // Only the nick: the avatar stays.
    let nick_only = call(
        &server,
        "profile/portrait_set",
        json!({"From_Account": "ann", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Ann"}]}),
    )
    .await;
    assert_ok(&nick_only);
    assert_eq!(portrait(&server, "ann").await, ["Ann", "https://x/ann.png"]);

    let set_one = |tag: &str, value: Value| json!({"From_Account": "ann", "ProfileItem": [{"Tag": tag, "Value": value}]});
    for (body, code) in [
        (
            set_one("Tag_Profile_IM_Nick", json!("n".repeat(501))),
            40601,
        ),
        (
            set_one(
                "Tag_Profile_IM_Image",
                json!(format!("https://x/{}", "a".repeat(100))),
            ),
            40601,
        ),
        (set_one("Tag_Profile_IM_Nick", json!(5)), 40610),
        (set_one("Tag_Profile_Custom_Test", json!("x")), 40009),
        (set_one("Tag_Profile_IM_Nickname", json!("x")), 40009),
        (json!({"From_Account": "ann"}), 40001),
        (json!({"From_Account": "ann", "ProfileItem": []}), 40001),
        (json!({"From_Account": "", "ProfileItem": []}), 40001),
        (
            json!({"From_Account": "ghost", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "G"}]}),
            40003,
        ),
    ] {
        let v = call(&server, "profile/portrait_set", body.clone()).await;
        assert_fail(&v, code);
        assert_eq!(v["ErrorDisplay"], "", "{v}");
    }
    assert_eq!(
        portrait(&server, "ann").await,
        ["Ann", "https://x/ann.png"],
        "nothing refused was stored"
    );
    let member = call_as(
        &server,
        "viewer",
        "profile/portrait_set",
        &set_one("Tag_Profile_IM_Nick", json!("mine")).to_string(),
    )
    .await;
    assert_fail(&member, 40004);
}

#[tokio::test]
async fn portrait_get_answers_each_account_and_names_the_ones_that_failed() {
    let server = server();
    assert_ok(
        &call(
            &server,
            "im_open_login_svc/account_import",
            json!({"UserID": "a", "Nick": "A", "FaceUrl": "https://x/a.png"}),
        )
        .await,
    );
    assert_ok(
        &call(
            &server,
            "im_open_login_svc/account_import",
            json!({"UserID": "b"}),
        )
        .await,
    );
    let v = call(
        &server,
        "profile/portrait_get",
        json!({"To_Account": ["a", "ghost", "b", "no spaces"],
               "TagList": ["Tag_Profile_IM_Image", "Tag_Profile_IM_Nick"]}),
    )
    .await;
    assert_ok(&v);
    assert_eq!(v["ErrorDisplay"], "");
    let items = v["UserProfileItem"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{v}");
    assert_eq!(
        items[0],
        json!({"To_Account": "a", "ResultCode": 0, "ResultInfo": "", "ProfileItem": [
            {"Tag": "Tag_Profile_IM_Image", "Value": "https://x/a.png"},
            {"Tag": "Tag_Profile_IM_Nick", "Value": "A"}]})
    );
    assert_eq!(items[1]["To_Account"], "ghost");
    assert_eq!(items[1]["ResultCode"], 40003, "{v}");
    assert!(items[1].get("ProfileItem").is_none(), "{v}");
    assert_eq!(
        items[2]["ProfileItem"],
        json!([{"Tag": "Tag_Profile_IM_Image", "Value": ""}, {"Tag": "Tag_Profile_IM_Nick", "Value": ""}]),
        "never set: empty"
    );
    assert_eq!(items[3]["ResultCode"], 40001, "{v}");
    assert_eq!(v["Fail_Account"], json!(["ghost", "no spaces"]));

    let all_found = call(
        &server,
        "profile/portrait_get",
        json!({"To_Account": ["a"], "TagList": ["Tag_Profile_IM_Nick"]}),
    )
    .await;
    assert_ok(&all_found);
    assert!(
        all_found.get("Fail_Account").is_none(),
        "only when some failed: {all_found}"
    );

    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    for (body, code) in [
        (json!({"TagList": ["Tag_Profile_IM_Nick"]}), 40002),
        (
            json!({"To_Account": [], "TagList": ["Tag_Profile_IM_Nick"]}),
            40002,
        ),
        (json!({"To_Account": ["a"]}), 40001),
        (
            json!({"To_Account": ["a"], "TagList": ["Tag_Profile_Custom_X"]}),
            40009,
        ),
        (
            json!({"To_Account": many, "TagList": ["Tag_Profile_IM_Nick"]}),
            40001,
        ),
        (
            json!({"To_Account": "a", "TagList": ["Tag_Profile_IM_Nick"]}),
            40001,
        ),
    ] {
        let v = call(&server, "profile/portrait_get", body.clone()).await;
        assert_fail(&v, code);
    }
    let not_json = call_as(&server, ADMIN, "profile/portrait_get", "{nope").await;
    assert_fail(&not_json, 60003);
    let member = call_as(
        &server,
        "a",
        "profile/portrait_get",
        r#"{"To_Account":["a"],"TagList":["Tag_Profile_IM_Nick"]}"#,
    )
    .await;
    assert_fail(&member, 40004);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_portrait_set_on_one_node_reach_the_session_on_another() {
    let admin = format!("{APP}:{ADMIN}");
    let cluster = liveroom_testkit::cluster::Cluster::start(2, APP, KEY, &["--admin", &admin]);
    let http = |i: usize| format!("http://{}", cluster.nodes[i].addr());
    let on = |i: usize| Im::new(APP, cluster.url(i)).unwrap();

    // A host on node 1 in a room, a viewer on node 0.
    let host = on(1);
    let mut host_events = host.events();
    let old_sig = sig("host");
    host.login("host", &old_sig).await.unwrap();
    host.create_room(CreateRoomOptions {
        name: "c".into(),
        room_id: Some("c".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("c").await.unwrap();

    // portrait_set through node 0: the host's next message on node 1 carries the nick.
    let set = call_at(
        &http(0),
        ADMIN,
        "profile/portrait_set",
        &json!({"From_Account": "host", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Host on 1"}]})
            .to_string(),
    )
    .await;
    assert_ok(&set);
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let sent = host
            .send_text_message("c", "hi", Priority::Normal)
            .await
            .unwrap();
        if sent.nick == "Host on 1" {
            break;
        }
        // The signal crosses Redis's pub/sub: it may land a moment after the answer.
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nick never reached node 1"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kick through node 0: the session on node 1 ends; the old UserSig is refused on both.
    let kicked = call_at(
        &http(0),
        ADMIN,
        "im_open_login_svc/kick",
        r#"{"UserID":"host"}"#,
    )
    .await;
    assert_ok(&kicked);
    let ev = wait_for(&mut host_events, "t_kicked_out").await;
    assert_eq!(ev["data"], "REST_API_Kick");
    for node in 0..2 {
        let refused = on(node).login("host", &old_sig).await.unwrap_err();
        assert_eq!(
            refused.code,
            code::USERSIG_EXPIRED,
            "node {node}: {refused:?}"
        );
    }
    past(liveroom_usersig::now_secs()).await;
    on(0)
        .login("host", &sig("host"))
        .await
        .expect("a fresh UserSig on node 0");
    let checked = call_at(
        &http(1),
        ADMIN,
        "im_open_login_svc/account_check",
        r#"{"CheckItem":[{"UserID":"host"},{"UserID":"nobody"}]}"#,
    )
    .await;
    assert_ok(&checked);
    assert_eq!(checked["ResultItem"][0]["AccountStatus"], "Imported");
    assert_eq!(checked["ResultItem"][1]["AccountStatus"], "NotImported");
}
