//! The two codecs behind one API: postcard (binary WebSocket frames, QUIC)
//! and JSON (text WebSocket frames).

use crate::error::{ErrorBody, ErrorCode};
use crate::limits::{CheckLimits, Limits};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Postcard,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes is larger than the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("JSON nesting is deeper than the maximum of {max}")]
    TooDeep { max: usize },
    #[error("`{field}` has length {len}, more than the maximum of {max}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("malformed frame: {reason}")]
    Malformed { reason: String },
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            DecodeError::TooDeep { .. } => ErrorCode::NestingTooDeep,
            DecodeError::FieldTooLong { .. } => ErrorCode::FieldTooLong,
            DecodeError::Malformed { .. } => ErrorCode::Malformed,
        }
    }

    /// The `{code, message, details}` a client is sent for this error.
    pub fn to_error_body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code(), self.to_string());
        match self {
            DecodeError::TooLarge { len, max } => body.with("len", *len).with("max", *max),
            DecodeError::TooDeep { max } => body.with("max", *max),
            DecodeError::FieldTooLong { field, len, max } => body
                .with("field", *field)
                .with("len", *len)
                .with("max", *max),
            DecodeError::Malformed { .. } => body,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not encode message: {0}")]
pub struct EncodeError(String);

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Postcard, Codec::Json];

    /// The WebSocket subprotocol that selects this codec.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Codec::Postcard => "tickroom.v1.postcard",
            Codec::Json => "tickroom.v1.json",
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.subprotocol() == name)
    }

    /// Binary frames (postcard) or text frames (JSON).
    pub const fn is_binary(self) -> bool {
        matches!(self, Codec::Postcard)
    }

    /// JSON as a `String`, for text frames: no UTF-8 check needed afterwards.
    pub fn encode_json_string<T: Serialize>(msg: &T) -> Result<String, EncodeError> {
        serde_json::to_string(msg).map_err(|e| EncodeError(e.to_string()))
    }

    pub fn encode<T: Serialize>(self, msg: &T) -> Result<Vec<u8>, EncodeError> {
        match self {
            Codec::Postcard => postcard::to_stdvec(msg).map_err(|e| EncodeError(e.to_string())),
            Codec::Json => serde_json::to_vec(msg).map_err(|e| EncodeError(e.to_string())),
        }
    }

    /// Decodes one frame, enforcing every limit in `limits`: frame size
    /// first (before any parsing), then JSON depth, then the decode itself,
    /// then string and list lengths.
    pub fn decode<T: DeserializeOwned + CheckLimits>(
        self,
        frame: &[u8],
        limits: &Limits,
    ) -> Result<T, DecodeError> {
        let value: T = self.decode_unchecked(frame, limits)?;
        value.check_limits(limits)?;
        Ok(value)
    }

    /// [`Codec::decode`] without its last step: frame size, JSON depth and
    /// the decode itself are checked, string and list lengths are not. For
    /// a caller that wants the message to answer a length error with (the
    /// request's seq); it must call [`CheckLimits::check_limits`] next.
    pub fn decode_unchecked<T: DeserializeOwned>(
        self,
        frame: &[u8],
        limits: &Limits,
    ) -> Result<T, DecodeError> {
        if frame.len() > limits.max_frame_bytes {
            return Err(DecodeError::TooLarge {
                len: frame.len(),
                max: limits.max_frame_bytes,
            });
        }
        let value: T = match self {
            Codec::Postcard => {
                let (value, rest) = postcard::take_from_bytes(frame).map_err(malformed)?;
                if !rest.is_empty() {
                    return Err(DecodeError::Malformed {
                        reason: format!("{} trailing bytes after the message", rest.len()),
                    });
                }
                value
            }
            Codec::Json => {
                check_json_depth(frame, limits.max_json_depth)?;
                serde_json::from_slice(frame).map_err(malformed)?
            }
        };
        Ok(value)
    }
}

fn malformed(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed {
        reason: e.to_string(),
    }
}

/// Rejects JSON nested deeper than `max` before serde_json recurses into it.
/// Counts `{`/`[` outside strings; escapes inside strings are skipped.
fn check_json_depth(frame: &[u8], max: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in frame {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(DecodeError::TooDeep { max });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
