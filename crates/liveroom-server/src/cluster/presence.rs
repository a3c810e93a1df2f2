//! The Redis presence: a room's members on every node. Each node keeps its own members (the
//! local presence) and writes its count, and its users' connection counts, to the room's
//! hashes; the room's online count is the sum over live nodes (a node whose heartbeat key
//! expired is dropped from the sum, and its entries deleted, by the next reader).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use liveroom_proto::ApiError;

use super::conn::Redis;
use super::keys::{self, RoomKeys};
use super::Node;
use crate::local_presence::LocalPresence;
use crate::presence::{Joined, Left, Presence, PresenceFuture};

/// Writes this node's count and a user's connection change, reads the total of live nodes
/// and whether the user is on another node. KEYS: online, users of this node. ARGV: node,
/// its count, user (or ""), change of the user's connections, prefix of the nodes' users
/// keys, prefix of the nodes' heartbeat keys. Returns {total, elsewhere}.
const COUNT: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' and ARGV[4] ~= '0' then
  local n = redis.call('HINCRBY', KEYS[2], ARGV[3], tonumber(ARGV[4]))
  if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
local total = 0
local elsewhere = 0
local nodes = redis.call('HGETALL', KEYS[1])
for i = 1, #nodes, 2 do
  local n = nodes[i]
  if n == ARGV[1] or redis.call('EXISTS', ARGV[6] .. n) == 1 then
    total = total + tonumber(nodes[i + 1])
    if n ~= ARGV[1] and ARGV[3] ~= '' and redis.call('HEXISTS', ARGV[5] .. n, ARGV[3]) == 1 then
      elsewhere = 1
    end
  else
    redis.call('HDEL', KEYS[1], n)
    redis.call('DEL', ARGV[5] .. n)
  end
end
return {total, elsewhere}
"#;

/// Writes this node's users in the room anew. KEYS: users of this node. ARGV: user,
/// connections, user, connections, ...
const REWRITE: &str = r#"
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"#;

/// Rooms with at most this many members on a node have the node's users written anew on
/// every online tick (what join/leave tips and `has_user` rely on heals by itself after a
/// lost write or a Redis restart); bigger rooms send no tips.
const REWRITE_MAX: usize = 1000;

/// A room's members over every node.
pub(crate) struct RedisPresence {
    local: LocalPresence,
    node: Arc<Node>,
    keys: RoomKeys,
    /// Every node's members, as last read.
    online: AtomicUsize,
}

impl RedisPresence {
    /// The presence of room `room` of `app` on `node`.
    pub(crate) fn new(node: Arc<Node>, app: u64, room: &str) -> Self {
        Self {
            local: LocalPresence::default(),
            node,
            keys: RoomKeys::new(app, room),
            online: AtomicUsize::new(0),
        }
    }

    /// Writes this node's count (and `user`'s change by `delta`), reads the total and
    /// whether `user` is on another node.
    async fn count(&self, user: Option<&str>, delta: i64) -> Result<(usize, bool), ApiError> {
        let node = self.node.id();
        let users_prefix = self.keys.users("");
        let mut conn = self.node.redis().conn();
        let reply: (i64, i64) = Redis::call(
            redis::Script::new(COUNT)
                .key(self.keys.online())
                .key(self.keys.users(node))
                .arg(node)
                .arg(self.local.online())
                .arg(user.unwrap_or(""))
                .arg(delta)
                .arg(users_prefix)
                .arg(keys::node_alive(""))
                .invoke_async(&mut conn),
        )
        .await?;
        let total = usize::try_from(reply.0).unwrap_or(0);
        self.online.store(total, Ordering::Relaxed);
        Ok((total, reply.1 == 1))
    }
}

impl Presence for RedisPresence {
    fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }

    fn here(&self) -> usize {
        self.local.online()
    }

    fn contains(&self, conn: u64) -> bool {
        self.local.contains(conn)
    }

    fn join<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, Joined> {
        Box::pin(async move {
            if self.local.contains(conn) {
                return self.local.join(conn, user).await;
            }
            let here = self.local.join(conn, user).await?;
            match self.count(user, 1).await {
                Ok((online, elsewhere)) => Ok(Joined {
                    online,
                    first: here.first && !elsewhere,
                }),
                Err(e) => {
                    // Not counted anywhere: not in the room.
                    let _ = self.local.leave(conn).await;
                    Err(e)
                }
            }
        })
    }

    fn leave(&self, conn: u64) -> PresenceFuture<'_, Option<Left>> {
        Box::pin(async move {
            let Some(mut left) = self.local.leave(conn).await? else {
                return Ok(None);
            };
            let before_elsewhere = self.online().saturating_sub(left.before);
            match self.count(left.user.as_deref(), -1).await {
                Ok((online, elsewhere)) => {
                    left.before = online + 1;
                    left.online = online;
                    left.last = left.last && !elsewhere;
                }
                Err(e) => {
                    // Gone from this node whatever Redis says; the next count corrects it.
                    tracing::warn!(error = %e.message, "leave not counted in redis");
                    left.before += before_elsewhere;
                    left.online += before_elsewhere;
                }
            }
            Ok(Some(left))
        })
    }

    fn set_user<'a>(&'a self, conn: u64, user: Option<&'a str>) -> PresenceFuture<'a, ()> {
        Box::pin(async move {
            if !self.local.contains(conn) {
                return Ok(());
            }
            let old = self.local.user_of(conn);
            self.local.set_user(conn, user).await?;
            if old.as_deref() == user {
                return Ok(());
            }
            if let Some(old) = old.as_deref() {
                self.count(Some(old), -1).await?;
            }
            if let Some(user) = user {
                self.count(Some(user), 1).await?;
            }
            Ok(())
        })
    }

    fn has_user_here(&self, user: &str) -> bool {
        self.local.has_user_here(user)
    }

    fn has_user<'a>(&'a self, user: &'a str) -> PresenceFuture<'a, bool> {
        Box::pin(async move {
            if self.local.has_user(user).await? {
                return Ok(true);
            }
            Ok(self.count(Some(user), 0).await?.1)
        })
    }

    fn refresh(&self) -> PresenceFuture<'_, ()> {
        Box::pin(async move {
            if self.local.online() <= REWRITE_MAX {
                let rewrite = redis::Script::new(REWRITE);
                let mut script = rewrite.prepare_invoke();
                script.key(self.keys.users(self.node.id()));
                for (user, conns) in self.local.users() {
                    script.arg(user).arg(conns);
                }
                let mut conn = self.node.redis().conn();
                let _: i64 = Redis::call(script.invoke_async(&mut conn)).await?;
            }
            self.count(None, 0).await?;
            Ok(())
        })
    }
}
