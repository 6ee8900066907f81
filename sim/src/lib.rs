//! The deterministic room simulation, and the game-mode API.
//!
//! A [`Room`] is one bevy_ecs `World` plus a single-threaded `Schedule`,
//! advanced only by [`Room::step`]: inputs go in, one [`TickOutput`] comes out
//! (the delta, one outcome per input, and the inputs back for the log). No
//! I/O, no clocks, no threads: time is the tick count and randomness is the
//! room's seeded ChaCha8 generator, so the same seed and the same inputs give
//! the same state hash on every run and machine.
//!
//! The engine owns seats, roles, grace, host succession, the phase, the
//! version, the generator, hash and snapshots; a [`Mode`] owns the game
//! (see [`mode`] and `docs/modes.md`). [`board::Board`] is the first mode;
//! [`mode_docs`] holds a mode's documentation page to its code.

pub mod board;
pub mod dice;
pub mod fixtures;
mod input;
pub mod lifecycle;
mod membership;
pub mod mode;
pub mod mode_docs;
pub mod names;
pub mod parts;
mod pipeline;
mod registry;
mod resources;
mod room;

pub mod scenario;
mod snapshot;
mod systems;

pub use input::{AdminAction, Input, InputKind, Outcome};
pub use mode::{Actor, Applied, Mode, ModeData, RoomChange, RoomCtx, TickSet, Viewer, Who};
pub use registry::{ModeEntry, ModeHandle, ModeRef, Modes, mode};
pub use resources::{Audience, Member};

/// The seats of a room's world, for a mode's `view` and `sees_all` (which
/// get the world, not a [`RoomCtx`]).
pub mod seats {
    use crate::resources::{Boxed, Member, Roster};
    use bevy_ecs::world::World;
    use tickroom_protocol::MemberId;

    /// The seat `id`, if it is in the room.
    pub fn member(world: &World, id: MemberId) -> Option<&Member> {
        world.resource::<Boxed<Roster>>().members.get(&id)
    }

    /// The host, if the room has one.
    pub fn host(world: &World) -> Option<MemberId> {
        world.resource::<Boxed<Roster>>().host()
    }

    /// Every seat, in member id order.
    pub fn members(world: &World) -> impl Iterator<Item = &Member> {
        world.resource::<Boxed<Roster>>().members.values()
    }
}
pub use room::{FrozenRoom, LogRecord, Room, TickOutput};
pub use snapshot::{
    EngineState, SNAPSHOT_FORMAT_VERSION, SnapshotError, SnapshotHeader, hash_of_snapshot,
};

/// Re-exported so a mode's crate uses the same bevy_ecs as the engine.
pub use bevy_ecs;
