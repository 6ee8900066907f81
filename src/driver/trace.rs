//! Trace ids: every client request and admin action that goes into a room
//! gets one when it is queued. It is on the log lines about the request and
//! stored with its input in the log, so a line in the logs leads to the
//! input (the history API shows it per tick), and an input to the logs. A
//! plain u64 on the tick thread (no allocation); shown as 16 hex digits.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tickroom_protocol::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(pub u64);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Unique within this process and unlikely to repeat across restarts (the
/// counter is mixed with the start time).
pub fn next_id() -> TraceId {
    static NONCE: OnceLock<u64> = OnceLock::new();
    let nonce = *NONCE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&nonce.to_le_bytes());
    bytes[8..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    TraceId(xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// An `INTERNAL` answer. The catalog asks whoever gets one to report it
/// with its trace id, so it carries a fresh one (`details.trace_id`) and the
/// server's error line about it carries the same id and the `cause`, which
/// the answer itself does not show.
pub fn internal_error(message: impl Into<String>, cause: impl fmt::Display) -> ErrorBody {
    let id = next_id();
    let message = message.into();
    tracing::error!(trace_id = %id, %cause, answer = %message, "answered INTERNAL");
    ErrorBody::new(ErrorCode::Internal, message).with("trace_id", id.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_shown_as_16_hex_digits() {
        let ids: std::collections::BTreeSet<u64> =
            (0..10_000).map(|_| super::next_id().0).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(super::TraceId(0xab).to_string(), "00000000000000ab");
    }

    #[test]
    fn an_internal_answer_carries_its_own_trace_id() {
        use tickroom_protocol::{DetailValue, ErrorCode};
        let a = super::internal_error("it broke", "a cause");
        let b = super::internal_error("it broke", "a cause");
        assert_eq!(a.code, ErrorCode::Internal);
        assert_eq!(a.message, "it broke");
        let id = |e: &tickroom_protocol::ErrorBody| match e.details.get("trace_id") {
            Some(DetailValue::Text(s)) => s.clone(),
            other => panic!("no trace id: {other:?}"),
        };
        assert_eq!(id(&a).len(), 16);
        assert!(id(&a).chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id(&a), id(&b), "each answer its own id");
    }
}
