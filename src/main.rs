//! `tickroom`: the binary that wires the crates together.

mod scenario_cmd;

use clap::{Parser, Subcommand};
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
    /// Run and maintain scenario files (scripted, deterministic room tests).
    Scenario {
        #[command(subcommand)]
        command: scenario_cmd::ScenarioCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scenario { command } => scenario_cmd::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
