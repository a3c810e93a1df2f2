//! Settings: flags > environment > TOML file > defaults, and a builder for embedding.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::error::ServerError;

/// Everything the server needs to run. Build one with [`Config::builder`] to embed the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Directory of `liveroom.db`; created when missing.
    pub data_dir: PathBuf,
    /// SDKAppID → secret key.
    pub apps: BTreeMap<u64, String>,
    /// Messages per second per room (0 = unlimited).
    pub room_budget: u32,
    /// Messages kept per room (0 = none).
    pub history: usize,
    /// Join/leave tips are sent while a room has at most this many members.
    pub join_leave_threshold: usize,
    /// Messages per second per user, burst twice that (0 = unlimited).
    pub user_rate: u32,
    /// How often each room gets its online count (and idle rooms are looked for).
    pub online_interval: Duration,
    /// A room with no member and no request in flight for this long is dropped from memory;
    /// it reloads from the store on its next use.
    pub room_unload_after: Duration,
    /// Slots of each room's broadcast ring. A viewer with more than half of it pending is
    /// lagging (its Low and Lowest messages are skipped); a whole ring behind, it is closed
    /// with 4108.
    pub room_ring: usize,
    /// App administrators: SDKAppID → userIDs who moderate every room of that app.
    pub admins: BTreeMap<u64, BTreeSet<String>>,
    /// App-wide blocked words: SDKAppID → words (as written; matching folds case and width).
    pub blocked_words: BTreeMap<u64, BTreeSet<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            data_dir: PathBuf::from("liveroom-data"),
            apps: BTreeMap::new(),
            room_budget: 40,
            history: 100,
            join_leave_threshold: 500,
            user_rate: 10,
            online_interval: Duration::from_secs(10),
            room_unload_after: Duration::from_secs(600),
            room_ring: 1024,
            admins: BTreeMap::new(),
            blocked_words: BTreeMap::new(),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }

    /// Checks that the settings can run a server.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.apps.is_empty() {
            return Err(ServerError::Config(
                "no app configured: pass --app ID:SECRET (or LIVEROOM_APPS)".into(),
            ));
        }
        if let Some((id, _)) = self.apps.iter().find(|(_, s)| s.is_empty()) {
            return Err(ServerError::Config(format!("app {id} has an empty secret")));
        }
        if self.apps.contains_key(&0) {
            return Err(ServerError::Config("SDKAppID 0 is not valid".into()));
        }
        if self.online_interval.is_zero() {
            return Err(ServerError::Config("online interval must be > 0".into()));
        }
        if self.room_ring < 16 {
            return Err(ServerError::Config(
                "room ring must hold at least 16".into(),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Config`]: `Config::builder().listen(addr).data_dir(dir).app(1400000000, "key").build()`.
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// Listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.0.listen = addr;
        self
    }
    /// Data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.data_dir = dir.into();
        self
    }
    /// Adds (or replaces) an app and its secret key.
    pub fn app(mut self, sdk_app_id: u64, secret: impl Into<String>) -> Self {
        self.0.apps.insert(sdk_app_id, secret.into());
        self
    }
    /// Room send budget, messages per second.
    pub fn room_budget(mut self, per_sec: u32) -> Self {
        self.0.room_budget = per_sec;
        self
    }
    /// Messages kept per room.
    pub fn history(mut self, n: usize) -> Self {
        self.0.history = n;
        self
    }
    /// Join/leave tip threshold.
    pub fn join_leave_threshold(mut self, n: usize) -> Self {
        self.0.join_leave_threshold = n;
        self
    }
    /// Per-user rate, messages per second.
    pub fn user_rate(mut self, per_sec: u32) -> Self {
        self.0.user_rate = per_sec;
        self
    }
    /// Online count interval.
    pub fn online_interval(mut self, every: Duration) -> Self {
        self.0.online_interval = every;
        self
    }
    /// How long an unused room stays in memory (see [`Config::room_unload_after`]).
    pub fn room_unload_after(mut self, after: Duration) -> Self {
        self.0.room_unload_after = after;
        self
    }
    /// Slots of each room's broadcast ring (see [`Config::room_ring`]).
    pub fn room_ring(mut self, slots: usize) -> Self {
        self.0.room_ring = slots;
        self
    }
    /// Names `user` an app administrator of `sdk_app_id` (moderates every room of the app).
    pub fn admin(mut self, sdk_app_id: u64, user: impl Into<String>) -> Self {
        self.0
            .admins
            .entry(sdk_app_id)
            .or_default()
            .insert(user.into());
        self
    }
    /// Blocks `word` in every room of `sdk_app_id`.
    pub fn blocked_word(mut self, sdk_app_id: u64, word: impl Into<String>) -> Self {
        self.0
            .blocked_words
            .entry(sdk_app_id)
            .or_default()
            .insert(word.into());
        self
    }
    /// The config.
    pub fn build(self) -> Config {
        self.0
    }
}

/// Command line of `liveroom-server`. Every flag also reads an environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "liveroom-server",
    version,
    about = "Liveroom room server: WebSocket gateway and SQLite store for live rooms"
)]
pub struct Cli {
    /// TOML config file (keys: listen, data, apps = ["ID:SECRET"], room_budget, history,
    /// join_leave_threshold, user_rate, online_interval, room_unload_after, admins = ["ID:USER"],
    /// blocked_words = ["ID:WORD"]). Flags and env override it.
    #[arg(long, env = "LIVEROOM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000]; port 0 picks a free one.
    #[arg(long, env = "LIVEROOM_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory holding liveroom.db [default: ./liveroom-data].
    #[arg(long, env = "LIVEROOM_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// An app as SDKAppID:SECRET; repeat for several apps (env: comma-separated).
    #[arg(
        long = "app",
        env = "LIVEROOM_APPS",
        value_name = "ID:SECRET",
        value_delimiter = ','
    )]
    pub apps: Vec<String>,
    /// Messages per second per room; over it, lower priorities are dropped first [default: 40; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_ROOM_BUDGET", value_name = "N")]
    pub room_budget: Option<u32>,
    /// Messages kept per room for joiners and gap fill [default: 100; 0 = none].
    #[arg(long, env = "LIVEROOM_HISTORY", value_name = "N")]
    pub history: Option<usize>,
    /// Join/leave tips are sent while a room has at most N members [default: 500].
    #[arg(long, env = "LIVEROOM_JOIN_LEAVE_THRESHOLD", value_name = "N")]
    pub join_leave_threshold: Option<usize>,
    /// Messages per second per user, burst twice that [default: 10; 0 = unlimited].
    #[arg(long, env = "LIVEROOM_USER_RATE", value_name = "N")]
    pub user_rate: Option<u32>,
    /// Seconds between online-count pushes to each room [default: 10].
    #[arg(long, env = "LIVEROOM_ONLINE_INTERVAL", value_name = "SECS")]
    pub online_interval: Option<u64>,
    /// Seconds a room with no member stays in memory before it is unloaded (it reloads from
    /// the store when used again) [default: 600].
    #[arg(long, env = "LIVEROOM_ROOM_UNLOAD_AFTER", value_name = "SECS")]
    pub room_unload_after: Option<u64>,
    /// An app administrator as SDKAppID:USER, who moderates every room of the app; repeat
    /// for several (env: comma-separated).
    #[arg(
        long = "admin",
        env = "LIVEROOM_ADMINS",
        value_name = "ID:USER",
        value_delimiter = ','
    )]
    pub admins: Vec<String>,
    /// A word blocked in every room of an app, as SDKAppID:WORD; repeat for several (env:
    /// comma-separated).
    #[arg(
        long = "blocked-word",
        env = "LIVEROOM_BLOCKED_WORDS",
        value_name = "ID:WORD",
        value_delimiter = ','
    )]
    pub blocked_words: Vec<String>,
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    apps: Option<FileApps>,
    room_budget: Option<u32>,
    history: Option<usize>,
    join_leave_threshold: Option<usize>,
    user_rate: Option<u32>,
    online_interval: Option<u64>,
    room_unload_after: Option<u64>,
    admins: Option<Vec<String>>,
    blocked_words: Option<Vec<String>>,
}

/// `apps = ["ID:SECRET", ...]` or `[apps]` with `ID = "SECRET"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileApps {
    List(Vec<String>),
    Table(BTreeMap<String, String>),
}

/// Parses `ID:SECRET`.
pub fn parse_app(s: &str) -> Result<(u64, String), ServerError> {
    let (id, secret) = s
        .split_once(':')
        .ok_or_else(|| ServerError::Config(format!("app '{s}' is not ID:SECRET")))?;
    let id = parse_app_id(id)?;
    Ok((id, secret.to_owned()))
}

/// Parses `ID:VALUE` lists (admins, blocked words) into a map; empty entries are skipped.
fn parse_app_pairs(
    what: &str,
    list: &[String],
) -> Result<BTreeMap<u64, BTreeSet<String>>, ServerError> {
    let mut map: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for item in list.iter().filter(|a| !a.trim().is_empty()) {
        let (id, value) = item
            .split_once(':')
            .ok_or_else(|| ServerError::Config(format!("{what} '{item}' is not ID:VALUE")))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(ServerError::Config(format!(
                "{what} '{item}' has an empty value"
            )));
        }
        map.entry(parse_app_id(id)?)
            .or_default()
            .insert(value.to_owned());
    }
    Ok(map)
}

fn parse_app_id(id: &str) -> Result<u64, ServerError> {
    id.trim()
        .parse::<u64>()
        .map_err(|_| ServerError::Config(format!("SDKAppID '{id}' is not a number")))
}

impl Cli {
    /// Merges flags/env over the file (when given) over the defaults.
    pub fn into_config(self) -> Result<Config, ServerError> {
        let file = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ServerError::ConfigFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let mut apps = BTreeMap::new();
        if self.apps.is_empty() {
            match file.apps {
                Some(FileApps::List(list)) => {
                    for a in list {
                        let (id, s) = parse_app(&a)?;
                        apps.insert(id, s);
                    }
                }
                Some(FileApps::Table(t)) => {
                    for (id, s) in t {
                        apps.insert(parse_app_id(&id)?, s);
                    }
                }
                None => {}
            }
        } else {
            for a in self.apps.iter().filter(|a| !a.trim().is_empty()) {
                let (id, s) = parse_app(a)?;
                apps.insert(id, s);
            }
        }
        let config = Config {
            listen: self.listen.or(file.listen).unwrap_or(d.listen),
            data_dir: self.data.or(file.data).unwrap_or(d.data_dir),
            apps,
            room_budget: self
                .room_budget
                .or(file.room_budget)
                .unwrap_or(d.room_budget),
            history: self.history.or(file.history).unwrap_or(d.history),
            join_leave_threshold: self
                .join_leave_threshold
                .or(file.join_leave_threshold)
                .unwrap_or(d.join_leave_threshold),
            user_rate: self.user_rate.or(file.user_rate).unwrap_or(d.user_rate),
            online_interval: self
                .online_interval
                .or(file.online_interval)
                .map(Duration::from_secs)
                .unwrap_or(d.online_interval),
            room_unload_after: self
                .room_unload_after
                .or(file.room_unload_after)
                .map(Duration::from_secs)
                .unwrap_or(d.room_unload_after),
            room_ring: d.room_ring,
            admins: parse_app_pairs(
                "admin",
                if self.admins.is_empty() {
                    file.admins.as_deref().unwrap_or_default()
                } else {
                    &self.admins
                },
            )?,
            blocked_words: parse_app_pairs(
                "blocked word",
                if self.blocked_words.is_empty() {
                    file.blocked_words.as_deref().unwrap_or_default()
                } else {
                    &self.blocked_words
                },
            )?,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_file_and_defaults_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1234\"\nhistory = 7\nroom_budget = 5\napps = [\"1:a\", \"2:b\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--config",
            path.to_str().unwrap(),
            "--room-budget",
            "9",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.history, 7);
        assert_eq!(c.room_budget, 9);
        assert_eq!(c.user_rate, 10);
        assert_eq!(c.apps.len(), 2);
        assert_eq!(c.apps[&2], "b");
    }

    #[test]
    fn apps_flag_repeats_and_table_form() {
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "1400000000:k:with:colons",
            "--app",
            "7:x",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.apps[&1400000000], "k:with:colons");
        assert_eq!(c.apps[&7], "x");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[apps]\n42 = \"s\"\n").unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(cli.into_config().unwrap().apps[&42], "s");
    }

    #[test]
    fn admins_and_blocked_words() {
        let cli = Cli::try_parse_from([
            "liveroom-server",
            "--app",
            "7:x",
            "--admin",
            "7:mod1",
            "--admin",
            "7:mod2",
            "--blocked-word",
            "7:Spam",
        ])
        .unwrap();
        let c = cli.into_config().unwrap();
        assert_eq!(c.admins[&7].len(), 2);
        assert!(c.blocked_words[&7].contains("Spam"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "apps = [\"7:x\"]\nadmins = [\"7:boss\"]\nblocked_words = [\"7:bad\"]\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["liveroom-server", "--config", path.to_str().unwrap()]).unwrap();
        let c = cli.into_config().unwrap();
        assert!(c.admins[&7].contains("boss"));
        assert!(c.blocked_words[&7].contains("bad"));
        let cli =
            Cli::try_parse_from(["liveroom-server", "--app", "7:x", "--admin", "x:y"]).unwrap();
        assert!(cli.into_config().is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        let cli = Cli::try_parse_from(["liveroom-server", "--app", "nope"]).unwrap();
        assert!(cli.into_config().is_err());
        assert!(Config::default().validate().is_err());
        assert!(Config::builder().app(1, "k").build().validate().is_ok());
    }
}
