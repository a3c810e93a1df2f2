//! Chat logs: the opt-in setting and the search of a room's logs (crate::chat_log).

use serde::Deserialize;
use tauri::{AppHandle, Emitter, State};

use crate::chat_log::search::{Found, MAX_RESULTS};
use crate::chat_log::{ChatLog, LogError, Settings, Status, ERROR_EVENT};
use crate::commands::app::data_dir;
use crate::error::{CmdError, CmdResult};

impl From<LogError> for CmdError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Folder(_) | LogError::NotConnected => CmdError::invalid(e.to_string()),
            LogError::Save(_) => CmdError::internal(e.to_string()),
        }
    }
}

/// Reads the settings from the app's data folder the first time any part of the app needs
/// the logger (the UI asks at start; a connection does too); a write error reaches the UI as
/// one [`ERROR_EVENT`].
pub fn load(app: &AppHandle, log: &ChatLog) -> CmdResult<()> {
    let dir = data_dir(app)?;
    let handle = app.clone();
    log.load(
        &dir,
        Box::new(move |message| {
            let _ = handle.emit(ERROR_EVENT, message);
        }),
    );
    Ok(())
}

/// The setting (`enabled`, `folder`), a folder to suggest, the last write error, drops.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    #[serde(flatten)]
    status: Status,
    /// Where logs would go if the user has no better idea: the app's data folder's
    /// `chat-logs` (as Chatterino keeps its logs in its own).
    suggested_folder: String,
}

fn view(app: &AppHandle, status: Status) -> CmdResult<SettingsView> {
    Ok(SettingsView {
        status,
        suggested_folder: data_dir(app)?.join("chat-logs").display().to_string(),
    })
}

/// Resolves the chat log settings.
#[tauri::command]
pub fn get_chat_log_settings(app: AppHandle, log: State<'_, ChatLog>) -> CmdResult<SettingsView> {
    load(&app, &log)?;
    view(&app, log.status())
}

/// `{enabled, folder}`: turning logs on needs a full path the app can write to (made if
/// missing); 10004 names what is wrong.
#[tauri::command]
pub async fn set_chat_log_settings(
    app: AppHandle,
    log: State<'_, ChatLog>,
    settings: Settings,
) -> CmdResult<SettingsView> {
    load(&app, &log)?;
    let log = log.inner().clone();
    // Stopping the old writer waits for its last flush: not on the async runtime's threads.
    let status = tauri::async_runtime::spawn_blocking(move || log.set(settings))
        .await
        .map_err(|e| CmdError::internal(e.to_string()))??;
    view(&app, status)
}

/// `{roomID, query, limit}`.
#[derive(Debug, Deserialize)]
pub struct SearchArgs {
    #[serde(rename = "roomID")]
    room_id: String,
    query: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    200
}

/// Searches the room's logs on the current server, newest first: at most `limit` (≤ 500)
/// results, a bounded number of files and bytes read, off the async runtime's threads.
#[tauri::command]
pub async fn search_chat_logs(log: State<'_, ChatLog>, options: SearchArgs) -> CmdResult<Found> {
    liveroom_proto::limits::check_room_id(&options.room_id)?;
    let log = log.inner().clone();
    let limit = options.limit.clamp(1, MAX_RESULTS);
    tauri::async_runtime::spawn_blocking(move || {
        log.search(&options.room_id, &options.query, limit)
    })
    .await
    .map_err(|e| CmdError::internal(e.to_string()))?
    .map_err(CmdError::from)
}
