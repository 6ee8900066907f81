//! What the board's intents and systems touch, fetched once per tick, and
//! the board's stages: validate → authorize → lock → apply.

use super::Board;
use super::components::{Piece, Position};
use super::resources::{ChatLog, Formations, PieceIndex, PieceLocks};
use crate::mode::{Actor, Applied, RoomCtx, Who};
use crate::parts::locks::{Lock, Taken};
use crate::resources::Boxed;
use crate::snapshot::ModeConfig;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use tickroom_protocol::board::{Config, Event, ReleaseReason};
use tickroom_protocol::{ErrorBody, ErrorCode, MemberId, PieceId, Pos, TeamId};

/// Everything a board mutation may read or write besides the engine's.
#[derive(SystemParam)]
pub struct BoardParam<'w, 's> {
    pub(crate) settings: Res<'w, Boxed<ModeConfig<Board>>>,
    pub(crate) index: Res<'w, Boxed<PieceIndex>>,
    pub(crate) pieces: Query<'w, 's, (&'static Piece, &'static mut Position)>,
    pub(crate) locks: ResMut<'w, Boxed<PieceLocks>>,
    pub(crate) formations: ResMut<'w, Boxed<Formations>>,
    pub(crate) chat: ResMut<'w, Boxed<ChatLog>>,
}

/// A piece as the stages see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PieceNow {
    pub piece: Piece,
    pub pos: Pos,
}

impl BoardParam<'_, '_> {
    pub fn config(&self) -> &Config {
        &self.settings.0
    }

    #[inline]
    pub(crate) fn piece(&self, id: PieceId) -> Result<PieceNow, ErrorBody> {
        self.index
            .get(id)
            .and_then(|e| self.pieces.get(e).ok())
            .map(|(piece, pos)| PieceNow {
                piece: *piece,
                pos: pos.0,
            })
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::PieceNotFound,
                    format!("no piece {id} in this room"),
                )
                .with("piece", id.0)
            })
    }

    #[inline]
    pub fn set_position(&mut self, id: PieceId, to: Pos) {
        if let Some(e) = self.index.get(id)
            && let Ok((_, mut pos)) = self.pieces.get_mut(e)
        {
            pos.0 = to;
        }
    }

    fn lock_ttl(&self) -> u64 {
        u64::from(self.config().lock_ttl_ticks)
    }

    /// Gives `holder` the lock of `id` (or renews its own).
    pub fn take_lock(&mut self, tick: u64, id: PieceId, holder: MemberId) -> Taken {
        let ttl = self.lock_ttl();
        self.locks.take(tick, ttl, id, holder)
    }

    /// Pushes the lock's expiry to `tick + lock_ttl_ticks`; returns it.
    #[inline]
    pub fn renew_lock(&mut self, tick: u64, id: PieceId) -> u64 {
        let ttl = self.lock_ttl();
        self.locks.renew(tick, ttl, id).unwrap_or(tick + ttl)
    }

    /// Frees the lock of `id`, staging a `lock_released` event.
    pub fn release_lock(&mut self, c: &mut RoomCtx, id: PieceId, reason: ReleaseReason) {
        if let Some(lock) = self.locks.release(id) {
            announce_release(c, id, lock, reason);
        }
    }

    /// Frees every lock `holder` holds (or every lock, for `None`), in piece order.
    pub fn release_locks_of(
        &mut self,
        c: &mut RoomCtx,
        holder: Option<MemberId>,
        reason: ReleaseReason,
    ) {
        for (id, lock) in self.locks.release_all(holder) {
            announce_release(c, id, lock, reason);
        }
    }
}

pub(crate) fn announce_release(c: &mut RoomCtx, piece: PieceId, lock: Lock, reason: ReleaseReason) {
    c.emit(Event::LockReleased {
        piece,
        holder: lock.holder,
        reason,
    });
}

/// FORBIDDEN unless `who` may touch a piece of `team` (own team or unowned).
pub(crate) fn may_touch(who: Who, id: PieceId, team: Option<TeamId>) -> Result<(), ErrorBody> {
    match team {
        Some(t) if who.team != Some(t) => Err(ErrorBody::new(
            ErrorCode::Forbidden,
            format!("piece {id} belongs to team {}", t.0),
        )
        .with("piece", id.0)
        .with("team", u32::from(t.0))),
        _ => Ok(()),
    }
}

/// One board intent's stages. `apply` runs only after every check passed
/// and stages its events; the engine then bumps the version and emits.
pub(crate) trait Stages {
    /// Arguments against the room's config, and the phase.
    fn validate(&self, c: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody>;
    /// Role, team and ownership.
    fn authorize(&self, c: &RoomCtx, b: &BoardParam, actor: Actor) -> Result<(), ErrorBody>;
    /// Locks the mutation needs, and idempotency.
    fn lock(&self, _c: &RoomCtx, _b: &BoardParam, _actor: Actor) -> Result<Applied, ErrorBody> {
        Ok(Applied::Changed)
    }
    fn apply(&self, c: &mut RoomCtx, b: &mut BoardParam, actor: Actor);
}

#[inline]
pub(crate) fn run<S: Stages>(
    c: &mut RoomCtx,
    b: &mut BoardParam,
    s: &S,
    actor: Actor,
) -> Result<Applied, ErrorBody> {
    s.validate(c, b, actor)?;
    s.authorize(c, b, actor)?;
    let effect = s.lock(c, b, actor)?;
    if effect == Applied::Changed {
        s.apply(c, b, actor);
    }
    Ok(effect)
}
