//! Pre-encoded outbound frames. A delta is encoded once per codec per tick
//! and the same bytes are shared (by reference count) by every member.

use bytes::Bytes;
use tickroom_protocol::{Codec, EncodeError, ServerMessage};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The encoded bytes: binary for postcard, text for JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Binary(Bytes),
    Text(Utf8Bytes),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Binary(b) => b.len(),
            Payload::Text(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Binary(b) => b,
            Payload::Text(t) => t.as_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    pub payload: Payload,
    /// Critical frames (replies, deltas) are never dropped: a connection that
    /// cannot take one is closed with SLOW_CONSUMER. Others (cursors) may be
    /// dropped under load, and are counted.
    pub critical: bool,
}

impl OutFrame {
    pub fn encode(
        codec: Codec,
        msg: &ServerMessage,
        critical: bool,
    ) -> Result<OutFrame, EncodeError> {
        let payload = match codec {
            Codec::Postcard => Payload::Binary(Bytes::from(codec.encode(msg)?)),
            Codec::Json => Payload::Text(Utf8Bytes::from(Codec::encode_json_string(msg)?)),
        };
        Ok(OutFrame { payload, critical })
    }
}

/// What happened to a frame pushed into a connection's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Queued,
    /// An ephemeral frame that did not fit: dropped.
    Dropped,
    /// A critical frame that did not fit: the connection is being closed
    /// with SLOW_CONSUMER.
    SlowConsumer,
    /// The connection is gone.
    Gone,
}
