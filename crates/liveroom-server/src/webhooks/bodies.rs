//! Tencent's callback bodies as typed structs, field names and casing exactly as Tencent's
//! (`Group.CallbackBeforeSendMsg`, ...), and the before-send reply. Each body is encoded with
//! its `CallbackCommand` first ([`encode`]).

use serde::{Deserialize, Serialize};

use crate::tim::MsgElem;

/// Liveroom's only group type.
pub(super) const AV_CHAT_ROOM: &str = "AVChatRoom";

/// A callback body: its command, and the fields that follow it.
pub(super) trait Callback: Serialize {
    /// `CallbackCommand` (in the URL and the body).
    const COMMAND: &'static str;
}

/// A body with its `CallbackCommand` first.
#[derive(Serialize)]
struct WithCommand<'a, B> {
    #[serde(rename = "CallbackCommand")]
    command: &'static str,
    #[serde(flatten)]
    body: &'a B,
}

/// The JSON POSTed for `body`.
pub(super) fn encode<B: Callback>(body: &B) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WithCommand {
        command: B::COMMAND,
        body,
    })
}

/// One user in a member list: `{"Member_Account": ...}`.
#[derive(Debug, Serialize)]
pub(super) struct Member<'a> {
    #[serde(rename = "Member_Account")]
    pub(super) member_account: &'a str,
}

/// `Group.CallbackBeforeSendMsg`: a message about to be sent; the reply decides.
#[derive(Debug, Serialize)]
pub(super) struct BeforeSendMsg<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    #[serde(rename = "From_Account")]
    pub(super) from_account: &'a str,
    #[serde(rename = "Operator_Account")]
    pub(super) operator_account: &'a str,
    #[serde(rename = "Random")]
    pub(super) random: u32,
    /// Always 0 in an AVChatRoom.
    #[serde(rename = "OnlineOnlyFlag")]
    pub(super) online_only_flag: u8,
    #[serde(rename = "MsgBody")]
    pub(super) msg_body: Vec<MsgElem>,
    /// Always empty: Liveroom messages carry no cloud custom data.
    #[serde(rename = "CloudCustomData")]
    pub(super) cloud_custom_data: &'static str,
    /// Unix milliseconds.
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for BeforeSendMsg<'_> {
    const COMMAND: &'static str = "Group.CallbackBeforeSendMsg";
}

/// `Group.CallbackAfterSendMsg`: a message the room accepted (sequence and time given).
#[derive(Debug, Serialize)]
pub(super) struct AfterSendMsg<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    #[serde(rename = "From_Account")]
    pub(super) from_account: &'a str,
    #[serde(rename = "Operator_Account")]
    pub(super) operator_account: &'a str,
    #[serde(rename = "Random")]
    pub(super) random: u32,
    #[serde(rename = "MsgSeq")]
    pub(super) msg_seq: u64,
    /// Unix seconds.
    #[serde(rename = "MsgTime")]
    pub(super) msg_time: i64,
    /// The message's ID (`GROUP{room}-{seq}-{nonce}`).
    #[serde(rename = "MsgId")]
    pub(super) msg_id: &'a str,
    #[serde(rename = "OnlineOnlyFlag")]
    pub(super) online_only_flag: u8,
    #[serde(rename = "MsgBody")]
    pub(super) msg_body: Vec<MsgElem>,
    #[serde(rename = "CloudCustomData")]
    pub(super) cloud_custom_data: &'static str,
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for AfterSendMsg<'_> {
    const COMMAND: &'static str = "Group.CallbackAfterSendMsg";
}

/// `Group.CallbackAfterNewMemberJoin`: a user's first connection entered the room.
#[derive(Debug, Serialize)]
pub(super) struct AfterNewMemberJoin<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    /// `Apply`: a live room is entered, never invited into.
    #[serde(rename = "JoinType")]
    pub(super) join_type: &'static str,
    #[serde(rename = "Operator_Account")]
    pub(super) operator_account: &'a str,
    #[serde(rename = "NewMemberList")]
    pub(super) new_member_list: Vec<Member<'a>>,
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for AfterNewMemberJoin<'_> {
    const COMMAND: &'static str = "Group.CallbackAfterNewMemberJoin";
}

/// `Group.CallbackAfterMemberExit`: a user's last connection left the room, or a moderator
/// removed the user.
#[derive(Debug, Serialize)]
pub(super) struct AfterMemberExit<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    /// `Quit` or `Kicked`.
    #[serde(rename = "ExitType")]
    pub(super) exit_type: &'static str,
    #[serde(rename = "Operator_Account")]
    pub(super) operator_account: &'a str,
    #[serde(rename = "ExitMemberList")]
    pub(super) exit_member_list: Vec<Member<'a>>,
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for AfterMemberExit<'_> {
    const COMMAND: &'static str = "Group.CallbackAfterMemberExit";
}

/// `Group.CallbackAfterCreateGroup`: a room was created.
#[derive(Debug, Serialize)]
pub(super) struct AfterCreateGroup<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Operator_Account")]
    pub(super) operator_account: &'a str,
    #[serde(rename = "Owner_Account")]
    pub(super) owner_account: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    #[serde(rename = "Name")]
    pub(super) name: &'a str,
    /// Always empty: nobody is a member of a live room before entering it.
    #[serde(rename = "MemberList")]
    pub(super) member_list: Vec<Member<'a>>,
    /// Always empty: Liveroom rooms have no app-defined fields.
    #[serde(rename = "UserDefinedDataList")]
    pub(super) user_defined_data_list: Vec<serde_json::Value>,
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for AfterCreateGroup<'_> {
    const COMMAND: &'static str = "Group.CallbackAfterCreateGroup";
}

/// `Group.CallbackAfterGroupDestroyed`: a room was dismissed.
#[derive(Debug, Serialize)]
pub(super) struct AfterGroupDestroyed<'a> {
    #[serde(rename = "GroupId")]
    pub(super) group_id: &'a str,
    #[serde(rename = "Type")]
    pub(super) kind: &'static str,
    #[serde(rename = "Owner_Account")]
    pub(super) owner_account: &'a str,
    #[serde(rename = "Name")]
    pub(super) name: &'a str,
    /// Always empty: an AVChatRoom keeps no member list.
    #[serde(rename = "MemberList")]
    pub(super) member_list: Vec<Member<'a>>,
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
}

impl Callback for AfterGroupDestroyed<'_> {
    const COMMAND: &'static str = "Group.CallbackAfterGroupDestroyed";
}

/// `State.StateChange`: a user logged in, logged out or was disconnected.
#[derive(Debug, Serialize)]
pub(super) struct StateChange<'a> {
    #[serde(rename = "EventTime")]
    pub(super) event_time: i64,
    #[serde(rename = "Info")]
    pub(super) info: StateInfo<'a>,
}

impl Callback for StateChange<'_> {
    const COMMAND: &'static str = "State.StateChange";
}

/// `State.StateChange`'s `Info`.
#[derive(Debug, Serialize)]
pub(super) struct StateInfo<'a> {
    /// `Login`, `Logout` or `Disconnect`.
    #[serde(rename = "Action")]
    pub(super) action: &'static str,
    #[serde(rename = "To_Account")]
    pub(super) to_account: &'a str,
    /// `Register` (Login), `Unregister` (Logout), `LinkClose` (Disconnect).
    #[serde(rename = "Reason")]
    pub(super) reason: &'static str,
}

/// The backend's reply to `Group.CallbackBeforeSendMsg`: the envelope, and a `MsgBody` that
/// replaces the message's (read only when `ErrorCode` is 0, so a refusal stands whatever else
/// the reply carries). Other fields are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct BeforeSendReply {
    #[serde(rename = "ErrorCode", default)]
    pub(super) error_code: i64,
    #[serde(rename = "ErrorInfo", default)]
    pub(super) error_info: String,
    #[serde(rename = "MsgBody", default)]
    pub(super) msg_body: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn encoded<B: Callback>(body: &B) -> Value {
        serde_json::from_slice(&encode(body).unwrap()).unwrap()
    }

    #[test]
    fn message_bodies_have_tencents_fields() {
        let before = BeforeSendMsg {
            group_id: "live-1",
            kind: AV_CHAT_ROOM,
            from_account: "ann",
            operator_account: "ann",
            random: 7,
            online_only_flag: 0,
            msg_body: vec![MsgElem::Text { text: "hi".into() }],
            cloud_custom_data: "",
            event_time: 1_717_000_000_123,
        };
        let bytes = encode(&before).unwrap();
        assert!(
            bytes.starts_with(br#"{"CallbackCommand":"Group.CallbackBeforeSendMsg","#),
            "the command comes first"
        );
        assert_eq!(
            encoded(&before),
            json!({"CallbackCommand": "Group.CallbackBeforeSendMsg", "GroupId": "live-1",
                "Type": "AVChatRoom", "From_Account": "ann", "Operator_Account": "ann",
                "Random": 7, "OnlineOnlyFlag": 0,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
                "CloudCustomData": "", "EventTime": 1_717_000_000_123_i64})
        );
        let after = AfterSendMsg {
            group_id: "live-1",
            kind: AV_CHAT_ROOM,
            from_account: "ann",
            operator_account: "boss",
            random: 7,
            msg_seq: 12,
            msg_time: 1_717_000_000,
            msg_id: "GROUPlive-1-12-99",
            online_only_flag: 0,
            msg_body: vec![MsgElem::Custom {
                data: "gift".into(),
                desc: "rose".into(),
                ext: String::new(),
            }],
            cloud_custom_data: "",
            event_time: 1_717_000_000_456,
        };
        assert_eq!(
            encoded(&after),
            json!({"CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": "live-1",
                "Type": "AVChatRoom", "From_Account": "ann", "Operator_Account": "boss",
                "Random": 7, "MsgSeq": 12, "MsgTime": 1_717_000_000, "MsgId": "GROUPlive-1-12-99",
                "OnlineOnlyFlag": 0,
                "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "gift", "Desc": "rose", "Ext": ""}}],
                "CloudCustomData": "", "EventTime": 1_717_000_000_456_i64})
        );
    }

    #[test]
    fn member_room_and_state_bodies_have_tencents_fields() {
        let join = AfterNewMemberJoin {
            group_id: "g",
            kind: AV_CHAT_ROOM,
            join_type: "Apply",
            operator_account: "v9",
            new_member_list: vec![Member {
                member_account: "v9",
            }],
            event_time: 1,
        };
        assert_eq!(
            encoded(&join),
            json!({"CallbackCommand": "Group.CallbackAfterNewMemberJoin", "GroupId": "g",
                "Type": "AVChatRoom", "JoinType": "Apply", "Operator_Account": "v9",
                "NewMemberList": [{"Member_Account": "v9"}], "EventTime": 1})
        );
        let exit = AfterMemberExit {
            group_id: "g",
            kind: AV_CHAT_ROOM,
            exit_type: "Kicked",
            operator_account: "host",
            exit_member_list: vec![Member {
                member_account: "v9",
            }],
            event_time: 2,
        };
        assert_eq!(
            encoded(&exit),
            json!({"CallbackCommand": "Group.CallbackAfterMemberExit", "GroupId": "g",
                "Type": "AVChatRoom", "ExitType": "Kicked", "Operator_Account": "host",
                "ExitMemberList": [{"Member_Account": "v9"}], "EventTime": 2})
        );
        let created = AfterCreateGroup {
            group_id: "g",
            operator_account: "boss",
            owner_account: "host",
            kind: AV_CHAT_ROOM,
            name: "Show",
            member_list: Vec::new(),
            user_defined_data_list: Vec::new(),
            event_time: 3,
        };
        assert_eq!(
            encoded(&created),
            json!({"CallbackCommand": "Group.CallbackAfterCreateGroup", "GroupId": "g",
                "Operator_Account": "boss", "Owner_Account": "host", "Type": "AVChatRoom",
                "Name": "Show", "MemberList": [], "UserDefinedDataList": [], "EventTime": 3})
        );
        let destroyed = AfterGroupDestroyed {
            group_id: "g",
            kind: AV_CHAT_ROOM,
            owner_account: "host",
            name: "Show",
            member_list: Vec::new(),
            event_time: 4,
        };
        assert_eq!(
            encoded(&destroyed),
            json!({"CallbackCommand": "Group.CallbackAfterGroupDestroyed", "GroupId": "g",
                "Type": "AVChatRoom", "Owner_Account": "host", "Name": "Show",
                "MemberList": [], "EventTime": 4})
        );
        let state = StateChange {
            event_time: 5,
            info: StateInfo {
                action: "Disconnect",
                to_account: "ann",
                reason: "LinkClose",
            },
        };
        assert_eq!(
            encoded(&state),
            json!({"CallbackCommand": "State.StateChange", "EventTime": 5,
                "Info": {"Action": "Disconnect", "To_Account": "ann", "Reason": "LinkClose"}})
        );
    }
}
