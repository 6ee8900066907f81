//! What goes into a room. Everything that changes a room is an [`Input`]:
//! client intents, and also joins, leaves, disconnects, reconnects, grace
//! expiries and admin actions. Inputs and their outcomes are the room's log.

use serde::{Deserialize, Serialize};
use tickroom_protocol::{ErrorBody, Intent, MemberId, Role, TeamId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The member this input comes from or is about; `None` for joins and
    /// admin actions.
    pub member: Option<MemberId>,
    /// The client's sequence number, echoed in the outcome and event origins.
    pub seq: Option<u64>,
    pub kind: InputKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputKind {
    /// A new seat. `role` comes from the join token; `None` is anonymous play.
    Join {
        user: String,
        name: String,
        role: Option<Role>,
        team: Option<TeamId>,
    },
    Leave,
    /// The connection dropped; the seat is kept for the grace period.
    Disconnect,
    /// The member came back within the grace period.
    Reconnect,
    /// The grace period ended without a reconnect; the seat is gone.
    GraceExpired,
    ChangeTeam {
        team: TeamId,
    },
    Intent(Intent),
    Admin(AdminAction),
}

/// Actions from the ops API, authorized by the server, not by a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminAction {
    Archive { by: String },
    Kick { member: MemberId, by: String },
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    /// A join that got a seat.
    Joined {
        member: MemberId,
    },
    /// A repeat of an idempotent request (same formation key): acknowledged,
    /// nothing changed.
    Duplicate,
    Rejected(ErrorBody),
}

impl Outcome {
    pub fn rejection(&self) -> Option<&ErrorBody> {
        match self {
            Outcome::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl Input {
    pub fn intent(member: MemberId, seq: u64, intent: Intent) -> Input {
        Input {
            member: Some(member),
            seq: Some(seq),
            kind: InputKind::Intent(intent),
        }
    }

    pub fn join(user: &str, name: &str, role: Option<Role>, team: Option<TeamId>) -> Input {
        Input {
            member: None,
            seq: None,
            kind: InputKind::Join {
                user: user.to_owned(),
                name: name.to_owned(),
                role,
                team,
            },
        }
    }

    pub fn about(member: MemberId, kind: InputKind) -> Input {
        Input {
            member: Some(member),
            seq: None,
            kind,
        }
    }
}
