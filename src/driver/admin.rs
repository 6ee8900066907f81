//! Operations the HTTP API asks of the tick thread that owns a room. Archive
//! and kick go into the room as logged admin inputs (and so into the audit
//! log) and are answered with their outcome at the tick that applied them.

use serde::Serialize;
use tickroom_protocol::{ErrorBody, MemberId, RoomConfig, RoomState};
use tokio::sync::oneshot;

pub enum AdminOp {
    /// `by` goes into the audit log.
    Create {
        config: Box<RoomConfig>,
        private: bool,
        by: String,
    },
    InRoom(RoomOp),
}

/// What is asked of an existing room.
pub enum RoomOp {
    Get,
    Archive { by: String },
    Kick { target: KickTarget, by: String },
}

/// Who to kick: a member id, or the user whose seat it is.
pub enum KickTarget {
    Member(MemberId),
    User(String),
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AdminReply {
    Created {
        room: tickroom_protocol::RoomId,
    },
    Room(Box<RoomDetail>),
    Applied {
        room: tickroom_protocol::RoomId,
        tick: u64,
        version: u64,
    },
}

#[derive(Debug, Serialize)]
pub struct RoomDetail {
    #[serde(flatten)]
    pub summary: super::shard::RoomSummary,
    pub private: bool,
    pub epoch: u32,
    pub config: RoomConfig,
    pub state: RoomState,
}

pub type AdminResult = Result<AdminReply, ErrorBody>;
pub type AdminReplyTo = oneshot::Sender<AdminResult>;
