// The app's commands, named once in src/commands/list.rs.
include!("src/commands/list.rs");

/// `module::command, ...` → the command names.
macro_rules! command_names {
    ($($module:ident :: $command:ident),* $(,)?) => {
        &[$(stringify!($command)),*]
    };
}

const COMMANDS: &[&str] = for_each_command!(command_names);

fn main() {
    // The config lives at the workspace root so that `ui/` and `icons/` sit beside it.
    // Declaring the app's commands turns each into a permission (`allow-<command>`), so the
    // capability in tauri.conf.json grants exactly the ones the UI uses.
    let attrs = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attrs).expect("tauri-build failed");
    // The UI is embedded at compile time by `generate_context!`; with the config outside the
    // crate, tauri-build does not watch it, so say it here.
    println!("cargo:rerun-if-changed=../ui");
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=../icons");
    println!("cargo:rerun-if-changed=src/commands/list.rs");
}
