//! `group_open_http_svc`: rooms (`Type: "AVChatRoom"`): create, destroy, profile, list,
//! online count, change of owner, and the kick.

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

/// Most rooms one `get_group_info` names (Tencent's limit).
const INFO_MAX: usize = 50;
/// Most rooms one `get_appid_group_list` page holds, and its default (Tencent's).
const LIST_MAX: u32 = 10_000;
/// Most members one `delete_group_member` names (Tencent's limit).
const KICK_BATCH: usize = 100;
/// Tencent's group types: `GroupType` filters on them (Liveroom has only AVChatRoom).
const GROUP_TYPES: &[&str] = &[
    "Public",
    "Private",
    "ChatRoom",
    AV_CHAT_ROOM,
    "BChatRoom",
    "Community",
];

/// `get_group_info`: `ResponseFilter` is accepted and ignored (every field is answered).
#[derive(Debug, Deserialize)]
struct Info {
    #[serde(rename = "GroupIdList")]
    group_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Infos {
    #[serde(rename = "GroupInfo")]
    groups: Vec<GroupInfo>,
}

/// One room of a `get_group_info` answer: its own code (10010 when it does not exist),
/// then its profile when it does.
#[derive(Debug, Serialize)]
struct GroupInfo {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "ErrorCode")]
    error_code: u32,
    #[serde(rename = "ErrorInfo")]
    error_info: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    profile: Option<GroupProfile>,
}

#[derive(Debug, Serialize)]
struct GroupProfile {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Appid")]
    app: u64,
    #[serde(rename = "Introduction")]
    introduction: String,
    #[serde(rename = "Notification")]
    notification: String,
    #[serde(rename = "FaceUrl")]
    face_url: String,
    #[serde(rename = "Owner_Account")]
    owner: String,
    #[serde(rename = "CreateTime")]
    create_time: i64,
    /// The last message's time, while the room's history keeps it.
    #[serde(rename = "LastMsgTime", skip_serializing_if = "Option::is_none")]
    last_msg_time: Option<i64>,
    #[serde(rename = "NextMsgSeq")]
    next_msg_seq: u64,
    /// Members online now (a live room keeps no member list).
    #[serde(rename = "MemberNum")]
    member_num: u64,
    /// Anyone may enter a live room.
    #[serde(rename = "ApplyJoinOption")]
    apply_join_option: &'static str,
    #[serde(rename = "MuteAllMember")]
    mute_all: &'static str,
}

/// `On` or `Off`.
fn on_off(on: bool) -> &'static str {
    if on {
        "On"
    } else {
        "Off"
    }
}

/// Each named room's profile, or its own error code (the answer's code is 0 either way, as
/// Tencent's: callers read each room's). `MemberNum` is the online count.
pub(super) async fn info(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Info = parse(body)?;
    if req.group_ids.is_empty() || req.group_ids.len() > INFO_MAX {
        return Err(ApiError::invalid(format!(
            "GroupIdList names {} rooms: name 1 to {INFO_MAX}",
            req.group_ids.len()
        )));
    }
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for group_id in req.group_ids {
        let (error_code, error_info, profile) = match profile(cx, &group_id).await {
            Ok(p) => (0, String::new(), Some(p)),
            Err(e) => (super::Service::Group.code_of(e.code), e.message, None),
        };
        groups.push(GroupInfo {
            group_id,
            error_code,
            error_info,
            profile,
        });
    }
    fields(&Infos { groups })
}

async fn profile(cx: &Cx<'_>, group_id: &str) -> Result<GroupProfile, ApiError> {
    let room = service::room(cx.shared, cx.app, group_id).await?;
    let info = room.info().await;
    let (last_seq, last_msg_time) = room.last_message().await?;
    Ok(GroupProfile {
        kind: AV_CHAT_ROOM,
        name: info.name,
        app: cx.app,
        introduction: info.introduction,
        notification: info.notification,
        face_url: info.avatar,
        owner: info.owner_id,
        create_time: info.create_time,
        last_msg_time,
        next_msg_seq: last_seq + 1,
        member_num: room.online_now().await as u64,
        apply_join_option: "FreeAccess",
        mute_all: on_off(room.settings().await.mute_all),
    })
}

/// `modify_group_base_info`: `MuteAllMember` (docs of 2020 and before: `ShutUpAllMember`)
/// is `On` or `Off`; `MaxMemberNum`, `ApplyJoinOption` and `AppDefinedData` are accepted and
/// ignored (a live room has no member limit and no join approval).
#[derive(Debug, Deserialize)]
struct Modify {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Introduction", default)]
    introduction: Option<String>,
    #[serde(rename = "Notification", default)]
    notification: Option<String>,
    #[serde(rename = "FaceUrl", default)]
    face_url: Option<String>,
    #[serde(rename = "MuteAllMember", alias = "ShutUpAllMember", default)]
    mute_all: Option<String>,
}

/// Changes the room's profile (a moderator's `edit_room`) and mute-all (`mute_all`), each
/// audited with the administrator as actor. Every field is checked before anything changes.
pub(super) async fn modify(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Modify = parse(body)?;
    if let Some(name) = &req.name {
        limits::check_room_name(name).map_err(|e| named("Name", e))?;
    }
    for (field, value, max) in [
        ("Introduction", &req.introduction, limits::INTRODUCTION_MAX),
        ("Notification", &req.notification, limits::NOTIFICATION_MAX),
        ("FaceUrl", &req.face_url, limits::AVATAR_MAX),
    ] {
        if let Some(v) = value {
            limits::check_len(field, v, max)?;
        }
    }
    let mute_all = match req.mute_all.as_deref() {
        None => None,
        Some("On") => Some(true),
        Some("Off") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "MuteAllMember is '{other}': On or Off"
            )))
        }
    };
    // The room first: a room that does not exist is 10010 whatever the fields.
    service::room(cx.shared, cx.app, &req.group_id).await?;
    let edits = req.name.is_some()
        || req.introduction.is_some()
        || req.notification.is_some()
        || req.face_url.is_some();
    if edits {
        let edit = ModRequest::EditRoom {
            room_id: req.group_id.clone(),
            name: req.name,
            notification: req.notification,
            introduction: req.introduction,
            avatar: req.face_url,
        };
        moderation::handle(cx.shared, cx.actor(), edit).await?;
    }
    if let Some(on) = mute_all {
        let mute = ModRequest::MuteAll {
            room_id: req.group_id,
            on,
        };
        moderation::handle(cx.shared, cx.actor(), mute).await?;
    }
    done()
}

/// `e` naming `field` (Tencent's name) rather than ours.
fn named(field: &str, e: ApiError) -> ApiError {
    ApiError::new(e.code, format!("{field}: {}", e.message))
}

/// `get_appid_group_list`.
#[derive(Debug, Deserialize)]
struct List {
    #[serde(rename = "Limit", default)]
    limit: Option<u32>,
    #[serde(rename = "Next", default)]
    next: u64,
    #[serde(rename = "GroupType", default)]
    group_type: Option<String>,
}

#[derive(Debug, Serialize)]
struct Listed {
    #[serde(rename = "TotalCount")]
    total: u64,
    #[serde(rename = "GroupIdList")]
    groups: Vec<GroupRef>,
    #[serde(rename = "Next")]
    next: u64,
}

#[derive(Debug, Serialize)]
struct GroupRef {
    #[serde(rename = "GroupId")]
    group_id: String,
}

/// The app's rooms, oldest first, `Limit` (at most and by default 10000) after `Next` (0:
/// from the first); the answer's `Next` is 0 on the last page. `GroupType` other than
/// `AVChatRoom` lists nothing: Liveroom has no other kind.
pub(super) async fn list(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: List = parse(body)?;
    let limit = req.limit.unwrap_or(LIST_MAX);
    if !(1..=LIST_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "Limit is {limit}: 1 to {LIST_MAX}"
        )));
    }
    match req.group_type.as_deref() {
        None | Some("") | Some(AV_CHAT_ROOM) => {}
        Some(t) if GROUP_TYPES.contains(&t) => {
            return fields(&Listed {
                total: 0,
                groups: Vec::new(),
                next: 0,
            })
        }
        Some(t) => {
            return Err(ApiError::invalid(format!(
                "GroupType '{t}': one of {}",
                GROUP_TYPES.join(", ")
            )))
        }
    }
    let page = cx.shared.store.list_rooms(cx.app, req.next, limit).await?;
    fields(&Listed {
        total: page.total,
        groups: page
            .rooms
            .into_iter()
            .map(|group_id| GroupRef { group_id })
            .collect(),
        next: page.next,
    })
}

#[derive(Debug, Serialize)]
struct Online {
    #[serde(rename = "OnlineMemberNum")]
    online: u64,
}

/// `get_online_member_num`: the room's members online now, every node's.
pub(super) async fn online(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: OneGroup = parse(body)?;
    let room = service::room(cx.shared, cx.app, &req.group_id).await?;
    fields(&Online {
        online: room.online_now().await as u64,
    })
}

/// `change_group_owner`.
#[derive(Debug, Deserialize)]
struct ChangeOwner {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "NewOwner_Account")]
    new_owner: String,
}

/// Hands the room to `NewOwner_Account` (Tencent refuses this for AVChatRoom; Liveroom
/// allows it): the owner's `change_owner`, audited with the administrator as actor.
pub(super) async fn change_owner(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: ChangeOwner = parse(body)?;
    limits::check_user_id(&req.new_owner).map_err(|e| named("NewOwner_Account", e))?;
    let change = ModRequest::ChangeOwner {
        room_id: req.group_id,
        user_id: req.new_owner,
    };
    moderation::handle(cx.shared, cx.actor(), change).await?;
    done()
}

/// `delete_group_member`: `Silence` is accepted and ignored (the room always sees the
/// member removed).
#[derive(Debug, Deserialize)]
struct Kick {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(rename = "MemberToDel_Account")]
    members: Vec<String>,
    #[serde(rename = "Reason", default)]
    reason: String,
}

/// Liveroom's kick (Tencent refuses `delete_group_member` for AVChatRoom): each member is
/// taken out of the room, told `Reason`, and may enter again.
pub(super) async fn kick(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let req: Kick = parse(body)?;
    super::moderation::check_members("MemberToDel_Account", &req.members, KICK_BATCH)?;
    limits::check_len(
        "Reason",
        &req.reason,
        liveroom_proto::moderation::REASON_MAX,
    )?;
    service::room(cx.shared, cx.app, &req.group_id).await?;
    super::moderation::for_each_member(&req.members, |user_id| {
        let kick = ModRequest::KickMember {
            room_id: req.group_id.clone(),
            user_id,
            reason: req.reason.clone(),
        };
        moderation::handle(cx.shared, cx.actor(), kick)
    })
    .await?;
    done()
}
