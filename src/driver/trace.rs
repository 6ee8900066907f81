//! Trace ids: every client request and admin action that goes into a room
//! gets one when it is queued. It is on the log lines about the request and
//! stored with its input in the log, so a line in the logs leads to the
//! input (the history API shows it per tick), and an input to the logs. A
//! plain u64 on the tick thread (no allocation); shown as 16 hex digits.
//!
//! Ids are a random per-process base plus a counter: unique within the
//! process, unlikely to repeat across restarts (two bases would have to
//! land within the number of ids issued of each other), and consecutive,
//! so the log stores the ids of a tick's inputs as small differences (the
//! first in full); random-looking ids cost 8–9 bytes per logged input.

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

/// The next id: this process's base plus a counter (see the module doc).
pub fn next_id() -> TraceId {
    static BASE: OnceLock<u64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        // The start time and process id, hashed: a random-looking base.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
        bytes[8..].copy_from_slice(&std::process::id().to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes)
    });
    TraceId(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
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

    /// The log stores a tick's trace ids as differences: one thread's
    /// consecutive ids are close (other tests take ids in between).
    #[test]
    fn consecutive_ids_are_close() {
        let ids: Vec<u64> = (0..1_000).map(|_| super::next_id().0).collect();
        for pair in ids.windows(2) {
            let step = pair[1].wrapping_sub(pair[0]);
            assert!((1..1_000_000).contains(&step), "{pair:?}");
        }
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
