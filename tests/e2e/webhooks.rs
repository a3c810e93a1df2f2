//! Webhooks (Tencent's callbacks) against the real server: a backend that is a real HTTP
//! server inside the test records every callback (query and body) and answers as each test
//! tells it. Before-send allows, refuses, drops, replaces, is slow or down; the after-events
//! arrive in order with Tencent's bodies and query; signing; the queue's counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_engine::Im;
use liveroom_tests::{sig, Server, APP};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::{assert_no_event, wait_for, SOON};

/// The REST API's administrator.
const ADMIN: &str = "boss";

/// One callback the backend received.
#[derive(Debug, Clone)]
struct Call {
    /// The query as sent.
    raw_query: String,
    query: HashMap<String, String>,
    body: Value,
}

impl Call {
    fn command(&self) -> &str {
        self.query.get("CallbackCommand").map_or("", String::as_str)
    }

    fn group(&self) -> &str {
        self.body["GroupId"].as_str().unwrap_or_default()
    }

    /// The text of a message callback's `MsgBody`.
    fn text(&self) -> &str {
        self.body["MsgBody"][0]["MsgContent"]["Text"]
            .as_str()
            .unwrap_or_default()
    }
}

/// How the backend answers one callback.
enum Answer {
    /// 200 with this JSON.
    Json(Value),
    /// 200 with this JSON after a pause.
    Slow(Duration, Value),
    /// This HTTP status.
    Status(u16),
    /// 200 with a body that is not JSON.
    NotJson,
}

fn ok() -> Value {
    json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
}

fn code(c: i64, info: &str) -> Value {
    json!({"ActionStatus": "OK", "ErrorCode": c, "ErrorInfo": info})
}

type Decide = Box<dyn Fn(&Call) -> Answer + Send + Sync>;

/// What the backend's handler shares with the test.
struct Seen {
    calls: Mutex<Vec<Call>>,
    arrived: Notify,
    decide: Mutex<Decide>,
}

/// The app's backend: a real HTTP server on loopback.
struct Backend {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl Backend {
    /// Starts answering every callback with `ErrorCode` 0.
    async fn start() -> Self {
        let seen = Arc::new(Seen {
            calls: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            decide: Mutex::new(Box::new(|_| Answer::Json(ok()))),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    /// The callback URL, with a query of its own the server must keep.
    fn url(&self) -> String {
        format!("http://{}/im/callback?key=k1", self.addr)
    }

    /// `--callback APP:URL`.
    fn flag(&self) -> String {
        format!("{APP}:{}", self.url())
    }

    /// From now on, answers as `decide` says.
    fn answer(&self, decide: impl Fn(&Call) -> Answer + Send + Sync + 'static) {
        *self.seen.decide.lock().unwrap() = Box::new(decide);
    }

    /// Every callback received so far.
    fn calls(&self) -> Vec<Call> {
        self.seen.calls.lock().unwrap().clone()
    }

    /// The callbacks of `command` received so far.
    fn of(&self, command: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.command() == command)
            .collect()
    }

    /// Waits for the first callback received that `pred` accepts.
    async fn wait(&self, what: &str, pred: impl Fn(&Call) -> bool) -> Call {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let arrived = self.seen.arrived.notified();
            if let Some(c) = self.calls().into_iter().find(|c| pred(c)) {
                return c;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("no {what} callback within {SOON:?}: {:#?}", self.calls());
            }
        }
    }

    /// Waits for the callback of `command` whose body's `field` is `value`.
    async fn wait_for(&self, command: &str, field: &str, value: &str) -> Call {
        self.wait(&format!("{command} {field}={value}"), |c| {
            c.command() == command && c.body[field] == value
        })
        .await
    }
}

async fn receive(
    State(seen): State<Arc<Seen>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw_query = query.unwrap_or_default();
    let parsed = reqwest::Url::parse(&format!("http://x/?{raw_query}")).unwrap();
    let call = Call {
        query: parsed.query_pairs().into_owned().collect(),
        raw_query,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let answer = (seen.decide.lock().unwrap())(&call);
    seen.calls.lock().unwrap().push(call);
    seen.arrived.notify_waiters();
    match answer {
        Answer::Json(v) => axum::Json(v).into_response(),
        Answer::Slow(pause, v) => {
            tokio::time::sleep(pause).await;
            axum::Json(v).into_response()
        }
        Answer::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Answer::NotJson => "<html>fine</html>".into_response(),
    }
}

/// A server for the test app with `flags` (each flag and value a separate string).
fn server(flags: &[String]) -> Server {
    let mut all: Vec<&str> = vec!["--admin"];
    let admin = format!("{APP}:{ADMIN}");
    all.push(&admin);
    all.extend(flags.iter().map(String::as_str));
    Server::start_with(&all)
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `user` logged in, owning room `id`, in it.
async fn host_of(server: &Server, user: &str, id: &str) -> Im {
    let im = server.login(user).await;
    im.create_room(CreateRoomOptions {
        name: format!("room {id}"),
        room_id: Some(id.into()),
        ..Default::default()
    })
    .await
    .expect("create room");
    im.enter_room(id).await.expect("enter");
    im
}

async fn viewer_in(server: &Server, user: &str, room: &str) -> Im {
    let im = server.login(user).await;
    im.enter_room(room).await.expect("enter");
    im
}

async fn send(im: &Im, room: &str, text: &str) -> Result<liveroom_engine::proto::Message, u32> {
    im.send_text_message(room, text, Priority::Normal)
        .await
        .map_err(|e| e.code)
}

/// The server's webhook counters of the test app (`GET /healthz/webhooks`).
async fn counters(server: &Server) -> Value {
    let v: Value = reqwest::get(format!("{}/healthz/webhooks", server.http_url()))
        .await
        .expect("healthz answers")
        .json()
        .await
        .expect("JSON");
    v["apps"][APP.to_string()].clone()
}

/// REST `POST /v4/...` as the administrator.
async fn rest(server: &Server, path: &str, body: Value) -> Value {
    let url = format!(
        "{}/v4/{path}?sdkappid={APP}&identifier={ADMIN}&usersig={}&random=1&contenttype=json",
        server.http_url(),
        sig(ADMIN)
    );
    reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON envelope")
}

/// The counters once `done` holds of them (within [`SOON`]).
async fn settled(server: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SOON;
    loop {
        let c = counters(server).await;
        if done(&c) {
            return c;
        }
        assert!(Instant::now() < deadline, "counters never settled: {c}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The query every callback carries, from a WebSocket client on loopback (`Web`) or the REST
/// API (`RESTAPI`, no client address).
fn assert_query(c: &Call, command: &str, platform: &str) {
    assert_eq!(c.query["key"], "k1", "the URL's own query is kept");
    assert_eq!(c.query["SdkAppid"], APP.to_string());
    assert_eq!(c.query["CallbackCommand"], command);
    assert_eq!(c.query["contenttype"], "json");
    assert_eq!(c.query["OptPlatform"], platform);
    let ip = if platform == "Web" { "127.0.0.1" } else { "" };
    assert_eq!(c.query["ClientIP"], ip, "{command}");
    assert_eq!(c.body["CallbackCommand"], command);
    let t = c.body["EventTime"].as_i64().expect("EventTime in ms");
    assert!((now_ms() - t).abs() < 60_000, "EventTime is unix ms: {t}");
}

#[tokio::test]
async fn before_send_allows_refuses_drops_and_replaces() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.text()) {
        ("Group.CallbackBeforeSendMsg", "refuse me") => Answer::Json(code(1, "")),
        ("Group.CallbackBeforeSendMsg", "banned") => Answer::Json(code(10101, "banned word")),
        ("Group.CallbackBeforeSendMsg", "drop me") => Answer::Json(code(2, "")),
        ("Group.CallbackBeforeSendMsg", "hello darn world") => Answer::Json(json!({
            "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello **** world"}}]})),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&["--callback", &backend.flag()]));
    let host = host_of(&server, "host", "vet").await;
    let viewer = viewer_in(&server, "viewer", "vet").await;
    let mut events = viewer.events();

    let sent = send(&host, "vet", "hello").await.expect("allowed");
    let got = wait_for(&mut events, "t_text_message_received").await;
    assert_eq!(got["data"][0]["payload"]["text"], "hello");
    let asked = backend
        .wait("before-send of hello", |c| {
            c.command() == "Group.CallbackBeforeSendMsg" && c.text() == "hello"
        })
        .await;
    assert_query(&asked, "Group.CallbackBeforeSendMsg", "Web");
    let b = &asked.body;
    assert_eq!(b["GroupId"], "vet");
    assert_eq!(b["Type"], "AVChatRoom");
    assert_eq!(b["From_Account"], "host");
    assert_eq!(b["Operator_Account"], "host");
    assert_eq!(b["OnlineOnlyFlag"], 0);
    assert!(b["Random"].is_u64(), "{b}");
    assert_eq!(
        b["MsgBody"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}])
    );

    // 1: refused with 10016.
    assert_eq!(send(&host, "vet", "refuse me").await.unwrap_err(), 10016);
    // A code in [10100, 10200] reaches the sender with the backend's ErrorInfo.
    let e = host
        .send_text_message("vet", "banned", Priority::Normal)
        .await
        .expect_err("refused");
    assert_eq!((e.code, e.message.as_str()), (10101, "banned word"));
    // 2: the sender sees a success; nobody receives it, it takes no place in the room.
    let dropped = send(&host, "vet", "drop me").await.expect("looks sent");
    assert_eq!(dropped.sequence, 0, "a dropped message is not in the room");
    // 0 with a MsgBody: what the room receives is the replacement.
    let replaced = send(&host, "vet", "hello darn world").await.expect("sent");
    assert_eq!(
        replaced.sequence,
        sent.sequence + 1,
        "the refused and the dropped took no sequence"
    );
    let got = wait_for(&mut events, "t_text_message_received").await;
    assert_eq!(
        got["data"][0]["payload"]["text"], "hello **** world",
        "viewers get the backend's text, and nothing of the refused or dropped ones"
    );
    let late = server.login("late").await;
    let mut late_events = late.events();
    late.enter_room("vet").await.expect("enter");
    let history = crate::messages(&mut late_events, "t_text_message_received", 2).await;
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["hello", "hello **** world"], "the history too");

    // After-send only for what the room accepted, with the body it accepted.
    let after = backend
        .wait("after-send of the replacement", |c| {
            c.command() == "Group.CallbackAfterSendMsg" && c.text() == "hello **** world"
        })
        .await;
    assert_eq!(after.body["MsgSeq"], replaced.sequence);
    let sent_after: Vec<String> = backend
        .of("Group.CallbackAfterSendMsg")
        .iter()
        .map(|c| c.text().to_owned())
        .collect();
    assert_eq!(sent_after, ["hello", "hello **** world"]);
    let c = counters(&server).await;
    let before = &c["before_send"];
    assert_eq!(
        (
            &before["calls"],
            &before["allowed"],
            &before["refused"],
            &before["dropped"],
            &before["replaced"]
        ),
        (&json!(5), &json!(1), &json!(2), &json!(1), &json!(1)),
        "{c}"
    );

    // Stop-push is the owner's own control: the backend is not asked, whatever it would say.
    backend.answer(|c| match c.command() {
        "Group.CallbackBeforeSendMsg" => Answer::Json(code(1, "")),
        _ => Answer::Json(ok()),
    });
    let stopped = host.stop_push("vet", "bye").await.expect("not vetted");
    assert!(stopped.sequence > replaced.sequence);
    assert_eq!(backend.of("Group.CallbackBeforeSendMsg").len(), 5);
    assert_eq!(send(&host, "vet", "after").await.unwrap_err(), 10016);
}

#[tokio::test]
async fn a_slow_backend_delays_its_own_room_only_and_the_message_goes_out_after_the_limit() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.group()) {
        ("Group.CallbackBeforeSendMsg", "slow") => Answer::Slow(Duration::from_secs(10), ok()),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-timeout",
        "0.5",
    ]));
    let host = host_of(&server, "host", "slow").await;
    let other = host_of(&server, "other", "fast").await;
    let viewer = viewer_in(&server, "viewer", "slow").await;
    let mut events = viewer.events();

    let started = Instant::now();
    let slow = tokio::spawn(async move { send(&host, "slow", "waits").await });
    backend
        .wait_for("Group.CallbackBeforeSendMsg", "GroupId", "slow")
        .await;
    // While the slow room's send waits on the backend, another room's goes through.
    send(&other, "fast", "meanwhile").await.expect("sent");
    assert!(
        !slow.is_finished(),
        "the other room's send did not wait for the slow one"
    );
    let sent = slow
        .await
        .unwrap()
        .expect("let through when the time limit passed");
    let took = started.elapsed();
    assert!(sent.sequence > 0);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "held for about the time limit: {took:?}"
    );
    let got = wait_for(&mut events, "t_text_message_received").await;
    assert_eq!(got["data"][0]["payload"]["text"], "waits");
    let c = counters(&server).await;
    assert_eq!(c["before_send"]["timeouts"], 1, "{c}");
}

#[tokio::test]
async fn sends_made_together_behind_a_hung_backend_wait_one_time_limit_and_keep_their_order() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.group()) {
        ("Group.CallbackBeforeSendMsg", "hung") => Answer::Slow(Duration::from_secs(30), ok()),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-timeout",
        "1",
    ]));
    let host = host_of(&server, "host", "hung").await;
    let viewer = viewer_in(&server, "viewer", "hung").await;
    let mut viewer_events = viewer.events();
    let mut host_events = host.events();

    // Three sends made at once on one connection: each waits the time limit side by side,
    // not one after another (which would take three limits).
    let started = Instant::now();
    let sends = {
        let host = host.clone();
        tokio::spawn(async move {
            tokio::join!(
                send(&host, "hung", "one"),
                send(&host, "hung", "two"),
                send(&host, "hung", "three")
            )
        })
    };
    let deadline = Instant::now() + SOON;
    while backend.of("Group.CallbackBeforeSendMsg").len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the three sends are vetted at once: {:#?}",
            backend.calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meanwhile the waiting connection still gets the room's frames.
    let tip = json!({"GroupId": "hung", "Content": "while you wait"});
    assert_eq!(
        rest(
            &server,
            "group_open_http_svc/send_group_system_notification",
            tip
        )
        .await["ActionStatus"],
        "OK"
    );
    let notice = wait_for(&mut host_events, "t_group_system_notice").await;
    assert!(
        !sends.is_finished(),
        "the notice came while the sends waited: {notice}"
    );
    let (one, two, three) = sends.await.unwrap();
    let took = started.elapsed();
    let seqs = [one, two, three].map(|r| r.expect("let through after the limit").sequence);
    assert!(
        took < Duration::from_millis(2500),
        "about one time limit for all three, not three: {took:?}"
    );
    assert!(
        seqs[0] < seqs[1] && seqs[1] < seqs[2],
        "in the order made: {seqs:?}"
    );
    let mut texts = Vec::new();
    while texts.len() < 3 {
        let got = wait_for(&mut viewer_events, "t_text_message_received").await;
        for m in got["data"].as_array().unwrap() {
            texts.push(m["payload"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(texts, ["one", "two", "three"]);
}

#[tokio::test]
async fn the_refuse_policy_answers_80003_for_a_timeout_an_http_error_or_not_json() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.text()) {
        ("Group.CallbackBeforeSendMsg", "slow") => Answer::Slow(Duration::from_secs(10), ok()),
        ("Group.CallbackBeforeSendMsg", "error") => Answer::Status(500),
        ("Group.CallbackBeforeSendMsg", "html") => Answer::NotJson,
        ("Group.CallbackBeforeSendMsg", "odd") => Answer::Json(code(3, "")),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-timeout",
        "0.3",
        "--callback-on-timeout",
        "refuse",
    ]));
    let host = host_of(&server, "host", "strict").await;
    for text in ["slow", "error", "html", "odd"] {
        let e = host
            .send_text_message("strict", text, Priority::Normal)
            .await
            .expect_err("refused");
        assert_eq!(e.code, 80003, "{text}: {}", e.message);
    }
    send(&host, "strict", "fine")
        .await
        .expect("an answer lets it through");
    let c = counters(&server).await;
    assert_eq!(c["before_send"]["timeouts"], 1, "{c}");
    assert_eq!(c["before_send"]["failures"], 3, "{c}");
}

#[tokio::test]
async fn sends_go_through_when_the_backend_is_down() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("{APP}:http://127.0.0.1:{port}/cb");
    let server = server(&flags(&["--callback", &down]));
    let host = host_of(&server, "host", "down").await;
    let viewer = viewer_in(&server, "viewer", "down").await;
    let mut events = viewer.events();
    let started = Instant::now();
    for i in 0..3 {
        send(&host, "down", &format!("m{i}")).await.expect("sent");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refused connection fails at once"
    );
    let got = crate::messages(&mut events, "t_text_message_received", 3).await;
    assert_eq!(got.len(), 3);
    let c = counters(&server).await;
    assert_eq!(c["before_send"]["failures"], 3, "{c}");
}

#[tokio::test]
async fn past_the_in_flight_cap_the_policy_decides_at_once() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.group()) {
        ("Group.CallbackBeforeSendMsg", "stuck") => Answer::Slow(Duration::from_secs(30), ok()),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-in-flight",
        "1",
        "--callback-timeout",
        "5",
    ]));
    let stuck = host_of(&server, "a", "stuck").await;
    let free = host_of(&server, "b", "free").await;
    let held = tokio::spawn(async move { send(&stuck, "stuck", "holds the slot").await });
    backend
        .wait_for("Group.CallbackBeforeSendMsg", "GroupId", "stuck")
        .await;
    let started = Instant::now();
    send(&free, "free", "not asked")
        .await
        .expect("allowed at once");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not held for the 5 s time limit"
    );
    assert!(!held.is_finished());
    let c = counters(&server).await;
    assert_eq!(c["before_send"]["busy"], 1, "{c}");
    assert!(
        backend
            .of("Group.CallbackBeforeSendMsg")
            .iter()
            .all(|c| c.group() == "stuck"),
        "the second send was never POSTed"
    );
    held.abort();
}

#[tokio::test]
async fn after_events_arrive_in_order_with_tencents_bodies_and_query() {
    let backend = Backend::start().await;
    let server = server(&flags(&["--callback", &backend.flag()]));

    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: "Evening".into(),
        room_id: Some("ev".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("ev").await.unwrap();
    let viewer = viewer_in(&server, "viewer", "ev").await;
    let msg = send(&host, "ev", "hi all").await.unwrap();
    viewer.exit_room("ev").await.unwrap();
    viewer.enter_room("ev").await.unwrap();
    host.kick_member("ev", "viewer", "spam").await.unwrap();
    let v2 = viewer_in(&server, "v2", "ev").await;
    host.ban_member("ev", "v2", Some(60), "spam").await.unwrap();
    viewer.logout().await.unwrap();
    let v3 = viewer_in(&server, "v3", "ev").await;
    v3.shutdown().await;
    // The server notices the closed socket on its own time: the room goes after that.
    backend
        .wait("v3's disconnect", |c| {
            c.body["Info"]["Action"] == "Disconnect"
        })
        .await;
    host.dismiss_room("ev").await.unwrap();

    let destroyed = backend
        .wait_for("Group.CallbackAfterGroupDestroyed", "GroupId", "ev")
        .await;
    assert_query(&destroyed, "Group.CallbackAfterGroupDestroyed", "Web");
    assert_eq!(destroyed.body["Owner_Account"], "host");
    assert_eq!(destroyed.body["Name"], "Evening");
    assert_eq!(destroyed.body["Type"], "AVChatRoom");
    assert_eq!(destroyed.body["MemberList"], json!([]));

    // Everything, in order (one worker per app sends them one at a time).
    let seen: Vec<String> = backend
        .calls()
        .iter()
        .map(|c| {
            let who = match c.command() {
                "State.StateChange" => format!(
                    "{} {} {}",
                    c.body["Info"]["To_Account"].as_str().unwrap_or_default(),
                    c.body["Info"]["Action"].as_str().unwrap_or_default(),
                    c.body["Info"]["Reason"].as_str().unwrap_or_default()
                ),
                "Group.CallbackAfterNewMemberJoin" => {
                    c.body["NewMemberList"][0]["Member_Account"].to_string()
                }
                "Group.CallbackAfterMemberExit" => format!(
                    "{} {} by {}",
                    c.body["ExitMemberList"][0]["Member_Account"],
                    c.body["ExitType"],
                    c.body["Operator_Account"]
                ),
                "Group.CallbackAfterSendMsg" => c.text().to_owned(),
                _ => String::new(),
            };
            format!("{} {who}", c.command())
        })
        .filter(|s| !s.starts_with("Group.CallbackBeforeSendMsg"))
        .collect();
    let expected = [
        "State.StateChange host Login Register",
        "Group.CallbackAfterCreateGroup ",
        "Group.CallbackAfterNewMemberJoin \"host\"",
        "State.StateChange viewer Login Register",
        "Group.CallbackAfterNewMemberJoin \"viewer\"",
        "Group.CallbackAfterSendMsg hi all",
        "Group.CallbackAfterMemberExit \"viewer\" \"Quit\" by \"viewer\"",
        "Group.CallbackAfterNewMemberJoin \"viewer\"",
        "Group.CallbackAfterMemberExit \"viewer\" \"Kicked\" by \"host\"",
        "State.StateChange v2 Login Register",
        "Group.CallbackAfterNewMemberJoin \"v2\"",
        "Group.CallbackAfterMemberExit \"v2\" \"Kicked\" by \"host\"",
        "State.StateChange viewer Logout Unregister",
        "State.StateChange v3 Login Register",
        "Group.CallbackAfterNewMemberJoin \"v3\"",
        "Group.CallbackAfterMemberExit \"v3\" \"Quit\" by \"v3\"",
        "State.StateChange v3 Disconnect LinkClose",
        "Group.CallbackAfterGroupDestroyed ",
    ];
    assert_eq!(seen, expected);

    let calls = backend.calls();
    let find = |pred: &dyn Fn(&Call) -> bool| calls.iter().find(|c| pred(c)).cloned().unwrap();
    let created = find(&|c| c.command() == "Group.CallbackAfterCreateGroup");
    assert_query(&created, "Group.CallbackAfterCreateGroup", "Web");
    assert_eq!(
        (
            &created.body["GroupId"],
            &created.body["Operator_Account"],
            &created.body["Owner_Account"],
            &created.body["Type"],
            &created.body["Name"],
            &created.body["MemberList"],
            &created.body["UserDefinedDataList"]
        ),
        (
            &json!("ev"),
            &json!("host"),
            &json!("host"),
            &json!("AVChatRoom"),
            &json!("Evening"),
            &json!([]),
            &json!([])
        )
    );
    let joined = find(&|c| c.command() == "Group.CallbackAfterNewMemberJoin");
    assert_query(&joined, "Group.CallbackAfterNewMemberJoin", "Web");
    assert_eq!(joined.body["JoinType"], "Apply");
    assert_eq!(joined.body["Operator_Account"], "host");
    assert_eq!(joined.body["GroupId"], "ev");
    let after = find(&|c| c.command() == "Group.CallbackAfterSendMsg");
    assert_query(&after, "Group.CallbackAfterSendMsg", "Web");
    let b = &after.body;
    assert_eq!(b["GroupId"], "ev");
    assert_eq!(b["From_Account"], "host");
    assert_eq!(b["Operator_Account"], "host");
    assert_eq!(b["MsgSeq"], msg.sequence);
    assert_eq!(b["MsgTime"], msg.time);
    assert_eq!(b["MsgId"], msg.id);
    assert_eq!(b["OnlineOnlyFlag"], 0);
    let before = find(&|c| c.command() == "Group.CallbackBeforeSendMsg");
    assert_eq!(b["Random"], before.body["Random"], "one send, one Random");
    let kicked =
        find(&|c| c.command() == "Group.CallbackAfterMemberExit" && c.body["ExitType"] == "Kicked");
    assert_query(&kicked, "Group.CallbackAfterMemberExit", "Web");
    let state = find(&|c| c.command() == "State.StateChange");
    assert_query(&state, "State.StateChange", "Web");
    let c = settled(&server, |c| c["after"]["delivered"] == expected.len()).await;
    assert_eq!(c["after"]["dropped"], 0, "{c}");
    assert_eq!(c["after"]["queued"], expected.len(), "{c}");
    drop(v2);
}

#[tokio::test]
async fn the_rest_api_goes_through_the_webhooks_as_restapi() {
    let backend = Backend::start().await;
    backend.answer(|c| match (c.command(), c.text()) {
        ("Group.CallbackBeforeSendMsg", "banned") => Answer::Json(code(10150, "not here")),
        ("Group.CallbackBeforeSendMsg", "no") => Answer::Json(code(1, "")),
        _ => Answer::Json(ok()),
    });
    let server = server(&flags(&["--callback", &backend.flag()]));
    let created = rest(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "host", "Type": "AVChatRoom", "GroupId": "api", "Name": "Api show"}),
    )
    .await;
    assert_eq!(created["ErrorCode"], 0, "{created}");
    let c = backend
        .wait_for("Group.CallbackAfterCreateGroup", "GroupId", "api")
        .await;
    assert_query(&c, "Group.CallbackAfterCreateGroup", "RESTAPI");
    assert_eq!(c.body["Operator_Account"], ADMIN);
    assert_eq!(c.body["Owner_Account"], "host");

    let viewer = viewer_in(&server, "viewer", "api").await;
    let mut events = viewer.events();
    let text = |t: &str, random: u32| {
        json!({"GroupId": "api", "From_Account": "host", "Random": random,
               "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}]})
    };
    let sent = rest(
        &server,
        "group_open_http_svc/send_group_msg",
        text("gift!", 77),
    )
    .await;
    assert_eq!(sent["ErrorCode"], 0, "{sent}");
    let got = wait_for(&mut events, "t_text_message_received").await;
    assert_eq!(got["data"][0]["payload"]["text"], "gift!");
    let asked = backend
        .wait("REST before-send", |c| {
            c.command() == "Group.CallbackBeforeSendMsg" && c.text() == "gift!"
        })
        .await;
    assert_query(&asked, "Group.CallbackBeforeSendMsg", "RESTAPI");
    assert_eq!(asked.body["From_Account"], "host");
    assert_eq!(asked.body["Operator_Account"], ADMIN);
    assert_eq!(asked.body["Random"], 77, "the REST call's Random");
    let after = backend
        .wait("REST after-send", |c| {
            c.command() == "Group.CallbackAfterSendMsg" && c.text() == "gift!"
        })
        .await;
    assert_query(&after, "Group.CallbackAfterSendMsg", "RESTAPI");
    assert_eq!(after.body["MsgSeq"], sent["MsgSeq"]);
    assert_eq!(after.body["MsgTime"], sent["MsgTime"]);

    let refused = rest(
        &server,
        "group_open_http_svc/send_group_msg",
        text("banned", 78),
    )
    .await;
    assert_eq!(
        (
            &refused["ActionStatus"],
            &refused["ErrorCode"],
            &refused["ErrorInfo"]
        ),
        (&json!("FAIL"), &json!(10150), &json!("not here")),
        "{refused}"
    );
    let refused = rest(
        &server,
        "group_open_http_svc/send_group_msg",
        text("no", 79),
    )
    .await;
    assert_eq!(refused["ErrorCode"], 10016, "{refused}");
    assert_no_event(
        &mut events,
        "t_text_message_received",
        Duration::from_millis(200),
    )
    .await;

    let destroyed = rest(
        &server,
        "group_open_http_svc/destroy_group",
        json!({"GroupId": "api"}),
    )
    .await;
    assert_eq!(destroyed["ErrorCode"], 0, "{destroyed}");
    let d = backend
        .wait_for("Group.CallbackAfterGroupDestroyed", "GroupId", "api")
        .await;
    assert_query(&d, "Group.CallbackAfterGroupDestroyed", "RESTAPI");
    assert_eq!(d.body["Owner_Account"], "host");
    assert_eq!(d.body["Name"], "Api show");
}

#[tokio::test]
async fn a_token_signs_every_callback() {
    const TOKEN: &str = "s3cret-token";
    let backend = Backend::start().await;
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-token",
        &format!("{APP}:{TOKEN}"),
    ]));
    let host = host_of(&server, "host", "signed").await;
    send(&host, "signed", "hi").await.unwrap();
    backend
        .wait_for("Group.CallbackAfterSendMsg", "GroupId", "signed")
        .await;
    let calls = backend.calls();
    assert!(calls.len() >= 5, "{calls:#?}");
    for c in &calls {
        // What a receiver does: recompute hex(sha256(token + RequestTime)) and compare.
        let time = &c.query["RequestTime"];
        let expected: String = Sha256::digest(format!("{TOKEN}{time}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(c.query["Sign"], expected, "{}", c.raw_query);
        let t: i64 = time.parse().expect("RequestTime in unix seconds");
        assert!((now_ms() / 1000 - t).abs() < 60, "{t}");
        assert!(
            c.raw_query
                .ends_with(&format!("&Sign={expected}&RequestTime={time}")),
            "appended after Tencent's query: {}",
            c.raw_query
        );
    }
}

#[tokio::test]
async fn a_full_queue_drops_events_and_counts_them_and_a_failed_event_is_retried() {
    let backend = Backend::start().await;
    // The first login's event fails once, then the backend hangs on every after-event.
    backend.answer(
        |c| match (c.command(), c.body["Info"]["To_Account"].as_str()) {
            ("Group.CallbackBeforeSendMsg", _) => Answer::Json(ok()),
            (_, Some("first")) => Answer::Status(503),
            _ => Answer::Slow(Duration::from_secs(30), ok()),
        },
    );
    let server = server(&flags(&[
        "--callback",
        &backend.flag(),
        "--callback-queue",
        "2",
        "--callback-timeout",
        "10",
    ]));
    let first = server.login("first").await;
    backend
        .wait("the first try", |c| c.command() == "State.StateChange")
        .await;
    backend.answer(
        |c| match (c.command(), c.body["Info"]["To_Account"].as_str()) {
            ("Group.CallbackBeforeSendMsg", _) | (_, Some("first")) => Answer::Json(ok()),
            _ => Answer::Slow(Duration::from_secs(30), ok()),
        },
    );
    // Tried again after a pause, and delivered then.
    settled(&server, |c| c["after"]["delivered"] == 1).await;
    assert_eq!(
        backend
            .calls()
            .iter()
            .filter(|c| c.body["Info"]["To_Account"] == "first")
            .count(),
        2,
        "the same event, twice"
    );
    // Now the worker hangs on the next event; the queue holds 2; the rest are dropped.
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(server.login(&format!("u{i}")).await);
    }
    let c = counters(&server).await;
    let after = &c["after"];
    assert_eq!(
        after["queued"].as_u64().unwrap() + after["dropped"].as_u64().unwrap(),
        7,
        "{c}"
    );
    assert!(after["dropped"].as_u64().unwrap() >= 3, "{c}");
    assert_eq!(after["retried"], 1, "{c}");
    assert_eq!(after["pending"], 2, "{c}");
    // Sends never wait for the queue.
    let started = Instant::now();
    first
        .create_room(CreateRoomOptions {
            name: "r".into(),
            room_id: Some("q".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    first.enter_room("q").await.unwrap();
    send(&first, "q", "still fast").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}
