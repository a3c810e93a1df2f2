//! Lagging viewers: a viewer that stops reading loses its Low and Lowest messages first (once
//! more than half the room's ring is pending for it), keeps getting High and Normal, and is
//! closed with 4108 only when it falls a whole ring behind. Other viewers get everything.

mod common;

use std::collections::BTreeMap;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Ring slots for the test room; lagging past half of it.
const RING: usize = 8192;
const LAG: usize = RING / 2;
/// Large messages that fill the stalled viewer's socket buffers, so what follows waits in
/// the ring (about 7 MB: more than the server's send buffer, at most 4 MiB here, and the
/// viewer's fixed 64 KiB receive buffer hold).
const STUFFING: usize = 1000;
const BIG: usize = 7000;
const PRIORITIES: [&str; 4] = ["High", "Normal", "Low", "Lowest"];

/// Sends `msgs` (text, priority) pipelined from `sender`, which is in `room`; waits for
/// every reply and checks each was accepted.
async fn send_all(sender: &mut Client, room: &str, msgs: &[(String, &'static str)]) {
    let frames: Vec<String> = msgs
        .iter()
        .enumerate()
        .map(|(i, (text, p))| {
            json!({"id": 1_000_000 + i, "op": "send_text", "room_id": room, "text": text, "priority": p})
                .to_string()
        })
        .collect();
    let (mut sink, mut stream) = (&mut sender.ws).split();
    let write = async move {
        for f in frames {
            sink.feed(Message::text(f)).await.unwrap();
        }
        sink.flush().await.unwrap();
    };
    let read = async {
        let mut replies = 0;
        while replies < msgs.len() {
            let m = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
                .await
                .expect("replies keep coming")
                .expect("sender socket open")
                .expect("sender socket ok");
            let Message::Text(t) = m else { continue };
            // Pushes (the sender is in the room) are skipped by a cheap look at the start.
            if t.as_str().starts_with(r#"{"t":"messages""#) {
                continue;
            }
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match v["t"].as_str() {
                Some("reply") => replies += 1,
                Some("error") => panic!("send refused: {v}"),
                _ => {}
            }
        }
    };
    tokio::join!(write, read);
}

/// Reads a viewer's messages (sequence → priority) until `last` arrives.
async fn read_until(c: &mut Client, last: u64, got: &mut BTreeMap<u64, String>) {
    loop {
        let f = c.next_push().await;
        if f["t"] != "messages" {
            continue;
        }
        for m in f["list"].as_array().unwrap() {
            let seq = m["sequence"].as_u64().unwrap();
            if seq == 0 {
                continue; // join tips
            }
            got.insert(seq, m["priority"].as_str().unwrap_or("Normal").to_owned());
            if seq == last {
                return;
            }
        }
    }
}

fn stuffing_then_mixed(mixed: usize) -> Vec<(String, &'static str)> {
    let big = "x".repeat(BIG);
    let mut msgs: Vec<(String, &'static str)> =
        (0..STUFFING).map(|_| (big.clone(), "Normal")).collect();
    msgs.extend((0..mixed).map(|i| (format!("m{i}"), PRIORITIES[i % 4])));
    msgs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_loses_low_and_lowest_first_and_is_closed_with_4108_only_on_overflow() {
    // A write deadline longer than the test: what is tested here is the ring's policy for a
    // viewer that reads late, not the deadline for one that stops reading (tests/e2e/hostile.rs).
    let s = TestServer::start_with(|b| {
        b.room_budget(0)
            .room_ring(RING)
            .write_timeout(std::time::Duration::from_secs(300))
    })
    .await;
    let mut owner = s.user("owner").await;
    owner.create("r").await;
    owner.enter("r").await;
    // A fixed 64 KiB receive buffer: autotuned, it may grow large enough (up to 32 MiB here)
    // to hold all the stuffing, and the viewer would never fall behind.
    let mut stalled = s.user_with_recv_buffer("stalled", 64 * 1024).await;
    stalled.enter("r").await;
    let mut reader = s.user("reader").await;
    reader.enter("r").await;

    // Phase 1: less than a ring in all, so no overflow; the stalled viewer does not read.
    let phase1 = stuffing_then_mixed(6000);
    let last1 = phase1.len() as u64;
    let reading = tokio::spawn(async move {
        let mut got = BTreeMap::new();
        read_until(&mut reader, last1, &mut got).await;
        (reader, got)
    });
    send_all(&mut owner, "r", &phase1).await;
    let (mut reader, got) = reading.await.unwrap();
    assert_eq!(got.len(), phase1.len(), "a reading viewer gets everything");

    // Now the stalled viewer reads.
    let mut got = BTreeMap::new();
    read_until(&mut stalled, last1, &mut got).await;
    for (i, (_, p)) in phase1.iter().enumerate() {
        let seq = i as u64 + 1;
        if matches!(*p, "High" | "Normal") {
            assert!(
                got.contains_key(&seq),
                "{p} message {seq} was not delivered"
            );
        }
        // The last half ring pending was drained without lagging: everything arrived.
        if seq > last1 - (LAG as u64 - 64) {
            assert!(
                got.contains_key(&seq),
                "{p} message {seq} in the tail was skipped"
            );
        }
    }
    let low_sent = phase1
        .iter()
        .filter(|(_, p)| matches!(*p, "Low" | "Lowest"))
        .count();
    let low_got = got
        .values()
        .filter(|p| matches!(p.as_str(), "Low" | "Lowest"))
        .count();
    assert!(
        low_got < low_sent,
        "a lagging viewer skips Low/Lowest: got {low_got} of {low_sent}"
    );
    assert!(
        low_got >= LAG / 2 - 64,
        "only while lagging: got {low_got} of {low_sent}"
    );

    // Phase 2: more than a whole ring behind: closed with 4108; the reader gets everything.
    let phase2 = stuffing_then_mixed(RING + 200);
    let last2 = last1 + phase2.len() as u64;
    let reading = tokio::spawn(async move {
        let mut got = BTreeMap::new();
        read_until(&mut reader, last2, &mut got).await;
        got
    });
    send_all(&mut owner, "r", &phase2).await;
    let got = reading.await.unwrap();
    assert_eq!(got.len(), phase2.len(), "a reading viewer gets everything");
    assert_eq!(stalled.closed().await, 4108);
}
