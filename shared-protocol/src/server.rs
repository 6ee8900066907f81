//! Server → client messages, the per-tick delta and its domain events.

use crate::config::RoomConfig;
use crate::error::{Details, ErrorCode};
use crate::ids::{MemberId, Pos, RoomId, StateHash, TeamId};
use crate::mode::ModeInfo;
use crate::payload::{Payload, merged_json, split_json};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
        /// The game modes this server serves, with their versions.
        modes: Vec<ModeInfo>,
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
    /// A message from the operators to everyone in a room (e.g. a
    /// maintenance warning); outside the room's state and log.
    Notice {
        text: String,
        /// Who sent it, as the operator gave it.
        from: String,
    },
}

impl ServerMessage {
    /// The cursors a frame relays: a `cursors` frame's, or those riding in
    /// a delta; none for other frames.
    pub fn cursors(&self) -> &[CursorPos] {
        match self {
            ServerMessage::Cursors { cursors, .. } => cursors,
            ServerMessage::Delta(d) => &d.cursors,
            _ => &[],
        }
    }
}

/// Everything that changed in one room in one tick, and the cursors that
/// moved in it: a member gets one frame a tick.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// The latest cursor of each member that moved one this tick, as a
    /// `cursors` frame would carry them. JSON leaves the key out when there
    /// are none; postcard always has the field (a `00` when empty).
    #[serde(default)]
    pub cursors: Vec<CursorPos>,
}

impl Serialize for Delta {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let with_cursors = !s.is_human_readable() || !self.cursors.is_empty();
        let mut st = s.serialize_struct("Delta", 6 + usize::from(with_cursors))?;
        st.serialize_field("room", &self.room)?;
        st.serialize_field("tick", &self.tick)?;
        st.serialize_field("from_version", &self.from_version)?;
        st.serialize_field("to_version", &self.to_version)?;
        st.serialize_field("events", &self.events)?;
        st.serialize_field("state_hash", &self.state_hash)?;
        if with_cursors {
            st.serialize_field("cursors", &self.cursors)?;
        } else {
            st.skip_field("cursors")?;
        }
        st.end()
    }
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
    pub event: Event,
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
pub struct CursorPos {
    pub member: MemberId,
    pub pos: Pos,
}

/// The full room as a joiner sees it: the framework's part, and the
/// room's mode's part as that member may see it. In JSON the mode's fields
/// sit beside the framework's in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    pub tick: u64,
    pub version: u64,
    pub phase: Phase,
    pub match_ends_at: Option<u64>,
    pub archive_at: Option<u64>,
    pub host: Option<MemberId>,
    pub members: Vec<MemberView>,
    pub state_hash: StateHash,
    pub game: Payload,
}

#[derive(Serialize, Deserialize)]
struct RoomStateFields {
    tick: u64,
    version: u64,
    phase: Phase,
    match_ends_at: Option<u64>,
    archive_at: Option<u64>,
    host: Option<MemberId>,
    members: Vec<MemberView>,
    state_hash: StateHash,
}

const ROOM_STATE_KEYS: &[&str] = &[
    "tick",
    "version",
    "phase",
    "match_ends_at",
    "archive_at",
    "host",
    "members",
    "state_hash",
];

impl RoomState {
    fn split(self) -> (RoomStateFields, Payload) {
        (
            RoomStateFields {
                tick: self.tick,
                version: self.version,
                phase: self.phase,
                match_ends_at: self.match_ends_at,
                archive_at: self.archive_at,
                host: self.host,
                members: self.members,
                state_hash: self.state_hash,
            },
            self.game,
        )
    }

    fn join(f: RoomStateFields, game: Payload) -> RoomState {
        RoomState {
            tick: f.tick,
            version: f.version,
            phase: f.phase,
            match_ends_at: f.match_ends_at,
            archive_at: f.archive_at,
            host: f.host,
            members: f.members,
            state_hash: f.state_hash,
            game,
        }
    }
}

impl Serialize for RoomState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (fields, game) = self.clone().split();
        if s.is_human_readable() {
            merged_json(fields, &game, s)
        } else {
            (fields, game).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for RoomState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (fields, game) = if d.is_human_readable() {
            split_json(d, ROOM_STATE_KEYS)?
        } else {
            <(RoomStateFields, Payload)>::deserialize(d)?
        };
        Ok(RoomState::join(fields, game))
    }
}

/// One thing that happened in a room: a framework event (seats, host,
/// phase) or one of the room's mode's events. In JSON both look alike:
/// `{"member_joined": {…}}`, `{"piece_moved": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Room(DomainEvent),
    Game(Payload),
}

impl Event {
    /// A mode's event.
    pub fn game(event: impl crate::payload::ModeValue) -> Event {
        Event::Game(Payload::of(event))
    }

    /// The mode's event, decoded as `T`; `None` for framework events and
    /// events of another type.
    pub fn decode_game<T: serde::de::DeserializeOwned + Clone + 'static>(&self) -> Option<T> {
        match self {
            Event::Game(p) => p.decode().ok(),
            Event::Room(_) => None,
        }
    }
}

impl From<DomainEvent> for Event {
    fn from(e: DomainEvent) -> Event {
        Event::Room(e)
    }
}

#[derive(Serialize, Deserialize)]
enum TaggedEvent {
    Room(DomainEvent),
    Game(Payload),
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                Event::Room(e) => e.serialize(s),
                Event::Game(p) => p.serialize(s),
            }
        } else {
            #[derive(Serialize)]
            enum Tagged<'a> {
                Room(&'a DomainEvent),
                Game(&'a Payload),
            }
            match self {
                Event::Room(e) => Tagged::Room(e).serialize(s),
                Event::Game(p) => Tagged::Game(p).serialize(s),
            }
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let payload = Payload::deserialize(d)?;
            let framework = matches!(payload.variant(), Some(crate::walk::Variant::Name(n))
                if DomainEvent::NAMES.contains(&n.as_str()));
            if framework {
                payload
                    .decode::<DomainEvent>()
                    .map(Event::Room)
                    .map_err(serde::de::Error::custom)
            } else {
                Ok(Event::Game(payload))
            }
        } else {
            Ok(match TaggedEvent::deserialize(d)? {
                TaggedEvent::Room(e) => Event::Room(e),
                TaggedEvent::Game(p) => Event::Game(p),
            })
        }
    }
}

/// A framework event: seats, host and phase. Appended, never reordered.
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
    /// `until` is the tick the phase ends by timer: match end for `live`,
    /// auto-archive for `expired`.
    PhaseChanged {
        phase: Phase,
        until: Option<u64>,
    },
}

impl DomainEvent {
    /// Every framework event's JSON tag; a mode's events may not use them.
    pub const NAMES: &'static [&'static str] = &[
        "member_joined",
        "member_left",
        "member_disconnected",
        "member_reconnected",
        "team_changed",
        "host_changed",
        "phase_changed",
    ];
}
