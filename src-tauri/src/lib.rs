//! Liveroom desktop shell: exposes the IM engine to the web UI in `ui/` as Tauri commands and
//! forwards engine events to it, and runs the room server in-process ("on this computer").
//!
//! - [`embedded`]: the in-process room server, its keys and LAN access.
//! - [`bridge`]: the engine the UI is bound to, and the batched event forwarder.
//! - [`commands`]: thin commands, one per engine method plus the app's own.
//! - [`error`]: the `{code, message}` error every command returns.
//! - [`pictures`]: the `liveroom-image` protocol, the webview's only source of pictures.

pub mod bridge;
pub mod commands;
pub mod embedded;
pub mod error;
pub mod pictures;

use tauri::{Manager, RunEvent};

/// Builds and runs the app until its last window closes, then stops the engine and the
/// embedded server.
pub fn run() {
    init_tracing();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(bridge::Bridge::default())
        .manage(embedded::Embedded::default())
        .register_asynchronous_uri_scheme_protocol(pictures::SCHEME, pictures::handle)
        .invoke_handler(tauri::generate_handler![
            commands::app::start_embedded,
            commands::app::embedded_info,
            commands::app::set_lan_access,
            commands::app::gen_test_user_sig,
            commands::app::system_language,
            commands::im::connect,
            commands::im::disconnect,
            commands::im::set_log_level,
            commands::im::login,
            commands::im::logout,
            commands::im::create_room,
            commands::im::enter_room,
            commands::im::exit_room,
            commands::im::set_my_profile,
            commands::im::get_my_profile,
            commands::im::send_text_message,
            commands::im::send_custom_message,
            commands::im::stage_image,
            commands::im::send_image_message,
            commands::im::stop_push,
            commands::moderation::delete_message,
            commands::moderation::mute_member,
            commands::moderation::unmute_member,
            commands::moderation::kick_member,
            commands::moderation::ban_member,
            commands::moderation::unban_member,
            commands::moderation::set_mute_all,
            commands::moderation::set_slow_mode,
            commands::moderation::blocked_words,
            commands::moderation::get_audit_log,
            commands::moderation::get_member,
            commands::moderation::get_restrictions,
            commands::moderation::set_admin,
            commands::moderation::edit_room,
            commands::moderation::dismiss_room,
        ])
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while building the Liveroom app");
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Close the session cleanly and let the server flush its store before exiting.
            tauri::async_runtime::block_on(async {
                handle.state::<bridge::Bridge>().disconnect().await;
                handle.state::<embedded::Embedded>().shutdown().await;
            });
        }
    });
}

/// Logs to stderr; `RUST_LOG` overrides the default (`info` for the app, `warn` for the rest).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,liveroom_app=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
