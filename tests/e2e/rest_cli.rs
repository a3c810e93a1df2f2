//! `liveroom admin call` (the real CLI binary) against the real server's REST API: the
//! administrator's answers on stdout, FAIL answers as `error CODE: message` and exit 1, a bad
//! body refused before anything is sent, and a cluster list's first reachable node.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use liveroom_tests::{bin, json_out, sig, Server, APP};
use serde_json::{json, Value};

use crate::wait_for;

/// The app administrator every test here signs as.
const ADMIN: &str = "boss";

fn server() -> Server {
    Server::start_with(&["--admin", &format!("{APP}:{ADMIN}")])
}

/// `liveroom admin call PATH --json BODY` as the administrator.
fn admin_call(server: &Server, path: &str, body: &str) -> Output {
    server.cli_as(ADMIN, &["admin", "call", path, "--json", body])
}

/// The CLI's stderr, as text.
fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The answer printed on stdout, also for a failed call.
fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?} / stderr {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

/// Runs `liveroom ARGS` as the administrator against `server_list`, `stdin` piped in.
fn cli_with(server_list: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin("liveroom"))
        .args(args)
        .env("LIVEROOM_SERVER", server_list)
        .env("LIVEROOM_APP", APP.to_string())
        .env("LIVEROOM_USER", ADMIN)
        .env("LIVEROOM_SIG", sig(ADMIN))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run liveroom");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin).expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("liveroom ends")
}

/// A loopback address nothing listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("ws://{addr}")
}

#[tokio::test]
async fn an_operator_imports_creates_sends_and_destroys_through_the_cli() {
    let server = server();
    let imported = json_out(&admin_call(
        &server,
        "im_open_login_svc/account_import",
        r#"{"UserID":"host","Nick":"Host Ann"}"#,
    ));
    assert_eq!(imported["ActionStatus"], "OK", "{imported}");
    assert_eq!(imported["ErrorCode"], 0);
    let created = json_out(&admin_call(
        &server,
        // As copied from Tencent's docs: the leading v4/ is accepted.
        "v4/group_open_http_svc/create_group",
        r#"{"Owner_Account":"host","Type":"AVChatRoom","GroupId":"cli-rest","Name":"Ops room"}"#,
    ));
    assert_eq!(created["GroupId"], "cli-rest", "{created}");

    let viewer = server.login("viewer").await;
    let mut events = viewer.events();
    let entered = viewer
        .enter_room("cli-rest")
        .await
        .expect("the room exists");
    assert_eq!(entered.group.owner_id, "host");

    // The body from a file, the way operators keep longer ones.
    let dir = tempfile::tempdir().expect("tempdir");
    let gift = dir.path().join("gift.json");
    std::fs::write(
        &gift,
        json!({"GroupId": "cli-rest", "From_Account": "host", "MsgPriority": "High", "Random": 7,
               "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rocket"}}]})
        .to_string(),
    )
    .expect("write");
    let sent = json_out(&admin_call(
        &server,
        "group_open_http_svc/send_group_msg",
        &format!("@{}", gift.display()),
    ));
    assert_eq!(sent["ActionStatus"], "OK", "{sent}");
    let seq = sent["MsgSeq"].as_u64().expect("MsgSeq");
    let got = wait_for(&mut events, "t_custom_message_received").await;
    let msg = &got["data"][0];
    assert_eq!(msg["from"], "host");
    assert_eq!(msg["nick"], "Host Ann", "the imported nick");
    assert_eq!(msg["sequence"], seq);
    assert_eq!(msg["priority"], "High");
    assert_eq!(msg["payload"]["description"], "rocket");

    // The body from stdin.
    let out = cli_with(
        &server.url(),
        &[
            "admin",
            "call",
            "group_open_http_svc/destroy_group",
            "--json",
            "-",
        ],
        br#"{"GroupId": "cli-rest"}"#,
    );
    assert_eq!(json_out(&out)["ActionStatus"], "OK");
    wait_for(&mut events, "t_room_dismissed").await;
}

#[test]
fn a_fail_answer_exits_1_with_its_code_on_stderr_and_the_answer_on_stdout() {
    let server = server();
    let out = admin_call(
        &server,
        "group_open_http_svc/destroy_group",
        r#"{"GroupId":"nowhere"}"#,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error 10010: "), "{err}");
    let answer = stdout_json(&out);
    assert_eq!(answer["ActionStatus"], "FAIL");
    assert_eq!(answer["ErrorCode"], 10010);
    assert!(
        err.trim_end()
            .ends_with(answer["ErrorInfo"].as_str().expect("ErrorInfo")),
        "stderr carries the ErrorInfo: {err}"
    );

    // Not an app administrator: the server's refusal, the same way.
    let out = server.cli_as(
        "viewer",
        &[
            "admin",
            "call",
            "group_open_http_svc/create_group",
            "--json",
            r#"{"Type":"AVChatRoom","Name":"r"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error 60010: "),
        "{}",
        stderr(&out)
    );
    let out = server.cli_as(
        "viewer",
        &[
            "admin",
            "call",
            "im_open_login_svc/account_import",
            "--json",
            r#"{"UserID":"x"}"#,
        ],
    );
    assert!(
        stderr(&out).starts_with("error 70403: "),
        "{}",
        stderr(&out)
    );

    // A command the server does not have.
    let out = admin_call(&server, "group_open_http_svc/no_such_command", "{}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error 60009: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_body_or_command_is_refused_before_any_request() {
    // Nothing listens there: a request would fail as unreachable, not as bad input.
    let nowhere = dead_address();
    let cases: [(&[&str], &[u8], &str); 6] = [
        (
            &["group_open_http_svc/create_group", "--json", "{\"Name\": "],
            b"",
            "error 10004: --json: not JSON (",
        ),
        (
            &["group_open_http_svc/create_group", "--json", "[1, 2]"],
            b"",
            "error 10004: --json: the body must be a JSON object",
        ),
        (
            &["group_open_http_svc/create_group", "--json", "-"],
            b"Name=r",
            "error 10004: stdin: not JSON (",
        ),
        (
            &[
                "group_open_http_svc/create_group",
                "--json",
                "@/no/such/body.json",
            ],
            b"",
            "error 10004: --json @/no/such/body.json: ",
        ),
        (
            &["create_group", "--json", "{}"],
            b"",
            "error 10004: 'create_group' is not SERVICE/COMMAND",
        ),
        (
            &["group_open_http_svc/create_group?x=1", "--json", "{}"],
            b"",
            "error 10004: 'group_open_http_svc/create_group?x=1' is not SERVICE/COMMAND",
        ),
    ];
    for (args, stdin, expected) in cases {
        let mut all = vec!["admin", "call"];
        all.extend_from_slice(args);
        let out = cli_with(&nowhere, &all, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with(expected), "{args:?}: {err}");
        assert!(err.contains("nothing was sent"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    // Without the administrator's identity: said at once, nothing sent.
    let out = Command::new(bin("liveroom"))
        .args(["admin", "call", "group_open_http_svc/get_appid_group_list"])
        .env("LIVEROOM_SERVER", &nowhere)
        .env("LIVEROOM_APP", APP.to_string())
        .env_remove("LIVEROOM_USER")
        .env_remove("LIVEROOM_SIG")
        .output()
        .expect("run liveroom");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error 2999: not logged in: --user and --sig"),
        "{}",
        stderr(&out)
    );

    // And the check that it would have tried: a good body there is unreachable.
    let out = cli_with(
        &nowhere,
        &["admin", "call", "group_open_http_svc/destroy_group"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error 2800: no server reachable: "),
        "{err}"
    );
    assert!(
        !err.contains("usersig"),
        "the UserSig is not printed: {err}"
    );
}

#[test]
fn a_cluster_list_is_served_by_its_first_reachable_node() {
    let server = server();
    let list = format!("{},{}", dead_address(), server.url());
    let out = cli_with(
        &list,
        &[
            "admin",
            "call",
            "group_open_http_svc/create_group",
            "--json",
            r#"{"Type":"AVChatRoom","Name":"listed","GroupId":"listed"}"#,
        ],
        b"",
    );
    let created = json_out(&out);
    assert_eq!(created["ActionStatus"], "OK", "{created}");
    assert_eq!(created["GroupId"], "listed");
}
