//! A bare Tauri window: the same Tauri 2 and WebKitGTK as the Liveroom app, the same window
//! size, an empty page, nothing of ours. Its memory is the floor the app is measured against
//! (`scripts/bench-app`).

fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("bare-window: {e}");
        std::process::exit(1);
    }
}
