//! When a WebSocket connection is pinged or given up on. Incoming traffic
//! only records the time; one alarm per connection rings at the earliest
//! moment something could be due and finds out what is. Resetting a timer on
//! every frame cost two timer-wheel insertions and removals per message,
//! most of what an idle connection's heartbeat costs the server.

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
    handshake_deadline: Instant,
    timeout: Duration,
    ping_interval: Duration,
    last_heard: Instant,
    last_ping: Instant,
}

impl Heartbeat {
    pub fn new(
        now: Instant,
        handshake_timeout: Duration,
        timeout: Duration,
        ping_interval: Duration,
    ) -> Heartbeat {
        Heartbeat {
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

    /// When the alarm should ring next. Traffic only moves this later, so an
    /// alarm set earlier is never late, only early.
    pub fn next_check(&self, handshaking: bool) -> Instant {
        self.deadline(handshaking).min(self.next_ping())
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
        Heartbeat::new(t0, 10 * S, 30 * S, 15 * S)
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
}
