//! Harness for the window tests in `tests/`: they drive the real app binary through
//! tauri-driver (which runs WebKitWebDriver) under Xvfb, and talk to its embedded server with
//! the `liveroom` CLI.
//!
//! Every test starts its own tauri-driver on free ports with its own app data folder and
//! embedded-server port (`LIVEROOM_APP_DATA`, `LIVEROOM_EMBEDDED_PORT`, inherited by the app
//! through the driver), so tests cannot see each other's rooms. Drivers are stopped with
//! SIGTERM (tauri-driver then ends WebKitWebDriver and the app), never SIGKILL.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long to wait for something on screen.
pub const WAIT: Duration = Duration::from_secs(20);

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The app binary: `$LIVEROOM_APP_BIN`, else `<target>/debug/liveroom-app`.
pub fn app_bin() -> PathBuf {
    std::env::var_os("LIVEROOM_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/liveroom-app"))
}

/// The CLI binary: `$LIVEROOM_CLI_BIN`, else `<target>/debug/liveroom`.
pub fn cli_bin() -> PathBuf {
    std::env::var_os("LIVEROOM_CLI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/liveroom"))
}

/// Where screenshots go (gitignored).
pub fn artifacts() -> PathBuf {
    let dir = root().join("tests/artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn wait_port(port: u16, timeout: Duration) -> Result<()> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on port {port} after {timeout:?}")
}

/// Sends SIGTERM and waits (bounded) for the process to end.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("process {} did not end within 10 s of SIGTERM", child.id());
}

/// One app instance under its own tauri-driver, with its own data folder and server port.
pub struct App {
    /// The WebDriver session.
    pub client: Client,
    /// The embedded server's port.
    pub port: u16,
    /// The app's data folder (holds `embedded-app.json` with the SDKAppID and key).
    pub data_dir: PathBuf,
    name: String,
    driver: Child,
}

impl App {
    /// Starts tauri-driver and opens the app in a session.
    pub async fn launch(name: &str) -> Result<App> {
        Self::launch_with_env(name, &[]).await
    }

    /// [`App::launch`] with extra environment for the app (e.g. the embedded server's budget).
    ///
    /// The window tests keep WebKitGTK's own renderer (compositing and DMA-BUF on, which the
    /// app leaves alone when they are set): on a machine without a GPU the app otherwise
    /// paints on the CPU (src-tauri/src/webview.rs), and there WebKitWebDriver's screenshot of
    /// a page that does not change never completes. The benchmark (`launch_binary`) measures
    /// the app as users run it.
    pub async fn launch_with_env(name: &str, env: &[(&str, &str)]) -> Result<App> {
        let mut env = env.to_vec();
        for var in [
            "WEBKIT_DISABLE_COMPOSITING_MODE",
            "WEBKIT_DISABLE_DMABUF_RENDERER",
        ] {
            if !env.iter().any(|(k, _)| *k == var) {
                env.push((var, "0"));
            }
        }
        let app = Self::launch_binary(name, &app_bin(), &env).await?;
        app.wait_css("#screen-start").await?;
        Ok(app)
    }

    /// Starts tauri-driver and opens a session on any Tauri binary (the benchmark's bare
    /// window too); returns as soon as the session is open, without waiting for a screen.
    pub async fn launch_binary(name: &str, bin: &Path, env: &[(&str, &str)]) -> Result<App> {
        let port = free_port();
        let data_dir = std::env::temp_dir().join(format!(
            "liveroom-app-test-{name}-{}-{}",
            std::process::id(),
            port
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)?;
        let wd_port = free_port();
        let native_port = free_port();
        if !bin.exists() {
            bail!(
                "app binary {} missing: build it first (cargo build -p liveroom-app)",
                bin.display()
            );
        }
        let log = std::fs::File::create(artifacts().join(format!("{name}.driver.log")))?;
        let mut driver = Command::new("tauri-driver")
            .args([
                "--port",
                &wd_port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("LIVEROOM_APP_DATA", &data_dir)
            // The webview's own storage (localStorage: theme, language, recent rooms) too.
            .env("XDG_DATA_HOME", data_dir.join("xdg-data"))
            .env("XDG_CACHE_HOME", data_dir.join("xdg-cache"))
            .env("LIVEROOM_EMBEDDED_PORT", port.to_string())
            .env("LANG", "en_US.UTF-8")
            // Not WEBKIT_DISABLE_DMABUF_RENDERER: WebDriver screenshots hang with it.
            .env_remove("WEBKIT_DISABLE_DMABUF_RENDERER")
            .env("RUST_LOG", "warn,liveroom_app=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("tauri-driver (cargo install --locked tauri-driver --version '^2')")?;
        eprintln!("{name}: tauri-driver on port {wd_port}, embedded server on {port}");
        if let Err(e) = wait_port(wd_port, Duration::from_secs(15)) {
            terminate(&mut driver);
            return Err(e);
        }
        let caps = json!({
            "browserName": "wry",
            "tauri:options": { "application": bin.to_string_lossy() }
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        // tauri-driver listens before the WebKitWebDriver it starts does, and passes the
        // session request on at once: a refused first try (CI saw one) is tried again.
        let mut tries = 0;
        let client = loop {
            tries += 1;
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{wd_port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if tries < 5 => {
                    eprintln!("{name}: WebDriver session, try {tries}: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    terminate(&mut driver);
                    bail!("WebDriver session: {e}");
                }
            }
        };
        eprintln!("{name}: session open");
        Ok(App {
            client,
            port,
            data_dir,
            name: name.to_owned(),
            driver,
        })
    }

    /// The tauri-driver process id (the app and its web processes descend from it).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// The embedded server's HTTP address.
    pub fn server(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The embedded app's SDKAppID and secret key, from the app's data folder.
    pub fn keys(&self) -> Result<(u64, String)> {
        let text = std::fs::read_to_string(self.data_dir.join("embedded-app.json"))
            .context("embedded-app.json (is the embedded server started?)")?;
        let v: Value = serde_json::from_str(&text)?;
        Ok((
            v["SDKAppID"].as_u64().context("SDKAppID")?,
            v["secretKey"].as_str().context("secretKey")?.to_owned(),
        ))
    }

    /// Waits for an element to be present.
    pub async fn wait_css(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))
    }

    /// Waits until `script` (a JS expression's body, `return ...`) is truthy; returns its value.
    pub async fn wait_js(&self, what: &str, script: &str) -> Result<Value> {
        let end = Instant::now() + WAIT;
        loop {
            let v = self.client.execute(script, vec![]).await?;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return Ok(v);
            }
            if Instant::now() > end {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into an input (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_css(css).await?;
        el.clear().await.with_context(|| format!("clear {css}"))?;
        if !text.is_empty() {
            el.send_keys(text)
                .await
                .with_context(|| format!("type into {css}"))?;
        }
        Ok(())
    }

    /// Clicks an element.
    ///
    /// WebKitWebDriver refuses a click on an element that is out of view in a scrolled box
    /// (the host panel scrolls) or moved while it scrolled there; then the element is
    /// scrolled to the middle of its box and the click tried again, a few times.
    pub async fn click(&self, css: &str) -> Result<()> {
        let mut tries = 0;
        loop {
            let element = self.wait_css(css).await?;
            match element.click().await {
                Ok(()) => return Ok(()),
                Err(e) if tries >= 3 => return Err(e).with_context(|| format!("click {css}")),
                Err(_) => {
                    tries += 1;
                    self.client
                        .execute(
                            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
                            vec![serde_json::to_value(&element)?],
                        )
                        .await
                        .with_context(|| format!("scroll {css} into view"))?;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            }
        }
    }

    /// Runs JS and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Saves a screenshot as `tests/artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        // Let the page paint what the test just changed (two animation frames) first.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.client.execute_async(
                "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 50)));",
                vec![],
            ),
        )
        .await;
        let png = tokio::time::timeout(WAIT, self.client.screenshot())
            .await
            .context("screenshot timed out")??;
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        eprintln!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Logs in on the embedded server as `user` (with a nick) and waits for the main screen.
    pub async fn login_local(&self, user: &str, nick: &str) -> Result<()> {
        self.wait_js(
            "embedded server info",
            "return /^http/.test(document.getElementById('embedded-address').textContent)",
        )
        .await?;
        self.fill("#local-user", user).await?;
        self.fill("#local-nick", nick).await?;
        self.click("#local-start").await?;
        self.wait_main().await
    }

    /// Waits for the main screen (after a login).
    pub async fn wait_main(&self) -> Result<()> {
        self.wait_js(
            "main screen",
            "return !document.getElementById('screen-main').hidden",
        )
        .await?;
        Ok(())
    }

    /// Creates a room with every seed field and waits for its pane.
    pub async fn create_room(&self, room: &str, name: &str, notice: &str) -> Result<()> {
        self.fill("#create-name", name).await?;
        self.fill("#create-id", room).await?;
        self.fill("#create-notification", notice).await?;
        self.fill("#create-introduction", "A room made by the window tests")
            .await?;
        self.click("#create-submit").await?;
        self.wait_css(&format!(".pane[data-room='{room}']")).await?;
        self.wait_js(
            "the room entered",
            &format!(
                "const p = document.querySelector(\".pane[data-room='{room}']\"); return p.querySelector('.room-name').textContent === {}",
                json!(name)
            ),
        )
        .await?;
        Ok(())
    }

    /// Enters an existing room by its ID and waits until the server's reply was applied (the
    /// pane knows this user's role there); returns the role.
    pub async fn enter_room(&self, room: &str) -> Result<Value> {
        self.fill("#enter-id", room).await?;
        self.click("#enter-submit").await?;
        self.wait_js(
            "the room entered",
            &format!(
                "const p = document.querySelector(\".pane[data-room='{room}']\"); return p && !p.hidden && p.dataset.entered && p.dataset.role"
            ),
        )
        .await
    }

    /// Logs in on another app's server (address and keys) as `user`, with a UserSig signed
    /// by the test: the "remote server" form.
    pub async fn login_remote(&self, host: &App, user: &str) -> Result<()> {
        let (app_id, key) = host.keys()?;
        self.fill("#remote-server", &format!("ws://127.0.0.1:{}", host.port))
            .await?;
        self.fill("#remote-appid", &app_id.to_string()).await?;
        self.fill("#remote-user", user).await?;
        self.fill("#remote-sig", &user_sig(app_id, &key, user))
            .await?;
        self.click("#remote-connect").await?;
        self.wait_main().await
    }

    /// Ends the test: a screenshot when it failed, then [`App::close`]; returns `r`.
    pub async fn finish(self, r: Result<()>) -> Result<()> {
        if let Err(e) = &r {
            eprintln!("{}: failed: {e:#}", self.name);
            let _ = self.screenshot(&format!("{}-FAILED", self.name)).await;
        }
        self.close().await;
        r
    }

    /// Ends the session and the driver (SIGTERM).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        terminate(&mut self.driver);
        let _ = std::fs::remove_dir_all(&self.data_dir);
        eprintln!("{}: closed", self.name);
    }
}

/// A `liveroom` CLI process (e.g. `tail`) whose stdout lines are read as they come; ended
/// with SIGTERM when dropped.
pub struct Cli {
    child: Option<Child>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Cli {
    /// Starts the CLI with `args` and `env`.
    pub fn spawn(args: &[&str], env: &[(&str, String)]) -> Result<Cli> {
        let mut cmd = Command::new(cli_bin());
        cmd.args(args)
            .env_remove("LIVEROOM_USER")
            .env_remove("LIVEROOM_SIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{} {args:?}", cli_bin().display()))?;
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Cli {
            child: Some(child),
            lines,
        })
    }

    /// Waits (bounded) for a JSON line for which `pred` holds; returns it.
    pub fn wait_line(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if pred(&v) {
                        return Ok(v);
                    }
                }
                Err(_) => bail!("the CLI printed no line with {what} within {WAIT:?}"),
            }
        }
    }

    /// Waits (bounded) for it to exit successfully; returns the rest of its stdout.
    pub fn finish(mut self, timeout: Duration) -> Result<String> {
        let mut child = self.child.take().expect("child");
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                // The reader thread may still hold lines: read until it ends (stdout closed).
                let mut out = Vec::new();
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    out.push(line);
                }
                let out = out.join("\n");
                if !status.success() {
                    bail!("liveroom CLI exited with {status}; stdout: {out}");
                }
                return Ok(out);
            }
            if Instant::now() > end {
                terminate(&mut child);
                bail!("liveroom CLI still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c);
        }
    }
}

impl App {
    /// The environment for a CLI talking to this app's embedded server, as `user` (or as a
    /// guest when `None`).
    pub fn cli_env(&self, user: Option<&str>) -> Result<Vec<(&'static str, String)>> {
        let (app_id, key) = self.keys()?;
        let mut env = vec![
            ("LIVEROOM_SERVER", self.server()),
            ("LIVEROOM_APP", app_id.to_string()),
        ];
        if let Some(user) = user {
            env.push(("LIVEROOM_USER", user.to_owned()));
            env.push(("LIVEROOM_SIG", user_sig(app_id, &key, user)));
        }
        Ok(env)
    }

    /// Runs a CLI command to completion (bounded) as `user` (or a guest); returns its stdout
    /// parsed as JSON when it is JSON.
    pub fn cli(&self, user: Option<&str>, args: &[&str]) -> Result<Value> {
        let out = Cli::spawn(args, &self.cli_env(user)?)?.finish(Duration::from_secs(30))?;
        Ok(serde_json::from_str(out.trim()).unwrap_or(Value::String(out)))
    }

    /// Runs a CLI command that the server must refuse, as `user`; returns its stderr, which
    /// names the error (`error CODE: message`).
    pub fn cli_refused(&self, user: &str, args: &[&str]) -> Result<String> {
        let out = Command::new(cli_bin())
            .args(args)
            .env_remove("LIVEROOM_USER")
            .env_remove("LIVEROOM_SIG")
            .envs(self.cli_env(Some(user))?)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("liveroom {args:?}"))?;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(
            !out.status.success(),
            "liveroom {args:?} as {user} succeeded; expected a refusal"
        );
        Ok(err)
    }

    /// Starts `liveroom tail ROOM --count N` as a guest.
    pub fn tail(&self, room: &str, count: u32) -> Result<Cli> {
        Cli::spawn(
            &[
                "tail",
                room,
                "--count",
                &count.to_string(),
                "--timeout",
                "60",
            ],
            &self.cli_env(None)?,
        )
    }
}

/// The app's backend at work: `liveroom admin call PATH --json BODY` against `server` (a
/// `ws://` address) as administrator `admin` of `app_id`; its answer, which must be OK.
pub fn admin_call(
    server: &str,
    app_id: u64,
    key: &str,
    admin: &str,
    path: &str,
    body: &Value,
) -> Result<Value> {
    let out = Command::new(cli_bin())
        .args(["admin", "call", path, "--json", &body.to_string()])
        .env("LIVEROOM_SERVER", server)
        .env("LIVEROOM_APP", app_id.to_string())
        .env("LIVEROOM_USER", admin)
        .env("LIVEROOM_SIG", user_sig(app_id, key, admin))
        .output()?;
    let answer: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{path}: {}", String::from_utf8_lossy(&out.stderr)))?;
    ensure!(
        out.status.success() && answer["ActionStatus"] == "OK",
        "{path}: {answer}"
    );
    Ok(answer)
}

/// A UserSig for a CLI user on the app's embedded server.
pub fn user_sig(app_id: u64, key: &str, user: &str) -> String {
    liveroom_usersig::gen_usersig(app_id, key, user, 3600)
}

/// A PNG of `w`×`h` with a colour gradient and noise (so it does not compress to nothing and
/// the upload takes several progress steps).
pub fn make_png(w: u32, h: u32) -> Vec<u8> {
    use std::io::Write;
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    let mut seed: u32 = 0x1234_5678;
    for y in 0..h {
        raw.push(0);
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed & 0x3f) as u8;
            raw.push(((x * 255 / w) as u8).saturating_add(n / 2));
            raw.push(((y * 255 / h) as u8).saturating_add(n / 3));
            raw.push(180u8.saturating_sub(n));
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).expect("zlib");
    let idat = z.finish().expect("zlib");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Proportional set size (KiB) of `root` and all its descendants, with their names: the
/// memory the app really uses, shared pages split between the processes that share them.
pub fn tree_pss_kib(root: u32) -> Vec<(u32, String, u64)> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    let mut names = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        names.insert(pid, stat[open + 1..close].to_owned());
        let ppid = stat[close + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        stack.extend(children.get(&pid).into_iter().flatten().copied());
        let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Pss:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0);
        out.push((pid, names.get(&pid).cloned().unwrap_or_default(), pss));
    }
    out
}
