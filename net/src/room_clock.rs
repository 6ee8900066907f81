//! A room's tick as its connections read it for pongs. A tick thread may
//! park a quiet room (skip its ticks instead of running them); while it is
//! parked, the tick is worked out from the time, so pongs keep counting.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct RoomClock {
    /// The last tick the room ran (or skipped to).
    tick: AtomicU64,
    /// While parked: when tick 0 would have been due, in nanoseconds since
    /// the process's first clock (may be negative).
    origin_ns: AtomicI64,
    parked: AtomicBool,
    period_ns: i64,
}

/// Nanoseconds from the process's first clock to `at` (negative before it).
fn nanos(at: Instant) -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    match at.checked_duration_since(start) {
        Some(d) => d.as_nanos() as i64,
        None => -(start.duration_since(at).as_nanos() as i64),
    }
}

impl RoomClock {
    pub fn new(tick: u64, period: Duration) -> RoomClock {
        RoomClock {
            tick: AtomicU64::new(tick),
            origin_ns: AtomicI64::new(0),
            parked: AtomicBool::new(false),
            period_ns: (period.as_nanos() as i64).max(1),
        }
    }

    /// The room ran (or caught up to) `tick`.
    pub fn set(&self, tick: u64) {
        self.tick.store(tick, Ordering::Relaxed);
        self.parked.store(false, Ordering::Release);
    }

    /// The room stopped ticking at `tick`; its next tick would have been due
    /// at `next_due`, and one more every period after that.
    pub fn park(&self, tick: u64, next_due: Instant) {
        let origin = nanos(next_due) - (tick as i64 + 1) * self.period_ns;
        self.tick.store(tick, Ordering::Relaxed);
        self.origin_ns.store(origin, Ordering::Relaxed);
        self.parked.store(true, Ordering::Release);
    }

    /// The room's tick now: the last it ran, or while parked, the last one
    /// due by now.
    pub fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    fn at(&self, now: Instant) -> u64 {
        let parked = self.parked.load(Ordering::Acquire);
        let tick = self.tick.load(Ordering::Relaxed);
        if !parked {
            return tick;
        }
        let elapsed = nanos(now) - self.origin_ns.load(Ordering::Relaxed);
        tick.max(u64::try_from(elapsed / self.period_ns).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_clock_counts_the_ticks_due_since_it_parked() {
        let period = Duration::from_millis(50);
        let clock = RoomClock::new(0, period);
        let t0 = Instant::now();
        clock.set(100);
        assert_eq!(clock.at(t0 + period * 10), 100, "running: what it ran");
        clock.park(100, t0 + period);
        assert_eq!(clock.at(t0), 100);
        assert_eq!(clock.at(t0 + period), 101, "tick 101 was due then");
        assert_eq!(clock.at(t0 + period * 3 - Duration::from_nanos(1)), 102);
        assert_eq!(clock.at(t0 + period * 40), 140);
        clock.set(141);
        assert_eq!(clock.at(t0 + period * 400), 141);
    }
}
