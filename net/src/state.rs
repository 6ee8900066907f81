//! The connection state machine:
//! `handshaking → connected → in_room → draining → closed`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for a valid `hello`.
    Handshaking,
    /// Welcomed; not seated in a room.
    Connected,
    /// Sent a join; its messages go to that room.
    InRoom,
    /// Closing: sending what is queued and a `closing` frame.
    Draining,
    Closed,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Handshaking => "handshaking",
            ConnState::Connected => "connected",
            ConnState::InRoom => "in_room",
            ConnState::Draining => "draining",
            ConnState::Closed => "closed",
        }
    }

    /// Whether `self → next` is a transition of the machine.
    pub fn may_become(self, next: ConnState) -> bool {
        use ConnState::*;
        matches!(
            (self, next),
            (Handshaking, Connected)
                | (Connected, InRoom)
                | (InRoom, Connected)
                | (Handshaking | Connected | InRoom, Draining)
                | (Handshaking | Connected | InRoom | Draining, Closed)
        )
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
