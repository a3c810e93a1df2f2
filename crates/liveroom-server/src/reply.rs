//! The reply each request gets: one `liveroom-proto` type per op, written as
//! `{"t":"reply","id":N,"data":...}` in one go. History messages go in as their
//! pre-encoded JSON ([`Encoded`]), so an `enter_room` reply serializes none of them again.

use liveroom_proto::{
    AuditEntry, BlockedWords, Done, EnterReply, HelloReply, LoginReply, MemberStanding,
    ModerationReply, Profile, ReplyFrame, Restrictions, RoomInfo, RoomRef, RoomSettings, RoomStats,
    SendReply,
};
use serde::Serialize;

use crate::encoded::Encoded;

/// A successful request's `data`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Reply {
    /// `hello`
    Hello(HelloReply),
    /// `login`
    Login(Box<LoginReply>),
    /// `logout`, `ping`
    Done(Done),
    /// `create_room`, `edit_room`, `change_owner`
    Room(Box<RoomInfo>),
    /// `enter_room`
    Entered(Box<EnterReply<Encoded>>),
    /// `exit_room`, `dismiss_room`
    RoomRef(RoomRef),
    /// `set_profile`, `get_profile`
    Profile(Profile),
    /// `send_text`, `send_custom`, `send_image`, `stop_push`
    Sent(Box<SendReply>),
    /// `mute_member`, `unmute_member`, `kick_member`, `ban_member`, `unban_member`,
    /// `delete_message`, `set_admin`
    Moderation(ModerationReply),
    /// `mute_all`, `set_slow_mode`
    Settings(RoomSettings),
    /// `blocked_words`
    BlockedWords(BlockedWords),
    /// `get_audit_log`
    AuditLog(Vec<AuditEntry>),
    /// `get_member`
    Member(MemberStanding),
    /// `get_restrictions`
    Restrictions(Restrictions),
    /// `get_room_stats`
    Stats(Box<RoomStats>),
    /// A send answered later, once the app's backend vetted it: nothing is written now (see
    /// `deferred_sends`).
    Deferred,
}

impl Reply {
    /// The reply frame to request `id`.
    pub(crate) fn frame(&self, id: u64) -> Result<String, serde_json::Error> {
        let mut out = Vec::with_capacity(self.size_hint());
        serde_json::to_writer(&mut out, &ReplyFrame::new(id, self))?;
        // serde_json writes UTF-8 only.
        String::from_utf8(out).map_err(serde::ser::Error::custom)
    }

    /// About how long the frame is, so a reply carrying a history is written into one
    /// buffer of the right size.
    fn size_hint(&self) -> usize {
        let messages = match self {
            Self::Entered(e) => e.messages.iter().map(|m| m.as_str().len() + 1).sum(),
            Self::Stats(s) => s.minutes.len() * 48,
            _ => 0,
        };
        messages + 512
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveroom_proto::{EnterStatus, Role, ServerFrame};

    #[test]
    fn an_enter_reply_has_the_bytes_it_had_when_built_by_hand() {
        let m = r#"{"ID":"x","type":"TIMTextElem","payload":{"text":"a"},"to":"r","from":"u","time":1,"sequence":4}"#;
        let info = crate::test_support::room_info("r");
        let group = serde_json::to_string(&info).unwrap();
        let reply = Reply::Entered(Box::new(EnterReply {
            status: EnterStatus::JoinedSuccess,
            group: info,
            online: 3,
            messages: vec![Encoded::parse(m.into()).unwrap(); 2],
            last_sequence: 4,
            deleted: Vec::new(),
            role: Role::Owner,
            settings: RoomSettings {
                mute_all: true,
                slow_mode: 5,
            },
            muted_until: Some(77),
            skipped: false,
        }));
        // As connection.rs wrote it before replies were typed.
        let by_hand = format!(
            "{{\"t\":\"reply\",\"id\":9,\"data\":{{\"status\":\"JoinedSuccess\",\"group\":{group},\
             \"online\":3,\"messages\":[{m},{m}],\"last_sequence\":4,\"role\":\"owner\",\
             \"settings\":{{\"muteAll\":true,\"slowMode\":5}},\"muted_until\":77}}}}"
        );
        assert_eq!(reply.frame(9).unwrap(), by_hand);
        assert!(matches!(
            serde_json::from_str(&by_hand).unwrap(),
            ServerFrame::Reply { id: 9, .. }
        ));
    }

    #[test]
    fn done_is_an_empty_object() {
        assert_eq!(
            Reply::Done(Done {}).frame(1).unwrap(),
            r#"{"t":"reply","id":1,"data":{}}"#
        );
    }
}
