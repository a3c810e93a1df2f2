//! Messages as TIM shapes them (`ID`, `type`, `payload`, `to`, `from`, ...).

use serde::{Deserialize, Serialize};

/// Message priority. Over the room's send budget, lower priorities are dropped first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Priority {
    /// Dropped first.
    Lowest,
    /// Likes and the like.
    Low,
    /// Ordinary text (the default).
    #[default]
    Normal,
    /// Gifts, red packets, stop-push: never dropped.
    High,
}

impl Priority {
    /// All priorities, highest first.
    pub const ALL: [Priority; 4] = [Self::High, Self::Normal, Self::Low, Self::Lowest];

    /// The seed's string (`High`, `Normal`, `Low`, `Lowest`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "High",
            Self::Normal => "Normal",
            Self::Low => "Low",
            Self::Lowest => "Lowest",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "High" => Ok(Self::High),
            "Normal" => Ok(Self::Normal),
            "Low" => Ok(Self::Low),
            "Lowest" => Ok(Self::Lowest),
            other => Err(format!(
                "unknown priority '{other}' (expected High, Normal, Low or Lowest)"
            )),
        }
    }
}

/// Whether the receiving client sent the message (`out`) or not (`in`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Sent by someone else.
    #[default]
    In,
    /// Sent by this client.
    Out,
}

/// A room message. `sequence` is assigned by the server, per room, increasing; group tips
/// (join/leave) are not stored and carry sequence 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique within the room: `GROUP<room>-<sequence>-<random>`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Type and payload, flattened to TIM's `type` and `payload` keys.
    #[serde(flatten)]
    pub body: Body,
    /// Room ID.
    pub to: String,
    /// Sender's userID.
    pub from: String,
    /// Sender's nick at send time.
    #[serde(default)]
    pub nick: String,
    /// Sender's avatar URL at send time.
    #[serde(default)]
    pub avatar: String,
    /// Server time of the send, unix seconds.
    pub time: i64,
    /// Per-room sequence; 0 for tips that are not stored.
    pub sequence: u64,
    /// The priority the sender chose.
    #[serde(default)]
    pub priority: Priority,
    /// Set by the receiving engine.
    #[serde(default)]
    pub flow: Flow,
    /// Always `GROUP`.
    #[serde(rename = "conversationType", default = "group")]
    pub conversation_type: String,
    /// `GROUP<room>`.
    #[serde(rename = "conversationID", default)]
    pub conversation_id: String,
}

fn group() -> String {
    "GROUP".to_owned()
}

impl Message {
    /// The message's event name, as the seed's `TWebLive.EVENT` values.
    pub fn event_name(&self) -> &'static str {
        match &self.body {
            Body::Text(_) => "t_text_message_received",
            Body::Custom(c) if c.data == PUSH_STOPPED => "t_push_stopped",
            Body::Custom(_) => "t_custom_message_received",
            Body::Image(_) => "t_image_message_received",
            Body::GroupTip(t) if t.operation_type == GroupTipPayload::JOIN => "t_remote_user_join",
            Body::GroupTip(_) => "t_remote_user_leave",
            Body::GroupSystemNotice(_) => "t_group_system_notice",
        }
    }
}

/// The custom `data` that marks a stop-push message.
pub const PUSH_STOPPED: &str = "push_stopped";

/// The message's type (`TIMTextElem`, ...) and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum Body {
    /// `TIMTextElem`
    #[serde(rename = "TIMTextElem")]
    Text(TextPayload),
    /// `TIMCustomElem`
    #[serde(rename = "TIMCustomElem")]
    Custom(CustomPayload),
    /// `TIMImageElem`
    #[serde(rename = "TIMImageElem")]
    Image(ImagePayload),
    /// `TIMGroupTipElem` (join and leave)
    #[serde(rename = "TIMGroupTipElem")]
    GroupTip(GroupTipPayload),
    /// `TIMGroupSystemNoticeElem`: a notice from the app's backend to everyone in the room
    /// (Tencent's REST `send_group_system_notification`).
    #[serde(rename = "TIMGroupSystemNoticeElem")]
    GroupSystemNotice(GroupSystemNoticePayload),
}

/// `{text}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextPayload {
    /// The text, at most 8 KB.
    pub text: String,
}

/// `{data, description, extension}`, all strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomPayload {
    /// App-defined data.
    #[serde(default)]
    pub data: String,
    /// App-defined description.
    #[serde(default)]
    pub description: String,
    /// App-defined extension.
    #[serde(default)]
    pub extension: String,
}

/// `{imageFormat, uuid, imageInfoArray}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePayload {
    /// JPG=1, GIF=2, PNG=3, BMP=4.
    #[serde(rename = "imageFormat")]
    pub image_format: u8,
    /// Identifies the picture (its content hash).
    pub uuid: String,
    /// Original (sizeType 1), large (2), small (3), in that order.
    #[serde(rename = "imageInfoArray")]
    pub image_info_array: Vec<ImageInfo>,
}

/// One stored size of a picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1 original, 2 large, 3 small.
    #[serde(rename = "sizeType")]
    pub size_type: u8,
    /// Bytes.
    pub size: u64,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Where to download it.
    pub url: String,
}

/// `{operationType, userIDList}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTipPayload {
    /// 1 join, 2 quit.
    #[serde(rename = "operationType")]
    pub operation_type: u8,
    /// Who joined or left.
    #[serde(rename = "userIDList")]
    pub user_id_list: Vec<String>,
}

impl GroupTipPayload {
    /// `operationType` of a join.
    pub const JOIN: u8 = 1;
    /// `operationType` of a leave.
    pub const QUIT: u8 = 2;
}

/// `{operationType, userDefinedField, operatorID}`, as TIM shapes a group system notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSystemNoticePayload {
    /// 255: a notice the app defines (the only kind a live room gets).
    #[serde(rename = "operationType")]
    pub operation_type: u8,
    /// The notice's text, as the backend wrote it (`Content`).
    #[serde(rename = "userDefinedField")]
    pub user_defined_field: String,
    /// Who sent it: the app administrator who called the REST API.
    #[serde(rename = "operatorID", default)]
    pub operator_id: String,
}

impl GroupSystemNoticePayload {
    /// `operationType` of a notice the app defines (TIM's `GRP_SYS_NOTICE` custom kind).
    pub const CUSTOM: u8 = 255;
}

/// The `from` of a group system notice: TIM's system account.
pub const SYSTEM_SENDER: &str = "@TIM#SYSTEM";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_tim_shape() {
        let m = Message {
            id: "GROUPr-1-7".into(),
            body: Body::Text(TextPayload { text: "hi".into() }),
            to: "r".into(),
            from: "alice".into(),
            nick: "Alice".into(),
            avatar: String::new(),
            time: 1,
            sequence: 1,
            priority: Priority::High,
            flow: Flow::In,
            conversation_type: group(),
            conversation_id: "GROUPr".into(),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["ID"], "GROUPr-1-7");
        assert_eq!(v["type"], "TIMTextElem");
        assert_eq!(v["payload"]["text"], "hi");
        assert_eq!(v["priority"], "High");
        assert_eq!(v["flow"], "in");
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_system_notice_has_tims_shape() {
        let body = Body::GroupSystemNotice(GroupSystemNoticePayload {
            operation_type: GroupSystemNoticePayload::CUSTOM,
            user_defined_field: "the show starts at 8".into(),
            operator_id: "boss".into(),
        });
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "TIMGroupSystemNoticeElem", "payload": {
                "operationType": 255, "userDefinedField": "the show starts at 8", "operatorID": "boss"}})
        );
        let back: Body = serde_json::from_value(v).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn priorities_order_and_parse() {
        assert!(Priority::High > Priority::Normal && Priority::Low > Priority::Lowest);
        assert_eq!("Low".parse::<Priority>(), Ok(Priority::Low));
        assert!("low".parse::<Priority>().is_err());
    }
}
