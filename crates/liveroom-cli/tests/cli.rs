//! The `liveroom` binary against the real `liveroom-server` binary (both built next to this
//! test by `cargo build --workspace --bins`).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use liveroom_testkit::{bin, ServerProcess};

const APP: &str = "1400000777";
const KEY: &str = "cli-test-secret";

/// The real server for the test app.
fn server() -> ServerProcess {
    ServerProcess::start(APP.parse().expect("app id"), KEY, &[])
}

fn liveroom(server: &ServerProcess, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("liveroom"));
    cmd.args(args)
        .env("LIVEROOM_SERVER", format!("http://{}", server.addr()))
        .env("LIVEROOM_APP", APP)
        .env_remove("LIVEROOM_USER")
        .env_remove("LIVEROOM_SIG")
        .stdin(Stdio::null());
    cmd
}

fn run(server: &ServerProcess, args: &[&str]) -> Output {
    liveroom(server, args).output().expect("liveroom runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn sig(user: &str) -> String {
    let out = Command::new(bin("liveroom"))
        .args(["usersig", "--app", APP, "--key", KEY, "--user", user])
        .output()
        .expect("usersig runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn usersig_is_a_valid_tls_sig() {
    let s = sig("alice");
    let doc = liveroom_usersig::decode(&s).expect("decodes");
    assert_eq!(doc.identifier, "alice");
    assert_eq!(doc.sdk_app_id.to_string(), APP);
}

#[test]
fn create_send_tail_and_errors() {
    let server = server();
    let alice = sig("alice");
    let room = json(&run(
        &server,
        &[
            "create-room",
            "--user",
            "alice",
            "--sig",
            &alice,
            "--name",
            "CLI",
            "--room-id",
            "cli",
        ],
    ));
    assert_eq!(room["groupID"], "cli");
    assert_eq!(room["ownerID"], "alice");

    // A guest tails two messages; join/leave tips are printed but not counted.
    let tail = liveroom(&server, &["tail", "cli", "--count", "2", "--timeout", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail runs");
    std::thread::sleep(Duration::from_millis(500));

    let sent = json(&run(
        &server,
        &[
            "send",
            "cli",
            "hello",
            "--user",
            "alice",
            "--sig",
            &alice,
            "--priority",
            "High",
        ],
    ));
    assert_eq!(sent["payload"]["text"], "hello");
    assert_eq!(sent["priority"], "High");
    assert!(sent["ID"].as_str().is_some_and(|id| !id.is_empty()));
    let like = json(&run(
        &server,
        &[
            "send-custom",
            "cli",
            "--data",
            "like",
            "--user",
            "alice",
            "--sig",
            &alice,
        ],
    ));
    assert_eq!(like["payload"]["data"], "like");

    let out = tail.wait_with_output().expect("tail ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(names.contains(&"t_text_message_received"), "{names:?}");
    assert_eq!(
        names.last(),
        Some(&"t_custom_message_received"),
        "{names:?}"
    );

    // Failures: exit 1, `error CODE: message` on stderr.
    let wrong = Command::new(bin("liveroom"))
        .args(["usersig", "--app", APP, "--key", "wrong", "--user", "alice"])
        .output()
        .expect("usersig runs");
    let wrong = String::from_utf8_lossy(&wrong.stdout).trim().to_owned();
    let out = run(
        &server,
        &["send", "cli", "hi", "--user", "alice", "--sig", &wrong],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error 70009: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&server, &["send", "cli", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error 2999: "));

    let bob = sig("bob");
    let profile = json(&run(
        &server,
        &["profile", "--user", "bob", "--sig", &bob, "--nick", "Bobby"],
    ));
    assert_eq!(profile["nick"], "Bobby");
    let profile = json(&run(&server, &["profile", "--user", "bob", "--sig", &bob]));
    assert_eq!(profile["nick"], "Bobby");
    let out = run(
        &server,
        &["stop-push", "cli", "--user", "bob", "--sig", &bob],
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error 10007: "));
    let stopped = json(&run(
        &server,
        &[
            "stop-push",
            "cli",
            "--user",
            "alice",
            "--sig",
            &alice,
            "--postscript",
            "bye",
        ],
    ));
    assert_eq!(stopped["payload"]["description"], "bye");
}

#[test]
fn network_errors_are_reported() {
    let out = Command::new(bin("liveroom"))
        .args(["tail", "r", "--server", "ws://127.0.0.1:1", "--app", APP])
        .output()
        .expect("liveroom runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error 2800: "));
}

/// The first character of `text` a terminal would act on or reorder by, besides line ends:
/// C0, DEL, C1, bidi controls, line and paragraph separators.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(
                c,
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            )
    })
}

#[test]
fn text_from_the_server_reaches_the_terminal_with_control_characters_escaped() {
    let server = server();
    let alice = sig("alice");
    let bob = sig("bob");
    let as_user = |user: &str, sig: &str, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--user", user, "--sig", sig]);
        run(&server, &all)
    };
    json(&as_user(
        "alice",
        &alice,
        &["create-room", "--name", "Esc", "--room-id", "esc"],
    ));
    // A moderator's blocked word that would clear the screen (ESC and C1 CSI) and forge a
    // line; the server quotes it back in its 80001 refusal.
    let word = "x\u{1b}[2J\u{9b}31m\nerror 0: all good";
    let out = as_user("alice", &alice, &["blocked-words", "esc", "add", word]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(raw_control(stdout.trim_end()), None, "{stdout:?}");
    assert_eq!(json(&out)["room"], serde_json::json!([word]));

    let sent = format!("buy {word}");
    let out = as_user("bob", &bob, &["send", "esc", &sent]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(raw_control(&stderr), None, "{stderr:?}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, none forged: {stderr:?}"
    );
    assert!(
        stderr.starts_with("error 80001: ")
            && stderr.contains("x\\u{001b}[2j\\u{009b}31m\\nerror 0"),
        "{stderr:?}"
    );

    // Another user's text, with a window-title escape, a bell, a bidi override and a C1
    // next line, printed by `tail` from the history.
    let text = "hi \u{1b}]0;pwned\u{7}\u{202e}olleh\u{85}!";
    json(&as_user("bob", &bob, &["send", "esc", text]));
    let out = run(&server, &["tail", "esc", "--count", "1", "--timeout", "10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(raw_control(&stdout), None, "{stdout:?}");
    let texts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
        .filter(|e| e["name"] == "t_text_message_received")
        .flat_map(|e| e["data"].as_array().cloned().unwrap_or_default())
        .map(|m| m["payload"]["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [serde_json::json!(text)],
        "the same text to a JSON reader"
    );
}
