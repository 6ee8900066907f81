//! What the board's intents and systems touch, fetched once per tick, and
//! the board's stages: validate → authorize → lock → apply.

use super::Board;
use super::components::{LockState, Piece, PieceLock, Position};
use super::resources::{ChatLog, Formations, HeldLocks, LockExpiries, PieceIndex};
use crate::mode::{Actor, Applied, RoomCtx, Who};
use crate::resources::Boxed;
use crate::snapshot::ModeConfig;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use std::cmp::Reverse;
use tickroom_protocol::board::{Config, Event, ReleaseReason};
use tickroom_protocol::{ErrorBody, ErrorCode, MemberId, PieceId, Pos, TeamId};

/// Everything a board mutation may read or write besides the engine's.
#[derive(SystemParam)]
pub struct BoardParam<'w, 's> {
    pub(crate) settings: Res<'w, Boxed<ModeConfig<Board>>>,
    pub(crate) index: Res<'w, Boxed<PieceIndex>>,
    pub(crate) pieces: Query<
        'w,
        's,
        (
            &'static Piece,
            &'static mut Position,
            &'static mut PieceLock,
        ),
    >,
    pub(crate) expiries: ResMut<'w, Boxed<LockExpiries>>,
    pub(crate) held: ResMut<'w, Boxed<HeldLocks>>,
    pub(crate) formations: ResMut<'w, Boxed<Formations>>,
    pub(crate) chat: ResMut<'w, Boxed<ChatLog>>,
}

/// A piece as the stages see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PieceNow {
    pub piece: Piece,
    pub pos: Pos,
    pub lock: Option<LockState>,
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
            .map(|(piece, pos, lock)| PieceNow {
                piece: *piece,
                pos: pos.0,
                lock: lock.0,
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
            && let Ok((_, mut pos, _)) = self.pieces.get_mut(e)
        {
            pos.0 = to;
        }
    }

    /// Gives `holder` the lock of `id` until `tick + lock_ttl_ticks`.
    pub fn take_lock(&mut self, tick: u64, id: PieceId, holder: MemberId) -> u64 {
        let expires_at = tick + u64::from(self.config().lock_ttl_ticks);
        let serial = self.expiries.next_serial;
        self.expiries.next_serial += 1;
        self.expiries.queue.push(Reverse((expires_at, id, serial)));
        if let Some(e) = self.index.get(id)
            && let Ok((_, _, mut lock)) = self.pieces.get_mut(e)
        {
            lock.0 = Some(LockState {
                holder,
                expires_at,
                serial,
            });
        }
        self.held.0.entry(holder).or_default().insert(id);
        self.compact_expiries();
        expires_at
    }

    /// Pushes the lock's expiry to `tick + lock_ttl_ticks`; returns it.
    #[inline]
    pub fn renew_lock(&mut self, tick: u64, id: PieceId) -> u64 {
        let expires_at = tick + u64::from(self.config().lock_ttl_ticks);
        if let Some(e) = self.index.get(id)
            && let Ok((_, _, mut lock)) = self.pieces.get_mut(e)
            && let Some(state) = lock.0.as_mut()
        {
            state.expires_at = expires_at;
        }
        expires_at
    }

    /// Frees the lock of `id`, staging a `lock_released` event.
    pub fn release_lock(&mut self, c: &mut RoomCtx, id: PieceId, reason: ReleaseReason) {
        let Some(e) = self.index.get(id) else { return };
        let Ok((_, _, mut lock)) = self.pieces.get_mut(e) else {
            return;
        };
        if let Some(state) = lock.0.take() {
            if let Some(held) = self.held.0.get_mut(&state.holder) {
                held.remove(&id);
                if held.is_empty() {
                    self.held.0.remove(&state.holder);
                }
            }
            c.emit(Event::LockReleased {
                piece: id,
                holder: state.holder,
                reason,
            });
        }
    }

    /// Frees every lock `holder` holds (or every lock, for `None`), in piece order.
    pub fn release_locks_of(
        &mut self,
        c: &mut RoomCtx,
        holder: Option<MemberId>,
        reason: ReleaseReason,
    ) {
        let pieces: Vec<PieceId> = match holder {
            Some(h) => self.held.0.get(&h).into_iter().flatten().copied().collect(),
            None => {
                let mut all: Vec<PieceId> = self.held.0.values().flatten().copied().collect();
                all.sort_unstable();
                all
            }
        };
        for id in pieces {
            self.release_lock(c, id, reason);
        }
    }

    /// Drops stale entries (of released or renewed locks) from the expiry
    /// queue once they outnumber the pieces, so lock churn cannot grow it.
    fn compact_expiries(&mut self) {
        if self.expiries.queue.len() <= 2 * self.index.0.len() + 64 {
            return;
        }
        let mut queue = std::collections::BinaryHeap::new();
        for i in 0..self.index.0.len() {
            let id = PieceId(i as u32);
            if let Some(l) = self.piece(id).ok().and_then(|p| p.lock) {
                queue.push(Reverse((l.expires_at, id, l.serial)));
            }
        }
        self.expiries.queue = queue;
    }
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

/// LOCK_HELD when someone other than `who` holds the lock.
pub(crate) fn lock_held_by_other(
    who: MemberId,
    id: PieceId,
    lock: Option<LockState>,
) -> Result<(), ErrorBody> {
    match lock {
        Some(l) if l.holder != who => Err(ErrorBody::new(
            ErrorCode::LockHeld,
            format!("piece {id} is locked by member {}", l.holder.0),
        )
        .with("piece", id.0)
        .with("holder", l.holder.0)
        .with("expires_at", l.expires_at)),
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
