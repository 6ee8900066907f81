//! A circuit breaker (closed → open → half-open) with exponential backoff,
//! so a failing store is not hammered. Time comes in as an argument.

use crate::health::BreakerState;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures_to_open: u32,
    /// The first retry delay; doubles with each failure.
    pub retry_base: Duration,
    /// The longest retry delay, and the longest time the breaker stays open.
    pub retry_max: Duration,
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    failures: u32,
    /// No attempt before this instant.
    next_try: Option<Instant>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: BreakerState::Closed,
            failures: 0,
            next_try: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When the next attempt may be made; `None` means now.
    pub fn next_try(&self) -> Option<Instant> {
        self.next_try
    }

    /// Whether an attempt may be made at `now`; an open breaker whose wait
    /// is over goes half-open and lets one attempt through.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.next_try.is_some_and(|t| now < t) {
            return false;
        }
        if self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
        }
        true
    }

    pub fn success(&mut self) {
        self.state = BreakerState::Closed;
        self.failures = 0;
        self.next_try = None;
    }

    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let shift = (self.failures - 1).min(20);
        let delay = self
            .config
            .retry_base
            .saturating_mul(1 << shift)
            .min(self.config.retry_max);
        self.next_try = Some(now + delay);
        if self.state == BreakerState::HalfOpen || self.failures >= self.config.failures_to_open {
            self.state = BreakerState::Open;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failures_to_open: 3,
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(100),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_then_half_opens_and_closes() {
        let mut b = breaker();
        let t0 = Instant::now();
        assert!(b.allow(t0));
        b.failure(t0);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.allow(t0 + Duration::from_millis(5)), "backing off");
        assert!(b.allow(t0 + Duration::from_millis(10)));
        b.failure(t0 + Duration::from_millis(10));
        b.failure(t0 + Duration::from_millis(30));
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.next_try().unwrap() - (t0 + Duration::from_millis(30));
        assert_eq!(wait, Duration::from_millis(40), "10 · 2²");
        assert!(!b.allow(t0 + Duration::from_millis(31)));
        assert!(b.allow(t0 + Duration::from_millis(70)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.failure(t0 + Duration::from_millis(70));
        assert_eq!(b.state(), BreakerState::Open, "a failed probe reopens");
        assert!(b.allow(t0 + Duration::from_millis(200)));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(t0 + Duration::from_millis(200)));
    }

    #[test]
    fn the_delay_is_capped() {
        let mut b = breaker();
        let t0 = Instant::now();
        for _ in 0..40 {
            b.failure(t0);
        }
        assert_eq!(b.next_try().unwrap() - t0, Duration::from_millis(100));
    }
}
