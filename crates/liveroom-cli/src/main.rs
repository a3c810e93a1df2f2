//! `liveroom`: the Liveroom engine from a terminal, for bots, operators and load tests.
//!
//! Every command prints its result as JSON on stdout (`usersig` prints the bare UserSig, so
//! `SIG=$(liveroom usersig ...)` works). Exit status: 0 success, 1 failure (with
//! `error CODE: message` on stderr), 2 bad usage. A closed stdout (`| head`) is a success.

mod admin;
mod cli;
mod commands;
mod output;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(failure) => {
            let _ = writeln!(io::stderr(), "{failure}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up logging (stderr, `RUST_LOG`, warnings by default) and runs the command.
fn run(cli: Cli) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(commands::run(cli.command))
}
