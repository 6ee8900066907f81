//! Rebuilding a room from the store using only its seed, its log and (where
//! the log was compacted, or to go fast) a snapshot. Recovery at start uses
//! the newest snapshot plus the log tail; `tickroom replay` and `export`
//! start from creation (or the oldest kept snapshot) and check every stored
//! hash on the way. Every replayed outcome is compared with the logged one.

use std::collections::BTreeMap;
use tickroom_persistence::{InputRow, Reader, StoreError, StoredRoom};
use tickroom_protocol::{RoomId, StateHash};
use tickroom_sim::{Modes, Room, TickOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The newest snapshot at or before the end (recovery).
    Newest,
    /// Creation, or the oldest kept snapshot once the log was compacted.
    Oldest,
}

/// Where a rebuilt room first differs from what the store recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Divergence {
    pub tick: u64,
    pub what: String,
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the snapshot at tick {tick} does not restore: {message}")]
    Snapshot { tick: u64, message: String },
    #[error("the logged input {index} of tick {tick} does not decode: {message}")]
    Input {
        tick: u64,
        index: u32,
        message: String,
    },
    #[error("the log was compacted up to tick {0} and no snapshot there is kept")]
    NoBase(u64),
    #[error("diverged at tick {}: {} expected {}, got {}", .0.tick, .0.what, .0.expected, .0.actual)]
    Diverged(Divergence),
    /// The room plays a mode (or a version of one) this build does not
    /// have: replaying it would be a silent divergence, so it is not tried.
    #[error("{0}")]
    ModeUnavailable(String),
}

impl RebuildError {
    /// The tick at which the stored history stops being consistent, when
    /// the error is damage at a tick (not a store fault or a missing base).
    pub fn damaged_at(&self) -> Option<u64> {
        match self {
            RebuildError::Diverged(d) => Some(d.tick),
            RebuildError::Input { tick, .. } | RebuildError::Snapshot { tick, .. } => Some(*tick),
            RebuildError::Store(_) | RebuildError::NoBase(_) | RebuildError::ModeUnavailable(_) => {
                None
            }
        }
    }
}

pub struct Rebuilt {
    pub room: Room,
    /// The tick the rebuild started from (0 = creation).
    pub from_tick: u64,
    pub inputs: u64,
    /// Stored hashes (snapshots and published tick hashes) checked.
    pub hashes_checked: u64,
}

/// Rebuilds `stored` up to `to_tick` (default: its last logged tick).
/// `on_tick` sees every replayed tick's output.
pub fn rebuild(
    modes: &Modes,
    reader: &Reader,
    stored: &StoredRoom,
    start: Start,
    to_tick: Option<u64>,
    on_tick: impl FnMut(&Room, &TickOutput),
) -> Result<Rebuilt, RebuildError> {
    let room = base(modes, reader, stored, start, to_tick)?;
    replay(reader, stored, room, to_tick, on_tick)
}

fn end_tick(stored: &StoredRoom, to_tick: Option<u64>) -> u64 {
    to_tick.map_or(stored.last_tick, |t| t.min(stored.last_tick))
}

/// The room a rebuild starts from: created from its seed and config, or
/// restored from the snapshot `start` picks (its hash checked).
pub fn base(
    modes: &Modes,
    reader: &Reader,
    stored: &StoredRoom,
    start: Start,
    to_tick: Option<u64>,
) -> Result<Room, RebuildError> {
    let id = stored.record.room.as_str();
    let mode = modes
        .for_stored(&stored.record.config.mode, stored.record.mode_version)
        .map_err(|e| {
            let code = tickroom_protocol::ErrorCode::ModeUnavailable;
            RebuildError::ModeUnavailable(format!("{code}: room {id}: {e}"))
        })?;
    let end = end_tick(stored, to_tick);
    let snapshots = reader.snapshots(id)?;
    let base = match start {
        Start::Newest => snapshots.iter().rev().find(|s| s.tick <= end),
        Start::Oldest if stored.log_from_tick == 0 => None,
        Start::Oldest => Some(
            snapshots
                .iter()
                .find(|s| s.tick == stored.log_from_tick)
                .ok_or(RebuildError::NoBase(stored.log_from_tick))?,
        ),
    };
    if base.is_none() && stored.log_from_tick > 0 {
        return Err(RebuildError::NoBase(stored.log_from_tick));
    }
    let room = match base {
        Some(meta) => {
            let bytes = reader
                .snapshot_bytes(id, meta.tick)?
                .ok_or(RebuildError::NoBase(meta.tick))?;
            let room = mode.restore(&bytes).map_err(|e| RebuildError::Snapshot {
                tick: meta.tick,
                message: e.to_string(),
            })?;
            check_hash(
                meta.tick,
                "snapshot state hash",
                meta.state_hash,
                room.state_hash(),
            )?;
            room
        }
        None => mode
            .create(
                RoomId::from(stored.record.room.as_str()),
                stored.record.config.clone(),
                stored.record.seed,
            )
            .map_err(|e| RebuildError::Snapshot {
                tick: 0,
                message: format!("the stored room config is refused: {}", e.message),
            })?,
    };
    Ok(room)
}

/// Steps `room` (from [`base`]) through the log up to `to_tick`, comparing
/// every outcome and every stored hash on the way.
pub fn replay(
    reader: &Reader,
    stored: &StoredRoom,
    mut room: Room,
    to_tick: Option<u64>,
    mut on_tick: impl FnMut(&Room, &TickOutput),
) -> Result<Rebuilt, RebuildError> {
    let id = stored.record.room.as_str();
    let end = end_tick(stored, to_tick);
    let snapshots = reader.snapshots(id)?;
    let from_tick = room.tick();
    // Every hash the store recorded after the start: snapshots and the
    // hashes ticks published.
    let mut expected: BTreeMap<u64, (u64, &'static str)> = BTreeMap::new();
    // The version each logged tick ended at: a tick missing from the log
    // (a hole) shows at the next logged tick as a version behind.
    let mut versions: BTreeMap<u64, u64> = BTreeMap::new();
    for t in reader.ticks(id, from_tick, end)? {
        if let Some(h) = t.state_hash {
            expected.insert(t.tick, (h, "published state hash"));
        }
        versions.insert(t.tick, t.to_version);
    }
    for s in snapshots
        .iter()
        .filter(|s| s.tick > from_tick && s.tick <= end)
    {
        expected.insert(s.tick, (s.state_hash, "snapshot state hash"));
    }
    let mut r = Replay {
        room: &mut room,
        expected,
        versions,
        inputs: 0,
        hashes_checked: 0,
    };
    let mut tick_rows: Vec<InputRow> = Vec::new();
    let mut current = None;
    reader.for_each_input::<RebuildError>(id, from_tick, end, |tick, row| {
        if current.is_some_and(|c| c != tick) {
            r.step_to(
                current.unwrap_or(tick),
                std::mem::take(&mut tick_rows),
                &mut on_tick,
            )?;
        }
        current = Some(tick);
        tick_rows.push(row);
        Ok(())
    })?;
    if let Some(t) = current {
        r.step_to(t, tick_rows, &mut on_tick)?;
    }
    r.step_to_end(end, &mut on_tick)?;
    let (inputs, hashes_checked) = (r.inputs, r.hashes_checked);
    Ok(Rebuilt {
        room,
        from_tick,
        inputs,
        hashes_checked,
    })
}

fn check_hash(tick: u64, what: &str, expected: u64, actual: StateHash) -> Result<(), RebuildError> {
    if expected == actual.0 {
        return Ok(());
    }
    Err(RebuildError::Diverged(Divergence {
        tick,
        what: what.into(),
        expected: StateHash(expected).to_string(),
        actual: actual.to_string(),
    }))
}

struct Replay<'a> {
    room: &'a mut Room,
    expected: BTreeMap<u64, (u64, &'static str)>,
    versions: BTreeMap<u64, u64>,
    inputs: u64,
    hashes_checked: u64,
}

impl Replay<'_> {
    fn step(
        &mut self,
        inputs: Vec<tickroom_sim::Input>,
        rows: &[InputRow],
        on_tick: &mut impl FnMut(&Room, &TickOutput),
    ) -> Result<(), RebuildError> {
        let out = self.room.step(inputs);
        for (row, outcome) in rows.iter().zip(&out.outcomes) {
            let actual = crate::driver::journal::encode(outcome);
            if actual != row.outcome {
                let logged: Option<tickroom_sim::Outcome> = postcard::from_bytes(&row.outcome).ok();
                return Err(RebuildError::Diverged(Divergence {
                    tick: out.tick,
                    what: format!("outcome of input {} ({})", row.index, row.kind),
                    expected: format!("{logged:?}"),
                    actual: format!("{outcome:?}"),
                }));
            }
        }
        if let Some(version) = self.versions.get(&out.tick)
            && *version != self.room.version()
        {
            return Err(RebuildError::Diverged(Divergence {
                tick: out.tick,
                what: "room version after the tick (an earlier tick is missing from the log, or the log is damaged)".into(),
                expected: version.to_string(),
                actual: self.room.version().to_string(),
            }));
        }
        if let Some((hash, what)) = self.expected.get(&out.tick) {
            check_hash(out.tick, what, *hash, self.room.state_hash())?;
            self.hashes_checked += 1;
        }
        on_tick(self.room, &out);
        Ok(())
    }

    /// Steps empty ticks up to `tick - 1`, then `tick` with its logged inputs.
    fn step_to(
        &mut self,
        tick: u64,
        rows: Vec<InputRow>,
        on_tick: &mut impl FnMut(&Room, &TickOutput),
    ) -> Result<(), RebuildError> {
        self.step_to_end(tick.saturating_sub(1), on_tick)?;
        let mut inputs = Vec::with_capacity(rows.len());
        for row in &rows {
            let input = self
                .room
                .mode()
                .decode_input(&row.input)
                .map_err(|message| RebuildError::Input {
                    tick,
                    index: row.index,
                    message,
                })?;
            inputs.push(input);
        }
        self.inputs += inputs.len() as u64;
        self.step(inputs, &rows, on_tick)
    }

    fn step_to_end(
        &mut self,
        end: u64,
        on_tick: &mut impl FnMut(&Room, &TickOutput),
    ) -> Result<(), RebuildError> {
        while self.room.tick() < end {
            self.step(Vec::new(), &[], on_tick)?;
        }
        Ok(())
    }
}

/// A room as another node's replica holds it (cluster mode): its record,
/// its newest snapshot with the seats' last applied seqs (none before its
/// first snapshot), and the ticks logged after that snapshot, in order.
pub struct Replicated {
    pub record: tickroom_persistence::RoomRecord,
    pub snapshot: Option<(tickroom_persistence::SnapshotRow, Vec<(u32, u64)>)>,
    pub ticks: Vec<tickroom_persistence::TickBatch>,
}

/// Rebuilds a replicated room to its last replicated tick, checking every
/// hash and outcome on the way as a rebuild from the store does; returns
/// the room and its seats' last applied seqs.
pub fn from_replica(
    modes: &Modes,
    replica: &Replicated,
) -> Result<(Room, crate::driver::seat_seqs::SeatSeqs), RebuildError> {
    let record = &replica.record;
    let id = record.room.as_str();
    let mode = modes
        .for_stored(&record.config.mode, record.mode_version)
        .map_err(|e| {
            let code = tickroom_protocol::ErrorCode::ModeUnavailable;
            RebuildError::ModeUnavailable(format!("{code}: room {id}: {e}"))
        })?;
    let (mut room, mut seqs) = match &replica.snapshot {
        Some((snapshot, seqs)) => {
            let room = mode
                .restore(&snapshot.bytes)
                .map_err(|e| RebuildError::Snapshot {
                    tick: snapshot.tick,
                    message: e.to_string(),
                })?;
            check_hash(
                snapshot.tick,
                "snapshot state hash",
                snapshot.state_hash,
                room.state_hash(),
            )?;
            (room, crate::driver::seat_seqs::SeatSeqs::from_stored(seqs))
        }
        None => (
            mode.create(RoomId::from(id), record.config.clone(), record.seed)
                .map_err(|e| RebuildError::Snapshot {
                    tick: 0,
                    message: format!("the replicated room config is refused: {}", e.message),
                })?,
            crate::driver::seat_seqs::SeatSeqs::default(),
        ),
    };
    let from = room.tick();
    let ticks: Vec<&tickroom_persistence::TickBatch> =
        replica.ticks.iter().filter(|t| t.tick > from).collect();
    let mut r = Replay {
        room: &mut room,
        expected: ticks
            .iter()
            .filter_map(|t| Some((t.tick, (t.state_hash?, "published state hash"))))
            .collect(),
        versions: ticks.iter().map(|t| (t.tick, t.to_version)).collect(),
        inputs: 0,
        hashes_checked: 0,
    };
    let mut note = |_: &Room, out: &TickOutput| seqs.note_tick(out);
    for t in ticks {
        r.step_to(t.tick, t.inputs.clone(), &mut note)?;
    }
    Ok((room, seqs))
}
