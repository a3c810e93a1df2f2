//! Tauri commands: thin wrappers, one per engine method (`im`) plus the app's own (`app`).
//! Each parses the seed-shaped options, calls the engine or the embedded server, and returns
//! `Result<T, CmdError>`, which reaches JS as a value or as a `{code, message}` rejection.

pub mod app;
pub mod im;
pub mod moderation;
