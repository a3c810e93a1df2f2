//! `liveroom-server`: parse settings, start, wait for SIGINT/SIGTERM, shut down gracefully.

use std::process::ExitCode;

use clap::Parser;
use liveroom_server::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // Before the settings are read: the default connection cap follows the limit.
    let open_files = liveroom_server::fd_limit::raise_to_hard();
    tracing::debug!(open_files, "open-file limit");
    let config = match Cli::parse().into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("liveroom-server: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match liveroom_server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("liveroom-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The one line on stdout: tools and tests read the bound address from it.
    println!(
        "liveroom-server listening on http://{}",
        server.local_addr()
    );
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.shutdown();
    });
    match server.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liveroom-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
