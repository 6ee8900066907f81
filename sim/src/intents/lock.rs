//! Piece locks: `unlocked → locked → released | expired`. First processed
//! wins; taking a lock one already holds renews it.

use crate::input::Outcome;
use crate::pipeline::{
    Actor, Board, Effect, Handler, Who, lock_held_by_other, may_touch, require_phase,
};
use tickroom_protocol::{DomainEvent, ErrorBody, ErrorCode, Phase, PieceId, ReleaseReason};

const LOCK_PHASES: &[Phase] = &[Phase::Setup, Phase::Live];

fn validate_piece(b: &Board, piece: PieceId) -> Result<(), ErrorBody> {
    require_phase(b, LOCK_PHASES, "lock pieces")?;
    b.piece(piece).map(drop)
}

fn authorize_piece(b: &Board, actor: Actor, piece: PieceId) -> Result<Who, ErrorBody> {
    let who = actor.mover()?;
    may_touch(who, piece, b.piece(piece)?.piece.team)?;
    Ok(who)
}

/// NOT_LOCK_OWNER unless `who` holds the lock of `piece`.
fn require_holder(b: &Board, who: Who, piece: PieceId) -> Result<Effect, ErrorBody> {
    match b.piece(piece)?.lock {
        Some(l) if l.holder == who.id => Ok(Effect::Apply),
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

impl Handler for Take {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        validate_piece(b, self.piece)
    }
    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody> {
        authorize_piece(b, actor, self.piece).map(drop)
    }
    fn lock(&self, b: &Board, actor: Actor) -> Result<Effect, ErrorBody> {
        let who = actor.mover()?;
        lock_held_by_other(who.id, self.piece, b.piece(self.piece)?.lock)?;
        Ok(Effect::Apply)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        let Ok(who) = actor.mover() else {
            return Outcome::Applied;
        };
        let already_held = b.piece(self.piece).ok().and_then(|p| p.lock).is_some();
        let event = if already_held {
            DomainEvent::LockRenewed {
                piece: self.piece,
                holder: who.id,
                expires_at: b.renew_lock(self.piece),
            }
        } else {
            DomainEvent::LockTaken {
                piece: self.piece,
                holder: who.id,
                expires_at: b.take_lock(self.piece, who.id),
            }
        };
        b.out.staged.push(event);
        Outcome::Applied
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

impl Handler for Held {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        validate_piece(b, self.piece)
    }
    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody> {
        authorize_piece(b, actor, self.piece).map(drop)
    }
    fn lock(&self, b: &Board, actor: Actor) -> Result<Effect, ErrorBody> {
        require_holder(b, actor.mover()?, self.piece)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome {
        match (self.op, actor.mover()) {
            (HeldLockOp::Renew, Ok(who)) => {
                let expires_at = b.renew_lock(self.piece);
                b.out.staged.push(DomainEvent::LockRenewed {
                    piece: self.piece,
                    holder: who.id,
                    expires_at,
                });
            }
            (HeldLockOp::Release, _) => b.release_lock(self.piece, ReleaseReason::Released),
            (HeldLockOp::Renew, Err(_)) => {}
        }
        Outcome::Applied
    }
}
