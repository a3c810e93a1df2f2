//! One WebSocket connection: a single task reads requests, answers them, and writes the
//! rooms' batched frames. One task per connection keeps idle connections small and makes
//! ordering trivial: an `enter_room` reply is written before its subscription is polled.
//!
//! Every write has a deadline (`write_timeout`): a client that stops reading is closed and
//! freed, not waited for. While a write waits, control signals still act at once: shutdown,
//! kicks and UserSig expiry abandon the write; a moderator's removal takes the member out of
//! the room at once and its notice is written after.

use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use liveroom_proto::message::{Flow, PUSH_STOPPED};
use liveroom_proto::{
    close, code, field_kind, limits, ApiError, Body, ClientFrame, CreateRoomOptions, CustomPayload,
    Done, EnterReply, FieldKind, HelloReply, KickReason, LoginReply, Priority, Profile, Request,
    Role, RoomRef, SendReply, ServerFrame, TextPayload,
};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::auth;
use crate::budget::TokenBucket;
use crate::deferred_sends::{self, DeferredSends};
use crate::fanout::{self, Subscription};
use crate::listener::Place;
use crate::moderation::{self, Actor};
use crate::reply::Reply;
use crate::room::{Room, SendCheck};
use crate::service;
use crate::session::Signal;
use crate::webhooks::{Exit, LoginState, Origin, SendOrigin};
use crate::Shared;

/// How long a closing connection waits for the client's close reply.
const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Pings a client may send at once, in seconds of its ping rate.
const PING_BURST_SECS: f64 = 5.0;
/// How long a client past its write deadline gets to take the close frame.
const STALLED_CLOSE: Duration = Duration::from_millis(100);
/// Longest timer we arm for a UserSig expiry (tokio timers top out around two years).
const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(365 * 86_400);

/// The logged-in side of a connection.
struct Login {
    user_id: String,
    profile: Profile,
}

/// Per-connection state.
struct Conn {
    id: u64,
    shared: Arc<Shared>,
    /// (SDKAppID, secret) after `hello`.
    app: Option<(u64, Arc<str>)>,
    login: Option<Login>,
    subs: Vec<Subscription<Room>>,
    /// Set by `enter_room`; attached after the reply is written.
    pending: Option<Subscription<Room>>,
    expiry: Option<Pin<Box<Sleep>>>,
    /// Session signals (kick, leave), created at login: guests (most viewers) never need one.
    signals: Option<(mpsc::Sender<Signal>, mpsc::Receiver<Signal>)>,
    /// Notices of removals that arrived while a write waited, written after it.
    late_notices: Vec<String>,
    /// The client's address (behind a trusted proxy, the one `X-Forwarded-For` names), for
    /// the webhooks.
    ip: IpAddr,
    /// The `id` of the request being answered.
    request_id: u64,
    /// Sends waiting on the app's before-send callback, made on the first such send.
    deferred: Option<Box<DeferredSends>>,
}

/// How the loop ended.
enum End {
    /// The client closed or the socket died.
    Gone,
    /// A write missed its deadline: the client is not reading. Closed with 4108 if the
    /// socket takes the frame at once, else dropped.
    Stalled,
    /// We close with this code and reason.
    Close(u16, &'static str),
    /// Kicked: `kicked` frame, then close 4001.
    Kick(KickReason),
}

const SHUTTING_DOWN: End = End::Close(close::GOING_AWAY, "server shutting down");

/// Serves one upgraded WebSocket until it closes.
/// `place` is the connection's place in its client address's count and the server's, held
/// as long as it runs.
pub(crate) async fn run(mut ws: WebSocket, shared: Arc<Shared>, place: Place) {
    if shared.shutdown.is_cancelled() {
        Box::pin(close_with(
            &mut ws,
            close::GOING_AWAY,
            "server shutting down",
            shared.config.write_timeout,
        ))
        .await;
        return;
    }
    let mut conn = Conn {
        id: shared.next_conn_id(),
        shared: shared.clone(),
        app: None,
        login: None,
        subs: Vec::new(),
        pending: None,
        expiry: None,
        signals: None,
        late_notices: Vec::new(),
        ip: place.ip(),
        request_id: 0,
        deferred: None,
    };
    tracing::debug!(conn = conn.id, client = %place.ip(), "connected");
    let mut out: Vec<Utf8Bytes> = Vec::new();
    // The server pings; any frame from the client (pongs included) proves it alive.
    let every = shared.config.keepalive;
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    // Made on the first ping from the client: most clients never send one.
    let mut pings: Option<Box<TokenBucket>> = None;
    // Made once: a fresh `cancelled()` per wake-up would lock the token's waiter list (shared
    // by every connection) twice per frame written.
    let shutdown = shared.shutdown.clone();
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let end = loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break SHUTTING_DOWN,
            Some(signal) = next_signal(&mut conn.signals) => match signal {
                Signal::Kick(reason) => break End::Kick(reason),
                Signal::Leave { room, frame } => {
                    if Box::pin(conn.leave_room(&room)).await {
                        let notice = std::iter::once(WsMessage::Text(frame.into()));
                        if let Err(end) = Box::pin(conn.deliver(&mut ws, notice)).await {
                            break end;
                        }
                    }
                }
                Signal::Profile(profile) => conn.profile_changed(profile),
                Signal::Push(frames) => {
                    if let Err(end) = Box::pin(conn.push(&mut ws, frames)).await {
                        break end;
                    }
                }
            },
            _ = wait_expiry(&mut conn.expiry) => break End::Kick(KickReason::UserSigExpired),
            _ = keepalive.tick() => {
                if last_seen.elapsed() > conn.shared.config.keepalive_timeout {
                    tracing::debug!(conn = conn.id, "no frame from the client: dropping");
                    break End::Gone;
                }
                let ping = std::iter::once(WsMessage::Ping(Default::default()));
                if let Err(end) = Box::pin(conn.deliver(&mut ws, ping)).await {
                    break end;
                }
            }
            // Room frames before requests: a client pipelining requests cannot starve its
            // own delivery into a slow-consumer close (drains are bounded by what is pending).
            (i, first) = fanout::next(&mut conn.subs) => {
                let drained = first.and_then(|item| {
                    if let Some(sub) = conn.subs.get_mut(i) {
                        fanout::drain(sub, item, &mut out)?;
                    }
                    fanout::drain_ready(&mut conn.subs, &mut out)
                });
                if drained.is_err() {
                    out.clear();
                    break End::Close(close::SLOW_CONSUMER, "too slow: reconnect and gap-fill");
                }
                // Dismissed rooms: deliver what is left (the dismissal), then drop them.
                if conn.subs.iter().any(|s| s.room.is_dismissed()) {
                    Box::pin(conn.drop_dismissed(&mut out)).await;
                }
                // The hot path, as `finish_write` but spelled out so that every viewer's
                // future stays small: written at once, unless the write has to wait.
                let written = {
                    let mut write = pin!(write_frames(&mut ws, &mut out));
                    match futures_util::poll!(write.as_mut()) {
                        Poll::Ready(r) => Ok(r),
                        Poll::Pending => Box::pin(conn.wait_write(write)).await,
                    }
                };
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break End::Gone,
                    Err(end) => break end,
                }
                if !conn.late_notices.is_empty() {
                    if let Err(end) = Box::pin(conn.deliver_notices(&mut ws)).await {
                        break end;
                    }
                }
            }
            Some(reply) = next_deferred(&mut conn.deferred) => {
                let reply = std::iter::once(WsMessage::Text(reply.into()));
                if let Err(end) = Box::pin(conn.deliver(&mut ws, reply)).await {
                    break end;
                }
            }
            // Not while its waiting sends are at their most: the client's next requests wait.
            incoming = ws.recv(), if conn.deferred.as_ref().is_none_or(|d| d.len() < deferred_sends::MAX_WAITING) => match incoming.inspect(|_| last_seen = Instant::now()) {
                None | Some(Ok(WsMessage::Close(_))) => break End::Gone,
                Some(Err(e)) => {
                    tracing::debug!(conn = conn.id, error = %e, "read failed");
                    break End::Close(close::PROTOCOL, "frame too large or not a valid WebSocket frame");
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    break End::Close(close::PROTOCOL, "binary frames are not supported");
                }
                Some(Ok(WsMessage::Text(text))) => {
                    // Boxed: requests are rare next to the idle wait, and the request path's
                    // state is large; inline it would make every idle connection pay for it.
                    // `None`: a send answered later (see `deferred_sends`).
                    if let Some(reply) = Box::pin(conn.handle_text(text.as_str())).await {
                        let reply = std::iter::once(WsMessage::Text(reply.into()));
                        if let Err(end) = Box::pin(conn.deliver(&mut ws, reply)).await {
                            break end;
                        }
                    }
                    if let Some(sub) = conn.pending.take() {
                        conn.subs.push(sub);
                    }
                }
                Some(Ok(WsMessage::Ping(_))) => {
                    // Each ping queues a pong: a client pinging faster than anyone needs is
                    // flooding (its pongs coalesce into one slot, but its reads cost us).
                    let rate = f64::from(conn.shared.config.client_ping_rate);
                    let pings = pings.get_or_insert_with(|| {
                        Box::new(TokenBucket::new(rate * PING_BURST_SECS, rate, Instant::now()))
                    });
                    if rate > 0.0 && !pings.take_above(0.0, Instant::now()) {
                        tracing::debug!(conn = conn.id, "ping flood: closing");
                        break End::Close(close::PROTOCOL, "too many pings");
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    };
    // Leave rooms and release the login first, so others see it at once.
    Box::pin(conn.cleanup(&end)).await;
    Box::pin(farewell(&mut ws, end, conn.id, shared.config.write_timeout)).await;
    tracing::debug!(conn = conn.id, "disconnected");
}

/// Closes the socket the way the connection ended, each write under `deadline`. Boxed: its
/// state would otherwise take room in every connection's future.
async fn farewell(ws: &mut WebSocket, end: End, conn: u64, deadline: Duration) {
    match end {
        End::Gone => {}
        End::Stalled => {
            tracing::info!(conn, after = ?deadline, "write deadline missed: closing");
            // 4108, as for any slow consumer, if the socket takes it at all; most often it is
            // full and the connection is simply dropped.
            let reason = "too slow: reconnect and gap-fill";
            close_with(ws, close::SLOW_CONSUMER, reason, STALLED_CLOSE).await;
        }
        End::Close(code, reason) => close_with(ws, code, reason, deadline).await,
        End::Kick(reason) => {
            tracing::info!(conn, reason = reason.as_str(), "kicked");
            let frame = ServerFrame::Kicked { reason };
            if let Ok(s) = serde_json::to_string(&frame) {
                let sent = tokio::time::timeout(deadline, ws.send(WsMessage::Text(s.into()))).await;
                if matches!(sent, Ok(Ok(()))) {
                    close_with(ws, close::KICKED, reason.as_str(), deadline).await;
                }
            }
        }
    }
}

/// The next session signal; never resolves before login created the channel.
async fn next_signal(
    signals: &mut Option<(mpsc::Sender<Signal>, mpsc::Receiver<Signal>)>,
) -> Option<Signal> {
    match signals {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next reply of a send that waited on the app's backend; never when none waits.
async fn next_deferred(deferred: &mut Option<Box<DeferredSends>>) -> Option<String> {
    match deferred {
        Some(d) if d.len() > 0 => d.next().await,
        _ => std::future::pending().await,
    }
}

/// Resolves when the armed UserSig expiry passes; never when none is armed.
async fn wait_expiry(expiry: &mut Option<Pin<Box<Sleep>>>) {
    match expiry {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Writes the fan-out's frames and flushes once; `out` is empty afterwards, whatever happens.
/// Not [`write_all`] over `out.drain(..)`: taking the vector keeps the future (inline in every
/// viewer's connection) small.
async fn write_frames(ws: &mut WebSocket, out: &mut Vec<Utf8Bytes>) -> Result<(), axum::Error> {
    let mut result = Ok(());
    for frame in out.drain(..) {
        if result.is_ok() {
            result = ws.feed(WsMessage::Text(frame)).await;
        }
    }
    result?;
    ws.flush().await
}

/// Writes `frames` and flushes once.
async fn write_all<I>(ws: &mut WebSocket, frames: I) -> Result<(), axum::Error>
where
    I: Iterator<Item = WsMessage>,
{
    for frame in frames {
        ws.feed(frame).await?;
    }
    ws.flush().await
}

/// Sends a close frame (within `deadline`), then waits briefly for the client's close so the
/// socket is not reset under the frame.
async fn close_with(ws: &mut WebSocket, code: u16, reason: &str, deadline: Duration) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let sent = tokio::time::timeout(deadline, ws.send(WsMessage::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let linger = async {
        while let Some(Ok(m)) = ws.recv().await {
            if matches!(m, WsMessage::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
}

fn error_frame(id: Option<u64>, e: &ApiError) -> String {
    let frame = ServerFrame::Error {
        id,
        code: e.code,
        message: e.message.clone(),
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| {
        format!(
            "{{\"t\":\"error\",\"code\":{},\"message\":\"internal\"}}",
            code::INTERNAL
        )
    })
}

/// Explains why a frame did not parse, naming the field when possible, and finds its `id`
/// (read leniently when the frame is not JSON at all, so the caller waiting on it hears back).
fn explain_bad_frame(text: &str, err: &serde_json::Error) -> (Option<u64>, ApiError) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return (
            liveroom_proto::lenient::frame_id(text),
            ApiError::invalid(format!("frame is not valid JSON: {err}")),
        );
    };
    let Some(obj) = v.as_object() else {
        return (None, ApiError::invalid("frame must be a JSON object"));
    };
    let id = obj.get("id").and_then(Value::as_u64);
    let e = |m: String| (id, ApiError::invalid(m));
    if id.is_none() {
        return e("field `id` must be a non-negative integer".into());
    }
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(_) => return e("field `op` must be a string".into()),
        None => return e("missing field `op`".into()),
    };
    for (k, val) in obj {
        let wrong = match (field_kind(k), val) {
            (_, Value::Null) | (None, _) => None,
            (Some(FieldKind::Number), v) => v.as_u64().is_none().then_some("a non-negative number"),
            (Some(FieldKind::String), v) => (!v.is_string()).then_some("a string"),
            (Some(FieldKind::Bool), v) => (!v.is_boolean()).then_some("true or false"),
        };
        if let Some(expected) = wrong {
            return e(format!("field `{k}` of '{op}' must be {expected}"));
        }
        if k == "priority" {
            if let Some(p) = val.as_str() {
                if let Err(m) = p.parse::<Priority>() {
                    return e(format!("field `priority`: {m}"));
                }
            }
        }
    }
    let msg = err.to_string();
    if msg.contains("unknown variant") {
        return e(format!("unknown op '{op}'"));
    }
    e(format!("invalid request '{op}': {msg}"))
}

/// The reply or error frame of request `id`.
fn reply_frame(id: u64, result: Result<Reply, ApiError>) -> String {
    let reply = result.and_then(|reply| {
        reply.frame(id).map_err(|e| {
            tracing::error!(error = %e, "cannot encode reply");
            ApiError::new(code::INTERNAL, "cannot encode reply")
        })
    });
    reply.unwrap_or_else(|e| error_frame(Some(id), &e))
}

/// The reply to the sender of `msg`.
fn sent_reply(mut msg: liveroom_proto::Message) -> Reply {
    msg.flow = Flow::Out;
    Reply::Sent(Box::new(SendReply { message: msg }))
}

/// The user's own message rate, shared by all its connections and logins.
fn check_user_rate(shared: &Shared, app: u64, user: &str) -> Result<(), ApiError> {
    if shared.send_rates.admit(app, user, Instant::now()) {
        return Ok(());
    }
    Err(ApiError::new(
        code::RATE_LIMITED,
        format!(
            "userID '{user}' is over its rate limit of {} messages/s (burst {})",
            shared.config.user_rate,
            2 * shared.config.user_rate
        ),
    ))
}

fn not_logged_in() -> ApiError {
    ApiError::new(code::NOT_LOGGED_IN, "this call needs login first")
}

impl Conn {
    /// Writes `frames` within the write deadline, then any removal notices that arrived
    /// while it waited.
    async fn deliver<I>(&mut self, ws: &mut WebSocket, frames: I) -> Result<(), End>
    where
        I: Iterator<Item = WsMessage>,
    {
        {
            let write = pin!(write_all(ws, frames));
            self.finish_write(write).await?;
        }
        if !self.late_notices.is_empty() {
            Box::pin(self.deliver_notices(ws)).await?;
        }
        Ok(())
    }

    /// Writes the pushed frames of the rooms this connection is in (the others left
    /// meanwhile).
    async fn push(&mut self, ws: &mut WebSocket, frames: Vec<(String, String)>) -> Result<(), End> {
        let here: Vec<WsMessage> = frames
            .into_iter()
            .filter(|(room, _)| self.subs.iter().any(|s| s.room.id() == room))
            .map(|(_, frame)| WsMessage::Text(frame.into()))
            .collect();
        if here.is_empty() {
            return Ok(());
        }
        self.deliver(ws, here.into_iter()).await
    }

    /// Writes the removal notices that arrived while a write waited.
    async fn deliver_notices(&mut self, ws: &mut WebSocket) -> Result<(), End> {
        while !self.late_notices.is_empty() {
            let notices = std::mem::take(&mut self.late_notices);
            let write = pin!(write_all(
                ws,
                notices.into_iter().map(|f| WsMessage::Text(f.into()))
            ));
            self.finish_write(write).await?;
        }
        Ok(())
    }

    /// Completes a write: a write the socket takes at once costs nothing more; one that waits
    /// does so under the deadline, watching the control signals, which act at once (see the
    /// module doc). The write is pinned by the caller, so this adds little to its future.
    async fn finish_write<F>(&mut self, mut write: Pin<&mut F>) -> Result<(), End>
    where
        F: std::future::Future<Output = Result<(), axum::Error>>,
    {
        let written = match futures_util::poll!(write.as_mut()) {
            Poll::Ready(r) => r,
            Poll::Pending => Box::pin(self.wait_write(write)).await?,
        };
        written.map_err(|_| End::Gone)
    }

    /// Waits for a write that did not complete at once, up to the write deadline, while
    /// shutdown, kicks, removals and UserSig expiry keep acting.
    async fn wait_write<F>(
        &mut self,
        mut write: Pin<&mut F>,
    ) -> Result<Result<(), axum::Error>, End>
    where
        F: std::future::Future<Output = Result<(), axum::Error>>,
    {
        let deadline = tokio::time::sleep(self.shared.config.write_timeout);
        let shutdown = self.shared.shutdown.clone();
        let mut deadline = pin!(deadline);
        let mut cancelled = pin!(shutdown.cancelled());
        let mut notices: Vec<String> = Vec::new();
        let result = loop {
            tokio::select! {
                biased;
                r = write.as_mut() => break Ok(r),
                _ = &mut cancelled => break Err(SHUTTING_DOWN),
                Some(signal) = next_signal(&mut self.signals) => match signal {
                    Signal::Kick(reason) => break Err(End::Kick(reason)),
                    Signal::Leave { room, frame } => {
                        if Box::pin(self.leave_room(&room)).await {
                            notices.push(frame);
                        }
                    }
                    Signal::Profile(profile) => self.profile_changed(profile),
                    // Periodic: this connection is behind already; the next one comes.
                    Signal::Push(_) => {}
                },
                _ = wait_expiry(&mut self.expiry) => break Err(End::Kick(KickReason::UserSigExpired)),
                _ = &mut deadline => break Err(End::Stalled),
            }
        };
        if !notices.is_empty() {
            tracing::debug!(
                conn = self.id,
                n = notices.len(),
                "removed while a write waited"
            );
        }
        // The notices go out after the write (dropped if the connection is ending anyway).
        self.late_notices.extend(notices);
        result
    }

    /// Answers one text frame with one reply or error frame; `None` for a send answered
    /// later.
    async fn handle_text(&mut self, text: &str) -> Option<String> {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(err) => {
                let (id, e) = explain_bad_frame(text, &err);
                return Some(error_frame(id, &e));
            }
        };
        self.request_id = frame.id;
        match self.dispatch(frame.request).await {
            Ok(Reply::Deferred) => None,
            result => Some(reply_frame(frame.id, result)),
        }
    }

    /// Runs a request; returns the reply's `data`.
    async fn dispatch(&mut self, req: Request) -> Result<Reply, ApiError> {
        if self.app.is_none() && !matches!(req, Request::Hello { .. }) {
            return Err(ApiError::invalid(
                "the first request must be hello {sdk_app_id}",
            ));
        }
        match req {
            Request::Hello { sdk_app_id } => self.hello(sdk_app_id),
            Request::Login { user_id, user_sig } => self.login(user_id, user_sig).await,
            Request::Logout => {
                if let Some(user) = self.end_login().await {
                    self.login_state(&user, LoginState::Logout);
                }
                Ok(Reply::Done(Done {}))
            }
            Request::CreateRoom(opts) => self.create_room(opts).await,
            Request::EnterRoom { room_id, since } => self.enter_room(room_id, since).await,
            Request::ExitRoom { room_id } => self.exit_room(room_id).await,
            Request::SetProfile { nick, avatar } => self.set_profile(nick, avatar).await,
            Request::GetProfile => {
                let login = self.login.as_ref().ok_or_else(not_logged_in)?;
                Ok(Reply::Profile(login.profile.clone()))
            }
            Request::SendText {
                room_id,
                text,
                priority,
            } => {
                limits::check_text(&text)?;
                self.send(room_id, Body::Text(TextPayload { text }), priority)
                    .await
            }
            Request::SendCustom {
                room_id,
                data,
                description,
                extension,
                priority,
            } => {
                limits::check_message_size(data.len() + description.len() + extension.len())?;
                if data == PUSH_STOPPED {
                    return Err(ApiError::new(
                        code::NO_PERMISSION,
                        "data 'push_stopped' is reserved: the room owner uses stop_push",
                    ));
                }
                let body = Body::Custom(CustomPayload {
                    data,
                    description,
                    extension,
                });
                self.send(room_id, body, priority).await
            }
            Request::SendImage {
                room_id,
                uuid,
                priority,
            } => {
                self.login.as_ref().ok_or_else(not_logged_in)?;
                let media = self.shared.media.clone();
                let stored = tokio::task::spawn_blocking(move || media.lookup(&uuid))
                    .await
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "uuid: no uploaded picture has this uuid; upload it first",
                        )
                    })?;
                // URLs are relative to the server: every client resolves them against the
                // address it reaches the server at (loopback, LAN, ...).
                self.send(room_id, Body::Image(stored.payload("")), priority)
                    .await
            }
            Request::StopPush {
                room_id,
                postscript,
            } => self.stop_push(room_id, postscript).await,
            Request::Ping => Ok(Reply::Done(Done {})),
            Request::GetRoomStats { room_id } => {
                let app = self.app_id()?;
                let user = self.login.as_ref().map(|l| l.user_id.as_str());
                let stats = service::room_stats(&self.shared, app, &room_id, user, false).await?;
                Ok(Reply::Stats(Box::new(stats)))
            }
            Request::Moderation(req) => {
                let actor = Actor {
                    app: self.app_id()?,
                    user: self.login.as_ref().map(|l| l.user_id.as_str()),
                    backend: false,
                    ip: Some(self.ip),
                };
                moderation::handle(&self.shared, actor, req).await
            }
        }
    }

    /// Leaves `room` if this connection is in it (a moderator removed the user). Returns
    /// whether it was in.
    async fn leave_room(&mut self, room: &str) -> bool {
        if self.pending.as_ref().is_some_and(|s| s.room.id() == room) {
            if let Some(sub) = self.pending.take() {
                sub.room.leave(self.id).await;
            }
            return true;
        }
        match self.subs.iter().position(|s| s.room.id() == room) {
            Some(i) => {
                let sub = self.subs.swap_remove(i);
                sub.room.leave(self.id).await;
                true
            }
            None => false,
        }
    }

    /// Drains the remaining frames of dismissed rooms into `out` and drops them.
    async fn drop_dismissed(&mut self, out: &mut Vec<Utf8Bytes>) {
        let mut i = 0;
        while i < self.subs.len() {
            if self.subs[i].room.is_dismissed() {
                let mut sub = self.subs.swap_remove(i);
                fanout::drain_rest(&mut sub, out);
                sub.room.leave(self.id).await;
            } else {
                i += 1;
            }
        }
    }

    fn hello(&mut self, sdk_app_id: u64) -> Result<Reply, ApiError> {
        if let Some((app, _)) = &self.app {
            if *app != sdk_app_id {
                return Err(ApiError::invalid(format!(
                    "sdk_app_id: this connection is already bound to SDKAppID {app}"
                )));
            }
        }
        let secret = self.shared.config.apps.get(&sdk_app_id).ok_or_else(|| {
            ApiError::new(
                code::UNKNOWN_SDKAPPID,
                format!("sdk_app_id {sdk_app_id} is not known to this server"),
            )
        })?;
        self.app = Some((sdk_app_id, Arc::from(secret.as_str())));
        Ok(Reply::Hello(HelloReply {
            server: format!("liveroom-server {}", env!("CARGO_PKG_VERSION")),
            time: liveroom_usersig::now_secs(),
            upload_path: "/upload".into(),
        }))
    }

    fn app_id(&self) -> Result<u64, ApiError> {
        self.app
            .as_ref()
            .map(|(a, _)| *a)
            .ok_or_else(|| ApiError::invalid("the first request must be hello {sdk_app_id}"))
    }

    async fn login(&mut self, user_id: String, user_sig: String) -> Result<Reply, ApiError> {
        let (app, secret) = self
            .app
            .clone()
            .ok_or_else(|| ApiError::invalid("the first request must be hello {sdk_app_id}"))?;
        let now = liveroom_usersig::now_secs();
        let sig = auth::verify_login(app, &secret, &user_id, &user_sig, now)?;
        let expires_at = sig.expires_at;
        // The first login opens the account; a UserSig from before a REST kick is refused
        // before the session is registered (it must not kick the user's current one).
        let account = self.shared.store.open_account(app, user_id.clone()).await?;
        auth::check_not_revoked(sig, account.revoked_at)?;
        let profile = account.profile;
        let same_user = self.login.as_ref().is_some_and(|l| l.user_id == user_id);
        if self.login.is_some() && !same_user {
            if let Some(user) = self.end_login().await {
                self.login_state(&user, LoginState::Logout);
            }
        }
        let upload_token = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let signal_tx = self
            .signals
            .get_or_insert_with(|| mpsc::channel(16))
            .0
            .clone();
        self.shared
            .sessions
            .login(app, &user_id, self.id, signal_tx, upload_token.clone())
            .await?;
        // A kick between the check above and the registration found no session to signal:
        // read the revocation again now that the session is reachable.
        let again = self.shared.store.open_account(app, user_id.clone()).await;
        if let Err(e) = again
            .map_err(ApiError::from)
            .and_then(|a| auth::check_not_revoked(sig, a.revoked_at))
        {
            self.shared.sessions.logout(app, &user_id, self.id).await;
            if same_user {
                if let Some(user) = self.end_login().await {
                    self.login_state(&user, LoginState::Logout);
                }
            }
            return Err(e);
        }
        for sub in &self.subs {
            sub.room.set_member_user(self.id, Some(&user_id)).await;
        }
        let wait = u64::try_from(expires_at.saturating_sub(now).saturating_add(1)).unwrap_or(0);
        let wait = Duration::from_secs(wait).min(MAX_EXPIRY_WAIT);
        self.expiry = Some(Box::pin(tokio::time::sleep_until(
            (Instant::now() + wait).into(),
        )));
        self.login = Some(Login {
            user_id: user_id.clone(),
            profile: profile.clone(),
        });
        self.login_state(&user_id, LoginState::Login);
        Ok(Reply::Login(Box::new(LoginReply {
            user_id,
            profile,
            expires_at,
            upload_token,
        })))
    }

    /// The user's profile changed elsewhere (REST `portrait_set`): the next sends carry it.
    fn profile_changed(&mut self, profile: Profile) {
        if let Some(login) = self.login.as_mut().filter(|l| l.user_id == profile.user_id) {
            login.profile = profile;
        }
    }

    /// Logout: leaves every room and forgets the session; the connection stays a guest.
    /// Returns the user that was logged in.
    async fn end_login(&mut self) -> Option<String> {
        for sub in std::mem::take(&mut self.subs) {
            let left = sub.room.leave(self.id).await;
            self.quit(sub.room.id(), left);
        }
        self.expiry = None;
        let (login, (app, _)) = self.login.take().zip(self.app.as_ref())?;
        self.shared
            .sessions
            .logout(*app, &login.user_id, self.id)
            .await;
        Some(login.user_id)
    }

    /// `State.StateChange` of `user` on this connection.
    fn login_state(&self, user: &str, state: LoginState) {
        if let Some((app, _)) = &self.app {
            self.shared.webhooks.login_state(*app, user, state, self.ip);
        }
    }

    /// `Group.CallbackAfterMemberExit` (Quit) when `left` names the user whose last
    /// connection in `room` this was.
    fn quit(&self, room: &str, left: Option<String>) {
        if let (Some(user), Some((app, _))) = (left, &self.app) {
            let origin = Origin::client(&user, self.ip);
            self.shared
                .webhooks
                .member_left(*app, room, &user, Exit::Quit, &origin);
        }
    }

    async fn create_room(&mut self, opts: CreateRoomOptions) -> Result<Reply, ApiError> {
        let app = self.app_id()?;
        let owner = self
            .login
            .as_ref()
            .ok_or_else(not_logged_in)?
            .user_id
            .clone();
        let creator = service::Creator::Member { ip: self.ip };
        let info = service::create_room(&self.shared, app, &owner, opts, creator).await?;
        Ok(Reply::Room(Box::new(info)))
    }

    async fn enter_room(&mut self, room_id: String, since: Option<u64>) -> Result<Reply, ApiError> {
        let app = self.app_id()?;
        limits::check_room_id(&room_id)?;
        let room = service::room(&self.shared, app, &room_id).await?;
        let user = self.login.as_ref().map(|l| l.user_id.as_str());
        let entered = room.enter(self.id, user, since).await?;
        if let Some(user) = user.filter(|_| entered.first) {
            let origin = Origin::client(user, self.ip);
            self.shared
                .webhooks
                .member_joined(app, &room_id, user, &origin);
        }
        self.pending = entered.subscription;
        let member = user.zip(entered.member.as_ref());
        let role = member.map_or(Role::Guest, |(u, m)| {
            self.shared.rules.role(app, u, m.owner, m.admin)
        });
        Ok(Reply::Entered(Box::new(EnterReply {
            status: entered.status,
            group: entered.info,
            online: entered.online as u64,
            messages: entered.history,
            last_sequence: entered.last_seq,
            deleted: entered.deleted,
            role,
            settings: entered.settings,
            muted_until: member.and_then(|(_, m)| m.muted_until),
            skipped: entered.skipped,
        })))
    }

    async fn exit_room(&mut self, room_id: String) -> Result<Reply, ApiError> {
        limits::check_room_id(&room_id)?;
        if let Some(i) = self.subs.iter().position(|s| s.room.id() == room_id) {
            let sub = self.subs.swap_remove(i);
            let left = sub.room.leave(self.id).await;
            self.quit(&room_id, left);
        }
        Ok(Reply::RoomRef(RoomRef { group_id: room_id }))
    }

    async fn set_profile(
        &mut self,
        nick: Option<String>,
        avatar: Option<String>,
    ) -> Result<Reply, ApiError> {
        let app = self.app_id()?;
        let login = self.login.as_mut().ok_or_else(not_logged_in)?;
        if let Some(n) = &nick {
            limits::check_len("nick", n, limits::NICK_MAX)?;
        }
        if let Some(a) = &avatar {
            limits::check_len("avatar", a, limits::AVATAR_MAX)?;
        }
        let mut profile = login.profile.clone();
        if let Some(n) = nick {
            profile.nick = n;
        }
        if let Some(a) = avatar {
            profile.avatar = a;
        }
        self.shared.store.save_profile(app, profile.clone()).await?;
        login.profile = profile.clone();
        Ok(Reply::Profile(profile))
    }

    /// Sends a user message to an entered room, through the user's and the room's budgets.
    async fn send(
        &mut self,
        room_id: String,
        body: Body,
        priority: Priority,
    ) -> Result<Reply, ApiError> {
        let app = self.app_id()?;
        let login = self.login.as_ref().ok_or_else(not_logged_in)?;
        limits::check_room_id(&room_id)?;
        let room = self
            .subs
            .iter()
            .find(|s| s.room.id() == room_id)
            .map(|s| s.room.clone())
            .ok_or_else(|| {
                ApiError::new(
                    code::NOT_IN_ROOM,
                    format!("you have not entered room '{room_id}': call enter_room first"),
                )
            })?;
        let app_admin = self.shared.rules.is_app_admin(app, &login.user_id);
        if self.shared.webhooks.vets_sends(app) {
            let (shared, user, profile) = (
                self.shared.clone(),
                login.user_id.clone(),
                login.profile.clone(),
            );
            let (ip, id) = (self.ip, self.request_id);
            let deferred = self.deferred.get_or_insert_with(Default::default);
            deferred.push(move |turn| async move {
                let rate = || check_user_rate(&shared, app, &user);
                let check = SendCheck {
                    user: &user,
                    app_admin,
                    app_words: shared.rules.words(app),
                    rate: &rate,
                };
                let via = SendOrigin::client(&user, ip);
                let sent = service::send_in_turn(
                    &shared,
                    &room,
                    &profile,
                    body,
                    priority,
                    Some(check),
                    via,
                    turn,
                )
                .await;
                reply_frame(id, sent.map(sent_reply))
            });
            return Ok(Reply::Deferred);
        }
        let rate = || check_user_rate(&self.shared, app, &login.user_id);
        let check = SendCheck {
            user: &login.user_id,
            app_admin,
            app_words: self.shared.rules.words(app),
            rate: &rate,
        };
        // The room checks its rules, then the user's own rate, and its broker makes the
        // budget decision as it accepts the send.
        let via = SendOrigin::client(&login.user_id, self.ip);
        let msg = service::send(
            &self.shared,
            &room,
            &login.profile,
            body,
            priority,
            Some(check),
            via,
        )
        .await?;
        Ok(sent_reply(msg))
    }

    async fn stop_push(&mut self, room_id: String, postscript: String) -> Result<Reply, ApiError> {
        let app = self.app_id()?;
        let login = self.login.as_ref().ok_or_else(not_logged_in)?;
        limits::check_message_size(postscript.len())?;
        let room = service::room(&self.shared, app, &room_id).await?;
        if room.info().await.owner_id != login.user_id {
            return Err(ApiError::new(
                code::NO_PERMISSION,
                "only the room owner may stop the push",
            ));
        }
        check_user_rate(&self.shared, app, &login.user_id)?;
        // High: always passes the room budget (in the broker's accept), and counts against it.
        let body = Body::Custom(CustomPayload {
            data: PUSH_STOPPED.into(),
            description: postscript.clone(),
            extension: String::new(),
        });
        // The owner's own control: not the backend's to vet.
        let via = SendOrigin::client(&login.user_id, self.ip).unvetted();
        let mut msg = service::send(
            &self.shared,
            &room,
            &login.profile,
            body,
            Priority::High,
            None,
            via,
        )
        .await?;
        room.set_push_stopped(&postscript).await?;
        msg.flow = Flow::Out;
        Ok(Reply::Sent(Box::new(SendReply { message: msg })))
    }

    /// Leaves every room and ends the session (`State.StateChange` Disconnect, unless a newer
    /// login of the user replaced this one: Tencent's newer SDKs report only that Login).
    async fn cleanup(&mut self, end: &End) {
        if let Some(sub) = self.pending.take() {
            self.subs.push(sub);
        }
        let replaced = matches!(
            end,
            End::Kick(KickReason::MultipleAccount | KickReason::MultipleDevice)
        );
        if let Some(user) = self.end_login().await {
            if !replaced {
                self.login_state(&user, LoginState::Disconnect);
            }
        }
    }
}
