//! App-level commands: the embedded server, locally signed UserSigs, the system language.

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Manager, State};

use crate::embedded::{Embedded, EmbeddedInfo};
use crate::error::{CmdError, CmdResult};

/// Overrides the app's data folder (tests, several instances on one machine).
pub const DATA_DIR_ENV: &str = "LIVEROOM_APP_DATA";

/// The app's data folder: `$LIVEROOM_APP_DATA`, else the platform's app data dir.
pub fn data_dir(app: &AppHandle) -> CmdResult<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| CmdError::internal(format!("no app data folder: {e}")))
}

/// Starts the embedded server if needed; resolves its address and SDKAppID.
#[tauri::command]
pub async fn start_embedded(
    app: AppHandle,
    embedded: State<'_, Embedded>,
) -> CmdResult<EmbeddedInfo> {
    embedded.start(&data_dir(&app)?).await
}

/// The embedded server's info, or null when it is not running.
#[tauri::command]
pub async fn embedded_info(embedded: State<'_, Embedded>) -> CmdResult<Option<EmbeddedInfo>> {
    Ok(embedded.info().await)
}

/// Opens the embedded server to the local network, or closes it again.
#[tauri::command]
pub async fn set_lan_access(
    embedded: State<'_, Embedded>,
    enabled: bool,
) -> CmdResult<EmbeddedInfo> {
    embedded.set_lan(enabled).await
}

/// `TWebLive.genTestUserSig`'s answer.
#[derive(Debug, Serialize)]
pub struct TestUserSig {
    #[serde(rename = "SDKAppID")]
    sdk_app_id: u64,
    #[serde(rename = "userSig")]
    user_sig: String,
}

/// Signs a UserSig for `user_id` on the embedded server (as Tencent's demo helper).
#[tauri::command]
pub async fn gen_test_user_sig(
    embedded: State<'_, Embedded>,
    user_id: String,
) -> CmdResult<TestUserSig> {
    liveroom_proto::limits::check_user_id(&user_id)?;
    let (sdk_app_id, user_sig) = embedded.user_sig(&user_id).await?;
    Ok(TestUserSig {
        sdk_app_id,
        user_sig,
    })
}

/// The system's language (`zh-CN`, `en-US`, ...) from the locale variables, for the UI's
/// default: the webview's `navigator.language` does not always follow them.
#[tauri::command]
pub fn system_language() -> String {
    ["LC_ALL", "LC_MESSAGES", "LANGUAGE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty() && v != "C" && v != "POSIX")
        .map(|v| v.split(['.', ':']).next().unwrap_or("").replace('_', "-"))
        .unwrap_or_default()
}
