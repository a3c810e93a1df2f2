//! The contract between the Liveroom room server and its clients.
//!
//! Everything that crosses the WebSocket lives here, so that the server, the engine and the
//! command-line client cannot drift apart:
//!
//! - [`message`]: the TIM-shaped [`Message`] and its payloads, [`Priority`].
//! - [`frame`]: client requests ([`ClientFrame`]) and server frames ([`ServerFrame`]).
//! - [`error`]: numeric error codes (SPEC §5) and [`ApiError`].
//! - [`limits`]: field limits and the validators both sides use.
//! - [`lenient`]: the `id` of a frame that does not parse, so its error frame can name it.
//!
//! Frames are JSON text. A client sends `{"id": N, "op": "...", ...}`; the server answers with
//! `{"t": "reply", "id": N, "data": ...}` or `{"t": "error", "id": N, "code": C, "message": M}`
//! and pushes `{"t": "messages", ...}`, `{"t": "online", ...}` and `{"t": "kicked", ...}`.

pub mod error;
pub mod frame;
pub mod lenient;
pub mod limits;
pub mod message;
pub mod moderation;
pub mod stats;

pub use error::{code, ApiError};
pub use frame::{
    close, field_kind, ClientFrame, CreateRoomOptions, Done, EnterReply, EnterStatus, FieldKind,
    HelloReply, KickReason, LoginReply, ModOp, ModRequest, Profile, ReplyFrame, Request, RoomInfo,
    RoomRef, SendReply, ServerFrame,
};
pub use message::{
    Body, CustomPayload, GroupSystemNoticePayload, GroupTipPayload, ImageInfo, ImagePayload,
    Message, Priority, TextPayload,
};
pub use moderation::{
    AuditEntry, BlockedWords, MemberStanding, ModerationReply, Restricted, Restrictions, Role,
    RoomEvent, RoomSettings, WordsAction,
};
pub use stats::{RoomStats, StatsMinute, TopGifter};
