//! Recovery at start: every room the store holds that is not archived is
//! rebuilt from its newest snapshot plus its log tail, checked against the
//! hashes stored on the way, and comes back with its epoch increased.

use crate::driver::{RoomSlot, ShardInit};
use crate::rebuild::{Start, rebuild};
use std::time::{Duration, Instant};
use tickroom_persistence::Reader;
use tickroom_protocol::RoomId;

pub struct Recovered {
    pub init: Vec<ShardInit>,
    /// (user, room) of every seat, so sessions can resume after a restart.
    pub seats: Vec<(String, RoomId)>,
    pub rooms: usize,
    pub inputs: u64,
    /// Rooms that could not be rebuilt, with why; they stay in the store
    /// untouched for `tickroom replay` to examine.
    pub failed: Vec<(String, String)>,
    pub elapsed: Duration,
}

pub fn recover(path: &std::path::Path, shards: usize, grace_ms: u64) -> anyhow::Result<Recovered> {
    let started = Instant::now();
    let mut out = Recovered {
        init: (0..shards).map(|_| ShardInit::default()).collect(),
        seats: Vec::new(),
        rooms: 0,
        inputs: 0,
        failed: Vec::new(),
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
        match rebuild(&reader, &stored, Start::Newest, None, |_, _| {}) {
            Ok(rebuilt) => {
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
                let mut slot = RoomSlot::recovered(room, stored.record.private, grace_ms);
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
