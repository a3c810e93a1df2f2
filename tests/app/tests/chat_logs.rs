//! Window tests of issue 15's tools (chat_logs): the real app under tauri-driver, like window.rs.
//! Run by scripts/test-app (#[ignore]d in a plain `cargo test`: no display there).
//!
//! Chat logs on disk (opt-in, turned on in the Logs dialog with a folder typed in: the native
//! picker cannot be driven), what they hold after texts, gifts, pictures and likes from the
//! app's composer and the CLI, logging that stays on and appends after a restart, and the
//! room's search (Ctrl+F's bar): `from:`, `has:image`, `is:gift`, plain words, a result that
//! jumps to its message, and one that only the logs still hold.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use liveroom_app_tests::{make_png, user_sig, App, Cli};
use serde_json::{json, Value};

const ROOM: &str = "logs-1";
const PANE: &str = ".pane[data-room='logs-1']";
/// The app and the test read dates in this zone (not the machine's UTC): the logs must say it.
const TZ: &str = "Asia/Shanghai";
/// Sent after the first messages so that they leave the server's history (100) and the view.
const FILLERS: usize = 130;

/// The app's data folder kept across the two runs (the harness makes a new one per launch).
struct Data {
    dir: PathBuf,
    logs: PathBuf,
}

impl Data {
    fn new() -> Result<Data> {
        let dir = std::env::temp_dir().join(format!("liveroom-chat-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let logs = dir.join("my logs");
        std::fs::create_dir_all(dir.join("app"))?;
        Ok(Data { dir, logs })
    }

    fn app_dir(&self) -> PathBuf {
        self.dir.join("app")
    }

    /// The embedded app's SDKAppID and key (the harness reads them from its own folder).
    fn keys(&self) -> Result<(u64, String)> {
        let text = std::fs::read_to_string(self.app_dir().join("embedded-app.json"))?;
        let v: Value = serde_json::from_str(&text)?;
        Ok((
            v["SDKAppID"].as_u64().context("SDKAppID")?,
            v["secretKey"].as_str().context("key")?.to_owned(),
        ))
    }

    /// The room's folder: FOLDER/this-computer-APPID/ROOM.
    fn room_dir(&self) -> Result<PathBuf> {
        let (app_id, _) = self.keys()?;
        Ok(self.logs.join(format!("this-computer-{app_id}")).join(ROOM))
    }

    /// Today's two files (in the zone of the test), read whole; "" when missing.
    fn today(&self) -> Result<(String, String)> {
        let day = today()?;
        let dir = self.room_dir()?;
        let read = |ext: &str| {
            std::fs::read_to_string(dir.join(format!("{day}.{ext}"))).unwrap_or_default()
        };
        Ok((read("log"), read("jsonl")))
    }

    /// Waits (bounded: the writer flushes every second) until the text log has `line`.
    async fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> Result<String> {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let (text, _) = self.today()?;
            if pred(&text) {
                return Ok(text);
            }
            if Instant::now() > end {
                let files = walk(&self.logs);
                bail!("the log never showed {what}; it holds:\n{text}\nfiles: {files:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every file under `dir` with its size.
fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((p, len));
            }
        }
    }
    out
}

/// `YYYY-MM-DD` in the test's zone.
fn today() -> Result<String> {
    let out = Command::new("date").env("TZ", TZ).arg("+%F").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The app on the kept data folder, in the test's zone, with the room's budget lifted.
async fn launch(name: &str, data: &Data) -> Result<App> {
    let dir = data.app_dir().display().to_string();
    App::launch_with_env(
        name,
        &[
            ("LIVEROOM_APP_DATA", &dir),
            ("TZ", TZ),
            ("LIVEROOM_ROOM_BUDGET", "0"),
            ("LIVEROOM_USER_RATE", "0"),
        ],
    )
    .await
}

/// Runs the CLI against the app's embedded server as `user`; its stdout as JSON.
fn cli(app: &App, data: &Data, user: &str, args: &[&str]) -> Result<Value> {
    let (app_id, key) = data.keys()?;
    let env = [
        ("LIVEROOM_SERVER", app.server()),
        ("LIVEROOM_APP", app_id.to_string()),
        ("LIVEROOM_USER", user.to_owned()),
        ("LIVEROOM_SIG", user_sig(app_id, &key, user)),
    ];
    let out = Cli::spawn(args, &env)?.finish(Duration::from_secs(30))?;
    Ok(serde_json::from_str(out.trim()).unwrap_or(Value::String(out)))
}

/// JS: a summary of what the room's chat holds as data (`items()`), each message's
/// `{type, text, data, from, id}`.
const HELD_JS: &str = "return window.liveroomApp.panes.get(arguments[0]).list.items()
    .map(i => i.__line ? i.msg : i).filter(Boolean)
    .map(m => ({type: m.type, text: (m.payload || {}).text, data: (m.payload || {}).data, from: m.from, id: m.ID}));";

async fn held(app: &App) -> Result<Vec<Value>> {
    let v = app.js(HELD_JS, vec![json!(ROOM)]).await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// Waits until the chat holds a message for which `pred` holds.
async fn wait_held(app: &App, what: &str, pred: impl Fn(&Value) -> bool) -> Result<Value> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = held(app).await?.into_iter().find(|m| pred(m)) {
            return Ok(m);
        }
        if Instant::now() > end {
            bail!("the chat never held {what}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Types into the composer and sends; waits until the server confirmed it.
async fn send_text(app: &App, text: &str) -> Result<()> {
    app.fill(&format!("{PANE} .text-input"), text).await?;
    app.click(&format!("{PANE} .btn-send")).await?;
    wait_held(app, text, |m| {
        m["text"] == text && m["id"].as_str().is_some_and(|id| !id.is_empty())
    })
    .await?;
    Ok(())
}

/// Turns logging on in the dialog with `folder` typed in.
async fn turn_logs_on(app: &App, folder: &Path) -> Result<()> {
    app.click("#btn-chat-logs").await?;
    app.wait_js(
        "the logs dialog",
        "return document.getElementById('dlg-chat-logs').open",
    )
    .await?;
    let off = app
        .js(
            "return document.getElementById('chat-logs-enabled').checked",
            vec![],
        )
        .await?;
    ensure!(
        off == json!(false),
        "logging is off until the user turns it on"
    );
    app.click("#chat-logs-enabled").await?;
    app.fill("#chat-logs-folder", &folder.display().to_string())
        .await?;
    let shown = app
        .js(
            "return document.getElementById('chat-logs-path').textContent",
            vec![],
        )
        .await?;
    ensure!(
        shown
            .as_str()
            .is_some_and(|s| s.starts_with(&folder.display().to_string())
                && s.contains("/this-computer-")
                && s.contains("/ROOM/YYYY-MM-DD.log")),
        "where the files go: {shown}"
    );
    app.screenshot("chat-logs-dialog").await?;
    app.click("#chat-logs-save").await?;
    app.wait_js("logging on", "return !document.getElementById('dlg-chat-logs').open && document.getElementById('btn-chat-logs').classList.contains('on')").await?;
    Ok(())
}

/// Runs a search in the room's bar and waits until it is done; returns its results
/// `{held, logs, who, text, time, id, kind, tag}`.
async fn search(app: &App, query: &str) -> Result<Vec<Value>> {
    let open = app
        .js(
            &format!("return !document.querySelector(\"{PANE} .search-bar\").hidden"),
            vec![],
        )
        .await?;
    if open != json!(true) {
        app.click(&format!("{PANE} .pane-tools .btn-search"))
            .await?;
    }
    app.fill(&format!("{PANE} .search-input"), query).await?;
    app.wait_js(
        &format!("the search for {query}"),
        &format!(
            "return document.querySelector(\"{PANE} .search-bar\").dataset.done === {}",
            json!(query)
        ),
    )
    .await?;
    let v = app
        .js(
            &format!(
                "return [...document.querySelectorAll(\"{PANE} .search-results li.search-result\")].map(li => ({{
                   held: li.classList.contains('held'), logs: li.classList.contains('from-logs'),
                   who: li.querySelector('.sr-who').textContent, text: li.querySelector('.sr-text').textContent,
                   time: li.querySelector('.sr-time').textContent, at: li.querySelector('.sr-time').dateTime,
                   id: li.dataset.id || '', kind: li.dataset.kind, tag: (li.querySelector('.sr-tag') || {{}}).textContent || '' }}))"
            ),
            vec![],
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// Lines of the text log that end with `tail` (after `[HH:MM:SS] `).
fn lines_ending<'a>(log: &'a str, tail: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.ends_with(tail)).collect()
}

/// Every line starts with `[HH:MM:SS] ` or is an indented continuation.
fn check_line_shapes(log: &str) -> Result<()> {
    for line in log.lines() {
        let b = line.as_bytes();
        let clock = b.len() > 11
            && b[0] == b'['
            && b[3] == b':'
            && b[6] == b':'
            && b[9] == b']'
            && b[10] == b' '
            && [1, 2, 4, 5, 7, 8].iter().all(|&i| b[i].is_ascii_digit());
        ensure!(
            clock || line.starts_with("    "),
            "not a log line: {line:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn chat_logs_on_disk_and_search_in_a_room() -> Result<()> {
    let data = Data::new()?;
    let png_path = data.dir.join("cli-picture.png");
    std::fs::write(&png_path, make_png(320, 200))?;

    // ---------- first run: turn logs on, chat, check the files, search ----------
    let app = launch("chat-logs", &data).await?;
    let r: Result<()> = async {
        app.login_local("host_logs", "Host 主播").await?;
        app.create_room(ROOM, "Logged show", "").await?;
        turn_logs_on(&app, &data.logs).await?;

        // The app's composer: a text, a gift, a picture.
        send_text(&app, "hello from the app 你好").await?;
        send_text(&app, "the needle in the haystack").await?;
        app.click(&format!("{PANE} .btn-gift")).await?;
        app.click(&format!("{PANE} .gift-btn[data-gift='rocket']")).await?;
        wait_held(&app, "my gift, acknowledged", |m| m["data"] == "gift" && m["id"].as_str().is_some_and(|i| !i.is_empty())).await?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(make_png(300, 200));
        app.js(
            "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], 'app.png', {type: 'image/png'}));
             const input = document.querySelector(arguments[1] + ' .file-input');
             input.files = dt.files;
             input.dispatchEvent(new Event('change', {bubbles: true}));
             return true;",
            vec![json!(b64), json!(PANE)],
        )
        .await?;
        wait_held(&app, "my picture", |m| m["type"] == "TIMImageElem" && m["from"] == "host_logs").await?;

        // The CLI: a viewer with a nick sends a text, a gift of 3, a picture and a like.
        cli(&app, &data, "cli_bob", &["profile", "--nick", "Bob"])?;
        cli(&app, &data, "cli_bob", &["send", ROOM, "hi from the CLI 👋"])?;
        cli(&app, &data, "cli_bob", &["send-custom", ROOM, "--data", "gift", "--description", "rocket", "--extension", r#"{"count":3}"#])?;
        cli(&app, &data, "cli_bob", &["send-image", ROOM, &png_path.display().to_string()])?;
        cli(&app, &data, "cli_bob", &["send-custom", ROOM, "--data", "like"])?;
        wait_held(&app, "the CLI's picture", |m| m["type"] == "TIMImageElem" && m["from"] == "cli_bob").await?;

        // Both files, today's date in the app's zone.
        let log = data
            .wait_log("the CLI's like", |t| t.lines().any(|l| l.ends_with("Bob (cli_bob) liked")))
            .await?;
        check_line_shapes(&log)?;
        for want in [
            "] Host 主播 (host_logs): hello from the app 你好",
            "] Host 主播 (host_logs): the needle in the haystack",
            "] Host 主播 (host_logs) sent gift rocket",
            "] Bob (cli_bob): hi from the CLI 👋",
            "] Bob (cli_bob) sent gift rocket x3",
            "] Bob (cli_bob) liked",
        ] {
            ensure!(lines_ending(&log, want).len() == 1, "the log has {want:?} once:\n{log}");
        }
        // Each CLI command enters the room and leaves it.
        for tip in ["] * cli_bob joined", "] * cli_bob left"] {
            ensure!(lines_ending(&log, tip).len() == 4, "four times {tip:?}:\n{log}");
        }
        for who in ["Host 主播 (host_logs)", "Bob (cli_bob)"] {
            let pics: Vec<_> = log.lines().filter(|l| l.contains(&format!("] {who}: [picture] http"))).collect();
            ensure!(pics.len() == 1 && pics[0].contains("/images/"), "{who}'s picture as its URL:\n{log}");
        }
        let (_, jsonl) = data.today()?;
        let records: Vec<Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).with_context(|| format!("a JSON line: {l}")))
            .collect::<Result<_>>()?;
        ensure!(records.len() == log.lines().filter(|l| l.starts_with('[')).count(), "one JSON line per message");
        let day = today()?;
        for r in &records {
            let time = r["time"].as_str().unwrap_or("");
            ensure!(time.starts_with(&day) && time.ends_with("+08:00"), "local time with the zone's offset: {r}");
            ensure!(r["room"] == ROOM && r["ID"].as_str().is_some() && r["type"].as_str().is_some(), "{r}");
        }
        let text = records.iter().find(|r| r["text"] == "hi from the CLI 👋").context("the CLI's text record")?;
        ensure!(
            text["kind"] == "text" && text["type"] == "TIMTextElem" && text["from"] == "cli_bob" && text["nick"] == "Bob"
                && text["sequence"].as_u64().is_some_and(|s| s > 0)
                && text["ID"].as_str().is_some_and(|i| i.starts_with("GROUPlogs-1-")),
            "{text}"
        );
        let gift = records.iter().find(|r| r["kind"] == "gift" && r["from"] == "cli_bob").context("the gift record")?;
        ensure!(gift["gift"] == "rocket" && gift["count"] == 3, "{gift}");
        let pic = records.iter().find(|r| r["kind"] == "picture" && r["from"] == "cli_bob").context("the picture record")?;
        ensure!(pic["picture"].as_str().is_some_and(|u| u.starts_with("http")) && pic["width"] == 320 && pic["height"] == 200, "{pic}");
        let needle_id = records
            .iter()
            .find(|r| r["text"] == "the needle in the haystack")
            .and_then(|r| r["ID"].as_str())
            .context("the needle's record")?
            .to_owned();

        // Enough messages after them that the first ones leave the view (and the server's
        // history of 100, for the second run).
        let fan = fan(&app, &data).await?;
        for i in 1..=FILLERS {
            fan.send_text_message(ROOM, &format!("filler {i}"), liveroom_engine::Priority::Normal).await?;
        }
        fan.shutdown().await;
        wait_held(&app, "the last filler", |m| m["text"] == format!("filler {FILLERS}")).await?;
        // The chat still follows the newest (the upload bar that hid meanwhile is no scroll
        // of the user's), so the first messages are out of view.
        app.wait_js("the flood drawn", &format!("return window.liveroomApp.panes.get('{ROOM}').list.queued.length === 0")).await?;
        let following = app
            .js(&format!("return document.querySelector(\"{PANE} .new-msgs\").hidden && window.liveroomApp.panes.get('{ROOM}').list.stuck"), vec![])
            .await?;
        ensure!(following == json!(true), "the chat stopped following the newest message by itself");
        data.wait_log("the last filler", |t| t.lines().any(|l| l.ends_with(&format!("] fan_logs: filler {FILLERS}")))).await?;

        // ---------- search what the app holds (and the logs, merged) ----------
        let bob = search(&app, "from:cli_bob").await?;
        ensure!(bob.len() == 3, "Bob's text, gift and picture (not the like): {bob:?}");
        ensure!(bob.iter().all(|r| r["held"] == true && r["who"] == "Bob (cli_bob)"), "held, by Bob: {bob:?}");
        ensure!(bob.iter().map(|r| r["kind"].as_str().unwrap_or("")).collect::<Vec<_>>() == ["picture", "gift", "text"], "newest first: {bob:?}");
        let by_nick = search(&app, "from:bob").await?;
        ensure!(by_nick.len() == 3, "from: the nick too: {by_nick:?}");
        let pics = search(&app, "has:image").await?;
        ensure!(pics.len() == 2 && pics.iter().all(|r| r["kind"] == "picture"), "{pics:?}");
        let gifts = search(&app, "is:gift").await?;
        ensure!(gifts.len() == 2 && gifts.iter().all(|r| r["kind"] == "gift"), "{gifts:?}");
        let bob_gift = search(&app, "is:gift from:cli_bob").await?;
        ensure!(bob_gift.len() == 1 && bob_gift[0]["text"].as_str().is_some_and(|t| t.contains("x3")), "{bob_gift:?}");
        let words = search(&app, "HELLO app").await?;
        ensure!(words.len() == 1 && words[0]["text"] == "hello from the app 你好" && words[0]["held"] == true, "{words:?}");
        let none = search(&app, "hello moon").await?;
        ensure!(none.is_empty(), "all words must appear: {none:?}");

        // A result jumps to its message: scrolled into view, flashed.
        let needle = search(&app, "needle").await?;
        ensure!(needle.len() == 1 && needle[0]["id"] == needle_id.as_str(), "{needle:?}");
        let out_of_view = app
            .js(&format!("return !document.querySelector(\"{PANE} .chat li.msg[data-id='{needle_id}']\")"), vec![])
            .await?;
        ensure!(out_of_view == json!(true), "the needle was scrolled out of the DOM by the fillers");
        app.screenshot("search").await?;
        app.click(&format!("{PANE} .search-results li.search-result.held[data-id='{needle_id}']")).await?;
        app.wait_js(
            "the needle in view and flashed",
            &format!(
                "const chat = document.querySelector(\"{PANE} .chat\");
                 const li = chat.querySelector(\"li.msg[data-id='{needle_id}']\");
                 if (!li) return false;
                 const c = chat.getBoundingClientRect(), r = li.getBoundingClientRect();
                 return r.top >= c.top - 1 && r.bottom <= c.bottom + 1 && li.classList.contains('chat-flash');"
            ),
        )
        .await?;
        app.screenshot("search-jump").await?;

        // Escape closes the bar.
        app.js(&format!("document.querySelector(\"{PANE} .search-input\").dispatchEvent(new KeyboardEvent('keydown', {{key: 'Escape', bubbles: true}})); return true"), vec![]).await?;
        app.wait_js("the bar closed", &format!("return document.querySelector(\"{PANE} .search-bar\").hidden")).await?;

        // Chinese labels.
        app.click("#main-lang").await?;
        let zh = app
            .js(
                &format!(
                    "return {{button: document.getElementById('btn-chat-logs').textContent,
                             ph: document.querySelector(\"{PANE} .search-input\").placeholder}}"
                ),
                vec![],
            )
            .await?;
        ensure!(zh["button"] == "聊天记录" && zh["ph"].as_str().is_some_and(|p| p.starts_with("搜索")), "{zh}");
        app.click("#btn-chat-logs").await?;
        let dialog = app
            .js("const d = document.getElementById('dlg-chat-logs'); return {title: d.querySelector('h2').textContent, box: d.querySelector('.cl-enable span').textContent, on: document.getElementById('chat-logs-enabled').checked}", vec![])
            .await?;
        ensure!(dialog["title"] == "聊天记录" && dialog["box"] == "将聊天记录保存到磁盘" && dialog["on"] == true, "{dialog}");
        app.screenshot("chat-logs-zh").await?;
        app.click("#chat-logs-cancel").await?;
        let zh_results = search(&app, "is:gift").await?;
        ensure!(zh_results.len() == 2 && zh_results.iter().all(|r| r["text"].as_str().is_some_and(|t| t.starts_with("送出"))), "{zh_results:?}");
        app.screenshot("search-zh").await?;
        app.click("#main-lang").await?;
        Ok(())
    }
    .await;
    app.finish(r).await?;

    let (before, _) = data.today()?;
    let lines_before = before.lines().filter(|l| l.starts_with('[')).count();

    // ---------- second run: logging stays on, appends, and the logs hold the older messages ----------
    let app = launch("chat-logs-restart", &data).await?;
    let r: Result<()> = async {
        app.login_local("host_logs", "Host 主播").await?;
        app.wait_js("logging still on", "return document.getElementById('btn-chat-logs').classList.contains('on')").await?;
        app.click("#btn-chat-logs").await?;
        let dialog = app
            .js("return {on: document.getElementById('chat-logs-enabled').checked, folder: document.getElementById('chat-logs-folder').value}", vec![])
            .await?;
        ensure!(dialog["on"] == true && dialog["folder"] == data.logs.display().to_string().as_str(), "{dialog}");
        app.screenshot("chat-logs-restart").await?;
        app.click("#chat-logs-cancel").await?;

        app.enter_room(ROOM).await?;
        // Entering replays the server's history (the newest 100): none of it is written again.
        wait_held(&app, "the history", |m| m["text"] == format!("filler {FILLERS}")).await?;
        let early = held(&app).await?;
        ensure!(!early.iter().any(|m| m["text"] == "hello from the app 你好"), "the first messages left the server's history");
        send_text(&app, "after the restart").await?;
        let log = data.wait_log("the new message", |t| t.lines().any(|l| l.ends_with("] Host 主播 (host_logs): after the restart"))).await?;
        let lines_after = log.lines().filter(|l| l.starts_with('[')).count();
        ensure!(lines_after == lines_before + 1, "appended, history not written twice: {lines_before} → {lines_after}");
        let (_, jsonl) = data.today()?;
        let mut ids: Vec<String> = jsonl
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|r| r["ID"].as_str().map(str::to_owned))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        ensure!(ids.len() == n, "each message once in the JSON lines");

        // A message only the logs hold shows as such, with its date; merged with what the app holds.
        let old = search(&app, "hello app").await?;
        ensure!(old.len() == 1 && old[0]["logs"] == true && old[0]["held"] == false, "{old:?}");
        ensure!(old[0]["tag"] == "from the logs", "{old:?}");
        let year = app.js("return String(new Date().getFullYear())", vec![]).await?;
        ensure!(old[0]["time"].as_str().is_some_and(|t| t.contains(year.as_str().unwrap_or("?"))), "the date is shown: {old:?}");
        let mine = search(&app, "from:host_logs").await?;
        let kinds: Vec<(bool, &str)> = mine.iter().map(|r| (r["held"] == true, r["text"].as_str().unwrap_or(""))).collect();
        ensure!(mine.first().is_some_and(|r| r["held"] == true && r["text"] == "after the restart"), "newest first: {kinds:?}");
        ensure!(mine.iter().filter(|r| r["logs"] == true).count() == 4, "the text, needle, gift and picture from the logs: {kinds:?}");
        let ids: Vec<&str> = mine.iter().map(|r| r["id"].as_str().unwrap_or("")).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        ensure!(unique.len() == ids.len(), "no result twice: {ids:?}");
        let times: Vec<&str> = mine.iter().map(|r| r["at"].as_str().unwrap_or("")).collect();
        ensure!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
        // A log-only result is not a link.
        app.click(&format!("{PANE} .search-results li.search-result.from-logs")).await?;
        app.screenshot("search-logs").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

/// Another viewer as an engine (quicker than a CLI process per message).
async fn fan(app: &App, data: &Data) -> Result<liveroom_engine::Im> {
    let (app_id, key) = data.keys()?;
    let im = liveroom_engine::Im::new(app_id, app.server())?;
    im.login("fan_logs", &user_sig(app_id, &key, "fan_logs"))
        .await?;
    im.enter_room(ROOM).await?;
    Ok(im)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opens the app's window (needs a display and tauri-driver): run by scripts/test-app"]
async fn a_folder_that_cannot_be_written_is_said_once() -> Result<()> {
    let data = Data::new()?;
    let app = launch("chat-logs-error", &data).await?;
    let r: Result<()> = async {
        app.login_local("host_err", "Host").await?;
        app.create_room(ROOM, "Logged show", "").await?;
        // The server's folder is taken by a file: no room folder can be made under it.
        let (app_id, _) = data.keys()?;
        std::fs::create_dir_all(&data.logs)?;
        std::fs::write(data.logs.join(format!("this-computer-{app_id}")), b"in the way")?;
        // Count the notices as they come (a toast fades after a few seconds).
        app.js(
            "window.__logNotices = 0;
             new MutationObserver(rs => { for (const r of rs) for (const n of r.addedNodes)
               if (n.classList && n.classList.contains('toast') && n.textContent.startsWith('Chat logs could not be written'))
                 window.__logNotices++; }).observe(document.getElementById('toasts'), {childList: true});
             return true",
            vec![],
        )
        .await?;
        turn_logs_on(&app, &data.logs).await?;
        for i in 1..=5 {
            send_text(&app, &format!("lost {i}")).await?;
        }
        app.wait_js("the notice", "return window.__logNotices >= 1").await?;
        app.screenshot("chat-logs-error").await?;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let n = app.js("return window.__logNotices", vec![]).await?;
        ensure!(n == json!(1), "said once, not per message: {n}");
        app.click("#btn-chat-logs").await?;
        let shown = app
            .wait_js(
                "the error in the dialog",
                "const p = document.getElementById('chat-logs-error'); return !p.hidden && p.textContent",
            )
            .await?;
        ensure!(shown.as_str().is_some_and(|t| t.starts_with("Last error: ")), "{shown}");
        app.screenshot("chat-logs-error-dialog").await?;
        app.click("#chat-logs-cancel").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}
