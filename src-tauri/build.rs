fn main() {
    // The config lives at the workspace root so that `ui/` and `icons/` sit beside it.
    // Declaring the app's commands turns each into a permission (`allow-<command>`), so the
    // capability in tauri.conf.json grants exactly the ones the UI uses.
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "start_embedded",
            "embedded_info",
            "set_lan_access",
            "gen_test_user_sig",
            "system_language",
            "connect",
            "disconnect",
            "set_log_level",
            "login",
            "logout",
            "create_room",
            "enter_room",
            "exit_room",
            "set_my_profile",
            "get_my_profile",
            "send_text_message",
            "send_custom_message",
            "stage_image",
            "send_image_message",
            "stop_push",
            "delete_message",
            "mute_member",
            "unmute_member",
            "kick_member",
            "ban_member",
            "unban_member",
            "set_mute_all",
            "set_slow_mode",
            "blocked_words",
            "get_audit_log",
            "get_member",
            "get_restrictions",
            "set_admin",
            "edit_room",
            "dismiss_room",
        ]));
    tauri_build::try_build(attrs).expect("tauri-build failed");
    // The UI is embedded at compile time by `generate_context!`; with the config outside the
    // crate, tauri-build does not watch it, so say it here.
    println!("cargo:rerun-if-changed=../ui");
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=../icons");
}
