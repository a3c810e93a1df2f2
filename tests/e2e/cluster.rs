//! Cluster mode (issue 13): one room served by several `liveroom-server` nodes over a real
//! `redis-server`, each node a real process on its own loopback address.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use liveroom_engine::proto::{code, ApiError, CreateRoomOptions, Priority, WordsAction};
use liveroom_engine::Im;
use liveroom_testkit::RedisProcess;
use liveroom_tests::{sig, APP, KEY};
use serde_json::{json, Value};

use crate::{messages, wait_for, RawClient};

/// Redis and its nodes (the testkit's), with the test app's users.
struct Cluster(liveroom_testkit::cluster::Cluster);

impl std::ops::Deref for Cluster {
    type Target = liveroom_testkit::cluster::Cluster;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Cluster {
    fn start(n: usize) -> Self {
        Self::start_with(n, RedisProcess::start(), &[])
    }

    fn start_with(n: usize, redis: RedisProcess, extra: &[&str]) -> Self {
        Self(liveroom_testkit::cluster::Cluster::start_over(
            redis, n, APP, KEY, extra,
        ))
    }

    async fn login(&self, node: usize, user: &str) -> Im {
        let im = Im::new(APP, self.url(node)).unwrap();
        im.login(user, &sig(user)).await.expect("login");
        im
    }

    /// A room `id` owned by `owner` on `node`, the owner in it.
    async fn room(&self, node: usize, owner: &str, id: &str) -> Im {
        let im = self.login(node, owner).await;
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

    async fn raw(&self, node: usize) -> RawClient {
        let mut c = RawClient::connect_url(&self.url(node)).await;
        c.request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
            .await;
        c
    }
}

fn code_of<T>(r: &Result<T, ApiError>) -> u32 {
    r.as_ref().err().map_or(0, |e| e.code)
}

fn texts(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["payload"]["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn seqs(list: &[Value]) -> Vec<u64> {
    list.iter()
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_one_node_reaches_every_nodes_viewers_once_in_order() {
    let c = Cluster::start(3);
    let host = c.room(0, "host", "all").await;
    let mut viewers = Vec::new();
    for node in 0..3 {
        let v = c.login(node, &format!("v{node}")).await;
        v.enter_room("all").await.unwrap();
        viewers.push((v.events(), v));
    }
    // Two senders on two nodes, interleaved: one room order for everyone.
    let other = c.login(2, "other").await;
    other.enter_room("all").await.unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        let (im, who) = if i % 2 == 0 {
            (&host, "h")
        } else {
            (&other, "o")
        };
        let m = im
            .send_text_message("all", &format!("{who}{i}"), Priority::Normal)
            .await
            .unwrap();
        acked.push(m.sequence);
    }
    assert_eq!(
        acked,
        (1..=20).collect::<Vec<_>>(),
        "one sequence for the room"
    );
    for (rx, _) in &mut viewers {
        let got = messages(rx, "t_text_message_received", 20).await;
        assert_eq!(seqs(&got), acked, "every message once, in order");
        assert_eq!(texts(&got)[..2], ["h0", "o1"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acknowledged_message_for_its_viewers() {
    let mut c = Cluster::start(2);
    let host = c.room(1, "host", "kill").await;
    let mut viewer = c.raw(0).await;
    let r = viewer
        .request(json!({"id": 2, "op": "enter_room", "room_id": "kill"}))
        .await;
    assert_eq!(r["t"], "reply", "{r}");
    for i in 1..=5 {
        host.send_text_message("kill", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    let mut last = 0;
    while last < 5 {
        let f = viewer.next_json().await.expect("messages");
        if f["t"] == "messages" {
            for m in f["list"].as_array().unwrap() {
                assert_eq!(m["sequence"].as_u64(), Some(last + 1));
                last += 1;
            }
        }
    }
    // Node 0 dies mid-chat; the chat goes on on node 1, every send acknowledged.
    c.nodes[0].kill();
    for i in 6..=12 {
        host.send_text_message("kill", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    // The viewer comes back on node 1 with the last sequence it has: exactly what it
    // missed, from the shared history, then the live stream.
    let mut back = c.raw(1).await;
    let r = back
        .request(json!({"id": 2, "op": "enter_room", "room_id": "kill", "since": last}))
        .await;
    let missed = r["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(seqs(&missed), (6..=12).collect::<Vec<_>>(), "{r}");
    assert_eq!(r["data"]["skipped"], Value::Null, "nothing skipped: {r}");
    host.send_text_message("kill", "m13", Priority::Normal)
        .await
        .unwrap();
    loop {
        let f = back.next_json().await.expect("the live stream");
        if f["t"] == "messages" {
            assert_eq!(seqs(f["list"].as_array().unwrap()), [13]);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_older_than_the_history_gives_the_history() {
    let mut c = Cluster::start_with(2, RedisProcess::start(), &["--history", "5"]);
    let host = c.room(0, "host", "gap").await;
    // An engine on node 1 that will lose its node and come back through node 0.
    let viewer = Im::new(APP, format!("{},{}", c.url(1), c.url(0))).unwrap();
    viewer.login("viewer", &sig("viewer")).await.unwrap();
    let on_one = viewer.current_server().starts_with(&c.url(1));
    viewer.enter_room("gap").await.unwrap();
    let mut viewer_rx = viewer.events();
    host.send_text_message("gap", "m1", Priority::Normal)
        .await
        .unwrap();
    let _ = messages(&mut viewer_rx, "t_text_message_received", 1).await;
    if on_one {
        c.nodes[1].kill();
    }
    for i in 2..=12 {
        host.send_text_message("gap", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    let mut back = c.raw(if on_one { 0 } else { 1 }).await;
    let r = back
        .request(json!({"id": 2, "op": "enter_room", "room_id": "gap", "since": 1}))
        .await;
    let kept = r["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(seqs(&kept), (8..=12).collect::<Vec<_>>(), "{r}");
    assert_eq!(r["data"]["last_sequence"], 12, "{r}");
    assert_eq!(
        r["data"]["skipped"], true,
        "the client is told, never silence: {r}"
    );
    if on_one {
        // The engine comes back after that gap and says so.
        let ev = tokio::time::timeout(Duration::from_secs(20), async {
            crate::wait_for_long(&mut viewer_rx, "t_messages_skipped").await
        })
        .await
        .expect("an event saying messages were skipped");
        assert_eq!(ev["data"], json!({"roomID": "gap", "firstKept": 8}), "{ev}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_on_another_node_kicks_the_first() {
    let c = Cluster::start(2);
    let first = c.login(0, "dup").await;
    let mut rx = first.events();
    let _second = c.login(1, "dup").await;
    let ev = wait_for(&mut rx, "t_kicked_out").await;
    assert_eq!(ev["data"], "multipleAccount", "{ev}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_on_one_node_holds_on_every_node() {
    let c = Cluster::start(3);
    let owner = c.room(0, "own", "mod").await;
    let muted = c.login(1, "mut").await;
    muted.enter_room("mod").await.unwrap();
    let banned = c.login(2, "ban").await;
    banned.enter_room("mod").await.unwrap();
    let mut banned_rx = banned.events();
    let writer = c.login(2, "wri").await;
    writer.enter_room("mod").await.unwrap();

    // A mute made on node 0 holds for a member on node 1.
    owner.mute_member("mod", "mut", 600, "").await.unwrap();
    let e = muted.send_text_message("mod", "hi", Priority::Normal).await;
    assert_eq!(code_of(&e), code::MUTED);
    // A word blocked on node 0 is refused on node 2.
    owner
        .blocked_words("mod", WordsAction::Add, Some("forbidden"))
        .await
        .unwrap();
    let e = writer
        .send_text_message("mod", "so forbidden", Priority::Normal)
        .await;
    assert_eq!(code_of(&e), code::BLOCKED_WORD);
    // A ban made on node 0 removes the member on node 2, and no node lets them back.
    owner.ban_member("mod", "ban", None, "spam").await.unwrap();
    let ev = wait_for(&mut banned_rx, "t_kicked_from_room").await;
    assert_eq!(ev["data"]["banned"], true, "{ev}");
    for node in 0..3 {
        let again = c.login(node, "ban").await;
        assert_eq!(
            code_of(&again.enter_room("mod").await),
            code::NO_PERMISSION,
            "node {node}"
        );
    }
    // A message deleted on node 0 is never served again by another node.
    let m = writer
        .send_text_message("mod", "oops", Priority::Normal)
        .await
        .unwrap();
    owner.delete_message("mod", &m.id, "").await.unwrap();
    let mut late = c.raw(1).await;
    let r = late
        .request(json!({"id": 2, "op": "enter_room", "room_id": "mod"}))
        .await;
    assert!(
        !texts(r["data"]["messages"].as_array().unwrap()).contains(&"oops".to_owned()),
        "{r}"
    );
    // An admin appointed on node 0 has the rights on node 1; the audit log is one log.
    owner.set_admin("mod", "wri", true).await.unwrap();
    let admin = c.login(1, "wri").await;
    admin.unmute_member("mod", "mut").await.unwrap();
    muted
        .send_text_message("mod", "free", Priority::Normal)
        .await
        .unwrap();
    let log = admin.get_audit_log("mod", Some(50)).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "unmute_member",
            "set_admin",
            "delete_message",
            "ban_member",
            "blocked_words",
            "mute_member"
        ],
        "{log:?}"
    );
    // Dismissed on node 0: gone for the members of every node.
    let mut muted_rx = muted.events();
    owner.dismiss_room("mod").await.unwrap();
    wait_for(&mut muted_rx, "t_room_dismissed").await;
    let e = writer.send_text_message("mod", "x", Priority::Normal).await;
    assert!(code_of(&e) != 0, "a dismissed room takes no message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_moderators_on_two_nodes_at_once_lose_no_update() {
    let c = Cluster::start(2);
    let owner = c.room(0, "own", "two").await;
    owner.set_admin("two", "a", true).await.unwrap();
    owner.set_admin("two", "b", true).await.unwrap();
    let a = c.login(0, "a").await;
    let b = c.login(1, "b").await;
    let add = |im: Im, prefix: &'static str| async move {
        for i in 0..10 {
            im.blocked_words("two", WordsAction::Add, Some(&format!("{prefix}{i}")))
                .await
                .unwrap();
        }
    };
    let (ra, rb) = tokio::join!(tokio::spawn(add(a, "alpha")), tokio::spawn(add(b, "beta")));
    ra.unwrap();
    rb.unwrap();
    let words = owner
        .blocked_words("two", WordsAction::List, None)
        .await
        .unwrap();
    assert_eq!(words.room.len(), 20, "{words:?}");
    let log = owner.get_audit_log("two", Some(100)).await.unwrap();
    assert_eq!(log.len(), 22, "every action audited once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_online_count_counts_every_nodes_members() {
    let c = Cluster::start_with(2, RedisProcess::start(), &["--online-interval", "1"]);
    let host = c.room(0, "host", "cnt").await;
    let mut rx = host.events();
    let mut others = Vec::new();
    for (node, user) in [(1, "x"), (1, "y"), (0, "z")] {
        let v = c.login(node, user).await;
        v.enter_room("cnt").await.unwrap();
        others.push(v);
    }
    wait_count(&mut rx, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_answers_a_coded_error_in_time_and_the_nodes_resume() {
    let mut c = Cluster::start_with(2, RedisProcess::start_aof(), &[]);
    let host = c.room(0, "host", "down").await;
    let viewer = c.login(1, "viewer").await;
    viewer.enter_room("down").await.unwrap();
    let mut rx = viewer.events();
    host.send_text_message("down", "before", Priority::Normal)
        .await
        .unwrap();
    assert_eq!(
        texts(&messages(&mut rx, "t_text_message_received", 1).await),
        ["before"]
    );

    // A moderation action acknowledged before Redis dies survives it too.
    let muted = c.login(1, "muted").await;
    muted.enter_room("down").await.unwrap();
    host.mute_member("down", "muted", 600, "").await.unwrap();

    c.redis.kill();
    let t = Instant::now();
    let e = host
        .send_text_message("down", "lost?", Priority::Normal)
        .await;
    let took = t.elapsed();
    assert_eq!(code_of(&e), code::UNAVAILABLE, "{e:?}");
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    let t = Instant::now();
    let e = host.mute_member("down", "viewer", 60, "").await;
    assert_eq!(code_of(&e), code::UNAVAILABLE, "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2));

    // Viewers stay connected; once Redis is back (its AOF intact) the nodes resume.
    c.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match host
            .send_text_message("down", "after", Priority::Normal)
            .await
        {
            Ok(m) => {
                assert_eq!(m.sequence, 2, "nothing acknowledged lost, nothing doubled");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "not back: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let got = messages(&mut rx, "t_text_message_received", 1).await;
    assert_eq!(texts(&got), ["after"]);
    let e = muted
        .send_text_message("down", "still muted?", Priority::Normal)
        .await;
    assert_eq!(code_of(&e), code::MUTED, "the mute outlived the restart");
    assert_eq!(viewer.net_state(), liveroom_engine::NetState::Connected);
    let seen: BTreeSet<u64> = seqs(&got).into_iter().collect();
    assert_eq!(seen, BTreeSet::from([2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_given_the_nodes_moves_to_another_when_its_node_dies() {
    let mut c = Cluster::start(3);
    let list = c.list();
    let viewer = Im::new(APP, &list).unwrap();
    viewer.login("viewer", &sig("viewer")).await.unwrap();
    let on = (0..3)
        .find(|&i| viewer.current_server().starts_with(&c.url(i)))
        .expect("connected to one of the nodes");
    let host_node = (on + 1) % 3;
    let host = c.room(host_node, "host", "move").await;
    viewer.enter_room("move").await.unwrap();
    let mut rx = viewer.events();
    for i in 1..=5 {
        host.send_text_message("move", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
    }
    let mut got = messages(&mut rx, "t_text_message_received", 5).await;

    // Its node is killed mid-chat; every send meanwhile is acknowledged by another node.
    c.nodes[on].kill();
    let mut acked: Vec<u64> = (1..=5).collect();
    for i in 6..=15 {
        let m = host
            .send_text_message("move", &format!("m{i}"), Priority::Normal)
            .await
            .unwrap();
        acked.push(m.sequence);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = Instant::now();
    while got.len() < acked.len() {
        let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the viewer receives again within 20 s")
            .unwrap();
        let v = crate::as_json(&ev);
        if v["name"] == "t_text_message_received" {
            got.extend(v["data"].as_array().unwrap().clone());
        }
    }
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(
        seqs(&got),
        acked,
        "every acknowledged message once, in order"
    );
    assert!(
        !viewer.current_server().starts_with(&c.url(on)),
        "moved off the dead node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_through_a_list_of_the_nodes() {
    let c = Cluster::start(2);
    let host = c.room(1, "host", "cli").await;
    let mut rx = host.events();
    let list = format!("{},{}", c.url(0), c.url(1));
    let out = std::process::Command::new(liveroom_tests::bin("liveroom"))
        .args(["send", "cli", "from the cli"])
        .env("LIVEROOM_SERVER", &list)
        .env("LIVEROOM_APP", APP.to_string())
        .env("LIVEROOM_USER", "cliuser")
        .env("LIVEROOM_SIG", sig("cliuser"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = messages(&mut rx, "t_text_message_received", 1).await;
    assert_eq!(texts(&got), ["from the cli"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_edits_settings_and_stop_push_made_on_one_node_reach_every_node() {
    let c = Cluster::start(3);
    let owner = c.room(0, "own", "edit").await;
    let viewer = c.login(1, "vie").await;
    viewer.enter_room("edit").await.unwrap();
    let mut rx = viewer.events();

    owner
        .edit_room(
            "edit",
            liveroom_engine::EditRoomOptions {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ev = wait_for(&mut rx, "t_room_profile_updated").await;
    assert_eq!(ev["data"]["name"], "Renamed", "{ev}");
    owner.set_mute_all("edit", true).await.unwrap();
    let ev = wait_for(&mut rx, "t_room_settings_updated").await;
    assert_eq!(ev["data"]["muteAll"], true, "{ev}");
    let e = viewer
        .send_text_message("edit", "hi", Priority::Normal)
        .await;
    assert_eq!(code_of(&e), code::MUTED, "mute-all holds on node 1");
    owner.stop_push("edit", "bye").await.unwrap();
    let ev = wait_for(&mut rx, "t_push_stopped").await;
    assert_eq!(ev["data"], "bye", "{ev}");

    // A node that had no viewer of the room meanwhile shows it as it is now.
    let late = c.login(2, "late").await;
    let entered = late.enter_room("edit").await.unwrap();
    assert_eq!(entered.group.name, "Renamed");
    assert!(entered.group.push_stopped);
    assert_eq!(entered.group.postscript, "bye");
    assert!(entered.settings.mute_all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_under_its_name_does_not_count_its_old_members() {
    let mut c = Cluster::start_with(2, RedisProcess::start(), &["--online-interval", "1"]);
    let host = c.room(0, "host", "back").await;
    let mut rx = host.events();
    let mut gone = Vec::new();
    for user in ["a", "b", "c"] {
        let v = c.login(1, user).await;
        v.enter_room("back").await.unwrap();
        gone.push(v);
    }
    wait_count(&mut rx, 4).await;
    // Node 1 is killed and back at once, before its heartbeat lapses: its three members
    // are not in the room any more (their engines are reconnecting elsewhere or not at all).
    c.nodes[1].kill();
    for v in &gone {
        v.shutdown().await;
    }
    c.nodes[1].restart();
    wait_count(&mut rx, 1).await;
}

/// Waits until the room's online count is `n`.
async fn wait_count(rx: &mut tokio::sync::broadcast::Receiver<liveroom_engine::Event>, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout(
            Duration::from_secs(15),
            crate::wait_for_long(rx, "t_online_count"),
        )
        .await
        .expect("online counts keep coming");
        if ev["data"] == n {
            return;
        }
        assert!(Instant::now() < deadline, "count stuck at {ev}, want {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_leave_tips_reach_every_node_once_per_user() {
    let c = Cluster::start(2);
    let host = c.room(0, "host", "tips").await;
    let mut rx = host.events();
    let guest = c.login(1, "visitor").await;
    guest.enter_room("tips").await.unwrap();
    let joined = wait_for(&mut rx, "t_remote_user_join").await;
    assert_eq!(
        joined["data"][0]["payload"]["userIDList"],
        json!(["visitor"]),
        "{joined}"
    );
    guest.exit_room("tips").await.unwrap();
    let left = wait_for(&mut rx, "t_remote_user_leave").await;
    assert_eq!(
        left["data"][0]["payload"]["userIDList"],
        json!(["visitor"]),
        "{left}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_tells_every_nodes_members() {
    let c = Cluster::start(3);
    let _host = c.room(0, "host", "many").await;
    let fan = c.login(1, "fan").await;
    assert_eq!(fan.enter_room("many").await.unwrap().online, 2);
    let third = c.login(2, "third").await;
    assert_eq!(third.enter_room("many").await.unwrap().online, 3);
}
