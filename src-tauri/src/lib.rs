//! Liveroom desktop shell: exposes the IM engine to the web UI in `ui/` as Tauri commands and
//! forwards engine events to it, and runs the room server in-process ("on this computer").
//!
//! - [`embedded`]: the in-process room server, its keys and LAN access.
//! - [`bridge`]: the engine the UI is bound to, and the batched event forwarder.
//! - [`chat_log`]: chat logs on disk (opt-in) and their search.
//! - [`commands`]: thin commands, one per engine method plus the app's own.
//! - [`error`]: the `{code, message}` error every command returns.
//! - [`pictures`]: the `liveroom-image` protocol, the webview's only source of pictures.

// `for_each_command!`, before the modules so that `commands` sees it too.
include!("commands/list.rs");

pub mod bridge;
pub mod chat_log;
pub mod commands;
pub mod embedded;
pub mod error;
pub mod pictures;
pub mod webview;

use tauri::{Manager, RunEvent};

/// `module::command, ...` (src/commands/list.rs) → the invoke handler of all of them.
macro_rules! invoke_handler {
    ($($module:ident :: $command:ident),* $(,)?) => {
        tauri::generate_handler![$(commands::$module::$command),*]
    };
}

/// Builds and runs the app until its last window closes, then stops the engine and the
/// embedded server.
pub fn run() {
    init_tracing();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(bridge::Bridge::default())
        .manage(embedded::Embedded::default())
        .manage(chat_log::ChatLog::default())
        .register_asynchronous_uri_scheme_protocol(pictures::SCHEME, pictures::handle)
        .invoke_handler(for_each_command!(invoke_handler))
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while building the Liveroom app");
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Close the session cleanly and let the server flush its store before exiting.
            tauri::async_runtime::block_on(async {
                handle.state::<bridge::Bridge>().disconnect().await;
                handle.state::<embedded::Embedded>().shutdown().await;
                // What the chat log's writer still buffers goes to disk.
                handle.state::<chat_log::ChatLog>().shutdown();
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
