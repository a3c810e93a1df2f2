//! The `.deb` that `scripts/package` makes, as a user gets it: installed with `dpkg -i`, its
//! desktop entry and icons in place, the **installed** binary opened under Xvfb (through
//! tauri-driver, like the window tests) carrying one message from the window to the `liveroom`
//! CLI, then purged with `dpkg -P` and gone. Needs root, a display, tauri-driver and the package
//! built: `#[ignore]`d, run by scripts/test-app after scripts/package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use liveroom_app_tests::{root, tree_pss_kib, App};
use serde_json::json;

/// The Debian package's name (from `productName`) and what it installs.
const PACKAGE: &str = "liveroom";
const INSTALLED_BIN: &str = "/usr/bin/liveroom-app";
const DESKTOP_ENTRY: &str = "/usr/share/applications/Liveroom.desktop";
/// The icon sizes in the package (icons/ and `bundle.icon`).
const ICON_SIZES: [u32; 5] = [32, 64, 128, 256, 512];

fn icon_path(size: u32) -> PathBuf {
    PathBuf::from(format!(
        "/usr/share/icons/hicolor/{size}x{size}/apps/liveroom-app.png"
    ))
}

/// `<target>/release/bundle/deb/*.deb`: the one scripts/package made.
fn built_deb() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join("release/bundle/deb");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{} (run scripts/package first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    ensure!(
        debs.len() == 1,
        "expected one .deb in {}, found {debs:?}",
        dir.display()
    );
    Ok(debs.remove(0))
}

/// Runs `dpkg ARGS`; returns its stdout, or fails with its stderr.
fn dpkg(args: &[&str]) -> Result<String> {
    let out = Command::new("dpkg").args(args).output().context("dpkg")?;
    ensure!(
        out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether dpkg has the package installed (not merely known, e.g. after `dpkg -r`).
fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
        .unwrap_or(false)
}

/// Purges the package when dropped, so a failed run leaves the machine as it found it.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg").args(["-P", PACKAGE]).status();
        }
    }
}

/// A PNG file's width and height, from its IHDR chunk.
fn png_size(path: &Path) -> Result<(u32, u32)> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    ensure!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok((be(16), be(20)))
}

/// The value of `key` in the desktop entry's `[Desktop Entry]` group.
fn entry_value<'a>(entry: &'a str, key: &str) -> Option<&'a str> {
    entry
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim())
}

/// The desktop entry launches the installed binary, by a name on PATH, with the installed icon.
fn check_desktop_entry() -> Result<()> {
    let entry = std::fs::read_to_string(DESKTOP_ENTRY).context(DESKTOP_ENTRY)?;
    ensure!(
        entry.starts_with("[Desktop Entry]"),
        "not a desktop entry:\n{entry}"
    );
    for (key, want) in [
        ("Type", "Application"),
        ("Name", "Liveroom"),
        ("Name[zh]", "Liveroom 直播间"),
        ("Exec", "liveroom-app"),
        ("Icon", "liveroom-app"),
        ("Terminal", "false"),
    ] {
        ensure!(
            entry_value(&entry, key) == Some(want),
            "{key}= is {:?}, expected {want:?}:\n{entry}",
            entry_value(&entry, key)
        );
    }
    let comment = entry_value(&entry, "Comment").unwrap_or_default();
    ensure!(comment.contains("live rooms"), "Comment={comment:?}");
    let categories = entry_value(&entry, "Categories").unwrap_or_default();
    ensure!(
        categories.split(';').any(|c| c == "Network") && categories.split(';').any(|c| c == "Chat"),
        "Categories={categories:?}"
    );
    // Exec names a program on PATH: the one the package installed.
    let meta = std::fs::metadata(INSTALLED_BIN).context(INSTALLED_BIN)?;
    use std::os::unix::fs::PermissionsExt;
    ensure!(
        meta.permissions().mode() & 0o111 != 0,
        "{INSTALLED_BIN} not executable"
    );
    for size in ICON_SIZES {
        let path = icon_path(size);
        let got = png_size(&path)?;
        ensure!(got == (size, size), "{} is {got:?}", path.display());
    }
    Ok(())
}

/// The installed binary, opened through the window-test harness: log in on its embedded server,
/// create a room, send one message through the window; the `liveroom` CLI receives it.
async fn one_message_through_the_installed_app() -> Result<()> {
    let app = App::launch("package").await?;
    let r: Result<()> = async {
        // The window belongs to the installed program, not to a build in target/.
        let exes: Vec<PathBuf> = tree_pss_kib(app.driver_pid())
            .into_iter()
            .filter_map(|(pid, _, _)| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
            .collect();
        ensure!(
            exes.iter().any(|e| e == Path::new(INSTALLED_BIN)),
            "no {INSTALLED_BIN} under tauri-driver: {exes:?}"
        );
        app.login_local("host_pkg", "Packaged host").await?;
        app.create_room("pkg-1", "From the package", "Installed with dpkg")
            .await?;
        let tail = app.tail("pkg-1", 1)?;
        let text = "hello from the installed app 你好";
        let pane = ".pane[data-room='pkg-1']";
        app.fill(&format!("{pane} .text-input"), text).await?;
        app.click(&format!("{pane} .btn-send")).await?;
        app.wait_js(
            "the sent message confirmed",
            &format!(
                "return [...document.querySelectorAll(\"{pane} .msg.me:not(.pending) .text\")].some(s => s.textContent === {})",
                json!(text)
            ),
        )
        .await?;
        let ev = tail.wait_line("the app's message", |v| {
            v["name"] == "t_text_message_received" && v["data"][0]["payload"]["text"] == text
        })?;
        ensure!(
            ev["data"][0]["from"] == "host_pkg" && ev["data"][0]["nick"] == "Packaged host",
            "{ev}"
        );
        tail.finish(Duration::from_secs(10))?;
        app.screenshot("package").await?;
        Ok(())
    }
    .await;
    app.finish(r).await
}

#[test]
#[ignore = "installs the .deb (root, dpkg), opens its window (display, tauri-driver): run by scripts/test-app after scripts/package"]
fn deb_installs_runs_one_message_and_purges() -> Result<()> {
    // The harness opens $LIVEROOM_APP_BIN: the installed binary, not the one in target/. Set
    // before any thread starts.
    std::env::set_var("LIVEROOM_APP_BIN", INSTALLED_BIN);
    // SAFETY of the machine: never remove a Liveroom that someone installed before the test.
    if installed() {
        bail!("package {PACKAGE} is already installed: remove it first (dpkg -P {PACKAGE})");
    }
    let deb = built_deb()?;
    let guard = Installed;
    dpkg(&["-i", &deb.to_string_lossy()])?;
    ensure!(installed(), "dpkg -i left {PACKAGE} not installed");
    let files = dpkg(&["-L", PACKAGE])?;
    for want in [INSTALLED_BIN, DESKTOP_ENTRY] {
        ensure!(
            files.lines().any(|l| l == want),
            "{want} not in dpkg -L:\n{files}"
        );
    }
    check_desktop_entry()?;

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(one_message_through_the_installed_app())?;

    dpkg(&["-P", PACKAGE])?;
    ensure!(!installed(), "{PACKAGE} still installed after dpkg -P");
    let mut left: Vec<PathBuf> = vec![INSTALLED_BIN.into(), DESKTOP_ENTRY.into()];
    left.extend(ICON_SIZES.map(icon_path));
    left.retain(|p| p.exists());
    ensure!(left.is_empty(), "left behind after dpkg -P: {left:?}");
    drop(guard);
    Ok(())
}
