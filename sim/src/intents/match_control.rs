//! The room's lifecycle by request: `setup → live` (start_match, host) and
//! `* → archived` (archive_room, host or admin). Timer-driven transitions are
//! in `systems`.

use crate::input::Outcome;
use crate::pipeline::{Actor, Board, Handler, require_phase};
use tickroom_protocol::{DomainEvent, ErrorBody, Phase, ReleaseReason};

pub(crate) struct Start;

impl Handler for Start {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(b, &[Phase::Setup], "start the match")
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.host_or_admin("start the match")
    }
    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
        let ends_at = b.tick() + u64::from(b.meta.config.match_ticks);
        b.meta.phase = Phase::Live;
        b.meta.match_ends_at = Some(ends_at);
        b.out.staged.push(DomainEvent::PhaseChanged {
            phase: Phase::Live,
            until: Some(ends_at),
        });
        Outcome::Applied
    }
}

pub(crate) struct Archive;

impl Handler for Archive {
    fn validate(&self, b: &Board, _: Actor) -> Result<(), ErrorBody> {
        require_phase(
            b,
            &[Phase::Setup, Phase::Live, Phase::Expired],
            "archive the room",
        )
    }
    fn authorize(&self, _: &Board, actor: Actor) -> Result<(), ErrorBody> {
        actor.host_or_admin("archive the room")
    }
    fn apply(&self, b: &mut Board, _: Actor) -> Outcome {
        archive(b);
        Outcome::Applied
    }
}

/// Ends the room: every lock goes and the board is frozen. Seats may still
/// change (members leave, disconnect, expire or are kicked), so that an
/// archived room's roster stays true until it is unloaded.
pub(crate) fn archive(b: &mut Board) {
    b.release_locks_of(None, ReleaseReason::PhaseEnded);
    b.meta.phase = Phase::Archived;
    b.meta.archive_at = None;
    b.out.staged.push(DomainEvent::PhaseChanged {
        phase: Phase::Archived,
        until: None,
    });
}
