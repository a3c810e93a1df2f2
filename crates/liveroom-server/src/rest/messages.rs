//! `group_open_http_svc` messages: `send_group_msg`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liveroom_proto::{limits, ApiError, Priority};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{fields, parse, Answer, Cx};
use crate::webhooks::SendOrigin;
use crate::{service, tim};

/// How long a `Random` makes a send a duplicate of an earlier one (Tencent's 5 minutes).
const DEDUPE_WINDOW: Duration = Duration::from_secs(300);
/// The most sends remembered for de-duplication; the oldest go first beyond it.
const DEDUPE_MAX: usize = 100_000;

/// `send_group_msg`.
#[derive(Debug, Deserialize)]
struct Send {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "From_Account", default)]
    from: Option<String>,
    #[serde(rename = "Random", default)]
    random: Option<u32>,
    #[serde(rename = "MsgPriority", default)]
    priority: Option<String>,
    #[serde(rename = "MsgBody")]
    msg_body: Vec<tim::MsgElem>,
}

/// What a sent message answers.
#[derive(Debug, Clone, Copy, Serialize)]
struct Sent {
    #[serde(rename = "MsgTime")]
    time: i64,
    #[serde(rename = "MsgSeq")]
    seq: u64,
}

/// Sends a message as `From_Account` (the administrator without one), through the room's
/// budget like any other; a repeat of a sender's `Random` within 5 minutes answers the first
/// send's sequence and sends nothing.
pub(super) async fn send(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Send = parse(body)?;
    let from = req.from.unwrap_or_else(|| cx.admin.to_owned());
    limits::check_user_id(&from)?;
    let priority = match req.priority.as_deref() {
        None | Some("") => Priority::Normal,
        Some(p) => p
            .parse::<Priority>()
            .map_err(|e| ApiError::invalid(format!("MsgPriority: {e}")))?,
    };
    let media = &cx.shared.media;
    let find = |uuid: &str| media.lookup(uuid).map(|s| s.payload(""));
    let msg_body = tim::body_of("MsgBody", &req.msg_body, &find)?;
    let room = service::room(cx.shared, cx.app, &req.group_id).await?;
    let send_once = || async {
        let profile = cx.shared.store.profile(cx.app, from.clone()).await?;
        let via = SendOrigin::rest(cx.admin, req.random);
        let msg = service::send(
            cx.shared,
            &room,
            &profile,
            msg_body.clone(),
            priority,
            None,
            via,
        )
        .await?;
        Ok::<_, ApiError>(Sent {
            time: msg.time,
            seq: msg.sequence,
        })
    };
    let sent = match req.random {
        Some(random) => {
            let key = (cx.app, req.group_id.clone(), from.clone(), random);
            cx.shared.rest_sends.once(key, send_once).await?
        }
        None => send_once().await?,
    };
    fields(&sent)
}

/// A send's identity for de-duplication: (SDKAppID, room, sender, `Random`).
type SendKey = (u64, String, String, u32);

/// The sends of the last 5 minutes by their `Random`: a repeat waits for the first and gets
/// its answer. A send that failed is forgotten, so its retry is sent.
#[derive(Default)]
pub(crate) struct RecentSends {
    inner: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    by_key: HashMap<SendKey, Arc<OnceCell<Sent>>>,
    order: VecDeque<(Instant, SendKey)>,
}

impl RecentSends {
    async fn once<F, Fut>(&self, key: SendKey, send: F) -> Result<Sent, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Sent, ApiError>>,
    {
        let cell = self.cell(&key);
        let result = cell.get_or_try_init(send).await.copied();
        if result.is_err() {
            if let Ok(mut recent) = self.inner.lock() {
                if recent
                    .by_key
                    .get(&key)
                    .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.get().is_none())
                {
                    recent.by_key.remove(&key);
                }
            }
        }
        result
    }

    /// The key's cell, made when new; entries past the window (or beyond the most kept) go.
    fn cell(&self, key: &SendKey) -> Arc<OnceCell<Sent>> {
        let Ok(mut recent) = self.inner.lock() else {
            return Arc::new(OnceCell::new());
        };
        let now = Instant::now();
        while let Some((at, old)) = recent.order.front() {
            if now.duration_since(*at) < DEDUPE_WINDOW && recent.order.len() < DEDUPE_MAX {
                break;
            }
            let old = old.clone();
            recent.order.pop_front();
            recent.by_key.remove(&old);
        }
        if let Some(cell) = recent.by_key.get(key) {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        recent.by_key.insert(key.clone(), cell.clone());
        recent.order.push_back((now, key.clone()));
        cell
    }
}
