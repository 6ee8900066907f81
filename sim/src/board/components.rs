//! Components of the board: every piece is an entity.

use bevy_ecs::component::Component;
use tickroom_protocol::{Pos, TeamId};

/// What a piece is; fixed at room creation.
#[derive(Component, Debug, Clone, Copy)]
pub struct Piece {
    pub team: Option<TeamId>,
}

#[derive(Component, Debug, Clone, Copy)]
pub struct Position(pub Pos);
