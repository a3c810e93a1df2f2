//! The `liveroom` command-line client against the real server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use liveroom_tests::{bin, json_out, Server, APP, KEY};
use serde_json::Value;

#[test]
fn usersig_command_signs_verifiable_sigs() {
    let out = Command::new(bin("liveroom"))
        .args([
            "usersig",
            "--app",
            &APP.to_string(),
            "--key",
            KEY,
            "--user",
            "cli_user",
            "--expire",
            "600",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let text = text.trim();
    let sig = serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned());
    let doc = liveroom_usersig::verify(&sig, APP, KEY, "cli_user", liveroom_usersig::now_secs())
        .expect("the printed sig verifies");
    assert_eq!(doc.expire, 600);
}

#[test]
fn create_send_tail_stop_push_profile() {
    let server = Server::start();
    let room = json_out(&server.cli_as(
        "host",
        &[
            "create-room",
            "--name",
            "CLI room",
            "--room-id",
            "cli",
            "--notification",
            "hi all",
        ],
    ));
    assert_eq!(room["groupID"], "cli");
    assert_eq!(room["notification"], "hi all");

    let sent = json_out(&server.cli_as("host", &["send", "cli", "first", "--priority", "High"]));
    assert!(
        sent["ID"].as_str().is_some_and(|id| !id.is_empty()),
        "{sent}"
    );
    assert_eq!(sent["payload"]["text"], "first");
    assert_eq!(sent["priority"], "High");

    // A guest tail: history first, then live messages, one JSON line per event.
    let mut tail = Command::new(bin("liveroom"))
        .args(["tail", "cli", "--count", "3", "--timeout", "20"])
        .env("LIVEROOM_SERVER", server.url())
        .env("LIVEROOM_APP", APP.to_string())
        .env_remove("LIVEROOM_USER")
        .env_remove("LIVEROOM_SIG")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut events: Vec<Value> = Vec::new();
    // Wait until the history message shows: the tail is in the room.
    while !events
        .iter()
        .any(|e| e["name"] == "t_text_message_received")
    {
        let line = lines.next().expect("tail prints events").unwrap();
        events.push(serde_json::from_str(&line).expect("one JSON object per line"));
    }
    json_out(&server.cli_as(
        "host",
        &[
            "send-custom",
            "cli",
            "--data",
            "gift",
            "--description",
            "rocket",
            "--priority",
            "High",
        ],
    ));
    json_out(&server.cli_as("host", &["stop-push", "cli", "--postscript", "bye"]));
    for line in lines {
        events.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = tail.wait().unwrap();
    assert!(status.success(), "tail exits 0 after --count messages");
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"t_custom_message_received"), "{names:?}");
    let stopped = events
        .iter()
        .find(|e| e["name"] == "t_push_stopped")
        .expect("push stopped");
    assert_eq!(stopped["data"], "bye");
    let gift = events
        .iter()
        .find(|e| e["name"] == "t_custom_message_received")
        .unwrap();
    assert_eq!(gift["data"][0]["payload"]["description"], "rocket");

    let p = json_out(&server.cli_as("host", &["profile", "--nick", "Host 主播"]));
    assert_eq!(p["nick"], "Host 主播");
    let p = json_out(&server.cli_as("host", &["profile"]));
    assert_eq!(p["nick"], "Host 主播", "the profile is stored");
}

#[test]
fn failures_exit_1_with_code_and_message() {
    let server = Server::start();
    let out = Command::new(bin("liveroom"))
        .args([
            "send",
            "nowhere",
            "hi",
            "--server",
            &server.url(),
            "--app",
            &APP.to_string(),
            "--user",
            "eve",
            "--sig",
            "forged",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error 70003:"), "{err}");

    let out = server.cli_as("host", &["send", "no-such-room", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error 10010:"));

    let out = server.cli_as("host", &["send", "x", "hi", "--priority", "Urgent"]);
    assert_ne!(out.status.code(), Some(0));

    // Tail with a timeout on a quiet room ends by itself.
    json_out(&server.cli_as(
        "host",
        &["create-room", "--name", "quiet", "--room-id", "quiet"],
    ));
    let t = std::time::Instant::now();
    let out = server.cli(&["tail", "quiet", "--timeout", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.elapsed().as_secs() < 10);
}

#[test]
fn send_image_prints_progress_and_the_message() {
    let server = Server::start();
    json_out(&server.cli_as(
        "host",
        &["create-room", "--name", "pics", "--room-id", "pics"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("photo.png");
    image::RgbImage::from_pixel(900, 300, image::Rgb([200, 30, 30]))
        .save(&file)
        .unwrap();
    let out = server.cli_as(
        "host",
        &[
            "send-image",
            "pics",
            file.to_str().unwrap(),
            "--priority",
            "High",
        ],
    );
    let m = json_out(&out);
    assert_eq!(m["type"], "TIMImageElem");
    assert_eq!(m["priority"], "High");
    assert_eq!(m["payload"]["imageInfoArray"][1]["width"], 720);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("100%"),
        "progress on stderr"
    );

    // A text file with a picture's name is refused with 2252.
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, "not a picture").unwrap();
    let out = server.cli_as("host", &["send-image", "pics", fake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error 2252:"));
}

#[test]
fn a_list_of_servers_skips_the_dead_ones() {
    let server = Server::start();
    json_out(&server.cli_as(
        "host",
        &["create-room", "--name", "Listed", "--room-id", "listed"],
    ));
    let dead = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}", listener.local_addr().unwrap())
    };
    let list = format!("{}, {},{} ,{}", dead(), dead(), dead(), server.url());
    let cli = |list: &str, args: &[&str]| {
        Command::new(bin("liveroom"))
            .args(args)
            .env("LIVEROOM_SERVER", list)
            .env("LIVEROOM_APP", APP.to_string())
            .env("LIVEROOM_USER", "host")
            .env("LIVEROOM_SIG", liveroom_tests::sig("host"))
            .output()
            .unwrap()
    };
    // The node is chosen at random: four runs all but surely start on a dead one.
    let mut sequences = Vec::new();
    for n in 0..4 {
        let text = format!("through the list {n}");
        let sent = json_out(&cli(&list, &["send", "listed", &text]));
        assert_eq!(sent["payload"]["text"], text.as_str());
        sequences.push(sent["sequence"].as_u64().unwrap());
    }
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    // A node holding its most connections answers 503 at once: the engine goes on to the
    // next one as it does past a dead one, and says so when every node is full.
    let full: Vec<Server> = (0..3)
        .map(|_| Server::start_with(&["--max-connections", "1"]))
        .collect();
    let _holders: Vec<_> = full
        .iter()
        .map(|s| {
            tokio_tungstenite::tungstenite::connect(format!("{}/ws", s.url()))
                .expect("the one place")
                .0
        })
        .collect();
    let urls: Vec<String> = full.iter().map(|s| s.url()).collect();
    let list = format!("{},{}", urls.join(","), server.url());
    for n in 0..4 {
        let text = format!("past the full ones {n}");
        let sent = json_out(&cli(&list, &["send", "listed", &text]));
        assert_eq!(sent["payload"]["text"], text.as_str());
    }
    let out = cli(&urls.join(","), &["send", "listed", "never"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect to any of the 3 servers") && stderr.contains("503"),
        "{stderr}"
    );

    // A bad entry is named, and nothing is sent.
    let out = cli(&format!("{},", server.url()), &["send", "listed", "never"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error 10004:")
            && stderr.contains("server address 2 of 2")
            && stderr.contains("is empty"),
        "{stderr}"
    );
}
