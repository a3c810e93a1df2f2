//! The Redis session registry: one login per (SDKAppID, userID) across the nodes. Each node
//! keeps its own connections' signal channels (the local registry); Redis records on which
//! node and connection each user is logged in, and carries signals to other nodes over
//! their channels. A newer login on node B kicks the older session on node A.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use liveroom_proto::{ApiError, KickReason};
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::conn::Redis;
use super::keys;
use super::subscriber::{ChannelHandler, HandlerFuture};
use super::wire::NodeSignal;
use super::Node;
use crate::local_sessions::LocalSessions;
use crate::session::{SessionFuture, SessionRegistry, Signal};

/// Deletes a session key if it is still `NODE conn`. KEYS: session. ARGV: the value.
const LOGOUT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// How long an upload token is known to other nodes: a session's token is deleted at its
/// logout, and one left by a killed node goes by itself.
const UPLOAD_TOKEN_TTL_SECS: u64 = 86_400;

/// Logins over every node.
pub(crate) struct RedisSessions {
    local: Arc<LocalSessions>,
    node: Arc<Node>,
    /// This node's sessions' upload tokens, to delete them from Redis at logout.
    tokens: Mutex<HashMap<(u64, String, u64), String>>,
}

impl RedisSessions {
    /// The registry of `node`; receives the node's signals from now on.
    pub(crate) async fn start(node: Arc<Node>) -> Result<Arc<Self>, crate::StoreError> {
        let local = Arc::new(LocalSessions::default());
        node.subscriber()
            .subscribe(
                keys::node_channel(node.id()),
                Arc::new(Inbox(local.clone())),
            )
            .await?;
        Ok(Arc::new(Self {
            local,
            node,
            tokens: Mutex::default(),
        }))
    }

    fn where_(&self, conn: u64) -> String {
        format!("{} {conn}", self.node.id())
    }
}

/// Where a session is: (node, connection).
fn parse_where(v: &str) -> Option<(&str, u64)> {
    let (node, conn) = v.split_once(' ')?;
    Some((node, conn.parse().ok()?))
}

/// This node's signal channel: signals for its connections.
struct Inbox(Arc<LocalSessions>);

impl ChannelHandler for Inbox {
    fn receive<'a>(&'a self, payload: &'a str) -> HandlerFuture<'a> {
        match serde_json::from_str::<NodeSignal>(payload) {
            Ok(s) => match s.conn {
                Some(conn) => self
                    .0
                    .signal_conn_now(s.app, &s.user, conn, s.signal.into()),
                None => self.0.signal_now(s.app, &s.user, s.signal.into()),
            },
            Err(e) => tracing::warn!(error = %e, "unreadable node signal: ignored"),
        }
        Box::pin(std::future::ready(()))
    }

    fn resync(&self) -> HandlerFuture<'_> {
        // Signals are not kept: one lost while Redis was away is lost (the sessions it
        // concerned are checked again at their next login).
        Box::pin(std::future::ready(()))
    }
}

impl RedisSessions {
    async fn publish(&self, node: &str, signal: &NodeSignal) -> Result<(), ApiError> {
        let payload = serde_json::to_string(signal)
            .map_err(|e| ApiError::new(liveroom_proto::code::INTERNAL, e.to_string()))?;
        let mut conn = self.node.redis().conn();
        Redis::call(conn.publish::<_, _, ()>(keys::node_channel(node), payload)).await?;
        Ok(())
    }
}

impl SessionRegistry for RedisSessions {
    fn login<'a>(
        &'a self,
        app: u64,
        user: &'a str,
        conn: u64,
        signal: mpsc::Sender<Signal>,
        upload_token: String,
    ) -> SessionFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let mut redis = self.node.redis().conn();
            let here = self.where_(conn);
            let old: Option<String> = Redis::call(
                redis::pipe()
                    .cmd("SET")
                    .arg(keys::session(app, user))
                    .arg(&here)
                    .arg("GET")
                    .cmd("SET")
                    .arg(keys::upload(&upload_token))
                    .arg(format!("{app} {user}"))
                    .arg("EX")
                    .arg(UPLOAD_TOKEN_TTL_SECS)
                    .ignore()
                    .query_async::<(Option<String>,)>(&mut redis),
            )
            .await?
            .0;
            self.local
                .login_now(app, user, conn, signal, upload_token.clone());
            let previous = self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((app, user.to_owned(), conn), upload_token);
            if let Some(previous) = previous {
                let _: Result<(), _> = Redis::call(redis.del(keys::upload(&previous))).await;
            }
            if let Some((node, old_conn)) = old.as_deref().and_then(parse_where) {
                if node != self.node.id() {
                    let kick = NodeSignal {
                        app,
                        user: user.to_owned(),
                        conn: Some(old_conn),
                        signal: Signal::Kick(KickReason::MultipleAccount).into(),
                    };
                    if let Err(e) = self.publish(node, &kick).await {
                        tracing::warn!(error = %e.message, "kick of the older session not sent");
                    }
                }
            }
            Ok(())
        })
    }

    fn logout<'a>(&'a self, app: u64, user: &'a str, conn: u64) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            self.local.logout_now(app, user, conn);
            let token = self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(app, user.to_owned(), conn));
            let mut redis = self.node.redis().conn();
            let r: Result<i64, _> = Redis::call(
                redis::Script::new(LOGOUT)
                    .key(keys::session(app, user))
                    .arg(self.where_(conn))
                    .invoke_async(&mut redis),
            )
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "logout not recorded in redis");
            }
            if let Some(token) = token {
                let _: Result<(), _> = Redis::call(redis.del(keys::upload(&token))).await;
            }
        })
    }

    fn signal<'a>(&'a self, app: u64, user: &'a str, signal: Signal) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            let mut redis = self.node.redis().conn();
            let at: Result<Option<String>, _> =
                Redis::call(redis.get(keys::session(app, user))).await;
            let node = match at {
                Ok(Some(v)) => parse_where(&v).map(|(n, _)| n.to_owned()),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "session lookup failed; signalling this node only");
                    None
                }
            };
            match node {
                Some(node) if node != self.node.id() => {
                    let s = NodeSignal {
                        app,
                        user: user.to_owned(),
                        conn: None,
                        signal: signal.into(),
                    };
                    if let Err(e) = self.publish(&node, &s).await {
                        tracing::warn!(error = %e.message, "signal to another node not sent");
                    }
                }
                _ => self.local.signal_now(app, user, signal),
            }
        })
    }

    fn push_here(&self, app: u64, user: &str, signal: Signal) {
        self.local.push_now(app, user, signal);
    }

    fn upload_identity<'a>(&'a self, token: &'a str) -> SessionFuture<'a, Option<(u64, String)>> {
        Box::pin(async move {
            if let Some(found) = self.local.upload_identity_now(token) {
                return Some(found);
            }
            let mut redis = self.node.redis().conn();
            let v: String = Redis::call(redis.get::<_, Option<String>>(keys::upload(token)))
                .await
                .ok()??;
            let (app, user) = v.split_once(' ')?;
            Some((app.parse().ok()?, user.to_owned()))
        })
    }
}
