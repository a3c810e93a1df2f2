//! The OBS overlay (`GET /overlay/ROOM`) in real headless Chromium against the real server:
//! chat, gifts and likes sent with the `liveroom` CLI show on a transparent page, user text
//! as text only, as a list or as danmaku, in English and Chinese, and the page comes back by
//! itself after the server restarts. Plus the page's HTTP side (headers, errors, assets) and
//! the guest's socket it uses: a guest reads and can send nothing.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them). Screenshots
//! go to tests/artifacts/overlay-*.png.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use liveroom_proto::code;
use liveroom_tests::{json_out, Server, APP};
use serde_json::{json, Value};

use crate::RawClient;

/// How long the page may take to show what was sent (a browser, a CLI process per send).
const WAIT: Duration = Duration::from_secs(20);

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `chromedriver` on a free port, and a headless Chromium session through it; the driver
/// (and the browser with it) ends on drop.
struct Browser {
    client: Client,
    driver: Child,
    /// chromedriver's port.
    port: u16,
}

impl Browser {
    async fn open(width: u32, height: u32) -> Self {
        let how = "install Debian's chromium and chromium-driver: \
                   apt-get install chromium chromium-driver (scripts/test does)";
        let chromium = on_path("chromium")
            .or_else(|| on_path("chromium-browser"))
            .unwrap_or_else(|| panic!("no chromium on PATH: {how}"));
        let chromedriver =
            on_path("chromedriver").unwrap_or_else(|| panic!("no chromedriver on PATH: {how}"));
        let port = free_port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            // Its own process group, Chromium's processes with it: all ended together.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver does not start ({e}): {how}"));
        let end = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > end {
                let _ = driver.kill();
                panic!("chromedriver does not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    "--lang=en-US",
                    format!("--window-size={width},{height}"),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = match ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", driver.id())])
                    .status();
                let _ = driver.wait();
                panic!("no Chromium session ({e}): {how}");
            }
        };
        let browser = Self {
            client,
            driver,
            port,
        };
        // What OBS does: nothing behind the page, so the screenshot keeps its alpha. (Through
        // DevTools: Chromium 156's `--default-background-color=00000000` kills the renderer,
        // "Message rejected by interface blink.mojom.FrameWidgetHost".) And the viewport
        // exactly the size a browser source would have.
        browser
            .cdp(
                "Emulation.setDefaultBackgroundColorOverride",
                json!({"color": {"r": 0, "g": 0, "b": 0, "a": 0}}),
            )
            .await;
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        browser
    }

    /// A Chrome DevTools command through chromedriver (`goog/cdp/execute`).
    async fn cdp(&self, cmd: &str, params: Value) {
        let session = self
            .client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a session id");
        let url = format!(
            "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
            self.port
        );
        let r = reqwest::Client::new()
            .post(url)
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .expect("chromedriver answers");
        assert!(
            r.status().is_success(),
            "{cmd}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` (a function body, `return ...`) is truthy; returns its value.
    async fn wait_js(&self, what: &str, script: &str) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            let v = self.js(script).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's PNG, also saved as tests/artifacts/NAME.png, once what just came in has
    /// finished sliding in.
    async fn screenshot(&self, name: &str) -> Vec<u8> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
        std::fs::create_dir_all(&dir).expect("tests/artifacts");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        png
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Ends chromedriver and every Chromium process it started (its process group).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// (transparent, opaque) shares of a screenshot's pixels.
fn alpha_shares(png: &[u8]) -> (f64, f64) {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("the screenshot is a PNG")
        .to_rgba8();
    let total = f64::from(img.width() * img.height());
    let clear = img.pixels().filter(|p| p[3] == 0).count() as f64;
    let opaque = img.pixels().filter(|p| p[3] == 255).count() as f64;
    (clear / total, opaque / total)
}

/// Runs the CLI as `user`, asserting success.
fn cli(server: &Server, user: &str, args: &[&str]) -> Value {
    json_out(&server.cli_as(user, args))
}

/// Runs the same CLI send at once as each of `users` (likes arrive as a burst; one user's
/// logins would kick each other), asserting each succeeded.
fn cli_burst(server: &Server, users: &[&str], args: &[&str]) {
    std::thread::scope(|s| {
        let runs: Vec<_> = users
            .iter()
            .map(|user| s.spawn(move || server.cli_as(user, args)))
            .collect();
        for r in runs {
            json_out(&r.join().expect("cli thread"));
        }
    });
}

/// A room `room` of `host`, with `host`'s nick set.
fn room_with_host(server: &Server, room: &str, host: &str, nick: &str) {
    cli(server, host, &["profile", "--nick", nick]);
    cli(
        server,
        host,
        &["create-room", "--name", "Friday live", "--room-id", room],
    );
}

const LIVE: &str = "return document.body.dataset.state === 'live'";

/// The chat list's lines as `l`: `[nick, text]`.
const LINES: &str = "const l = [...document.querySelectorAll('#chat li.kind-chat')].map(li => \
     [li.querySelector('.nick').textContent, (li.querySelector('.text') || {}).textContent]);";

#[tokio::test]
async fn overlay_list_shows_chat_gifts_likes_and_the_end_as_text_on_transparent() {
    let server = Server::start();
    let evil_nick = "<b>Ann</b><img src=x onerror=\"document.title='pwned'\">";
    room_with_host(&server, "friday", "host", evil_nick);
    cli(&server, "fan1", &["profile", "--nick", "Lily 🌸"]);
    cli(
        &server,
        "host",
        &["send", "friday", "welcome, this line is history"],
    );

    let browser = Browser::open(720, 720).await;
    browser
        .goto(&format!(
            "{}/overlay/friday?mode=list&max=6",
            server.http_url()
        ))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    browser
        .wait_js(
            "the recent chat",
            "return document.querySelectorAll('#chat li.kind-chat').length === 1",
        )
        .await;

    // The page and everything behind it is transparent.
    let bg = browser
        .js("return [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]")
        .await;
    assert_eq!(bg, json!(["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]));

    let evil_text = "<img src=x onerror=\"window.pwned=1\"><b>bold?</b> & <i>text</i>";
    cli(&server, "host", &["send", "friday", evil_text]);
    cli(
        &server,
        "fan1",
        &["send", "friday", "Great stream tonight! 加油"],
    );
    let lines = browser
        .wait_js(
            "three chat lines",
            &format!("{LINES} return l.length === 3 && l"),
        )
        .await;
    assert_eq!(
        lines,
        json!([
            [evil_nick, "welcome, this line is history"],
            [evil_nick, evil_text],
            ["Lily 🌸", "Great stream tonight! 加油"]
        ]),
        "nick and text shown as the very characters sent"
    );

    // Likes as a burst, then a combo of one sender's gifts and another's gift.
    cli_burst(
        &server,
        &["like1", "like2", "like3", "like4", "like5", "like6"],
        &[
            "send-custom",
            "friday",
            "--data",
            "like",
            "--priority",
            "Low",
        ],
    );
    let gift = [
        "send-custom",
        "friday",
        "--data",
        "gift",
        "--description",
        "rocket",
        "--extension",
        r#"{"count":3}"#,
        "--priority",
        "High",
    ];
    cli(&server, "host", &gift);
    cli(&server, "host", &gift);
    cli(
        &server,
        "fan1",
        &[
            "send-custom",
            "friday",
            "--data",
            "gift",
            "--description",
            "crown",
            "--priority",
            "High",
        ],
    );
    let cards = browser
        .wait_js(
            "two gift cards, the combo merged",
            "const c = [...document.querySelectorAll('#gifts .gift-card')].map(c => [c.dataset.gift, \
             c.querySelector('.gift-who').textContent, c.querySelector('.gift-what').textContent, \
             c.querySelector('.gift-count').textContent]); \
             return c.length === 2 && c[0][3] === '×6' && c",
        )
        .await;
    assert_eq!(
        cards,
        json!([
            ["rocket", evil_nick, "sent Rocket", "×6"],
            ["crown", "Lily 🌸", "sent Crown", "×1"]
        ])
    );
    let pictures = browser
        .wait_js(
            "the gifts' pictures loaded",
            "const p = [...document.querySelectorAll('#gifts .gift-pic')]; \
             return p.every(i => i.complete && i.naturalWidth > 0) && p.map(i => [new URL(i.src).pathname, true])",
        )
        .await;
    assert_eq!(
        pictures,
        json!([
            ["/overlay/assets/gifts/rocket.svg", true],
            ["/overlay/assets/gifts/crown.svg", true]
        ])
    );
    browser
        .wait_js(
            "a heart per like",
            "return window.liveroomOverlay.stats.hearts >= 6",
        )
        .await;
    // The list merged the combo too: one rocket line counting ×6.
    let gift_lines = browser
        .js("return [...document.querySelectorAll('#chat li.kind-gift')].map(li => li.textContent)")
        .await;
    assert_eq!(
        gift_lines,
        json!([format!("{evil_nick}sent Rocket×6"), "Lily 🌸sent Crown×1"])
    );
    // No element came from what users wrote, and nothing ran.
    let made = browser
        .js("return [document.querySelectorAll('#stage b, #stage i').length, \
             [...document.querySelectorAll('#stage img')].filter(i => !/^(avatar|gift-icon|gift-pic)$/.test(i.className)).length, \
             document.title, window.pwned === undefined]")
        .await;
    assert_eq!(made, json!([0, 0, "Liveroom overlay", true]));

    let png = browser.screenshot("overlay-list").await;
    let (clear, opaque) = alpha_shares(&png);
    assert!(clear > 0.4, "mostly transparent: {clear:.2} of the pixels");
    assert!(opaque > 0.005, "and the overlay drawn: {opaque:.3} opaque");

    // At most `max` lines: the oldest leave the DOM.
    for i in 0..6 {
        cli(&server, "fan1", &["send", "friday", &format!("line {i}")]);
    }
    browser
        .wait_js(
            "the last line",
            "const l = document.querySelector('#chat li:last-child .text'); return l && l.textContent === 'line 5'",
        )
        .await;
    let count = browser
        .js("return document.querySelectorAll('#chat li').length")
        .await;
    assert_eq!(count, 6, "max=6 lines in the DOM");

    // The end of the stream, with the host's postscript.
    cli(
        &server,
        "host",
        &[
            "stop-push",
            "friday",
            "--postscript",
            "thanks <3, see you <b>tomorrow</b>",
        ],
    );
    let ended = browser
        .wait_js(
            "the stream-ended notice",
            "const e = document.getElementById('ended'); return !e.hidden && \
             [e.querySelector('.ended-title').textContent, e.querySelector('.ended-postscript').textContent]",
        )
        .await;
    assert_eq!(
        ended,
        json!(["The stream has ended", "thanks <3, see you <b>tomorrow</b>"])
    );
    browser.screenshot("overlay-ended").await;
    browser.close().await;
}

#[tokio::test]
async fn overlay_danmaku_in_chinese_flies_in_lanes_and_drops_the_excess() {
    let server = Server::start();
    room_with_host(&server, "dm", "host", "主播小安");
    cli(&server, "fan1", &["profile", "--nick", "<i>Lily</i>"]);
    let browser = Browser::open(1280, 720).await;
    browser
        .goto(&format!(
            "{}/overlay/dm?mode=danmaku&lang=zh&font=30&rate=5",
            server.http_url()
        ))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    assert_eq!(
        browser.js("return document.documentElement.lang").await,
        "zh-CN"
    );

    for (user, text) in [
        ("fan1", "前方高能！！！"),
        ("host", "欢迎大家来到直播间，今晚抽奖送礼物 🎁"),
        ("fan1", "<b>666</b>"),
        ("host", "short"),
    ] {
        cli(&server, user, &["send", "dm", text]);
    }
    cli(
        &server,
        "fan1",
        &[
            "send-custom",
            "dm",
            "--data",
            "gift",
            "--description",
            "rocket",
            "--extension",
            r#"{"count":10}"#,
            "--priority",
            "High",
        ],
    );
    let flying = browser
        .wait_js(
            "five lines flying",
            "const d = [...document.querySelectorAll('#danmaku .dm.flying')]; return d.length === 5 && \
             d.map(n => [n.dataset.lane, n.textContent])",
        )
        .await;
    let texts: Vec<&str> = flying
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "<i>Lily</i>前方高能！！！",
            "主播小安欢迎大家来到直播间，今晚抽奖送礼物 🎁",
            "<i>Lily</i><b>666</b>",
            "主播小安short",
            "<i>Lily</i>送出 火箭×10",
        ]
    );
    let card = browser
        .wait_js(
            "the gift card",
            "const c = document.querySelector('#gifts .gift-card'); return c && c.textContent",
        )
        .await;
    assert_eq!(card, "<i>Lily</i>送出 火箭×10");
    let made = browser
        .js("return document.querySelectorAll('#stage b, #stage i').length")
        .await;
    assert_eq!(made, 0, "no element from user text");

    // No two lines of a lane overlap, now or while they fly.
    for _ in 0..3 {
        let overlaps = browser
            .js("const byLane = {}; for (const n of document.querySelectorAll('#danmaku .dm.flying')) \
                 (byLane[n.dataset.lane] ||= []).push(n.getBoundingClientRect()); let bad = 0; \
                 for (const r of Object.values(byLane)) { r.sort((a, b) => a.left - b.left); \
                 for (let i = 1; i < r.length; i++) if (r[i - 1].right > r[i].left) bad++; } return bad")
            .await;
        assert_eq!(overlaps, 0, "lines of one lane overlap");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let png = browser.screenshot("overlay-danmaku").await;
    let (clear, opaque) = alpha_shares(&png);
    assert!(clear > 0.5, "mostly transparent: {clear:.2}");
    assert!(opaque > 0.002, "lines drawn: {opaque:.3}");

    // A flood: at most `rate` lines a second fly, the rest are dropped, not queued.
    let im = server.login("flood").await;
    im.enter_room("dm").await.expect("enter");
    let before = browser
        .js("return window.liveroomOverlay.stats.dropped")
        .await
        .as_u64()
        .unwrap();
    for i in 0..20 {
        im.send_text_message(
            "dm",
            &format!("flood {i}"),
            liveroom_proto::Priority::Normal,
        )
        .await
        .expect("send");
    }
    let dropped = browser
        .wait_js(
            "the flood's excess dropped",
            &format!(
                "const s = window.liveroomOverlay.stats; return s.dropped - {before} >= 10 && s.dropped - {before}"
            ),
        )
        .await;
    let flood_flying = browser
        .js("return [...document.querySelectorAll('#danmaku .dm')].filter(n => n.textContent.includes('flood')).length")
        .await
        .as_u64()
        .unwrap();
    assert!(
        flood_flying <= 10,
        "{flood_flying} flood lines flying ({dropped} dropped)"
    );

    cli(
        &server,
        "host",
        &["stop-push", "dm", "--postscript", "明天见"],
    );
    let ended = browser
        .wait_js(
            "the stream-ended notice",
            "const e = document.getElementById('ended'); return !e.hidden && e.textContent.trim()",
        )
        .await;
    assert_eq!(
        ended.as_str().unwrap().replace(char::is_whitespace, ""),
        "直播已结束明天见"
    );
    browser.close().await;
}

#[tokio::test]
async fn overlay_reconnects_after_a_server_restart_without_duplicates() {
    let mut server = Server::start();
    room_with_host(&server, "again", "host", "Host Ann");
    let browser = Browser::open(640, 480).await;
    browser
        .goto(&format!("{}/overlay/again?max=20", server.http_url()))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    cli(&server, "host", &["send", "again", "before the restart"]);
    browser
        .wait_js(
            "the first line",
            "return document.querySelectorAll('#chat li.kind-chat').length === 1",
        )
        .await;

    server.restart();
    browser
        .wait_js(
            "the page noticing",
            "return window.liveroomOverlay.stats.reconnects >= 1",
        )
        .await;
    // Sent while the page may still be away: gap fill brings it.
    cli(&server, "host", &["send", "again", "while it was away"]);
    browser.wait_js("the page back in the room", LIVE).await;
    cli(&server, "host", &["send", "again", "after the restart"]);
    let lines = browser
        .wait_js(
            "the lines after the restart",
            "const l = [...document.querySelectorAll('#chat li.kind-chat .text')].map(t => t.textContent); \
             return l.includes('after the restart') && l",
        )
        .await;
    assert_eq!(
        lines,
        json!([
            "before the restart",
            "while it was away",
            "after the restart"
        ]),
        "each message once, in order"
    );
    let status = browser
        .js("return document.getElementById('status').hidden")
        .await;
    assert_eq!(status, true, "no reconnecting notice once back");
    browser.screenshot("overlay-reconnected").await;

    // hide_after: older lines are not shown at all, new ones fade out after that long.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    browser
        .goto(&format!("{}/overlay/again?hide_after=2", server.http_url()))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#chat li').length")
            .await,
        0,
        "the history is older than 2 s"
    );
    cli(&server, "host", &["send", "again", "here and gone"]);
    browser
        .wait_js(
            "the new line",
            "return document.querySelectorAll('#chat li').length === 1",
        )
        .await;
    let shown = Instant::now();
    browser
        .wait_js(
            "the line gone",
            "return document.querySelectorAll('#chat li').length === 0",
        )
        .await;
    assert!(
        shown.elapsed() > Duration::from_millis(1500),
        "{:?}",
        shown.elapsed()
    );

    // theme=dark: dark text with a light outline; box=1 a backing; align=right.
    browser
        .goto(&format!(
            "{}/overlay/again?theme=dark&box=1&align=right",
            server.http_url()
        ))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    let look = browser
        .wait_js(
            "the dark lines",
            "const l = document.querySelector('#chat li.kind-chat'); if (!l) return null; \
             const t = getComputedStyle(l.querySelector('.text')); const b = l.getBoundingClientRect(); \
             return [t.color, getComputedStyle(l).backgroundColor !== 'rgba(0, 0, 0, 0)', Math.round(innerWidth - b.right) < 20]",
        )
        .await;
    assert_eq!(look, json!(["rgb(21, 22, 26)", true, true]));
    browser.screenshot("overlay-dark").await;
    browser.close().await;
}

#[tokio::test]
async fn overlay_says_once_that_messages_were_missed_in_a_long_gap() {
    let mut server = Server::start_with(&["--history", "3"]);
    room_with_host(&server, "gap", "host", "Host Ann");
    let browser = Browser::open(640, 480).await;
    browser
        .goto(&format!("{}/overlay/gap?max=20", server.http_url()))
        .await;
    browser.wait_js("the page in the room", LIVE).await;
    cli(&server, "host", &["send", "gap", "seen before"]);
    browser
        .wait_js(
            "the first line",
            "return document.querySelectorAll('#chat li.kind-chat').length === 1",
        )
        .await;

    server.kill();
    // Its third try failed: the next is 3.2 to 4.8 s away, time enough for the room to move
    // on by more than the 3 messages it keeps.
    browser
        .wait_js(
            "three failed tries",
            "return window.liveroomOverlay.stats.reconnects >= 3",
        )
        .await;
    server.restart();
    let fan = server.login("fan").await;
    fan.enter_room("gap").await.expect("enter");
    for i in 1..=5 {
        fan.send_text_message(
            "gap",
            &format!("missed {i}"),
            liveroom_proto::Priority::Normal,
        )
        .await
        .expect("send");
    }
    let lines = browser
        .wait_js(
            "the kept messages after the gap",
            "const l = [...document.querySelectorAll('#chat li')].map(li => [li.className, li.textContent]); \
             return l.some(x => x[1].endsWith('missed 5')) && l",
        )
        .await;
    assert_eq!(
        lines,
        json!([
            ["line kind-chat", "Host Annseen before"],
            [
                "line kind-note",
                "Some messages were missed while the overlay was offline"
            ],
            ["line kind-chat", "fanmissed 3"],
            ["line kind-chat", "fanmissed 4"],
            ["line kind-chat", "fanmissed 5"]
        ]),
        "the gap said once, before what the room still had"
    );
    browser.close().await;
}

/// The page's HTTP side: headers, the error pages, the assets' caching.
#[tokio::test]
async fn overlay_addresses_headers_and_errors() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", server.http_url())).send();

    let page = get("/overlay/friday?mode=danmaku").await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"data-room="friday""#), "{html}");
    assert!(html.contains(&format!(r#"data-app="{APP}""#)), "{html}");
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "no inline style"
    );
    assert!(
        !html.contains("<script>") && html.contains("<script defer src="),
        "no inline script"
    );

    // A room ID is any printable ASCII: escaped in the page.
    let page = get("/overlay/%3Cb%3E%22x").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains(r#"data-room="&lt;b&gt;&quot;x""#));

    for (path, status, says) in [
        ("/overlay/%20lead", 400, "not a room ID"),
        ("/overlay/%C3%A9", 400, "not a room ID"),
        ("/overlay/friday?app=42", 404, "no app 42"),
        ("/overlay/friday?app=x", 400, "not an SDKAppID"),
        ("/overlay/", 400, "Add the room ID"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{path}: {text}");
    }

    for (path, kind) in [
        (
            "/overlay/assets/overlay.js",
            "text/javascript; charset=utf-8",
        ),
        ("/overlay/assets/overlay.css", "text/css; charset=utf-8"),
        ("/overlay/assets/gifts/rocket.svg", "image/svg+xml"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], kind);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"));
        let etag = r.headers()["etag"].clone();
        let again = http
            .get(format!("{}{path}", server.http_url()))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    for path in [
        "/overlay/assets/nope.js",
        "/overlay/assets/gifts/nope.svg",
        "/overlay/assets/gifts/rose.png",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }

    // A server with two apps needs ?app=.
    let other = 1_400_000_777u64;
    let two = Server::start_with(&["--app", &format!("{other}:another-secret-key-0123456789")]);
    let get2 = |path: &str| http.get(format!("{}{path}", two.http_url())).send();
    let r = get2("/overlay/friday").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("?app=SDKAPPID"));
    let r = get2(&format!("/overlay/friday?app={other}")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains(&format!(r#"data-app="{other}""#)));
}

/// What the overlay's socket is: a guest's, which reads the room and can send nothing.
#[tokio::test]
async fn a_guest_socket_reads_and_cannot_send() {
    let server = Server::start();
    room_with_host(&server, "ro", "host", "Host");
    let mut guest = RawClient::connect(&server).await;
    let hello = guest
        .request(json!({"id": 1, "op": "hello", "sdk_app_id": APP}))
        .await;
    assert_eq!(hello["t"], "reply", "{hello}");
    let entered = guest
        .request(json!({"id": 2, "op": "enter_room", "room_id": "ro"}))
        .await;
    assert_eq!(entered["t"], "reply", "{entered}");
    assert_eq!(entered["data"]["role"], "guest");

    let sends = [
        json!({"op": "send_text", "room_id": "ro", "text": "hi"}),
        json!({"op": "send_custom", "room_id": "ro", "data": "gift", "description": "rocket"}),
        json!({"op": "send_custom", "room_id": "ro", "data": "like"}),
        json!({"op": "send_image", "room_id": "ro", "uuid": "x"}),
        json!({"op": "stop_push", "room_id": "ro", "postscript": "bye"}),
        json!({"op": "set_profile", "nick": "guest"}),
        json!({"op": "create_room", "name": "mine"}),
    ];
    for (i, mut op) in sends.into_iter().enumerate() {
        op["id"] = json!(10 + i);
        let r = guest.request(op.clone()).await;
        assert_eq!(r["t"], "error", "guest {op}: {r}");
        assert_eq!(r["code"], code::NOT_LOGGED_IN, "guest {op}: {r}");
    }
    let r = guest
        .request(json!({"id": 30, "op": "delete_message", "room_id": "ro", "message_id": "x"}))
        .await;
    assert_eq!(r["code"], code::NO_PERMISSION, "{r}");

    // It still reads: the host's message arrives, and only it (nothing of the guest's went out).
    cli(&server, "host", &["send", "ro", "only this"]);
    // (The CLI's own join and leave tips come too, with sequence 0: not stored.)
    let mut stored = Vec::new();
    while !stored.iter().any(|m: &Value| m["type"] == "TIMTextElem") {
        let f = guest.next_json().await.expect("the socket stays open");
        if f["t"] == "messages" {
            let list = f["list"].as_array().unwrap();
            stored.extend(list.iter().filter(|m| m["sequence"] != 0).cloned());
        }
    }
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["payload"]["text"], "only this");
    assert_eq!(
        stored[0]["sequence"], 1,
        "the guest's sends took no sequence"
    );
}
