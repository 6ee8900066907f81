//! When a WebSocket connection is pinged or given up on. Incoming traffic
//! only records the time; one alarm per connection rings at the earliest
//! moment something could be due and finds out what is. Resetting a timer on
//! every frame cost two timer-wheel insertions and removals per message,
//! most of what an idle connection's heartbeat costs the server.
//!
//! Alarms ring on a grid shared by all connections (a sixteenth of the
//! shorter of the ping interval and the handshake timeout, at most 500 ms),
//! so the pings due within one step go out together and their answers come
//! back together: one wake-up of the runtime for many connections instead
//! of one each. Nothing rings early; a ping goes out at most one step late.

use std::time::Duration;
use tokio::time::Instant;

/// What the alarm found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Traffic moved the deadlines on; the alarm was early.
    Nothing,
    /// No `hello` within the handshake timeout.
    HandshakeTimeout,
    /// Nothing heard within the heartbeat timeout.
    HeartbeatTimeout,
    /// Quiet for a ping interval: ping the client (recorded as sent).
    Ping,
}

#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// Where the grid starts (the same for every connection) and its step.
    anchor: Instant,
    step: Duration,
    handshake_deadline: Instant,
    timeout: Duration,
    ping_interval: Duration,
    last_heard: Instant,
    last_ping: Instant,
}

impl Heartbeat {
    /// The grid step for these timeouts.
    pub fn step_for(handshake_timeout: Duration, ping_interval: Duration) -> Duration {
        (handshake_timeout.min(ping_interval) / 16).min(Duration::from_millis(500))
    }

    /// Alarms ring on multiples of `step` after `anchor` (a zero step: no
    /// grid).
    pub fn new(
        now: Instant,
        (anchor, step): (Instant, Duration),
        handshake_timeout: Duration,
        timeout: Duration,
        ping_interval: Duration,
    ) -> Heartbeat {
        Heartbeat {
            anchor,
            step,
            handshake_deadline: now + handshake_timeout,
            timeout,
            ping_interval,
            last_heard: now,
            last_ping: now,
        }
    }

    /// Something arrived from the client.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    fn deadline(&self, handshaking: bool) -> Instant {
        if handshaking {
            self.handshake_deadline
        } else {
            self.last_heard + self.timeout
        }
    }

    fn next_ping(&self) -> Instant {
        self.last_heard.max(self.last_ping) + self.ping_interval
    }

    /// When the alarm should ring next: the first grid point at or after
    /// the next thing that could be due. Traffic only moves this later, so
    /// an alarm set earlier is never late, only early.
    pub fn next_check(&self, handshaking: bool) -> Instant {
        self.on_grid(self.deadline(handshaking).min(self.next_ping()))
    }

    fn on_grid(&self, t: Instant) -> Instant {
        let step = self.step.as_nanos();
        if step == 0 || t <= self.anchor {
            return t;
        }
        let steps = t
            .saturating_duration_since(self.anchor)
            .as_nanos()
            .div_ceil(step);
        let offset = u64::try_from(steps * step).unwrap_or(u64::MAX);
        self.anchor + Duration::from_nanos(offset)
    }

    /// What is due at `now`; a ping it returns counts as sent.
    pub fn due(&mut self, now: Instant, handshaking: bool) -> Due {
        if now >= self.deadline(handshaking) {
            if handshaking {
                Due::HandshakeTimeout
            } else {
                Due::HeartbeatTimeout
            }
        } else if now >= self.next_ping() {
            self.last_ping = now;
            Due::Ping
        } else {
            Due::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn beat(t0: Instant) -> Heartbeat {
        Heartbeat::new(t0, (t0, Duration::ZERO), 10 * S, 30 * S, 15 * S)
    }

    #[test]
    fn a_quiet_client_is_pinged_then_dropped() {
        let t0 = Instant::now();
        let mut h = beat(t0);
        assert_eq!(h.next_check(false), t0 + 15 * S);
        assert_eq!(h.due(t0 + 14 * S, false), Due::Nothing);
        assert_eq!(h.due(t0 + 15 * S, false), Due::Ping);
        // Pinged, not yet answered: the next check is the timeout.
        assert_eq!(h.next_check(false), t0 + 30 * S);
        assert_eq!(h.due(t0 + 29 * S, false), Due::Nothing);
        assert_eq!(h.due(t0 + 30 * S, false), Due::HeartbeatTimeout);
    }

    #[test]
    fn traffic_moves_the_ping_and_the_timeout_on() {
        let t0 = Instant::now();
        let mut h = beat(t0);
        h.heard(t0 + 10 * S);
        // The alarm set for t0+15 s rings early and finds nothing due.
        assert_eq!(h.due(t0 + 15 * S, false), Due::Nothing);
        assert_eq!(h.next_check(false), t0 + 25 * S);
        assert_eq!(h.due(t0 + 25 * S, false), Due::Ping);
        // The answer to the ping counts as traffic.
        h.heard(t0 + 25 * S);
        assert_eq!(h.next_check(false), t0 + 40 * S);
        assert_eq!(h.due(t0 + 39 * S, false), Due::Nothing);
    }

    #[test]
    fn a_client_that_talks_often_enough_is_never_pinged() {
        let t0 = Instant::now();
        let mut h = beat(t0);
        for i in 1..100u32 {
            let now = t0 + 10 * S * i;
            h.heard(now);
            assert_eq!(h.due(now, false), Due::Nothing, "at {i}");
            assert!(h.next_check(false) > now + 10 * S);
        }
    }

    #[test]
    fn the_handshake_has_its_own_deadline() {
        let t0 = Instant::now();
        let mut h = beat(t0);
        h.heard(t0 + 5 * S);
        assert_eq!(h.next_check(true), t0 + 10 * S);
        assert_eq!(h.due(t0 + 10 * S, true), Due::HandshakeTimeout);
        // Once past the handshake, the heartbeat deadline applies.
        assert_eq!(h.due(t0 + 10 * S, false), Due::Nothing);
    }

    #[test]
    fn alarms_ring_on_the_shared_grid_never_early() {
        let anchor = Instant::now();
        let step = Heartbeat::step_for(10 * S, 15 * S);
        assert_eq!(step, Duration::from_millis(500));
        let ms = Duration::from_millis(1);
        // Two connections opened 130 ms apart ring at the same grid point.
        let mut a = Heartbeat::new(anchor + 70 * ms, (anchor, step), 10 * S, 30 * S, 15 * S);
        let b = Heartbeat::new(anchor + 200 * ms, (anchor, step), 10 * S, 30 * S, 15 * S);
        assert_eq!(a.next_check(false), anchor + 15_500 * ms);
        assert_eq!(a.next_check(false), b.next_check(false));
        // Not yet due before the exact moment; due at the grid point.
        assert_eq!(a.due(anchor + 15_069 * ms, false), Due::Nothing);
        assert_eq!(a.due(anchor + 15_500 * ms, false), Due::Ping);
        // A point already on the grid stays where it is.
        a.heard(anchor + 20 * S);
        assert_eq!(a.next_check(false), anchor + 35 * S);
        // Short timeouts get a fine grid.
        assert_eq!(
            Heartbeat::step_for(10 * S, 300 * ms),
            Duration::from_micros(18_750)
        );
    }
}
