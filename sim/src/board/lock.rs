//! Piece locks: `unlocked → locked → released | expired`. First processed
//! wins; taking a lock one already holds renews it.

use super::param::{BoardParam, Stages, may_touch};
use crate::mode::{Actor, Applied, RoomCtx, Who};
use crate::parts::locks::Taken;
use tickroom_protocol::board::{Event, ReleaseReason};
use tickroom_protocol::{ErrorBody, Phase, PieceId};

const LOCK_PHASES: &[Phase] = &[Phase::Setup, Phase::Live];

fn validate_piece(c: &RoomCtx, b: &BoardParam, piece: PieceId) -> Result<(), ErrorBody> {
    c.require_phase(LOCK_PHASES, "lock pieces")?;
    b.piece(piece).map(drop)
}

fn authorize_piece(b: &BoardParam, actor: Actor, piece: PieceId) -> Result<Who, ErrorBody> {
    let who = actor.mover()?;
    may_touch(who, piece, b.piece(piece)?.piece.team)?;
    Ok(who)
}

/// NOT_LOCK_OWNER unless `who` holds the lock of `piece`.
fn require_holder(b: &BoardParam, who: Who, piece: PieceId) -> Result<Applied, ErrorBody> {
    b.piece(piece)?;
    b.locks.require_holder(who.id, piece)?;
    Ok(Applied::Changed)
}

pub(crate) struct Take {
    pub piece: PieceId,
}

impl Stages for Take {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        validate_piece(c, b, self.piece)
    }
    fn authorize(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        authorize_piece(b, actor, self.piece).map(drop)
    }
    fn lock(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<Applied, ErrorBody> {
        let who = actor.mover()?;
        b.piece(self.piece)?;
        b.locks.free_for(who.id, self.piece)?;
        Ok(Applied::Changed)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        let Ok(who) = actor.mover() else {
            return;
        };
        let event = match b.take_lock(c.tick(), self.piece, who.id) {
            Taken::Renewed { expires_at } => Event::LockRenewed {
                piece: self.piece,
                holder: who.id,
                expires_at,
            },
            Taken::New { expires_at } => Event::LockTaken {
                piece: self.piece,
                holder: who.id,
                expires_at,
            },
        };
        c.emit(event);
    }
}

/// What a holder does with a lock it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldLockOp {
    Renew,
    Release,
}

/// Renew or release: both need the member to hold the lock.
pub(crate) struct Held {
    pub piece: PieceId,
    pub op: HeldLockOp,
}

impl Stages for Held {
    fn validate(&self, c: &RoomCtx, b: &BoardParam, _: Actor) -> Result<(), ErrorBody> {
        validate_piece(c, b, self.piece)
    }
    fn authorize(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody> {
        authorize_piece(b, actor, self.piece).map(drop)
    }
    fn lock(&self, _: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<Applied, ErrorBody> {
        require_holder(b, actor.mover()?, self.piece)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        match (self.op, actor.mover()) {
            (HeldLockOp::Renew, Ok(who)) => {
                let expires_at = b.renew_lock(c.tick(), self.piece);
                c.emit(Event::LockRenewed {
                    piece: self.piece,
                    holder: who.id,
                    expires_at,
                });
            }
            (HeldLockOp::Release, _) => b.release_lock(c, self.piece, ReleaseReason::Released),
            (HeldLockOp::Renew, Err(_)) => {}
        }
    }
}
