//! The command line: `serve`, `replay`, `export`, `loadgen`, `scenario`.

use crate::{config, export_cmd, loadgen, replay_cmd, scenario_cmd, serve};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tickroom_sim::Modes;

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
        /// Log lines as text or JSON (overrides `log.format`).
        #[arg(long, value_enum)]
        log_format: Option<config::LogFormat>,
    },
    /// Rebuild a room from its seed and log and check every stored hash.
    Replay(replay_cmd::StoredRoomArgs),
    /// Write a stored room's history as a scenario file that replays it.
    Export(export_cmd::ExportArgs),
    /// Drive a local server with simulated players and measure it.
    Loadgen(Box<loadgen::LoadArgs>),
    /// Run and maintain scenario files (scripted, deterministic room tests).
    Scenario {
        #[command(subcommand)]
        command: scenario_cmd::ScenarioCommand,
    },
}

fn init_tracing(level: &str, format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Text => logs.init(),
        // Spans' fields (connection_id, trace_id) ride along on every line.
        config::LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

pub(crate) fn run<I, T>(args: I, modes: Arc<Modes>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Serve { config, log_format } => {
            config::Config::load_with(config.as_deref(), std::env::vars(), &modes).and_then(
                |config| {
                    let format = log_format.unwrap_or(config.log.format);
                    init_tracing(&config.log.level, format);
                    serve::run(config, modes.clone())
                },
            )
        }
        .map(|()| ExitCode::SUCCESS),
        Command::Scenario { command } => scenario_cmd::run(command, &modes),
        Command::Replay(args) => {
            init_tracing("warn", config::LogFormat::Text);
            replay_cmd::run(args, &modes)
        }
        Command::Export(args) => {
            init_tracing("warn", config::LogFormat::Text);
            export_cmd::run(args, &modes)
        }
        Command::Loadgen(args) => {
            init_tracing("warn", config::LogFormat::Text);
            loadgen::run(*args)
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
