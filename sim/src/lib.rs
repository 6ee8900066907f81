//! The deterministic room simulation.
//!
//! A [`Room`] is one bevy_ecs `World` plus a single-threaded `Schedule`,
//! advanced only by [`Room::step`]: inputs go in, one [`TickOutput`] comes out
//! (the delta, one outcome per input, and the inputs back for the log). No
//! I/O, no clocks, no threads: time is the tick count and randomness is the
//! room's seeded ChaCha8 generator, so the same seed and the same inputs give
//! the same state hash on every run and machine.

mod components;
pub mod dice;
pub mod fixtures;
mod input;
mod intents;
mod pipeline;
mod resources;
mod room;

pub mod scenario;
mod snapshot;
mod systems;

pub use input::{AdminAction, Input, InputKind, Outcome};
pub use room::{FrozenRoom, LogRecord, Room, TickOutput};
pub use snapshot::{SNAPSHOT_FORMAT_VERSION, SnapshotError};
