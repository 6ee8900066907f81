//! Client → server messages.
//!
//! Every enum is externally tagged: JSON `{"variant_name": {fields}}`, postcard
//! a varint variant index followed by the fields in order. Every variant is a
//! struct variant (even empty ones: `{"start_match": {}}`) so the JSON shape
//! is uniform.

use crate::config::RoomConfig;
use crate::ids::{Pos, RoomId, TeamId};
use crate::payload::{ModeValue, Payload};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every connection.
    Hello {
        version: u16,
        /// An HMAC-signed join token (JWT), where the server requires one.
        token: Option<String>,
        /// The resume token from an earlier `welcome`, to get a seat back.
        resume: Option<String>,
    },
    /// Echoed back in `pong` with the server's tick.
    Ping {
        client_time: u64,
    },
    /// Creates a room; `room` picks the id, or the server assigns one.
    CreateRoom {
        seq: u64,
        room: Option<RoomId>,
        config: RoomConfig,
        /// Private rooms are not listed; they are joined by id.
        private: bool,
    },
    JoinRoom {
        seq: u64,
        room: RoomId,
        name: String,
        team: Option<TeamId>,
    },
    ChangeTeam {
        seq: u64,
        team: TeamId,
    },
    Leave {
        seq: u64,
    },
    /// A room mutation, resolved by exactly one `ack` or `reject` with `seq`.
    /// `intent` is one of the room's mode's intents (see `docs/modes/`).
    Intent {
        seq: u64,
        intent: Payload,
    },
    /// Ephemeral: coalesced, never acknowledged, outside the room version.
    Cursor {
        pos: Pos,
    },
    /// Cluster mode: takes the seat a matchmaking reservation holds (from
    /// `POST /api/v1/matchmake`), in the room the reservation names;
    /// answered like `join_room`.
    JoinReserved {
        seq: u64,
        reservation: String,
        name: String,
        team: Option<TeamId>,
    },
}

impl ClientMessage {
    /// The sequence number that the reply to this message will carry.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ClientMessage::CreateRoom { seq, .. }
            | ClientMessage::JoinRoom { seq, .. }
            | ClientMessage::JoinReserved { seq, .. }
            | ClientMessage::ChangeTeam { seq, .. }
            | ClientMessage::Leave { seq }
            | ClientMessage::Intent { seq, .. } => Some(*seq),
            ClientMessage::Hello { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::Cursor { .. } => None,
        }
    }
}

impl ClientMessage {
    /// An intent of the room's mode.
    pub fn intent(seq: u64, intent: impl ModeValue) -> ClientMessage {
        ClientMessage::Intent {
            seq,
            intent: Payload::of(intent),
        }
    }
}
