//! One rate's run: engines send into the rooms while keys are typed into a composer; frame
//! intervals and input latency from `ui/perf.js`, and the checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use liveroom_app_tests::{user_sig, App};
use liveroom_engine::proto::{Body, CustomPayload};
use liveroom_engine::{Im, Priority};
use serde_json::{json, Value};

use crate::procs::cpu_ms;
use crate::Opts;

/// What is typed into the composer while messages flow, one key every [`KEY_EVERY`].
const TYPED: &str = "typing while the room floods, nothing may be lost 0123456789 ";
/// A fast typist: 8 keys a second.
const KEY_EVERY: Duration = Duration::from_millis(125);
/// Senders per room (different users, as in a real room).
pub(crate) const SENDERS_PER_ROOM: usize = 2;
/// One rate's run: frame intervals, typing, sends, and whether each room followed its newest.
pub(crate) struct RateRun {
    pub(crate) rate: u32,
    pub(crate) rooms: usize,
    pub(crate) frames: Value,
    pub(crate) typing: Value,
    pub(crate) sent: u64,
    pub(crate) send_errors: u64,
    pub(crate) typed_ok: bool,
    pub(crate) delivered_ok: bool,
    pub(crate) follows_newest: bool,
    pub(crate) seconds: f64,
    /// The app's processes' CPU, % of one core, while the messages flowed.
    pub(crate) cpu_pct: f64,
    /// With `--tools`: the rooms' danmaku and dashboard counters, summed (since turned on).
    pub(crate) tools: Value,
}

impl RateRun {
    pub(crate) fn json(&self) -> Value {
        let f = &self.frames["frameIntervalMs"];
        let i = &self.typing["inputLatencyMs"];
        json!({
            "rate": self.rate,
            "rooms": self.rooms,
            "frame_p50_ms": round1(&f["p50"]),
            "frame_p95_ms": round1(&f["p95"]),
            "frame_p99_ms": round1(&f["p99"]),
            "frames": f["count"],
            "input_p50_ms": round1(&i["p50"]),
            "input_p95_ms": round1(&i["p95"]),
            "input_max_ms": round1(&i["max"]),
            "keys": i["count"],
            "key_handler_delay_p95_ms": round1(&self.typing["handlerDelayMs"]["p95"]),
            "render_p95_ms": round1(&self.frames["renderMs"]["p95"]),
            "sent": self.sent,
            "sent_per_s": (self.sent as f64 / self.seconds).round(),
            "send_errors": self.send_errors,
            "typed_ok": self.typed_ok,
            "typed_delivered": self.delivered_ok,
            "follows_newest": self.follows_newest,
            "app_cpu_pct": self.cpu_pct,
            "tools": self.tools,
        })
    }
}

fn round1(v: &Value) -> Value {
    v.as_f64()
        .map(|x| json!((x * 10.0).round() / 10.0))
        .unwrap_or(Value::Null)
}

/// The engines that send into one room.
#[derive(Clone)]
pub(crate) struct Room {
    pub(crate) id: String,
    pub(crate) senders: Vec<Im>,
}

pub(crate) async fn senders(app: &App, room: &str, first: usize) -> Result<Room> {
    let (app_id, key) = app.keys()?;
    let mut list = Vec::new();
    for i in first..first + SENDERS_PER_ROOM {
        let user = format!("sender_{i}");
        let im = Im::new(app_id, app.server())?;
        im.login(&user, &user_sig(app_id, &key, &user)).await?;
        im.set_my_profile(Some(format!("Sender {i}")), None).await?;
        im.enter_room(room).await?;
        list.push(im);
    }
    Ok(Room {
        id: room.to_owned(),
        senders: list,
    })
}

/// Chat lines of varied length, so some wrap.
const LINES: &[&str] = &[
    "hi",
    "hello from the back row",
    "this stream is great, greetings from Lyon",
    "can you show the setup again? the camera angle from before was much better",
    "哈哈哈 太好笑了",
    "gg",
    "where can I find the slides from last week? I missed the first half and would like to catch up before the Q&A",
];

/// Sends `per_room` messages a second into every room for `secs`, then, once every send of a
/// room is answered, one last marker into it; returns (sent, errors) and each room's marker
/// (room, text). The marker is the room's newest message for certain: the senders' own last
/// sends race one another, so either may land a screen above the other.
async fn flood(
    rooms: &[Room],
    per_room: u32,
    secs: u64,
    tag: &str,
) -> (u64, u64, Vec<(String, String)>) {
    let errors = Arc::new(AtomicU64::new(0));
    let per_sender = per_room as f64 / SENDERS_PER_ROOM as f64;
    let mut tasks = Vec::new();
    for room in rooms {
        for (s, im) in room.senders.iter().enumerate() {
            let (im, room_id, errors, tag) =
                (im.clone(), room.id.clone(), errors.clone(), tag.to_owned());
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let end = Duration::from_secs(secs);
                let mut sent = 0u64;
                let mut sends = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                while start.elapsed() < end {
                    tick.tick().await;
                    let due = (start.elapsed().as_secs_f64() * per_sender) as u64;
                    while sent < due {
                        let text = format!(
                            "{tag} {s}-{sent}: {}",
                            LINES[(sent as usize + s) % LINES.len()]
                        );
                        let (im, room_id, errors) = (im.clone(), room_id.clone(), errors.clone());
                        sends.push(tokio::spawn(async move {
                            if im
                                .send_text_message(&room_id, &text, Priority::Normal)
                                .await
                                .is_err()
                            {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }));
                        sent += 1;
                    }
                }
                for t in sends {
                    let _ = t.await;
                }
                sent
            }));
        }
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap_or(0);
    }
    let mut markers = Vec::new();
    for room in rooms {
        let text = format!("{tag} end of the flood in {}", room.id);
        if room.senders[0]
            .send_text_message(&room.id, &text, Priority::Normal)
            .await
            .is_err()
        {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        sent += 1;
        markers.push((room.id.clone(), text));
    }
    (sent, errors.load(Ordering::Relaxed), markers)
}

/// `visible(paneCss, text)`: whether a text node holding `text` is on screen in that pane.
const VISIBLE_JS: &str = r#"
function visible(css, text) {
  const pane = document.querySelector(css);
  if (!pane) return false;
  pane.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  const walk = document.createTreeWalker(pane, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.data.includes(text)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const box = range.getClientRects()[0];
    if (!box || !box.height) continue;
    const hit = document.elementFromPoint(box.left + Math.min(box.width, 8) / 2, box.top + box.height / 2);
    if (hit && (hit === n.parentElement || hit.contains(n) || n.parentElement.contains(hit))) return true;
  }
  return false;
}
"#;

/// Sends `per_room` likes a second into every room for `secs` (hearts float up for each).
async fn like(rooms: &[Room], per_room: u32, secs: u64) {
    if per_room == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_room as f64));
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        tick.tick().await;
        for room in rooms {
            let (im, id) = (room.senders[SENDERS_PER_ROOM - 1].clone(), room.id.clone());
            tokio::spawn(async move {
                let like = CustomPayload {
                    data: "like".into(),
                    ..CustomPayload::default()
                };
                let _ = im.send_custom_message(&id, like, Priority::Low).await;
            });
        }
    }
}

pub(crate) fn pane(room: &str) -> String {
    format!(".pane[data-room='{room}']")
}

/// Runs one rate: `per_room` msg/s into each of `rooms` while keys are typed into the first
/// room's composer.
pub(crate) async fn run_rate(
    app: &App,
    opts: &Opts,
    rooms: &[Room],
    per_room: u32,
) -> Result<RateRun> {
    let rate = per_room * rooms.len() as u32;
    let secs = opts.flood_secs(rate);
    let typing_room = &rooms[0].id;
    let input = app
        .wait_css(&format!("{} .text-input", pane(typing_room)))
        .await?;
    input.clear().await.context("clearing the composer")?;
    // Focused from script: a click can land on a toast passing over the composer.
    app.client
        .execute(
            "arguments[0].focus(); return true",
            vec![serde_json::to_value(&input)?],
        )
        .await
        .context("focusing the composer")?;
    app.js(
        "window.liveroomPerf.start(); window.liveroomPerf.startTyping(); return true",
        vec![],
    )
    .await?;
    let started = Instant::now();
    let cpu0 = cpu_ms(app.driver_pid());
    let tag = format!("r{rate}");
    let sending = {
        let rooms = rooms.to_vec();
        let likes = opts.likes;
        tokio::spawn(async move {
            let (out, ()) = tokio::join!(
                flood(&rooms, per_room, secs, &tag),
                like(&rooms, likes, secs)
            );
            out
        })
    };
    // Type at a steady pace for as long as the flood runs.
    let mut typed = String::new();
    let mut keys = TYPED.chars().cycle();
    while started.elapsed() + KEY_EVERY < Duration::from_secs(secs) {
        let next = started + KEY_EVERY * (typed.chars().count() as u32 + 1);
        let ch = keys.next().unwrap_or(' ');
        input
            .send_keys(&ch.to_string())
            .await
            .with_context(|| format!("typing {ch:?} into {typing_room}'s composer"))?;
        typed.push(ch);
        tokio::time::sleep_until(next.into()).await;
    }
    let (sent, send_errors, last) = sending.await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_pct = ((cpu_ms(app.driver_pid()) - cpu0) / seconds / 10.0 * 10.0).round() / 10.0;
    // The last frames of what arrived: let them be drawn before stopping the sampling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let typing = app
        .js("return window.liveroomPerf.stopTyping()", vec![])
        .await?;
    let frames = app.js("return window.liveroomPerf.stop()", vec![]).await?;
    let value = input
        .prop("value")
        .await
        .context("reading the composer")?
        .unwrap_or_default();
    let typed_ok = value == typed;
    if !typed_ok {
        eprintln!("rate {rate}: typed {typed:?}, the composer holds {value:?}");
    }
    // Every room shows its newest message, on screen (hit-tested, so a row that is in the DOM
    // but scrolled away, clipped or not painted does not count).
    let mut follows_newest = true;
    for (room, text) in &last {
        let script = format!(
            "{VISIBLE_JS} return visible({}, {});",
            json!(pane(room)),
            json!(text)
        );
        if app
            .wait_js("the newest message shown", &script)
            .await
            .is_err()
        {
            let view = app
                .js(
                    "const c = document.querySelector(arguments[0] + ' .chat'); return c && {scrollTop: c.scrollTop, scrollHeight: c.scrollHeight, clientHeight: c.clientHeight, last: [...c.children].slice(-3).map((li) => li.textContent.slice(0, 100))}",
                    vec![json!(pane(room))],
                )
                .await
                .unwrap_or_default();
            eprintln!("rate {rate}: room {room} does not show its newest message {text:?}; its chat: {view}");
            let _ = app
                .screenshot(&format!("bench-app-{rate}-not-newest"))
                .await;
            follows_newest = false;
        }
    }
    // Send what was typed: another member of the room gets it, whole.
    let mut events = rooms[0].senders[0].events();
    input
        .send_keys("\u{e007}")
        .await
        .context("pressing Enter")?;
    let wanted = typed.trim().to_owned();
    let delivered_ok = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if ev
                        .messages()
                        .iter()
                        .any(|m| matches!(&m.body, Body::Text(t) if t.text.trim() == wanted))
                    {
                        return true;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    if !delivered_ok {
        eprintln!("rate {rate}: the typed message did not reach the room");
    }
    let tools = if opts.tools {
        let ids: Vec<&str> = rooms.iter().map(|r| r.id.as_str()).collect();
        app.js(TOOLS_JS, vec![json!(ids)]).await?
    } else {
        Value::Null
    };
    Ok(RateRun {
        rate,
        rooms: rooms.len(),
        frames,
        typing,
        sent,
        send_errors,
        typed_ok,
        delivered_ok,
        follows_newest,
        seconds,
        cpu_pct,
        tools,
    })
}

/// The rooms' (`arguments[0]`) danmaku counters and dashboard drawings, summed.
const TOOLS_JS: &str = r#"
const sum = { danmaku_offered: 0, danmaku_shown: 0, danmaku_dropped: 0, danmaku_max_nodes: 0, dashboard_draws: 0 };
for (const id of arguments[0]) {
  const f = window.liveroomApp.panes.get(id).features;
  sum.danmaku_offered += f.danmaku.stats.offered;
  sum.danmaku_shown += f.danmaku.stats.shown;
  sum.danmaku_dropped += f.danmaku.stats.dropped;
  sum.danmaku_max_nodes = Math.max(sum.danmaku_max_nodes, f.danmaku.stats.maxNodes);
  sum.dashboard_draws += f.dashboard.draws;
}
return sum;
"#;
