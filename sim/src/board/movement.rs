//! Moving a piece: needs the piece's lock, and renews it.

use super::param::{BoardParam, Stages, may_touch};
use crate::mode::{Actor, Applied, RoomCtx};
use tickroom_protocol::board::Event;
use tickroom_protocol::{ErrorBody, ErrorCode, Phase, PieceId, Pos};

pub(crate) struct MovePiece {
    pub piece: PieceId,
    pub to: Pos,
}

impl Stages for MovePiece {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        c.require_phase(&[Phase::Setup, Phase::Live], "move pieces")?;
        b.piece(self.piece)?;
        let (w, h) = (b.config().board_width, b.config().board_height);
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

    fn authorize(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        let who = actor.mover()?;
        may_touch(who, self.piece, b.piece(self.piece)?.piece.team)
    }

    fn lock(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<Applied, ErrorBody> {
        let who = actor.mover()?;
        match b.locks.get(self.piece) {
            Some(l) if l.holder == who.id => Ok(Applied::Changed),
            Some(_) => b
                .locks
                .free_for(who.id, self.piece)
                .map(|()| Applied::Changed),
            None => Err(ErrorBody::new(
                ErrorCode::NotLockOwner,
                format!("take the lock of piece {} before moving it", self.piece),
            )
            .with("piece", self.piece.0)),
        }
    }

    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, _: Actor) {
        b.set_position(self.piece, self.to);
        b.renew_lock(c.tick(), self.piece);
        c.emit(Event::PieceMoved {
            piece: self.piece,
            to: self.to,
        });
    }
}
