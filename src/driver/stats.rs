//! Tick-thread statistics: tick durations (a log2 histogram in microseconds),
//! overruns, dropped ephemeral frames and slow consumers. Lock-free; the ops
//! API exports them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets `[2^i, 2^(i+1))` µs for i in 0..BUCKETS; the last is open-ended.
pub const BUCKETS: usize = 24;

#[derive(Default)]
pub struct TickStats {
    pub ticks: AtomicU64,
    pub tick_ns_total: AtomicU64,
    pub tick_ns_max: AtomicU64,
    pub buckets: [AtomicU64; BUCKETS],
    /// Ticks that started more than MAX_LAG_TICKS late (the room skipped ahead).
    pub overruns: AtomicU64,
    pub dropped_frames: AtomicU64,
    pub slow_consumers: AtomicU64,
    /// Inputs the rooms applied (joins and idempotent repeats included).
    pub applied: AtomicU64,
    /// Rejections by code (the catalog's order), by the rooms or before
    /// them (store refusals).
    rejected: PerCode,
    pub resumes_ok: AtomicU64,
    pub resumes_failed: AtomicU64,
    /// Cursor updates received, and those overwritten by a newer one from
    /// the same member before the tick sent them.
    pub cursor_updates: AtomicU64,
    pub cursors_coalesced: AtomicU64,
}

/// One counter per code of the catalog, indexed by its position.
#[derive(Debug)]
struct PerCode(Vec<AtomicU64>);

impl Default for PerCode {
    fn default() -> Self {
        PerCode(
            (0..tickroom_protocol::ErrorCode::ALL.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }
}

impl TickStats {
    pub fn rejected(&self, code: tickroom_protocol::ErrorCode) {
        if let Some(c) = self.rejected.0.get(code.number() as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rejections(&self, code: tickroom_protocol::ErrorCode) -> u64 {
        self.rejected
            .0
            .get(code.number() as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn record(&self, took: Duration) {
        let ns = took.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.tick_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.tick_ns_max.fetch_max(ns, Ordering::Relaxed);
        let us = (ns / 1000).max(1);
        let bucket = (63 - us.leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The upper bound (µs) of the bucket holding quantile `q` of the ticks.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return 1 << (i + 1);
            }
        }
        1 << BUCKETS
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let ticks = self.ticks.load(Ordering::Relaxed);
        let mean_us = self.tick_ns_total.load(Ordering::Relaxed) / ticks.max(1) / 1000;
        format!(
            "ticks={ticks} mean={mean_us}us p50<={}us p99<={}us max={}us overruns={} dropped_frames={} slow_consumers={}",
            self.quantile_us(0.5),
            self.quantile_us(0.99),
            self.tick_ns_max.load(Ordering::Relaxed) / 1000,
            self.overruns.load(Ordering::Relaxed),
            self.dropped_frames.load(Ordering::Relaxed),
            self.slow_consumers.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_rejection_counter() {
        let s = TickStats::default();
        for code in tickroom_protocol::ErrorCode::ALL {
            s.rejected(*code);
            assert_eq!(s.rejections(*code), 1);
        }
    }

    #[test]
    fn durations_land_in_log2_buckets_and_quantiles_read_back() {
        let s = TickStats::default();
        for _ in 0..98 {
            s.record(Duration::from_micros(3)); // bucket [2, 4)
        }
        s.record(Duration::from_micros(100)); // [64, 128)
        s.record(Duration::from_millis(5)); // [4096, 8192)
        assert_eq!(s.ticks.load(Ordering::Relaxed), 100);
        assert_eq!(s.quantile_us(0.5), 4);
        assert_eq!(s.quantile_us(0.99), 128);
        assert_eq!(s.quantile_us(1.0), 8192);
        assert_eq!(s.tick_ns_max.load(Ordering::Relaxed), 5_000_000);
    }
}
