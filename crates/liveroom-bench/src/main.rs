//! `liveroom-bench`: measures the room server and prints its figures (a table, or JSON).
//!
//! - `latency`: one sender, N receivers (real engines), send→receive latency p50/p99/max.
//!
//! Without `--server`, it starts the `liveroom-server` binary found next to itself on a free
//! loopback port with a temporary data folder.

mod latency;
mod server;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Benchmarks of the Liveroom room server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// One sender, N receiving engines: latency from send to receive.
    Latency(latency::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.scenario {
        Scenario::Latency(args) => rt.block_on(latency::run(args)),
    }
}
