//! The desktop app in its real window (tauri-driver + WebKitWebDriver under Xvfb), against its
//! embedded server, with the `liveroom` CLI as the other side. Each test saves screenshots
//! under `tests/artifacts/`. Each is `#[ignore]`d, so a plain `cargo test` lists it as ignored
//! instead of passing without running; scripts/test-app runs them with `--include-ignored`.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use base64::Engine as _;
use liveroom_app_tests::{make_png, App};
use serde_json::{json, Value};

/// Types `text` into the room's input and presses Send; waits until the server confirmed it.
async fn send_text(app: &App, room: &str, text: &str) -> Result<()> {
    let pane = format!(".pane[data-room='{room}']");
    app.fill(&format!("{pane} .text-input"), text).await?;
    app.click(&format!("{pane} .btn-send")).await?;
    app.wait_js(
        "the sent message confirmed",
        &format!(
            "return [...document.querySelectorAll(\"{pane} .msg.me:not(.pending)\")].some(li => li.querySelector('.text') && li.querySelector('.text').textContent === {})",
            json!(text)
        ),
    )
    .await?;
    Ok(())
}

/// Whether the room shows a chat bubble with exactly `text` (as text).
fn shows_text_js(room: &str, text: &str) -> String {
    format!(
        "return [...document.querySelectorAll(\".pane[data-room='{room}'] .msg .text\")].some(s => s.textContent === {})",
        json!(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn start_screen_shows_embedded_server_and_switches_language() -> Result<()> {
    let app = App::launch("start").await?;
    let r: Result<()> = async {
        let addr = app
            .wait_js(
                "embedded address",
                "const t = document.getElementById('embedded-address').textContent; return /^http/.test(t) && t",
            )
            .await?;
        ensure!(addr == json!(app.server()), "shows {addr}, expected {}", app.server());
        let (app_id, _) = app.keys()?;
        let shown = app.js("return document.getElementById('embedded-appid').textContent", vec![]).await?;
        ensure!(shown == json!(app_id.to_string()), "SDKAppID shown {shown}, kept {app_id}");
        app.screenshot("start-en").await?;

        // LAN access rebinds on all interfaces, same port, and back.
        app.click(".switch").await?;
        app.wait_js("LAN on", "return document.getElementById('lan-toggle').checked").await?;
        let info = app.js("return window.__TAURI__.core.invoke('embedded_info')", vec![]).await?;
        ensure!(info["lan"] == json!(true) && info["port"] == json!(app.port), "{info}");
        app.click(".switch").await?;
        app.wait_js("LAN off", "return !document.getElementById('lan-toggle').checked").await?;

        app.click("#start-lang").await?;
        let title = app.js("return document.querySelector('#form-local h2').textContent", vec![]).await?;
        ensure!(title == json!("在本机运行"), "Chinese title: {title}");
        app.screenshot("start-zh").await?;
        app.click("#start-lang").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn chat_reaches_the_cli_and_back() -> Result<()> {
    let app = App::launch("chat").await?;
    let r: Result<()> = async {
        app.login_local("host_chat", "Host 主播").await?;
        app.create_room("chat-1", "Evening show", "Be nice · 文明发言").await?;
        let notice = app.js("return document.querySelector(\".pane[data-room='chat-1'] .notice\").textContent", vec![]).await?;
        ensure!(notice == json!("Be nice · 文明发言"), "notice {notice}");

        send_text(&app, "chat-1", "first, before the tail").await?;
        let tail = app.tail("chat-1", 2)?;
        tail.wait_line("the history message", |v| {
            v["name"] == "t_text_message_received" && v["data"][0]["payload"]["text"] == "first, before the tail"
        })?;
        send_text(&app, "chat-1", "hello from the app 你好").await?;
        let ev = tail.wait_line("the app's message", |v| {
            v["name"] == "t_text_message_received" && v["data"][0]["payload"]["text"] == "hello from the app 你好"
        })?;
        ensure!(ev["data"][0]["from"] == "host_chat" && ev["data"][0]["nick"] == "Host 主播", "{ev}");
        tail.finish(Duration::from_secs(10))?;

        app.cli(Some("cli_bob"), &["profile", "--nick", "Bob from the CLI"])?;
        app.cli(Some("cli_bob"), &["send", "chat-1", "hi from the CLI 👋"])?;
        app.wait_js("the CLI's message", &shows_text_js("chat-1", "hi from the CLI 👋")).await?;
        let who = app
            .js("return [...document.querySelectorAll(\".pane[data-room='chat-1'] .msg .who\")].map(w => w.textContent)", vec![])
            .await?;
        ensure!(who.to_string().contains("Bob from the CLI"), "nick shown: {who}");
        app.screenshot("chat").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn html_in_user_text_is_shown_as_text() -> Result<()> {
    let app = App::launch("html-as-text").await?;
    let r: Result<()> = async {
        app.login_local("host_html", "<i>nick</i>").await?;
        app.create_room("html-1", "<b>room</b>", "<script>alert(1)</script>").await?;
        let evil = "<b>x</b><img src=x onerror=\"window.__pwned=1\">";
        app.cli(Some("mallory"), &["profile", "--nick", "<img src=y onerror=\"window.__pwned=2\">"])?;
        app.cli(Some("mallory"), &["send", "html-1", evil])?;
        app.wait_js("the CLI's HTML text", &shows_text_js("html-1", evil)).await?;
        send_text(&app, "html-1", evil).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let v = app
            .js(
                "const p = document.querySelector(\".pane[data-room='html-1']\");
                 return {
                   pwned: window.__pwned === undefined ? null : window.__pwned,
                   bold: document.querySelectorAll('#panes b:not(.online-count), #panes script').length,
                   badImgs: [...document.querySelectorAll('img')].filter(i => /(^|\\/)(x|y)$/.test(i.getAttribute('src') || '')).length,
                   name: p.querySelector('.room-name').textContent,
                   notice: p.querySelector('.notice').textContent,
                 }",
                vec![],
            )
            .await?;
        ensure!(v["pwned"].is_null(), "a handler ran: {v}");
        ensure!(v["bold"] == json!(0) && v["badImgs"] == json!(0), "HTML was parsed: {v}");
        ensure!(v["name"] == json!("<b>room</b>") && v["notice"] == json!("<script>alert(1)</script>"), "{v}");
        app.screenshot("html-as-text").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn like_and_gift_animations_play() -> Result<()> {
    let app = App::launch("likes-gifts").await?;
    let r: Result<()> = async {
        app.login_local("host_fx", "Host FX").await?;
        app.create_room("fx-1", "Gifts & likes", "").await?;
        let pane = ".pane[data-room='fx-1']";
        let tail = app.tail("fx-1", 2)?;
        // The tail is in once it has seen a message; send one first.
        send_text(&app, "fx-1", "warming up").await?;
        tail.wait_line("history", |v| v["name"] == "t_text_message_received")?;

        app.click(&format!("{pane} .btn-like")).await?;
        app.wait_js("hearts", &format!("return document.querySelectorAll(\"{pane} .fx-hearts .heart\").length")).await?;
        app.click(&format!("{pane} .btn-gift")).await?;
        app.click(&format!("{pane} .gift-btn[data-gift='rocket']")).await?;
        app.wait_js("the rocket", &format!("return !!document.querySelector(\"{pane} .gift-fx[data-gift='rocket']\")")).await?;
        let like = tail.wait_line("the like", |v| v["name"] == "t_custom_message_received")?;
        ensure!(like["data"][0]["payload"]["data"] == "dianzan", "{like}");

        // Received from someone else: a like makes hearts, gifts queue up and play in turn.
        for gift in ["crown", "cake", "rose"] {
            app.cli(Some("fan_1"), &["send-custom", "fx-1", "--data", "gift", "--description", gift, "--priority", "High"])?;
        }
        app.cli(Some("fan_1"), &["send-custom", "fx-1", "--data", "dianzan", "--priority", "Low"])?;
        app.wait_js("the crown", &format!("return !!document.querySelector(\"{pane} .gift-fx[data-gift='crown']\")")).await?;
        app.wait_js("hearts from the fan", &format!("return document.querySelectorAll(\"{pane} .fx-hearts .heart\").length")).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.screenshot("likes-gifts").await?;
        app.wait_js(
            "every gift played",
            &format!("return document.querySelector(\"{pane}\") && window.liveroomApp.panes.get('fx-1').gifts.played >= 4"),
        )
        .await?;

        // A combo: one fan's same gift sent three times at once is one card counting up
        // (2 + 2 + 2), not three cards.
        let fan = sender(&app, "fan_combo", "fx-1").await?;
        for _ in 0..3 {
            let heart = liveroom_engine::proto::CustomPayload {
                data: "gift".into(),
                description: "heart".into(),
                extension: r#"{"count":2}"#.into(),
            };
            fan.send_custom_message("fx-1", heart, liveroom_engine::Priority::High).await?;
        }
        let combo = app
            .wait_js(
                "one heart card counting to x6",
                &format!(
                    "const c = document.querySelectorAll(\"{pane} .gift-fx[data-from='fan_combo'][data-gift='heart']\");
                     const n = c.length ? c[0].querySelector('.g-count').textContent : '';
                     return n === 'x6' ? {{cards: c.length, merged: window.liveroomApp.panes.get('fx-1').gifts.merged}} : null"
                ),
            )
            .await?;
        ensure!(combo["cards"] == 1 && combo["merged"] == 2, "{combo}");
        app.screenshot("gift-combo").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn picture_uploads_with_progress_and_shows_a_thumbnail() -> Result<()> {
    let app = App::launch("picture").await?;
    let r: Result<()> = async {
        app.login_local("host_pic", "Pic host").await?;
        app.create_room("pic-1", "Pictures", "").await?;
        let pane = ".pane[data-room='pic-1']";
        send_text(&app, "pic-1", "a picture follows").await?;
        let tail = app.tail("pic-1", 2)?;
        tail.wait_line("history", |v| v["name"] == "t_text_message_received")?;

        // Given through the picture input, as a user picking a file would.
        let png = make_png(1200, 800);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
        app.js(
            "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
             const file = new File([bytes], 'sunset.png', {type: 'image/png'});
             const dt = new DataTransfer();
             dt.items.add(file);
             const input = document.querySelector(arguments[1] + ' .file-input');
             input.files = dt.files;
             input.dispatchEvent(new Event('change', {bubbles: true}));
             return true;",
            vec![json!(b64), json!(pane)],
        )
        .await?;
        app.wait_js("the upload bar", &format!("return !document.querySelector(\"{pane} .upload\").hidden")).await?;
        app.screenshot("picture-uploading").await?;
        app.wait_js(
            "the thumbnail",
            &format!("const i = document.querySelector(\"{pane} .msg img.thumb\"); return i && i.complete && i.naturalWidth > 0"),
        )
        .await?;
        let v = app
            .js(
                &format!(
                    "const p = document.querySelector(\"{pane}\"); const i = p.querySelector('.msg img.thumb');
                     return {{events: Number(p.dataset.progressEvents), last: Number(p.dataset.uploadProgress),
                              w: i.naturalWidth, h: i.naturalHeight, src: i.src, original: i.dataset.original}}"
                ),
                vec![],
            )
            .await?;
        ensure!(v["events"].as_f64().unwrap_or(0.0) >= 2.0 && v["last"] == json!(1), "progress: {v}");
        ensure!(v["w"].as_u64().unwrap_or(0) < 1200, "the thumbnail is smaller than the original: {v}");
        let ev = tail.wait_line("the image message", |v| v["name"] == "t_image_message_received")?;
        let infos = &ev["data"][0]["payload"]["imageInfoArray"];
        ensure!(infos[0]["width"] == json!(1200) && infos[0]["sizeType"] == json!(1), "{ev}");
        app.screenshot("picture").await?;

        app.click(&format!("{pane} .msg img.thumb")).await?;
        app.wait_js(
            "the original",
            "const i = document.getElementById('viewer-img'); return document.getElementById('dlg-image').open && i.complete && i.naturalWidth === 1200",
        )
        .await?;
        app.screenshot("picture-original").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn stop_push_shows_the_ended_notice_to_a_viewer() -> Result<()> {
    let host = App::launch("stop-push-host").await?;
    let r: Result<()> = async {
        host.login_local("host_live", "Host Live").await?;
        host.create_room("live-1", "Last show", "Tonight only").await?;
        let (app_id, _) = host.keys()?;
        let server = host.server();
        let tail = host.tail("live-1", 2)?;
        send_text(&host, "live-1", "welcome!").await?;
        tail.wait_line("history", |v| v["name"] == "t_text_message_received")?;

        // A second app instance watches as a guest, on the host's embedded server.
        let viewer = App::launch("stop-push-viewer").await?;
        let r: Result<()> = async {
                viewer.fill("#guest-server", &server).await?;
                viewer.fill("#guest-appid", &app_id.to_string()).await?;
                viewer.fill("#guest-room", "live-1").await?;
                viewer.click("#guest-watch").await?;
                viewer.wait_css(".pane[data-room='live-1']").await?;
                viewer.wait_js("history in the viewer", &shows_text_js("live-1", "welcome!")).await?;
                let live = viewer.js("return document.querySelector(\".pane[data-room='live-1'] .badge\").classList.contains('live')", vec![]).await?;
                ensure!(live == json!(true), "live badge before stop");

                host.click(".pane[data-room='live-1'] .btn-host").await?;
                host.fill(".pane[data-room='live-1'] .postscript", "See you tomorrow! 明天见").await?;
                host.click(".pane[data-room='live-1'] .btn-stop").await?;
                viewer
                    .wait_js(
                        "the ended notice",
                        "const p = document.querySelector(\".pane[data-room='live-1']\"); return !p.querySelector('.ended-notice').hidden && p.querySelector('.ended-postscript').textContent",
                    )
                    .await
                    .and_then(|v| {
                        ensure!(v == json!("See you tomorrow! 明天见"), "postscript {v}");
                        Ok(())
                    })?;
                let ev = tail.wait_line("push stopped", |v| v["name"] == "t_push_stopped")?;
                ensure!(ev["data"] == "See you tomorrow! 明天见", "{ev}");
                viewer.screenshot("stop-push-viewer").await?;
                host.screenshot("stop-push-host").await?;
                Ok(())
        }
        .await;
        viewer.finish(r).await
    }
    .await;
    host.finish(r).await
}

/// The seed's own examples (the TWebLive API page), run unchanged through `window.TWebLive`.
const SEED_EXAMPLES: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const r = {};
  const { SDKAppID, userSig } = await TWebLive.genTestUserSig('seed_user');
  r.sdkAppID = SDKAppID;
  let im = TWebLive.createIM({ SDKAppID });
  r.singleton = TWebLive.createIM({ SDKAppID: 1 }) === im;
  r.events = TWebLive.EVENT;
  r.types = TWebLive.TYPES;
  window.__seed = { got: [], removed: [] };
  let onTextMessageReceived = function (event) {
    event.data.forEach(function (message) {
      console.log('im | ' + (message.from || message.nick) + ' : ', message.payload.text);
      window.__seed.got.push(message.payload.text);
    });
  };
  im.on(TWebLive.EVENT.IM_TEXT_MESSAGE_RECEIVED, onTextMessageReceived);
  let removed = function (event) { window.__seed.removed.push(event.data.length); };
  im.on(TWebLive.EVENT.IM_TEXT_MESSAGE_RECEIVED, removed);
  im.off(TWebLive.EVENT.IM_TEXT_MESSAGE_RECEIVED, removed);
  im.on(TWebLive.EVENT.IM_TEXT_MESSAGE_RECEIVED, function () { throw new Error('a broken handler'); });
  im.setLogLevel(1);

  let res = await im.login({ userID: 'seed_user', userSig: userSig });
  r.login = res;
  res = await im.login({ userID: 'seed_user', userSig: userSig });
  r.repeatLogin = res.data.repeatLogin;

  let created = await im.createRoom({ name: '我的直播间X' });
  r.groupID = created.data.group.groupID;
  r.createCode = created.code;
  await im.createRoom({ name: 'AV1', roomID: 'AV1', notification: '公告', introduction: '简介' });
  let entered = await im.enterRoom('AV1');
  switch (entered.data.status) {
    case TWebLive.TYPES.ENTER_ROOM_SUCCESS: r.enter = 'success'; break;
    case TWebLive.TYPES.ALREADY_IN_ROOM: r.enter = 'already'; break;
    default: r.enter = entered.data.status;
  }
  let text = await im.sendTextMessage({ roomID: 'AV1', priority: TWebLive.TYPES.MSG_PRIORITY_NORMAL, text: 'hello from TWebLive' });
  r.text = { code: text.code, type: text.data.message.type, text: text.data.message.payload.text, priority: text.data.message.priority };
  let custom = await im.sendCustomMessage({ roomID: 'AV1', priority: TWebLive.TYPES.MSG_PRIORITY_LOW, data: 'dianzan', description: '', extension: '' });
  r.custom = { code: custom.code, data: custom.data.message.payload.data, priority: custom.data.message.priority };
  let profile = await im.setMyProfile({ nick: '我的昵称', avatar: 'http://127.0.0.1/a.jpg' });
  r.setProfile = profile.code;
  let me = await im.getMyProfile();
  r.profile = { nick: me.data.nick, avatar: me.data.avatar };
  try {
    await im.sendTextMessage({ roomID: 'never-entered', text: 'x' });
    r.notInRoom = 'resolved?!';
  } catch (imError) {
    r.notInRoom = { code: imError.code, hasMessage: typeof imError.message === 'string' && imError.message.length > 0 };
  }
  try {
    await im.createRoom({ name: 'taken', roomID: 'AV1' });
  } catch (imError) {
    r.taken = imError.code;
  }
  done(r);
})().catch(function (e) { done({ failed: String(e && e.code) + ' ' + String(e && e.message || e) }); });
"#;

const SEED_EXAMPLES_2: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const im = TWebLive.createIM({ SDKAppID: 1 });
  const r = { got: window.__seed.got, removed: window.__seed.removed };
  let stopped = await im.stopPush({ roomID: 'AV1', postscript: '欢迎下次再来呦' });
  r.stop = { code: stopped.code, data: stopped.data.message.payload.data };
  let exited = await im.exitRoom('AV1');
  r.exit = exited.data.groupID;
  let out = await im.logout();
  r.logout = out.code;
  try { await im.createRoom({ name: 'after logout' }); } catch (imError) { r.afterLogout = imError.code; }
  done(r);
})().catch(function (e) { done({ failed: String(e && e.code) + ' ' + String(e && e.message || e) }); });
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn the_seed_examples_run_through_the_tweblive_layer() -> Result<()> {
    let app = App::launch("seed-examples").await?;
    let r: Result<()> = async {
        app.wait_js("embedded server", "return /^http/.test(document.getElementById('embedded-address').textContent)").await?;
        let r = app.client.execute_async(SEED_EXAMPLES, vec![]).await?;
        ensure!(r.get("failed").is_none(), "seed examples failed: {r}");
        ensure!(r["singleton"] == json!(true), "createIM is a singleton: {r}");
        ensure!(r["events"]["IM_TEXT_MESSAGE_RECEIVED"] == "t_text_message_received"
            && r["events"]["IM_PUSH_STOPPED"] == "t_push_stopped"
            && r["events"]["IM_NET_STATE_CHANGED"] == "t_net_state_change", "EVENT: {r}");
        ensure!(r["types"]["ENTER_ROOM_SUCCESS"] == "JoinedSuccess" && r["types"]["MSG_PRIORITY_LOWEST"] == "Lowest", "TYPES: {r}");
        ensure!(r["login"]["code"] == json!(0) && r["repeatLogin"] == json!(true), "login: {r}");
        ensure!(r["groupID"].as_str().is_some_and(|g| g.starts_with("@TGS#")), "auto room ID: {r}");
        ensure!(r["enter"] == "success" || r["enter"] == "already", "enter: {r}");
        ensure!(r["text"] == json!({"code": 0, "type": "TIMTextElem", "text": "hello from TWebLive", "priority": "Normal"}), "text: {r}");
        ensure!(r["custom"] == json!({"code": 0, "data": "dianzan", "priority": "Low"}), "custom: {r}");
        ensure!(r["profile"] == json!({"nick": "我的昵称", "avatar": "http://127.0.0.1/a.jpg"}), "profile: {r}");
        ensure!(r["notInRoom"]["code"] == json!(2100) && r["notInRoom"]["hasMessage"] == json!(true), "imError: {r}");
        ensure!(r["taken"] == json!(10025), "room taken by you: {r}");

        // Someone else talks in AV1: the handler gets it, the removed one does not, and the
        // broken one does not stop delivery.
        app.cli(Some("seed_fan"), &["send", "AV1", "hello seed"])?;
        app.wait_js("the fan's text", "return window.__seed.got.includes('hello seed')").await?;
        let r2 = app.client.execute_async(SEED_EXAMPLES_2, vec![]).await?;
        ensure!(r2.get("failed").is_none(), "seed examples (2) failed: {r2}");
        ensure!(r2["removed"] == json!([]), "off removed the handler: {r2}");
        ensure!(r2["stop"] == json!({"code": 0, "data": "push_stopped"}), "stopPush: {r2}");
        ensure!(r2["exit"] == "AV1" && r2["logout"] == json!(0), "{r2}");
        ensure!(r2["afterLogout"] == json!(2999), "not logged in: {r2}");
        let summary: Value = json!({"part1": r, "part2": r2});
        std::fs::write(
            liveroom_app_tests::artifacts().join("seed-examples.json"),
            serde_json::to_vec_pretty(&summary)?,
        )
        .context("write seed-examples.json")?;
        app.screenshot("seed-examples").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn moderator_view_shows_rooms_side_by_side_and_profile_edits() -> Result<()> {
    let app = App::launch("moderator").await?;
    let r: Result<()> = async {
        app.login_local("mod_1", "Moderator").await?;
        for (id, name) in [("mod-a", "Morning"), ("mod-b", "Noon"), ("mod-c", "Night")] {
            app.create_room(id, name, &format!("Welcome to {name}")).await?;
            app.cli(Some("viewer_9"), &["send", id, &format!("hello {name}")])?;
            app.wait_js("the viewer's text", &shows_text_js(id, &format!("hello {name}"))).await?;
        }
        app.click("#btn-moderator").await?;
        let visible = app
            .js("return [...document.querySelectorAll('#panes .pane')].filter(p => !p.hidden && p.offsetWidth > 0).length", vec![])
            .await?;
        ensure!(visible == json!(3), "three rooms side by side: {visible}");

        app.click("#btn-profile").await?;
        app.fill("#profile-nick", "Mod 管理员").await?;
        app.click("#profile-save").await?;
        app.wait_js("the new nick", "return document.getElementById('me-nick').textContent === 'Mod 管理员'").await?;
        let tail = app.tail("mod-b", 2)?;
        tail.wait_line("history", |v| v["name"] == "t_text_message_received")?;
        send_text(&app, "mod-b", "moderator here").await?;
        let ev = tail.wait_line("the moderator's text", |v| v["data"][0]["payload"]["text"] == "moderator here")?;
        ensure!(ev["data"][0]["nick"] == "Mod 管理员", "messages carry the new nick: {ev}");
        app.screenshot("moderator").await?;
        let before = app.js("return document.documentElement.dataset.theme", vec![]).await?;
        app.click("#screen-main .js-theme").await?;
        let after = app.js("return document.documentElement.dataset.theme", vec![]).await?;
        ensure!(before != after, "the theme switches: {before} -> {after}");
        app.click("#btn-moderator").await?;
        app.screenshot(&format!("room-{}", after.as_str().unwrap_or("theme"))).await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn remote_server_login_with_address_sdkappid_and_usersig() -> Result<()> {
    let app = App::launch("remote").await?;
    let r: Result<()> = async {
        // The app's own embedded server stands in for a remote one: the form takes the
        // address, the SDKAppID and a UserSig signed elsewhere (here by the test).
        app.wait_js("embedded server", "return /^http/.test(document.getElementById('embedded-address').textContent)").await?;
        app.login_remote(&app, "remote_1").await?;
        let (app_id, key) = app.keys()?;
        app.create_room("remote-room", "Remote room", "").await?;
        send_text(&app, "remote-room", "over a remote login").await?;
        app.click("#btn-logout").await?;
        app.wait_js("back to the start screen", "return !document.getElementById('screen-start').hidden").await?;

        // A wrong UserSig is refused with TIM's code, shown to the user.
        app.fill("#remote-sig", "not-a-usersig").await?;
        app.click("#remote-connect").await?;
        app.wait_js("the error toast", "const t = document.querySelector('.toast.error'); return t && t.textContent.includes('70003')").await?;
        app.screenshot("remote-bad-sig").await?;

        // A server behind TLS with a self-signed certificate: refused until it is trusted.
        let proxy = liveroom_testkit::TlsProxy::start(([127, 0, 0, 1], app.port).into()).await;
        app.fill("#remote-server", &format!("https://localhost:{}", proxy.addr.port())).await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(app_id, &key, "remote_1")).await?;
        app.js("document.querySelectorAll('.toast').forEach(t => t.remove())", vec![]).await?;
        app.click("#remote-connect").await?;
        app.wait_js("the certificate error", "const t = document.querySelector('.toast.error'); return t && /certificate/i.test(t.textContent)").await?;
        app.js("document.querySelector('#form-remote details.advanced').open = true", vec![]).await?;
        let pem = String::from_utf8(proxy.cert_pem.clone())?;
        app.js("document.getElementById('remote-ca').value = arguments[0]", vec![json!(pem)]).await?;
        app.screenshot("remote-tls-form").await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.enter_room("remote-room").await?;
        app.wait_js("the history over wss", &shows_text_js("remote-room", "over a remote login")).await?;
        send_text(&app, "remote-room", "over wss with a trusted root").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn remote_server_accepts_a_list_of_node_addresses() -> Result<()> {
    let app = App::launch("remote-list").await?;
    let r: Result<()> = async {
        app.wait_js("embedded server", "return /^http/.test(document.getElementById('embedded-address').textContent)").await?;
        let field = app.js("const i = document.getElementById('remote-server'); return {label: i.previousElementSibling.textContent, placeholder: i.placeholder}", vec![]).await?;
        ensure!(field["label"].as_str().is_some_and(|l| l.contains("comma-separated")), "the label says a list is taken: {field}");
        ensure!(field["placeholder"].as_str().is_some_and(|p| p.contains(',')), "{field}");
        app.screenshot("remote-list-field").await?;

        // A bad list is refused, naming the bad entry.
        let (app_id, key) = app.keys()?;
        app.fill("#remote-server", "ws://127.0.0.1:1,,ws://127.0.0.1:2").await?;
        app.fill("#remote-appid", &app_id.to_string()).await?;
        app.fill("#remote-user", "list_user").await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(app_id, &key, "list_user")).await?;
        app.click("#remote-connect").await?;
        app.wait_js("the bad entry named", "const t = document.querySelector('.toast.error'); return t && t.textContent.includes('server address 2 of 3') && t.textContent.includes('is empty')").await?;
        app.screenshot("remote-list-bad-entry").await?;

        // Dead nodes first, then the embedded server: the dead ones are skipped.
        let listeners = [std::net::TcpListener::bind("127.0.0.1:0")?, std::net::TcpListener::bind("127.0.0.1:0")?];
        let (dead_1, dead_2) = (listeners[0].local_addr()?, listeners[1].local_addr()?);
        drop(listeners);
        let list = format!("ws://{dead_1}, ws://{dead_2}, ws://127.0.0.1:{}", app.port);
        app.js("document.querySelectorAll('.toast').forEach(t => t.remove())", vec![]).await?;
        app.fill("#remote-server", &list).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.create_room("list-room", "Listed room", "").await?;
        send_text(&app, "list-room", "through a list of nodes").await?;
        let chip = app.js("return document.getElementById('server-chip').textContent", vec![]).await?;
        ensure!(chip.as_str().is_some_and(|c| c.starts_with(&list)), "the chip shows the list: {chip}");
        app.screenshot("remote-list-main").await?;

        // The recent rooms are kept under the list as typed, and offered again with it.
        let stored = app.js("return JSON.parse(localStorage.getItem('liveroom.recent'))", vec![]).await?;
        ensure!(stored.as_array().is_some_and(|l| l.iter().any(|r| r["roomID"] == "list-room" && r["server"] == json!(list))), "{stored}");
        app.click("#btn-logout").await?;
        app.wait_js("back to the start screen", "return !document.getElementById('screen-start').hidden").await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(app_id, &key, "list_user")).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.wait_js("the recent room", "return document.getElementById('recent-list').textContent.includes('Listed room')").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn host_deletes_and_mutes_through_the_message_menu() -> Result<()> {
    let app = App::launch("moderation").await?;
    let r: Result<()> = async {
        app.login_local("host_mod", "Mod host").await?;
        app.create_room("mod-1", "Moderated", "").await?;
        let pane = ".pane[data-room='mod-1']";
        app.cli(Some("cli_eve"), &["send", "mod-1", "delete me please"])?;
        app.wait_js("the CLI's message", &shows_text_js("mod-1", "delete me please")).await?;

        // The owner's menu on the CLI user's message.
        let msg = msg_js("mod-1", "delete me please");
        app.js(&format!("{msg}.querySelector('.msg-menu-btn').click()"), vec![]).await?;
        app.wait_css(&format!("{pane} .msg-menu button[data-act='delete']")).await?;
        app.screenshot("moderation-menu").await?;
        app.click(&format!("{pane} .msg-menu button[data-act='delete']")).await?;
        let gone = app
            .wait_js(
                "the message gone (or an error)",
                &format!(
                    "const t = document.getElementById('toasts').textContent; const shown = (() => {{ {} }})(); return (!shown || /Error/.test(t)) && {{shown, t}}",
                    shows_text_js("mod-1", "delete me please")
                ),
            )
            .await?;
        ensure!(gone["shown"] == json!(false), "the deleted message is still shown: {gone}");

        // A later joiner does not get it from the history.
        app.cli(Some("cli_eve"), &["send", "mod-1", "still here"])?;
        app.wait_js("the second message", &shows_text_js("mod-1", "still here")).await?;
        let tail = app.tail("mod-1", 1)?;
        tail.wait_line("the kept message", |v| {
            v["name"] == "t_text_message_received" && v["data"][0]["payload"]["text"] == "still here"
        })?;
        let rest = tail.finish(Duration::from_secs(10))?;
        ensure!(!rest.contains("delete me please"), "a late joiner got the deleted message: {rest}");

        // Mute through the menu: the CLI's next send gets 10017.
        app.js(&format!("{}.querySelector('.msg-menu-btn').click()", msg_js("mod-1", "still here")), vec![]).await?;
        app.click(&format!("{pane} .msg-menu button[data-act='mute-600']")).await?;
        app.wait_js(
            "the mute line",
            &format!("return [...document.querySelectorAll(\"{pane} li.line\")].some(l => l.textContent.includes('cli_eve'))"),
        )
        .await?;
        let err = app.cli_refused("cli_eve", &["send", "mod-1", "am I muted?"])?;
        ensure!(err.contains("error 10017:"), "muted send: {err}");
        app.screenshot("moderation-muted").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

/// JS that finds the chat item of `room` whose text is `text`.
fn msg_js(room: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll(\".pane[data-room='{room}'] li.msg\")].find(li => li.querySelector('.text') && li.querySelector('.text').textContent === {})",
        json!(text)
    )
}

/// Opens the user card from the sender's name on the message `text`, clicks the action
/// `act` (a `data-act` of the card) and waits until the card closed (done) or an error shows.
async fn card_action(app: &App, room: &str, text: &str, act: &str) -> Result<()> {
    app.js(
        &format!("{}.querySelector('.who-name').click()", msg_js(room, text)),
        vec![],
    )
    .await?;
    app.wait_js(
        "the user card",
        "return document.getElementById('dlg-user').open",
    )
    .await?;
    app.click(&format!("#user-actions button[data-act='{act}']"))
        .await?;
    let r = app
        .wait_js(
            "the card closed or an error",
            "const t = [...document.querySelectorAll('.toast.error')].map(e => e.textContent).join(' | '); return !document.getElementById('dlg-user').open ? 'ok' : t",
        )
        .await?;
    ensure!(r == json!("ok"), "{act} on the card failed: {r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn an_admin_moderates_with_the_user_card_audit_log_and_side_by_side_tools() -> Result<()> {
    let app = App::launch("admin-tools").await?;
    let r: Result<()> = async {
        app.login_local("adm_ann", "Ann (admin)").await?;
        // Someone else's room, where the app's user is appointed admin.
        app.cli(Some("cli_owner"), &["create-room", "--name", "Their show", "--room-id", "their-1"])?;
        app.cli(Some("cli_owner"), &["set-admin", "their-1", "adm_ann", "on"])?;
        let role = app.enter_room("their-1").await?;
        ensure!(role == json!("admin"), "role in the room: {role}");
        let pane = ".pane[data-room='their-1']";
        let tools = app
            .js(&format!("const p = document.querySelector(\"{pane}\"); return {{manage: p.querySelector('.btn-host').offsetWidth > 0, stop: p.querySelector('.btn-stop').offsetWidth > 0, dismiss: p.querySelector('.btn-dismiss').offsetWidth > 0}}"), vec![])
            .await?;
        ensure!(tools["manage"] == json!(true), "an admin gets the Manage button: {tools}");

        app.cli(Some("cli_tom"), &["send", "their-1", "buy cheap followers"])?;
        app.wait_js("the CLI's message", &shows_text_js("their-1", "buy cheap followers")).await?;
        let menu = app.js(&format!("return {}.querySelector('.msg-menu-btn').offsetWidth > 0", msg_js("their-1", "buy cheap followers")), vec![]).await?;
        ensure!(menu == json!(true), "an admin sees the message menu");

        // The user card: mute with a reason; the member's next send is refused.
        app.js(&format!("{}.querySelector('.who-name').click()", msg_js("their-1", "buy cheap followers")), vec![]).await?;
        app.wait_js("the user card", "return document.getElementById('dlg-user').open").await?;
        let card = app
            .js("return {id: document.getElementById('user-id').textContent, actions: !document.getElementById('user-actions').hidden, admin: !document.getElementById('user-admin-row').hidden}", vec![])
            .await?;
        ensure!(card == json!({"id": "cli_tom", "actions": true, "admin": false}), "card: {card}");
        app.fill("#user-reason", "selling followers").await?;
        app.screenshot("user-card").await?;
        app.click("#user-actions button[data-act='mute-60']").await?;
        app.wait_js("the card closed", "return !document.getElementById('dlg-user').open").await?;
        let err = app.cli_refused("cli_tom", &["send", "their-1", "am I muted?"])?;
        ensure!(err.contains("error 10017:"), "muted send: {err}");

        // Reopened, the card tells where the member stands and offers what applies.
        app.js(&format!("{}.querySelector('.who-name').click()", msg_js("their-1", "buy cheap followers")), vec![]).await?;
        let standing = app
            .wait_js("the member's standing", "const l = document.getElementById('user-standing'); return !l.hidden && l.textContent")
            .await?;
        let line = standing.as_str().unwrap_or_default();
        ensure!(line.contains("Member") && line.contains("muted until"), "standing: {standing}");
        let offered = app
            .js("const v = a => !document.querySelector(`#form-user [data-act='${a}']`).hidden; return {unmute: v('unmute'), unban: v('unban'), ban: v('ban'), kick: v('kick')}", vec![])
            .await?;
        ensure!(offered == json!({"unmute": true, "unban": false, "ban": true, "kick": true}), "offered: {offered}");
        app.screenshot("user-card-standing").await?;
        // Someone else unmutes the member while the card is open: the card follows.
        app.cli(Some("cli_owner"), &["unmute", "their-1", "cli_tom"])?;
        app.wait_js(
            "the card's standing after the unmute",
            "const l = document.getElementById('user-standing').textContent; return !l.includes('muted until') && document.querySelector(`#form-user [data-act='unmute']`).hidden",
        )
        .await?;
        app.click("#user-close").await?;
        app.wait_js("the card closed", "return !document.getElementById('dlg-user').open").await?;

        // Kick, then ban for a day through the card; the room is told.
        card_action(&app, "their-1", "buy cheap followers", "kick").await?;
        app.wait_js(
            "the removal line",
            &format!("return [...document.querySelectorAll(\"{pane} li.line\")].some(l => l.textContent.includes('cli_tom') && /removed/.test(l.textContent))"),
        )
        .await?;
        card_action(&app, "their-1", "buy cheap followers", "ban-86400").await?;
        let err = app.cli_refused("cli_tom", &["send", "their-1", "let me back"])?;
        ensure!(err.contains("error 10007:") && err.contains("banned"), "banned send: {err}");

        // The audit log lists what the admin did, with the reason.
        app.click(&format!("{pane} .btn-host")).await?;
        app.click(&format!("{pane} .btn-audit")).await?;
        let rows = app
            .wait_js(
                "the audit rows",
                "const r = [...document.querySelectorAll('#audit-rows tr')].map(tr => [...tr.children].map(td => td.textContent)); return r.length >= 4 && r",
            )
            .await?;
        let text = rows.to_string();
        for action in ["mute member", "kick member", "ban member", "set admin"] {
            ensure!(text.contains(action), "audit lacks {action}: {rows}");
        }
        ensure!(
            rows.as_array().is_some_and(|r| r.iter().any(|row| row[1] == "adm_ann" && row[2] == "mute member" && row[3] == "cli_tom" && row[4] == "selling followers")),
            "the mute row names who, whom and why: {rows}"
        );
        app.screenshot("audit-log").await?;
        app.click("#audit-close").await?;

        // Side by side with a room of its own: each column has its tools.
        app.create_room("own-1", "My show", "").await?;
        app.click("#btn-moderator").await?;
        let cols = app
            .js("return [...document.querySelectorAll('#panes .pane')].filter(p => !p.hidden && p.offsetWidth > 0).map(p => [p.dataset.room, p.dataset.role, p.querySelector('.btn-host').offsetWidth > 0])", vec![])
            .await?;
        ensure!(cols == json!([["their-1", "admin", true], ["own-1", "owner", true]]), "columns: {cols}");
        // The other room's panel is still open: mute everyone there from its column.
        app.click(&format!("{pane} .mute-all")).await?;
        app.wait_js("mute-all on", &format!("return document.querySelector(\"{pane} .mute-all\").checked")).await?;
        let err = app.cli_refused("cli_sue", &["send", "their-1", "hello?"])?;
        ensure!(err.contains("error 10017:"), "mute-all send: {err}");
        app.screenshot("moderator-tools").await?;

        // The owner takes the role back: the tools go away at once.
        app.cli(Some("cli_owner"), &["set-admin", "their-1", "adm_ann", "off"])?;
        app.wait_js("the tools gone", &format!("const p = document.querySelector(\"{pane}\"); return p.dataset.role === 'member' && p.querySelector('.btn-host').hidden && p.querySelector('.host-panel').hidden")).await?;
        let menu = app.js(&format!("return {}.querySelector('.msg-menu-btn').offsetWidth", msg_js("their-1", "buy cheap followers")), vec![]).await?;
        ensure!(menu == json!(0), "no menu after losing the role");
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn host_panel_rules_and_a_viewer_told_why_it_was_kicked_banned_or_dismissed() -> Result<()> {
    let host = App::launch("removed-host").await?;
    let r: Result<()> = async {
        host.login_local("host_rm", "Host").await?;
        host.create_room("rules-1", "House rules", "").await?;
        let pane = ".pane[data-room='rules-1']";

        // Host panel: slow mode and a blocked word, enforced by the server on a CLI member.
        host.click(&format!("{pane} .btn-host")).await?;
        host.fill(&format!("{pane} .slow-mode"), "30").await?;
        host.click(&format!("{pane} .btn-slow")).await?;
        host.fill(&format!("{pane} .blocked-word"), "spoiler").await?;
        host.click(&format!("{pane} .btn-word-add")).await?;
        host.wait_js("the word listed", &format!("return document.querySelector(\"{pane} .blocked-list\").textContent.includes('spoiler')")).await?;
        host.screenshot("host-panel").await?;
        let err = host.cli_refused("cli_ray", &["send", "rules-1", "the ending is a SPOILER"])?;
        ensure!(err.contains("error 80001:"), "blocked word: {err}");
        host.cli(Some("cli_ray"), &["send", "rules-1", "first"])?;
        let err = host.cli_refused("cli_ray", &["send", "rules-1", "second, too soon"])?;
        ensure!(err.contains("error 10023:"), "slow mode: {err}");
        host.fill(&format!("{pane} .slow-mode"), "0").await?;
        host.click(&format!("{pane} .btn-slow")).await?;
        host.wait_js("slow mode off", &format!("return document.querySelector(\"{pane} .slow-mode\").value === '0'")).await?;
        host.cli(Some("cli_ray"), &["send", "rules-1", "second, later"])?;

        // A second app logs in on the host's server and joins.
        let viewer = App::launch("removed-viewer").await?;
        let r: Result<()> = async {
            viewer.login_remote(&host, "viewer_vi").await?;
            let role = viewer.enter_room("rules-1").await?;
            ensure!(role == json!("member"), "viewer role {role}");
            let vpane = ".pane[data-room='rules-1']";
            let manage = viewer.js(&format!("return document.querySelector(\"{vpane} .btn-host\").hidden"), vec![]).await?;
            ensure!(manage == json!(true), "a member gets no Manage button");
            send_text(&viewer, "rules-1", "hi host").await?;
            host.wait_js("the viewer's text", &shows_text_js("rules-1", "hi host")).await?;

            // Muted from the card: the viewer sees until when, and its send is refused.
            card_action(&host, "rules-1", "hi host", "mute-600").await?;
            let banner = viewer
                .wait_js("the muted banner", &format!("const b = document.querySelector(\"{vpane} .muted-banner\"); return b && !b.hidden && b.textContent"))
                .await?;
            ensure!(banner.to_string().contains("You are muted until"), "banner: {banner}");
            viewer.screenshot("muted-viewer").await?;
            viewer.fill(&format!("{vpane} .text-input"), "can I talk?").await?;
            viewer.click(&format!("{vpane} .btn-send")).await?;
            viewer.wait_js("the refusal", "return document.getElementById('toasts').textContent.includes('10017')").await?;
            // The host's open Manage panel lists the mute, and lifts it from there.
            let row = format!("{pane} .restricted-list li[data-user='viewer_vi']");
            let listed = host
                .wait_js("the mute in the panel", &format!("const r = document.querySelector(\"{row}\"); return r && r.textContent"))
                .await?;
            ensure!(listed.to_string().contains("muted until"), "panel row: {listed}");
            host.screenshot("host-panel-restrictions").await?;
            host.click(&format!("{row} button")).await?;
            viewer.wait_js("the banner gone", &format!("return document.querySelector(\"{vpane} .muted-banner\").hidden")).await?;
            host.wait_js("the row gone", &format!("return !document.querySelector(\"{row}\")")).await?;
            // And from the card.
            card_action(&host, "rules-1", "hi host", "mute-60").await?;
            viewer.wait_js("muted again", &format!("return !document.querySelector(\"{vpane} .muted-banner\").hidden")).await?;
            card_action(&host, "rules-1", "hi host", "unmute").await?;
            viewer.wait_js("the banner gone", &format!("return document.querySelector(\"{vpane} .muted-banner\").hidden")).await?;

            // Kicked through the message menu: the viewer sees why, and may come back.
            host.js(&format!("{}.querySelector('.msg-menu-btn').click()", msg_js("rules-1", "hi host")), vec![]).await?;
            host.click(&format!("{pane} .msg-menu button[data-act='kick']")).await?;
            let told = viewer
                .wait_js("the removed notice", &format!("const n = document.querySelector(\"{vpane} .removed-notice\"); return n && !n.hidden && n.textContent"))
                .await?;
            ensure!(told.to_string().contains("removed from the room"), "kick notice: {told}");
            let input = viewer.js(&format!("return document.querySelector(\"{vpane} .text-input\").disabled"), vec![]).await?;
            ensure!(input == json!(true), "no sending after a kick");
            viewer.screenshot("kicked-viewer").await?;
            viewer.enter_room("rules-1").await?;
            let notice = viewer.js(&format!("return document.querySelector(\"{vpane} .removed-notice\").hidden"), vec![]).await?;
            ensure!(notice == json!(true), "entering again gives a clean pane");
            send_text(&viewer, "rules-1", "back again").await?;
            host.wait_js("the viewer's second text", &shows_text_js("rules-1", "back again")).await?;

            // Banned for good with a reason from the user card.
            host.js(&format!("{}.querySelector('.who-name').click()", msg_js("rules-1", "back again")), vec![]).await?;
            host.wait_js("the user card", "return document.getElementById('dlg-user').open").await?;
            let admin_row = host.js("return !document.getElementById('user-admin-row').hidden", vec![]).await?;
            ensure!(admin_row == json!(true), "the owner may appoint admins from the card");
            host.fill("#user-reason", "repeated spam").await?;
            host.click("#user-actions button[data-act='ban']").await?;
            let told = viewer
                .wait_js("the ban notice", &format!("const n = document.querySelector(\"{vpane} .removed-notice\"); return n && !n.hidden && n.textContent"))
                .await?;
            ensure!(told.to_string().contains("banned for good") && told.to_string().contains("repeated spam"), "ban notice: {told}");
            viewer.screenshot("banned-viewer").await?;
            viewer.click(&format!("{vpane} .btn-leave")).await?;
            viewer.fill("#enter-id", "rules-1").await?;
            viewer.click("#enter-submit").await?;
            viewer
                .wait_js("the refusal", "const t = document.getElementById('toasts').textContent; return t.includes('10007') && t.includes('banned')")
                .await?;

            // Unbanned from the card; then the host dismisses the room and the viewer is told.
            card_action(&host, "rules-1", "back again", "unban").await?;
            viewer.enter_room("rules-1").await?;
            // The room's notice edited in the panel reaches the viewer.
            host.fill(&format!("{pane} .edit-notice"), "No spoilers, please · 请勿剧透").await?;
            host.click(&format!("{pane} .btn-edit-room")).await?;
            viewer
                .wait_js("the new notice", &format!("return document.querySelector(\"{vpane} .notice\").textContent === 'No spoilers, please · 请勿剧透'"))
                .await?;
            host.click(&format!("{pane} .btn-dismiss")).await?;
            host.wait_js("the confirmation", &format!("return !document.querySelector(\"{pane} .btn-dismiss-confirm\").hidden")).await?;
            host.click(&format!("{pane} .btn-dismiss-confirm")).await?;
            let gone = host
                .wait_js("the host's pane gone (or an error)", &format!("const t = [...document.querySelectorAll('.toast.error')].map(e => e.textContent).join(' | '); return !document.querySelector(\"{pane}\") ? 'gone' : t"))
                .await?;
            ensure!(gone == json!("gone"), "dismiss failed: {gone}");
            let told = viewer
                .wait_js("the dismissed notice", &format!("const n = document.querySelector(\"{vpane} .removed-notice\"); return n && !n.hidden && n.textContent"))
                .await?;
            ensure!(told.to_string().contains("dismissed"), "dismiss notice: {told}");
            viewer.screenshot("dismissed-viewer").await?;
            Ok(())
        }
        .await;
        viewer.finish(r).await
    }
    .await;
    host.finish(r).await
}

// ---------- the chat under load (ui/chat-list.js) ----------

/// JS: what the chat of `room` shows. `visible`: the texts of the bubbles inside the chat's
/// box (on screen), top to bottom; `dom`: rows in the DOM; `backlog`: rows kept as data;
/// `button`: the "new messages" button (`null` while hidden, else its count).
fn chat_view_js(room: &str) -> String {
    format!(
        "const p = document.querySelector(\".pane[data-room='{room}']\");
         const chat = p.querySelector('.chat');
         const box = chat.getBoundingClientRect();
         const visible = [...chat.querySelectorAll('li.msg')].filter(li => {{
           const r = li.getBoundingClientRect();
           return r.bottom > box.top + 1 && r.top < box.bottom - 1;
         }}).map(li => (li.querySelector('.text') || {{}}).textContent || '');
         const b = p.querySelector('.new-msgs');
         return {{ visible, dom: chat.querySelectorAll('li.msg, li.line').length, scrollTop: chat.scrollTop,
                   backlog: window.liveroomApp.panes.get('{room}').list.length,
                   button: b.hidden ? null : Number(b.dataset.count), buttonText: b.textContent }};"
    )
}

/// An engine logged in to the app's embedded server as `user`, in `room`.
async fn sender(app: &App, user: &str, room: &str) -> Result<liveroom_engine::Im> {
    let (app_id, key) = app.keys()?;
    let im = liveroom_engine::Im::new(app_id, app.server())?;
    im.login(user, &liveroom_app_tests::user_sig(app_id, &key, user))
        .await?;
    im.enter_room(room).await?;
    Ok(im)
}

/// Sends `texts` in order, one after the other (each confirmed before the next).
async fn send_all(
    im: &liveroom_engine::Im,
    room: &str,
    texts: impl IntoIterator<Item = String>,
) -> Result<()> {
    for text in texts {
        im.send_text_message(room, &text, liveroom_engine::Priority::Normal)
            .await
            .with_context(|| format!("sending {text}"))?;
    }
    Ok(())
}

/// The room's send budget and the per-user rate lifted: hundreds of messages in seconds.
const NO_BUDGET: &[(&str, &str)] = &[("LIVEROOM_ROOM_BUDGET", "0"), ("LIVEROOM_USER_RATE", "0")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn the_chat_follows_the_newest_message_unless_the_user_scrolled_up() -> Result<()> {
    let app = App::launch_with_env("chat-follow", NO_BUDGET).await?;
    let r: Result<()> = async {
        app.login_local("host_follow", "Host").await?;
        app.create_room("follow-1", "Busy room", "").await?;
        let fan = sender(&app, "fan_follow", "follow-1").await?;
        // Some of them wrap over several lines: rows of different heights.
        send_all(&fan, "follow-1", (1..=300).map(|i| {
            if i % 7 == 0 { format!("m {i} {}", "and a longer line that wraps ".repeat(6)) } else { format!("m {i}") }
        }))
        .await?;
        let view = app
            .wait_js("the newest message on screen", &format!(
                "const v = (() => {{ {} }})(); return v.visible.includes('m 300') && v", chat_view_js("follow-1")))
            .await?;
        ensure!(view["button"].is_null(), "no button while following: {view}");
        ensure!(view["backlog"].as_u64().unwrap_or(0) >= 300, "every message kept as data: {view}");
        ensure!(view["dom"].as_u64().unwrap_or(999) < 120, "only rows near the view in the DOM: {view}");
        app.screenshot("chat-follow-newest").await?;

        // The user scrolls up to read: new messages arrive, the view stays, a button counts them.
        app.js(
            "const c = document.querySelector(\".pane[data-room='follow-1'] .chat\"); c.scrollBy(0, -(c.clientHeight * 2)); return true",
            vec![],
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = app.js(&chat_view_js("follow-1"), vec![]).await?;
        let reading = before["visible"].clone();
        ensure!(
            reading.as_array().is_some_and(|v| !v.is_empty()) && !reading.to_string().contains("\"m 300\""),
            "scrolled up: {before}"
        );
        send_all(&fan, "follow-1", (301..=340).map(|i| format!("m {i}"))).await?;
        let held = app
            .wait_js("the button counting 40", &format!(
                "const v = (() => {{ {} }})(); return v.button === 40 && v", chat_view_js("follow-1")))
            .await?;
        ensure!(held["visible"] == reading, "the view moved while the user read: {before} → {held}");
        ensure!(held["buttonText"].as_str().is_some_and(|t| t.contains("40") && t.contains("new messages")), "{held}");
        app.screenshot("chat-scrolled-up-new-messages").await?;

        // The button jumps to the newest and goes away.
        app.click(".pane[data-room='follow-1'] .new-msgs").await?;
        let back = app
            .wait_js("the newest after the button", &format!(
                "const v = (() => {{ {} }})(); return v.visible.includes('m 340') && v", chat_view_js("follow-1")))
            .await?;
        ensure!(back["button"].is_null(), "the button is gone: {back}");
        // And it follows again.
        send_all(&fan, "follow-1", ["m 341".to_owned()]).await?;
        app.wait_js("following again", &format!(
            "const v = (() => {{ {} }})(); return v.visible.includes('m 341') && v.button === null", chat_view_js("follow-1")))
            .await?;
        // My own message always brings the view to the newest.
        app.js("const c = document.querySelector(\".pane[data-room='follow-1'] .chat\"); c.scrollTop = 0; return true", vec![]).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        send_text(&app, "follow-1", "my own words").await?;
        app.wait_js("my message on screen", &format!(
            "const v = (() => {{ {} }})(); return v.visible.includes('my own words')", chat_view_js("follow-1")))
            .await?;
        fan.shutdown().await;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn thousands_of_messages_keep_a_bounded_dom_and_the_newest_in_view() -> Result<()> {
    let app = App::launch_with_env("chat-bounded", NO_BUDGET).await?;
    let r: Result<()> = async {
        app.login_local("host_bounded", "Host").await?;
        app.create_room("bounded-1", "Flooded room", "").await?;
        // Four senders at once, 3,000 messages in all.
        let mut tasks = Vec::new();
        for s in 0..4 {
            let im = sender(&app, &format!("flood_{s}"), "bounded-1").await?;
            tasks.push(tokio::spawn(async move {
                let r = send_all(&im, "bounded-1", (0..750).map(|i| format!("f {s}-{i}"))).await;
                im.shutdown().await;
                r
            }));
        }
        for t in tasks {
            t.await??;
        }
        // Then a picture (its row grows when it loads) and one last text.
        let fan = sender(&app, "fan_bounded", "bounded-1").await?;
        fan.send_image_message("bounded-1", liveroom_engine::ImageSource::Bytes(make_png(900, 600)), liveroom_engine::Priority::Normal, None)
            .await?;
        send_all(&fan, "bounded-1", ["the very last one".to_owned()]).await?;
        let view = app
            .wait_js("the last message on screen", &format!(
                "const v = (() => {{ {} }})(); return v.visible.includes('the very last one') && v", chat_view_js("bounded-1")))
            .await?;
        ensure!(view["dom"].as_u64().unwrap_or(999) <= 120, "DOM rows bounded: {view}");
        ensure!(view["backlog"].as_u64().unwrap_or(9999) <= 1000, "backlog bounded: {view}");
        // Once the picture has loaded, the newest is still on screen.
        app.wait_js(
            "the picture loaded",
            "const i = document.querySelector(\".pane[data-room='bounded-1'] img.thumb\"); return i && i.complete && i.naturalWidth > 0",
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = app.js(&chat_view_js("bounded-1"), vec![]).await?;
        ensure!(after["visible"].to_string().contains("the very last one"), "after the picture loaded: {after}");
        let perf = app.js("const p = window.liveroomApp.panes.get('bounded-1'); return p.stats", vec![]).await?;
        ensure!(perf["received"].as_u64().unwrap_or(0) >= 3002, "every message received: {perf}");
        app.screenshot("chat-bounded").await?;
        fan.shutdown().await;
        Ok(())
    }
    .await;
    app.finish(r).await
}

// ---------- the connection (ui/net-state.js) ----------

/// JS: the room's banner, its lines and its bubbles (text, own, pending, note) in chat order.
fn net_view_js(room: &str) -> String {
    format!(
        "const p = document.querySelector(\".pane[data-room='{room}']\");
         const b = p.querySelector('.net-banner');
         const shown = el => !!el && el.getClientRects().length > 0;
         return {{
           banner: b.hidden ? null : b.textContent, state: b.dataset.state || null,
           down: p.classList.contains('net-down'),
           lines: [...p.querySelectorAll('.chat li.line')].map(l => l.textContent),
           msgs: [...p.querySelectorAll('.chat li.msg')].map(li => ({{
             text: (li.querySelector('.text') || {{}}).textContent || '',
             me: li.classList.contains('me'), id: li.dataset.id || null,
             pending: li.classList.contains('pending'), failed: li.classList.contains('failed'),
             note: [...li.querySelectorAll('.msg-note')].filter(shown).map(n => n.textContent).join(' '),
           }})),
           chip: document.getElementById('net-state').hidden ? null : document.getElementById('net-state').textContent,
         }};"
    )
}

/// Waits until `pred` holds for the room's [`net_view_js`]; returns that view.
async fn wait_net(app: &App, room: &str, what: &str, pred: &str) -> Result<Value> {
    app.wait_js(
        what,
        &format!(
            "const v = (() => {{ {} }})(); return ({pred}) && v",
            net_view_js(room)
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn a_lost_server_shows_reconnecting_queues_or_refuses_sends_and_fills_the_gap_once(
) -> Result<()> {
    const APP_ID: u64 = 1_400_000_777;
    const KEY: &str = "net-test-key";
    // A real room server on loopback, killed and restarted on the same port and data folder.
    let mut server = liveroom_testkit::ServerProcess::start(APP_ID, KEY, &[]);
    let addr = server.addr();
    let cli_env = |user: &str| {
        vec![
            ("LIVEROOM_SERVER", format!("ws://{addr}")),
            ("LIVEROOM_APP", APP_ID.to_string()),
            ("LIVEROOM_USER", user.to_owned()),
            (
                "LIVEROOM_SIG",
                liveroom_app_tests::user_sig(APP_ID, KEY, user),
            ),
        ]
    };
    let cli = |user: &str, args: &[&str]| -> Result<String> {
        liveroom_app_tests::Cli::spawn(args, &cli_env(user))?.finish(Duration::from_secs(30))
    };
    cli(
        "net_owner",
        &[
            "create-room",
            "--name",
            "Flaky network",
            "--room-id",
            "net-1",
        ],
    )?;

    let app = App::launch("net-state").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &format!("ws://{addr}")).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", "net_viewer").await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(APP_ID, KEY, "net_viewer")).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.enter_room("net-1").await?;
        let pane = ".pane[data-room='net-1']";
        cli("net_owner", &["send", "net-1", "before the cut"])?;
        app.wait_js("the owner's message", &shows_text_js("net-1", "before the cut")).await?;
        let calm = app.js(&net_view_js("net-1"), vec![]).await?;
        ensure!(calm["banner"].is_null() && calm["chip"].is_null(), "nothing to say while connected: {calm}");

        // 1. The server goes: the room says so, with the time of the next try.
        server.kill();
        let v = wait_net(&app, "net-1", "reconnecting with the next try", "v.down && /next try in \\d+ s|trying now/.test(v.banner || '')").await?;
        wait_net(&app, "net-1", "the loss marked in the chat", "v.lines.some(l => l.startsWith('Connection lost at'))").await?;
        ensure!(v["chip"].as_str().is_some_and(|c| c.starts_with("Reconnecting")), "the top bar too: {v}");
        app.screenshot("net-reconnecting").await?;

        // A message sent meanwhile waits, and says so.
        app.fill(&format!("{pane} .text-input"), "sent while away").await?;
        app.click(&format!("{pane} .btn-send")).await?;
        let v = wait_net(&app, "net-1", "the waiting message", "v.msgs.some(m => m.text === 'sent while away' && m.pending && /waiting for the connection/.test(m.note))").await?;
        ensure!(v["msgs"].to_string().contains("sent while away"), "{v}");
        app.screenshot("net-queued-send").await?;

        // 2. Back on the same port and data: others talk before the app is back (its gap).
        server.restart();
        for text in ["gap 1", "gap 2", "gap 3"] {
            cli("net_owner", &["send", "net-1", text])?;
        }
        let v = wait_net(&app, "net-1", "reconnected", "!v.down && v.msgs.some(m => m.text === 'sent while away' && !m.pending && m.id)").await?;
        ensure!(v["banner"].as_str().is_some_and(|b| b.contains("Reconnected")) || v["banner"].is_null(), "{v}");
        let v = wait_net(&app, "net-1", "the gap shown", "['gap 1', 'gap 2', 'gap 3'].every(t => v.msgs.some(m => m.text === t))").await?;
        let texts: Vec<String> = v["msgs"]
            .as_array()
            .context("msgs")?
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        for t in ["before the cut", "sent while away", "gap 1", "gap 2", "gap 3"] {
            ensure!(texts.iter().filter(|x| x.as_str() == t).count() == 1, "{t} not exactly once: {texts:?}");
        }
        let at = |t: &str| texts.iter().position(|x| x == t).unwrap_or(usize::MAX);
        ensure!(at("gap 1") < at("gap 2") && at("gap 2") < at("gap 3"), "the gap in order: {texts:?}");
        ensure!(
            v["lines"].as_array().is_some_and(|l| l.iter().any(|l| l.as_str().is_some_and(|l| l.starts_with("Reconnected")))),
            "the chat marks the return: {v}"
        );
        app.screenshot("net-reconnected").await?;
        // The queued message reached the room: a newcomer gets it from the history.
        let tail = liveroom_app_tests::Cli::spawn(&["tail", "net-1", "--count", "5", "--timeout", "20"], &cli_env("net_late"))?;
        tail.wait_line("the queued message in the history", |v| v["data"][0]["payload"]["text"] == "sent while away" || v["data"].to_string().contains("sent while away"))?;
        drop(tail);

        // 3. Gone for longer than a send may wait (10 s): refused, visibly, with Retry.
        server.kill();
        wait_net(&app, "net-1", "reconnecting again", "v.down").await?;
        app.fill(&format!("{pane} .text-input"), "refused while away").await?;
        app.click(&format!("{pane} .btn-send")).await?;
        let v = wait_net(&app, "net-1", "the refusal on the message", "v.msgs.some(m => m.text === 'refused while away' && m.failed && /Not sent: no connection within 10 s/.test(m.note))").await?;
        ensure!(v["msgs"].to_string().contains("Retry"), "a Retry button: {v}");
        app.screenshot("net-refused-send").await?;
        server.restart();
        wait_net(&app, "net-1", "reconnected again", "!v.down").await?;
        app.js(
            &format!("[...document.querySelectorAll(\"{pane} li.msg.failed\")].find(li => li.querySelector('.text').textContent === 'refused while away').querySelector('.msg-retry').click(); return true"),
            vec![],
        )
        .await?;
        let v = wait_net(&app, "net-1", "the retried message sent", "v.msgs.some(m => m.text === 'refused while away' && m.id && !m.pending && !m.failed)").await?;
        let n = v["msgs"].as_array().context("msgs")?.iter().filter(|m| m["text"] == "refused while away").count();
        ensure!(n == 1, "the failed row gave way to the sent one: {v}");
        cli("net_owner", &["send", "net-1", "after it all"])?;
        let v = wait_net(&app, "net-1", "a live message after it all", "v.msgs.some(m => m.text === 'after it all')").await?;
        let all: Vec<&str> = v["msgs"].as_array().context("msgs")?.iter().filter_map(|m| m["text"].as_str()).collect();
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        ensure!(dedup.len() == all.len(), "no message twice: {all:?}");
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(server);
    r
}

/// The notice `t_messages_skipped` puts in the chat (ui/i18n.js `netSkipped`).
const SKIPPED_LINE: &str = "Some earlier messages were not kept by the room and cannot be shown";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn a_gap_longer_than_the_kept_history_is_said_in_the_chat() -> Result<()> {
    const APP_ID: u64 = 1_400_000_778;
    const KEY: &str = "skip-test-key";
    const ROOM: &str = "skip-1";
    // The room keeps only 5 messages; one user may send as fast as it likes.
    let mut server = liveroom_testkit::ServerProcess::start(
        APP_ID,
        KEY,
        &["--history", "5", "--user-rate", "0"],
    );
    let addr = server.addr();
    let sig = |user: &str| liveroom_app_tests::user_sig(APP_ID, KEY, user);
    let owner_env = vec![
        ("LIVEROOM_SERVER", format!("ws://{addr}")),
        ("LIVEROOM_APP", APP_ID.to_string()),
        ("LIVEROOM_USER", "skip_owner".to_owned()),
        ("LIVEROOM_SIG", sig("skip_owner")),
    ];
    let cli = |args: &[&str]| -> Result<String> {
        liveroom_app_tests::Cli::spawn(args, &owner_env)?.finish(Duration::from_secs(30))
    };
    cli(&["create-room", "--name", "Short memory", "--room-id", ROOM])?;

    let app = App::launch("skipped").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &format!("ws://{addr}")).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", "skip_viewer").await?;
        app.fill("#remote-sig", &sig("skip_viewer")).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.enter_room(ROOM).await?;
        cli(&["send", ROOM, "before the cut"])?;
        app.wait_js("the owner's message", &shows_text_js(ROOM, "before the cut"))
            .await?;

        // The server goes. Once the app waits at least 3 s for its next try (its third), the
        // server is back and 12 messages go out (more than the 5 kept) before the app returns.
        server.kill();
        wait_net(
            &app,
            ROOM,
            "a next try 3 s or more away",
            "v.down && Number((/next try in (\\d+) s/.exec(v.banner || '') || [])[1]) >= 3",
        )
        .await?;
        server.restart();
        let burst = liveroom_engine::Im::new(APP_ID, format!("ws://{addr}"))?;
        burst.login("skip_owner", &sig("skip_owner")).await?;
        burst.enter_room(ROOM).await?;
        send_all(&burst, ROOM, (1..=12).map(|i| format!("burst {i}"))).await?;
        ensure!(
            app.js(&net_view_js(ROOM), vec![]).await?["down"] == json!(true),
            "the app came back before the burst was sent: the gap would be inside the history"
        );

        // Back: the chat says messages are missing, then shows the 5 the room kept.
        let v = wait_net(
            &app,
            ROOM,
            "the notice and the newest message",
            &format!(
                "!v.down && v.lines.includes({SKIPPED_LINE:?}) && v.msgs.some(m => m.text === 'burst 12')"
            ),
        )
        .await?;
        ensure!(
            v["lines"].as_array().is_some_and(|l| l
                .iter()
                .any(|l| l == "Reconnected · only the newest 5 messages could be shown")),
            "the return says only the newest were shown: {v}"
        );
        let rows: Vec<String> =
            serde_json::from_value(app.client.execute_async(&chat_rows_js(ROOM), vec![]).await?)?;
        let at = |want: &str| rows.iter().position(|r| r == want);
        let lost = rows
            .iter()
            .position(|r| r.starts_with("line: Connection lost at"))
            .with_context(|| format!("the loss marked: {rows:?}"))?;
        let notice = at(&format!("line: {SKIPPED_LINE}"))
            .with_context(|| format!("the notice: {rows:?}"))?;
        let before = at("before the cut").with_context(|| format!("{rows:?}"))?;
        ensure!(before < lost && lost < notice, "the notice after the loss: {rows:?}");
        let kept: Vec<String> = (8..=12).map(|i| format!("burst {i}")).collect();
        ensure!(
            rows.get(notice + 1..notice + 6) == Some(&kept[..]),
            "the 5 kept messages right after the notice: {rows:?}"
        );
        ensure!(
            !rows.iter().any(|r| (1..=7).any(|i| r == &format!("burst {i}"))),
            "the messages the room no longer kept are not shown: {rows:?}"
        );
        ensure!(
            rows.iter().filter(|r| r.as_str() == format!("line: {SKIPPED_LINE}")).count() == 1,
            "one notice: {rows:?}"
        );
        app.screenshot("net-messages-skipped").await?;
        burst.logout().await?;
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(server);
    r
}

// ---------- a cluster (issue 13) ----------

/// Parses an address of `/proc/net/tcp` (`0100007F:1F90`: the IPv4 address as the kernel's
/// little-endian word, the port big-endian).
fn proc_tcp_addr(field: &str) -> Option<std::net::SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some((std::net::Ipv4Addr::from(ip.to_le_bytes()), port).into())
}

/// Which of the cluster's nodes the app's own process holds an established TCP connection to
/// (its engine's WebSocket). The app does not say which node of a list it chose and the
/// test's engines see only their own sockets, so this reads the app's socket inodes
/// (`/proc/PID/fd`) and finds them in `/proc/PID/net/tcp`: exact, whatever else the nodes
/// hold open (Redis connections, other clients).
fn app_nodes(app: &App, cluster: &liveroom_testkit::cluster::Cluster) -> Result<Vec<usize>> {
    let pid = liveroom_app_tests::tree_pss_kib(app.driver_pid())
        .into_iter()
        .find(|(_, name, _)| name == "liveroom-app")
        .map(|(pid, ..)| pid)
        .context("the app's process under tauri-driver")?;
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?;
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))?;
    let mut on = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // 01: ESTABLISHED; field 9 is the socket's inode.
        if f.len() < 10 || f[3] != "01" || !inodes.contains(f[9]) {
            continue;
        }
        let Some(remote) = proc_tcp_addr(f[2]) else {
            continue;
        };
        on.extend((0..cluster.nodes.len()).filter(|&i| cluster.nodes[i].addr() == remote));
    }
    Ok(on)
}

/// Waits until the app is connected to exactly one node, other than `not`; returns it.
async fn wait_app_node(
    app: &App,
    cluster: &liveroom_testkit::cluster::Cluster,
    not: Option<usize>,
) -> Result<usize> {
    let end = std::time::Instant::now() + liveroom_app_tests::WAIT;
    loop {
        let on = app_nodes(app, cluster)?;
        if let [node] = on[..] {
            if Some(node) != not {
                return Ok(node);
            }
        }
        ensure!(
            std::time::Instant::now() < end,
            "the app is connected to nodes {on:?} (not wanted: {not:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// JS (async): the texts of every row of the room's chat, top to bottom (lines as
/// `line: TEXT`). The chat keeps only the rows near the view in the DOM, so this scrolls it
/// from the top to the bottom, reading the rows drawn at each step, keyed by the list's own
/// row number (a message shown twice is two rows), then follows the newest again.
fn chat_rows_js(room: &str) -> String {
    format!(
        "const done = arguments[arguments.length - 1];
         const chat = document.querySelector(\".pane[data-room='{room}'] .chat\");
         const list = window.liveroomApp.panes.get('{room}').list;
         const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
         const rows = new Map();
         (async () => {{
           chat.scrollTop = 0;
           for (let i = 0; i < 500; i++) {{
             await frames();
             for (const li of chat.querySelectorAll('li.msg, li.line')) {{
               const e = list.entryOf(li);
               if (!e) continue;
               rows.set(e.seq, li.classList.contains('line')
                 ? 'line: ' + li.textContent
                 : (li.querySelector('.text') || {{}}).textContent || '');
             }}
             if (chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 1) break;
             chat.scrollTop += Math.max(40, chat.clientHeight / 2);
           }}
           list.scrollToBottom();
           done([...rows.entries()].sort((a, b) => a[0] - b[0]).map(r => r[1]));
         }})();"
    )
}

/// JS: records every text the room's banner shows from now on (`window.bannerSeen`), so that
/// a banner up for only a second is seen whatever the polling.
fn record_banner_js(room: &str) -> String {
    format!(
        "const b = document.querySelector(\".pane[data-room='{room}'] .net-banner\");
         window.bannerSeen = [];
         const note = () => {{ if (!b.hidden) window.bannerSeen.push({{ text: b.textContent, state: b.dataset.state || null }}); }};
         new MutationObserver(note).observe(b, {{ attributes: true, childList: true, characterData: true, subtree: true }});
         return true;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver) and starts redis-server: run by scripts/test-app"]
async fn a_three_node_cluster_serves_the_app_through_a_list() -> Result<()> {
    const APP_ID: u64 = 1_400_000_913;
    const KEY: &str = "cluster-window-key";
    const ROOM: &str = "cluster-1";
    // Redis and three nodes on 127.0.0.1..3, as an operator runs them.
    let mut cluster = liveroom_testkit::cluster::Cluster::start(3, APP_ID, KEY, &[]);
    let app = App::launch("cluster").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &cluster.list()).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", "cluster_host").await?;
        app.fill(
            "#remote-sig",
            &liveroom_app_tests::user_sig(APP_ID, KEY, "cluster_host"),
        )
        .await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        let on = wait_app_node(&app, &cluster, None).await?;
        eprintln!("the app is on node {on} ({})", cluster.url(on));
        app.create_room(ROOM, "Three nodes", "").await?;

        // The CLI on one other node, an engine on the third: the app shows both.
        let (fan_node, cli_node) = ((on + 1) % 3, (on + 2) % 3);
        let cli_text = format!("from the cli on node {cli_node}");
        let cli_env = vec![
            ("LIVEROOM_SERVER", cluster.url(cli_node)),
            ("LIVEROOM_APP", APP_ID.to_string()),
            ("LIVEROOM_USER", "cluster_cli".to_owned()),
            (
                "LIVEROOM_SIG",
                liveroom_app_tests::user_sig(APP_ID, KEY, "cluster_cli"),
            ),
        ];
        liveroom_app_tests::Cli::spawn(&["send", ROOM, &cli_text], &cli_env)?
            .finish(Duration::from_secs(30))?;
        app.wait_js("the CLI's message", &shows_text_js(ROOM, &cli_text))
            .await?;
        let fan = liveroom_engine::Im::new(APP_ID, cluster.url(fan_node))?;
        fan.login(
            "cluster_fan",
            &liveroom_app_tests::user_sig(APP_ID, KEY, "cluster_fan"),
        )
        .await?;
        fan.enter_room(ROOM).await?;
        let mut fan_rx = fan.events();
        let send = |i: u32| {
            let fan = &fan;
            async move {
                fan.send_text_message(ROOM, &format!("c {i}"), liveroom_engine::Priority::Normal)
                    .await
                    .with_context(|| format!("c {i} not acknowledged"))
            }
        };
        for i in 1..=5 {
            send(i).await?;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        app.wait_js("the engine's messages", &shows_text_js(ROOM, "c 5"))
            .await?;
        app.js(&record_banner_js(ROOM), vec![]).await?;

        // The app's node dies mid-chat. Every send meanwhile is acknowledged by the fan's
        // node; the first ones before the app can be back (its first retry waits ≥ 0.5 s).
        cluster.nodes[on].kill();
        for i in 6..=15 {
            send(i).await?;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        wait_net(
            &app,
            ROOM,
            "back with every message",
            "!v.down && v.msgs.some(m => m.text === 'c 15')",
        )
        .await?;
        let moved = wait_app_node(&app, &cluster, Some(on)).await?;
        eprintln!("the app moved to node {moved} ({})", cluster.url(moved));
        let seen = app.js("return window.bannerSeen", vec![]).await?;
        let seen = seen.as_array().context("bannerSeen")?;
        ensure!(
            seen.iter().any(|b| b["state"] == "connecting"
                && b["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Reconnecting"))),
            "the reconnecting banner was shown: {seen:?}"
        );
        ensure!(
            seen.iter()
                .any(|b| b["state"] == "back" && b["text"] == "Reconnected"),
            "then 'Reconnected': {seen:?}"
        );

        // On its new node the room goes on, both ways.
        send_text(&app, ROOM, "from the app after the move").await?;
        let deadline = tokio::time::Instant::now() + liveroom_app_tests::WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, fan_rx.recv())
                .await
                .context("the app's message at the fan")??;
            if serde_json::to_value(&ev)?["data"]
                .to_string()
                .contains("from the app after the move")
            {
                break;
            }
        }
        fan.send_text_message(
            ROOM,
            "live after the move",
            liveroom_engine::Priority::Normal,
        )
        .await?;
        wait_net(
            &app,
            ROOM,
            "a live message after the move",
            "v.msgs.some(m => m.text === 'live after the move')",
        )
        .await?;

        // Every acknowledged message exactly once, in order, as the chat's rows read, with
        // the loss and the return marked where they happened.
        let rows = app
            .client
            .execute_async(&chat_rows_js(ROOM), vec![])
            .await?;
        let rows: Vec<String> = serde_json::from_value(rows)?;
        let mut want = vec![cli_text.clone()];
        want.extend((1..=15).map(|i| format!("c {i}")));
        want.push("from the app after the move".to_owned());
        want.push("live after the move".to_owned());
        let msgs: Vec<&String> = rows.iter().filter(|r| !r.starts_with("line: ")).collect();
        ensure!(
            msgs == want.iter().collect::<Vec<_>>(),
            "the chat's rows: {rows:?}\nwant: {want:?}"
        );
        let at = |pred: &dyn Fn(&str) -> bool| rows.iter().position(|r| pred(r));
        let lost = at(&|r| r.starts_with("line: Connection lost at"))
            .with_context(|| format!("the loss marked: {rows:?}"))?;
        let back = at(&|r| r.starts_with("line: Reconnected · "))
            .with_context(|| format!("the return marked: {rows:?}"))?;
        let c5 = at(&|r| r == "c 5").context("c 5")?;
        ensure!(
            lost == c5 + 1,
            "the loss marked right after the last message before it: {rows:?}"
        );
        // The line counts what the gap fill brought: the messages between the two lines.
        let brought = rows[lost + 1..back]
            .iter()
            .filter(|r| !r.starts_with("line: "))
            .count();
        ensure!(
            brought > 0,
            "messages sent while the app was away came by gap fill: {rows:?}"
        );
        ensure!(
            rows[back]
                == format!("line: Reconnected · {brought} messages arrived while you were away"),
            "{rows:?}"
        );
        app.screenshot("cluster-moved").await?;
        fan.shutdown().await;
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(cluster);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn messages_sent_through_the_rest_api_show_in_the_room_with_the_imported_nick() -> Result<()>
{
    const APP_ID: u64 = 1_400_000_914;
    const KEY: &str = "rest-window-key";
    const ROOM: &str = "rest-show";
    const NICK: &str = "主播 Ann (backend)";
    // A server with an app administrator, as an app's backend uses it.
    let server = liveroom_testkit::ServerProcess::start(
        APP_ID,
        KEY,
        &["--admin", &format!("{APP_ID}:boss")],
    );
    let url = format!("ws://{}", server.addr());
    // `liveroom admin call PATH --json BODY` as the administrator; its answer must be OK.
    let admin = |path: &str, body: Value| {
        liveroom_app_tests::admin_call(&url, APP_ID, KEY, "boss", path, &body)
    };
    admin(
        "im_open_login_svc/account_import",
        json!({"UserID": "rest_host", "Nick": NICK}),
    )?;
    admin(
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "rest_host", "Type": "AVChatRoom", "GroupId": ROOM, "Name": "Backend show",
               "Notification": "Gifts arrive from the backend"}),
    )?;
    let app = App::launch("rest-window").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &url).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", "rest_viewer").await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(APP_ID, KEY, "rest_viewer")).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.enter_room(ROOM).await?;
        let pane = format!(".pane[data-room='{ROOM}']");

        // A text from the host, sent by the backend.
        let text = "Welcome! Sent by the backend · 欢迎";
        admin(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": ROOM, "From_Account": "rest_host", "Random": 1,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
        )?;
        app.wait_js("the backend's text", &shows_text_js(ROOM, text)).await?;
        let row = app
            .js(
                &format!(
                    "const li = [...document.querySelectorAll(\"{pane} .msg\")].find(li => li.querySelector('.text') && li.querySelector('.text').textContent === arguments[0]); \
                     return {{who: li.querySelector('.who-name').textContent, host: !!li.querySelector('.host-tag'), from: li.dataset.from}}"
                ),
                vec![json!(text)],
            )
            .await?;
        ensure!(row["who"] == NICK && row["from"] == "rest_host", "shown with the imported nick: {row}");
        ensure!(row["host"] == true, "marked as the room's host (Owner_Account): {row}");
        app.screenshot("rest-message").await?;

        // A gift from the host, High priority: its card and its chat line name the host.
        admin(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": ROOM, "From_Account": "rest_host", "Random": 2, "MsgPriority": "High",
                   "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rocket", "Ext": "{\"count\":3}"}}]}),
        )?;
        let card = app
            .wait_js(
                "the backend's gift",
                &format!("const c = document.querySelector(\"{pane} .gift-fx[data-gift='rocket']\"); return c && {{who: c.querySelector('.g-who').textContent, count: c.querySelector('.g-count').textContent}}"),
            )
            .await?;
        ensure!(card["who"] == NICK && card["count"] == "x3", "{card}");
        app.wait_js(
            "the gift's chat line",
            &format!("return [...document.querySelectorAll(\"{pane} .chat li\")].some(li => li.textContent.includes({}) && li.textContent.includes('x3'))", json!(NICK)),
        )
        .await?;
        app.screenshot("rest-gift").await?;
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(server);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn a_backends_notice_recall_and_change_of_owner_show_in_the_room() -> Result<()> {
    const APP_ID: u64 = 1_400_000_915;
    const KEY: &str = "rest-groups-window-key";
    const ROOM: &str = "rest-notice";
    let server = liveroom_testkit::ServerProcess::start(
        APP_ID,
        KEY,
        &["--admin", &format!("{APP_ID}:boss")],
    );
    let url = format!("ws://{}", server.addr());
    // `liveroom admin call PATH --json BODY` as the administrator; its answer must be OK.
    let admin = |path: &str, body: Value| {
        liveroom_app_tests::admin_call(&url, APP_ID, KEY, "boss", path, &body)
    };
    admin(
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "rest_host", "Type": "AVChatRoom", "GroupId": ROOM, "Name": "Notice show"}),
    )?;
    let app = App::launch("rest-groups-window").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &url).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", "rest_viewer").await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(APP_ID, KEY, "rest_viewer")).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        app.enter_room(ROOM).await?;
        let pane = format!(".pane[data-room='{ROOM}']");

        // A notice to everyone: a line in the chat with the backend's text, as text.
        let notice = "<b>Doors open</b> at 8 · 8 点开播";
        admin(
            "group_open_http_svc/send_group_system_notification",
            json!({"GroupId": ROOM, "Content": notice}),
        )?;
        let line = app
            .wait_js(
                "the backend's notice",
                &format!("const li = [...document.querySelectorAll(\"{pane} .chat li.line.notice\")].pop(); return li && {{text: li.textContent, bold: !!li.querySelector('b')}}"),
            )
            .await?;
        let text = line["text"].as_str().unwrap_or_default();
        ensure!(text.ends_with(notice), "the notice's text as written: {line}");
        ensure!(line["bold"] == false, "shown as text, never as HTML: {line}");
        app.screenshot("rest-notice").await?;

        // A message recalled by the backend leaves the chat.
        let oops = "this one goes away";
        let sent = admin(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": ROOM, "From_Account": "rest_host", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": oops}}]}),
        )?;
        app.wait_js("the message to recall", &shows_text_js(ROOM, oops)).await?;
        let recalled = admin(
            "group_open_http_svc/group_msg_recall",
            json!({"GroupId": ROOM, "MsgSeqList": [{"MsgSeq": sent["MsgSeq"]}]}),
        )?;
        ensure!(recalled["RecallRetList"][0]["RetCode"] == 0, "{recalled}");
        app.wait_js(
            "the recalled message gone",
            &format!("return !({})", shows_text_js(ROOM, oops).trim_start_matches("return ")),
        )
        .await?;

        // The room handed to this viewer: the owner's tools appear in its pane.
        let owner = app.js(&format!("return document.querySelector(\"{pane}\").classList.contains('is-owner')"), vec![]).await?;
        ensure!(owner == false, "a viewer at first");
        admin(
            "group_open_http_svc/change_group_owner",
            json!({"GroupId": ROOM, "NewOwner_Account": "rest_viewer"}),
        )?;
        app.wait_js(
            "the owner's tools",
            &format!("const p = document.querySelector(\"{pane}\"); return p.classList.contains('is-owner') && !p.querySelector('.btn-host').hidden"),
        )
        .await?;
        app.screenshot("rest-new-owner").await?;
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(server);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn a_kick_through_the_rest_api_signs_the_app_out_and_says_why() -> Result<()> {
    const APP_ID: u64 = 1_400_000_916;
    const KEY: &str = "rest-kick-window-key";
    const USER: &str = "kicked_viewer";
    let server = liveroom_testkit::ServerProcess::start(
        APP_ID,
        KEY,
        &["--admin", &format!("{APP_ID}:boss")],
    );
    let url = format!("ws://{}", server.addr());
    // `liveroom admin call im_open_login_svc/kick` as the administrator; it must answer OK.
    let kick = || -> Result<()> {
        let body = json!({ "UserID": USER });
        liveroom_app_tests::admin_call(&url, APP_ID, KEY, "boss", "im_open_login_svc/kick", &body)
            .map(drop)
    };
    let toast_js = |text: &str| {
        format!(
            "const t = document.getElementById('toasts').textContent; return t.includes({}) && !document.getElementById('screen-start').hidden && t",
            json!(text)
        )
    };
    let app = App::launch("rest-kick").await?;
    let r: Result<()> = async {
        app.fill("#remote-server", &url).await?;
        app.fill("#remote-appid", &APP_ID.to_string()).await?;
        app.fill("#remote-user", USER).await?;
        let old_sig = liveroom_app_tests::user_sig(APP_ID, KEY, USER);
        app.fill("#remote-sig", &old_sig).await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;

        // The backend kicks the user: the app is back on the start screen saying why.
        kick()?;
        app.wait_js(
            "the kick notice",
            &toast_js("You were signed out: the service signed you out; sign in again with a new UserSig"),
        )
        .await?;
        app.screenshot("rest-kicked-en").await?;

        // The UserSig it had is refused now.
        app.js("document.querySelectorAll('.toast').forEach(t => t.remove())", vec![]).await?;
        app.click("#remote-connect").await?;
        app.wait_js("the refusal", "const t = document.querySelector('.toast.error'); return t && t.textContent.includes('70001')").await?;

        // A fresh UserSig (made after the kick's second) signs in; a second kick, in Chinese.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        app.js("document.querySelectorAll('.toast').forEach(t => t.remove())", vec![]).await?;
        app.fill("#remote-sig", &liveroom_app_tests::user_sig(APP_ID, KEY, USER)).await?;
        app.click("#start-lang").await?;
        app.click("#remote-connect").await?;
        app.wait_main().await?;
        kick()?;
        app.wait_js("the kick notice in Chinese", &toast_js("你已被下线：服务方已将你下线，请使用新的 UserSig 重新登录")).await?;
        app.screenshot("rest-kicked-zh").await?;
        app.click("#start-lang").await?;
        Ok(())
    }
    .await;
    let r = app.finish(r).await;
    drop(server);
    r
}
