//! Piece locks: `unlocked → locked → released | expired`. First processed
//! wins; taking a lock one already holds renews it.

use super::param::{BoardParam, Stages, lock_held_by_other, may_touch};
use crate::mode::{Actor, Applied, RoomCtx, Who};
use tickroom_protocol::board::{Event, ReleaseReason};
use tickroom_protocol::{ErrorBody, ErrorCode, Phase, PieceId};

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
    match b.piece(piece)?.lock {
        Some(l) if l.holder == who.id => Ok(Applied::Changed),
        other => {
            let err = ErrorBody::new(
                ErrorCode::NotLockOwner,
                format!(
                    "member {} does not hold the lock of piece {piece}",
                    who.id.0
                ),
            )
            .with("piece", piece.0);
            Err(match other {
                Some(l) => err.with("holder", l.holder.0),
                None => err,
            })
        }
    }
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
        lock_held_by_other(who.id, self.piece, b.piece(self.piece)?.lock)?;
        Ok(Applied::Changed)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor) {
        let Ok(who) = actor.mover() else {
            return;
        };
        let already_held = b.piece(self.piece).ok().and_then(|p| p.lock).is_some();
        let event = if already_held {
            Event::LockRenewed {
                piece: self.piece,
                holder: who.id,
                expires_at: b.renew_lock(c.tick(), self.piece),
            }
        } else {
            Event::LockTaken {
                piece: self.piece,
                holder: who.id,
                expires_at: b.take_lock(c.tick(), self.piece, who.id),
            }
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
