//! Client → server messages.
//!
//! Every enum is externally tagged: JSON `{"variant_name": {fields}}`, postcard
//! a varint variant index followed by the fields in order. Every variant is a
//! struct variant (even empty ones: `{"start_match": {}}`) so the JSON shape
//! is uniform.

use crate::config::RoomConfig;
use crate::ids::{PieceId, Pos, RoomId, TeamId};
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
    Intent {
        seq: u64,
        intent: Intent,
    },
    /// Ephemeral: coalesced, never acknowledged, outside the room version.
    Cursor {
        pos: Pos,
    },
}

impl ClientMessage {
    /// The sequence number that the reply to this message will carry.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ClientMessage::CreateRoom { seq, .. }
            | ClientMessage::JoinRoom { seq, .. }
            | ClientMessage::ChangeTeam { seq, .. }
            | ClientMessage::Leave { seq }
            | ClientMessage::Intent { seq, .. } => Some(*seq),
            ClientMessage::Hello { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::Cursor { .. } => None,
        }
    }
}

/// What a member asks its room to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Needs the piece's lock; moving renews the lock.
    MovePiece {
        piece: PieceId,
        to: Pos,
    },
    TakeLock {
        piece: PieceId,
    },
    RenewLock {
        piece: PieceId,
    },
    ReleaseLock {
        piece: PieceId,
    },
    /// Saves the positions of the member's team's pieces under `name`;
    /// a repeated `key` is acknowledged without saving again.
    SaveFormation {
        name: String,
        key: String,
    },
    /// Moves the formation's pieces to their saved places, all or nothing.
    ApplyFormation {
        name: String,
    },
    /// Dice notation `NdS`, `NdS+M` or `NdS-M`, e.g. `2d6+1`.
    RollDice {
        notation: String,
    },
    Chat {
        text: String,
    },
    StartMatch {},
    ArchiveRoom {},
}

impl Intent {
    /// A short stable name, for logs, metrics and scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::MovePiece { .. } => "move_piece",
            Intent::TakeLock { .. } => "take_lock",
            Intent::RenewLock { .. } => "renew_lock",
            Intent::ReleaseLock { .. } => "release_lock",
            Intent::SaveFormation { .. } => "save_formation",
            Intent::ApplyFormation { .. } => "apply_formation",
            Intent::RollDice { .. } => "roll_dice",
            Intent::Chat { .. } => "chat",
            Intent::StartMatch {} => "start_match",
            Intent::ArchiveRoom {} => "archive_room",
        }
    }
}
