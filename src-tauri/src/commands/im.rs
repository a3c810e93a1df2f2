//! One command per engine method (the seed's IM class). Options keep the seed's key names
//! (`roomID`, `userID`, `SDKAppID`), so the TWebLive layer passes them through unchanged.

use liveroom_engine::proto::{
    CreateRoomOptions, CustomPayload, Message, Priority, Profile, RoomInfo,
};
use liveroom_engine::ImageSource;
use serde::Deserialize;
use serde_json::{json, Value};
use tauri::ipc::{Channel, InvokeBody, Request};
use tauri::{AppHandle, State};

use crate::bridge::Bridge;
use crate::chat_log::record::server_key;
use crate::chat_log::ChatLog;
use crate::embedded::Embedded;
use crate::error::{CmdError, CmdResult};

/// `TWebLive.createIM({SDKAppID})` plus the server it talks to.
#[derive(Debug, Deserialize)]
pub struct ConnectOptions {
    #[serde(rename = "SDKAppID")]
    sdk_app_id: u64,
    server: String,
    /// Extra trusted root certificates (PEM) for a `wss://`/`https://` server with a private
    /// CA or a self-signed certificate.
    #[serde(default, rename = "caPem")]
    ca_pem: Option<String>,
}

/// Binds the UI to an engine for this SDKAppID and server (replacing any previous one); its
/// room messages go to the chat logs under the server's folder (the embedded server's is
/// the same whatever its port).
#[tauri::command]
pub async fn connect(
    app: AppHandle,
    bridge: State<'_, Bridge>,
    embedded: State<'_, Embedded>,
    log: State<'_, ChatLog>,
    options: ConnectOptions,
) -> CmdResult<()> {
    let local = embedded
        .info()
        .await
        .is_some_and(|i| i.address == options.server && i.sdk_app_id == options.sdk_app_id);
    // Without a data folder there are no log settings: the connection goes on, unlogged.
    if let Err(e) = crate::commands::logs::load(&app, &log) {
        tracing::warn!(error = %e, "chat log settings not read");
    }
    let sink = log.connected(server_key(&options.server, options.sdk_app_id, local));
    bridge
        .connect(
            app,
            options.sdk_app_id,
            &options.server,
            options.ca_pem.as_deref().filter(|p| !p.trim().is_empty()),
            Some(sink),
        )
        .await
}

/// Drops the engine (the UI's "change server").
#[tauri::command]
pub async fn disconnect(bridge: State<'_, Bridge>, log: State<'_, ChatLog>) -> CmdResult<()> {
    bridge.disconnect().await;
    log.disconnected();
    Ok(())
}

/// `setLogLevel(0..4)`.
#[tauri::command]
pub fn set_log_level(bridge: State<'_, Bridge>, level: u8) -> CmdResult<()> {
    if level > 4 {
        return Err(CmdError::invalid("level: 0..4"));
    }
    bridge.im()?.set_log_level(level);
    Ok(())
}

/// `login({userID, userSig})`.
#[derive(Debug, Deserialize)]
pub struct LoginOptions {
    #[serde(rename = "userID")]
    user_id: String,
    #[serde(rename = "userSig")]
    user_sig: String,
}

/// Resolves `{repeatLogin}`.
#[tauri::command]
pub async fn login(bridge: State<'_, Bridge>, options: LoginOptions) -> CmdResult<Value> {
    let r = bridge
        .im()?
        .login(&options.user_id, &options.user_sig)
        .await?;
    Ok(json!({ "repeatLogin": r.repeat_login }))
}

/// `logout()`.
#[tauri::command]
pub async fn logout(bridge: State<'_, Bridge>) -> CmdResult<()> {
    bridge.im()?.logout().await?;
    Ok(())
}

/// `createRoom({name, roomID?, notification?, introduction?, avatar?})`.
#[derive(Debug, Deserialize)]
pub struct CreateRoomArgs {
    #[serde(default)]
    name: String,
    #[serde(rename = "roomID", default)]
    room_id: Option<String>,
    #[serde(default)]
    notification: String,
    #[serde(default)]
    introduction: String,
    #[serde(default)]
    avatar: String,
}

/// Resolves the room (`groupID`, `name`, `ownerID`, ...).
#[tauri::command]
pub async fn create_room(
    bridge: State<'_, Bridge>,
    options: CreateRoomArgs,
) -> CmdResult<RoomInfo> {
    let opts = CreateRoomOptions {
        name: options.name,
        room_id: options.room_id.filter(|r| !r.is_empty()),
        notification: options.notification,
        introduction: options.introduction,
        avatar: options.avatar,
    };
    Ok(bridge.im()?.create_room(opts).await?)
}

/// `enterRoom(roomID)`: resolves `{status, group, online, role, settings, mutedUntil}`.
#[tauri::command]
pub async fn enter_room(bridge: State<'_, Bridge>, room_id: String) -> CmdResult<Value> {
    let r = bridge.im()?.enter_room(&room_id).await?;
    Ok(json!({
        "status": r.status,
        "group": r.group,
        "online": r.online,
        "role": r.role,
        "settings": r.settings,
        "mutedUntil": r.muted_until,
    }))
}

/// `exitRoom(roomID)`.
#[tauri::command]
pub async fn exit_room(bridge: State<'_, Bridge>, room_id: String) -> CmdResult<()> {
    bridge.im()?.exit_room(&room_id).await?;
    Ok(())
}

/// `setMyProfile({nick, avatar})`: absent fields keep their value.
#[derive(Debug, Deserialize)]
pub struct ProfileArgs {
    #[serde(default)]
    nick: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
}

/// Resolves the stored profile.
#[tauri::command]
pub async fn set_my_profile(bridge: State<'_, Bridge>, options: ProfileArgs) -> CmdResult<Profile> {
    Ok(bridge
        .im()?
        .set_my_profile(options.nick, options.avatar)
        .await?)
}

/// `getMyProfile()`.
#[tauri::command]
pub async fn get_my_profile(bridge: State<'_, Bridge>) -> CmdResult<Profile> {
    Ok(bridge.im()?.get_my_profile().await?)
}

/// `sendTextMessage({roomID, text, priority?})`.
#[derive(Debug, Deserialize)]
pub struct TextArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    text: String,
    #[serde(default)]
    priority: Priority,
}

/// Resolves the sent message (logged: the engine does not deliver own messages back).
#[tauri::command]
pub async fn send_text_message(
    bridge: State<'_, Bridge>,
    log: State<'_, ChatLog>,
    options: TextArgs,
) -> CmdResult<Message> {
    let m = bridge
        .im()?
        .send_text_message(&options.room_id, &options.text, options.priority)
        .await?;
    log.own(&m);
    Ok(m)
}

/// `sendCustomMessage({roomID, data, description, extension, priority?})`.
#[derive(Debug, Deserialize)]
pub struct CustomArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    extension: String,
    #[serde(default)]
    priority: Priority,
}

/// Resolves the sent message (logged).
#[tauri::command]
pub async fn send_custom_message(
    bridge: State<'_, Bridge>,
    log: State<'_, ChatLog>,
    options: CustomArgs,
) -> CmdResult<Message> {
    let payload = CustomPayload {
        data: options.data,
        description: options.description,
        extension: options.extension,
    };
    let m = bridge
        .im()?
        .send_custom_message(&options.room_id, payload, options.priority)
        .await?;
    log.own(&m);
    Ok(m)
}

/// Keeps picture bytes from the webview (a File or Blob, sent as the raw request body, not as
/// a JSON array of numbers) for `send_image_message`; resolves the `stagedId`.
#[tauri::command]
pub fn stage_image(bridge: State<'_, Bridge>, request: Request<'_>) -> CmdResult<u64> {
    match request.body() {
        InvokeBody::Raw(bytes) if !bytes.is_empty() => Ok(bridge.stage(bytes.clone())),
        _ => Err(CmdError::invalid(
            "stage_image: send the picture's bytes as the body",
        )),
    }
}

/// `sendImageMessage({roomID, file, priority?, onProgress?})`: `file` is a path (native
/// picker) or staged bytes.
#[derive(Debug, Deserialize)]
pub struct ImageArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(default)]
    priority: Priority,
    #[serde(default)]
    path: Option<String>,
    #[serde(rename = "stagedId", default)]
    staged_id: Option<u64>,
}

/// Uploads with progress (0..1, at most every whole percent) on `on_progress`, then sends
/// (logged).
#[tauri::command]
pub async fn send_image_message(
    bridge: State<'_, Bridge>,
    log: State<'_, ChatLog>,
    options: ImageArgs,
    on_progress: Channel<f64>,
) -> CmdResult<Message> {
    let source = match (options.path, options.staged_id) {
        (Some(path), _) => ImageSource::Path(path.into()),
        (None, Some(id)) => ImageSource::Bytes(bridge.take_staged(id)?),
        (None, None) => {
            return Err(CmdError::invalid(
                "file: a path or staged bytes is required",
            ))
        }
    };
    let last = std::sync::Mutex::new(-1.0f64);
    let progress = move |fraction: f64| {
        let mut last = last.lock().expect("progress lock");
        if fraction >= 1.0 || fraction - *last >= 0.01 {
            *last = fraction;
            let _ = on_progress.send(fraction);
        }
    };
    let m = bridge
        .im()?
        .send_image_message(
            &options.room_id,
            source,
            options.priority,
            Some(Box::new(progress)),
        )
        .await?;
    log.own(&m);
    Ok(m)
}

/// `stopPush({roomID, postscript?})`.
#[derive(Debug, Deserialize)]
pub struct StopPushArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    #[serde(default)]
    postscript: String,
}

/// Resolves the stop-push message (logged: the stream's end).
#[tauri::command]
pub async fn stop_push(
    bridge: State<'_, Bridge>,
    log: State<'_, ChatLog>,
    options: StopPushArgs,
) -> CmdResult<Message> {
    let m = bridge
        .im()?
        .stop_push(&options.room_id, &options.postscript)
        .await?;
    log.own(&m);
    Ok(m)
}
