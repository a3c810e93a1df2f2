// The app's Tauri commands, each named once: `module::command`. Included by build.rs (each
// becomes a permission, `allow-<command>`) and by lib.rs (the invoke handler), so the two
// cannot drift; the tests in commands/mod.rs check that the window's capability in
// tauri.conf.json and the UI's calls agree with it.
//
// `for_each_command!(m)` expands to `m! { app::start_embedded, ... }`.
macro_rules! for_each_command {
    ($m:ident) => {
        $m! {
            app::start_embedded,
            app::embedded_info,
            app::set_lan_access,
            app::gen_test_user_sig,
            app::system_language,
            im::connect,
            im::disconnect,
            im::set_log_level,
            im::login,
            im::logout,
            im::create_room,
            im::enter_room,
            im::exit_room,
            im::set_my_profile,
            im::get_my_profile,
            im::send_text_message,
            im::send_custom_message,
            im::stage_image,
            im::send_image_message,
            im::stop_push,
            logs::get_chat_log_settings,
            logs::set_chat_log_settings,
            logs::search_chat_logs,
            moderation::delete_message,
            moderation::mute_member,
            moderation::unmute_member,
            moderation::kick_member,
            moderation::ban_member,
            moderation::unban_member,
            moderation::set_mute_all,
            moderation::set_slow_mode,
            moderation::blocked_words,
            moderation::get_audit_log,
            moderation::get_member,
            moderation::get_restrictions,
            moderation::get_room_stats,
            moderation::set_admin,
            moderation::edit_room,
            moderation::dismiss_room,
        }
    };
}
