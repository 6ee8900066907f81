//! The engine's pipeline. Every input runs through the same named stages,
//! one input at a time in arrival order:
//!
//! resolve actor → validate → authorize → lock → apply → bump version → emit.
//!
//! A failure at any stage before `apply` rejects the input with a coded
//! error and leaves the room untouched. Seats and the phase are the
//! engine's ([`crate::membership`], [`crate::lifecycle`]); intents go to the
//! room's mode ([`Mode::handle`]), which keeps the same rule.

use crate::input::{AdminAction, Input, InputKind, Outcome};
use crate::membership;
use crate::mode::{Actor, Mode, RoomCtx, Who, not_in_room, outcome_of};
use crate::resources::{Boxed, Inbox};
use bevy_ecs::prelude::*;
use bevy_ecs::system::{StaticSystemParam, SystemParamItem};
use tickroom_protocol::{ErrorBody, ErrorCode, Origin, Presence};

/// Whether passing the checks leads to a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Apply,
    /// An idempotent repeat: acknowledge, change nothing.
    Noop,
}

/// One kind of engine input's stages. `apply` runs only after every check
/// passed and stages its events; the pipeline then bumps the version and
/// emits.
pub(crate) trait Handler<M: Mode> {
    /// Arguments against the room's config, and the phase.
    fn validate(&self, c: &RoomCtx, actor: Actor) -> Result<(), ErrorBody>;
    /// Role, team and ownership.
    fn authorize(&self, c: &RoomCtx, actor: Actor) -> Result<(), ErrorBody>;
    /// Idempotency.
    fn lock(&self, _c: &RoomCtx, _actor: Actor) -> Result<Effect, ErrorBody> {
        Ok(Effect::Apply)
    }
    fn apply(&self, c: &mut RoomCtx, game: &mut SystemParamItem<M::Param>, actor: Actor)
    -> Outcome;
}

fn run<M: Mode, H: Handler<M>>(
    c: &mut RoomCtx,
    game: &mut SystemParamItem<M::Param>,
    h: &H,
    actor: Actor,
    origin: Origin,
) -> Outcome {
    let checked = h
        .validate(c, actor)
        .and_then(|()| h.authorize(c, actor))
        .and_then(|()| h.lock(c, actor));
    match checked {
        Err(e) => {
            c.out.discard_staged();
            Outcome::Rejected(e)
        }
        Ok(Effect::Noop) => {
            c.out.discard_staged();
            Outcome::Duplicate
        }
        Ok(Effect::Apply) => {
            let outcome = h.apply(c, game, actor);
            // A join's events belong to the seat it created.
            let origin = match outcome {
                Outcome::Joined { member } => Origin {
                    member: Some(member),
                    ..origin
                },
                _ => origin,
            };
            c.commit(origin);
            outcome
        }
    }
}

/// Which seat the input acts for. Members in their grace period may only
/// reconnect, leave or expire.
#[inline]
fn resolve_actor(c: &RoomCtx, input: &Input) -> Result<Actor, ErrorBody> {
    match &input.kind {
        InputKind::Join { .. } => return Ok(Actor::Newcomer),
        InputKind::Admin(_) => return Ok(Actor::Admin),
        _ => {}
    }
    let id = input
        .member
        .ok_or_else(|| not_in_room("this request needs a seat in the room"))?;
    let m = c.roster.members.get(&id).ok_or_else(|| {
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

/// UNKNOWN_INTENT: a payload that is not the room's mode's intent.
pub(crate) fn unknown_intent<M: Mode>(detail: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::UnknownIntent,
        format!(
            "this room plays {}, which has no such intent{detail}",
            M::NAME
        ),
    )
    .with("mode", M::NAME)
}

/// Runs one input through the pipeline.
#[inline]
fn process<M: Mode>(
    c: &mut RoomCtx,
    game: &mut SystemParamItem<M::Param>,
    input: &Input,
) -> Outcome {
    let origin = Origin {
        // Admin actions come from no seat, whatever `member` they name; a
        // grace expiry is the room's own timer acting on the seat it names.
        member: input
            .member
            .filter(|_| !matches!(input.kind, InputKind::Admin(_) | InputKind::GraceExpired)),
        seq: input.seq,
    };
    let actor = match resolve_actor(c, input) {
        Ok(a) => a,
        Err(e) => return Outcome::Rejected(e),
    };
    use membership as ms;
    match &input.kind {
        InputKind::Join {
            user,
            name,
            role,
            team,
        } => {
            let join = ms::Join {
                user,
                name,
                role: *role,
                team: *team,
            };
            run::<M, _>(c, game, &join, actor, origin)
        }
        InputKind::Leave => run::<M, _>(c, game, &ms::Leave, actor, origin),
        InputKind::Disconnect => run::<M, _>(c, game, &ms::Disconnect, actor, origin),
        InputKind::Reconnect => run::<M, _>(c, game, &ms::Reconnect, actor, origin),
        InputKind::GraceExpired => run::<M, _>(c, game, &ms::GraceExpired, actor, origin),
        InputKind::ChangeTeam { team } => {
            run::<M, _>(c, game, &ms::ChangeTeam { team: *team }, actor, origin)
        }
        InputKind::Admin(AdminAction::Kick { member, .. }) => {
            run::<M, _>(c, game, &ms::Kick { member: *member }, actor, origin)
        }
        InputKind::Admin(AdminAction::Archive { .. }) => {
            run::<M, _>(c, game, &crate::lifecycle::Archive, actor, origin)
        }
        InputKind::Intent(payload) => {
            let Some(intent) = payload.downcast_ref::<M::Intent>() else {
                return Outcome::Rejected(unknown_intent::<M>(""));
            };
            let outcome = outcome_of(M::handle(game, c, actor, intent));
            if outcome == Outcome::Applied {
                c.commit(origin);
            } else {
                c.out.discard_staged();
            }
            outcome
        }
    }
}

/// The pipeline system: drains the inbox in arrival order.
pub(crate) fn apply_inputs<M: Mode>(
    inbox: Res<Boxed<Inbox>>,
    mut c: RoomCtx,
    mut game: StaticSystemParam<M::Param>,
) {
    for input in &inbox.0 {
        let outcome = process::<M>(&mut c, &mut game, input);
        c.out.outcomes.push(outcome);
    }
}
