//! The rows the store writes and reads. The store knows nothing of the
//! simulation: inputs and outcomes arrive already encoded, with the few
//! fields queries need (member, seq, kind, rejection code) beside them.

use serde::{Deserialize, Serialize};
use tickroom_protocol::RoomConfig;

/// A room as it was created: enough to rebuild it from its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: String,
    pub seed: u64,
    pub config: RoomConfig,
    pub private: bool,
    /// Unix milliseconds.
    pub created_at: u64,
    /// The version of the room's game mode (`config.mode`) that created it.
    pub mode_version: u32,
}

/// A room row with what the store learned since its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    pub record: RoomRecord,
    pub epoch: u32,
    /// The last tick with a logged input or event.
    pub last_tick: u64,
    /// The log holds every tick after this one; 0 while it is complete from
    /// creation, the compaction base snapshot's tick after compaction.
    pub log_from_tick: u64,
    pub archived_at: Option<u64>,
}

/// One logged input and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRow {
    /// Position in the tick's processing order.
    pub index: u32,
    pub member: Option<u32>,
    pub seq: Option<u64>,
    /// A short stable name of the input kind (`join`, `move_piece`, …).
    pub kind: String,
    /// The rejection code, when the input was rejected.
    pub code: Option<String>,
    /// The encoded input, as the simulation replays it.
    pub input: Vec<u8>,
    /// The encoded outcome.
    pub outcome: Vec<u8>,
    /// The trace id of the request that carried it (client requests and
    /// API actions); the server's log lines show it as 16 hex digits.
    pub trace_id: Option<u64>,
}

/// A formation save, kept durably and idempotent by (room, user, key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormationRow {
    pub user: String,
    pub key: String,
    pub name: String,
    pub team: Option<u16>,
    pub member: u32,
    /// Encoded placements.
    pub placements: Vec<u8>,
}

/// A host or admin action: who did what, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// `start_match`, `archive`, `kick`, …
    pub action: String,
    /// The user (or admin name) who did it.
    pub actor: String,
    /// JSON with the action's particulars.
    pub details: String,
}

/// Everything one tick of one room adds to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickBatch {
    pub room: String,
    pub tick: u64,
    pub from_version: u64,
    pub to_version: u64,
    /// The state hash the tick published, if it published one.
    pub state_hash: Option<u64>,
    /// Unix milliseconds.
    pub at: u64,
    pub inputs: Vec<InputRow>,
    pub formations: Vec<FormationRow>,
    pub audit: Vec<AuditRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub room: String,
    pub tick: u64,
    pub version: u64,
    pub epoch: u32,
    pub state_hash: u64,
    /// Unix milliseconds.
    pub at: u64,
    pub bytes: Vec<u8>,
}

/// A snapshot without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub tick: u64,
    pub version: u64,
    pub epoch: u32,
    pub state_hash: u64,
    pub size: u64,
    pub at: u64,
}

/// One logged tick: its version range and the hash it published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRow {
    pub tick: u64,
    pub from_version: u64,
    pub to_version: u64,
    pub state_hash: Option<u64>,
    pub at: u64,
}

/// One write, in the order the tick threads produced it. Serializable so
/// that writes the store cannot make can wait in a dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Write {
    CreateRoom(RoomRecord),
    Tick(TickBatch),
    Snapshot(SnapshotRow),
    /// The room was archived at this unix-millisecond time.
    Archived {
        room: String,
        at: u64,
    },
    /// The room was restored after a restart with this epoch.
    Epoch {
        room: String,
        epoch: u32,
    },
    /// A snapshot with the last request sequence number applied for each
    /// seat (member id, seq) at its tick: one write, so that no crash can
    /// keep the snapshot and lose the seqs.
    SeatedSnapshot {
        snapshot: SnapshotRow,
        seqs: Vec<(u32, u64)>,
    },
    /// Cluster mode: the room came to this node from another node's
    /// replica, at `tick`. Whatever this store kept of it (an older life
    /// here) is replaced: its ticks and snapshots are dropped, its record
    /// rewritten, and its log starts at `tick` (the snapshot that follows).
    Adopt {
        record: RoomRecord,
        tick: u64,
    },
}

impl Write {
    pub fn room(&self) -> &str {
        match self {
            Write::CreateRoom(r) | Write::Adopt { record: r, .. } => &r.room,
            Write::Tick(t) => &t.room,
            Write::Snapshot(s) | Write::SeatedSnapshot { snapshot: s, .. } => &s.room,
            Write::Archived { room, .. } | Write::Epoch { room, .. } => room,
        }
    }

    /// The room tick this write belongs to, for the lag accounting.
    pub fn tick(&self) -> Option<u64> {
        match self {
            Write::Tick(t) => Some(t.tick),
            Write::Snapshot(s) | Write::SeatedSnapshot { snapshot: s, .. } => Some(s.tick),
            _ => None,
        }
    }

    /// A rough size in bytes, for the bounded buffer.
    pub fn weight(&self) -> usize {
        64 + match self {
            Write::CreateRoom(_) | Write::Adopt { .. } => 256,
            Write::Tick(t) => {
                t.inputs
                    .iter()
                    .map(|i| 48 + i.input.len() + i.outcome.len() + i.kind.len())
                    .sum::<usize>()
                    + t.formations
                        .iter()
                        .map(|f| 64 + f.placements.len())
                        .sum::<usize>()
                    + t.audit.len() * 128
            }
            Write::Snapshot(s) => s.bytes.len(),
            Write::SeatedSnapshot { snapshot, seqs } => snapshot.bytes.len() + seqs.len() * 16,
            Write::Archived { .. } | Write::Epoch { .. } => 0,
        }
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
