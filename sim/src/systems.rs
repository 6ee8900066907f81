//! Systems that run every tick with work due, before and after the intents:
//! timer-driven phase changes, lock expiries, and the state hash.

use crate::pipeline::Board;
use crate::resources::{Boxed, Outbox, RoomMeta};
use crate::snapshot::CanonicalState;
use bevy_ecs::world::World;
use std::cmp::Reverse;
use tickroom_protocol::{DomainEvent, Origin, Phase, ReleaseReason};

/// `live → expired` when the match timer runs out; `expired → archived`
/// when the auto-archive delay has passed. Each is one mutation.
pub(crate) fn run_phase_timers(mut b: Board) {
    loop {
        let now = b.tick();
        match (b.meta.phase, b.meta.phase_timer()) {
            (Phase::Live, Some(end)) if now >= end => {
                b.release_locks_of(None, ReleaseReason::PhaseEnded);
                let archive_at = end + u64::from(b.meta.config.auto_archive_ticks);
                b.meta.phase = Phase::Expired;
                b.meta.archive_at = Some(archive_at);
                b.out.staged.push(DomainEvent::PhaseChanged {
                    phase: Phase::Expired,
                    until: Some(archive_at),
                });
                b.commit(Origin::default());
            }
            (Phase::Expired, Some(at)) if now >= at => {
                crate::intents::match_control::archive(&mut b);
                b.commit(Origin::default());
            }
            _ => break,
        }
    }
}

/// Expires locks whose time has come, in `(tick, piece)` order; each expiry
/// is one mutation. Entries of renewed locks are pushed back at their new
/// expiry; entries of locks already gone are dropped.
pub(crate) fn expire_locks(mut b: Board) {
    let now = b.tick();
    while let Some(&Reverse((due, piece, serial))) = b.expiries.queue.peek() {
        if due > now {
            break;
        }
        b.expiries.queue.pop();
        let Some(lock) = b.piece(piece).ok().and_then(|p| p.lock) else {
            continue;
        };
        if lock.serial != serial {
            continue;
        }
        if lock.expires_at <= now {
            b.release_lock(piece, ReleaseReason::Expired);
            b.commit(Origin::default());
        } else {
            b.expiries
                .queue
                .push(Reverse((lock.expires_at, piece, serial)));
        }
    }
}

/// Puts the state hash on the delta when one is due: the tick has events and
/// `hash_every_ticks` have passed since the last published hash.
pub(crate) fn publish_hash(world: &mut World) {
    let due = {
        let meta = world.resource::<Boxed<RoomMeta>>();
        let out = world.resource::<Boxed<Outbox>>();
        !out.events.is_empty()
            && meta.tick - meta.last_hash_tick >= u64::from(meta.config.hash_every_ticks)
    };
    if due {
        let tick = world.resource::<Boxed<RoomMeta>>().tick;
        world.resource_mut::<Boxed<RoomMeta>>().last_hash_tick = tick;
        let hash = CanonicalState::read(world).hash();
        world.resource_mut::<Boxed<Outbox>>().state_hash = Some(hash);
    }
}
