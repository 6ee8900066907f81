//! Every type on Tickroom's wire, its two codecs and the error catalog.
//!
//! Compatibility rule: postcard encodes enum variants and struct fields by
//! position, so enums here only ever grow at the end and structs never change
//! shape without bumping [`PROTOCOL_VERSION`]. See `docs/protocol.md`.

pub mod board;
mod client;
mod codec;
pub mod config;
mod error;
mod ids;
mod limits;
pub mod mode;
mod payload;
mod server;
pub mod walk;

pub use client::ClientMessage;
pub use codec::{Codec, DecodeError, EncodeError};
pub use config::RoomConfig;
pub use error::{
    DetailValue, Details, ErrorBody, ErrorCode, FIRST_MODE_CODE, ModeCode, ModeCodeEntry,
};
pub use ids::{MemberId, PieceId, Pos, RoomId, StateHash, TeamId};
pub use limits::{CheckLimits, Limits};
pub use mode::{IntentSpec, IntentTable, ModeInfo, RateClass};
pub use payload::{ModeValue, ModeValues, Payload};
pub use server::{
    CursorPos, Delta, DomainEvent, Event, EventRecord, LeaveReason, MemberView, Origin, Phase,
    Presence, Role, RoomState, ServerMessage, VersionRange,
};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 2;
/// The oldest protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u16 = 2;

/// The versions this build accepts, as sent in `welcome` and `VERSION_MISMATCH`.
pub fn supported_versions() -> VersionRange {
    VersionRange {
        min: MIN_PROTOCOL_VERSION,
        max: PROTOCOL_VERSION,
    }
}
