//! Webhooks: Tencent IM's callbacks, POSTed to each app's backend (`--callback APP:URL`) as
//! `URL?SdkAppid=&CallbackCommand=&contenttype=json&ClientIP=&OptPlatform=` with Tencent's
//! JSON bodies ([`bodies`]), optionally signed ([`sign`]).
//!
//! - `Group.CallbackBeforeSendMsg` is asked by [`crate::service::send`] before the room
//!   publishes, never under a room's lock; its reply allows, replaces, refuses or drops the
//!   message ([`before_send`]). Each app has its own HTTP client and time limit, and at most
//!   `--callback-in-flight` of these callbacks wait on its backend at once: a send beyond them,
//!   like a timeout or a failure, gets the on-timeout policy, so a backend that never answers
//!   delays each send by its time limit at most and never holds another room or app.
//! - The after-events (sent, joined, left, created, destroyed, login state) only go into the
//!   app's bounded queue, sent in order by one worker with retries ([`after`]).
//!
//! An app without a callback URL costs one map lookup per event.

mod after;
mod backend;
mod before_send;
mod bodies;
mod sign;
mod stats;

pub(crate) use before_send::Verdict;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use bytes::Bytes;
use liveroom_proto::{ApiError, Body, Message, RoomInfo};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{CallbackOnTimeout, Config};
use crate::error::ServerError;
use crate::tim;
use crate::Shared;
use backend::{Backend, Failure};
use bodies::{Callback, Member, AV_CHAT_ROOM};
use stats::Stats;

/// `OptPlatform`: where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// The REST API (the app's backend).
    Rest,
    /// A WebSocket client (the engine: the desktop app, the CLI).
    Web,
}

impl Platform {
    /// Tencent's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "RESTAPI",
            Self::Web => "Web",
        }
    }
}

/// Who made a request and from where, as the callbacks tell the backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// `OptPlatform`.
    pub(crate) platform: Platform,
    /// `ClientIP`: the client's address (behind a trusted proxy, the one `X-Forwarded-For`
    /// names); none through the REST API.
    pub(crate) client_ip: Option<IpAddr>,
    /// `Operator_Account`: the user who asked (the REST API's administrator).
    pub(crate) operator: &'a str,
}

impl<'a> Origin<'a> {
    /// A WebSocket client logged in as `user`, at `ip`.
    pub(crate) fn client(user: &'a str, ip: IpAddr) -> Self {
        Self {
            platform: Platform::Web,
            client_ip: Some(ip),
            operator: user,
        }
    }

    /// The REST API, called by administrator `admin`.
    pub(crate) fn rest(admin: &'a str) -> Self {
        Self {
            platform: Platform::Rest,
            client_ip: None,
            operator: admin,
        }
    }
}

/// Where a send comes from, for its callbacks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendOrigin<'a> {
    pub(crate) origin: Origin<'a>,
    /// `Random`: the REST call's, or one picked for a client's send.
    pub(crate) random: u32,
    /// Whether the before-send callback vets it (not a stop-push: the owner's own control).
    pub(crate) vet: bool,
}

impl<'a> SendOrigin<'a> {
    /// A send by WebSocket client `user` at `ip`.
    pub(crate) fn client(user: &'a str, ip: IpAddr) -> Self {
        Self {
            origin: Origin::client(user, ip),
            random: rand::random(),
            vet: true,
        }
    }

    /// A send through the REST API by administrator `admin`, with the call's `Random`.
    pub(crate) fn rest(admin: &'a str, random: Option<u32>) -> Self {
        Self {
            origin: Origin::rest(admin),
            random: random.unwrap_or_else(rand::random),
            vet: true,
        }
    }

    /// The same, without the before-send callback.
    pub(crate) fn unvetted(self) -> Self {
        Self { vet: false, ..self }
    }
}

/// How a member left a room (`ExitType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Left by itself: exit, logout, disconnect.
    Quit,
    /// Kicked or banned by a moderator (the operator).
    Kicked,
}

/// A user's login state (`State.StateChange`'s `Action` and `Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginState {
    /// Logged in (`Register`).
    Login,
    /// Logged out (`Unregister`).
    Logout,
    /// Its connection closed while logged in (`LinkClose`).
    Disconnect,
}

impl LoginState {
    fn action_reason(self) -> (&'static str, &'static str) {
        match self {
            Self::Login => ("Login", "Register"),
            Self::Logout => ("Logout", "Unregister"),
            Self::Disconnect => ("Disconnect", "LinkClose"),
        }
    }
}

/// Unix milliseconds (`EventTime`).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One app's webhooks.
struct Hook {
    backend: Arc<Backend>,
    stats: Arc<Stats>,
    queue: after::Queue,
    /// Before-send callbacks that may wait on the backend at once.
    in_flight: Semaphore,
    on_timeout: CallbackOnTimeout,
}

/// Every app's webhooks (in [`Shared`]).
pub(crate) struct Webhooks {
    apps: HashMap<u64, Hook>,
}

impl Webhooks {
    /// The webhooks of every app with a callback URL; their workers stop at `shutdown`.
    pub(crate) fn start(
        config: &Config,
        shutdown: &CancellationToken,
    ) -> Result<Self, ServerError> {
        let mut apps = HashMap::new();
        for (&app, url) in &config.callbacks {
            let token = config.callback_tokens.get(&app).cloned();
            let backend = Arc::new(Backend::new(app, url, token, config.callback_timeout)?);
            let stats = Arc::new(Stats::default());
            let queue = after::Queue::start(
                backend.clone(),
                stats.clone(),
                config.callback_queue,
                shutdown.clone(),
            );
            apps.insert(
                app,
                Hook {
                    backend,
                    stats,
                    queue,
                    in_flight: Semaphore::new(config.callback_in_flight),
                    on_timeout: config.callback_on_timeout,
                },
            );
            tracing::info!(app, "webhooks on");
        }
        Ok(Self { apps })
    }

    /// Whether `app`'s sends wait on a before-send callback.
    pub(crate) fn vets_sends(&self, app: u64) -> bool {
        self.apps.contains_key(&app)
    }

    /// `Group.CallbackBeforeSendMsg` for `body` from `from` into `room`: what happens to it.
    /// [`Verdict::Allow`] at once when the app has no callback URL or the send is not vetted.
    /// The pictures a replacement body names are looked up in `media` on the blocking pool
    /// (a cluster's media folder may be a network mount).
    pub(crate) async fn before_send(
        &self,
        app: u64,
        room: &str,
        from: &str,
        via: &SendOrigin<'_>,
        body: &Body,
        media: &Arc<liveroom_media::MediaStore>,
    ) -> Verdict {
        let Some(hook) = self.apps.get(&app).filter(|_| via.vet) else {
            return Verdict::Allow;
        };
        let stats = &hook.stats.before_send;
        let Ok(_permit) = hook.in_flight.try_acquire() else {
            stats.busy.inc();
            if hook.stats.before_log.ready() {
                tracing::warn!(app, busy = stats.busy.get(), "before-send callbacks all waiting on the backend: the on-timeout policy decides");
            }
            return hook.policy("the app's backend has too many before-send callbacks waiting");
        };
        let request = bodies::BeforeSendMsg {
            group_id: room,
            kind: AV_CHAT_ROOM,
            from_account: from,
            operator_account: via.origin.operator,
            random: via.random,
            online_only_flag: 0,
            msg_body: tim::msg_body(body),
            cloud_custom_data: "",
            event_time: now_ms(),
        };
        let encoded = match bodies::encode(&request) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => return hook.policy(&format!("cannot encode the callback: {e}")),
        };
        stats.calls.inc();
        let origin = via.origin;
        let reply = hook
            .backend
            .post(
                bodies::BeforeSendMsg::COMMAND,
                origin.platform,
                origin.client_ip,
                encoded,
            )
            .await;
        let verdict = match reply {
            Ok(reply) => {
                let (media, original) = (media.clone(), body.clone());
                tokio::task::spawn_blocking(move || {
                    let find = |uuid: &str| media.lookup(uuid).map(|s| s.payload(""));
                    before_send::decide(&reply, &original, &find)
                })
                .await
                .unwrap_or_else(|_| Err(Failure::Unusable("the reply could not be read".into())))
            }
            Err(failure) => Err(failure),
        };
        match verdict {
            Ok(verdict) => {
                match &verdict {
                    Verdict::Allow => stats.allowed.inc(),
                    Verdict::Replace(_) => stats.replaced.inc(),
                    Verdict::Refuse(_) => stats.refused.inc(),
                    Verdict::Drop => stats.dropped.inc(),
                }
                verdict
            }
            Err(failure) => {
                if failure.is_timeout() {
                    stats.timeouts.inc();
                } else {
                    stats.failures.inc();
                }
                if hook.stats.before_log.ready() {
                    tracing::warn!(app, room, error = %failure, timeouts = stats.timeouts.get(), failures = stats.failures.get(), "before-send callback failed: the on-timeout policy decides");
                }
                hook.policy(&failure.to_string())
            }
        }
    }

    /// Queues an after-event of `app` (nothing when it has no callback URL).
    fn after<B: Callback>(&self, app: u64, origin: &Origin<'_>, body: impl FnOnce() -> B) {
        let Some(hook) = self.apps.get(&app) else {
            return;
        };
        match bodies::encode(&body()) {
            Ok(bytes) => hook.queue.push(
                app,
                after::Job {
                    command: B::COMMAND,
                    platform: origin.platform,
                    client_ip: origin.client_ip,
                    body: Bytes::from(bytes),
                },
                &hook.stats,
            ),
            Err(e) => {
                tracing::error!(app, error = %e, command = B::COMMAND, "cannot encode a callback")
            }
        }
    }

    /// `Group.CallbackAfterSendMsg`: `msg` was accepted by its room. Not for a body with no
    /// `MsgBody` element (a REST system notification: not a message to Tencent either).
    pub(crate) fn after_send(&self, app: u64, via: &SendOrigin<'_>, msg: &Message) {
        let msg_body = tim::msg_body(&msg.body);
        if msg_body.is_empty() {
            return;
        }
        self.after(app, &via.origin, || bodies::AfterSendMsg {
            group_id: &msg.to,
            kind: AV_CHAT_ROOM,
            from_account: &msg.from,
            operator_account: via.origin.operator,
            random: via.random,
            msg_seq: msg.sequence,
            msg_time: msg.time,
            msg_id: &msg.id,
            online_only_flag: 0,
            msg_body,
            cloud_custom_data: "",
            event_time: now_ms(),
        });
    }

    /// `Group.CallbackAfterNewMemberJoin`: `user`'s first connection entered `room`.
    pub(crate) fn member_joined(&self, app: u64, room: &str, user: &str, origin: &Origin<'_>) {
        self.after(app, origin, || bodies::AfterNewMemberJoin {
            group_id: room,
            kind: AV_CHAT_ROOM,
            join_type: "Apply",
            operator_account: origin.operator,
            new_member_list: vec![Member {
                member_account: user,
            }],
            event_time: now_ms(),
        });
    }

    /// `Group.CallbackAfterMemberExit`: `user` left `room` (its last connection), or was
    /// removed by `origin.operator`.
    pub(crate) fn member_left(
        &self,
        app: u64,
        room: &str,
        user: &str,
        exit: Exit,
        origin: &Origin<'_>,
    ) {
        self.after(app, origin, || bodies::AfterMemberExit {
            group_id: room,
            kind: AV_CHAT_ROOM,
            exit_type: match exit {
                Exit::Quit => "Quit",
                Exit::Kicked => "Kicked",
            },
            operator_account: origin.operator,
            exit_member_list: vec![Member {
                member_account: user,
            }],
            event_time: now_ms(),
        });
    }

    /// `Group.CallbackAfterCreateGroup`: `info`'s room was created.
    pub(crate) fn room_created(&self, app: u64, info: &RoomInfo, origin: &Origin<'_>) {
        self.after(app, origin, || bodies::AfterCreateGroup {
            group_id: &info.group_id,
            operator_account: origin.operator,
            owner_account: &info.owner_id,
            kind: AV_CHAT_ROOM,
            name: &info.name,
            member_list: Vec::new(),
            user_defined_data_list: Vec::new(),
            event_time: now_ms(),
        });
    }

    /// `Group.CallbackAfterGroupDestroyed`: `info`'s room was dismissed.
    pub(crate) fn room_destroyed(&self, app: u64, info: &RoomInfo, origin: &Origin<'_>) {
        self.after(app, origin, || bodies::AfterGroupDestroyed {
            group_id: &info.group_id,
            kind: AV_CHAT_ROOM,
            owner_account: &info.owner_id,
            name: &info.name,
            member_list: Vec::new(),
            event_time: now_ms(),
        });
    }

    /// `State.StateChange`: `user` logged in, out, or lost its connection.
    pub(crate) fn login_state(&self, app: u64, user: &str, state: LoginState, ip: IpAddr) {
        let (action, reason) = state.action_reason();
        self.after(app, &Origin::client(user, ip), || bodies::StateChange {
            event_time: now_ms(),
            info: bodies::StateInfo {
                action,
                to_account: user,
                reason,
            },
        });
    }

    /// Every app's counters: `{"apps": {"SDKAPPID": {"before_send": {...}, "after": {...}}}}`.
    pub(crate) fn snapshot(&self) -> Value {
        let mut apps: Vec<(&u64, &Hook)> = self.apps.iter().collect();
        apps.sort_by_key(|(app, _)| **app);
        let apps: Map<String, Value> = apps
            .into_iter()
            .map(|(app, hook)| {
                let mut after = serde_json::to_value(&hook.stats.after).unwrap_or_default();
                if let Some(after) = after.as_object_mut() {
                    after.insert("pending".into(), hook.queue.pending().into());
                }
                let before = serde_json::to_value(&hook.stats.before_send).unwrap_or_default();
                (
                    app.to_string(),
                    json!({"before_send": before, "after": after}),
                )
            })
            .collect();
        json!({ "apps": apps })
    }
}

impl Hook {
    /// The on-timeout policy's verdict for a callback that failed because of `why`.
    fn policy(&self, why: &str) -> Verdict {
        match self.on_timeout {
            CallbackOnTimeout::Allow => Verdict::Allow,
            CallbackOnTimeout::Refuse => Verdict::Refuse(ApiError::new(
                before_send::NOT_VETTED,
                format!("the app's backend did not vet the message: {why}"),
            )),
        }
    }
}

/// `GET /healthz/webhooks`: the counters of every app's webhooks, as JSON.
pub(crate) async fn health(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.webhooks.snapshot())
}
