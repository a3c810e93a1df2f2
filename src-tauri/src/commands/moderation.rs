//! Moderation commands (issue 6): one thin wrapper per engine method. Options keep the seed's
//! key names (`roomID`, `userID`, `messageID`); errors reach JS as `{code, message}`.

use liveroom_engine::proto::{
    AuditEntry, BlockedWords, MemberStanding, ModerationReply, Restrictions, RoomInfo,
    RoomSettings, WordsAction,
};
use liveroom_engine::EditRoomOptions;
use serde::Deserialize;

use crate::bridge::Bridge;
use crate::error::CmdResult;
use tauri::State;

/// `{roomID, userID, seconds?, reason?}`: the member an action is about.
#[derive(Debug, Deserialize)]
pub struct MemberArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(default)]
    seconds: Option<u64>,
    #[serde(default)]
    reason: String,
}

/// `deleteMessage({roomID, messageID, reason?})`.
#[derive(Debug, Deserialize)]
pub struct DeleteArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
    #[serde(default)]
    reason: String,
}

/// Removes a message from the room's history; the room gets `t_message_deleted`.
#[tauri::command]
pub async fn delete_message(
    bridge: State<'_, Bridge>,
    options: DeleteArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .delete_message(&options.room_id, &options.message_id, &options.reason)
        .await?)
}

/// `muteMember({roomID, userID, muteTime, reason?})`: `seconds` is the mute's length.
#[tauri::command]
pub async fn mute_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .mute_member(
            &options.room_id,
            &options.user_id,
            options.seconds.unwrap_or(0),
            &options.reason,
        )
        .await?)
}

/// Lifts a member's mute.
#[tauri::command]
pub async fn unmute_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .unmute_member(&options.room_id, &options.user_id)
        .await?)
}

/// Removes a member from the room (they may come back).
#[tauri::command]
pub async fn kick_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .kick_member(&options.room_id, &options.user_id, &options.reason)
        .await?)
}

/// Kicks and bans a member for `seconds`, or for good when absent.
#[tauri::command]
pub async fn ban_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .ban_member(
            &options.room_id,
            &options.user_id,
            options.seconds,
            &options.reason,
        )
        .await?)
}

/// Lets a banned member enter again.
#[tauri::command]
pub async fn unban_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .unban_member(&options.room_id, &options.user_id)
        .await?)
}

/// `setMuteAll({roomID, on})`.
#[derive(Debug, Deserialize)]
pub struct MuteAllArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    on: bool,
}

/// Only the owner and admins may speak while on; resolves the room's settings.
#[tauri::command]
pub async fn set_mute_all(
    bridge: State<'_, Bridge>,
    options: MuteAllArgs,
) -> CmdResult<RoomSettings> {
    Ok(bridge
        .im()?
        .set_mute_all(&options.room_id, options.on)
        .await?)
}

/// `setSlowMode({roomID, seconds})`.
#[derive(Debug, Deserialize)]
pub struct SlowModeArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    seconds: u32,
}

/// Seconds between one member's messages (0: off); resolves the room's settings.
#[tauri::command]
pub async fn set_slow_mode(
    bridge: State<'_, Bridge>,
    options: SlowModeArgs,
) -> CmdResult<RoomSettings> {
    Ok(bridge
        .im()?
        .set_slow_mode(&options.room_id, options.seconds)
        .await?)
}

/// `blockedWords({roomID, action: "add"|"remove"|"list", word?})`.
#[derive(Debug, Deserialize)]
pub struct WordsArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    action: WordsAction,
    #[serde(default)]
    word: Option<String>,
}

/// Resolves the room's words after the change, and the app-wide ones.
#[tauri::command]
pub async fn blocked_words(
    bridge: State<'_, Bridge>,
    options: WordsArgs,
) -> CmdResult<BlockedWords> {
    Ok(bridge
        .im()?
        .blocked_words(&options.room_id, options.action, options.word.as_deref())
        .await?)
}

/// `getAuditLog({roomID, limit?})`.
#[derive(Debug, Deserialize)]
pub struct AuditArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(default)]
    limit: Option<u32>,
}

/// Resolves the room's moderation actions, newest first.
#[tauri::command]
pub async fn get_audit_log(
    bridge: State<'_, Bridge>,
    options: AuditArgs,
) -> CmdResult<Vec<AuditEntry>> {
    Ok(bridge
        .im()?
        .get_audit_log(&options.room_id, options.limit)
        .await?)
}

/// `getMember({roomID, userID})`: resolves where the user stands (role, in the room, mute,
/// ban), for the user card.
#[tauri::command]
pub async fn get_member(
    bridge: State<'_, Bridge>,
    options: MemberArgs,
) -> CmdResult<MemberStanding> {
    Ok(bridge
        .im()?
        .get_member(&options.room_id, &options.user_id)
        .await?)
}

/// `getRestrictions({roomID})`: resolves the room's admins and the members muted or banned
/// now, for the Manage panel.
#[tauri::command]
pub async fn get_restrictions(
    bridge: State<'_, Bridge>,
    options: RoomArgs,
) -> CmdResult<Restrictions> {
    Ok(bridge.im()?.get_restrictions(&options.room_id).await?)
}

/// `getRoomStats({roomID})`: moderators; resolves the room's statistics as the server counts
/// them, in the JS shape of `t_room_stats` (`liveroom_engine::room_stats_value`: `{roomID,
/// startedAt, at, online, peakOnline, minutes, messagesLastMinute, messagesTotal,
/// likesTotal, giftsTotal, topGifters}`).
#[tauri::command]
pub async fn get_room_stats(
    bridge: State<'_, Bridge>,
    options: RoomArgs,
) -> CmdResult<serde_json::Value> {
    let stats = bridge.im()?.get_room_stats(&options.room_id).await?;
    Ok(liveroom_engine::room_stats_value(&stats))
}

/// `setAdmin({roomID, userID, admin})`.
#[derive(Debug, Deserialize)]
pub struct AdminArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(rename = "userID")]
    user_id: String,
    admin: bool,
}

/// Room owner (or app administrator): appoints or removes an admin; the room gets
/// `t_admin_changed`.
#[tauri::command]
pub async fn set_admin(
    bridge: State<'_, Bridge>,
    options: AdminArgs,
) -> CmdResult<ModerationReply> {
    Ok(bridge
        .im()?
        .set_admin(&options.room_id, &options.user_id, options.admin)
        .await?)
}

/// `editRoom({roomID, name?, notification?, introduction?, avatar?})`.
#[derive(Debug, Deserialize)]
pub struct EditArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(flatten)]
    changes: EditRoomOptions,
}

/// Changes the room's profile; every member gets `t_room_profile_updated`.
#[tauri::command]
pub async fn edit_room(bridge: State<'_, Bridge>, options: EditArgs) -> CmdResult<RoomInfo> {
    Ok(bridge
        .im()?
        .edit_room(&options.room_id, options.changes)
        .await?)
}

/// `{roomID}`: the room a command is about.
#[derive(Debug, Deserialize)]
pub struct RoomArgs {
    #[serde(rename = "roomID")]
    room_id: String,
}

/// `dismissRoom({roomID})`: owner only; dismisses the room for good, everyone gets
/// `t_room_dismissed` and is removed.
#[tauri::command]
pub async fn dismiss_room(bridge: State<'_, Bridge>, options: RoomArgs) -> CmdResult<()> {
    Ok(bridge.im()?.dismiss_room(&options.room_id).await?)
}
