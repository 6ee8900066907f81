//! Tickroom as a library: register your game modes and get the whole
//! server, with the same command line as the stock binary (`serve`,
//! `replay`, `export`, `scenario run`, `loadgen`).
//!
//! ```no_run
//! use tickroom::Server;
//! use tickroom_sim::board::Board;
//!
//! fn main() -> std::process::ExitCode {
//!     Server::builder().mode::<Board>().run()
//! }
//! ```

pub(crate) mod api;
pub(crate) mod cluster;
pub(crate) mod config;
pub(crate) mod console;
pub(crate) mod data_lock;
pub(crate) mod driver;
pub(crate) mod export_cmd;
pub(crate) mod history;
pub(crate) mod http;
pub(crate) mod listener;
pub(crate) mod loadgen;
pub(crate) mod metrics;
pub(crate) mod rebuild;
pub(crate) mod recovery;
pub(crate) mod replay_cmd;
pub(crate) mod scenario_cmd;
pub(crate) mod serve;
pub(crate) mod tls;

mod cli;

pub use tickroom_sim::{Mode, Modes};

/// Who sees which delta of a tick (for the views benchmark).
#[doc(hidden)]
pub use crate::driver::views::TickView;

/// A Tickroom server with the game modes it serves.
pub struct Server;

impl Server {
    /// A builder with no modes yet.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            modes: Modes::empty(),
            problems: Vec::new(),
        }
    }
}

/// Registers modes, then runs the command line.
pub struct ServerBuilder {
    modes: Modes,
    problems: Vec<String>,
}

impl ServerBuilder {
    /// Serves mode `M`. The first mode registered is the default (rooms
    /// whose config names no mode); see [`ServerBuilder::default_mode`].
    pub fn mode<M: Mode>(mut self) -> ServerBuilder {
        if let Err(e) = self.modes.add(tickroom_sim::mode::<M>()) {
            self.problems.push(e);
        }
        self
    }

    /// Makes the mode named `name` the default.
    pub fn default_mode(mut self, name: &str) -> ServerBuilder {
        if let Err(e) = self.modes.set_default(name) {
            self.problems.push(e);
        }
        self
    }

    /// The modes registered so far.
    pub fn modes(&self) -> &Modes {
        &self.modes
    }

    /// Parses the process's arguments and runs the command.
    pub fn run(self) -> std::process::ExitCode {
        self.run_with(std::env::args_os())
    }

    /// Runs the command `args` names (the first is the program name).
    pub fn run_with<I, T>(self, args: I) -> std::process::ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        if !self.problems.is_empty() || self.modes.default_mode().is_none() {
            let problems = if self.problems.is_empty() {
                "no game mode registered".to_owned()
            } else {
                self.problems.join("; ")
            };
            eprintln!("error: {problems}");
            return std::process::ExitCode::from(2);
        }
        cli::run(args, std::sync::Arc::new(self.modes))
    }
}
