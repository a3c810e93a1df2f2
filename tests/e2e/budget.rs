//! The room send budget: lower priorities are dropped first, High never, and the sender of a
//! dropped message is told (10023).

use std::collections::HashMap;

use liveroom_engine::proto::{CreateRoomOptions, Priority};
use liveroom_tests::Server;

use crate::messages;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_drops_lowest_then_low_then_normal_never_high() {
    // Budget 8/s: Lowest needs > 4 tokens, Low > 2, Normal >= 1. User rate high enough not to
    // interfere.
    let server = Server::start_with(&["--room-budget", "8", "--user-rate", "10000"]);
    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: "b".into(),
        room_id: Some("b".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("b").await.unwrap();
    let viewer = server.engine();
    let mut rx = viewer.events();
    viewer.enter_room("b").await.unwrap();

    // 4 rounds of each priority, Lowest first in every round, sent as fast as possible.
    let mut sent: HashMap<Priority, (u32, u32)> = HashMap::new();
    for round in 0..4 {
        for p in [
            Priority::Lowest,
            Priority::Low,
            Priority::Normal,
            Priority::High,
        ] {
            let r = host
                .send_text_message("b", &format!("{p:?} {round}"), p)
                .await;
            let e = sent.entry(p).or_default();
            match r {
                Ok(_) => e.0 += 1,
                Err(err) => {
                    assert_eq!(err.code, 10023, "{err}");
                    e.1 += 1;
                }
            }
        }
    }
    let ok = |p| sent[&p].0;
    assert_eq!(sent[&Priority::High], (4, 0), "High is never dropped");
    assert!(ok(Priority::Normal) >= ok(Priority::Low), "{sent:?}");
    assert!(ok(Priority::Low) >= ok(Priority::Lowest), "{sent:?}");
    assert!(
        sent[&Priority::Lowest].1 > 0,
        "a flood over budget drops Lowest: {sent:?}"
    );
    assert!(ok(Priority::Normal) < 4 || ok(Priority::Lowest) < 4);

    // Exactly the accepted messages reach the viewer.
    let accepted: u32 = sent.values().map(|(ok, _)| ok).sum();
    let got = messages(&mut rx, "t_text_message_received", accepted as usize).await;
    assert_eq!(got.len(), accepted as usize);
    let highs = got.iter().filter(|m| m["priority"] == "High").count();
    assert_eq!(highs, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_rate_limit_answers_10023() {
    let server = Server::start_with(&["--user-rate", "2", "--room-budget", "1000"]);
    let host = server.login("host").await;
    host.create_room(CreateRoomOptions {
        name: "u".into(),
        room_id: Some("u".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    host.enter_room("u").await.unwrap();
    let mut limited = 0;
    for i in 0..20 {
        if let Err(e) = host
            .send_text_message("u", &format!("m{i}"), Priority::Normal)
            .await
        {
            assert_eq!(e.code, 10023, "{e}");
            limited += 1;
        }
    }
    assert!(limited > 0, "20 sends at once exceed 2/s");
}
