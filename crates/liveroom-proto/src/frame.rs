//! Frames on the WebSocket (`GET /ws`): client requests and server replies and pushes.

use serde::{Deserialize, Serialize};

use crate::message::{Message, Priority};
use crate::moderation::{Role, RoomEvent, RoomSettings, WordsAction};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
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

impl Request {
    /// Whether this is a moderation request (handled by the server's moderation module).
    pub fn is_moderation(&self) -> bool {
        matches!(
            self,
            Self::MuteMember { .. }
                | Self::UnmuteMember { .. }
                | Self::MuteAll { .. }
                | Self::KickMember { .. }
                | Self::BanMember { .. }
                | Self::UnbanMember { .. }
                | Self::DeleteMessage { .. }
                | Self::SetSlowMode { .. }
                | Self::SetAdmin { .. }
                | Self::BlockedWords { .. }
                | Self::EditRoom { .. }
                | Self::DismissRoom { .. }
                | Self::GetAuditLog { .. }
                | Self::GetMember { .. }
                | Self::GetRestrictions { .. }
        )
    }

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
            Self::MuteMember { .. } => "mute_member",
            Self::UnmuteMember { .. } => "unmute_member",
            Self::MuteAll { .. } => "mute_all",
            Self::KickMember { .. } => "kick_member",
            Self::BanMember { .. } => "ban_member",
            Self::UnbanMember { .. } => "unban_member",
            Self::DeleteMessage { .. } => "delete_message",
            Self::SetSlowMode { .. } => "set_slow_mode",
            Self::SetAdmin { .. } => "set_admin",
            Self::BlockedWords { .. } => "blocked_words",
            Self::EditRoom { .. } => "edit_room",
            Self::DismissRoom { .. } => "dismiss_room",
            Self::GetAuditLog { .. } => "get_audit_log",
            Self::GetMember { .. } => "get_member",
            Self::GetRestrictions { .. } => "get_restrictions",
        }
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
}

impl KickReason {
    /// The seed's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultipleAccount => "multipleAccount",
            Self::MultipleDevice => "multipleDevice",
            Self::UserSigExpired => "userSigExpired",
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

/// Reply to `enter_room`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterReply {
    /// Joined, or already in.
    pub status: EnterStatus,
    /// The room.
    pub group: RoomInfo,
    /// Connections in the room, this one included.
    pub online: u64,
    /// History after `since` (or the recent history), oldest first.
    pub messages: Vec<Message>,
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

    #[test]
    fn op_names_match_the_wire() {
        let room = || "r".to_owned();
        let user = || "u".to_owned();
        for request in [
            Request::Logout,
            Request::GetProfile,
            Request::Ping,
            Request::CreateRoom(CreateRoomOptions::default()),
            Request::SendText {
                room_id: room(),
                text: "t".into(),
                priority: Priority::Normal,
            },
            Request::MuteAll {
                room_id: room(),
                on: true,
            },
            Request::SetAdmin {
                room_id: room(),
                user_id: user(),
                admin: true,
            },
            Request::GetAuditLog {
                room_id: room(),
                limit: None,
            },
            Request::GetMember {
                room_id: room(),
                user_id: user(),
            },
            Request::GetRestrictions { room_id: room() },
        ] {
            let wire = serde_json::to_value(&request).unwrap();
            assert_eq!(wire["op"], request.op(), "{request:?}");
        }
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
    fn kicked_reason_strings() {
        let f = ServerFrame::Kicked {
            reason: KickReason::UserSigExpired,
        };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"t":"kicked","reason":"userSigExpired"}"#
        );
    }
}
