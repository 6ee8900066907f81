//! The mutation pipeline. Every input runs through the same named stages, one
//! input at a time in arrival order:
//!
//! resolve actor → validate → authorize → lock → apply → bump version → emit.
//!
//! A failure at any stage before `apply` rejects the input with a coded
//! error and leaves the room untouched; each intent kind's module in
//! `intents/` supplies its own stages through [`Handler`].

use crate::components::{LockState, Piece, PieceLock, Position};
use crate::input::{AdminAction, Input, InputKind, Outcome};
use crate::intents::{chat, dice, formation, lock, match_control, membership, movement};
use crate::resources::{
    Boxed, ChatLog, Formations, HeldLocks, Inbox, LockExpiries, Outbox, PieceIndex, RoomMeta,
    RoomRng, Roster,
};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use std::cmp::Reverse;
use tickroom_protocol::{
    DomainEvent, ErrorBody, ErrorCode, Intent, MemberId, Origin, Phase, PieceId, Pos, Presence,
    ReleaseReason, Role, TeamId,
};

/// Everything a mutation may read or write, fetched once per system run.
#[derive(SystemParam)]
pub(crate) struct Board<'w, 's> {
    pub meta: ResMut<'w, Boxed<RoomMeta>>,
    pub roster: ResMut<'w, Boxed<Roster>>,
    pub index: Res<'w, Boxed<PieceIndex>>,
    pub pieces: Query<
        'w,
        's,
        (
            &'static Piece,
            &'static mut Position,
            &'static mut PieceLock,
        ),
    >,
    pub expiries: ResMut<'w, Boxed<LockExpiries>>,
    pub held: ResMut<'w, Boxed<HeldLocks>>,
    pub formations: ResMut<'w, Boxed<Formations>>,
    pub chat: ResMut<'w, Boxed<ChatLog>>,
    pub rng: ResMut<'w, Boxed<RoomRng>>,
    pub out: ResMut<'w, Boxed<Outbox>>,
}

/// A piece as the stages see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PieceNow {
    pub piece: Piece,
    pub pos: Pos,
    pub lock: Option<LockState>,
}

impl Board<'_, '_> {
    pub fn piece(&self, id: PieceId) -> Result<PieceNow, ErrorBody> {
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

    pub fn set_position(&mut self, id: PieceId, to: Pos) {
        if let Some(e) = self.index.get(id)
            && let Ok((_, mut pos, _)) = self.pieces.get_mut(e)
        {
            pos.0 = to;
        }
    }

    /// Gives `holder` the lock of `id` until `tick + lock_ttl_ticks`.
    pub fn take_lock(&mut self, id: PieceId, holder: MemberId) -> u64 {
        let expires_at = self.meta.tick + u64::from(self.meta.config.lock_ttl_ticks);
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
    pub fn renew_lock(&mut self, id: PieceId) -> u64 {
        let expires_at = self.meta.tick + u64::from(self.meta.config.lock_ttl_ticks);
        if let Some(e) = self.index.get(id)
            && let Ok((_, _, mut lock)) = self.pieces.get_mut(e)
            && let Some(state) = lock.0.as_mut()
        {
            state.expires_at = expires_at;
        }
        expires_at
    }

    /// Frees the lock of `id`, staging a `lock_released` event.
    pub fn release_lock(&mut self, id: PieceId, reason: ReleaseReason) {
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
            self.out.staged.push(DomainEvent::LockReleased {
                piece: id,
                holder: state.holder,
                reason,
            });
        }
    }

    /// Frees every lock `holder` holds (or every lock, for `None`), in piece order.
    pub fn release_locks_of(&mut self, holder: Option<MemberId>, reason: ReleaseReason) {
        let pieces: Vec<PieceId> = match holder {
            Some(h) => self.held.0.get(&h).into_iter().flatten().copied().collect(),
            None => {
                let mut all: Vec<PieceId> = self.held.0.values().flatten().copied().collect();
                all.sort_unstable();
                all
            }
        };
        for id in pieces {
            self.release_lock(id, reason);
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

    /// Removes a seat: its locks go, and a departed host is succeeded by the
    /// longest-seated player.
    pub fn unseat(&mut self, member: MemberId, reason: tickroom_protocol::LeaveReason) {
        self.release_locks_of(Some(member), ReleaseReason::HolderLeft);
        let Some(gone) = self.roster.members.remove(&member) else {
            return;
        };
        self.out
            .staged
            .push(DomainEvent::MemberLeft { member, reason });
        if gone.role == Role::Host {
            // Connected players first: a host in its grace period could not act.
            let successor = self
                .roster
                .members
                .values_mut()
                .filter(|m| m.role == Role::Player)
                .min_by_key(|m| (m.presence != Presence::Connected, m.seat));
            let host = successor.map(|m| {
                m.role = Role::Host;
                m.id
            });
            self.out.staged.push(DomainEvent::HostChanged { host });
        }
    }

    /// Moves staged events into the delta as one mutation: bumps the version
    /// and stamps each event with it and its origin.
    pub fn commit(&mut self, origin: Origin) {
        self.meta.version += 1;
        let version = self.meta.version;
        self.out.emit_staged(origin, version);
    }

    pub fn tick(&self) -> u64 {
        self.meta.tick
    }
}

/// The seat an input acts for, as the stages need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Who {
    pub id: MemberId,
    pub role: Role,
    pub team: Option<TeamId>,
    pub presence: Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Member(Who),
    /// The ops API, authorized outside the room.
    Admin,
    /// A session without a seat yet (joins).
    Newcomer,
}

impl Actor {
    /// The acting seat, or NOT_IN_ROOM.
    pub fn seat(self) -> Result<Who, ErrorBody> {
        match self {
            Actor::Member(w) => Ok(w),
            Actor::Admin | Actor::Newcomer => Err(not_in_room("this request needs a seat")),
        }
    }

    /// The acting seat if it may mutate the board (players and the host).
    pub fn mover(self) -> Result<Who, ErrorBody> {
        let who = self.seat()?;
        if who.role == Role::Spectator {
            return Err(
                ErrorBody::new(ErrorCode::Forbidden, "spectators cannot change the board")
                    .with("role", "spectator"),
            );
        }
        Ok(who)
    }

    /// The host or an admin, or FORBIDDEN.
    pub fn host_or_admin(self, what: &str) -> Result<(), ErrorBody> {
        match self {
            Actor::Admin => Ok(()),
            Actor::Member(w) if w.role == Role::Host => Ok(()),
            _ => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                format!("only the host can {what}"),
            )),
        }
    }
}

pub(crate) fn not_in_room(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotInRoom, message)
}

/// WRONG_PHASE unless the room is in one of `allowed`.
pub(crate) fn require_phase(b: &Board, allowed: &[Phase], what: &str) -> Result<(), ErrorBody> {
    if allowed.contains(&b.meta.phase) {
        return Ok(());
    }
    let allowed_names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
    Err(ErrorBody::new(
        ErrorCode::WrongPhase,
        format!("cannot {what} while the room is {}", b.meta.phase.as_str()),
    )
    .with("phase", b.meta.phase.as_str())
    .with("allowed", allowed_names.join(",")))
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

/// Whether passing the checks leads to a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Apply,
    /// An idempotent repeat: acknowledge, change nothing.
    Noop,
}

/// One kind of input's stages. `apply` runs only after every check passed
/// and stages its events; the pipeline then bumps the version and emits.
pub(crate) trait Handler {
    /// Arguments against the room's config, and the phase.
    fn validate(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody>;
    /// Role, team and ownership.
    fn authorize(&self, b: &Board, actor: Actor) -> Result<(), ErrorBody>;
    /// Locks the mutation needs, and idempotency.
    fn lock(&self, _b: &Board, _actor: Actor) -> Result<Effect, ErrorBody> {
        Ok(Effect::Apply)
    }
    fn apply(&self, b: &mut Board, actor: Actor) -> Outcome;
}

fn run<H: Handler>(b: &mut Board, h: &H, actor: Actor, origin: Origin) -> Outcome {
    let checked = h
        .validate(b, actor)
        .and_then(|()| h.authorize(b, actor))
        .and_then(|()| h.lock(b, actor));
    match checked {
        Err(e) => Outcome::Rejected(e),
        Ok(Effect::Noop) => Outcome::Duplicate,
        Ok(Effect::Apply) => {
            let outcome = h.apply(b, actor);
            // A join's events belong to the seat it created.
            let origin = match outcome {
                Outcome::Joined { member } => Origin {
                    member: Some(member),
                    ..origin
                },
                _ => origin,
            };
            b.commit(origin);
            outcome
        }
    }
}

/// Which seat the input acts for. Members in their grace period may only
/// reconnect, leave or expire.
fn resolve_actor(b: &Board, input: &Input) -> Result<Actor, ErrorBody> {
    match &input.kind {
        InputKind::Join { .. } => return Ok(Actor::Newcomer),
        InputKind::Admin(_) => return Ok(Actor::Admin),
        _ => {}
    }
    let id = input
        .member
        .ok_or_else(|| not_in_room("this request needs a seat in the room"))?;
    let m = b.roster.members.get(&id).ok_or_else(|| {
        not_in_room(&format!("member {} has no seat in this room", id.0)).with("member", id.0)
    })?;
    let grace_ok = matches!(
        input.kind,
        InputKind::Reconnect | InputKind::GraceExpired | InputKind::Leave
    );
    if m.presence == Presence::InGrace && !grace_ok {
        return Err(not_in_room("the member is disconnected; reconnect first").with("member", id.0));
    }
    Ok(Actor::Member(Who {
        id,
        role: m.role,
        team: m.team,
        presence: m.presence,
    }))
}

/// Runs one input through the pipeline.
pub(crate) fn process(b: &mut Board, input: &Input) -> Outcome {
    let origin = Origin {
        // Admin actions come from no seat, whatever `member` they name; a
        // grace expiry is the room's own timer acting on the seat it names.
        member: input
            .member
            .filter(|_| !matches!(input.kind, InputKind::Admin(_) | InputKind::GraceExpired)),
        seq: input.seq,
    };
    let actor = match resolve_actor(b, input) {
        Ok(a) => a,
        Err(e) => return Outcome::Rejected(e),
    };
    match &input.kind {
        InputKind::Join {
            user,
            name,
            role,
            team,
        } => run(
            b,
            &membership::Join {
                user,
                name,
                role: *role,
                team: *team,
            },
            actor,
            origin,
        ),
        InputKind::Leave => run(b, &membership::Leave, actor, origin),
        InputKind::Disconnect => run(b, &membership::Disconnect, actor, origin),
        InputKind::Reconnect => run(b, &membership::Reconnect, actor, origin),
        InputKind::GraceExpired => run(b, &membership::GraceExpired, actor, origin),
        InputKind::ChangeTeam { team } => {
            run(b, &membership::ChangeTeam { team: *team }, actor, origin)
        }
        InputKind::Admin(AdminAction::Kick { member, .. }) => {
            run(b, &membership::Kick { member: *member }, actor, origin)
        }
        InputKind::Admin(AdminAction::Archive { .. }) => {
            run(b, &match_control::Archive, actor, origin)
        }
        InputKind::Intent(intent) => match intent {
            Intent::MovePiece { piece, to } => run(
                b,
                &movement::MovePiece {
                    piece: *piece,
                    to: *to,
                },
                actor,
                origin,
            ),
            Intent::TakeLock { piece } => run(b, &lock::Take { piece: *piece }, actor, origin),
            Intent::RenewLock { piece } => {
                let op = lock::HeldLockOp::Renew;
                run(b, &lock::Held { piece: *piece, op }, actor, origin)
            }
            Intent::ReleaseLock { piece } => {
                let op = lock::HeldLockOp::Release;
                run(b, &lock::Held { piece: *piece, op }, actor, origin)
            }
            Intent::SaveFormation { name, key } => {
                run(b, &formation::Save { name, key }, actor, origin)
            }
            Intent::ApplyFormation { name } => run(b, &formation::Apply { name }, actor, origin),
            Intent::RollDice { notation } => run(b, &dice::Roll { notation }, actor, origin),
            Intent::Chat { text } => run(b, &chat::Post { text }, actor, origin),
            Intent::StartMatch {} => run(b, &match_control::Start, actor, origin),
            Intent::ArchiveRoom {} => run(b, &match_control::Archive, actor, origin),
        },
    }
}

/// The pipeline system: drains the inbox in arrival order.
pub(crate) fn apply_inputs(inbox: Res<Boxed<Inbox>>, mut board: Board) {
    for input in &inbox.0 {
        let outcome = process(&mut board, input);
        board.out.outcomes.push(outcome);
    }
}
