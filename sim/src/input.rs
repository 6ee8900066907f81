//! What goes into a room. Everything that changes a room is an [`Input`]:
//! client intents, and also joins, leaves, disconnects, reconnects, grace
//! expiries and admin actions. Inputs and their outcomes are the room's log.

use serde::{Deserialize, Serialize, Serializer};
use tickroom_protocol::{ErrorBody, MemberId, ModeValue, Payload, Role, TeamId};

/// An input's encoding in the log: postcard, with a mode's intent inline
/// (no length prefix), so a board room's log reads the same as before modes
/// existed. Decoding needs the mode: [`Input::decode`].
#[derive(Serialize, Deserialize)]
struct Wire<I> {
    member: Option<MemberId>,
    seq: Option<u64>,
    kind: WireKind<I>,
}

#[derive(Serialize, Deserialize)]
enum WireKind<I> {
    Join {
        user: String,
        name: String,
        role: Option<Role>,
        team: Option<TeamId>,
    },
    Leave,
    Disconnect,
    Reconnect,
    GraceExpired,
    ChangeTeam {
        team: TeamId,
    },
    Intent(I),
    Admin(AdminAction),
}

/// A typed intent written inline into the encoder.
struct Inline<'a>(&'a Payload);

impl Serialize for Inline<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_inline(s)
    }
}

/// In the log's layout (see [`Input::encode`]); in JSON the same shape, the
/// intent as its mode's JSON.
impl Serialize for Input {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The member this input comes from or is about; `None` for joins and
    /// admin actions.
    pub member: Option<MemberId>,
    /// The client's sequence number, echoed in the outcome and event origins.
    pub seq: Option<u64>,
    pub kind: InputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// One of the room's mode's intents, typed (decoded by the mode).
    Intent(Payload),
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

impl InputKind {
    /// An intent of the room's mode.
    pub fn intent(intent: impl ModeValue) -> InputKind {
        InputKind::Intent(Payload::of(intent))
    }
}

impl Input {
    pub fn intent(member: MemberId, seq: u64, intent: impl ModeValue) -> Input {
        Input {
            member: Some(member),
            seq: Some(seq),
            kind: InputKind::Intent(Payload::of(intent)),
        }
    }

    /// The log encoding (postcard, the intent inline).
    pub fn encode(&self) -> Vec<u8> {
        // A typed payload and plain data into a Vec: cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    fn wire(&self) -> Wire<Inline<'_>> {
        let kind = match &self.kind {
            InputKind::Join {
                user,
                name,
                role,
                team,
            } => WireKind::Join {
                user: user.clone(),
                name: name.clone(),
                role: *role,
                team: *team,
            },
            InputKind::Leave => WireKind::Leave,
            InputKind::Disconnect => WireKind::Disconnect,
            InputKind::Reconnect => WireKind::Reconnect,
            InputKind::GraceExpired => WireKind::GraceExpired,
            InputKind::ChangeTeam { team } => WireKind::ChangeTeam { team: *team },
            InputKind::Intent(p) => WireKind::Intent(Inline(p)),
            InputKind::Admin(a) => WireKind::Admin(a.clone()),
        };
        Wire {
            member: self.member,
            seq: self.seq,
            kind,
        }
    }

    /// Reads [`Input::encode`] bytes whose intents are `I`'s.
    pub fn decode<I>(bytes: &[u8]) -> Result<Input, postcard::Error>
    where
        I: serde::de::DeserializeOwned + ModeValue,
    {
        let wire: Wire<I> = postcard::from_bytes(bytes)?;
        let kind = match wire.kind {
            WireKind::Join {
                user,
                name,
                role,
                team,
            } => InputKind::Join {
                user,
                name,
                role,
                team,
            },
            WireKind::Leave => InputKind::Leave,
            WireKind::Disconnect => InputKind::Disconnect,
            WireKind::Reconnect => InputKind::Reconnect,
            WireKind::GraceExpired => InputKind::GraceExpired,
            WireKind::ChangeTeam { team } => InputKind::ChangeTeam { team },
            WireKind::Intent(i) => InputKind::Intent(Payload::of(i)),
            WireKind::Admin(a) => InputKind::Admin(a),
        };
        Ok(Input {
            member: wire.member,
            seq: wire.seq,
            kind,
        })
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
