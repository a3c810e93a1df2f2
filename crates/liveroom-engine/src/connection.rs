//! The connection task: the only owner of the WebSocket.
//!
//! The [`crate::Im`] handle sends it [`Command`]s over an mpsc channel; each request carries a
//! oneshot for its reply. The task gives every request an id, keeps it in `pending` until the
//! server's `reply`/`error` with that id arrives, and dispatches pushes (`messages`, `online`,
//! `kicked`) to the room state and the event emitter. Replies that change the session
//! (login, logout, enter, exit) are applied here, in frame order, so that a live message
//! can never be judged against a stale room state.
//!
//! Life cycle: open the socket, `hello`, replay the session (login with the same UserSig, then
//! `enter_room {since: last sequence}` for every room), serve. A lost socket fails the
//! in-flight requests with 2800 (they may or may not have reached the server) and, after a
//! first successful connection, reconnects with [`Backoff`]; requests made meanwhile wait in
//! `queued` (a request whose caller already timed out is never sent late). A kick or a close
//! code in 4000–4099 is terminal. A room the server no longer has when it is re-entered
//! (10010) is left with `t_room_dismissed`.
//!
//! Given several nodes ([`crate::endpoint::Servers`]), every lost or refused connection moves
//! to the next node, round-robin: the first connection tries each node once, at once, before
//! it fails; a reconnect waits the same backoff as with one node, so a dead node costs one
//! backoff step and is then skipped. With one address nothing changes.
//!
//! Against a misbehaving server (see [`crate::inbound`]): frames over
//! [`crate::inbound::MAX_SERVER_FRAME`] and writes the server does not take within
//! [`WRITE_TIMEOUT`] drop the socket (reconnect, gap fill); oversized messages and pushes are
//! dropped with a logged count; `pending` holds at most [`MAX_PENDING`] requests, and those
//! whose caller gave up are forgotten at each keep-alive tick.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use liveroom_proto::{
    close, code, ApiError, ClientFrame, EnterReply, HelloReply, KickReason, LoginReply, Request,
    RoomEvent, ServerFrame,
};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backoff::Backoff;
use crate::error;
use crate::events::{
    room_event, room_stats_value, split_messages, Event, EventData, EventName, OwnMessages,
};
use crate::inbound::{self, Throttle, MAX_SERVER_FRAME, PUSH_FRAME_MAX, STATS_FRAME_MAX};
use crate::lock;
use crate::shared::{elog, NetState, Session, Shared};
use crate::upload::resolve_urls;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a call waits for its reply, queueing included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A keep-alive `ping` goes out this often.
const PING_EVERY: Duration = Duration::from_secs(20);
/// With no frame at all for this long, the socket is considered dead.
const DEAD_AFTER: Duration = Duration::from_secs(45);
/// Longest a frame may wait for the server to take it; past it the socket is lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most requests in flight on one socket; a call beyond it fails at once with 2800.
pub(crate) const MAX_PENDING: usize = 1024;

/// What the handle asks of the task.
pub(crate) enum Command {
    /// Send a request and report its reply.
    Call(Call),
    /// Close the socket and stop; the sender is dropped when done.
    Shutdown(#[allow(dead_code)] oneshot::Sender<()>),
}

/// One request and where its reply goes.
pub(crate) struct Call {
    pub(crate) request: Request,
    pub(crate) effect: Effect,
    pub(crate) reply: oneshot::Sender<Result<Value, ApiError>>,
}

/// How a request's reply changes the session state.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// None.
    None,
    /// Success: logged in as this user.
    Login { user_id: String, user_sig: String },
    /// Logged out (whatever the reply).
    Logout,
    /// Entering this room: buffer its live messages; success delivers the history.
    Enter { room: String },
    /// Leaving this room: stop delivering at once.
    Exit { room: String },
}

/// Starts a connection task with its first command already queued (so the task always answers
/// it, even if it ends at once) and returns its command sender.
pub(crate) fn spawn(shared: Arc<Shared>, first: Command) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    // The receiver is alive here, so this cannot fail.
    let _ = tx.send(first);
    let conn = Connection {
        shared,
        commands: rx,
        queued: VecDeque::new(),
        pending: HashMap::new(),
        trouble: Trouble::default(),
    };
    tokio::spawn(conn.run());
    tx
}

/// Why serving a socket stopped.
enum Stop {
    /// The socket is gone (network, server restart, non-terminal close): reconnect.
    Lost(String),
    /// Kicked: no reconnect.
    Kicked(KickReason),
    /// Terminal refusal (terminal close code, app refused at `hello`).
    Fatal(ApiError),
    /// The handle asked to stop, or every handle is gone.
    Shutdown,
}

/// Why a handshake call failed.
enum CallError {
    /// The server answered with an error.
    Api(ApiError),
    /// The socket stopped.
    Stop(Stop),
}

struct Pending {
    effect: Effect,
    /// `None` for the task's own requests (keep-alive).
    reply: Option<oneshot::Sender<Result<Value, ApiError>>>,
    /// When it was written.
    sent: Instant,
}

impl Pending {
    /// Nobody waits for its reply any more: the caller gave up (its timeout is
    /// [`REQUEST_TIMEOUT`]), or it is an old keep-alive.
    fn abandoned(&self, now: Instant) -> bool {
        now.duration_since(self.sent) > REQUEST_TIMEOUT
            && self.reply.as_ref().is_none_or(|r| r.is_closed())
    }
}

/// What a misbehaving server sent that was dropped, each logged at most once a second.
#[derive(Debug)]
struct Trouble {
    unreadable: Throttle,
    server_errors: Throttle,
    oversized_messages: Throttle,
    oversized_pushes: Throttle,
}

impl Default for Trouble {
    fn default() -> Self {
        Self {
            unreadable: Throttle::new(),
            server_errors: Throttle::new(),
            oversized_messages: Throttle::new(),
            oversized_pushes: Throttle::new(),
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Calls received while no socket was usable.
    queued: VecDeque<Call>,
    /// Calls written to the current socket, by request id.
    pending: HashMap<u64, Pending>,
    trouble: Trouble,
}

impl Connection {
    async fn run(mut self) {
        let mut backoff = Backoff::default();
        let mut was_connected = false;
        // Before the first connection: why each node tried so far refused.
        let mut refusals: Vec<String> = Vec::new();
        self.shared.set_net(NetState::Connecting);
        loop {
            let stop = match self.connect().await {
                Ok(mut ws) => match self.handshake(&mut ws).await {
                    Ok(()) => {
                        elog!(
                            self.shared,
                            DEBUG,
                            "connected to {}",
                            self.shared.endpoints().ws
                        );
                        was_connected = true;
                        backoff.reset();
                        self.shared.set_net(NetState::Connected);
                        self.serve(ws).await
                    }
                    Err(stop) => stop,
                },
                Err(stop) => stop,
            };
            match stop {
                Stop::Shutdown => {
                    self.finish(error::network("the engine was shut down"));
                    self.shared.set_net(NetState::Disconnected);
                    return;
                }
                Stop::Kicked(reason) => {
                    elog!(self.shared, WARN, reason = reason.as_str(), "kicked out");
                    self.finish(error::network(format!("kicked out: {}", reason.as_str())));
                    {
                        let mut state = lock(&self.shared.state);
                        state.net = NetState::Disconnected;
                    }
                    // Logged out before anyone hears of it (a listener acting on the event
                    // finds the engine logged out), the events in TIM's order.
                    let had_session = self.shared.forget_session();
                    self.shared.emitter.emit(Event::new(
                        EventName::KickedOut,
                        EventData::Text(reason.as_str().to_owned()),
                    ));
                    self.shared.announce_session_end(had_session);
                    return;
                }
                Stop::Fatal(err) => {
                    elog!(
                        self.shared,
                        ERROR,
                        code = err.code,
                        "connection refused: {}",
                        err.message
                    );
                    self.finish(err);
                    self.shared.end_session();
                    self.shared.set_net(NetState::Disconnected);
                    return;
                }
                Stop::Lost(reason) => {
                    self.fail_pending(&error::network(format!("connection lost: {reason}")));
                    let lost = self.shared.endpoints().ws.clone();
                    self.shared.next_server();
                    if !was_connected {
                        // The waiting calls get this error: no need to shout it in the log too.
                        elog!(self.shared, DEBUG, "cannot connect to {lost}: {reason}");
                        refusals.push(format!("{lost}: {reason}"));
                        let nodes = self.shared.servers.len();
                        if refusals.len() < nodes {
                            continue;
                        }
                        let message = if nodes == 1 {
                            format!("cannot connect to {lost}: {reason}")
                        } else {
                            format!(
                                "cannot connect to any of the {nodes} servers: {}",
                                refusals.join("; ")
                            )
                        };
                        self.finish(error::network(message));
                        self.shared.set_net(NetState::Disconnected);
                        return;
                    }
                    if self.shared.servers.len() > 1 {
                        elog!(
                            self.shared,
                            WARN,
                            "connection to {lost} lost: {reason}; reconnecting to {}",
                            self.shared.endpoints().ws
                        );
                    } else {
                        elog!(self.shared, WARN, "connection lost: {reason}; reconnecting");
                    }
                    let delay = backoff.next_delay();
                    self.shared.set_reconnecting(backoff.attempts(), delay);
                    if !self.wait_queueing(delay).await {
                        self.finish(error::network("the engine was shut down"));
                        self.shared.set_net(NetState::Disconnected);
                        return;
                    }
                }
            }
        }
    }

    /// Opens the socket.
    async fn connect(&self) -> Result<Ws, Stop> {
        let url = &self.shared.endpoints().ws;
        elog!(self.shared, DEBUG, "connecting to {url}");
        match timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(
                url.as_str(),
                Some(inbound::ws_config()),
                // No Nagle: requests are small and interactive; with it a second request
                // written before the first is answered waits for the server's delayed ACK.
                true,
                self.shared.tls.ws_connector(),
            ),
        )
        .await
        {
            Err(_) => Err(Stop::Lost(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(Stop::Lost(e.to_string())),
            Ok(Ok((ws, _))) => Ok(ws),
        }
    }

    /// `hello`, then the session replay: login with the same UserSig, re-enter every room
    /// from its last sequence (the gap comes back as history and is delivered as events).
    async fn handshake(&mut self, ws: &mut Ws) -> Result<(), Stop> {
        let hello = Request::Hello {
            sdk_app_id: self.shared.sdk_app_id,
        };
        let reply = match self.call(ws, hello).await {
            Ok(v) => v,
            Err(CallError::Api(e)) => return Err(Stop::Fatal(e)),
            Err(CallError::Stop(stop)) => return Err(stop),
        };
        match serde_json::from_value::<HelloReply>(reply) {
            Ok(hello) => lock(&self.shared.state).upload_path = Some(hello.upload_path),
            Err(e) => elog!(self.shared, WARN, "unexpected hello reply: {e}"),
        }

        let session = lock(&self.shared.state).session.clone();
        if let Some(session) = session {
            let login = Request::Login {
                user_id: session.user_id.clone(),
                user_sig: session.user_sig.clone(),
            };
            match self.call(ws, login).await {
                Ok(v) => {
                    if let Ok(reply) = serde_json::from_value::<LoginReply>(v) {
                        if let Some(s) = lock(&self.shared.state).session.as_mut() {
                            s.upload_token = reply.upload_token;
                        }
                    }
                }
                Err(CallError::Api(e)) => {
                    // The session cannot be restored (e.g. the UserSig expired meanwhile):
                    // go on as a guest in the same rooms.
                    elog!(
                        self.shared,
                        WARN,
                        code = e.code,
                        "login replay failed: {}",
                        e.message
                    );
                    let had = lock(&self.shared.state).session.take().is_some();
                    if had {
                        self.shared
                            .emitter
                            .emit(Event::new(EventName::ImNotReady, EventData::None));
                    }
                }
                Err(CallError::Stop(stop)) => return Err(stop),
            }
        }

        let positions = {
            let mut state = lock(&self.shared.state);
            state.rooms.begin_reenter_all();
            state.rooms.positions()
        };
        for (room, since) in positions {
            let enter = Request::EnterRoom {
                room_id: room.clone(),
                since: Some(since),
            };
            match self.call(ws, enter).await {
                Ok(v) => match serde_json::from_value::<EnterReply>(v) {
                    Ok(reply) => self.entered(&room, reply),
                    Err(e) => {
                        elog!(self.shared, WARN, room = %room, "unexpected enter reply: {e}");
                        lock(&self.shared.state).rooms.abort_enter(&room);
                    }
                },
                Err(CallError::Api(e)) => {
                    elog!(self.shared, WARN, room = %room, code = e.code, "re-entering failed: {}", e.message);
                    lock(&self.shared.state).rooms.remove(&room);
                    if e.code == code::ROOM_NOT_FOUND {
                        // Dismissed while this client was away (or, behind a list of nodes,
                        // unknown to the node reached): the user must learn the room is gone.
                        let (event, _) = room_event(&room, RoomEvent::Dismissed);
                        self.shared.emitter.emit(event);
                    }
                }
                Err(CallError::Stop(stop)) => return Err(stop),
            }
        }
        Ok(())
    }

    /// One request during the handshake: pushes that arrive meanwhile are handled normally.
    async fn call(&mut self, ws: &mut Ws, request: Request) -> Result<Value, CallError> {
        let id = self.shared.next_id();
        let text = encode(id, request).map_err(CallError::Api)?;
        send(ws, text).await.map_err(CallError::Stop)?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, ws.next()).await;
            let Ok(next) = next else {
                return Err(CallError::Stop(Stop::Lost(
                    "the server did not answer the handshake".into(),
                )));
            };
            match self.read(next).map_err(CallError::Stop)? {
                Some(ServerFrame::Reply { id: rid, data }) if rid == id => return Ok(data),
                Some(ServerFrame::Error {
                    id: Some(rid),
                    code,
                    message,
                }) if rid == id => return Err(CallError::Api(ApiError::new(code, message))),
                Some(frame) => self.on_frame(frame).map_err(CallError::Stop)?,
                None => {}
            }
        }
    }

    /// Serves an open, restored socket until it stops.
    async fn serve(&mut self, mut ws: Ws) -> Stop {
        while let Some(call) = self.queued.pop_front() {
            if let Err(stop) = self.write(&mut ws, call).await {
                return stop;
            }
        }
        let mut keepalive = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_rx = Instant::now();
        loop {
            tokio::select! {
                next = ws.next() => {
                    last_rx = Instant::now();
                    match self.read(next) {
                        Ok(Some(frame)) => {
                            if let Err(stop) = self.on_frame(frame) {
                                return stop;
                            }
                        }
                        Ok(None) => {}
                        Err(stop) => return stop,
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Call(call)) => {
                        if let Err(stop) = self.write(&mut ws, call).await {
                            return stop;
                        }
                    }
                    Some(Command::Shutdown(_)) | None => {
                        let _ = ws.close(None).await;
                        return Stop::Shutdown;
                    }
                },
                _ = keepalive.tick() => {
                    if last_rx.elapsed() > DEAD_AFTER {
                        return Stop::Lost(format!("no frame from the server for {} s", DEAD_AFTER.as_secs()));
                    }
                    self.forget_abandoned();
                    let id = self.shared.next_id();
                    if let Ok(text) = encode(id, Request::Ping) {
                        let sent = Instant::now();
                        self.pending.insert(id, Pending { effect: Effect::None, reply: None, sent });
                        if let Err(stop) = send(&mut ws, text).await {
                            return stop;
                        }
                    }
                }
            }
        }
    }

    /// Writes one call (unless its caller gave up), applying its effect's first half.
    async fn write(&mut self, ws: &mut Ws, call: Call) -> Result<(), Stop> {
        if call.reply.is_closed() {
            // The caller timed out while this waited for a socket: never send it late.
            return Ok(());
        }
        if self.pending.len() >= MAX_PENDING {
            self.forget_abandoned();
        }
        if self.pending.len() >= MAX_PENDING {
            let _ = call.reply.send(Err(error::network(format!(
                "{MAX_PENDING} requests are already waiting for the server's answer"
            ))));
            return Ok(());
        }
        let id = self.shared.next_id();
        let text = match encode(id, call.request) {
            Ok(text) => text,
            Err(e) => {
                let _ = call.reply.send(Err(e));
                return Ok(());
            }
        };
        match &call.effect {
            Effect::Enter { room } => lock(&self.shared.state).rooms.begin_enter(room),
            Effect::Exit { room } => {
                lock(&self.shared.state).rooms.remove(room);
            }
            _ => {}
        }
        self.pending.insert(
            id,
            Pending {
                effect: call.effect,
                reply: Some(call.reply),
                sent: Instant::now(),
            },
        );
        send(ws, text).await
    }

    /// Forgets the requests nobody waits for any more (their reply, should it come, is then
    /// ignored); an abandoned enter is aborted.
    fn forget_abandoned(&mut self) {
        let now = Instant::now();
        let abandoned: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.abandoned(now))
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            if let Some(Pending {
                effect: Effect::Enter { room },
                ..
            }) = self.pending.remove(&id)
            {
                lock(&self.shared.state).rooms.abort_enter(&room);
            }
        }
    }

    /// Reads one WebSocket message: a server frame, nothing of interest, or the end.
    fn read(
        &mut self,
        next: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<ServerFrame>, Stop> {
        match next {
            None => Err(Stop::Lost("the server closed the connection".into())),
            Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                Err(Stop::Lost(format!(
                    "protocol error: the server sent more than the engine accepts ({e}; at most {MAX_SERVER_FRAME} bytes per frame)"
                )))
            }
            Some(Err(e)) => Err(Stop::Lost(e.to_string())),
            Some(Ok(WsMessage::Text(text))) => {
                match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(frame) if text.len() <= push_limit(&frame) => {
                        Ok(Some(frame))
                    }
                    Ok(_) => {
                        if let Some(n) = self.trouble.oversized_pushes.hit(1) {
                            elog!(
                                self.shared,
                                WARN,
                                dropped = n,
                                "ignoring server pushes over {PUSH_FRAME_MAX} bytes"
                            );
                        }
                        Ok(None)
                    }
                    Err(e) => {
                        if let Some(n) = self.trouble.unreadable.hit(1) {
                            elog!(
                                self.shared,
                                WARN,
                                dropped = n,
                                "ignoring unreadable server frames: {e}"
                            );
                        }
                        Ok(None)
                    }
                }
            }
            Some(Ok(WsMessage::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                if code == close::KICKED {
                    Err(Stop::Kicked(KickReason::MultipleAccount))
                } else if close::should_reconnect(code) {
                    Err(Stop::Lost(format!(
                        "closed by the server ({code} {reason})"
                    )))
                } else {
                    Err(Stop::Fatal(error::network(format!(
                        "closed by the server ({code} {reason})"
                    ))))
                }
            }
            Some(Ok(_)) => Ok(None),
        }
    }

    /// Handles a frame that is not the reply a handshake step waits for.
    fn on_frame(&mut self, frame: ServerFrame) -> Result<(), Stop> {
        match frame {
            ServerFrame::Reply { id, data } => {
                if let Some(pending) = self.pending.remove(&id) {
                    self.complete(pending, Ok(data));
                }
            }
            ServerFrame::Error {
                id: Some(id),
                code,
                message,
            } => {
                if let Some(pending) = self.pending.remove(&id) {
                    self.complete(pending, Err(ApiError::new(code, message)));
                }
            }
            ServerFrame::Error {
                id: None,
                code,
                message,
            } => {
                if let Some(n) = self.trouble.server_errors.hit(1) {
                    elog!(
                        self.shared,
                        WARN,
                        code,
                        count = n,
                        "server error: {message}"
                    );
                }
            }
            ServerFrame::Messages { room, list } => {
                let list = self.sane(list);
                let events = {
                    let mut state = lock(&self.shared.state);
                    let mut fresh = match state.rooms.accept(&room, list) {
                        Ok(fresh) => fresh,
                        Err(full) => {
                            return Err(Stop::Lost(format!(
                                "protocol error: more than {} messages for room {} before its enter reply",
                                crate::rooms::ENTER_BUFFER_MAX,
                                full.room
                            )))
                        }
                    };
                    resolve_urls(&mut fresh, &self.shared.endpoints().http);
                    let me = state.session.as_ref().map(|s| s.user_id.as_str());
                    split_messages(&room, fresh, me, OwnMessages::Skip)
                };
                for event in events {
                    self.shared.emitter.emit(event);
                }
            }
            ServerFrame::Online { room, count } => {
                // The count is also pushed on entering, possibly before the enter reply.
                if lock(&self.shared.state).rooms.knows(&room) {
                    self.shared.emitter.emit(Event::in_room(
                        EventName::OnlineCount,
                        &room,
                        EventData::Count(count),
                    ));
                }
            }
            ServerFrame::RoomEvent { room, event } => {
                {
                    let mut state = lock(&self.shared.state);
                    if !state.rooms.knows(&room) {
                        return Ok(());
                    }
                    if let liveroom_proto::RoomEvent::MessageDeleted { message_id } = &event {
                        state.rooms.forget_message(&room, message_id);
                    }
                }
                let (event, leave) = room_event(&room, event);
                if leave {
                    // Kicked, banned or dismissed: not re-entered on reconnect.
                    lock(&self.shared.state).rooms.remove(&room);
                    elog!(self.shared, WARN, room = %room, "removed from the room: {}", event.name);
                }
                self.shared.emitter.emit(event);
            }
            ServerFrame::RoomStats { room, stats } => {
                if lock(&self.shared.state).rooms.knows(&room) {
                    self.shared.emitter.emit(Event::in_room(
                        EventName::RoomStats,
                        &room,
                        EventData::Object(room_stats_value(&stats)),
                    ));
                }
            }
            ServerFrame::Kicked { reason } => return Err(Stop::Kicked(reason)),
        }
        Ok(())
    }

    /// Applies a reply's effect on the session, then hands the reply to the caller.
    fn complete(&mut self, pending: Pending, mut result: Result<Value, ApiError>) {
        match (&pending.effect, &result) {
            (Effect::Login { user_id, user_sig }, Ok(data)) => {
                match serde_json::from_value::<LoginReply>(data.clone()) {
                    Ok(reply) => {
                        lock(&self.shared.state).session = Some(Session {
                            user_id: user_id.clone(),
                            user_sig: user_sig.clone(),
                            upload_token: reply.upload_token,
                        });
                        self.shared
                            .emitter
                            .emit(Event::new(EventName::ImReady, EventData::None));
                    }
                    Err(e) => result = Err(error::bad_reply("login", e)),
                }
            }
            (Effect::Logout, _) => self.shared.end_session(),
            (Effect::Enter { room }, Ok(data)) => {
                match serde_json::from_value::<EnterReply>(data.clone()) {
                    Ok(reply) => self.entered(room, reply),
                    Err(e) => {
                        lock(&self.shared.state).rooms.abort_enter(room);
                        result = Err(error::bad_reply("enter_room", e));
                    }
                }
            }
            (Effect::Enter { room }, Err(_)) => lock(&self.shared.state).rooms.abort_enter(room),
            _ => {}
        }
        if let Some(reply) = pending.reply {
            let _ = reply.send(result);
        }
    }

    /// Drops the messages over the size limits a conforming server keeps, with a logged count.
    fn sane(&mut self, list: Vec<liveroom_proto::Message>) -> Vec<liveroom_proto::Message> {
        let (list, dropped) = inbound::keep_sane(list);
        if dropped > 0 {
            if let Some(n) = self.trouble.oversized_messages.hit(dropped as u64) {
                elog!(
                    self.shared,
                    WARN,
                    dropped = n,
                    "ignoring server messages over {} bytes",
                    inbound::MESSAGE_WEIGHT_MAX
                );
            }
        }
        list
    }

    /// An enter succeeded: deliver the history and what overtook the reply.
    fn entered(&mut self, room: &str, reply: EnterReply) {
        // Messages deleted while this client was away: it may still show them.
        for message_id in &reply.deleted {
            let (event, _) = room_event(
                room,
                liveroom_proto::RoomEvent::MessageDeleted {
                    message_id: message_id.clone(),
                },
            );
            self.shared.emitter.emit(event);
        }
        if reply.skipped {
            let first_kept = reply
                .messages
                .first()
                .map_or(reply.last_sequence + 1, |m| m.sequence);
            self.shared.emitter.emit(Event::in_room(
                EventName::MessagesSkipped,
                room,
                EventData::Object(serde_json::json!({"roomID": room, "firstKept": first_kept})),
            ));
        }
        let history = self.sane(reply.messages);
        let events = {
            let mut state = lock(&self.shared.state);
            // A re-enter after a reconnect gap-fills what this client may have sent itself;
            // a first enter shows the user's earlier messages with everyone else's.
            let own = if state.rooms.contains(room) {
                OwnMessages::Skip
            } else {
                OwnMessages::Deliver
            };
            let mut fresh = state.rooms.finish_enter(room, history, reply.last_sequence);
            resolve_urls(&mut fresh, &self.shared.endpoints().http);
            let me = state.session.as_ref().map(|s| s.user_id.as_str());
            split_messages(room, fresh, me, own)
        };
        for event in events {
            self.shared.emitter.emit(event);
        }
    }

    /// Fails the requests in flight on the lost socket.
    fn fail_pending(&mut self, err: &ApiError) {
        for (_, pending) in self.pending.drain() {
            if let Effect::Enter { room } = &pending.effect {
                lock(&self.shared.state).rooms.abort_enter(room);
            }
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }

    /// The task ends: fail everything still waiting and refuse new commands (the handle
    /// then starts a new task for the next call).
    fn finish(&mut self, err: ApiError) {
        self.fail_pending(&err);
        self.commands.close();
        for call in self.queued.drain(..) {
            let _ = call.reply.send(Err(err.clone()));
        }
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Call(call) = command {
                let _ = call.reply.send(Err(err.clone()));
            }
        }
    }

    /// Sleeps `delay` before a reconnect, queueing the calls that arrive meanwhile. Returns
    /// false if the engine is shutting down.
    async fn wait_queueing(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                command = self.commands.recv() => match command {
                    Some(Command::Call(call)) => {
                        self.queued.retain(|c| !c.reply.is_closed());
                        self.queued.push_back(call);
                    }
                    Some(Command::Shutdown(_)) | None => return false,
                },
            }
        }
    }
}

/// Writes one frame, within [`WRITE_TIMEOUT`].
async fn send(ws: &mut Ws, text: String) -> Result<(), Stop> {
    match timeout(WRITE_TIMEOUT, ws.send(WsMessage::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Stop::Lost(e.to_string())),
        Err(_) => Err(Stop::Lost(format!(
            "the server took no frame for {} s",
            WRITE_TIMEOUT.as_secs()
        ))),
    }
}

/// The largest `frame` accepted (beyond [`MAX_SERVER_FRAME`]): replies (one caller takes
/// them), message batches (checked message by message) and kicks (they end the session) are
/// exempt; statistics have [`STATS_FRAME_MAX`]; other pushes [`PUSH_FRAME_MAX`].
fn push_limit(frame: &ServerFrame) -> usize {
    match frame {
        ServerFrame::Reply { .. }
        | ServerFrame::Error { id: Some(_), .. }
        | ServerFrame::Messages { .. }
        | ServerFrame::Kicked { .. } => usize::MAX,
        ServerFrame::RoomStats { .. } => STATS_FRAME_MAX,
        ServerFrame::Error { id: None, .. }
        | ServerFrame::Online { .. }
        | ServerFrame::RoomEvent { .. } => PUSH_FRAME_MAX,
    }
}

/// Encodes a request frame.
fn encode(id: u64, request: Request) -> Result<String, ApiError> {
    serde_json::to_string(&ClientFrame { id, request })
        .map_err(|e| ApiError::invalid(format!("cannot encode the request: {e}")))
}
