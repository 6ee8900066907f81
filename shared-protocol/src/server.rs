//! Server → client messages, the per-tick delta and its domain events.

use crate::config::RoomConfig;
use crate::error::{Details, ErrorCode};
use crate::ids::{MemberId, PieceId, Pos, RoomId, StateHash, TeamId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRange {
    pub min: u16,
    pub max: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        session: String,
        resume_token: String,
        versions: VersionRange,
        /// When resuming: the last sequence number of this session the server
        /// applied (acked or rejected), so the client can settle in-flight requests.
        last_applied_seq: Option<u64>,
    },
    /// Reply to `join_room` (or a resume): the whole room, then deltas follow.
    Joined {
        seq: Option<u64>,
        room: RoomId,
        member: MemberId,
        config: RoomConfig,
        /// Increases each time the room is restored after a restart; a client
        /// that sees a new epoch knows state may have rewound.
        epoch: u32,
        state: RoomState,
    },
    RoomCreated {
        seq: u64,
        room: RoomId,
    },
    Delta(Delta),
    Ack {
        seq: u64,
    },
    Reject {
        seq: u64,
        code: ErrorCode,
        message: String,
        details: Details,
    },
    /// Latest cursor of each member that moved one since the last frame.
    Cursors {
        room: RoomId,
        cursors: Vec<CursorPos>,
    },
    /// An error not tied to a sequence number.
    Error {
        code: ErrorCode,
        message: String,
        details: Details,
    },
    Pong {
        client_time: u64,
        server_tick: u64,
    },
    /// The server is about to close this connection.
    Closing {
        code: ErrorCode,
        reason: String,
    },
}

/// Everything that changed in one room in one tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub room: RoomId,
    pub tick: u64,
    /// The room version before this tick; equals the previous delta's `to_version`.
    pub from_version: u64,
    /// The room version after this tick.
    pub to_version: u64,
    pub events: Vec<EventRecord>,
    /// Present at least every `hash_every_ticks` ticks.
    pub state_hash: Option<StateHash>,
}

/// Who caused an event: a member's request (with its sequence number), or
/// the room itself (timers, expiries, admin actions) when `member` is null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Origin {
    pub member: Option<MemberId>,
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub origin: Origin,
    /// The room version after the mutation that produced this event.
    pub version: u64,
    pub event: DomainEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    Player,
    Spectator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Connected,
    /// Disconnected, seat kept until the reconnect grace period ends.
    InGrace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Setup,
    Live,
    Expired,
    Archived,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Live => "live",
            Phase::Expired => "expired",
            Phase::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    GraceExpired,
    Kicked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    Released,
    Expired,
    HolderLeft,
    HolderDisconnected,
    /// The match ended or the room was archived.
    PhaseEnded,
    /// The holder changed team.
    TeamChanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    pub team: Option<TeamId>,
    /// Join order; the lowest seated player succeeds a departed host.
    pub seat: u64,
    pub presence: Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockView {
    pub holder: MemberId,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceView {
    pub id: PieceId,
    pub team: Option<TeamId>,
    pub pos: Pos,
    pub lock: Option<LockView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub piece: PieceId,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub tick: u64,
    pub member: MemberId,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorPos {
    pub member: MemberId,
    pub pos: Pos,
}

/// The full room as a joiner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    pub tick: u64,
    pub version: u64,
    pub phase: Phase,
    pub match_ends_at: Option<u64>,
    pub archive_at: Option<u64>,
    pub host: Option<MemberId>,
    pub members: Vec<MemberView>,
    pub pieces: Vec<PieceView>,
    pub formations: Vec<String>,
    pub chat: Vec<ChatLine>,
    pub state_hash: StateHash,
}

/// One thing that happened in a room. Appended, never reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainEvent {
    MemberJoined {
        member: MemberView,
    },
    MemberLeft {
        member: MemberId,
        reason: LeaveReason,
    },
    MemberDisconnected {
        member: MemberId,
    },
    MemberReconnected {
        member: MemberId,
    },
    TeamChanged {
        member: MemberId,
        team: Option<TeamId>,
    },
    HostChanged {
        host: Option<MemberId>,
    },
    PieceMoved {
        piece: PieceId,
        to: Pos,
    },
    LockTaken {
        piece: PieceId,
        holder: MemberId,
        expires_at: u64,
    },
    LockRenewed {
        piece: PieceId,
        holder: MemberId,
        expires_at: u64,
    },
    LockReleased {
        piece: PieceId,
        holder: MemberId,
        reason: ReleaseReason,
    },
    FormationSaved {
        name: String,
        by: MemberId,
        pieces: u32,
    },
    FormationApplied {
        name: String,
        placements: Vec<Placement>,
    },
    DiceRolled {
        member: MemberId,
        notation: String,
        rolls: Vec<u32>,
        modifier: i32,
        total: i64,
    },
    ChatPosted {
        member: MemberId,
        text: String,
    },
    /// `until` is the tick the phase ends by timer: match end for `live`,
    /// auto-archive for `expired`.
    PhaseChanged {
        phase: Phase,
        until: Option<u64>,
    },
}
