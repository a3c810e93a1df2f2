//! The `liveroom-server` binary: startup line, serving, SIGTERM → graceful close (1001).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use liveroom_proto::close;

#[tokio::test]
async fn binary_prints_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveroom-server"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--app", &format!("{APP}:{KEY}")])
        .env_remove("LIVEROOM_APPS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("liveroom-server listening on http://")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();

    let mut c = Client::connect(&format!("ws://{addr}/ws")).await;
    c.hello(APP).await;
    c.login("alice").await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(c.closed().await, close::GOING_AWAY);
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(dir.path().join("liveroom.db").exists());
}
