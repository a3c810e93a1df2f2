//! Tauri commands: thin wrappers, one per engine method (`im`) plus the app's own (`app`).
//! Each parses the seed-shaped options, calls the engine or the embedded server, and returns
//! `Result<T, CmdError>`, which reaches JS as a value or as a `{code, message}` rejection.
//!
//! Every command is named once, in `list.rs`; build.rs and the invoke handler derive from it.

pub mod app;
pub mod im;
pub mod logs;
pub mod moderation;

/// `module::command, ...` → the command names.
macro_rules! command_names {
    ($($module:ident :: $command:ident),* $(,)?) => {
        &[$(stringify!($command)),*]
    };
}

/// Every command the window may call, as the UI names it.
pub const NAMES: &[&str] = for_each_command!(command_names);

#[cfg(test)]
mod tests {
    //! The two places the list cannot be derived into: the window's capability (JSON read by
    //! tauri-build) and the UI's calls (JavaScript). Both must agree with `NAMES`.

    use std::collections::BTreeSet;
    use std::path::Path;

    use super::NAMES;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    fn names() -> BTreeSet<String> {
        NAMES.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_window_capability_grants_exactly_the_commands() {
        let text = std::fs::read_to_string(root().join("tauri.conf.json")).unwrap();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let capability = &config["app"]["security"]["capabilities"][0];
        assert_eq!(capability["identifier"], "main-window");
        let granted: BTreeSet<String> = capability["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            // Plugin and core permissions have a `plugin:` prefix; the app's own do not.
            .filter(|p| !p.contains(':'))
            .map(|p| {
                p.strip_prefix("allow-")
                    .unwrap_or_else(|| panic!("{p}: only allow-<command> grants belong here"))
                    .replace('-', "_")
            })
            .collect();
        let missing: Vec<_> = names().difference(&granted).cloned().collect();
        let unknown: Vec<_> = granted.difference(&names()).cloned().collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "tauri.conf.json's main-window capability: add allow-<command> for {missing:?}, \
             remove {unknown:?} (no such command in src-tauri/src/commands/list.rs)"
        );
    }

    /// The names passed to `invoke(...)` or the TWebLive layer's `_call(...)` in the files
    /// with extension `ext` under `dir`.
    fn calls_in(dir: &str, ext: &str) -> BTreeSet<String> {
        let mut calls = BTreeSet::new();
        let mut dirs = vec![root().join(dir)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == ext) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for call in ["invoke('", "_call('"] {
                        for (at, _) in text.match_indices(call) {
                            let rest = &text[at + call.len()..];
                            let name: String = rest
                                .chars()
                                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                                .collect();
                            if rest[name.len()..].starts_with('\'') && !name.is_empty() {
                                calls.insert(name);
                            }
                        }
                    }
                }
            }
        }
        calls
    }

    #[test]
    fn the_ui_calls_only_commands_that_exist_and_every_command_is_called() {
        let calls = calls_in("ui", "js");
        let unknown: Vec<_> = calls.difference(&names()).cloned().collect();
        // The window tests may call a command of their own (e.g. `embedded_info`).
        let tests = calls_in("tests/app/tests", "rs");
        let unused: Vec<_> = names()
            .difference(&calls)
            .filter(|n| !tests.contains(*n))
            .cloned()
            .collect();
        assert!(
            unknown.is_empty(),
            "ui/ calls commands the app does not have: {unknown:?}"
        );
        assert!(
            unused.is_empty(),
            "commands neither the UI nor the window tests call (remove them, or call them): {unused:?}"
        );
    }
}
