//! Frames on the WebSocket (`GET /ws`): client requests and server replies and pushes.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::message::{Message, Priority};
use crate::moderation::{Role, RoomEvent, RoomSettings, WordsAction};
use crate::stats::RoomStats;

/// WebSocket close codes the server uses. 4000–4099 are terminal: the engine must not
/// reconnect after them. Others (1001 going away, 1006 abnormal, 4100–4199) mean "reconnect".
pub mod close {
    /// Kicked (another login, expired UserSig); a `kicked` frame came first.
    pub const KICKED: u16 = 4001;
    /// The client broke the protocol (e.g. binary frames, frames over the size limit).
    pub const PROTOCOL: u16 = 4002;
    /// The client did not read fast enough; its backlog overflowed. Reconnect and recover.
    pub const SLOW_CONSUMER: u16 = 4108;
    /// The server is shutting down. Reconnect later.
    pub const GOING_AWAY: u16 = 1001;

    /// Whether the engine should reconnect after a close with this code.
    pub fn should_reconnect(code: u16) -> bool {
        !(4000..4100).contains(&code)
    }
}

/// A client request: `{"id": 7, "op": "send_text", ...}`. The reply carries the same `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Chosen by the client, echoed in the reply.
    pub id: u64,
    /// The operation and its arguments.
    #[serde(flatten)]
    pub request: Request,
}

/// Every operation a client can ask for. Field names are snake_case on the wire.
///
/// Serialized and read through serde's derive (`remote = "Self"`), except that
/// [`Request::Moderation`] is read and written as its [`ModRequest`], whose `op` is its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// First frame of a connection: binds it to one SDKAppID. Reply: [`HelloReply`].
    Hello {
        /// The app; unknown → 70020.
        sdk_app_id: u64,
    },
    /// Log in with a UserSig. Reply: [`LoginReply`].
    Login {
        /// userID, ≤ 32 bytes of `[A-Za-z0-9_-]`.
        user_id: String,
        /// The UserSig (SPEC §4).
        user_sig: String,
    },
    /// Leave all rooms and end the login; the connection stays open as a guest. Reply: `{}`.
    Logout,
    /// Create a room owned by the caller. Reply: [`RoomInfo`].
    CreateRoom(CreateRoomOptions),
    /// Enter a room (guests too). Reply: [`EnterReply`].
    EnterRoom {
        /// The room.
        room_id: String,
        /// Last sequence the client has seen: history after it is returned (gap fill).
        /// `None`: the room's recent history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Leave a room. Reply: `{"groupID": ...}`.
    ExitRoom {
        /// The room.
        room_id: String,
    },
    /// Set the caller's profile; absent fields keep their value. Reply: [`Profile`].
    SetProfile {
        /// New nick, ≤ 500 bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nick: Option<String>,
        /// New avatar URL, ≤ 100 bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar: Option<String>,
    },
    /// The caller's profile. Reply: [`Profile`].
    GetProfile,
    /// Send a text. Reply: [`SendReply`].
    SendText {
        /// The room.
        room_id: String,
        /// ≤ 8 KB.
        text: String,
        /// Default Normal.
        #[serde(default)]
        priority: Priority,
    },
    /// Send a custom message (likes, gifts, ...). Reply: [`SendReply`].
    SendCustom {
        /// The room.
        room_id: String,
        /// App data.
        #[serde(default)]
        data: String,
        /// App description.
        #[serde(default)]
        description: String,
        /// App extension.
        #[serde(default)]
        extension: String,
        /// Default Normal.
        #[serde(default)]
        priority: Priority,
    },
    /// Send a picture uploaded before over HTTP. Reply: [`SendReply`].
    SendImage {
        /// The room.
        room_id: String,
        /// The `uuid` the upload returned.
        uuid: String,
        /// Default Normal.
        #[serde(default)]
        priority: Priority,
    },
    /// Owner only: end the stream; viewers get `t_push_stopped`. Reply: [`SendReply`].
    StopPush {
        /// The room.
        room_id: String,
        /// Shown to viewers.
        #[serde(default)]
        postscript: String,
    },
    /// Keep-alive. Reply: `{}`.
    Ping,
    /// Moderators (owner, admins, app administrators; others 10007): the room's statistics
    /// since its creation, counted by the server. Reply: [`RoomStats`]; moderators in the
    /// room also get them pushed ([`ServerFrame::RoomStats`]).
    GetRoomStats {
        /// The room.
        room_id: String,
    },
    /// A moderation request (owner, admins, app administrators): its own `op`s, on the same
    /// wire as the others (`{"id":N,"op":"mute_member",...}`).
    #[serde(skip)]
    Moderation(ModRequest),
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Its own tag, so no `"op":"moderation"` wrapper.
            Self::Moderation(m) => m.serialize(s),
            other => Self::serialize(other, s),
        }
    }
}

impl<'de> Deserialize<'de> for Request {
    /// The frame is read once as a JSON object; its `op` says which enum reads the fields,
    /// so each keeps serde's own messages ("missing field `text`", "unknown variant").
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let moderation = value
            .get("op")
            .is_some_and(|op| ModOp::deserialize(op).is_ok());
        if moderation {
            ModRequest::deserialize(value)
                .map(Self::Moderation)
                .map_err(D::Error::custom)
        } else {
            Self::deserialize(value).map_err(D::Error::custom)
        }
    }
}

impl Request {
    /// The snake_case op name, as on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Login { .. } => "login",
            Self::Logout => "logout",
            Self::CreateRoom(_) => "create_room",
            Self::EnterRoom { .. } => "enter_room",
            Self::ExitRoom { .. } => "exit_room",
            Self::SetProfile { .. } => "set_profile",
            Self::GetProfile => "get_profile",
            Self::SendText { .. } => "send_text",
            Self::SendCustom { .. } => "send_custom",
            Self::SendImage { .. } => "send_image",
            Self::StopPush { .. } => "stop_push",
            Self::Ping => "ping",
            Self::GetRoomStats { .. } => "get_room_stats",
            Self::Moderation(m) => m.op().as_str(),
        }
    }
}

/// The moderation requests: owner, admins and app administrators (see
/// [`ModRequest::required_role`]); others get 10007. Field names are snake_case on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModRequest {
    /// Moderators: mute a member for `seconds` (1 s to 14 days). Reply: `ModerationReply`.
    MuteMember {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
        /// How long.
        seconds: u64,
        /// Shown to the member and kept in the audit log.
        #[serde(default)]
        reason: String,
    },
    /// Moderators: lift a member's mute. Reply: `ModerationReply`.
    UnmuteMember {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
    },
    /// Moderators: only the owner and admins may speak while on. Reply: `RoomSettings`.
    MuteAll {
        /// The room.
        room_id: String,
        /// On or off.
        on: bool,
    },
    /// Moderators: remove a member from the room (they may come back). Reply: `ModerationReply`.
    KickMember {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
        /// Shown to the member.
        #[serde(default)]
        reason: String,
    },
    /// Moderators: kick a member and refuse their return for `seconds`, or for good without.
    /// Reply: `ModerationReply`.
    BanMember {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
        /// How long; absent: for good.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        /// Shown to the member.
        #[serde(default)]
        reason: String,
    },
    /// Moderators: lift a ban. Reply: `ModerationReply`.
    UnbanMember {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
    },
    /// Moderators: delete a message from the history and from every client's view.
    /// Reply: `ModerationReply`.
    DeleteMessage {
        /// The room.
        room_id: String,
        /// The message's `ID`.
        message_id: String,
        /// Kept in the audit log.
        #[serde(default)]
        reason: String,
    },
    /// Moderators: at least `seconds` between one member's messages (0: off).
    /// Reply: `RoomSettings`.
    SetSlowMode {
        /// The room.
        room_id: String,
        /// Seconds, 0 to 86400.
        seconds: u32,
    },
    /// Room owner (or app administrator): appoint or remove an admin. Reply: `ModerationReply`.
    SetAdmin {
        /// The room.
        room_id: String,
        /// The member.
        user_id: String,
        /// Appoint (true) or remove (false).
        admin: bool,
    },
    /// Moderators: add, remove or list the room's blocked words. Reply: `BlockedWords`.
    BlockedWords {
        /// The room.
        room_id: String,
        /// What to do.
        action: WordsAction,
        /// The word (add and remove).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        word: Option<String>,
    },
    /// Moderators: change the room's profile; absent fields keep their value. Reply: `RoomInfo`.
    EditRoom {
        /// The room.
        room_id: String,
        /// New name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New notification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notification: Option<String>,
        /// New introduction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        introduction: Option<String>,
        /// New avatar URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar: Option<String>,
    },
    /// Room owner: hand the room to another user, who becomes its owner (the caller is then
    /// a member). Reply: `RoomInfo` (the room gets `profile_updated`).
    ChangeOwner {
        /// The room.
        room_id: String,
        /// The new owner.
        user_id: String,
    },
    /// Room owner: dismiss the room; everyone is removed and the room is gone.
    /// Reply: `{"groupID": ...}`.
    DismissRoom {
        /// The room.
        room_id: String,
    },
    /// Moderators: the room's audit log, newest first. Reply: array of `AuditEntry`.
    GetAuditLog {
        /// The room.
        room_id: String,
        /// At most this many entries (default and cap 500).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Moderators: where a user stands in the room (role, mute, ban, present), for a user
    /// card. Reply: `MemberStanding`.
    GetMember {
        /// The room.
        room_id: String,
        /// The user.
        user_id: String,
    },
    /// Moderators: the room's admins and the members muted or banned now, for the room's
    /// Manage panel. Reply: `Restrictions`.
    GetRestrictions {
        /// The room.
        room_id: String,
    },
}

impl ModRequest {
    /// Which request this is.
    pub fn op(&self) -> ModOp {
        match self {
            Self::MuteMember { .. } => ModOp::MuteMember,
            Self::UnmuteMember { .. } => ModOp::UnmuteMember,
            Self::MuteAll { .. } => ModOp::MuteAll,
            Self::KickMember { .. } => ModOp::KickMember,
            Self::BanMember { .. } => ModOp::BanMember,
            Self::UnbanMember { .. } => ModOp::UnbanMember,
            Self::DeleteMessage { .. } => ModOp::DeleteMessage,
            Self::SetSlowMode { .. } => ModOp::SetSlowMode,
            Self::SetAdmin { .. } => ModOp::SetAdmin,
            Self::BlockedWords { .. } => ModOp::BlockedWords,
            Self::EditRoom { .. } => ModOp::EditRoom,
            Self::ChangeOwner { .. } => ModOp::ChangeOwner,
            Self::DismissRoom { .. } => ModOp::DismissRoom,
            Self::GetAuditLog { .. } => ModOp::GetAuditLog,
            Self::GetMember { .. } => ModOp::GetMember,
            Self::GetRestrictions { .. } => ModOp::GetRestrictions,
        }
    }

    /// The room the request is about.
    pub fn room_id(&self) -> &str {
        match self {
            Self::MuteMember { room_id, .. }
            | Self::UnmuteMember { room_id, .. }
            | Self::MuteAll { room_id, .. }
            | Self::KickMember { room_id, .. }
            | Self::BanMember { room_id, .. }
            | Self::UnbanMember { room_id, .. }
            | Self::DeleteMessage { room_id, .. }
            | Self::SetSlowMode { room_id, .. }
            | Self::SetAdmin { room_id, .. }
            | Self::BlockedWords { room_id, .. }
            | Self::EditRoom { room_id, .. }
            | Self::ChangeOwner { room_id, .. }
            | Self::DismissRoom { room_id }
            | Self::GetAuditLog { room_id, .. }
            | Self::GetMember { room_id, .. }
            | Self::GetRestrictions { room_id } => room_id,
        }
    }

    /// The least role that may make this request (the server checks it; clients use it to
    /// offer the right tools).
    pub fn required_role(&self) -> Role {
        self.op().required_role()
    }
}

/// The `op` of a [`ModRequest`], without its arguments: its wire name, who may make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModOp {
    /// `mute_member`
    MuteMember,
    /// `unmute_member`
    UnmuteMember,
    /// `mute_all`
    MuteAll,
    /// `kick_member`
    KickMember,
    /// `ban_member`
    BanMember,
    /// `unban_member`
    UnbanMember,
    /// `delete_message`
    DeleteMessage,
    /// `set_slow_mode`
    SetSlowMode,
    /// `set_admin`
    SetAdmin,
    /// `blocked_words`
    BlockedWords,
    /// `edit_room`
    EditRoom,
    /// `change_owner`
    ChangeOwner,
    /// `dismiss_room`
    DismissRoom,
    /// `get_audit_log`
    GetAuditLog,
    /// `get_member`
    GetMember,
    /// `get_restrictions`
    GetRestrictions,
}

impl ModOp {
    /// The snake_case op name, as on the wire (and in the audit log's `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MuteMember => "mute_member",
            Self::UnmuteMember => "unmute_member",
            Self::MuteAll => "mute_all",
            Self::KickMember => "kick_member",
            Self::BanMember => "ban_member",
            Self::UnbanMember => "unban_member",
            Self::DeleteMessage => "delete_message",
            Self::SetSlowMode => "set_slow_mode",
            Self::SetAdmin => "set_admin",
            Self::BlockedWords => "blocked_words",
            Self::EditRoom => "edit_room",
            Self::ChangeOwner => "change_owner",
            Self::DismissRoom => "dismiss_room",
            Self::GetAuditLog => "get_audit_log",
            Self::GetMember => "get_member",
            Self::GetRestrictions => "get_restrictions",
        }
    }

    /// The least role that may make this request: dismissing and handing the room over are
    /// the owner's, appointing admins the owner's and app administrators', the rest every
    /// moderator's.
    pub fn required_role(self) -> Role {
        match self {
            Self::DismissRoom | Self::ChangeOwner => Role::Owner,
            Self::SetAdmin => Role::AppAdmin,
            Self::MuteMember
            | Self::UnmuteMember
            | Self::MuteAll
            | Self::KickMember
            | Self::BanMember
            | Self::UnbanMember
            | Self::DeleteMessage
            | Self::SetSlowMode
            | Self::BlockedWords
            | Self::EditRoom
            | Self::GetAuditLog
            | Self::GetMember
            | Self::GetRestrictions => Role::Admin,
        }
    }
}

/// The JSON kind a request field must have, to name the field a bad frame got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-negative integer.
    Number,
    /// A string.
    String,
    /// `true` or `false`.
    Bool,
}

/// The kind of request field `name` (the same name has the same kind in every op); `None`
/// for names no request has (serde ignores them).
pub fn field_kind(name: &str) -> Option<FieldKind> {
    match name {
        "sdk_app_id" | "since" | "seconds" | "limit" => Some(FieldKind::Number),
        "user_id" | "user_sig" | "room_id" | "name" | "notification" | "introduction"
        | "avatar" | "nick" | "text" | "data" | "description" | "extension" | "uuid"
        | "postscript" | "priority" | "reason" | "message_id" | "word" | "action" => {
            Some(FieldKind::String)
        }
        "on" | "admin" => Some(FieldKind::Bool),
        _ => None,
    }
}

/// Options of `createRoom`, as the seed names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomOptions {
    /// Room name, required, ≤ 100 bytes.
    pub name: String,
    /// Custom room ID; without one the server picks `@TGS#...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// ≤ 300 bytes.
    #[serde(default)]
    pub notification: String,
    /// ≤ 240 bytes.
    #[serde(default)]
    pub introduction: String,
    /// URL, ≤ 100 bytes.
    #[serde(default)]
    pub avatar: String,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Success of request `id`.
    Reply {
        /// The request's id.
        id: u64,
        /// Operation-specific result.
        data: serde_json::Value,
    },
    /// Failure of request `id` (or of the connection, when `id` is absent).
    Error {
        /// The request's id, if the frame could be read far enough to find it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// SPEC §5 code.
        code: u32,
        /// What went wrong.
        message: String,
    },
    /// Messages of one room, in sequence order.
    Messages {
        /// The room.
        room: String,
        /// One or more messages.
        list: Vec<Message>,
    },
    /// The room's online count (sent every 10 s, and on entering).
    Online {
        /// The room.
        room: String,
        /// Connections in the room.
        count: u64,
    },
    /// A moderation event of a room (deleted message, mute, kick, profile, settings, dismiss).
    RoomEvent {
        /// The room.
        room: String,
        /// What happened.
        event: RoomEvent,
    },
    /// A room's statistics, pushed every `--room-stats-every` seconds to the room's
    /// moderators in it (the same [`RoomStats`] as `get_room_stats`' reply).
    RoomStats {
        /// The room.
        room: String,
        /// Its numbers.
        stats: RoomStats,
    },
    /// This session is ended; the socket closes with [`close::KICKED`] next.
    Kicked {
        /// Why.
        reason: KickReason,
    },
}

impl ServerFrame {
    /// The JSON prefix of a `messages` frame for `room`; the server appends encoded messages
    /// separated by commas and closes with [`MESSAGES_FRAME_SUFFIX`]. Encoding once per room
    /// and concatenating keeps fan-out free of per-viewer serialization.
    pub fn messages_frame_prefix(room: &str) -> String {
        let room = serde_json::to_string(room).unwrap_or_else(|_| "\"\"".to_owned());
        format!("{{\"t\":\"messages\",\"room\":{room},\"list\":[")
    }
}

/// Closes a frame begun with [`ServerFrame::messages_frame_prefix`].
pub const MESSAGES_FRAME_SUFFIX: &str = "]}";

/// Why a session was kicked, as the seed's `TWebLive.TYPES` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KickReason {
    /// Another login of the same user and SDKAppID.
    MultipleAccount,
    /// Another device of the same user.
    MultipleDevice,
    /// The UserSig expired.
    UserSigExpired,
    /// The app's backend kicked the user (REST `im_open_login_svc/kick`); UserSigs issued
    /// before it are refused. TIM's `TYPES.KICKED_OUT_REST_API`.
    #[serde(rename = "REST_API_Kick")]
    RestApi,
}

impl KickReason {
    /// The seed's string (TIM's for [`KickReason::RestApi`], which the seed does not have).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultipleAccount => "multipleAccount",
            Self::MultipleDevice => "multipleDevice",
            Self::UserSigExpired => "userSigExpired",
            Self::RestApi => "REST_API_Kick",
        }
    }
}

/// Reply to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// Server version.
    pub server: String,
    /// Server clock, unix seconds.
    pub time: i64,
    /// Where pictures are uploaded (`POST`), relative to the server's HTTP root.
    pub upload_path: String,
}

/// Reply to `login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    /// The logged-in user.
    pub user_id: String,
    /// The stored profile.
    pub profile: Profile,
    /// When the UserSig expires (unix seconds); the session is kicked then.
    pub expires_at: i64,
    /// Bearer token for HTTP uploads on behalf of this session.
    pub upload_token: String,
}

/// A user's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user.
    #[serde(rename = "userID", default)]
    pub user_id: String,
    /// Display name.
    #[serde(default)]
    pub nick: String,
    /// Avatar URL.
    #[serde(default)]
    pub avatar: String,
}

/// A room, shaped like TIM's group profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// Room ID.
    #[serde(rename = "groupID")]
    pub group_id: String,
    /// Always `AVChatRoom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Room name.
    pub name: String,
    /// Owner's userID.
    #[serde(rename = "ownerID")]
    pub owner_id: String,
    /// Notice shown in the room header.
    pub notification: String,
    /// Introduction.
    pub introduction: String,
    /// Avatar URL.
    pub avatar: String,
    /// Unix seconds.
    #[serde(rename = "createTime")]
    pub create_time: i64,
    /// Whether the host has stopped the stream.
    #[serde(rename = "pushStopped", default)]
    pub push_stopped: bool,
    /// The stop-push postscript, when stopped.
    #[serde(default)]
    pub postscript: String,
}

/// Whether `enterRoom` joined or found the caller already in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnterStatus {
    /// Newly joined.
    JoinedSuccess,
    /// Was already in the room.
    AlreadyInGroup,
}

/// Reply to `enter_room`. `M` is how the history's messages are carried: [`Message`] when
/// read, their pre-encoded JSON (e.g. `serde_json::value::RawValue`) when the server writes
/// them, so the history is never serialized again per joiner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterReply<M = Message> {
    /// Joined, or already in.
    pub status: EnterStatus,
    /// The room.
    pub group: RoomInfo,
    /// Connections in the room, this one included.
    pub online: u64,
    /// History after `since` (or the recent history), oldest first.
    pub messages: Vec<M>,
    /// The room's latest sequence at the time of entering.
    pub last_sequence: u64,
    /// On a re-enter (`since` given): IDs of messages up to `since` deleted since then (the
    /// client may still show them). Kept in memory for the room's recent deletions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// The caller's role in the room (which tools the client offers).
    #[serde(default)]
    pub role: Role,
    /// Mute-all and slow mode as they are now.
    #[serde(default)]
    pub settings: RoomSettings,
    /// When the caller's mute ends (unix seconds), if muted now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
    /// On a re-enter: messages after `since` fell out of the kept history (the gap is older
    /// than what the room keeps), so `messages` is not all that was missed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// A reply frame as the server writes it: [`ServerFrame::Reply`] with typed `data`, encoded
/// in one go (the same bytes: `{"t":"reply","id":N,"data":...}`).
#[derive(Debug, Clone, Serialize)]
pub struct ReplyFrame<T> {
    t: ReplyTag,
    /// The request's id.
    pub id: u64,
    /// The reply.
    pub data: T,
}

impl<T> ReplyFrame<T> {
    /// The reply `data` to request `id`.
    pub fn new(id: u64, data: T) -> Self {
        Self {
            t: ReplyTag::Reply,
            id,
            data,
        }
    }
}

/// The `t` of a reply frame.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum ReplyTag {
    Reply,
}

/// Reply to the requests that only succeed or fail (`logout`, `ping`): `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// Reply to `exit_room` and `dismiss_room`: the room concerned, `{"groupID": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRef {
    /// The room.
    #[serde(rename = "groupID")]
    pub group_id: String,
}

/// Reply to the send operations: the message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendReply {
    /// The sent message, with its server-assigned `ID`, `sequence` and `time`.
    pub message: Message,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape() {
        let f: ClientFrame = serde_json::from_str(
            r#"{"id":3,"op":"send_text","room_id":"r","text":"hi","priority":"Low"}"#,
        )
        .unwrap();
        assert_eq!(
            f.request,
            Request::SendText {
                room_id: "r".into(),
                text: "hi".into(),
                priority: Priority::Low
            }
        );
        let f: ClientFrame = serde_json::from_str(r#"{"id":4,"op":"logout"}"#).unwrap();
        assert_eq!(f.request, Request::Logout);
        assert!(serde_json::from_str::<ClientFrame>(r#"{"id":5,"op":"explode"}"#).is_err());
    }

    /// One request of every op, every optional field set.
    fn every_request() -> Vec<Request> {
        let room = || "r".to_owned();
        let user = || "u".to_owned();
        let text = || "t".to_owned();
        let plain = [
            Request::Hello { sdk_app_id: 1 },
            Request::Login {
                user_id: user(),
                user_sig: text(),
            },
            Request::Logout,
            Request::CreateRoom(CreateRoomOptions {
                name: text(),
                room_id: Some(room()),
                notification: text(),
                introduction: text(),
                avatar: text(),
            }),
            Request::EnterRoom {
                room_id: room(),
                since: Some(3),
            },
            Request::ExitRoom { room_id: room() },
            Request::SetProfile {
                nick: Some(text()),
                avatar: Some(text()),
            },
            Request::GetProfile,
            Request::SendText {
                room_id: room(),
                text: text(),
                priority: Priority::Low,
            },
            Request::SendCustom {
                room_id: room(),
                data: text(),
                description: text(),
                extension: text(),
                priority: Priority::High,
            },
            Request::SendImage {
                room_id: room(),
                uuid: text(),
                priority: Priority::Normal,
            },
            Request::StopPush {
                room_id: room(),
                postscript: text(),
            },
            Request::Ping,
            Request::GetRoomStats { room_id: room() },
        ];
        let moderation = [
            ModRequest::MuteMember {
                room_id: room(),
                user_id: user(),
                seconds: 60,
                reason: text(),
            },
            ModRequest::UnmuteMember {
                room_id: room(),
                user_id: user(),
            },
            ModRequest::MuteAll {
                room_id: room(),
                on: true,
            },
            ModRequest::KickMember {
                room_id: room(),
                user_id: user(),
                reason: text(),
            },
            ModRequest::BanMember {
                room_id: room(),
                user_id: user(),
                seconds: Some(60),
                reason: text(),
            },
            ModRequest::UnbanMember {
                room_id: room(),
                user_id: user(),
            },
            ModRequest::DeleteMessage {
                room_id: room(),
                message_id: text(),
                reason: text(),
            },
            ModRequest::SetSlowMode {
                room_id: room(),
                seconds: 5,
            },
            ModRequest::SetAdmin {
                room_id: room(),
                user_id: user(),
                admin: true,
            },
            ModRequest::BlockedWords {
                room_id: room(),
                action: WordsAction::Add,
                word: Some(text()),
            },
            ModRequest::EditRoom {
                room_id: room(),
                name: Some(text()),
                notification: Some(text()),
                introduction: Some(text()),
                avatar: Some(text()),
            },
            ModRequest::ChangeOwner {
                room_id: room(),
                user_id: user(),
            },
            ModRequest::DismissRoom { room_id: room() },
            ModRequest::GetAuditLog {
                room_id: room(),
                limit: Some(5),
            },
            ModRequest::GetMember {
                room_id: room(),
                user_id: user(),
            },
            ModRequest::GetRestrictions { room_id: room() },
        ];
        plain
            .into_iter()
            .chain(moderation.into_iter().map(Request::Moderation))
            .collect()
    }

    #[test]
    fn every_request_round_trips_with_its_op_on_the_wire() {
        for (i, request) in every_request().into_iter().enumerate() {
            let frame = ClientFrame {
                id: i as u64,
                request,
            };
            let wire = serde_json::to_value(&frame).unwrap();
            assert_eq!(wire["op"], frame.request.op(), "{wire}");
            assert_eq!(wire["id"], i as u64);
            let text = serde_json::to_string(&frame).unwrap();
            assert!(!text.contains("moderation"), "no wrapper: {text}");
            let back: ClientFrame = serde_json::from_str(&text).unwrap();
            assert_eq!(back, frame);
        }
    }

    #[test]
    fn moderation_ops_are_named_and_ranked() {
        for request in every_request() {
            let Request::Moderation(m) = request else {
                continue;
            };
            let op = m.op();
            assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
            assert_eq!(m.room_id(), "r");
            let expected = match op.as_str() {
                "dismiss_room" | "change_owner" => Role::Owner,
                "set_admin" => Role::AppAdmin,
                _ => Role::Admin,
            };
            assert_eq!(m.required_role(), expected, "{op:?}");
        }
    }

    #[test]
    fn every_field_has_its_kind() {
        for request in every_request() {
            let wire = serde_json::to_value(&request).unwrap();
            for (name, value) in wire.as_object().unwrap() {
                if name == "op" {
                    continue;
                }
                let kind = match value {
                    serde_json::Value::Number(_) => FieldKind::Number,
                    serde_json::Value::String(_) => FieldKind::String,
                    serde_json::Value::Bool(_) => FieldKind::Bool,
                    other => panic!("{name}: {other}"),
                };
                assert_eq!(field_kind(name), Some(kind), "{} {name}", request.op());
            }
        }
    }

    #[test]
    fn bad_requests_keep_serdes_own_message() {
        let err = |text: &str| serde_json::from_str::<ClientFrame>(text).unwrap_err();
        let e = err(r#"{"id":1,"op":"send_text","room_id":"r"}"#);
        assert!(e.to_string().contains("missing field `text`"), "{e}");
        let e = err(r#"{"id":1,"op":"mute_member","room_id":"r","user_id":"u"}"#);
        assert!(e.to_string().contains("missing field `seconds`"), "{e}");
        let e = err(r#"{"id":1,"op":"explode"}"#);
        assert!(e.to_string().contains("unknown variant `explode`"), "{e}");
        let e = err(r#"{"id":1,"op":"moderation"}"#);
        assert!(e.to_string().contains("unknown variant"), "{e}");
        assert!(err(r#"{"id":1}"#)
            .to_string()
            .contains("missing field `op`"));
    }

    #[test]
    fn hand_built_messages_frame_parses() {
        let m = r#"{"ID":"x","type":"TIMTextElem","payload":{"text":"a"},"to":"r\"1","from":"u","time":1,"sequence":1}"#;
        let frame = format!(
            "{}{m},{m}{}",
            ServerFrame::messages_frame_prefix("r\"1"),
            MESSAGES_FRAME_SUFFIX
        );
        match serde_json::from_str::<ServerFrame>(&frame).unwrap() {
            ServerFrame::Messages { room, list } => {
                assert_eq!(room, "r\"1");
                assert_eq!(list.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn typed_replies_keep_their_bytes() {
        let frame = ReplyFrame::new(7, Done {});
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"t":"reply","id":7,"data":{}}"#
        );
        let exit = ReplyFrame::new(
            8,
            RoomRef {
                group_id: "r".into(),
            },
        );
        let text = serde_json::to_string(&exit).unwrap();
        assert_eq!(text, r#"{"t":"reply","id":8,"data":{"groupID":"r"}}"#);
        match serde_json::from_str::<ServerFrame>(&text).unwrap() {
            ServerFrame::Reply { id, data } => {
                assert_eq!(id, 8);
                assert_eq!(data["groupID"], "r");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_enter_reply_with_pre_encoded_messages_reads_as_messages() {
        let m = r#"{"ID":"x","type":"TIMTextElem","payload":{"text":"a"},"to":"r","from":"u","time":1,"sequence":4}"#;
        let raw = serde_json::value::RawValue::from_string(m.to_owned()).unwrap();
        let info = RoomInfo {
            group_id: "r".into(),
            kind: "AVChatRoom".into(),
            name: "n".into(),
            owner_id: "o".into(),
            notification: String::new(),
            introduction: String::new(),
            avatar: String::new(),
            create_time: 1,
            push_stopped: false,
            postscript: String::new(),
        };
        let written = EnterReply {
            status: EnterStatus::JoinedSuccess,
            group: info,
            online: 2,
            messages: vec![raw],
            last_sequence: 4,
            deleted: vec!["GROUPr-2-1".into()],
            role: Role::Member,
            settings: RoomSettings::default(),
            muted_until: Some(9),
            skipped: true,
        };
        let text = serde_json::to_string(&ReplyFrame::new(1, &written)).unwrap();
        assert!(text.contains(m), "the message's own bytes: {text}");
        let ServerFrame::Reply { data, .. } = serde_json::from_str(&text).unwrap() else {
            panic!("not a reply: {text}");
        };
        let read: EnterReply = serde_json::from_value(data).unwrap();
        assert_eq!(read.messages.len(), 1);
        assert_eq!(read.messages[0].sequence, 4);
        assert_eq!(read.deleted, written.deleted);
        assert_eq!(read.muted_until, Some(9));
        assert!(read.skipped);
        assert_eq!(read.group, written.group);
    }

    #[test]
    fn the_stats_push_names_its_room() {
        let frame = ServerFrame::RoomStats {
            room: "r".into(),
            stats: RoomStats {
                room_id: "r".into(),
                messages_total: 3,
                ..RoomStats::default()
            },
        };
        let text = serde_json::to_string(&frame).unwrap();
        assert!(
            text.starts_with(r#"{"t":"room_stats","room":"r","stats":{"room_id":"r""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).unwrap(), frame);
    }

    #[test]
    fn kicked_reason_strings() {
        let f = ServerFrame::Kicked {
            reason: KickReason::UserSigExpired,
        };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"t":"kicked","reason":"userSigExpired"}"#
        );
        for reason in [
            KickReason::MultipleAccount,
            KickReason::MultipleDevice,
            KickReason::UserSigExpired,
            KickReason::RestApi,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(serde_json::from_str::<KickReason>(&json).unwrap(), reason);
        }
    }
}
