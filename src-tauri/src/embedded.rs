//! "On this computer": the room server running inside the app.
//!
//! The server's SQLite data, its SDKAppID and its secret key live in the app's data folder,
//! made on first run, so rooms and the address other clients use survive restarts. The app
//! signs UserSigs with that key itself: a local user never handles a key or a signature.
//! The server listens on loopback by default; opening it to the local network rebinds it on
//! all interfaces on the same port (the engine reconnects by itself).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{CmdError, CmdResult};

/// Fixes the embedded server's port (scripts and tests); otherwise a free port is picked.
pub const PORT_ENV: &str = "LIVEROOM_EMBEDDED_PORT";

/// Messages per second per room on the embedded server (default: the server's).
pub const ROOM_BUDGET_ENV: &str = "LIVEROOM_ROOM_BUDGET";

/// Messages per second per user on the embedded server (default: the server's).
pub const USER_RATE_ENV: &str = "LIVEROOM_USER_RATE";

/// Seconds between the room statistics pushed to moderators (default: the server's 10 s);
/// the window tests shorten it.
pub const ROOM_STATS_EVERY_ENV: &str = "LIVEROOM_ROOM_STATS_EVERY";

/// How long locally signed UserSigs stay valid: 7 days, as Tencent's demo helper.
const USERSIG_EXPIRE_SECS: i64 = 7 * 24 * 3600;

const KEYS_FILE: &str = "embedded-app.json";
const SERVER_DIR: &str = "server";

/// The embedded app's identity: made once, kept in the data folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppKeys {
    /// SDKAppID of the embedded app (1400000000 + a random number, as Tencent's look).
    #[serde(rename = "SDKAppID")]
    pub sdk_app_id: u64,
    /// Secret key that signs and verifies UserSigs.
    #[serde(rename = "secretKey")]
    pub secret_key: String,
}

impl AppKeys {
    /// Reads the keys from `dir`, or makes and saves new ones on first run.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(KEYS_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<AppKeys>(&text) {
                Ok(keys) if keys.sdk_app_id != 0 && !keys.secret_key.is_empty() => return Ok(keys),
                _ => {
                    tracing::warn!(path = %path.display(), "unreadable keys file: making new keys")
                }
            }
        }
        let mut rng = rand::thread_rng();
        let keys = AppKeys {
            sdk_app_id: 1_400_000_000 + rng.gen_range(1..100_000_000u64),
            secret_key: (0..32)
                .map(|_| format!("{:02x}", rng.gen::<u8>()))
                .collect(),
        };
        std::fs::create_dir_all(dir)?;
        write_private(&path, serde_json::to_string_pretty(&keys)?.as_bytes())?;
        Ok(keys)
    }

    /// A UserSig for `user_id`, signed with this app's key.
    pub fn user_sig(&self, user_id: &str) -> String {
        liveroom_usersig::gen_usersig(
            self.sdk_app_id,
            &self.secret_key,
            user_id,
            USERSIG_EXPIRE_SECS,
        )
    }
}

/// Writes a file only the owner can read (it holds the secret key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)
    }
}

/// What the UI shows about the embedded server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedInfo {
    /// Address for clients on this computer, e.g. `http://127.0.0.1:43117`.
    pub address: String,
    /// The embedded app's SDKAppID.
    #[serde(rename = "SDKAppID")]
    pub sdk_app_id: u64,
    /// The port (the same on loopback and on the local network).
    pub port: u16,
    /// Whether the server listens on all interfaces.
    pub lan: bool,
    /// The app's data folder (keys and the server's database).
    pub data_dir: String,
}

/// The embedded server, started on demand, stopped with the app.
#[derive(Default)]
pub struct Embedded {
    state: Mutex<Option<Running>>,
}

struct Running {
    server: liveroom_server::RunningServer,
    keys: AppKeys,
    data_dir: PathBuf,
    port: u16,
    lan: bool,
}

impl Running {
    fn info(&self) -> EmbeddedInfo {
        EmbeddedInfo {
            address: format!("http://127.0.0.1:{}", self.port),
            sdk_app_id: self.keys.sdk_app_id,
            port: self.port,
            lan: self.lan,
            data_dir: self.data_dir.display().to_string(),
        }
    }
}

impl Embedded {
    /// Starts the server (once; later calls return the running one's info).
    pub async fn start(&self, data_dir: &Path) -> CmdResult<EmbeddedInfo> {
        let mut state = self.state.lock().await;
        if let Some(running) = state.as_ref() {
            return Ok(running.info());
        }
        let keys = AppKeys::load_or_create(data_dir)?;
        let port = match std::env::var(PORT_ENV) {
            Ok(p) => p
                .trim()
                .parse::<u16>()
                .map_err(|_| CmdError::invalid(format!("{PORT_ENV}={p}: not a port number")))?,
            Err(_) => 0,
        };
        let server = if port == 0 {
            launch_on_a_port_free_everywhere(data_dir, &keys).await?
        } else {
            launch(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                data_dir,
                &keys,
            )
            .await?
        };
        let port = server.local_addr().port();
        tracing::info!(
            port,
            sdk_app_id = keys.sdk_app_id,
            "embedded server started"
        );
        let running = Running {
            server,
            keys,
            data_dir: data_dir.to_path_buf(),
            port,
            lan: false,
        };
        let info = running.info();
        *state = Some(running);
        Ok(info)
    }

    /// The running server's info, if started.
    pub async fn info(&self) -> Option<EmbeddedInfo> {
        self.state.lock().await.as_ref().map(Running::info)
    }

    /// Rebinds the server on all interfaces (`true`) or on loopback only, keeping its port.
    pub async fn set_lan(&self, lan: bool) -> CmdResult<EmbeddedInfo> {
        let mut state = self.state.lock().await;
        let Some(running) = state.take() else {
            return Err(CmdError::invalid("the embedded server is not running"));
        };
        if running.lan == lan {
            let info = running.info();
            *state = Some(running);
            return Ok(info);
        }
        let Running {
            server,
            keys,
            data_dir,
            port,
            ..
        } = running;
        if let Err(e) = server.shutdown().await {
            tracing::warn!(error = %e, "embedded server shutdown before rebinding");
        }
        let ip = |lan: bool| {
            if lan {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        };
        let server = match launch_retrying(SocketAddr::new(ip(lan), port), &data_dir, &keys).await {
            Ok(server) => server,
            Err(e) => {
                // Keep the server running where it was, and report why the switch failed.
                let server =
                    launch_retrying(SocketAddr::new(ip(!lan), port), &data_dir, &keys).await?;
                *state = Some(Running {
                    server,
                    keys,
                    data_dir,
                    port,
                    lan: !lan,
                });
                return Err(e);
            }
        };
        tracing::info!(port, lan, "embedded server rebound");
        let running = Running {
            server,
            keys,
            data_dir,
            port,
            lan,
        };
        let info = running.info();
        *state = Some(running);
        Ok(info)
    }

    /// `{SDKAppID, userSig}` for `user_id` on the embedded server.
    pub async fn user_sig(&self, user_id: &str) -> CmdResult<(u64, String)> {
        let state = self.state.lock().await;
        let running = state
            .as_ref()
            .ok_or_else(|| CmdError::invalid("the embedded server is not running"))?;
        Ok((running.keys.sdk_app_id, running.keys.user_sig(user_id)))
    }

    /// Stops the server (app exit).
    pub async fn shutdown(&self) {
        if let Some(running) = self.state.lock().await.take() {
            if let Err(e) = running.server.shutdown().await {
                tracing::warn!(error = %e, "embedded server shutdown");
            }
        }
    }
}

/// [`launch`], retrying for a moment while the old socket of a rebind is still closing.
async fn launch_retrying(
    addr: SocketAddr,
    data_dir: &Path,
    keys: &AppKeys,
) -> CmdResult<liveroom_server::RunningServer> {
    let mut tries = 0;
    loop {
        match launch(addr, data_dir, keys).await {
            Err(e) if tries < 30 && e.message.contains("in use") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            r => return r,
        }
    }
}

/// Starts the server on loopback, on a port no socket of any address uses (asked of the
/// system by a wildcard bind): the same port on all interfaces is then free for the LAN
/// switch too, even with thousands of client sockets of other addresses lingering on the box.
async fn launch_on_a_port_free_everywhere(
    data_dir: &Path,
    keys: &AppKeys,
) -> CmdResult<liveroom_server::RunningServer> {
    let mut tries = 0;
    loop {
        let port = std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        match launch(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            data_dir,
            keys,
        )
        .await
        {
            // Taken in between by someone else: ask again.
            Err(e) if tries < 5 && e.message.contains("in use") => tries += 1,
            r => return r,
        }
    }
}

/// Starts `liveroom_server` on `addr` with its data under `data_dir` and one app.
async fn launch(
    addr: SocketAddr,
    data_dir: &Path,
    keys: &AppKeys,
) -> CmdResult<liveroom_server::RunningServer> {
    let server_dir = data_dir.join(SERVER_DIR);
    std::fs::create_dir_all(&server_dir)?;
    let mut config = liveroom_server::Config::builder()
        .listen(addr)
        .data_dir(server_dir)
        .app(keys.sdk_app_id, keys.secret_key.clone());
    // The standalone server's tuning variables apply here too (benchmarks raise the budget).
    if let Some(n) = env_number(ROOM_BUDGET_ENV)? {
        config = config.room_budget(n);
    }
    if let Some(n) = env_number(USER_RATE_ENV)? {
        config = config.user_rate(n);
    }
    if let Some(n) = env_number(ROOM_STATS_EVERY_ENV)?.filter(|n| *n > 0) {
        config = config.room_stats_every(std::time::Duration::from_secs(n.into()));
    }
    let config = config.build();
    liveroom_server::start(config)
        .await
        .map_err(|e| CmdError::internal(format!("embedded server on {addr}: {e}")))
}

/// A number from the environment, if set.
fn env_number(name: &str) -> CmdResult<Option<u32>> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CmdError::invalid(format!("{name}={v}: not a number"))),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_and_sign_verifiable_sigs() {
        let dir = tempfile::tempdir().unwrap();
        let keys = AppKeys::load_or_create(dir.path()).unwrap();
        assert!(keys.sdk_app_id > 1_400_000_000);
        assert_eq!(keys.secret_key.len(), 64);
        let again = AppKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(
            (again.sdk_app_id, &again.secret_key),
            (keys.sdk_app_id, &keys.secret_key)
        );
        let sig = keys.user_sig("alice");
        liveroom_usersig::verify(
            &sig,
            keys.sdk_app_id,
            &keys.secret_key,
            "alice",
            liveroom_usersig::now_secs(),
        )
        .expect("a locally signed UserSig verifies");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is private");
        }
    }

    #[tokio::test]
    async fn the_embedded_server_starts_once_and_rebinds_for_the_lan() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = Embedded::default();
        let info = embedded.start(dir.path()).await.unwrap();
        assert!(info.address.starts_with("http://127.0.0.1:"));
        assert!(!info.lan);
        let again = embedded.start(dir.path()).await.unwrap();
        assert_eq!(again.port, info.port, "started once");
        let lan = embedded.set_lan(true).await.unwrap();
        assert!(lan.lan);
        assert_eq!(lan.port, info.port, "same port on all interfaces");
        let back = embedded.set_lan(false).await.unwrap();
        assert!(!back.lan);
        let (app_id, sig) = embedded.user_sig("bob").await.unwrap();
        assert_eq!(app_id, info.sdk_app_id);
        assert!(!sig.is_empty());
        embedded.shutdown().await;
        assert!(embedded.info().await.is_none());
    }
}
