//! Hard decoding limits, and the walk that checks every string and list of a
//! decoded message against them.
//!
//! Allocation while decoding is already bounded by the frame size (every
//! string and list element costs at least one input byte, and no type on the
//! wire is zero-sized), so the frame-size check comes first and these checks
//! then bound what the rest of the server has to hold.

use crate::client::ClientMessage;
use crate::codec::DecodeError;
use crate::config::RoomConfig;
use crate::error::{DetailValue, Details};
use crate::ids::RoomId;
use crate::server::{Delta, DomainEvent, Event, MemberView, RoomState, ServerMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame, in bytes.
    pub max_frame_bytes: usize,
    /// Deepest accepted JSON nesting of objects and arrays.
    pub max_json_depth: usize,
    /// Longest accepted string, in bytes.
    pub max_string_bytes: usize,
    /// Longest accepted list or map.
    pub max_list_len: usize,
}

impl Limits {
    /// What a server accepts from clients (client messages carry no lists).
    pub const CLIENT_FRAMES: Limits = Limits {
        max_frame_bytes: 16 * 1024,
        max_json_depth: 8,
        max_string_bytes: 2 * 1024,
        max_list_len: 64,
    };

    /// What a client accepts from a server: a joined snapshot of a large room
    /// is the biggest frame.
    pub const SERVER_FRAMES: Limits = Limits {
        max_frame_bytes: 16 * 1024 * 1024,
        max_json_depth: 16,
        max_string_bytes: 16 * 1024,
        max_list_len: 1_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::CLIENT_FRAMES
    }
}

/// Checks the strings and lists of a decoded value against [`Limits`].
pub trait CheckLimits {
    fn check_limits(&self, limits: &Limits) -> Result<(), DecodeError>;
}

fn string(field: &'static str, s: &str, l: &Limits) -> Result<(), DecodeError> {
    if s.len() > l.max_string_bytes {
        return Err(DecodeError::FieldTooLong {
            field,
            len: s.len(),
            max: l.max_string_bytes,
        });
    }
    Ok(())
}

fn list(field: &'static str, len: usize, l: &Limits) -> Result<(), DecodeError> {
    if len > l.max_list_len {
        return Err(DecodeError::FieldTooLong {
            field,
            len,
            max: l.max_list_len,
        });
    }
    Ok(())
}

fn opt_string(field: &'static str, s: &Option<String>, l: &Limits) -> Result<(), DecodeError> {
    s.as_deref().map_or(Ok(()), |s| string(field, s, l))
}

fn room(r: &RoomId, l: &Limits) -> Result<(), DecodeError> {
    string("room", r.as_str(), l)
}

fn details(d: &Details, l: &Limits) -> Result<(), DecodeError> {
    list("details", d.len(), l)?;
    for (k, v) in d {
        string("details", k, l)?;
        if let DetailValue::Text(t) = v {
            string("details", t, l)?;
        }
    }
    Ok(())
}

impl CheckLimits for ClientMessage {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        match self {
            ClientMessage::Hello { token, resume, .. } => {
                opt_string("token", token, l)?;
                opt_string("resume", resume, l)
            }
            ClientMessage::CreateRoom {
                room: r, config, ..
            } => {
                config.check_limits(l)?;
                r.as_ref().map_or(Ok(()), |r| room(r, l))
            }
            ClientMessage::JoinRoom { room: r, name, .. } => {
                room(r, l)?;
                string("name", name, l)
            }
            ClientMessage::JoinReserved {
                reservation, name, ..
            } => {
                string("reservation", reservation, l)?;
                string("name", name, l)
            }
            // The room's mode decodes the payload, then checks it with
            // `walk::check_value` before its code sees it.
            ClientMessage::Intent { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::ChangeTeam { .. }
            | ClientMessage::Leave { .. }
            | ClientMessage::Cursor { .. } => Ok(()),
        }
    }
}

impl CheckLimits for RoomConfig {
    /// The mode's own settings are checked by the mode that decodes them.
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        string("mode", &self.mode, l)
    }
}

impl CheckLimits for MemberView {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        string("name", &self.name, l)
    }
}

impl CheckLimits for RoomState {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        list("members", self.members.len(), l)?;
        for m in &self.members {
            m.check_limits(l)?;
        }
        Ok(())
    }
}

impl CheckLimits for Event {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        match self {
            Event::Room(DomainEvent::MemberJoined { member }) => member.check_limits(l),
            // A mode's events are bounded by the frame size; a client that
            // decodes them checks them with `walk::check_value`.
            Event::Room(_) | Event::Game(_) => Ok(()),
        }
    }
}

impl CheckLimits for Delta {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        room(&self.room, l)?;
        list("events", self.events.len(), l)?;
        list("cursors", self.cursors.len(), l)?;
        self.events.iter().try_for_each(|e| e.event.check_limits(l))
    }
}

impl CheckLimits for ServerMessage {
    fn check_limits(&self, l: &Limits) -> Result<(), DecodeError> {
        match self {
            ServerMessage::Welcome {
                session,
                resume_token,
                ..
            } => {
                string("session", session, l)?;
                string("resume_token", resume_token, l)
            }
            ServerMessage::Joined { room: r, state, .. } => {
                room(r, l)?;
                state.check_limits(l)
            }
            ServerMessage::RoomCreated { room: r, .. } => room(r, l),
            ServerMessage::Delta(d) => d.check_limits(l),
            ServerMessage::Reject {
                message,
                details: d,
                ..
            }
            | ServerMessage::Error {
                message,
                details: d,
                ..
            } => {
                string("message", message, l)?;
                details(d, l)
            }
            ServerMessage::Cursors { room: r, cursors } => {
                room(r, l)?;
                list("cursors", cursors.len(), l)
            }
            ServerMessage::Closing { reason, .. } => string("reason", reason, l),
            ServerMessage::Notice { text, from } => {
                string("text", text, l)?;
                string("from", from, l)
            }
            ServerMessage::Ack { .. } | ServerMessage::Pong { .. } => Ok(()),
        }
    }
}
