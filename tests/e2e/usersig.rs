//! UserSigs made by Tencent's own TLSSigAPIv2 libraries log in; bad ones get their 700xx code.

use std::process::Command;

use liveroom_tests::{Server, APP, KEY};

/// Runs the official Python library (`pip install tls-sig-api-v2`).
fn python_sig(user: &str, expire: i64) -> String {
    let script = format!(
        "import TLSSigAPIv2; print(TLSSigAPIv2.TLSSigAPIv2({APP}, '{KEY}').gen_sig('{user}', {expire}))"
    );
    run_tool(Command::new("python3").args(["-c", &script]))
}

/// Runs the official Node.js library (`npm install tls-sig-api-v2`, put in tests/.tools).
fn node_sig(user: &str, expire: i64) -> String {
    let module = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.tools/node_modules/tls-sig-api-v2"
    );
    let script = format!(
        "const Api = require('{module}'); console.log(new Api.Api({APP}, '{KEY}').genSig('{user}', {expire}))"
    );
    run_tool(Command::new("node").args(["-e", &script]))
}

fn run_tool(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the official signing library");
    assert!(
        out.status.success(),
        "official library failed (scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The Go library's shape: keys in sorted order and zlib without compression.
fn go_style_sig(user: &str) -> String {
    use base64::Engine as _;
    use std::io::Write;
    let doc = liveroom_usersig::decode(&liveroom_usersig::gen_usersig(APP, KEY, user, 3600))
        .expect("own sig decodes");
    let json = format!(
        r#"{{"TLS.expire":{},"TLS.identifier":"{}","TLS.sdkappid":{},"TLS.sig":"{}","TLS.time":{},"TLS.ver":"2.0"}}"#,
        doc.expire, doc.identifier, doc.sdk_app_id, doc.sig, doc.time
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
    z.write_all(json.as_bytes()).expect("zlib");
    let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().expect("zlib"));
    b64.replace('+', "*").replace('/', "-").replace('=', "_")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_node_and_go_style_sigs_log_in() {
    let server = Server::start();
    for (user, sig) in [
        ("py_user", python_sig("py_user", 3600)),
        ("node_user", node_sig("node_user", 3600)),
        ("go_user", go_style_sig("go_user")),
    ] {
        let im = server.engine();
        let r = im.login(user, &sig).await;
        assert!(r.is_ok(), "{user}: {r:?}");
        im.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sigs_get_their_codes() {
    let server = Server::start();
    let now = liveroom_usersig::now_secs();
    let cases = [
        // Official sig that expired an hour ago.
        (
            "alice",
            liveroom_usersig::gen_usersig_at(APP, KEY, "alice", now - 7200, 3600, None),
            70001,
        ),
        ("alice", "not-a-usersig".to_owned(), 70003),
        (
            "alice",
            liveroom_usersig::gen_usersig(APP, "forged-key", "alice", 3600),
            70009,
        ),
        ("alice", python_sig("mallory", 3600), 70013),
        (
            "alice",
            liveroom_usersig::gen_usersig(APP + 1, KEY, "alice", 3600),
            70014,
        ),
    ];
    for (user, sig, code) in cases {
        let im = server.engine();
        let err = im.login(user, &sig).await.expect_err("bad sig refused");
        assert_eq!(err.code, code, "{err}");
        assert!(!err.message.is_empty());
        im.shutdown().await;
    }
    // An SDKAppID the server does not know.
    let im = liveroom_engine::Im::new(APP + 7, server.url()).expect("engine");
    let err = im
        .login(
            "alice",
            &liveroom_usersig::gen_usersig(APP + 7, KEY, "alice", 60),
        )
        .await
        .expect_err("unknown app refused");
    assert_eq!(err.code, 70020, "{err}");
}
