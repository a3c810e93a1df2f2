//! Window test of the OBS overlay link (ui/features/overlay-link.js): the real app under
//! tauri-driver, like window.rs. Run by scripts/test-app (#[ignore]d in a plain `cargo test`:
//! no display there).
//!
//! The host opens the host panel, sees the overlay URL of the room on the app's embedded
//! server, copies it, switches the chat's form, and the preview (the server's overlay page in
//! a frame) shows a message sent with the CLI, user text as text.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use liveroom_app_tests::App;
use serde_json::{json, Value};

const ROOM: &str = "obs-1";

fn pane() -> String {
    format!(".pane[data-room='{ROOM}']")
}

/// JS: the overlay link's state in the room's pane as `v`, then `then` (e.g. `return v`).
fn link_js(then: &str) -> String {
    format!(
        "const p = document.querySelector(\"{pane}\"); const s = p.querySelector('.overlay-link');
         const f = s.querySelector('.ovl-frame');
         const v = {{shown: !s.hidden && s.offsetWidth > 0, url: s.querySelector('.ovl-url').value,
                  copy: s.querySelector('.ovl-copy').textContent, title: s.querySelector('.ovl-title').textContent,
                  modes: [...s.querySelectorAll('.ovl-mode')].map(b => [b.textContent, b.getAttribute('aria-pressed')]),
                  frame: f.getAttribute('src') || '', previewShown: !s.querySelector('.ovl-preview').hidden,
                  frameBox: [Math.round(f.getBoundingClientRect().width), Math.round(f.getBoundingClientRect().height)]}}; {then}",
        pane = pane()
    )
}

/// Waits until the frame's page satisfies `cond` (a JS expression over `document`), with the
/// WebDriver session inside the preview frame; returns to the app's page either way.
async fn in_preview(app: &App, what: &str, script: &str) -> Result<Value> {
    let frame = app
        .wait_css(&format!("{} .ovl-frame", pane()))
        .await
        .context("the preview frame")?;
    frame
        .enter_frame()
        .await
        .context("switch to the preview frame")?;
    let end = Instant::now() + Duration::from_secs(20);
    let result = loop {
        match app.client.execute(script, vec![]).await {
            Ok(v) if !(v.is_null() || v == json!(false)) => break Ok(v),
            Ok(_) | Err(_) if Instant::now() > end => {
                break Err(anyhow::anyhow!(
                    "timed out waiting for {what} in the preview"
                ))
            }
            _ => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    };
    app.client
        .enter_parent_frame()
        .await
        .context("back to the app's page")?;
    result
}

/// Scrolls the host panel to the overlay link (the dashboard is above it), for a screenshot.
async fn show_link(app: &App) -> Result<()> {
    app.js(
        &format!(
            "document.querySelector(\"{} .overlay-link\").scrollIntoView({{block: 'end'}})",
            pane()
        ),
        vec![],
    )
    .await?;
    // A frame out of view pauses its animations: let what came in meanwhile finish.
    tokio::time::sleep(Duration::from_millis(700)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn the_host_panel_shows_copies_and_previews_the_overlay_url() -> Result<()> {
    let app = App::launch("overlay-link").await?;
    let r: Result<()> = async {
        app.login_local("host_obs", "Host Obs").await?;
        app.create_room(ROOM, "OBS night", "").await?;
        let (app_id, _) = app.keys()?;
        let p = pane();

        // Closed panel: no preview page (it would be one more guest in the room).
        let v = app.js(&link_js("return v"), vec![]).await?;
        ensure!(v["shown"] == json!(false), "{v}");
        ensure!(v["frame"] == json!("") || v["frame"] == json!("about:blank"), "{v}");

        app.click(&format!("{p} .btn-host")).await?;
        let want = format!("{}/overlay/{ROOM}?app={app_id}&mode=list&lang=en", app.server());
        // The preview runs only when asked for (it renders the room's whole flood).
        let v = app.wait_js("the overlay link", &link_js("return v.shown && v.url && v")).await?;
        ensure!(v["frame"] == json!("") || v["frame"] == json!("about:blank"), "no preview yet: {v}");
        ensure!(v["previewShown"] == json!(false), "{v}");
        show_link(&app).await?;
        app.click(&format!("{p} .ovl-preview-btn")).await?;
        let v = app
            .wait_js("the overlay link", &link_js("return v.shown && v.frame && v"))
            .await?;
        ensure!(v["url"] == json!(want), "{v}");
        ensure!(v["frame"] == json!(want), "the preview is the URL: {v}");
        ensure!(v["title"] == json!("OBS overlay"), "{v}");
        ensure!(v["modes"] == json!([["Chat list", "true"], ["Danmaku", "false"]]), "{v}");
        ensure!(v["frameBox"] == json!([320, 180]), "a small preview: {v}");

        // Copy: the button says so, and the clipboard holds the URL when WebKit lets a page
        // read it back.
        app.click(&format!("{p} .ovl-copy")).await?;
        app.wait_js("Copied", &format!("return document.querySelector(\"{p} .ovl-copy\").textContent === 'Copied'"))
            .await?;
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            app.client.execute_async(
                "const done = arguments[arguments.length - 1];
                 if (!navigator.clipboard || !navigator.clipboard.readText) return done(null);
                 navigator.clipboard.readText().then(done, () => done(null));",
                vec![],
            ),
        )
        .await;
        match read {
            Ok(Ok(Value::String(text))) => ensure!(text == want, "the clipboard holds {text:?}"),
            other => eprintln!("overlay-link: the clipboard cannot be read back here ({other:?}); the Copied state was checked"),
        }

        // The preview is the server's page, in the room: a message sent with the CLI shows,
        // HTML in it as text.
        in_preview(&app, "the page in the room", "return document.body.dataset.state === 'live'").await?;
        app.cli(Some("fan_obs"), &["profile", "--nick", "Lily"])?;
        app.cli(Some("fan_obs"), &["send", ROOM, "hello OBS <b>bold?</b>"])?;
        let line = in_preview(
            &app,
            "the CLI's message",
            "const l = document.querySelector('#chat li.kind-chat'); return l && \
             [l.querySelector('.nick').textContent, l.querySelector('.text').textContent, document.querySelectorAll('#chat b').length]",
        )
        .await?;
        ensure!(line == json!(["Lily", "hello OBS <b>bold?</b>", 0]), "{line}");
        app.cli(
            Some("fan_obs"),
            &["send-custom", ROOM, "--data", "gift", "--description", "rose", "--extension", r#"{"count":5}"#, "--priority", "High"],
        )?;
        in_preview(&app, "the gift card", "const c = document.querySelector('#gifts .gift-card .gift-count'); return c && c.textContent === '×5'")
            .await?;
        show_link(&app).await?;
        app.screenshot("overlay-link").await?;

        // Danmaku: the URL and the preview follow.
        app.click(&format!("{p} .ovl-mode[data-mode='danmaku']")).await?;
        let danmaku = want.replace("mode=list", "mode=danmaku");
        let v = app
            .wait_js("the danmaku URL", &link_js(&format!("return v.frame === {} && v", json!(danmaku))))
            .await?;
        ensure!(v["url"] == json!(danmaku), "{v}");
        ensure!(v["modes"] == json!([["Chat list", "false"], ["Danmaku", "true"]]), "{v}");
        in_preview(&app, "danmaku mode", "return document.documentElement.classList.contains('mode-danmaku') && document.body.dataset.state === 'live'").await?;
        app.cli(Some("fan_obs"), &["send", ROOM, "弹幕来了"])?;
        in_preview(
            &app,
            "a flying line",
            "return [...document.querySelectorAll('#danmaku .dm.flying')].some(n => n.textContent.includes('弹幕来了'))",
        )
        .await?;
        show_link(&app).await?;
        app.screenshot("overlay-link-danmaku").await?;

        // Chinese: the labels, and the overlay's own language in its URL.
        app.click("#main-lang").await?;
        let v = app
            .wait_js("the Chinese labels", &link_js("return v.title === 'OBS 直播叠加层' && v"))
            .await?;
        ensure!(v["url"] == json!(danmaku.replace("lang=en", "lang=zh")), "{v}");
        ensure!(v["copy"] == json!("复制") && v["modes"] == json!([["聊天列表", "false"], ["弹幕", "true"]]), "{v}");
        in_preview(&app, "the Chinese overlay", "return document.documentElement.lang === 'zh-CN' && document.body.dataset.state === 'live'").await?;
        app.cli(Some("fan_obs"), &["send", ROOM, "主播加油！"])?;
        in_preview(
            &app,
            "a Chinese line flying",
            "return [...document.querySelectorAll('#danmaku .dm.flying')].some(n => n.textContent.includes('主播加油'))",
        )
        .await?;
        show_link(&app).await?;
        app.screenshot("overlay-link-zh").await?;
        app.click("#main-lang").await?;

        // Closing the panel ends the preview page.
        app.click(&format!("{p} .btn-host")).await?;
        let v = app
            .wait_js("the preview ended", &link_js("return !v.previewShown && v"))
            .await?;
        ensure!(v["frame"] == json!("about:blank"), "{v}");
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn the_overlay_url_follows_the_servers_address() -> Result<()> {
    let app = App::launch("overlay-url").await?;
    let r: Result<()> = async {
        app.wait_css("#start-lang").await?;
        let cases = json!([
            ["http://127.0.0.1:9000", "http://127.0.0.1:9000"],
            ["ws://live.example.org:9000/ws", "http://live.example.org:9000"],
            ["wss://live.example.org", "https://live.example.org"],
            ["https://live.example.org/chat/ws/", "https://live.example.org/chat"],
            ["10.0.0.5:9000", "http://10.0.0.5:9000"],
            ["ws://10.0.0.1:9001, ws://10.0.0.2:9002", "http://10.0.0.1:9001"],
            ["ftp://x", ""],
            ["", ""]
        ]);
        let got = app
            .client
            .execute_async(
                "const [cases, done] = arguments;
                 import('./features/overlay-link.js').then(m => done(cases.map(([s]) => [s, m.serverRoot(s)]))).catch(e => done(String(e)));",
                vec![cases.clone()],
            )
            .await?;
        let Value::Array(got) = got else { bail!("{got}") };
        for (got, case) in got.iter().zip(cases.as_array().into_iter().flatten()) {
            ensure!(got[1] == case[1], "{} → {} (want {})", case[0], got[1], case[1]);
        }
        let url = app
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 import('./features/overlay-link.js').then(m => done(m.overlayURL('wss://live.example.org', 1400000001, '@TGS#a b', 'danmaku', 'zh')));",
                vec![],
            )
            .await?;
        ensure!(
            url == json!("https://live.example.org/overlay/%40TGS%23a%20b?app=1400000001&mode=danmaku&lang=zh"),
            "{url}"
        );
        Ok(())
    }
    .await;
    app.finish(r).await
}
