//! Window tests of issue 15's mentions and keyboard shortcuts: the real app under tauri-driver,
//! like window.rs, with engines logged in as other users on its embedded server. The desktop
//! notification goes to a real notification daemon (dunst) on a session bus of the test's own,
//! read back with `dunstctl`. Run by scripts/test-app (#[ignore]d in a plain `cargo test`: no
//! display there).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use liveroom_app_tests::{terminate, user_sig, App, WAIT};
use serde_json::{json, Value};

/// The room's send budget and the per-user rate lifted: a fan sends dozens of lines at once.
const NO_BUDGET: &[(&str, &str)] = &[("LIVEROOM_ROOM_BUDGET", "0"), ("LIVEROOM_USER_RATE", "0")];

/// An engine logged in to the app's embedded server as `user` with `nick`, in `rooms`.
async fn fan(app: &App, user: &str, nick: &str, rooms: &[&str]) -> Result<liveroom_engine::Im> {
    let (app_id, key) = app.keys()?;
    let im = liveroom_engine::Im::new(app_id, app.server())?;
    im.login(user, &user_sig(app_id, &key, user)).await?;
    im.set_my_profile(Some(nick.to_owned()), None).await?;
    for room in rooms {
        im.enter_room(room).await?;
    }
    Ok(im)
}

async fn say(im: &liveroom_engine::Im, room: &str, text: &str) -> Result<()> {
    im.send_text_message(room, text, liveroom_engine::Priority::Normal)
        .await
        .with_context(|| format!("sending {text}"))?;
    Ok(())
}

/// Presses `keys` together (down in order, up in reverse), as a user's chord on the focused
/// element.
async fn chord(app: &App, keys: &[char]) -> Result<()> {
    let mut a = KeyActions::new("keyboard".into());
    for &k in keys {
        a = a.then(KeyAction::Down { value: k });
    }
    for &k in keys.iter().rev() {
        a = a.then(KeyAction::Up { value: k });
    }
    app.client.perform_actions(a).await?;
    app.client.release_actions().await?;
    // Let the page handle the keys and draw (one frame).
    tokio::time::sleep(Duration::from_millis(150)).await;
    Ok(())
}

fn ctrl(c: char) -> [char; 2] {
    [Key::Control.into(), c]
}

/// The mentions list as shown: `[{room, who, time, text, unread}]`, and the box's state.
async fn mentions_list(app: &App) -> Result<Value> {
    app.js(
        "const box = document.getElementById('mentions-box');
         const items = [...box.querySelectorAll('.mentions-list li')].map(li => ({
           room: li.querySelector('.mn-room').textContent, who: li.querySelector('.mn-who').textContent,
           time: li.querySelector('.mn-time').textContent, text: li.querySelector('.mn-text').textContent,
           unread: li.classList.contains('unread'), roomID: li.dataset.room }));
         const badge = box.querySelector('.mentions-unread');
         return { hidden: box.hidden, items, unread: badge.hidden ? 0 : Number(badge.textContent) };",
        vec![],
    )
    .await
}

/// The texts of a room's chat rows drawn now, each with whether it is highlighted.
fn rows_js(room: &str) -> String {
    format!(
        "return [...document.querySelectorAll(\".pane[data-room='{room}'] .chat li.msg\")].map(li =>
           [li.querySelector('.text') ? li.querySelector('.text').textContent : '', li.classList.contains('mention')]);"
    )
}

/// Whether the room's row with `text` is drawn, on screen in the chat's view.
fn in_view_js(room: &str, text: &str) -> String {
    format!(
        "const p = document.querySelector(\".pane[data-room='{room}']\");
         if (!p || p.hidden) return false;
         const chat = p.querySelector('.chat'); const box = chat.getBoundingClientRect();
         const li = [...chat.querySelectorAll('li.msg')].find(li => li.querySelector('.text') && li.querySelector('.text').textContent === {});
         if (!li) return false;
         const r = li.getBoundingClientRect();
         return r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && li.className;",
        json!(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn mentions_are_highlighted_listed_across_rooms_and_a_click_jumps_to_them() -> Result<()> {
    let app = App::launch_with_env("mentions", NO_BUDGET).await?;
    let r: Result<()> = async {
        app.login_local("mia_host", "Mia").await?;
        app.create_room("mn-a", "Room A", "").await?;
        app.create_room("mn-b", "Room B", "").await?;
        let f = fan(&app, "fan_mn", "Fan 粉丝", &["mn-a", "mn-b"]).await?;

        // Room A (not the room shown): by nick, by userID (other case), and three that are not.
        say(&f, "mn-a", "hey @mia, look at this").await?;
        say(&f, "mn-a", "write to mail@mia.com please").await?;
        say(&f, "mn-a", "@miavision is someone else").await?;
        say(&f, "mn-a", "no mention at all").await?;
        say(&f, "mn-a", "@MIA_HOST ping").await?;
        // Enough after them that the first mention is far out of the view.
        for i in 1..=60 {
            say(&f, "mn-a", &format!("filler {i}")).await?;
        }
        // Room B (shown): one more.
        say(&f, "mn-b", "@Mia 你好").await?;

        let list = app
            .wait_js(
                "three mentions listed",
                "const b = document.getElementById('mentions-box'); return !b.hidden && b.querySelectorAll('.mentions-list li').length === 3",
            )
            .await
            .and(mentions_list(&app).await)?;
        let items = list["items"].as_array().context("items")?;
        let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap_or("")).collect();
        ensure!(
            texts == ["@Mia 你好", "@MIA_HOST ping", "hey @mia, look at this"],
            "newest first, only the mentions: {list}"
        );
        let rooms: Vec<&str> = items.iter().map(|i| i["room"].as_str().unwrap_or("")).collect();
        ensure!(rooms == ["Room B", "Room A", "Room A"], "each with its room: {list}");
        ensure!(items.iter().all(|i| i["who"] == "Fan 粉丝" && i["time"].as_str().is_some_and(|t| t.contains(':'))), "who and when: {list}");
        // Room A's two arrived while Room B was shown: unread.
        ensure!(items[1]["unread"] == json!(true) && items[2]["unread"] == json!(true), "{list}");
        ensure!(list["unread"].as_u64().unwrap_or(0) >= 2, "unread count: {list}");

        // Room B shows its mention highlighted.
        let rows = app.wait_js("Room B's mention drawn", &format!("const r = (() => {{ {} }})(); return r.length && r", rows_js("mn-b"))).await?;
        ensure!(rows == json!([["@Mia 你好", true]]), "{rows}");
        // My own message naming me is neither highlighted nor listed.
        app.fill(".pane[data-room='mn-b'] .text-input", "note to self @Mia").await?;
        app.click(".pane[data-room='mn-b'] .btn-send").await?;
        app.wait_js("my own message", "return [...document.querySelectorAll(\".pane[data-room='mn-b'] .msg.me:not(.pending) .text\")].some(s => s.textContent === 'note to self @Mia')").await?;
        let rows = app.js(&rows_js("mn-b"), vec![]).await?;
        ensure!(rows == json!([["@Mia 你好", true], ["note to self @Mia", false]]), "{rows}");
        app.screenshot("mentions").await?;

        // A click on Room A's first mention: Room A shown, scrolled back to it, flashed.
        app.click("#mentions-box .mentions-list li:nth-child(3) .mn-item").await?;
        let class = app.wait_js("the mention in view", &in_view_js("mn-a", "hey @mia, look at this")).await?;
        ensure!(class.as_str().is_some_and(|c| c.contains("mention")), "highlighted: {class}");
        let active = app.js("return window.liveroomApp.rooms.active", vec![]).await?;
        ensure!(active == "mn-a", "room shown: {active}");
        // Its neighbours are drawn too: the three that name nobody are not highlighted.
        let rows = app.js(&rows_js("mn-a"), vec![]).await?;
        let rows = rows.as_array().context("rows")?;
        for (text, want) in [
            ("hey @mia, look at this", true),
            ("write to mail@mia.com please", false),
            ("@miavision is someone else", false),
            ("no mention at all", false),
            ("@MIA_HOST ping", true),
        ] {
            let row = rows.iter().find(|r| r[0] == text).with_context(|| format!("{text} drawn: {rows:?}"))?;
            ensure!(row[1] == json!(want), "{text}: highlighted {} (want {want})", row[1]);
        }
        let list = mentions_list(&app).await?;
        ensure!(list["items"][2]["unread"] == json!(false), "read once clicked: {list}");
        app.screenshot("mentions-jump").await?;

        // Leaving the room keeps its mentions; a click enters it again and finds the message.
        app.click(".pane[data-room='mn-a'] .btn-leave").await?;
        app.wait_js("Room A left", "return !document.querySelector(\".pane[data-room='mn-a']\")").await?;
        let list = mentions_list(&app).await?;
        ensure!(list["items"].as_array().map(Vec::len) == Some(3), "kept after leaving: {list}");
        app.click("#mentions-box .mentions-list li:nth-child(2) .mn-item").await?;
        app.wait_js("back in Room A at the mention", &in_view_js("mn-a", "@MIA_HOST ping")).await?;
        // Its history came again: still listed once each.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let list = mentions_list(&app).await?;
        ensure!(list["items"].as_array().map(Vec::len) == Some(3), "no duplicates from history: {list}");

        // Dark theme.
        app.click("#screen-main .js-theme").await?;
        app.screenshot("mentions-dark").await?;
        app.click("#screen-main .js-theme").await?;

        // Signing out clears them.
        app.click("#btn-logout").await?;
        app.wait_js("the start screen", "return !document.getElementById('screen-start').hidden").await?;
        let list = mentions_list(&app).await?;
        ensure!(list["hidden"] == json!(true) && list["items"] == json!([]), "cleared on logout: {list}");
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn chinese_nicks_are_mentioned_and_the_list_speaks_chinese() -> Result<()> {
    let app = App::launch("mentions-zh").await?;
    let r: Result<()> = async {
        app.login_local("xiaoming", "小明").await?;
        app.click("#main-lang").await?;
        app.create_room("mn-zh", "晚间直播", "").await?;
        let f = fan(&app, "fan_zh", "小红", &["mn-zh"]).await?;
        let cases = [
            ("@小明 你好", true),
            ("@小明。", true),
            ("在吗＠小明", true),
            ("@小明明在吗", false),
            ("小明你好", false),
            ("@xiaoming 来了", true),
            ("@小明", true),
        ];
        for (text, _) in cases {
            say(&f, "mn-zh", text).await?;
        }
        app.wait_js(
            "the last one drawn",
            &format!(
                "const r = (() => {{ {} }})(); return r.length === {}",
                rows_js("mn-zh"),
                cases.len()
            ),
        )
        .await?;
        let rows = app.js(&rows_js("mn-zh"), vec![]).await?;
        let want: Vec<Value> = cases.iter().map(|(t, m)| json!([t, m])).collect();
        ensure!(rows == json!(want), "highlighted: {rows}");
        let list = mentions_list(&app).await?;
        let texts: Vec<&str> = list["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|i| i["text"].as_str().unwrap_or(""))
            .collect();
        ensure!(
            texts
                == [
                    "@小明",
                    "@xiaoming 来了",
                    "在吗＠小明",
                    "@小明。",
                    "@小明 你好"
                ],
            "{list}"
        );
        let title = app
            .js(
                "return document.querySelector('#mentions-box .box-title').textContent",
                vec![],
            )
            .await?;
        ensure!(title == "提及我的", "Chinese title: {title}");
        app.screenshot("mentions-zh").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

// ---------- the desktop notification ----------

/// A session bus of the test's own (`dbus-daemon --session`), ended when dropped.
struct SessionBus {
    child: Child,
    address: String,
}

impl SessionBus {
    fn start() -> Result<SessionBus> {
        use std::io::BufRead;
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("dbus-daemon (Debian's dbus-daemon)")?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let address = line.trim().to_owned();
        ensure!(address.starts_with("unix:"), "dbus-daemon printed {line:?}");
        Ok(SessionBus { child, address })
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A process ended with SIGTERM when dropped (the notification daemon, the other window).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

/// dunst, the notification daemon, on `bus` and the test's X display.
fn start_dunst(bus: &SessionBus) -> Result<Proc> {
    let child = Command::new("dunst")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("dunst (Debian's dunst)")?;
    let p = Proc(child);
    let end = Instant::now() + WAIT;
    // Asked before dunst holds its name, the bus would start a second one (D-Bus activation).
    while !bus_has_name(bus, "org.freedesktop.Notifications")? {
        ensure!(Instant::now() < end, "dunst did not come up on the bus");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(p)
}

/// Whether a client on `bus` holds `name` (the bus's ListNames).
fn bus_has_name(bus: &SessionBus, name: &str) -> Result<bool> {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .context("dbus-send")?;
    Ok(String::from_utf8_lossy(&out.stdout).contains(&format!("\"{name}\"")))
}

fn dunstctl(bus: &SessionBus, args: &[&str]) -> Result<String> {
    let out = Command::new("dunstctl")
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .context("dunstctl")?;
    ensure!(
        out.status.success(),
        "dunstctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every notification dunst showed so far, oldest first: `(appname, summary, body)`. Those on
/// screen are closed first, so that its history holds them.
fn shown(bus: &SessionBus) -> Result<Vec<(String, String, String)>> {
    dunstctl(bus, &["close-all"])?;
    let v: Value = serde_json::from_str(&dunstctl(bus, &["history"])?)?;
    let mut out: Vec<(u64, String, String, String)> = v["data"][0]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let s = |k: &str| n[k]["data"].as_str().unwrap_or("").to_owned();
            (
                n["id"]["data"].as_u64().unwrap_or(0),
                s("appname"),
                s("summary"),
                s("body"),
            )
        })
        .collect();
    out.sort_by_key(|n| n.0);
    Ok(out.into_iter().map(|(_, a, s, b)| (a, s, b)).collect())
}

/// Waits until dunst has shown `n` notifications; returns them.
async fn wait_shown(
    bus: &SessionBus,
    n: usize,
    within: Duration,
) -> Result<Vec<(String, String, String)>> {
    let end = Instant::now() + within;
    loop {
        let s = shown(bus)?;
        if s.len() >= n {
            return Ok(s);
        }
        if Instant::now() > end {
            bail!(
                "dunst showed {} notification(s), expected {n}: {s:?}",
                s.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The whole X screen (the app's window, the other window and dunst's popup) as
/// `tests/artifacts/<name>.png`, with ImageMagick's `import`.
fn screenshot_screen(name: &str) -> Result<()> {
    let path = liveroom_app_tests::artifacts().join(format!("{name}.png"));
    let out = Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .output()
        .context("import (Debian's imagemagick)")?;
    ensure!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("screenshot: {}", path.display());
    Ok(())
}

fn xdotool(args: &[&str]) -> Result<String> {
    let out = Command::new("xdotool")
        .args(args)
        .output()
        .context("xdotool")?;
    ensure!(
        out.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The app's window on the X display (its visible top-level window).
fn app_window() -> Result<String> {
    let ids = xdotool(&["search", "--onlyvisible", "--name", "^Liveroom$"])?;
    ids.lines()
        .last()
        .map(str::to_owned)
        .context("no Liveroom window")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window and a notification daemon (needs a display, tauri-driver, dbus-daemon, dunst, xdotool, xmessage and imagemagick): run by scripts/test-app"]
async fn a_mention_notifies_while_the_window_is_not_focused() -> Result<()> {
    let bus = SessionBus::start()?;
    let _dunst = start_dunst(&bus)?;
    let app = App::launch_with_env(
        "mentions-notify",
        &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)],
    )
    .await?;
    let r: Result<()> = async {
        app.login_local("nia_host", "Nia").await?;
        app.create_room("mn-n", "Night show", "").await?;
        let f = fan(&app, "fan_n", "Fan", &["mn-n"]).await?;
        let win = app_window()?;
        xdotool(&["windowfocus", "--sync", &win])?;
        app.wait_js(
            "the window focused",
            "return window.liveroomMentions.focused()",
        )
        .await?;

        // Focused, looking at the room: highlighted and listed, no notification.
        say(&f, "mn-n", "@Nia while you look").await?;
        app.wait_js(
            "listed",
            "return window.liveroomMentions.items.length === 1",
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(
            shown(&bus)?.is_empty(),
            "no notification while focused: {:?}",
            shown(&bus)?
        );

        // Another window takes the focus, as when the user works in another app.
        let other = Proc(
            Command::new("xmessage")
                .args(["-geometry", "320x90+900+650", "another app"])
                .spawn()
                .context("xmessage (x11-utils)")?,
        );
        let other_win = xdotool(&["search", "--sync", "--onlyvisible", "--name", "^xmessage$"])?;
        let other_win = other_win
            .lines()
            .last()
            .context("xmessage window")?
            .to_owned();
        xdotool(&["windowfocus", "--sync", &other_win])?;
        app.wait_js(
            "the window not focused",
            "return !window.liveroomMentions.focused()",
        )
        .await?;

        say(&f, "mn-n", "@Nia are you there? <b>bold</b>").await?;
        // The popup on the screen (dunst draws it on the X display, over the app's window).
        let end = Instant::now() + WAIT;
        while dunstctl(&bus, &["count", "displayed"])?.trim() == "0" {
            ensure!(Instant::now() < end, "no notification on screen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        screenshot_screen("mentions-notification")?;
        let s = wait_shown(&bus, 1, WAIT).await?;
        // The body is markup to the notification service: the user's tags arrive escaped, so
        // that they show as typed (the screenshot), never as bold.
        ensure!(
            s[0].0 == "liveroom-app"
                && s[0].1 == "Night show · Fan"
                && s[0].2 == "@Nia are you there? &lt;b&gt;bold&lt;/b&gt;",
            "summary and body: {s:?}"
        );
        // Three more at once: held back (one per room per 10 s), then told in one.
        let t0 = Instant::now();
        for i in 1..=3 {
            say(&f, "mn-n", &format!("@nia once more {i}")).await?;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(shown(&bus)?.len() == 1, "held back: {:?}", shown(&bus)?);
        let s = wait_shown(&bus, 2, Duration::from_secs(15)).await?;
        ensure!(
            t0.elapsed() >= Duration::from_secs(6),
            "summed after the 10 s: {:?}",
            t0.elapsed()
        );
        ensure!(
            s[1].1 == "Night show · 3 mentions" && s[1].2 == "Fan: @nia once more 3",
            "summed: {s:?}"
        );
        ensure!(s.len() == 2, "{s:?}");
        let sent = app
            .js("return window.liveroomMentions.sent", vec![])
            .await?;
        ensure!(sent.as_array().map(Vec::len) == Some(2), "{sent}");

        // Notifications off (the bell in the list): no more.
        app.click("#mentions-box .mentions-bell").await?;
        tokio::time::sleep(Duration::from_secs(11)).await;
        say(&f, "mn-n", "@Nia with notifications off").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            shown(&bus)?.len() == 2,
            "none while off: {:?}",
            shown(&bus)?
        );
        app.click("#mentions-box .mentions-bell").await?;

        // Back to the app: no notification for what the user sees.
        drop(other);
        xdotool(&["windowfocus", "--sync", &win])?;
        app.wait_js(
            "the window focused again",
            "return window.liveroomMentions.focused()",
        )
        .await?;
        say(&f, "mn-n", "@Nia welcome back").await?;
        app.wait_js(
            "listed",
            "return window.liveroomMentions.items.length === 7",
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            shown(&bus)?.len() == 2,
            "none while focused: {:?}",
            shown(&bus)?
        );
        app.screenshot("mentions-notify").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

// ---------- keyboard shortcuts ----------

/// Which room is shown, what has the focus, and whether the host panel and help are open.
async fn ui_state(app: &App) -> Result<Value> {
    app.js(
        "const a = document.activeElement; const rooms = window.liveroomApp.rooms;
         const p = rooms.panes.get(rooms.active);
         return { active: rooms.active, focus: a ? (a.className || a.tagName) : null,
                  focusRoom: a && a.closest('.pane') ? a.closest('.pane').dataset.room : null,
                  host: p ? !p.el.querySelector('.host-panel').hidden : null,
                  side: rooms.moderator, help: !!document.querySelector('#dlg-shortcuts[open]') };",
        vec![],
    )
    .await
}

/// Moves the focus off any input (to the page), as after a click on the chat.
async fn blur(app: &App) -> Result<()> {
    app.js(
        "document.activeElement && document.activeElement.blur(); return true",
        vec![],
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn keyboard_shortcuts_switch_rooms_focus_the_input_toggle_panels_and_show_their_help(
) -> Result<()> {
    let app = App::launch("shortcuts").await?;
    let r: Result<()> = async {
        app.login_local("keys_host", "Keys").await?;
        for (id, name) in [("sc-1", "One"), ("sc-2", "Two"), ("sc-3", "Three")] {
            app.create_room(id, name, "").await?;
        }
        let s = ui_state(&app).await?;
        ensure!(s["active"] == "sc-3", "{s}");

        // Ctrl+1…3: the n-th joined room, from inside the message input too.
        chord(&app, &ctrl('1')).await?;
        let s = ui_state(&app).await?;
        ensure!(s["active"] == "sc-1", "Ctrl+1: {s}");
        chord(&app, &ctrl('2')).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-2", "Ctrl+2");
        chord(&app, &ctrl('9')).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-2", "Ctrl+9 with three rooms: nothing");

        // Ctrl+Tab / Ctrl+Shift+Tab, Alt+↓ / Alt+↑: next and previous, wrapping.
        chord(&app, &[Key::Control.into(), Key::Tab.into()]).await?;
        let s = ui_state(&app).await?;
        ensure!(s["active"] == "sc-3", "Ctrl+Tab: {s}");
        chord(&app, &[Key::Control.into(), Key::Tab.into()]).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-1", "Ctrl+Tab wraps");
        chord(&app, &[Key::Control.into(), Key::Shift.into(), Key::Tab.into()]).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-3", "Ctrl+Shift+Tab");
        chord(&app, &[Key::Alt.into(), Key::Down.into()]).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-1", "Alt+Down");
        chord(&app, &[Key::Alt.into(), Key::Up.into()]).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-3", "Alt+Up");

        // Ctrl+L and `/`: the input of the room shown.
        blur(&app).await?;
        chord(&app, &ctrl('l')).await?;
        let s = ui_state(&app).await?;
        ensure!(s["focus"].as_str().is_some_and(|c| c.contains("text-input")) && s["focusRoom"] == "sc-3", "Ctrl+L: {s}");
        blur(&app).await?;
        chord(&app, &['/']).await?;
        let s = ui_state(&app).await?;
        ensure!(s["focusRoom"] == "sc-3" && s["focus"].as_str().is_some_and(|c| c.contains("text-input")), "/: {s}");
        let typed = app.js("return document.querySelector(\".pane[data-room='sc-3'] .text-input\").value", vec![]).await?;
        ensure!(typed == "", "the / that focused is not typed: {typed:?}");
        // While typing, / and ? are text.
        chord(&app, &['a']).await?;
        chord(&app, &['/']).await?;
        chord(&app, &['?']).await?;
        let typed = app.js("return document.querySelector(\".pane[data-room='sc-3'] .text-input\").value", vec![]).await?;
        ensure!(typed == "a/?", "typed as text: {typed:?}");
        ensure!(ui_state(&app).await?["help"] == json!(false), "no help while typing");

        // Ctrl+H: the host panel opens and closes (the owner may); Escape closes it too.
        chord(&app, &ctrl('h')).await?;
        ensure!(ui_state(&app).await?["host"] == json!(true), "Ctrl+H opens");
        chord(&app, &ctrl('h')).await?;
        ensure!(ui_state(&app).await?["host"] == json!(false), "Ctrl+H closes");
        chord(&app, &ctrl('h')).await?;
        blur(&app).await?;
        chord(&app, &[Key::Escape.into()]).await?;
        ensure!(ui_state(&app).await?["host"] == json!(false), "Escape closes the host panel");

        // Ctrl+Shift+M: side by side and back.
        chord(&app, &[Key::Control.into(), Key::Shift.into(), 'm']).await?;
        let s = ui_state(&app).await?;
        ensure!(s["side"] == json!(true), "Ctrl+Shift+M: {s}");
        let shown = app.js("return [...document.querySelectorAll('#panes .pane')].filter(p => !p.hidden).length", vec![]).await?;
        ensure!(shown == json!(3), "all three side by side: {shown}");
        chord(&app, &[Key::Control.into(), Key::Shift.into(), 'm']).await?;
        ensure!(ui_state(&app).await?["side"] == json!(false), "back to one room");

        // Ctrl+F: the room's search bar (features/search.js), focused; Escape closes it.
        let search = "return window.liveroomApp.rooms.panes.get('sc-3').features.search.isOpen";
        chord(&app, &ctrl('f')).await?;
        ensure!(app.js(search, vec![]).await? == json!(true), "Ctrl+F opens the search bar");
        let s = ui_state(&app).await?;
        ensure!(s["focusRoom"] == "sc-3" && s["focus"].as_str().is_some_and(|c| c.contains("search")), "its field focused: {s}");
        blur(&app).await?;
        chord(&app, &[Key::Escape.into()]).await?;
        ensure!(app.js(search, vec![]).await? == json!(false), "Escape closes it");

        // `?`: the help lists every shortcut; Escape closes it.
        blur(&app).await?;
        chord(&app, &['?']).await?;
        app.wait_js("the help open", "return !!document.querySelector('#dlg-shortcuts[open]')").await?;
        let rows = app.js("return [...document.querySelectorAll('#dlg-shortcuts tbody tr')].map(r => [r.dataset.shortcut, r.querySelector('.sc-keys').textContent, r.querySelector('.sc-what').textContent])", vec![]).await?;
        let ids: Vec<&str> = rows.as_array().context("rows")?.iter().map(|r| r[0].as_str().unwrap_or("")).collect();
        ensure!(ids == ["room-n", "next", "prev", "input", "search", "host", "side", "escape", "help"], "{rows}");
        ensure!(rows[0][1] == "Ctrl+1…9" && rows[1][1].as_str().is_some_and(|k| k.contains("Ctrl+Tab") && k.contains("Alt+↓")), "{rows}");
        ensure!(rows.as_array().context("rows")?.iter().all(|r| r[2].as_str().is_some_and(|w| !w.is_empty())), "each explained: {rows}");
        // While it is open the keys are the dialog's: Ctrl+1 does not switch rooms behind it.
        chord(&app, &ctrl('1')).await?;
        ensure!(ui_state(&app).await?["active"] == "sc-3", "no switch behind the dialog");
        app.screenshot("shortcuts-help").await?;
        chord(&app, &[Key::Escape.into()]).await?;
        app.wait_js("the help closed", "return !document.querySelector('#dlg-shortcuts[open]')").await?;

        // The top bar's ? button, in Chinese.
        app.click("#main-lang").await?;
        app.click("#btn-shortcuts").await?;
        app.wait_js("the help open", "return !!document.querySelector('#dlg-shortcuts[open]')").await?;
        let zh = app.js("return [document.querySelector('#dlg-shortcuts h2').textContent, document.querySelector(\"#dlg-shortcuts tr[data-shortcut='next'] .sc-what\").textContent, document.querySelector(\"#dlg-shortcuts tr[data-shortcut='next'] .sc-or\").textContent]", vec![]).await?;
        ensure!(zh == json!(["键盘快捷键", "下一个房间", "或"]), "Chinese: {zh}");
        app.screenshot("shortcuts-help-zh").await?;
        chord(&app, &[Key::Escape.into()]).await?;
        app.wait_js("the help closed", "return !document.querySelector('#dlg-shortcuts[open]')").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}
