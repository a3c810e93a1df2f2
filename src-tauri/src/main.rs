// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread and before GTK: WebKitGTK reads its renderer settings once, at start.
    liveroom_app::webview::configure();
    liveroom_app::run();
}
