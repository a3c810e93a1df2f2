//! [`Im`]: the handle applications hold. Every method validates its input locally first
//! (same validators and codes as the server, so bad input fails fast and identically), then
//! goes through the connection task.

use std::sync::{Arc, Mutex};

use liveroom_proto::message::Flow;
use liveroom_proto::moderation as rules;
use liveroom_proto::{
    limits, ApiError, AuditEntry, BlockedWords, CreateRoomOptions, CustomPayload, EnterStatus,
    MemberStanding, Message, ModRequest, ModerationReply, Priority, Profile, Request, Restrictions,
    Role, RoomInfo, RoomSettings, RoomStats, SendReply, WordsAction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::connection::{self, Call, Command, Effect, REQUEST_TIMEOUT};
use crate::download::ServerImage;
use crate::endpoint::Servers;
use crate::error;
use crate::events::{Event, EventName, HandlerId};
use crate::lock;
use crate::shared::{NetState, Shared};
use crate::tls::TlsConfig;
use crate::upload::{self, ImageSource, ProgressFn, UploadTarget};

/// Result of [`Im::login`], as the seed's `imResponse.data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResult {
    /// True when this engine was already logged in as that user (nothing was sent).
    #[serde(rename = "repeatLogin")]
    pub repeat_login: bool,
}

/// Result of [`Im::enter_room`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterResult {
    /// `JoinedSuccess` or `AlreadyInGroup`.
    pub status: EnterStatus,
    /// The room.
    pub group: RoomInfo,
    /// Connections in the room, this one included.
    pub online: u64,
    /// This user's role in the room: which moderation tools to offer.
    pub role: Role,
    /// Mute-all and slow mode as they are now.
    pub settings: RoomSettings,
    /// When this user's mute ends (unix seconds), if muted now.
    pub muted_until: Option<i64>,
}

/// Changes for [`Im::edit_room`]; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRoomOptions {
    /// New name (1..=100 bytes).
    pub name: Option<String>,
    /// New notification (≤ 300 bytes).
    pub notification: Option<String>,
    /// New introduction (≤ 240 bytes).
    pub introduction: Option<String>,
    /// New avatar URL (≤ 100 bytes).
    pub avatar: Option<String>,
}

/// The IM engine: one SDKAppID, one server. Cheap to clone (an `Arc` inside); every clone
/// drives the same session. Dropping the last clone closes the socket.
#[derive(Clone)]
pub struct Im {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The running connection task, started on the first call that needs the server.
    conn: Mutex<Option<mpsc::UnboundedSender<Command>>>,
    /// Serializes login and logout, so a switch of user is never interleaved.
    session_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Im {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Im")
            .field("sdk_app_id", &self.inner.shared.sdk_app_id)
            .field("server", &self.inner.shared.endpoints().ws)
            .field("user", &self.user_id())
            .finish()
    }
}

impl Im {
    /// An engine for `sdk_app_id` on `server` (`ws://HOST:PORT`, `http://HOST:PORT`, or
    /// `wss://` / `https://` for a server behind TLS, with or without `/ws`). Nothing
    /// connects until a call needs it. SDKAppID 0 is refused (10004).
    ///
    /// `server` may also list the nodes of a cluster, comma-separated
    /// (`ws://10.0.0.1:9001, ws://10.0.0.2:9001`): the engine connects to one chosen at
    /// random, skips a node that refuses the connection, and after a lost connection
    /// reconnects to the next node (with the usual backoff), logging in again and re-entering
    /// its rooms from their last sequence. Uploads and downloads go to the node connected to.
    /// Each entry is checked like a single address; a bad or empty one is refused (10004)
    /// with its place in the list.
    pub fn new(sdk_app_id: u64, server: impl AsRef<str>) -> Result<Self, ApiError> {
        Self::with_tls(sdk_app_id, server, TlsConfig::default())
    }

    /// Like [`Im::new`], trusting `tls`'s roots for `wss://` and `https://` (e.g. a
    /// self-hosted server's own CA) besides the system's.
    pub fn with_tls(
        sdk_app_id: u64,
        server: impl AsRef<str>,
        tls: TlsConfig,
    ) -> Result<Self, ApiError> {
        if sdk_app_id == 0 {
            return Err(ApiError::invalid("SDKAppID is required (not 0)"));
        }
        let servers = Servers::parse(server.as_ref())?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared::new(sdk_app_id, servers, tls)),
                conn: Mutex::new(None),
                session_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The SDKAppID this engine is bound to.
    pub fn sdk_app_id(&self) -> u64 {
        self.inner.shared.sdk_app_id
    }

    /// Subscribes `handler` to `name`. Handlers run on the engine's task, in registration
    /// order; keep them short. A panicking handler is logged and the others still run.
    pub fn on<F>(&self, name: EventName, handler: F) -> HandlerId
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.inner.shared.emitter.on(name, Arc::new(handler))
    }

    /// Removes a handler; it is not called for any event emitted afterwards. Returns whether
    /// it was registered.
    pub fn off(&self, id: HandlerId) -> bool {
        self.inner.shared.emitter.off(id)
    }

    /// Every event from now on, as a stream. A receiver that falls more than 4096 events
    /// behind gets `RecvError::Lagged` and skips ahead.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.shared.emitter.subscribe()
    }

    /// The seed's log levels: 0 verbose, 1 release (default), 2 warnings, 3 errors, 4 silent.
    /// Applies to this engine's records, through `tracing`.
    pub fn set_log_level(&self, level: u8) {
        self.inner.shared.set_log_level(level);
    }

    /// Logs in. `repeat_login` is true (and nothing is sent) when already logged in as this
    /// user; logged in as someone else, it logs out first. Emits `t_im_ready`.
    pub async fn login(&self, user_id: &str, user_sig: &str) -> Result<LoginResult, ApiError> {
        limits::check_user_id(user_id)?;
        if user_sig.is_empty() {
            return Err(ApiError::new(
                liveroom_proto::code::USERSIG_MALFORMED,
                "userSig is empty",
            ));
        }
        let _guard = self.inner.session_lock.lock().await;
        match self.user_id() {
            Some(me) if me == user_id => return Ok(LoginResult { repeat_login: true }),
            Some(_) => self.logout_locked().await?,
            None => {}
        }
        let request = Request::Login {
            user_id: user_id.to_owned(),
            user_sig: user_sig.to_owned(),
        };
        let effect = Effect::Login {
            user_id: user_id.to_owned(),
            user_sig: user_sig.to_owned(),
        };
        self.call("login", request, effect).await?;
        Ok(LoginResult {
            repeat_login: false,
        })
    }

    /// Leaves every room and ends the login (the socket stays, as a guest's). Emits
    /// `t_im_not_ready`.
    pub async fn logout(&self) -> Result<(), ApiError> {
        let _guard = self.inner.session_lock.lock().await;
        self.logout_locked().await
    }

    async fn logout_locked(&self) -> Result<(), ApiError> {
        self.require_login()?;
        match self.call("logout", Request::Logout, Effect::Logout).await {
            Ok(_) => Ok(()),
            // The session is over locally either way; a dead socket ended it on the server.
            Err(e) if e.code == liveroom_proto::code::NETWORK => {
                self.inner.shared.end_session();
                Ok(())
            }
            Err(e) => {
                self.inner.shared.end_session();
                Err(e)
            }
        }
    }

    /// Creates a live room owned by the caller. Without `room_id` the server picks one
    /// starting with `@TGS#`.
    pub async fn create_room(&self, options: CreateRoomOptions) -> Result<RoomInfo, ApiError> {
        limits::check_room_name(&options.name)?;
        if let Some(room_id) = &options.room_id {
            limits::check_custom_room_id(room_id)?;
        }
        limits::check_len(
            "notification",
            &options.notification,
            limits::NOTIFICATION_MAX,
        )?;
        limits::check_len(
            "introduction",
            &options.introduction,
            limits::INTRODUCTION_MAX,
        )?;
        limits::check_len("avatar", &options.avatar, limits::AVATAR_MAX)?;
        self.require_login()?;
        self.call_as("create_room", Request::CreateRoom(options), Effect::None)
            .await
    }

    /// Enters a room, logged in or as a guest (who receives but cannot send). The room's
    /// recent history arrives as message events.
    pub async fn enter_room(&self, room_id: &str) -> Result<EnterResult, ApiError> {
        limits::check_room_id(room_id)?;
        let request = Request::EnterRoom {
            room_id: room_id.to_owned(),
            since: None,
        };
        let effect = Effect::Enter {
            room: room_id.to_owned(),
        };
        let reply: liveroom_proto::EnterReply = self.call_as("enter_room", request, effect).await?;
        Ok(EnterResult {
            status: reply.status,
            group: reply.group,
            online: reply.online,
            role: reply.role,
            settings: reply.settings,
            muted_until: reply.muted_until,
        })
    }

    /// Leaves a room; its messages stop at once.
    pub async fn exit_room(&self, room_id: &str) -> Result<(), ApiError> {
        limits::check_room_id(room_id)?;
        let request = Request::ExitRoom {
            room_id: room_id.to_owned(),
        };
        let effect = Effect::Exit {
            room: room_id.to_owned(),
        };
        self.call("exit_room", request, effect).await.map(|_| ())
    }

    /// Sets the nick and/or avatar (absent ones keep their value); every message the user
    /// sends afterwards carries them.
    pub async fn set_my_profile(
        &self,
        nick: Option<String>,
        avatar: Option<String>,
    ) -> Result<Profile, ApiError> {
        if let Some(nick) = &nick {
            limits::check_len("nick", nick, limits::NICK_MAX)?;
        }
        if let Some(avatar) = &avatar {
            limits::check_len("avatar", avatar, limits::AVATAR_MAX)?;
        }
        self.require_login()?;
        self.call_as(
            "set_profile",
            Request::SetProfile { nick, avatar },
            Effect::None,
        )
        .await
    }

    /// The caller's profile as stored by the server.
    pub async fn get_my_profile(&self) -> Result<Profile, ApiError> {
        self.require_login()?;
        self.call_as("get_profile", Request::GetProfile, Effect::None)
            .await
    }

    /// Sends a text; resolves the message as stored (`ID`, `sequence`, `time`).
    pub async fn send_text_message(
        &self,
        room_id: &str,
        text: &str,
        priority: Priority,
    ) -> Result<Message, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_text(text)?;
        self.require_sender(room_id)?;
        let request = Request::SendText {
            room_id: room_id.to_owned(),
            text: text.to_owned(),
            priority,
        };
        self.send("send_text", request).await
    }

    /// Sends a custom message (likes, gifts, any app-defined event).
    pub async fn send_custom_message(
        &self,
        room_id: &str,
        payload: CustomPayload,
        priority: Priority,
    ) -> Result<Message, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_message_size(
            payload.data.len() + payload.description.len() + payload.extension.len(),
        )?;
        self.require_sender(room_id)?;
        let request = Request::SendCustom {
            room_id: room_id.to_owned(),
            data: payload.data,
            description: payload.description,
            extension: payload.extension,
            priority,
        };
        self.send("send_custom", request).await
    }

    /// Uploads a picture (progress 0..1 through `on_progress`), then sends the image
    /// message. Not a JPG/PNG/GIF/BMP: 2252; over 20 MB: 2253.
    pub async fn send_image_message(
        &self,
        room_id: &str,
        image: ImageSource,
        priority: Priority,
        on_progress: Option<ProgressFn>,
    ) -> Result<Message, ApiError> {
        limits::check_room_id(room_id)?;
        self.require_sender(room_id)?;
        let bytes = upload::load(image).await?;
        upload::sniff_format(&bytes)?;
        let (path, token) = {
            let state = lock(&self.inner.shared.state);
            (
                state
                    .upload_path
                    .clone()
                    .unwrap_or_else(|| "/upload".into()),
                state
                    .session
                    .as_ref()
                    .map(|s| s.upload_token.clone())
                    .unwrap_or_default(),
            )
        };
        let target = UploadTarget {
            http: &self.inner.shared.endpoints().http,
            tls: &self.inner.shared.tls,
            path: &path,
            token: &token,
        };
        let uuid = upload::upload(target, bytes, on_progress).await?;
        let request = Request::SendImage {
            room_id: room_id.to_owned(),
            uuid,
            priority,
        };
        self.send("send_image", request).await
    }

    /// Downloads a picture to show, from this engine's room server and only from it: the
    /// server's stored pictures (`/images/...` as image messages name them, relative or
    /// absolute) as they are, and any other `http(s)` URL (an avatar or room avatar, chosen by
    /// a user) through the server's proxy `/external-image?url=...`, which fetches, checks and
    /// thumbnails it. Other URLs are refused (10004); the server's refusals come back with
    /// their codes (e.g. 10007 for an internal address). Uses the engine's trusted roots.
    /// Given a list of nodes, the picture comes from the node connected to, whichever node's
    /// absolute URL names it (every node of a cluster serves every picture).
    pub async fn fetch_image(&self, target: &str) -> Result<ServerImage, ApiError> {
        let shared = &self.inner.shared;
        shared
            .downloader
            .fetch(
                &shared.servers,
                &shared.endpoints().http,
                &shared.tls,
                target,
            )
            .await
    }

    /// Room owner only: tells every viewer the stream has ended; they get `t_push_stopped`
    /// with `postscript`. Sent with High priority, so never dropped.
    pub async fn stop_push(&self, room_id: &str, postscript: &str) -> Result<Message, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_message_size(postscript.len())?;
        self.require_sender(room_id)?;
        let request = Request::StopPush {
            room_id: room_id.to_owned(),
            postscript: postscript.to_owned(),
        };
        self.send("stop_push", request).await
    }

    /// Moderators (owner, admins, app administrators): mutes `user_id` in `room_id` for
    /// `seconds` (1 s to 14 days). Their sends get 10017; the room gets `t_muted`.
    pub async fn mute_member(
        &self,
        room_id: &str,
        user_id: &str,
        seconds: u64,
        reason: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        rules::check_mute_secs(seconds)?;
        rules::check_reason(reason)?;
        self.moderate(ModRequest::MuteMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            seconds,
            reason: reason.to_owned(),
        })
        .await
    }

    /// Moderators: lifts a mute; the room gets `t_muted` with `until` 0.
    pub async fn unmute_member(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        self.moderate(ModRequest::UnmuteMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
        })
        .await
    }

    /// Moderators: while on, only the owner and admins may speak (others get 10017). The
    /// room gets `t_room_settings_updated`.
    pub async fn set_mute_all(&self, room_id: &str, on: bool) -> Result<RoomSettings, ApiError> {
        limits::check_room_id(room_id)?;
        self.moderate(ModRequest::MuteAll {
            room_id: room_id.to_owned(),
            on,
        })
        .await
    }

    /// Moderators: removes `user_id` from the room (they get `t_kicked_from_room` and may
    /// enter again).
    pub async fn kick_member(
        &self,
        room_id: &str,
        user_id: &str,
        reason: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        rules::check_reason(reason)?;
        self.moderate(ModRequest::KickMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            reason: reason.to_owned(),
        })
        .await
    }

    /// Moderators: kicks `user_id` and refuses their return (10007) for `seconds`, or for good
    /// with `None`.
    pub async fn ban_member(
        &self,
        room_id: &str,
        user_id: &str,
        seconds: Option<u64>,
        reason: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        rules::check_ban_secs(seconds)?;
        rules::check_reason(reason)?;
        self.moderate(ModRequest::BanMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            seconds,
            reason: reason.to_owned(),
        })
        .await
    }

    /// Moderators: lifts a ban.
    pub async fn unban_member(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        self.moderate(ModRequest::UnbanMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
        })
        .await
    }

    /// Moderators: deletes a message (by its `ID`) from the room's history; every client in
    /// the room gets `t_message_deleted`, and nobody is served it again.
    pub async fn delete_message(
        &self,
        room_id: &str,
        message_id: &str,
        reason: &str,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        rules::check_reason(reason)?;
        if message_id.is_empty() {
            return Err(ApiError::invalid("message_id is empty"));
        }
        self.moderate(ModRequest::DeleteMessage {
            room_id: room_id.to_owned(),
            message_id: message_id.to_owned(),
            reason: reason.to_owned(),
        })
        .await
    }

    /// Moderators: at least `seconds` between one member's messages (0 turns it off; the
    /// owner and admins are exempt). Others get 10023 with the remaining wait.
    pub async fn set_slow_mode(
        &self,
        room_id: &str,
        seconds: u32,
    ) -> Result<RoomSettings, ApiError> {
        limits::check_room_id(room_id)?;
        rules::check_slow_mode(seconds)?;
        self.moderate(ModRequest::SetSlowMode {
            room_id: room_id.to_owned(),
            seconds,
        })
        .await
    }

    /// Room owner (or app administrator): appoints (`true`) or removes an admin.
    pub async fn set_admin(
        &self,
        room_id: &str,
        user_id: &str,
        admin: bool,
    ) -> Result<ModerationReply, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        self.moderate(ModRequest::SetAdmin {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            admin,
        })
        .await
    }

    /// Moderators: adds, removes or lists (`word` unused) the room's blocked words. A text
    /// containing one gets 80001 (case and full-/half-width folded).
    pub async fn blocked_words(
        &self,
        room_id: &str,
        action: WordsAction,
        word: Option<&str>,
    ) -> Result<BlockedWords, ApiError> {
        limits::check_room_id(room_id)?;
        let word = match action {
            WordsAction::List => None,
            _ => {
                let w = word.ok_or_else(|| ApiError::invalid("word is required"))?;
                rules::check_blocked_word(w)?;
                Some(w.to_owned())
            }
        };
        self.moderate(ModRequest::BlockedWords {
            room_id: room_id.to_owned(),
            action,
            word,
        })
        .await
    }

    /// Moderators: edits the room's profile; every client in it gets `t_room_profile_updated`.
    pub async fn edit_room(
        &self,
        room_id: &str,
        options: EditRoomOptions,
    ) -> Result<RoomInfo, ApiError> {
        limits::check_room_id(room_id)?;
        if let Some(n) = &options.name {
            limits::check_room_name(n)?;
        }
        if let Some(n) = &options.notification {
            limits::check_len("notification", n, limits::NOTIFICATION_MAX)?;
        }
        if let Some(i) = &options.introduction {
            limits::check_len("introduction", i, limits::INTRODUCTION_MAX)?;
        }
        if let Some(a) = &options.avatar {
            limits::check_len("avatar", a, limits::AVATAR_MAX)?;
        }
        self.moderate(ModRequest::EditRoom {
            room_id: room_id.to_owned(),
            name: options.name,
            notification: options.notification,
            introduction: options.introduction,
            avatar: options.avatar,
        })
        .await
    }

    /// Room owner: dismisses the room. Everyone in it gets `t_room_dismissed` and is removed;
    /// the room no longer exists (10010).
    pub async fn dismiss_room(&self, room_id: &str) -> Result<(), ApiError> {
        limits::check_room_id(room_id)?;
        self.require_login()?;
        let request = Request::Moderation(ModRequest::DismissRoom {
            room_id: room_id.to_owned(),
        });
        self.call("dismiss_room", request, Effect::None).await?;
        // The room is gone: never re-entered on reconnect (the `t_room_dismissed` push, if
        // this engine was in it, does the same).
        lock(&self.inner.shared.state).rooms.remove(room_id);
        Ok(())
    }

    /// Moderators: the room's audit log, newest first (at most `limit`, default 500).
    pub async fn get_audit_log(
        &self,
        room_id: &str,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>, ApiError> {
        limits::check_room_id(room_id)?;
        self.moderate(ModRequest::GetAuditLog {
            room_id: room_id.to_owned(),
            limit,
        })
        .await
    }

    /// Moderators: where `user_id` stands in the room (role, in the room, mute, ban), for a
    /// user card.
    pub async fn get_member(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<MemberStanding, ApiError> {
        limits::check_room_id(room_id)?;
        limits::check_user_id(user_id)?;
        self.moderate(ModRequest::GetMember {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
        })
        .await
    }

    /// Moderators: the room's admins and the members muted or banned now.
    pub async fn get_restrictions(&self, room_id: &str) -> Result<Restrictions, ApiError> {
        limits::check_room_id(room_id)?;
        self.moderate(ModRequest::GetRestrictions {
            room_id: room_id.to_owned(),
        })
        .await
    }

    /// Moderators (owner, admins, app administrators; others 10007): the room's statistics
    /// since its creation, as the server counts them (every node's in a cluster). Moderators
    /// in the room also get them every few seconds as `t_room_stats` (in the JS shape of
    /// [`crate::room_stats_value`]).
    pub async fn get_room_stats(&self, room_id: &str) -> Result<RoomStats, ApiError> {
        limits::check_room_id(room_id)?;
        self.require_login()?;
        let request = Request::GetRoomStats {
            room_id: room_id.to_owned(),
        };
        self.call_as(request.op(), request, Effect::None).await
    }

    async fn moderate<T: DeserializeOwned>(&self, request: ModRequest) -> Result<T, ApiError> {
        self.require_login()?;
        let request = Request::Moderation(request);
        self.call_as(request.op(), request, Effect::None).await
    }

    /// The connection's state.
    pub fn net_state(&self) -> NetState {
        lock(&self.inner.shared.state).net
    }

    /// The node of the server list this engine talks to (or will try next): its
    /// WebSocket URL (`ws://HOST:PORT/ws`).
    pub fn current_server(&self) -> String {
        self.inner.shared.endpoints().ws.clone()
    }

    /// The rooms this engine is in, sorted.
    pub fn joined_rooms(&self) -> Vec<String> {
        lock(&self.inner.shared.state).rooms.joined()
    }

    /// The logged-in user, if any.
    pub fn user_id(&self) -> Option<String> {
        self.inner.shared.me()
    }

    /// Closes the socket and stops the background task. Calls made afterwards start a new
    /// connection (with no login and no rooms).
    pub async fn shutdown(&self) {
        let sender = lock(&self.inner.conn).take();
        {
            let mut state = lock(&self.inner.shared.state);
            state.session = None;
            state.rooms.clear();
        }
        if let Some(sender) = sender {
            let (done, finished) = oneshot::channel();
            if sender.send(Command::Shutdown(done)).is_ok() {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, finished).await;
            }
        }
    }

    fn require_login(&self) -> Result<(), ApiError> {
        match self.user_id() {
            Some(_) => Ok(()),
            None => Err(error::not_logged_in()),
        }
    }

    /// Sending needs a login and the room.
    fn require_sender(&self, room_id: &str) -> Result<(), ApiError> {
        let state = lock(&self.inner.shared.state);
        if state.session.is_none() {
            return Err(error::not_logged_in());
        }
        if !state.rooms.contains(room_id) {
            return Err(error::not_in_room(room_id));
        }
        Ok(())
    }

    async fn send(&self, what: &'static str, request: Request) -> Result<Message, ApiError> {
        let reply: SendReply = self.call_as(what, request, Effect::None).await?;
        let mut message = reply.message;
        message.flow = Flow::Out;
        upload::resolve_urls(
            std::slice::from_mut(&mut message),
            &self.inner.shared.endpoints().http,
        );
        Ok(message)
    }

    async fn call_as<T: DeserializeOwned>(
        &self,
        what: &'static str,
        request: Request,
        effect: Effect,
    ) -> Result<T, ApiError> {
        let value = self.call(what, request, effect).await?;
        serde_json::from_value(value).map_err(|e| error::bad_reply(what, e))
    }

    /// Hands a request to the connection task (starting one if none runs) and waits for its
    /// reply, at most [`REQUEST_TIMEOUT`] (then 2801).
    async fn call(
        &self,
        what: &'static str,
        request: Request,
        effect: Effect,
    ) -> Result<Value, ApiError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Call(Call {
            request,
            effect,
            reply,
        });
        {
            let mut conn = lock(&self.inner.conn);
            let unsent = match conn.as_ref() {
                Some(sender) => sender.send(command).err().map(|e| e.0),
                None => Some(command),
            };
            // No task, or it has ended (kicked, refused, shut down): start a new one.
            if let Some(command) = unsent {
                *conn = Some(connection::spawn(Arc::clone(&self.inner.shared), command));
            }
        }
        self.wait(what, answer).await
    }

    async fn wait(
        &self,
        what: &'static str,
        answer: oneshot::Receiver<Result<Value, ApiError>>,
    ) -> Result<Value, ApiError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
            Err(_) => Err(error::timeout(what, REQUEST_TIMEOUT.as_secs())),
            Ok(Err(_)) => Err(error::network(format!(
                "{what}: the connection closed before the reply"
            ))),
            Ok(Ok(result)) => result,
        }
    }
}
