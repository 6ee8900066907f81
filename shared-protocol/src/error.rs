//! The one error catalog shared by the wire protocol, the room simulation and
//! (later) the HTTP API. Codes are appended, never reordered or removed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

macro_rules! catalog {
    ($($variant:ident = $name:literal : $when:literal,)*) => {
        /// Every error code Tickroom sends: the framework's catalog, then
        /// the codes game modes add ([`ModeCode`]). JSON carries the
        /// SCREAMING_SNAKE name, postcard a number: a framework code's
        /// position in this list, a mode code's own number (1000 and up).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorCode {
            $(#[doc = $when] $variant,)*
            /// A code a game mode added to the catalog.
            Mode(ModeCode),
        }

        impl ErrorCode {
            /// Every framework code, in wire order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears in JSON and in the docs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Mode(c) => c.entry().map_or("MODE_ERROR", |e| e.name),
                }
            }

            /// When this code is sent, for the catalog in `docs/protocol.md`.
            pub fn when(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $when,)*
                    ErrorCode::Mode(c) => c.entry().map_or("A game mode's own error.", |e| e.when),
                }
            }

            fn from_name(name: &str) -> Option<ErrorCode> {
                match name {
                    $($name => Some(ErrorCode::$variant),)*
                    other => ModeCode::by_name(other).map(ErrorCode::Mode),
                }
            }
        }
    };
}

/// A code a game mode adds to the catalog: its number (1000 and up, chosen
/// by the mode, stable forever: stored rejections carry it) and, once the
/// mode's codes are registered, its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModeCode(pub u16);

/// One code a mode adds: `number` is its postcard number, `name` its JSON
/// name, `when` its catalog row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeCodeEntry {
    pub number: u16,
    pub name: &'static str,
    pub when: &'static str,
}

/// The first number a mode's code may have.
pub const FIRST_MODE_CODE: u16 = 1000;
/// Numbers from here on are given, in this process only, to code names that
/// arrive in JSON without a mode having registered them; modes number
/// their codes below.
pub const DYNAMIC_MODE_CODES: u16 = 64_000;

static MODE_CODES: std::sync::RwLock<Vec<ModeCodeEntry>> = std::sync::RwLock::new(Vec::new());

impl ModeCode {
    fn entry(self) -> Option<ModeCodeEntry> {
        let codes = MODE_CODES.read().unwrap_or_else(|e| e.into_inner());
        codes.iter().find(|e| e.number == self.0).copied()
    }

    fn by_name(name: &str) -> Option<ModeCode> {
        let codes = MODE_CODES.read().unwrap_or_else(|e| e.into_inner());
        codes
            .iter()
            .find(|e| e.name == name)
            .map(|e| ModeCode(e.number))
    }

    /// Adds a mode's codes to the process's catalog. Registering the same
    /// entry twice is fine; a number or name that another entry holds, a
    /// framework code's name, or a number below [`FIRST_MODE_CODE`] is an
    /// error naming the clash.
    pub fn register(entries: &[ModeCodeEntry]) -> Result<(), String> {
        let mut codes = MODE_CODES.write().unwrap_or_else(|e| e.into_inner());
        // All or nothing: every entry is checked before any is added.
        for (i, e) in entries.iter().enumerate() {
            if e.number < FIRST_MODE_CODE || e.number >= DYNAMIC_MODE_CODES {
                return Err(format!(
                    "mode error code {} ({}) is outside {FIRST_MODE_CODE}..{DYNAMIC_MODE_CODES}",
                    e.number, e.name
                ));
            }
            if ErrorCode::ALL.iter().any(|c| c.as_str() == e.name) {
                return Err(format!(
                    "mode error code {} reuses a framework code's name",
                    e.name
                ));
            }
            let clash = codes
                .iter()
                .chain(&entries[..i])
                // A name kept from JSON before its mode registered gives way.
                .filter(|c| c.number < DYNAMIC_MODE_CODES)
                .find(|c| (c.number == e.number || c.name == e.name) && *c != e);
            if let Some(c) = clash {
                return Err(format!(
                    "mode error code {} ({}) clashes with {} ({})",
                    e.name, e.number, c.name, c.number
                ));
            }
        }
        for e in entries {
            codes.retain(|c| !(c.number >= DYNAMIC_MODE_CODES && c.name == e.name));
            if !codes.contains(e) {
                codes.push(*e);
            }
        }
        Ok(())
    }

    /// A code by name that no mode registered in this process (a client
    /// that does not know a server's modes): kept under a number of its
    /// own from [`DYNAMIC_MODE_CODES`], so the name survives. Bounded: past
    /// that many names, `None`.
    fn intern(name: &str) -> Option<ModeCode> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return None;
        }
        let mut codes = MODE_CODES.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = codes.iter().find(|e| e.name == name) {
            return Some(ModeCode(e.number));
        }
        let dynamic = codes
            .iter()
            .filter(|e| e.number >= DYNAMIC_MODE_CODES)
            .count();
        let number = DYNAMIC_MODE_CODES.checked_add(u16::try_from(dynamic).ok()?)?;
        if dynamic >= 1024 {
            return None;
        }
        // Leaked once per distinct name, at most 1024 of them.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        codes.push(ModeCodeEntry {
            number,
            name,
            when: "A game mode's own error (not registered in this process).",
        });
        Some(ModeCode(number))
    }

    /// Every registered mode code, by number.
    pub fn registered() -> Vec<ModeCodeEntry> {
        let mut codes = MODE_CODES.read().unwrap_or_else(|e| e.into_inner()).clone();
        codes.sort_by_key(|e| e.number);
        codes
    }
}

impl ErrorCode {
    /// The postcard number of the code.
    pub fn number(self) -> u32 {
        match self {
            ErrorCode::Mode(c) => u32::from(c.0),
            framework => ErrorCode::ALL
                .iter()
                .position(|c| *c == framework)
                .unwrap_or(0) as u32,
        }
    }

    fn from_number(n: u32) -> Option<ErrorCode> {
        match ErrorCode::ALL.get(n as usize) {
            Some(c) => Some(*c),
            None => u16::try_from(n)
                .ok()
                .filter(|n| *n >= FIRST_MODE_CODE)
                .map(|n| ErrorCode::Mode(ModeCode(n))),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                ErrorCode::Mode(c) if c.entry().is_none() => {
                    s.collect_str(&format_args!("MODE_ERROR_{}", c.0))
                }
                code => s.serialize_str(code.as_str()),
            }
        } else {
            s.serialize_u32(self.number())
        }
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            if let Some(code) = ErrorCode::from_name(&name) {
                return Ok(code);
            }
            if !name.starts_with("MODE_ERROR_")
                && let Some(code) = ModeCode::intern(&name)
            {
                return Ok(ErrorCode::Mode(code));
            }
            name.strip_prefix("MODE_ERROR_")
                .and_then(|n| n.parse::<u16>().ok())
                .filter(|n| *n >= FIRST_MODE_CODE)
                .map(|n| ErrorCode::Mode(ModeCode(n)))
                .ok_or_else(|| D::Error::custom(format!("unknown error code {name:?}")))
        } else {
            let n = u32::deserialize(d)?;
            ErrorCode::from_number(n)
                .ok_or_else(|| D::Error::custom(format!("unknown error code number {n}")))
        }
    }
}

catalog! {
    Malformed = "MALFORMED": "A frame could not be decoded with the connection's codec: truncated, invalid UTF-8, unknown message or variant tag, a varint overflow, trailing bytes, or a field of the wrong type.",
    MessageTooLarge = "MESSAGE_TOO_LARGE": "A frame is longer than the configured maximum frame size.",
    NestingTooDeep = "NESTING_TOO_DEEP": "A JSON frame nests objects/arrays deeper than the configured maximum depth.",
    FieldTooLong = "FIELD_TOO_LONG": "A string or list inside a frame is longer than the decoder's hard limit, or a name/chat text is longer than the room allows.",
    VersionMismatch = "VERSION_MISMATCH": "hello carried a protocol version this server does not speak; details carry the supported min and max. The connection is then closed.",
    Unauthorized = "UNAUTHORIZED": "A join token is missing where required, badly signed or expired, a resume token is invalid, or an HTTP API request lacks a valid bearer token.",
    NotInRoom = "NOT_IN_ROOM": "A room request came from a connection (or member) that is not seated in a room, or whose seat is in its reconnect grace period.",
    AlreadyInRoom = "ALREADY_IN_ROOM": "join_room or create_room from a connection that already sits in a room.",
    RoomNotFound = "ROOM_NOT_FOUND": "The room id names no room on this server.",
    RoomExists = "ROOM_EXISTS": "create_room named a room id that is already taken.",
    RoomFull = "ROOM_FULL": "The room already seats max_players members.",
    TooManyRooms = "TOO_MANY_ROOMS": "The server already holds its configured maximum number of rooms.",
    Forbidden = "FORBIDDEN": "The member's role or team does not allow this: spectators mutate nothing, players touch only their own team's or unowned pieces, only the host starts and archives.",
    WrongPhase = "WRONG_PHASE": "The request is not allowed in the room's current phase (e.g. a move after the match expired, start_match when already live); details carry the phase.",
    InvalidArgument = "INVALID_ARGUMENT": "A field is out of its allowed range: an unknown team, a bad name or idempotency key, bad dice notation, an empty chat.",
    InvalidConfig = "INVALID_CONFIG": "A room config value is outside its allowed range; details name the key, the value and what is allowed.",
    PieceNotFound = "PIECE_NOT_FOUND": "The piece id names no piece in this room.",
    OutOfBounds = "OUT_OF_BOUNDS": "A move targets a position outside the board.",
    LockHeld = "LOCK_HELD": "A take_lock, move_piece or apply_formation met a lock another member holds (first processed wins); details carry the holder.",
    NotLockOwner = "NOT_LOCK_OWNER": "A move of a piece whose lock nobody holds (take it first), or a renew or release of a lock the member does not hold.",
    FormationNotFound = "FORMATION_NOT_FOUND": "apply_formation named a formation this room does not have.",
    FormationLimit = "FORMATION_LIMIT": "save_formation would pass the room's max_formations.",
    MemberNotFound = "MEMBER_NOT_FOUND": "An admin action or input named a member who is not in the room.",
    RateLimited = "RATE_LIMITED": "The connection exceeded its rate for this class of request; details carry retry_after_ms.",
    ServerBusy = "SERVER_BUSY": "The server's inbound queue to the tick threads is full; retry later. Nothing was applied.",
    StoreBehind = "STORE_BEHIND": "The store has fallen too far behind; mutating intents are refused until it catches up. Nothing was applied.",
    StoreUnavailable = "STORE_UNAVAILABLE": "A write that must be durable before it is acknowledged (e.g. a formation save) failed to commit.",
    SlowConsumer = "SLOW_CONSUMER": "The connection did not drain its outbound queue in time and is closed; resume to get a fresh snapshot.",
    TooManyConnections = "TOO_MANY_CONNECTIONS": "The server or this IP holds its maximum number of connections, or opens them too fast.",
    HandshakeTimeout = "HANDSHAKE_TIMEOUT": "No valid hello arrived within the handshake timeout.",
    HeartbeatTimeout = "HEARTBEAT_TIMEOUT": "Nothing arrived from the client within the heartbeat timeout; it is treated as disconnected.",
    ResumeFailed = "RESUME_FAILED": "The resume token is valid but the seat is gone (grace period over or room closed).",
    Kicked = "KICKED": "An admin removed the member from the room.",
    ShuttingDown = "SHUTTING_DOWN": "The server is shutting down; sent in closing.",
    RoomTooLarge = "ROOM_TOO_LARGE": "The room's snapshot would pass the configured size cap; requests that would grow it are refused.",
    UnsupportedCodec = "UNSUPPORTED_CODEC": "The client offered no supported WebSocket subprotocol, or used a codec the transport does not carry.",
    Internal = "INTERNAL": "A server bug; the request was not applied. Please report it with its trace id (details.trace_id); the server logs the cause under the same id.",
    SessionReplaced = "SESSION_REPLACED": "The session was resumed on another connection; this one is closed.",
    SeqNotIncreasing = "SEQ_NOT_INCREASING": "A request's seq is not greater than the seq of an earlier request of the session (or, after a resume, than welcome.last_applied_seq); details carry the seq and the last one. Nothing was applied.",
    UnknownIntent = "UNKNOWN_INTENT": "An intent the room's game mode does not have (another mode's, or a kind this mode does not know); details carry the room's mode. Nothing was applied.",
    ModeUnavailable = "MODE_UNAVAILABLE": "A room asks for a game mode, or a version of one, that this server does not serve; details carry the mode and version asked for and the ones served.",
    ClusterUnavailable = "CLUSTER_UNAVAILABLE": "A cluster feature needs Redis, which this node cannot reach now; rooms this node owns keep running. Retry later; details carry the reason.",
    RoomElsewhere = "ROOM_ELSEWHERE": "In cluster mode, the room is owned by another node; details carry the room, the owner's node id and its addresses (ws, quic): connect there and send the request again.",
    ReservationExpired = "RESERVATION_EXPIRED": "join_reserved with a seat reservation whose time ran out (its seat was given back); matchmake again.",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value in an error's `details`. JSON carries the bare value
/// (`150`, `"alice"`, `true`); postcard carries a tagged enum, because it
/// cannot decode untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailValue {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// Machine-readable context of an error, e.g. `{"holder": 3}`.
pub type Details = BTreeMap<String, DetailValue>;

#[derive(Serialize, Deserialize)]
enum TaggedDetail {
    Int(i64),
    Text(String),
    Bool(bool),
}

impl Serialize for DetailValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                DetailValue::Int(v) => s.serialize_i64(*v),
                DetailValue::Text(v) => s.serialize_str(v),
                DetailValue::Bool(v) => s.serialize_bool(*v),
            }
        } else {
            let tagged = match self {
                DetailValue::Int(v) => TaggedDetail::Int(*v),
                DetailValue::Text(v) => TaggedDetail::Text(v.clone()),
                DetailValue::Bool(v) => TaggedDetail::Bool(*v),
            };
            tagged.serialize(s)
        }
    }
}

struct BareValueVisitor;

impl<'de> serde::de::Visitor<'de> for BareValueVisitor {
    type Value = DetailValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, a string or a boolean")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DetailValue, E> {
        Ok(DetailValue::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DetailValue, E> {
        i64::try_from(v)
            .map(DetailValue::Int)
            .map_err(|_| E::custom("detail integer out of range"))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DetailValue, E> {
        Ok(DetailValue::Text(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<DetailValue, E> {
        Ok(DetailValue::Text(v))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<DetailValue, E> {
        Ok(DetailValue::Bool(v))
    }
}

impl<'de> Deserialize<'de> for DetailValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(BareValueVisitor)
        } else {
            Ok(match TaggedDetail::deserialize(d)? {
                TaggedDetail::Int(v) => DetailValue::Int(v),
                TaggedDetail::Text(v) => DetailValue::Text(v),
                TaggedDetail::Bool(v) => DetailValue::Bool(v),
            })
        }
    }
}

impl From<i64> for DetailValue {
    fn from(v: i64) -> Self {
        DetailValue::Int(v)
    }
}
impl From<u64> for DetailValue {
    fn from(v: u64) -> Self {
        DetailValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for DetailValue {
    fn from(v: u32) -> Self {
        DetailValue::Int(v.into())
    }
}
impl From<i32> for DetailValue {
    fn from(v: i32) -> Self {
        DetailValue::Int(v.into())
    }
}
impl From<usize> for DetailValue {
    fn from(v: usize) -> Self {
        DetailValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<&str> for DetailValue {
    fn from(v: &str) -> Self {
        DetailValue::Text(v.to_owned())
    }
}
impl From<String> for DetailValue {
    fn from(v: String) -> Self {
        DetailValue::Text(v)
    }
}
impl From<bool> for DetailValue {
    fn from(v: bool) -> Self {
        DetailValue::Bool(v)
    }
}

/// `{code, message, details}`: what every rejection and error carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default)]
    pub details: Details,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            details: Details::new(),
        }
    }

    /// Adds one detail; chains.
    pub fn with(mut self, key: &str, value: impl Into<DetailValue>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}
