//! `group_open_http_svc` messages: `send_group_msg`, `send_group_system_notification`,
//! `group_msg_recall` (Liveroom's delete) and `send_broadcast_msg` (every room of the app).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use liveroom_proto::message::SYSTEM_SENDER;
use liveroom_proto::moderation::REASON_MAX;
use liveroom_proto::{
    code, limits, ApiError, Body, GroupSystemNoticePayload, ModRequest, Priority, Profile,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{done, fields, parse, Answer, Cx};
use crate::webhooks::SendOrigin;
use crate::{moderation, service, tim};

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

/// `MsgBody` as a message body, its pictures looked up on the blocking pool: the media
/// folder may be a network mount shared by a cluster's nodes, too slow to read on a
/// worker thread (as the WebSocket send does).
async fn body_of(cx: &Cx<'_>, msg_body: Vec<tim::MsgElem>) -> Result<Body, ApiError> {
    if !msg_body
        .iter()
        .any(|e| matches!(e, tim::MsgElem::Image { .. }))
    {
        // No picture to look up: no trip to the blocking pool.
        return tim::body_of("MsgBody", &msg_body, &|_| None);
    }
    let media = cx.shared.media.clone();
    tokio::task::spawn_blocking(move || {
        let find = |uuid: &str| media.lookup(uuid).map(|s| s.payload(""));
        tim::body_of("MsgBody", &msg_body, &find)
    })
    .await
    .map_err(|_| ApiError::new(code::INTERNAL, "the message body could not be read"))?
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
    let msg_body = body_of(cx, req.msg_body).await?;
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

/// `send_group_system_notification`.
#[derive(Debug, Deserialize)]
struct Notify {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Content")]
    content: String,
    /// Refused when not empty: a live room's notice goes to everyone in it.
    #[serde(rename = "ToMembers_Account", default)]
    to: Vec<String>,
}

/// Sends `Content` to everyone in the room as a `TIMGroupSystemNoticeElem` message
/// (`operationType` 255, `userDefinedField` = `Content`, from `@TIM#SYSTEM`): at High
/// priority through the room's budget, sequence and history like any message, so clients
/// that reconnect or enter later get it too (Tencent's reach only those online). The
/// backend's own notice is not put to its before-send callback.
pub(super) async fn notify(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Notify = parse(body)?;
    if !req.to.is_empty() {
        return Err(ApiError::invalid(
            "ToMembers_Account: a live room's notice goes to everyone in it (leave it out)",
        ));
    }
    limits::check_text(&req.content).map_err(|e| in_field("Content", e))?;
    let room = service::room(cx.shared, cx.app, &req.group_id).await?;
    let from = Profile {
        user_id: SYSTEM_SENDER.to_owned(),
        ..Profile::default()
    };
    let notice = Body::GroupSystemNotice(GroupSystemNoticePayload {
        operation_type: GroupSystemNoticePayload::CUSTOM,
        user_defined_field: req.content,
        operator_id: cx.admin.to_owned(),
    });
    let via = SendOrigin::rest(cx.admin, None).unvetted();
    service::send(cx.shared, &room, &from, notice, Priority::High, None, via).await?;
    done()
}

/// `e` about field `field` (Tencent's name), a message too long as Tencent's 80002.
fn in_field(field: &str, e: ApiError) -> ApiError {
    let code = match e.code {
        code::MESSAGE_TOO_LONG => tim::MESSAGE_TOO_LONG,
        other => other,
    };
    ApiError::new(code, format!("{field}: {}", e.message))
}

/// Most messages one `group_msg_recall` names (Tencent's limit).
const RECALL_MAX: usize = 10;
/// `RetCode` of a sequence the room's history does not hold (Tencent's "no such message").
const RECALL_NOT_FOUND: u32 = 10030;

/// `group_msg_recall`.
#[derive(Debug, Deserialize)]
struct Recall {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "MsgSeqList")]
    seqs: Vec<SeqRef>,
    #[serde(rename = "Reason", default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
struct SeqRef {
    #[serde(rename = "MsgSeq")]
    seq: u64,
}

#[derive(Debug, Serialize)]
struct Recalled {
    #[serde(rename = "RecallRetList")]
    list: Vec<RecallRet>,
}

#[derive(Debug, Serialize)]
struct RecallRet {
    #[serde(rename = "MsgSeq")]
    seq: u64,
    #[serde(rename = "RetCode")]
    code: u32,
}

/// Liveroom's delete for each sequence (a moderator's `delete_message`, audited with the
/// administrator as actor): gone from the history and from every client's view. Each gets
/// its own `RetCode`: 0, or 10030 when the room's kept history does not hold it.
pub(super) async fn recall(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Recall = parse(body)?;
    if req.seqs.is_empty() || req.seqs.len() > RECALL_MAX {
        return Err(ApiError::invalid(format!(
            "MsgSeqList names {} messages: name 1 to {RECALL_MAX}",
            req.seqs.len()
        )));
    }
    limits::check_len("Reason", &req.reason, REASON_MAX)?;
    let room = service::room(cx.shared, cx.app, &req.group_id).await?;
    let mut list = Vec::with_capacity(req.seqs.len());
    for SeqRef { seq } in req.seqs {
        let code = match room.message_at(seq).await? {
            None => RECALL_NOT_FOUND,
            Some(msg) => {
                let delete = ModRequest::DeleteMessage {
                    room_id: req.group_id.clone(),
                    message_id: msg.id,
                    reason: req.reason.clone(),
                };
                match moderation::handle(cx.shared, cx.actor(), delete).await {
                    Ok(_) => 0,
                    // Deleted by someone else meanwhile.
                    Err(e) if e.code == code::INVALID_PARAMETER => RECALL_NOT_FOUND,
                    Err(e) => super::Service::Group.code_of(e.code),
                }
            }
        };
        list.push(RecallRet { seq, code });
    }
    fields(&Recalled { list })
}

/// `send_broadcast_msg`: `CloudCustomData` is accepted and ignored.
#[derive(Debug, Deserialize)]
struct Broadcast {
    #[serde(rename = "From_Account", default)]
    from: Option<String>,
    #[serde(rename = "Random")]
    random: u32,
    #[serde(rename = "MsgBody")]
    msg_body: Vec<tim::MsgElem>,
}

#[derive(Debug, Serialize)]
struct BroadcastSent {
    #[serde(rename = "MsgSeq")]
    seq: u64,
}

/// Rooms a broadcast sends into at once.
const BROADCAST_PARALLEL: usize = 8;
/// Rooms read from the store per page while a broadcast lists them.
const BROADCAST_PAGE: u32 = 1_000;

/// Sends the message into every room of the app, as `From_Account` (the administrator
/// without one), at High priority through each room's callback, budget, sequence and
/// history, as `send_group_msg` would. Each room gives it its own sequence; `MsgSeq`
/// answers the broadcast's own number: its time in unix milliseconds, which grows from one
/// broadcast to the next (the API takes one a second). A repeat of a sender's `Random`
/// within 5 minutes answers the first broadcast's and sends nothing. A room that refuses it
/// (dismissed meanwhile, its backend's callback) is logged and skipped.
pub(super) async fn broadcast(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Broadcast = parse(body)?;
    let from = req.from.unwrap_or_else(|| cx.admin.to_owned());
    limits::check_user_id(&from).map_err(|e| in_field("From_Account", e))?;
    let msg_body = body_of(cx, req.msg_body).await?;
    let send_all = || async {
        let profile = cx.shared.store.profile(cx.app, from.clone()).await?;
        let time = liveroom_usersig::now_secs();
        let seq = u64::try_from(now_ms()).unwrap_or_default();
        let (mut sent, mut after) = (0usize, 0);
        loop {
            let page = cx
                .shared
                .store
                .list_rooms(cx.app, after, BROADCAST_PAGE)
                .await?;
            let sends = page
                .rooms
                .into_iter()
                .map(|room_id| broadcast_one(cx, room_id, &profile, msg_body.clone(), req.random));
            sent += futures_util::stream::iter(sends)
                .buffer_unordered(BROADCAST_PARALLEL)
                .filter(|ok| std::future::ready(*ok))
                .count()
                .await;
            if page.next == 0 {
                break;
            }
            after = page.next;
        }
        tracing::info!(app = cx.app, rooms = sent, seq, "broadcast sent");
        Ok::<_, ApiError>(Sent { time, seq })
    };
    // "" is no room's ID: a broadcast's key never meets a room send's.
    let key = (cx.app, String::new(), from.clone(), req.random);
    let sent = cx.shared.rest_sends.once(key, send_all).await?;
    fields(&BroadcastSent { seq: sent.seq })
}

/// One room's share of a broadcast; whether it went out.
async fn broadcast_one(
    cx: &Cx<'_>,
    room_id: String,
    from: &Profile,
    body: Body,
    random: u32,
) -> bool {
    let result = match service::room(cx.shared, cx.app, &room_id).await {
        Ok(room) => {
            let via = SendOrigin::rest(cx.admin, Some(random));
            service::send(cx.shared, &room, from, body, Priority::High, None, via).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(app = cx.app, room = %room_id, code = e.code, error = %e.message, "broadcast not sent into a room");
            false
        }
    }
}

/// Unix milliseconds now.
fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
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
