//! What the store shares with the tick threads and the ops side: its health,
//! and per room how far its writes have got. Plain atomics: the tick thread
//! reads them every tick and never waits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// The circuit breaker's state, as health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Default)]
pub struct StoreHealth {
    breaker: AtomicU8,
    /// Writes wait in the buffer (or the dead-letter file) for the store.
    degraded: AtomicBool,
    /// The buffer and the dead-letter file are both full: mutating intents
    /// are refused with STORE_UNAVAILABLE.
    refusing: AtomicBool,
    pub buffered_writes: AtomicU64,
    pub buffered_bytes: AtomicU64,
    pub dead_letter_bytes: AtomicU64,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
    pub failed_commits: AtomicU64,
    pub spilled_writes: AtomicU64,
    /// The last commit's duration in microseconds.
    pub last_commit_micros: AtomicU64,
    /// All successful commits' durations, in microseconds.
    pub commit_micros_total: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl StoreHealth {
    pub fn breaker(&self) -> BreakerState {
        match self.breaker.load(Ordering::Acquire) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    pub(crate) fn set_breaker(&self, state: BreakerState) {
        let n = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.breaker.store(n, Ordering::Release);
    }

    /// Writes are being committed as they come.
    pub fn is_healthy(&self) -> bool {
        !self.degraded.load(Ordering::Acquire)
    }

    /// True when the store can take no more writes: mutating intents must
    /// be refused with STORE_UNAVAILABLE.
    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }

    pub(crate) fn set_degraded(&self, degraded: bool) {
        self.degraded.store(degraded, Ordering::Release);
    }

    pub(crate) fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Release);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_last_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// How far one room's writes have got. The tick thread compares its own
/// tick with `settled` for STORE_BEHIND.
#[derive(Debug, Default)]
pub struct RoomProgress {
    /// The highest tick whose writes are committed.
    committed: AtomicU64,
    /// The highest tick whose writes are committed, or parked in the
    /// failure buffer or the dead-letter file (taken off the tick's hands).
    settled: AtomicU64,
}

impl RoomProgress {
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
    pub fn settled(&self) -> u64 {
        self.settled.load(Ordering::Acquire)
    }
    pub(crate) fn mark_committed(&self, tick: u64) {
        self.committed.fetch_max(tick, Ordering::AcqRel);
        self.settled.fetch_max(tick, Ordering::AcqRel);
    }
    pub(crate) fn mark_settled(&self, tick: u64) {
        self.settled.fetch_max(tick, Ordering::AcqRel);
    }
}
