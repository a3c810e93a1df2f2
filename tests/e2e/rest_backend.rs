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

/// The backend script, run by `python3` from PATH; killed on drop.
struct Backend {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Backend {
    /// Starts the script, which refuses messages containing `refuse_word`, and waits for its
    /// webhook receiver to listen.
    async fn start(refuse_word: &str) -> Backend {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("backend/tencent_backend.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--app", &APP.to_string(), "--key", KEY, "--admin", ADMIN])
            .args(["--refuse-word", refuse_word])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 on PATH runs the backend");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = next_json(&mut lines).await;
        assert!(
            first["listening"].as_u64().is_some_and(|p| p > 0),
            "the backend says its webhook port first: {first}"
        );
        Backend {
            _child: child,
            stdin,
            lines,
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
async fn a_tencent_style_backend_runs_a_show_that_engines_watch() {
    let mut backend = Backend::start("spam").await;
    let server = Server::start_with(&["--admin", &format!("{APP}:{ADMIN}")]);
    backend
        .ok(json!({"op": "server", "url": server.http_url()}))
        .await;

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

    // The viewer's own messages carry the nick the backend imported for it.
    viewer
        .send_text_message("py-live", "hello from Vera", Priority::Normal)
        .await
        .expect("send");
    let got = wait_for(&mut fan_events, "t_text_message_received").await;
    assert_eq!(got["data"][0]["nick"], "Vera");

    backend
        .ok(json!({"op": "close_show", "room": "py-live"}))
        .await;
    wait_for(&mut viewer_events, "t_room_dismissed").await;
    wait_for(&mut fan_events, "t_room_dismissed").await;

    // A FAIL envelope, read as Tencent's: the room is gone.
    let late = backend
        .op(json!({"op": "gift", "room": "py-live", "from": "host", "gift": "rose"}))
        .await;
    assert_eq!(late["ok"], false, "{late}");
    assert_eq!(late["code"], 10010, "{late}");
    assert_eq!(late["command"], "group_open_http_svc/send_group_msg");
    backend.ok(json!({"op": "quit"})).await;
}
