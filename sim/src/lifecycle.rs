//! The room's phase: `setup → live → expired → archived`. `start_match`
//! (host) and `archive` (host or admin) by request, `live → expired` and
//! `expired → archived` by timer. The engine owns the phase because the
//! server acts on it (an archived room is unloaded); a mode offers the
//! requests as intents of its own and calls [`start_match`] and
//! [`archive_room`], and hears of a phase ending through
//! [`Mode::on_change`].

use crate::input::Outcome;
use crate::mode::{Actor, Applied, Mode, RoomChange, RoomCtx};
use crate::pipeline::Handler;
use crate::resources::RoomMeta;
use bevy_ecs::system::{StaticSystemParam, SystemParamItem};
use tickroom_protocol::{DomainEvent, ErrorBody, Origin, Phase};

/// `setup → live` for the host (or an admin): the match timer starts.
pub fn start_match(c: &mut RoomCtx, actor: Actor) -> Result<Applied, ErrorBody> {
    c.require_phase(&[Phase::Setup], "start the match")?;
    actor.host_or_admin("start the match")?;
    let ends_at = c.tick() + u64::from(c.meta.config.match_ticks);
    c.meta.phase = Phase::Live;
    c.meta.match_ends_at = Some(ends_at);
    c.emit_room(DomainEvent::PhaseChanged {
        phase: Phase::Live,
        until: Some(ends_at),
    });
    Ok(Applied::Changed)
}

fn check_archive(c: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
    c.require_phase(
        &[Phase::Setup, Phase::Live, Phase::Expired],
        "archive the room",
    )?;
    actor.host_or_admin("archive the room")
}

/// `* → archived` for the host (or an admin).
pub fn archive_room<M: Mode>(
    game: &mut SystemParamItem<M::Param>,
    c: &mut RoomCtx,
    actor: Actor,
) -> Result<Applied, ErrorBody> {
    check_archive(c, actor)?;
    archive::<M>(game, c);
    Ok(Applied::Changed)
}

/// The admin action.
pub(crate) struct Archive;

impl<M: Mode> Handler<M> for Archive {
    fn validate(&self, c: &RoomCtx, actor: Actor) -> Result<(), ErrorBody> {
        check_archive(c, actor)
    }
    fn authorize(&self, _: &RoomCtx, _: Actor) -> Result<(), ErrorBody> {
        Ok(())
    }
    fn apply(&self, c: &mut RoomCtx, game: &mut SystemParamItem<M::Param>, _: Actor) -> Outcome {
        archive::<M>(game, c);
        Outcome::Applied
    }
}

/// Ends the room: the mode winds down (the board drops every lock) and the
/// game is frozen. Seats may still change (members leave, disconnect,
/// expire or are kicked), so that an archived room's roster stays true
/// until it is unloaded.
fn archive<M: Mode>(game: &mut SystemParamItem<M::Param>, c: &mut RoomCtx) {
    M::on_change(game, c, RoomChange::PhaseEnding(Phase::Archived));
    c.meta.phase = Phase::Archived;
    c.meta.archive_at = None;
    c.emit_room(DomainEvent::PhaseChanged {
        phase: Phase::Archived,
        until: None,
    });
}

impl RoomMeta {
    /// The phase's own timer: match end while live, auto-archive while expired.
    pub fn phase_timer(&self) -> Option<u64> {
        match self.phase {
            Phase::Live => self.match_ends_at,
            Phase::Expired => self.archive_at,
            Phase::Setup | Phase::Archived => None,
        }
    }
}

/// `live → expired` when the match timer runs out; `expired → archived`
/// when the auto-archive delay has passed. Each is one mutation.
pub(crate) fn run_phase_timers<M: Mode>(mut c: RoomCtx, mut game: StaticSystemParam<M::Param>) {
    loop {
        let now = c.tick();
        match (c.meta.phase, c.meta.phase_timer()) {
            (Phase::Live, Some(end)) if now >= end => {
                M::on_change(&mut game, &mut c, RoomChange::PhaseEnding(Phase::Expired));
                let archive_at = end + u64::from(c.meta.config.auto_archive_ticks);
                c.meta.phase = Phase::Expired;
                c.meta.archive_at = Some(archive_at);
                c.emit_room(DomainEvent::PhaseChanged {
                    phase: Phase::Expired,
                    until: Some(archive_at),
                });
                c.commit(Origin::default());
            }
            (Phase::Expired, Some(at)) if now >= at => {
                archive::<M>(&mut game, &mut c);
                c.commit(Origin::default());
            }
            _ => break,
        }
    }
}
