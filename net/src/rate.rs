//! Per-connection token buckets, one per class of request.

use std::time::{Duration, Instant};
pub use tickroom_protocol::RateClass;
use tickroom_protocol::{ClientMessage, IntentTable};

/// A rate: `count` requests per `per`, with bursts up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub moves: Rate,
    pub actions: Rate,
    pub chat: Rate,
    pub cursors: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        let s = Duration::from_secs(1);
        RateLimits {
            moves: Rate { count: 30, per: s },
            actions: Rate {
                count: 60,
                per: 10 * s,
            },
            chat: Rate {
                count: 20,
                per: 10 * s,
            },
            cursors: Rate { count: 30, per: s },
        }
    }
}

/// The class a message counts against; `None` for hello and ping. An
/// intent's class is its mode's ([`tickroom_protocol::IntentSpec::rate`]);
/// one the room's mode does not know counts as an action.
pub fn class_of(msg: &ClientMessage, intents: Option<IntentTable>) -> Option<RateClass> {
    Some(match msg {
        ClientMessage::Hello { .. } | ClientMessage::Ping { .. } => return None,
        ClientMessage::Cursor { .. } => RateClass::Cursors,
        ClientMessage::Intent { intent, .. } => intent
            .variant()
            .and_then(|v| intents?.find(&v))
            .map_or(RateClass::Actions, |spec| spec.rate),
        _ => RateClass::Actions,
    })
}

#[derive(Debug, Clone)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: f64::from(rate.count),
            last: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let per_token = self.rate.per.as_secs_f64() / f64::from(self.rate.count.max(1));
        let refill = now.saturating_duration_since(self.last).as_secs_f64() / per_token;
        self.tokens = (self.tokens + refill).min(f64::from(self.rate.count));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) * per_token))
        }
    }
}

/// The buckets of one connection.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    buckets: [Bucket; 4],
}

impl RateLimiter {
    pub fn new(limits: &RateLimits, now: Instant) -> RateLimiter {
        RateLimiter {
            buckets: [
                Bucket::new(limits.moves, now),
                Bucket::new(limits.actions, now),
                Bucket::new(limits.chat, now),
                Bucket::new(limits.cursors, now),
            ],
        }
    }

    pub fn take(&mut self, class: RateClass, now: Instant) -> Result<(), Duration> {
        let i = match class {
            RateClass::Moves => 0,
            RateClass::Actions => 1,
            RateClass::Chat => 2,
            RateClass::Cursors => 3,
        };
        self.buckets[i].take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let rate = Rate {
            count: 3,
            per: Duration::from_secs(3),
        };
        let mut b = Bucket::new(rate, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Ok(()));
        }
        let wait = b.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(b.take(t0 + Duration::from_millis(500)).is_err());
        assert_eq!(b.take(t0 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn messages_fall_into_their_classes() {
        use tickroom_protocol::board::{INTENTS, Intent};
        use tickroom_protocol::{Payload, PieceId, Pos};
        let board = Some(IntentTable(INTENTS));
        let m = |intent: Intent| ClientMessage::intent(1, intent);
        let of = |msg: &ClientMessage| class_of(msg, board);
        let moved = m(Intent::MovePiece {
            piece: PieceId(0),
            to: Pos::new(0, 0),
        });
        assert_eq!(of(&moved), Some(RateClass::Moves));
        assert_eq!(
            of(&m(Intent::Chat { text: "x".into() })),
            Some(RateClass::Chat)
        );
        assert_eq!(of(&m(Intent::StartMatch {})), Some(RateClass::Actions));
        // As a client sends them: by name in JSON, by index in postcard.
        let json = ClientMessage::Intent {
            seq: 1,
            intent: Payload::from_json(r#"{"chat": {"text": "x"}}"#).unwrap(),
        };
        assert_eq!(of(&json), Some(RateClass::Chat));
        let bytes = ClientMessage::Intent {
            seq: 1,
            intent: Payload::from_postcard(vec![7, 1, b'x']),
        };
        assert_eq!(of(&bytes), Some(RateClass::Chat));
        assert_eq!(class_of(&moved, None), Some(RateClass::Actions));
        assert_eq!(
            of(&ClientMessage::Cursor {
                pos: Pos::new(0, 0)
            }),
            Some(RateClass::Cursors)
        );
        assert_eq!(of(&ClientMessage::Ping { client_time: 0 }), None);
    }
}
