//! `tickroom`: the binary that wires the crates together.

mod config;
mod driver;
mod http;
mod listener;
mod rebuild;
mod recovery;
mod replay_cmd;
mod scenario_cmd;
mod serve;
mod tls;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tickroom",
    version,
    about = "Authoritative, deterministic, tick-driven room server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve rooms over WebSocket (`ws://127.0.0.1:7700/ws` by default).
    Serve {
        /// A TOML config file; `TICKROOM_<SECTION>_<KEY>` variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Rebuild a room from its seed and log and check every stored hash.
    Replay(replay_cmd::ReplayArgs),
    /// Run and maintain scenario files (scripted, deterministic room tests).
    Scenario {
        #[command(subcommand)]
        command: scenario_cmd::ScenarioCommand,
    },
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => config::Config::load(config.as_deref(), std::env::vars())
            .and_then(|config| {
                init_tracing(&config.log.level);
                serve::run(config)
            })
            .map(|()| ExitCode::SUCCESS),
        Command::Scenario { command } => scenario_cmd::run(command),
        Command::Replay(args) => {
            init_tracing("warn");
            replay_cmd::run(args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
