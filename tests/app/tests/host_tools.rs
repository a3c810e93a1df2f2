//! Window tests of issue 15's tools (host_tools): the real app under tauri-driver, like window.rs.
//! Run by scripts/test-app (#[ignore]d in a plain `cargo test`: no display there).
