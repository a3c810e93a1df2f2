//! A backend written against Tencent IM's server conventions, not against Liveroom:
//! `tests/backend/tencent_backend.py` (Python's standard library only) mints its own
//! administrator UserSig as TLSSigAPIv2 does, calls the REST API in Tencent's raw URL form and
//! reads its envelopes, while real engines in the room see what it does.

use std::path::PathBuf;
use std::process::Stdio;

use liveroom_engine::proto::Priority;
use liveroom_tests::{Server, APP, KEY};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::{wait_for, SOON};

/// The app administrator the backend signs as.
const ADMIN: &str = "boss";
/// The token the server signs its callbacks with, and the backend checks.
const HOOK_TOKEN: &str = "hook-token-42";

/// The backend script, run by `python3` from PATH; killed on drop.
struct Backend {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Its webhook receiver's port on 127.0.0.1.
    hook_port: u16,
}

impl Backend {
    /// Starts the script, whose webhook receiver refuses messages containing `refuse_word`
    /// and callbacks not signed with `token`, and waits for the receiver to listen.
    async fn start(refuse_word: &str, token: &str) -> Backend {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("backend/tencent_backend.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--app", &APP.to_string(), "--key", KEY, "--admin", ADMIN])
            .args(["--refuse-word", refuse_word, "--token", token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 on PATH runs the backend");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = next_json(&mut lines).await;
        let hook_port = first["listening"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("the backend says its webhook port first: {first}"));
        Backend {
            _child: child,
            stdin,
            lines,
            hook_port,
        }
    }

    /// Sends one request line and reads the backend's answer line.
    async fn op(&mut self, request: Value) -> Value {
        let mut line = request.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the backend");
        self.stdin.flush().await.expect("flush");
        next_json(&mut self.lines).await
    }

    /// [`Backend::op`], which must succeed.
    async fn ok(&mut self, request: Value) -> Value {
        let answer = self.op(request.clone()).await;
        assert_eq!(answer["ok"], true, "{request} -> {answer}");
        answer
    }
}

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(SOON * 2, lines.next_line())
        .await
        .expect("the backend answers within 10 s")
        .expect("read the backend's stdout")
        .expect("the backend is still running");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[tokio::test]
async fn a_tencent_style_backend_runs_a_show_and_its_webhook_vets_every_message() {
    // The "done when": a backend speaking Tencent's REST API imports accounts, creates
    // a room, sends a gift as the host, mutes and bans a viewer and destroys the room, and its
    // webhook sees every message first and refuses one.
    let mut backend = Backend::start("spam", HOOK_TOKEN).await;
    let server = Server::start_with(&[
        "--admin",
        &format!("{APP}:{ADMIN}"),
        "--callback",
        &format!("{APP}:http://127.0.0.1:{}/im/callback", backend.hook_port),
        "--callback-token",
        &format!("{APP}:{HOOK_TOKEN}"),
    ]);
    backend
        .ok(json!({"op": "server", "url": server.http_url()}))
        .await;

    // Accounts with their nicks from the backend's user database, and the host's room.
    let opened = backend
        .ok(
            json!({"op": "open_show", "room": "py-live", "name": "Evening show",
            "host": {"id": "host", "nick": "Host Ann"},
            "viewers": [{"id": "viewer", "nick": "Vera"}, {"id": "fan", "nick": "Fan Fei"}]}),
        )
        .await;
    assert_eq!(opened["GroupId"], "py-live");

    let viewer = server.login("viewer").await;
    let mut viewer_events = viewer.events();
    let entered = viewer.enter_room("py-live").await.expect("the room exists");
    assert_eq!(entered.group.owner_id, "host", "Owner_Account");
    let fan = server.login("fan").await;
    let mut fan_events = fan.events();
    fan.enter_room("py-live").await.expect("enter");

    // The webhook sees the viewer's message first and lets it through; the message carries
    // the nick the backend imported.
    viewer
        .send_text_message("py-live", "hello from Vera", Priority::Normal)
        .await
        .expect("allowed by the webhook");
    let got = wait_for(&mut fan_events, "t_text_message_received").await;
    assert_eq!(got["data"][0]["nick"], "Vera");
    // ... and refuses one with its own code and words, which nobody receives.
    let refused = viewer
        .send_text_message("py-live", "cheap SPAM here", Priority::Normal)
        .await
        .expect_err("refused by the webhook");
    assert_eq!(refused.code, 10101, "{refused:?}");
    assert!(
        refused.message.contains("'spam' is not allowed here"),
        "{refused:?}"
    );

    // The gift, sent by the backend as the host, reaches the viewer with the host's
    // imported nick, at High priority.
    let gift = backend
        .ok(json!({"op": "gift", "room": "py-live", "from": "host", "gift": "rocket", "count": 3}))
        .await;
    let got = wait_for(&mut viewer_events, "t_custom_message_received").await;
    let msg = &got["data"][0];
    assert_eq!(msg["from"], "host");
    assert_eq!(msg["nick"], "Host Ann");
    assert_eq!(msg["priority"], "High");
    assert_eq!(msg["sequence"], gift["MsgSeq"]);
    assert_eq!(msg["payload"]["description"], "rocket");
    let data: Value =
        serde_json::from_str(msg["payload"]["data"].as_str().expect("data")).expect("JSON data");
    assert_eq!(data, json!({"cmd": "gift", "gift": "rocket", "count": 3}));
    // The fan's events up to the gift: the refused message is not among them.
    loop {
        let event = tokio::time::timeout(SOON, fan_events.recv())
            .await
            .expect("the gift reaches the fan")
            .expect("events");
        let event = crate::as_json(&event);
        assert_ne!(
            event["name"], "t_text_message_received",
            "refused, never sent: {event}"
        );
        if event["name"] == "t_custom_message_received" {
            assert_eq!(event["data"][0]["sequence"], gift["MsgSeq"]);
            break;
        }
    }

    // The backend mutes the viewer: told at once, and its next send is refused with 10017.
    backend
        .ok(json!({"op": "mute", "room": "py-live", "user": "viewer", "seconds": 60}))
        .await;
    let muted = wait_for(&mut viewer_events, "t_muted").await;
    assert_eq!(muted["data"]["userID"], "viewer");
    assert!(
        muted["data"]["until"].as_i64().expect("until") > liveroom_usersig::now_secs(),
        "{muted}"
    );
    let refused = viewer
        .send_text_message("py-live", "am I muted?", Priority::Normal)
        .await
        .expect_err("muted");
    assert_eq!(refused.code, 10017, "{refused:?}");

    // ... then bans it: removed from the room, and it may not come back.
    backend
        .ok(json!({"op": "ban", "room": "py-live", "user": "viewer", "seconds": 3600, "reason": "spam"}))
        .await;
    let kicked = wait_for(&mut viewer_events, "t_kicked_from_room").await;
    assert_eq!(kicked["data"]["userID"], "viewer", "{kicked}");
    assert_eq!(kicked["data"]["banned"], true, "{kicked}");
    assert_eq!(kicked["data"]["reason"], "spam", "{kicked}");
    let removed = wait_for(&mut fan_events, "t_member_removed").await;
    assert_eq!(removed["data"]["userID"], "viewer");
    let again = viewer.enter_room("py-live").await.expect_err("banned");
    assert_eq!(again.code, 10007, "{again:?}");

    // The end of the show: the fan, still in the room, is told.
    backend
        .ok(json!({"op": "close_show", "room": "py-live"}))
        .await;
    wait_for(&mut fan_events, "t_room_dismissed").await;

    // A FAIL envelope, read as Tencent's: the room is gone.
    let late = backend
        .op(json!({"op": "gift", "room": "py-live", "from": "host", "gift": "rose"}))
        .await;
    assert_eq!(late["ok"], false, "{late}");
    assert_eq!(late["code"], 10010, "{late}");
    assert_eq!(late["command"], "group_open_http_svc/send_group_msg");

    // What the webhook saw: every message, before it went out, each callback signed.
    let log = hook_log_until(&mut backend, "Group.CallbackAfterGroupDestroyed").await;
    for entry in &log {
        assert_eq!(entry["signed"], true, "signed with the token: {entry}");
        assert_eq!(entry["query"]["SdkAppid"], APP.to_string(), "{entry}");
        assert_eq!(
            entry["query"]["CallbackCommand"], entry["body"]["CallbackCommand"],
            "{entry}"
        );
    }
    let before: Vec<&Value> = of_command(&log, "Group.CallbackBeforeSendMsg");
    let texts: Vec<&str> = before
        .iter()
        .map(|e| {
            let elem = &e["body"]["MsgBody"][0];
            elem["MsgContent"]["Text"]
                .as_str()
                .or(elem["MsgContent"]["Desc"].as_str())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        texts,
        ["hello from Vera", "cheap SPAM here", "rocket", "am I muted?"],
        "every message, in the order sent (the refused ones too: the backend is asked before the room's rules)"
    );
    for e in [before[0], before[1], before[3]] {
        assert_eq!(e["body"]["From_Account"], "viewer");
        assert_eq!(e["query"]["OptPlatform"], "Web");
        assert_eq!(e["query"]["ClientIP"], "127.0.0.1");
    }
    let gift_hook = before[2];
    assert_eq!(gift_hook["body"]["From_Account"], "host");
    assert_eq!(gift_hook["body"]["Operator_Account"], ADMIN);
    assert_eq!(gift_hook["body"]["GroupId"], "py-live");
    assert_eq!(gift_hook["body"]["MsgBody"][0]["MsgType"], "TIMCustomElem");
    assert_eq!(gift_hook["query"]["OptPlatform"], "RESTAPI");

    // Afterwards: what went out, with its sequence, and the room's life.
    let after: Vec<&Value> = of_command(&log, "Group.CallbackAfterSendMsg");
    let seqs: Vec<&Value> = after.iter().map(|e| &e["body"]["MsgSeq"]).collect();
    assert_eq!(
        seqs.len(),
        2,
        "no after-send for the refused message: {after:?}"
    );
    assert_eq!(seqs[1], &gift["MsgSeq"]);
    let exits = of_command(&log, "Group.CallbackAfterMemberExit");
    let banned = exits
        .iter()
        .find(|e| e["body"]["ExitMemberList"][0]["Member_Account"] == "viewer")
        .unwrap_or_else(|| panic!("the ban's exit: {exits:?}"));
    assert_eq!(banned["body"]["ExitType"], "Kicked");
    assert_eq!(banned["body"]["Operator_Account"], ADMIN);
    let created = of_command(&log, "Group.CallbackAfterCreateGroup");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["body"]["Owner_Account"], "host");
    assert_eq!(created[0]["body"]["Operator_Account"], ADMIN);
    backend.ok(json!({"op": "quit"})).await;
}

/// The backend's log of callbacks, once it holds one of `command` (after-events come
/// asynchronously).
async fn hook_log_until(backend: &mut Backend, command: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let answer = backend.ok(json!({"op": "hook_log"})).await;
        let log = answer["log"].as_array().expect("a log").clone();
        if !of_command(&log, command).is_empty() {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {command} callback within {SOON:?}: {log:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The log's entries for one `CallbackCommand`, in the order received.
fn of_command<'a>(log: &'a [Value], command: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["query"]["CallbackCommand"] == command)
        .collect()
}
