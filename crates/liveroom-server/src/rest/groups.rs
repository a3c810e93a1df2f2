//! `group_open_http_svc`: rooms (`Type: "AVChatRoom"`).

use liveroom_proto::{code, limits, ApiError, CreateRoomOptions, ModRequest};
use serde::{Deserialize, Serialize};

use super::{done, fields, parse, Answer, Cx};
use crate::{moderation, service};

/// Liveroom's only group type.
pub(super) const AV_CHAT_ROOM: &str = "AVChatRoom";

/// `create_group`.
#[derive(Debug, Deserialize)]
struct Create {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "GroupId", default)]
    group_id: Option<String>,
    #[serde(rename = "Owner_Account", default)]
    owner: Option<String>,
    #[serde(rename = "Introduction", default)]
    introduction: String,
    #[serde(rename = "Notification", default)]
    notification: String,
    #[serde(rename = "FaceUrl", default)]
    face_url: String,
    /// Refused when not empty: nobody is a member of a live room before entering it.
    #[serde(rename = "MemberList", default)]
    member_list: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct Created {
    #[serde(rename = "GroupId")]
    group_id: String,
}

/// Creates a room owned by `Owner_Account` (the administrator without one). The owner's
/// room quota and creation rate are a member's limits and do not apply here.
pub(super) async fn create(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Create = parse(body)?;
    if req.kind != AV_CHAT_ROOM {
        return Err(ApiError::new(
            code::NO_PERMISSION,
            format!("Type '{}': Liveroom rooms are AVChatRoom", req.kind),
        ));
    }
    if !req.member_list.is_empty() {
        return Err(ApiError::new(
            code::NO_PERMISSION,
            "MemberList: an AVChatRoom has no members before they enter it",
        ));
    }
    let owner = req.owner.unwrap_or_else(|| cx.admin.to_owned());
    limits::check_user_id(&owner)?;
    let opts = CreateRoomOptions {
        name: req.name,
        room_id: req.group_id,
        notification: req.notification,
        introduction: req.introduction,
        avatar: req.face_url,
    };
    let creator = service::Creator::Backend { admin: cx.admin };
    let info = service::create_room(cx.shared, cx.app, &owner, opts, creator).await?;
    fields(&Created {
        group_id: info.group_id,
    })
}

/// A request naming one room.
#[derive(Debug, Deserialize)]
pub(super) struct OneGroup {
    #[serde(rename = "GroupId")]
    pub(super) group_id: String,
}

/// Dismisses a room (audited with the administrator as actor).
pub(super) async fn destroy(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: OneGroup = parse(body)?;
    let dismiss = ModRequest::DismissRoom {
        room_id: req.group_id,
    };
    moderation::handle(cx.shared, cx.actor(), dismiss).await?;
    done()
}
