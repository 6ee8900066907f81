//! Components of the board: every piece is an entity.

use bevy_ecs::component::Component;
use tickroom_protocol::{MemberId, Pos, TeamId};

/// What a piece is; fixed at room creation.
#[derive(Component, Debug, Clone, Copy)]
pub struct Piece {
    pub team: Option<TeamId>,
}

#[derive(Component, Debug, Clone, Copy)]
pub struct Position(pub Pos);

/// A piece's lock. Kept as an `Option` inside one component rather than an
/// added/removed component so that taking a lock never moves the entity
/// between archetypes.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct PieceLock(pub Option<LockState>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockState {
    pub holder: MemberId,
    /// The first tick at which the lock is gone unless renewed before.
    pub expires_at: u64,
    /// Tells this lock apart from earlier locks of the same piece in the
    /// expiry queue. Bookkeeping only: not part of the state or its hash.
    pub serial: u64,
}
