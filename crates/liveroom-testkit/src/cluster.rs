//! A three-part cluster as an operator runs one: a real `redis-server` and `n` real
//! `liveroom-server` nodes over it, node `i` on its own loopback address `127.0.0.{i+1}`, all
//! given the same app keys and one shared pictures folder (`--media`).

use crate::{RedisProcess, ServerProcess};

/// Redis and its nodes; every process is killed on drop.
pub struct Cluster {
    /// The nodes, `nodes[i]` named `n{i}` on `127.0.0.{i+1}`; [`ServerProcess::kill`] one to
    /// lose it.
    pub nodes: Vec<ServerProcess>,
    /// The Redis every node uses.
    pub redis: RedisProcess,
    _media: tempfile::TempDir,
}

impl Cluster {
    /// Starts Redis (no persistence) and `n` nodes for app `app` with secret `key`, each given
    /// `extra` flags too (e.g. `["--history", "5"]`).
    pub fn start(n: usize, app: u64, key: &str, extra: &[&str]) -> Self {
        Self::start_over(RedisProcess::start(), n, app, key, extra)
    }

    /// Starts `n` nodes over `redis` (e.g. [`RedisProcess::start_aof`], for a test that
    /// restarts it).
    pub fn start_over(redis: RedisProcess, n: usize, app: u64, key: &str, extra: &[&str]) -> Self {
        let media = tempfile::tempdir().expect("temp dir");
        let url = redis.url();
        let media_dir = media.path().to_string_lossy().into_owned();
        let nodes = (0..n)
            .map(|i| {
                let name = format!("n{i}");
                let mut args = vec![
                    "--redis",
                    url.as_str(),
                    "--node-id",
                    name.as_str(),
                    "--media",
                    media_dir.as_str(),
                ];
                args.extend_from_slice(extra);
                ServerProcess::start_on(&format!("127.0.0.{}", i + 1), app, key, &args)
            })
            .collect();
        Self {
            nodes,
            redis,
            _media: media,
        }
    }

    /// Node `i`'s WebSocket address, `ws://127.0.0.{i+1}:PORT`.
    pub fn url(&self, i: usize) -> String {
        format!("ws://{}", self.nodes[i].addr())
    }

    /// Every node's address, comma-separated: what `LIVEROOM_SERVER`, the engine and the
    /// app's remote-server field take.
    pub fn list(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }
}
