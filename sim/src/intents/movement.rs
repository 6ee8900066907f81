//! Moving a piece: needs the piece's lock, and renews it.

use crate::input::Outcome;
use crate::pipeline::{Actor, Board, Handler, lock_held_by_other, may_touch, require_phase};
use tickroom_protocol::{DomainEvent, ErrorBody, ErrorCode, Phase, PieceId, Pos};

pub(crate) struct MovePiece {
    pub piece: PieceId,
    pub to: Pos,
}

impl Handler for MovePiece {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup, Phase::Live], "move pieces")?;
        b.piece(self.piece)?;
        let (w, h) = (b.meta.config.board_width, b.meta.config.board_height);
        if !(0..w).contains(&self.to.x) || !(0..h).contains(&self.to.y) {
            return Err(ErrorBody::new(
                ErrorCode::OutOfBounds,
                format!(
                    "({}, {}) is outside the {w}×{h} board",
                    self.to.x, self.to.y
                ),
            )
            .with("x", self.to.x)
            .with("y", self.to.y)
            .with("width", w)
            .with("height", h));
        }
        Ok(())
    }

    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody> {
        let who = actor.mover()?;
        may_touch(who, self.piece, b.piece(self.piece)?.piece.team)
    }

    fn lock(&self, b: &Board, actor: Actor) -> Result<crate::pipeline::Effect, ErrorBody> {
        let who = actor.mover()?;
        let lock = b.piece(self.piece)?.lock;
        lock_held_by_other(who.id, self.piece, lock)?;
        if lock.is_none() {
            return Err(ErrorBody::new(
                ErrorCode::NotLockOwner,
                format!("take the lock of piece {} before moving it", self.piece),
            )
            .with("piece", self.piece.0));
        }
        Ok(crate::pipeline::Effect::Apply)
    }

    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
        b.set_position(self.piece, self.to);
        b.renew_lock(self.piece);
        b.out.staged.push(DomainEvent::PieceMoved {
            piece: self.piece,
            to: self.to,
        });
        Outcome::Applied
    }
}
