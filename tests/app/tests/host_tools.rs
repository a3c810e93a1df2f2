//! Window tests of issue 15's tools (host_tools): the real app under tauri-driver, like window.rs.
//! Run by scripts/test-app (#[ignore]d in a plain `cargo test`: no display there).
//!
//! Danmaku (ui/features/danmaku.js): comments sent with the CLI fly over the stage in lanes
//! that never overlap, a flood keeps the layer bounded and drops the excess, gifts and merged
//! likes are highlighted, off empties the layer. The dashboard (ui/features/dashboard.js):
//! the server's room stats in the host panel, pushed by the server.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use liveroom_app_tests::{App, Cli};
use liveroom_engine::proto::CustomPayload;
use liveroom_engine::{Im, Priority};
use serde_json::{json, Value};

/// The room's send budget and the per-user rate lifted: a flood in a second.
const NO_BUDGET: &[(&str, &str)] = &[("LIVEROOM_ROOM_BUDGET", "0"), ("LIVEROOM_USER_RATE", "0")];

fn pane(room: &str) -> String {
    format!(".pane[data-room='{room}']")
}

/// An engine logged in to the app's embedded server as `user` (with `nick`), in `room`.
async fn sender(app: &App, user: &str, nick: &str, room: &str) -> Result<Im> {
    let (app_id, key) = app.keys()?;
    let im = Im::new(app_id, app.server())?;
    im.login(user, &liveroom_app_tests::user_sig(app_id, &key, user))
        .await?;
    im.set_my_profile(Some(nick.to_owned()), None).await?;
    im.enter_room(room).await?;
    Ok(im)
}

/// A custom message (a like or a gift) from an engine.
async fn send_custom(
    im: &Im,
    room: &str,
    data: &str,
    description: &str,
    extension: &str,
) -> Result<()> {
    let payload = CustomPayload {
        data: data.into(),
        description: description.into(),
        extension: extension.into(),
    };
    im.send_custom_message(room, payload, Priority::Low).await?;
    Ok(())
}

// ---------- danmaku ----------

/// JS: the danmaku layer of `room` at this moment: its comments on stage (text, classes,
/// lane, rect relative to the layer), how many nodes it holds, the feature's counters.
fn danmaku_js(room: &str) -> String {
    format!(
        "const p = document.querySelector(\"{pane}\");
         const layer = p.querySelector('.fx-danmaku');
         const box = layer.getBoundingClientRect();
         const onStage = [...layer.querySelectorAll('.dm')].map(n => {{
           const r = n.getBoundingClientRect();
           return {{ text: n.textContent, cls: n.className, lane: n.dataset.lane ?? null,
                    html: n.querySelector('span').innerHTML,
                    icon: (n.querySelector('img') || {{}}).src || null,
                    l: r.left - box.left, r: r.right - box.left, t: r.top - box.top, b: r.bottom - box.top }};
         }}).filter(c => c.lane !== null && c.l < box.width && c.r > 0);
         const f = window.liveroomApp.panes.get('{room}').features.danmaku;
         return {{ onStage, nodes: layer.childElementCount, width: box.width, height: box.height,
                   shown: getComputedStyle(layer).display !== 'none', on: f.on, stats: f.stats,
                   pressed: p.querySelector('.btn-danmaku').getAttribute('aria-pressed'),
                   label: p.querySelector('.btn-danmaku').textContent }};",
        pane = pane(room)
    )
}

/// Waits until `cond` (a JS expression of `v`, the layer as [`danmaku_js`] reads it) holds;
/// returns `v` then. On a timeout the error says what the layer held.
async fn wait_danmaku(app: &App, room: &str, what: &str, cond: &str) -> Result<Value> {
    let script = format!(
        "const v = (() => {{ {} }})(); return ({cond}) && v",
        danmaku_js(room)
    );
    match app.wait_js(what, &script).await {
        Ok(v) => Ok(v),
        Err(e) => {
            let v = app.js(&danmaku_js(room), vec![]).await.unwrap_or_default();
            Err(e.context(format!("the layer: {v}")))
        }
    }
}

/// No two comments on stage share any pixel; each lies in its lane.
fn check_no_overlap(view: &Value) -> Result<()> {
    let cs = view["onStage"].as_array().context("onStage")?;
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    for (i, a) in cs.iter().enumerate() {
        for b in &cs[i + 1..] {
            let apart = f(a, "r") <= f(b, "l")
                || f(b, "r") <= f(a, "l")
                || f(a, "b") <= f(b, "t")
                || f(b, "b") <= f(a, "t");
            ensure!(apart, "two comments overlap: {a} and {b}");
        }
    }
    Ok(())
}

/// Samples the layer `n` times `every` apart; checks each moment; returns the samples.
async fn sample_danmaku(app: &App, room: &str, n: usize, every: Duration) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let v = app.js(&danmaku_js(room), vec![]).await?;
        check_no_overlap(&v)?;
        out.push(v);
        tokio::time::sleep(every).await;
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn danmaku_flies_in_lanes_bounded_and_highlighted() -> Result<()> {
    let app = App::launch_with_env("danmaku", NO_BUDGET).await?;
    let r: Result<()> = async {
        app.login_local("host_dm", "Host").await?;
        app.create_room("dm-1", "Danmaku night", "").await?;
        let p = pane("dm-1");
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        ensure!(v["on"] == json!(false) && !v["shown"].as_bool().unwrap_or(true), "off at first: {v}");
        ensure!(v["label"] == json!("Danmaku"), "{v}");

        // On: the choice is this user's, kept.
        app.click(&format!("{p} .btn-danmaku")).await?;
        let on_at = Instant::now();
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        ensure!(v["on"] == json!(true) && v["pressed"] == json!("true") && v["shown"] == json!(true), "{v}");
        let kept = app.js("return localStorage.getItem('liveroom.danmaku.host_dm')", vec![]).await?;
        ensure!(kept == json!("1"), "kept per user: {kept}");

        // Comments of every length from two CLI users, sent one after the other.
        app.cli(Some("dm_ann"), &["profile", "--nick", "Ann"])?;
        app.cli(Some("dm_bo"), &["profile", "--nick", "Bo"])?;
        let texts = [
            "hi",
            "666666",
            "this stream is great, greetings from Lyon",
            "<b>not bold</b> & <img src=x onerror=alert(1)>",
            "哈哈哈哈 太好笑了",
            "gg",
            "can you show the setup again? the camera angle from before was much better",
            "主播好棒 👏👏",
        ];
        // The room's history, which comes with entering it, does not fly: nothing does in the
        // first second after entering (features/danmaku.js HISTORY_GRACE_MS).
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // All at once, so all fly together: one CLI user each (a second login of a user
        // signs the first out).
        let mut clis = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            clis.push(Cli::spawn(&["send", "dm-1", text], &app.cli_env(Some(&format!("dm_fan{i}")))?)?);
        }
        for c in clis {
            c.finish(Duration::from_secs(30))?;
        }
        // My own message flies too, marked as mine.
        app.fill(&format!("{p} .text-input"), "my own words").await?;
        app.click(&format!("{p} .btn-send")).await?;
        let want = format!("(t => {}.every(x => t.includes(x)) && t.includes('my own words'))(v.onStage.map(c => c.text))", json!(texts));
        let v = wait_danmaku(&app, "dm-1", "every comment flying", &want).await?;
        let mine: Vec<&Value> = v["onStage"].as_array().unwrap().iter().filter(|c| c["cls"].as_str().unwrap_or("").contains("mine")).collect();
        ensure!(mine.len() == 1 && mine[0]["text"] == json!("my own words"), "mine marked: {v}");
        // Speed by length: over the same time the long comment moved further than "hi".
        let first = app.js(&danmaku_js("dm-1"), vec![]).await?;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = app.js(&danmaku_js("dm-1"), vec![]).await?;
        let moved = |text: &str| -> Option<f64> {
            let at = |s: &Value| s["onStage"].as_array()?.iter().find(|c| c["text"] == json!(text)).and_then(|c| c["l"].as_f64());
            Some(at(&first)? - at(&second)?)
        };
        let (short, long) = (moved("hi"), moved(texts[6]));
        ensure!(
            matches!((short, long), (Some(s), Some(l)) if s > 0.0 && l > s * 1.2),
            "longer flies faster: 'hi' moved {short:?} px, the long one {long:?} px"
        );

        // HTML in a comment is text.
        let html = v["onStage"].as_array().unwrap().iter().find(|c| c["text"] == json!(texts[3])).context("the HTML comment")?;
        ensure!(html["html"].as_str().is_some_and(|h| h.contains("&lt;b&gt;")), "shown as text: {html}");
        let pwned = app.js("return !!document.querySelector('.fx-danmaku b, .fx-danmaku img[src=\"x\"]')", vec![]).await?;
        ensure!(pwned == json!(false), "no element from user text");
        app.screenshot("danmaku").await?;

        // At several moments no two comments touch, and they use more than one lane.
        check_no_overlap(&first)?;
        check_no_overlap(&second)?;
        let mut samples = vec![first, second];
        samples.extend(sample_danmaku(&app, "dm-1", 6, Duration::from_millis(400)).await?);
        let lanes: std::collections::BTreeSet<String> = samples
            .iter()
            .flat_map(|s| s["onStage"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["lane"].as_str().map(str::to_owned))
            .collect();
        ensure!(lanes.len() >= 3, "lanes used: {lanes:?}");
        // A flood: 200 messages at once. The layer stays bounded, the excess is dropped and
        // counted, the chat gets them all.
        let fan = sender(&app, "dm_flood", "Flood", "dm-1").await?;
        let before = app.js("return window.liveroomApp.panes.get('dm-1').stats.received", vec![]).await?;
        let started = Instant::now();
        let sends: Vec<_> = (0..200)
            .map(|i| {
                let fan = fan.clone();
                tokio::spawn(async move { fan.send_text_message("dm-1", &format!("flood {i}"), Priority::Normal).await })
            })
            .collect();
        for s in sends {
            s.await??;
        }
        let mut max_nodes = 0;
        for _ in 0..10 {
            let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
            check_no_overlap(&v)?;
            max_nodes = max_nodes.max(v["nodes"].as_u64().unwrap_or(999));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let received = app
            .wait_js(
                "the chat got the flood",
                &format!("const n = window.liveroomApp.panes.get('dm-1').stats.received; return n >= {} + 200 && n", before.as_u64().unwrap_or(0)),
            )
            .await?;
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        app.screenshot("danmaku-flood").await?;
        let st = &v["stats"];
        let secs = started.elapsed().as_secs_f64();
        let n = |k: &str| st[k].as_u64().unwrap_or(0);
        eprintln!("danmaku flood: {st}, max nodes seen {max_nodes}, chat received {received}");
        ensure!(max_nodes <= 48 && n("maxNodes") <= 48, "the layer stays bounded: {max_nodes}, {st}");
        ensure!(n("dropped") >= 150, "the excess dropped and counted: {st}");
        ensure!(n("offered") == n("shown") + n("dropped"), "every comment let in flew or was dropped: {st}");
        let on_for = on_at.elapsed().as_secs_f64();
        ensure!(n("shown") as f64 <= 12.0 * (on_for + 1.0), "at most 12 a second: {st} in {on_for:.1} s");
        ensure!(secs < 60.0, "{secs}");
        let title = app.js(&format!("return document.querySelector(\"{p} .btn-danmaku\").title"), vec![]).await?;
        ensure!(title.as_str().is_some_and(|t| t.contains("dropped")), "the button says how many were dropped: {title}");

        // Off: the layer is emptied at once, nothing is kept; new messages do not fly.
        app.click(&format!("{p} .btn-danmaku")).await?;
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        ensure!(v["nodes"] == json!(0) && v["shown"] == json!(false) && v["on"] == json!(false), "off empties: {v}");
        app.cli(Some("dm_ann"), &["send", "dm-1", "while off"])?;
        app.wait_js("the chat shows it", &format!("return [...document.querySelectorAll(\"{p} .msg .text\")].some(s => s.textContent === 'while off')")).await?;
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        ensure!(v["nodes"] == json!(0) && v["stats"]["offered"] == json!(0), "nothing flies while off: {v}");
        let kept = app.js("return localStorage.getItem('liveroom.danmaku.host_dm')", vec![]).await?;
        ensure!(kept == json!("0"), "off kept: {kept}");

        // On again, for good: leaving and entering the room again keeps it on.
        app.click(&format!("{p} .btn-danmaku")).await?;
        app.click(&format!("{p} .btn-leave")).await?;
        app.wait_js("the pane closed", &format!("return !document.querySelector(\"{p}\")")).await?;
        app.enter_room("dm-1").await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let v = app.js(&danmaku_js("dm-1"), vec![]).await?;
        ensure!(v["on"] == json!(true) && v["nodes"] == json!(0), "on after entering again, the room's history not flown: {v}");

        // A gift and likes are highlighted: "nick sent Rocket x3" with its icon, and the likes
        // of a second merged into one "+12 ❤".
        send_custom(&fan, "dm-1", "gift", "rocket", "{\"count\":3}").await?;
        for _ in 0..12 {
            send_custom(&fan, "dm-1", "like", "", "").await?;
        }
        let v = wait_danmaku(&app, "dm-1", "the gift and the likes flying", "v.onStage.some(c => c.cls.includes('gift')) && v.onStage.some(c => c.cls.includes('like'))").await?;
        let all = v["onStage"].as_array().unwrap();
        let gift = all.iter().find(|c| c["cls"].as_str().unwrap_or("").contains("gift")).unwrap();
        ensure!(gift["text"] == json!("Flood sent Rocket x3"), "{gift}");
        ensure!(gift["icon"].as_str().is_some_and(|s| s.ends_with("gifts/rocket.svg")), "{gift}");
        let likes: Vec<&Value> = all.iter().filter(|c| c["cls"].as_str().unwrap_or("").contains("like")).collect();
        ensure!(likes.len() == 1 && likes[0]["text"] == json!("+12 ❤"), "likes merged: {likes:?}");
        app.screenshot("danmaku-gift-likes").await?;
        app.click(".topbar .js-theme").await?;
        // Past the buttons' and inputs' colour transitions.
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.screenshot("danmaku-dark").await?;
        app.click(".topbar .js-theme").await?;

        // Chinese: the button's label, a gift's words.
        app.click("#main-lang").await?;
        send_custom(&fan, "dm-1", "gift", "rose", "{\"count\":2}").await?;
        app.cli(Some("dm_bo"), &["send", "dm-1", "中文弹幕 你好"])?;
        let v = wait_danmaku(&app, "dm-1", "the Chinese gift", "v.onStage.some(c => c.text === 'Flood 送出 玫瑰 x2') && v.onStage.some(c => c.text === '中文弹幕 你好')").await?;
        ensure!(v["label"] == json!("弹幕"), "{v}");
        app.screenshot("danmaku-zh").await?;
        app.click("#main-lang").await?;

        // A second room starts with danmaku on (the user's choice); side by side, comments
        // move in steps (30 a second) rather than every frame, in both rooms.
        app.create_room("dm-2", "Second stage", "").await?;
        let v = app.js(&danmaku_js("dm-2"), vec![]).await?;
        ensure!(v["on"] == json!(true), "on in a new room: {v}");
        app.click("#btn-moderator").await?;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        app.cli(Some("dm_bo"), &["send", "dm-2", "side by side"])?;
        app.cli(Some("dm_ann"), &["send", "dm-1", "left room"])?;
        let easing = "[...document.querySelectorAll('.fx-danmaku .dm')].filter(n => ['side by side', 'left room'].includes(n.textContent)).map(n => n.getAnimations()[0].effect.getTiming().easing)";
        wait_danmaku(&app, "dm-2", "the comment in the second room", "v.onStage.some(c => c.text === 'side by side')").await?;
        wait_danmaku(&app, "dm-1", "the comment in the first room", "v.onStage.some(c => c.text === 'left room')").await?;
        let easings = app.js(&format!("return {easing}"), vec![]).await?;
        ensure!(
            easings.as_array().is_some_and(|e| !e.is_empty() && e.len() == 2 && e.iter().all(|x| x.as_str().is_some_and(|x| x.starts_with("steps")))),
            "stepped side by side: {easings}"
        );
        app.screenshot("danmaku-side-by-side").await?;
        fan.shutdown().await;
        Ok(())
    }
    .await;
    app.finish(r).await
}

// ---------- the dashboard ----------

/// JS: what the dashboard of `room` shows, with the feature's draw count and the pushes of
/// `t_room_stats` this page heard for the room (counted by [`count_pushes_js`]).
fn dashboard_js(room: &str) -> String {
    format!(
        "const p = document.querySelector(\"{pane}\");
         const d = p.querySelector('.dashboard');
         const f = window.liveroomApp.panes.get('{room}').features.dashboard;
         const tile = (n) => d.querySelector('.dash-' + n + ' .dash-value').textContent;
         const svg = d.querySelector('svg.dash-svg');
         const line = svg.querySelector('polyline');
         return {{ visible: d.getClientRects().length > 0,
                   online: tile('online'), peak: tile('peak'), msgs: tile('msgs'), likes: tile('likes'), gifts: tile('gifts'),
                   msgsSub: d.querySelector('.dash-msgs .dash-sub').textContent,
                   labels: [...d.querySelectorAll('.dash-label')].map(e => e.textContent),
                   title: d.querySelector('.dash-title').textContent,
                   topTitle: d.querySelector('.dash-top-title').textContent,
                   legend: d.querySelector('.dash-legend').textContent,
                   gifters: [...d.querySelectorAll('.dash-gifter:not(.none)')].map(li => [li.querySelector('.dash-gifter-nick').textContent, li.querySelector('.dash-gifter-count').textContent]),
                   noGifts: (d.querySelector('.dash-gifter.none') || {{}}).textContent || null,
                   points: Number(svg.dataset.points || 0), dots: svg.querySelectorAll('circle.dash-pt').length,
                   linePoints: line ? line.getAttribute('points').trim().split(/\\s+/).length : 0,
                   draws: f.draws, stats: f.stats, pushes: window.__pushes || 0 }};",
        pane = pane(room)
    )
}

/// JS: counts the room's `t_room_stats` pushes in `window.__pushes`.
fn count_pushes_js(room: &str) -> String {
    format!(
        "window.__pushes = 0;
         window.liveroomApp.session.im.on('t_room_stats', (ev) => {{ if ((ev.roomID || ev.data.roomID) === '{room}') window.__pushes++; }});
         return true"
    )
}

/// Waits (up to `within`) until `cond` (a JS expression of `v`, the dashboard as
/// [`dashboard_js`] reads it) holds; returns `v`. On a timeout the error says what it showed.
async fn wait_dashboard(
    app: &App,
    room: &str,
    what: &str,
    cond: &str,
    within: Duration,
) -> Result<Value> {
    let script = format!(
        "const v = (() => {{ {} }})(); return ({cond}) && v",
        dashboard_js(room)
    );
    let end = Instant::now() + within;
    loop {
        let v = app.js(&script, vec![]).await?;
        if v.is_object() {
            return Ok(v);
        }
        if Instant::now() > end {
            let v = app
                .js(&dashboard_js(room), vec![])
                .await
                .unwrap_or_default();
            anyhow::bail!("timed out waiting for {what}; the dashboard: {v}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A CLI user's custom message (a like or a gift).
fn cli_custom(app: &App, user: &str, room: &str, data: &str, gift: &str, count: u32) -> Result<()> {
    let ext = if data == "gift" {
        format!("{{\"count\":{count}}}")
    } else {
        String::new()
    };
    app.cli(
        Some(user),
        &[
            "send-custom",
            room,
            "--data",
            data,
            "--description",
            gift,
            "--extension",
            &ext,
            "--priority",
            "High",
        ],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn dashboard_shows_the_servers_totals_and_updates_by_itself() -> Result<()> {
    // The server pushes the room's figures every second instead of every 10.
    let app = App::launch_with_env("dashboard", &[("LIVEROOM_ROOM_STATS_EVERY", "1")]).await?;
    let r: Result<()> = async {
        app.login_local("host_dash", "Host").await?;
        app.create_room("dash-1", "Numbers night", "").await?;
        let p = pane("dash-1");
        app.js(&count_pushes_js("dash-1"), vec![]).await?;
        // Hidden with the host panel closed: nothing drawn.
        let v = app.js(&dashboard_js("dash-1"), vec![]).await?;
        ensure!(v["visible"] == json!(false) && v["draws"] == json!(0), "{v}");

        // Opened: the server's figures at once (getRoomStats), nothing sent yet.
        app.click(&format!("{p} .btn-host")).await?;
        let v = wait_dashboard(&app, "dash-1", "the first figures", "v.visible && v.draws >= 1 && v.stats && v.online === String(v.stats.online)", Duration::from_secs(20)).await?;
        ensure!(v["msgs"] == json!("0") && v["likes"] == json!("0") && v["gifts"] == json!("0"), "{v}");
        ensure!(v["noGifts"] == json!("No gifts yet") && v["points"].as_u64() >= Some(1), "{v}");
        ensure!(v["labels"] == json!(["Viewers now", "Peak", "Messages / min", "Likes", "Gifts"]), "{v}");

        // Two CLI users: texts, likes (both spellings) and gifts with counts.
        app.cli(Some("dash_ann"), &["profile", "--nick", "Ann"])?;
        app.cli(Some("dash_bo"), &["profile", "--nick", "Bo"])?;
        for text in ["hello", "what a show", "encore!"] {
            app.cli(Some("dash_ann"), &["send", "dash-1", text])?;
        }
        for text in ["hi all", "👏👏"] {
            app.cli(Some("dash_bo"), &["send", "dash-1", text])?;
        }
        for _ in 0..4 {
            cli_custom(&app, "dash_ann", "dash-1", "like", "", 0)?;
        }
        cli_custom(&app, "dash_ann", "dash-1", "dianzan", "", 0)?;
        for _ in 0..2 {
            cli_custom(&app, "dash_bo", "dash-1", "like", "", 0)?;
        }
        cli_custom(&app, "dash_ann", "dash-1", "gift", "rose", 3)?;
        cli_custom(&app, "dash_ann", "dash-1", "gift", "rocket", 2)?;
        cli_custom(&app, "dash_bo", "dash-1", "gift", "crown", 7)?;
        // 5 texts, 7 likes, 12 gifts: shown by the server's push, the panel left alone.
        let v = wait_dashboard(
            &app,
            "dash-1",
            "the totals pushed",
            "v.msgsSub === '5 in all' && v.likes === '7' && v.gifts === '12' && v.gifters.length === 2",
            Duration::from_secs(20),
        )
        .await?;
        ensure!(v["gifters"] == json!([["Bo", "7"], ["Ann", "5"]]), "top gifters in order: {v}");
        let st = &v["stats"];
        ensure!(
            v["online"] == json!(st["online"].to_string()) && v["peak"] == json!(st["peakOnline"].to_string()),
            "viewers and peak as the server says: {v}"
        );

        // The server's own figures, asked by a moderator from the CLI, are what is shown.
        app.js("return window.liveroomApp.session.im.setAdmin({roomID: 'dash-1', userID: 'dash_mod', admin: true}).then(() => true)", vec![]).await?;
        let server = app.cli(Some("dash_mod"), &["room-stats", "dash-1"])?;
        eprintln!("room-stats: {server}");
        let s = |k: &str| server.get(k).cloned().unwrap_or(Value::Null);
        ensure!(s("messages_total") == json!(5) && s("likes_total") == json!(7) && s("gifts_total") == json!(12), "the server counts: {server}");

        // More, in a later minute: Ann's 4 hearts put her first; the chart gets a second point.
        let started = Instant::now();
        wait_dashboard(&app, "dash-1", "a second minute", "v.points >= 2", Duration::from_secs(75)).await?;
        eprintln!("second minute after {:?}", started.elapsed());
        cli_custom(&app, "dash_ann", "dash-1", "gift", "heart", 4)?;
        for text in ["still here", "and again", "last one"] {
            app.cli(Some("dash_bo"), &["send", "dash-1", text])?;
        }
        let v = wait_dashboard(
            &app,
            "dash-1",
            "the new order",
            "v.gifters.length === 2 && v.gifters[0][0] === 'Ann' && v.gifts === '16' && v.msgsSub === '8 in all'",
            Duration::from_secs(20),
        )
        .await?;
        ensure!(v["gifters"] == json!([["Ann", "9"], ["Bo", "7"]]), "{v}");
        // One point per minute of the session so far, as the server counts minutes.
        let st = &v["stats"];
        let minutes = st["minutes"].as_array().map_or(0, |m| m.len() as u64);
        // The server's minutes are the clock's: the first one is the minute the room was made in.
        let minute = |k: &str| st[k].as_u64().unwrap_or(0) / 60;
        let elapsed = minute("at") - minute("startedAt") + 1;
        ensure!(v["points"] == json!(minutes) && v["dots"] == json!(minutes) && v["linePoints"] == json!(minutes), "{v}");
        ensure!(minutes == elapsed, "one point per minute: {minutes} for {elapsed} minutes: {st}");
        let per_minute: Vec<u64> = st["minutes"].as_array().unwrap().iter().map(|m| m["messages"].as_u64().unwrap_or(0)).collect();
        ensure!(per_minute.iter().sum::<u64>() == 8 && per_minute.last() == Some(&3), "messages per minute: {per_minute:?}");
        // Never more than one drawing per push (or per opening).
        ensure!(v["draws"].as_u64() <= v["pushes"].as_u64().map(|n| n + 1), "{v}");
        app.screenshot("dashboard").await?;
        app.click(".topbar .js-theme").await?;
        // Past the buttons' and inputs' colour transitions.
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.screenshot("dashboard-dark").await?;
        app.click(".topbar .js-theme").await?;

        // Closed: pushes are kept, not drawn; opened again: drawn once, with the newest.
        app.click(&format!("{p} .btn-host")).await?;
        let closed = app.js(&dashboard_js("dash-1"), vec![]).await?;
        let draws = closed["draws"].as_u64().unwrap_or(0);
        let pushes = closed["pushes"].as_u64().unwrap_or(0);
        app.cli(Some("dash_bo"), &["send", "dash-1", "while it is closed"])?;
        let v = wait_dashboard(&app, "dash-1", "two pushes while closed", &format!("v.pushes >= {} + 2", pushes), Duration::from_secs(20)).await?;
        ensure!(v["draws"] == json!(draws) && v["visible"] == json!(false), "nothing drawn while closed: {v}");
        app.click(&format!("{p} .btn-host")).await?;
        let v = wait_dashboard(&app, "dash-1", "drawn again", "v.visible && v.msgsSub === '9 in all'", Duration::from_secs(20)).await?;
        ensure!(v["draws"].as_u64() <= Some(draws + 2), "drawn once on opening (and at most once per push since): {v}");

        // Chinese.
        app.click("#main-lang").await?;
        let v = wait_dashboard(&app, "dash-1", "Chinese labels", "v.title === '实时数据'", Duration::from_secs(10)).await?;
        ensure!(v["labels"] == json!(["当前观众", "峰值", "每分钟消息", "点赞", "礼物"]), "{v}");
        ensure!(v["topTitle"] == json!("礼物榜") && v["msgsSub"] == json!("共 9 条"), "{v}");
        app.screenshot("dashboard-zh").await?;
        app.click("#main-lang").await?;

        // Leaving the room: the dashboard stops listening.
        let before = app.js("return (window.liveroomApp.session.im._handlers.get('t_room_stats') || []).length", vec![]).await?;
        app.click(&format!("{p} .btn-leave")).await?;
        app.wait_js("the pane closed", &format!("return !document.querySelector(\"{p}\")")).await?;
        let after = app.js("return (window.liveroomApp.session.im._handlers.get('t_room_stats') || []).length", vec![]).await?;
        ensure!(after.as_u64().map(|n| n + 1) == before.as_u64(), "one listener fewer: {before} → {after}");
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn the_dashboard_comes_and_goes_with_the_moderator_role() -> Result<()> {
    let app = App::launch_with_env("dashboard-role", &[("LIVEROOM_ROOM_STATS_EVERY", "1")]).await?;
    let r: Result<()> = async {
        app.login_local("mod_dash", "Mod").await?;
        // Someone else's room: a member sees no host panel and no dashboard.
        app.cli(Some("own_dash"), &["create-room", "--name", "Their numbers", "--room-id", "role-1"])?;
        app.cli(Some("fan_dash"), &["profile", "--nick", "Cy"])?;
        app.cli(Some("fan_dash"), &["send", "role-1", "before you came"])?;
        cli_custom(&app, "fan_dash", "role-1", "gift", "cake", 6)?;
        let role = app.enter_room("role-1").await?;
        ensure!(role == json!("member"), "{role}");
        let p = pane("role-1");
        app.js(&count_pushes_js("role-1"), vec![]).await?;
        let hidden = app
            .js(&format!("const p = document.querySelector(\"{p}\"); return [p.querySelector('.btn-host').hidden, p.querySelector('.dashboard').hidden]"), vec![])
            .await?;
        ensure!(hidden == json!([true, true]), "a member: {hidden}");

        // Made an admin: the Manage button, and the room's figures since it was made.
        app.cli(Some("own_dash"), &["set-admin", "role-1", "mod_dash", "on"])?;
        app.wait_js("the Manage button", &format!("return !document.querySelector(\"{p} .btn-host\").hidden")).await?;
        app.click(&format!("{p} .btn-host")).await?;
        let v = wait_dashboard(
            &app,
            "role-1",
            "the admin's dashboard",
            "v.visible && v.msgsSub === '1 in all' && v.gifts === '6' && v.gifters.length === 1",
            Duration::from_secs(20),
        )
        .await?;
        ensure!(v["gifters"] == json!([["Cy", "6"]]), "{v}");
        wait_dashboard(&app, "role-1", "pushes to the admin", "v.pushes >= 2", Duration::from_secs(10)).await?;
        app.screenshot("dashboard-admin").await?;

        // No longer an admin: the panel and its dashboard go, and the server stops pushing.
        app.cli(Some("own_dash"), &["set-admin", "role-1", "mod_dash", "off"])?;
        app.wait_js("the Manage button gone", &format!("return document.querySelector(\"{p} .btn-host\").hidden")).await?;
        let v = app.js(&dashboard_js("role-1"), vec![]).await?;
        ensure!(v["visible"] == json!(false), "{v}");
        let hidden = app.js(&format!("return document.querySelector(\"{p} .dashboard\").hidden"), vec![]).await?;
        ensure!(hidden == json!(true), "the dashboard hidden for a member");
        let pushes = v["pushes"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let v = app.js(&dashboard_js("role-1"), vec![]).await?;
        ensure!(v["pushes"].as_u64().unwrap_or(0) <= pushes + 1, "no pushes to a member: {pushes} → {v}");
        Ok(())
    }
    .await;
    app.finish(r).await
}
