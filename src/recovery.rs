//! Recovery at start: every room the store holds that is not archived is
//! rebuilt from its newest snapshot plus its log tail, checked against the
//! hashes stored on the way, and comes back with its epoch increased.

use crate::driver::seat_seqs::SeatSeqs;
use crate::driver::{RoomSlot, ShardInit};
use crate::rebuild::{RebuildError, Rebuilt, Start, rebuild};
use anyhow::Context;
use std::time::{Duration, Instant};
use tickroom_persistence::Reader;
use tickroom_protocol::RoomId;

pub struct Recovered {
    pub init: Vec<ShardInit>,
    /// (user, room) of every seat, so sessions can resume after a restart.
    pub seats: Vec<(String, RoomId)>,
    pub rooms: usize,
    pub inputs: u64,
    /// Rooms that could not be rebuilt at all, with why; they stay in the
    /// store untouched for `tickroom replay` to examine.
    pub failed: Vec<(String, String)>,
    /// Rooms whose history was found damaged and that came back at their
    /// last consistent tick: what was cut and why.
    pub damaged: Vec<Damaged>,
    pub elapsed: Duration,
}

/// A room recovered to its last consistent tick.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Damaged {
    pub room: String,
    /// The last tick the room's stored history was consistent to; the room
    /// came back there.
    pub recovered_to_tick: u64,
    /// The last tick the store held for it before the cut.
    pub stored_to_tick: u64,
    /// Logged ticks and snapshots moved to `damaged_ticks` and
    /// `damaged_snapshots`.
    pub ticks_moved: u64,
    pub snapshots_moved: u64,
    pub error: String,
}

/// Rebuilds a room from its newest snapshot and log tail; when its history
/// is damaged at tick T, rebuilds it to T - 1 instead (and again below a
/// further damage), so the room comes back at its last consistent tick.
/// The second value is the first error met, when the room had to stop
/// short of its stored end.
///
/// Also gives the seats' last applied seqs at the rebuilt tick: those
/// stored with the snapshot the rebuild started from, then the tail's.
fn rebuild_consistent(
    modes: &tickroom_sim::Modes,
    reader: &Reader,
    stored: &tickroom_persistence::StoredRoom,
) -> Result<(Rebuilt, SeatSeqs, Option<RebuildError>), RebuildError> {
    let mut first_error = None;
    let mut to_tick = None;
    let id = stored.record.room.as_str();
    loop {
        let mut seqs = None;
        let result = rebuild(modes, reader, stored, Start::Newest, to_tick, |_, out| {
            let seqs = seqs.get_or_insert_with(|| {
                // The room before its first replayed tick: the base.
                let base = out.tick - 1;
                if base == 0 {
                    return Ok(SeatSeqs::default());
                }
                reader
                    .snapshot_seqs(id, base)
                    .map(|s| SeatSeqs::from_stored(&s))
            });
            if let Ok(seqs) = seqs {
                seqs.note_tick(out);
            }
        });
        match result {
            Ok(rebuilt) => {
                let seqs = match seqs {
                    Some(s) => s,
                    // Nothing replayed after the base snapshot.
                    None if rebuilt.room.tick() == 0 => Ok(SeatSeqs::default()),
                    None => reader
                        .snapshot_seqs(id, rebuilt.room.tick())
                        .map(|s| SeatSeqs::from_stored(&s)),
                };
                // Only resumes lean on them: the room itself is whole.
                let seqs = seqs.unwrap_or_else(|e| {
                    tracing::error!(room = %id, error = %e, "the seats' last applied seqs do not read back; resumed sessions get none (their clients may send in-flight requests again)");
                    SeatSeqs::default()
                });
                return Ok((rebuilt, seqs, first_error));
            }
            Err(e) => {
                let Some(bad) = e.damaged_at().filter(|t| *t > 0) else {
                    return Err(first_error.unwrap_or(e));
                };
                if to_tick.is_some_and(|t| t < bad) {
                    // No progress: the damage is not where the error says.
                    return Err(first_error.unwrap_or(e));
                }
                tracing::error!(room = %stored.record.room, error = %e, tick = bad, "a room's stored history is damaged; rebuilding it to the tick before");
                first_error.get_or_insert(e);
                to_tick = Some(bad - 1);
            }
        }
    }
}

pub fn recover(
    modes: &tickroom_sim::Modes,
    path: &std::path::Path,
    shards: usize,
    grace_ms: u64,
) -> anyhow::Result<Recovered> {
    let started = Instant::now();
    let mut out = Recovered {
        init: (0..shards).map(|_| ShardInit::default()).collect(),
        seats: Vec::new(),
        rooms: 0,
        inputs: 0,
        failed: Vec::new(),
        damaged: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let reader = Reader::open_for_recovery(path)?;
    for stored in reader.rooms(true)? {
        let id = RoomId::from(stored.record.room.as_str());
        let shard = crate::driver::shard_index(&id, shards);
        if stored.archived_at.is_some() {
            out.init[shard].retired.insert(id);
            continue;
        }
        let t0 = Instant::now();
        match rebuild_consistent(modes, &reader, &stored) {
            Ok((rebuilt, seqs, damage)) => {
                if let Some(e) = damage {
                    let kept = rebuilt.room.tick();
                    let cut = tickroom_persistence::cut_after(
                        path,
                        id.as_str(),
                        kept,
                        &e.to_string(),
                    )
                    .with_context(|| {
                        format!("moving aside the damaged history of room {id} after tick {kept}")
                    })?;
                    tracing::error!(
                        room = %id,
                        recovered_to_tick = kept,
                        stored_to_tick = stored.last_tick,
                        ticks_moved = cut.ticks,
                        snapshots_moved = cut.snapshots,
                        error = %e,
                        "a room's history was damaged: it is recovered to its last consistent tick, and what followed is kept in damaged_ticks / damaged_snapshots"
                    );
                    out.damaged.push(Damaged {
                        room: id.to_string(),
                        recovered_to_tick: kept,
                        stored_to_tick: stored.last_tick,
                        ticks_moved: cut.ticks,
                        snapshots_moved: cut.snapshots,
                        error: e.to_string(),
                    });
                }
                let mut room = rebuilt.room;
                room.bump_epoch();
                tracing::info!(
                    room = %id,
                    tick = room.tick(),
                    state_hash = %room.state_hash(),
                    epoch = room.epoch(),
                    from_tick = rebuilt.from_tick,
                    inputs = rebuilt.inputs,
                    ms = t0.elapsed().as_millis() as u64,
                    "room recovered"
                );
                out.inputs += rebuilt.inputs;
                out.rooms += 1;
                let mut slot = RoomSlot::recovered(room, seqs, stored.record.private, grace_ms);
                out.seats
                    .extend(slot.seated_users().into_iter().map(|u| (u, id.clone())));
                out.init[shard].rooms.push(slot);
            }
            Err(e) => {
                tracing::error!(room = %id, error = %e, "a room could not be recovered; it is left in the store");
                out.init[shard].retired.insert(id.clone());
                out.failed.push((id.to_string(), e.to_string()));
            }
        }
    }
    out.elapsed = started.elapsed();
    Ok(out)
}
