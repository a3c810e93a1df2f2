//! Attack 1: one member floods a room at High priority, logging out and in (or reconnecting)
//! every 20 sends to get a fresh user-rate burst; an honest member sends Normal meanwhile and a
//! guest viewer counts what the room delivered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{start, Figures, Outcome, Scale};
use crate::conn::{now_micros, scan_frame, server_addr, source_ip, Conn};
use crate::rawws::{RawWs, Read};
use crate::server::Target;
use crate::worker::{call, mark_index};

/// The honest member's sends per second (under its user rate).
pub const HONEST_RATE: u32 = 5;
/// Sends between two re-logins.
const SENDS_PER_LOGIN: usize = 20;

/// Seconds of flooding.
pub fn seconds(scale: &Scale) -> u64 {
    if scale.smoke {
        2
    } else {
        5
    }
}

/// Answers to a run of requests: accepted, and refusals by code.
#[derive(Default)]
struct Tally {
    sent: u64,
    accepted: u64,
    refused: BTreeMap<i64, u64>,
}

impl Tally {
    fn answer(&mut self, v: &Value) {
        if v["t"] == "reply" {
            self.accepted += 1;
        } else {
            *self
                .refused
                .entry(v["code"].as_i64().unwrap_or(0))
                .or_default() += 1;
        }
    }
}

/// Refusals as `code×count, ...` ("none" if there were none).
pub fn codes(refused: &BTreeMap<i64, u64>) -> Value {
    if refused.is_empty() {
        return "none".into();
    }
    refused
        .iter()
        .map(|(c, n)| format!("{c}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
        .into()
}

pub async fn run(target: Target, scale: &Scale) -> anyhow::Result<Outcome> {
    // The defaults under test: room budget 40/s, user rate 10/s with a burst of 20.
    let started = start(target, scale, &[])?;
    let url = started.server.url.clone();
    let mut owner = Conn::connect(&url, source_ip(0)).await?;
    owner
        .request(
            json!({"op": "login", "user_id": "owner", "user_sig": started.server.sig("owner")}),
        )
        .await?;
    let room = owner
        .request(json!({"op": "create_room", "name": "flooded"}))
        .await?["groupID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A guest viewer counting High and Normal deliveries.
    let seen: Arc<[AtomicU64; 4]> = Arc::default();
    let mut viewer = RawWs::connect(server_addr(&url)?, source_ip(1)).await?;
    call(
        &mut viewer,
        &json!({"id": 1, "op": "hello", "sdk_app_id": crate::server::APP}),
    )
    .await?;
    call(
        &mut viewer,
        &json!({"id": 2, "op": "enter_room", "room_id": room}),
    )
    .await?;
    let counter = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let read = viewer
                    .next_frames(|f| {
                        scan_frame(f, |_, mark| {
                            seen[mark_index(mark)].fetch_add(1, Ordering::Relaxed);
                        });
                    })
                    .await;
                if !matches!(read, Ok(Read::Frames)) {
                    break;
                }
            }
        })
    };

    let secs = seconds(scale);
    let until = Instant::now() + Duration::from_secs(secs);
    let honest = tokio::spawn(honest(
        url.clone(),
        started.server.sig("honest"),
        room.clone(),
        until,
    ));
    let t0 = Instant::now();
    let (attacker, logins) = attacker(&url, &started.server.sig("attacker"), &room, until).await?;
    let took = t0.elapsed();
    let honest = honest.await??;
    tokio::time::sleep(Duration::from_secs(1)).await;
    counter.abort();

    let figures: Figures = vec![
        ("attacker: sends".into(), attacker.sent.into()),
        ("attacker: accepted".into(), attacker.accepted.into()),
        (
            "attacker: accepted per second".into(),
            Value::from((attacker.accepted as f64 / took.as_secs_f64() * 10.0).round() / 10.0),
        ),
        (
            "attacker: refused (code×count)".into(),
            codes(&attacker.refused),
        ),
        ("attacker: logins and reconnects".into(), logins.into()),
        ("honest: sends".into(), honest.sent.into()),
        ("honest: accepted".into(), honest.accepted.into()),
        (
            "honest: refused (code×count)".into(),
            codes(&honest.refused),
        ),
        (
            "viewer received High".into(),
            seen[0].load(Ordering::Relaxed).into(),
        ),
        (
            "viewer received Normal".into(),
            seen[1].load(Ordering::Relaxed).into(),
        ),
    ];
    Ok(Outcome::new(&started, figures))
}

/// A connection of `user`, logged in and in `room`.
async fn join(url: &str, user: &str, sig: &str, room: &str) -> anyhow::Result<Conn> {
    let mut c = Conn::connect(url, source_ip(2)).await?;
    c.request(json!({"op": "login", "user_id": user, "user_sig": sig}))
        .await?;
    c.request(json!({"op": "enter_room", "room_id": room}))
        .await?;
    Ok(c)
}

/// Floods until `until`: 20 pipelined High sends, then alternately logout + login + enter on
/// the same connection, or a new connection. Returns the sends' answers and the fresh logins.
async fn attacker(
    url: &str,
    sig: &str,
    room: &str,
    until: Instant,
) -> anyhow::Result<(Tally, u64)> {
    let mut tally = Tally::default();
    let mut logins = 0u64;
    let mut conn = join(url, "attacker", sig, room).await?;
    while Instant::now() < until {
        let mut sends = Vec::with_capacity(SENDS_PER_LOGIN);
        for _ in 0..SENDS_PER_LOGIN {
            let text = format!("t{}:H", now_micros());
            sends.push(
                conn.send(
                    json!({"op": "send_text", "room_id": room, "text": text, "priority": "High"}),
                )
                .await?,
            );
            tally.sent += 1;
        }
        let relogin = logins.is_multiple_of(2);
        let last = if relogin {
            conn.send(json!({"op": "logout"})).await?;
            conn.send(json!({"op": "login", "user_id": "attacker", "user_sig": sig}))
                .await?;
            conn.send(json!({"op": "enter_room", "room_id": room}))
                .await?
        } else {
            sends[SENDS_PER_LOGIN - 1]
        };
        read_answers(&mut conn, &sends, last, &mut tally).await?;
        if !relogin {
            conn = join(url, "attacker", sig, room).await?;
        }
        logins += 1;
    }
    Ok((tally, logins))
}

/// Reads until the answer to `last`, tallying the answers to `sends`.
async fn read_answers(
    conn: &mut Conn,
    sends: &[u64],
    last: u64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, conn.ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no answer to the flood's request {last} in 10 s"))?;
        let Some(msg) = msg else {
            anyhow::bail!("the server closed the flooding connection")
        };
        let Message::Text(text) = msg? else { continue };
        if text.as_str().starts_with("{\"t\":\"messages\"") {
            continue;
        }
        let v: Value = serde_json::from_str(text.as_str())?;
        let Some(id) = v["id"].as_u64() else { continue };
        if sends.contains(&id) {
            tally.answer(&v);
        }
        if id == last {
            return Ok(());
        }
    }
}

/// Sends Normal at [`HONEST_RATE`] until `until`, one request at a time.
async fn honest(url: String, sig: String, room: String, until: Instant) -> anyhow::Result<Tally> {
    let mut conn = join(&url, "honest", &sig, &room).await?;
    let mut tally = Tally::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(HONEST_RATE)));
    while Instant::now() < until {
        tick.tick().await;
        let text = format!("t{}:N", now_micros());
        let id = conn
            .send(json!({"op": "send_text", "room_id": room, "text": text, "priority": "Normal"}))
            .await?;
        tally.sent += 1;
        // A server too busy to answer within 10 s starved it: stop, the gap shows.
        if read_answers(&mut conn, &[id], id, &mut tally)
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(tally)
}
