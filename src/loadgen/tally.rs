//! What the load generator's clients saw, in a form that merges exactly
//! across tasks and processes: latency histograms (merged bucket by bucket,
//! never by averaging percentiles), counters, and per-room version spans.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The message classes whose send-to-receipt latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// `move_piece`, until the delta carrying its `piece_moved`.
    Move,
    /// `take_lock` / `renew_lock`, until the delta carrying the lock event.
    Lock,
    /// `chat`, until the delta carrying its `chat_posted`.
    Chat,
    /// `cursor`, until a `cursors` frame carrying that position (cursors
    /// coalesce: positions overtaken by a newer one are not counted).
    Cursor,
    /// `ping`, until its `pong` (idle clients' heartbeat).
    Ping,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Move,
        Class::Lock,
        Class::Chat,
        Class::Cursor,
        Class::Ping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Move => "move",
            Class::Lock => "lock",
            Class::Chat => "chat",
            Class::Cursor => "cursor",
            Class::Ping => "ping",
        }
    }

    /// Critical classes must come back in a delta: one that never does is a
    /// lost event.
    pub fn critical(self) -> bool {
        matches!(self, Class::Move | Class::Lock | Class::Chat)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Latencies are recorded in microseconds, up to two minutes, at three
/// significant digits.
const MAX_US: u64 = 120_000_000;

fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// One room's version bookkeeping, summed over the clients in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomSpan {
    pub clients: u64,
    /// Sum of the room versions the clients joined at.
    pub joined_versions: u64,
    /// Sum over clients of the versions their deltas covered.
    pub received_versions: u64,
    /// The newest version any client of the room saw.
    pub final_version: u64,
}

impl RoomSpan {
    /// Versions every client should have received: from its join to the
    /// newest version anyone saw.
    pub fn expected(&self) -> u64 {
        (self.clients * self.final_version).saturating_sub(self.joined_versions)
    }

    fn merge(&mut self, other: &RoomSpan) {
        self.clients += other.clients;
        self.joined_versions += other.joined_versions;
        self.received_versions += other.received_versions;
        self.final_version = self.final_version.max(other.final_version);
    }
}

/// Counts one more under `key`, allocating the key only the first time
/// (this runs for every message a client sends or receives).
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// Everything counted, by one task, one process, or the whole run; it
/// crosses from worker processes as JSON, exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Per class; empty until the first record: a histogram is ~150 KiB,
    /// and an idle client (100,000 of them in a run) records nothing.
    #[serde(with = "buckets")]
    latency: Vec<Histogram<u64>>,
    /// Requests sent per class during the measured run.
    pub sent: BTreeMap<String, u64>,
    /// Critical requests whose event came back in a delta.
    pub echoed: BTreeMap<String, u64>,
    /// Requests acknowledged, by an `ack` frame or by a delta's origins.
    pub acks: u64,
    /// `ack` frames received (in protocol 2 a delta's origins acknowledge
    /// most requests without one).
    pub ack_frames: u64,
    /// Every frame received, of any kind: what a client pays a message
    /// event for.
    pub frames: u64,
    /// Requests the server rejected, by code.
    pub rejects: BTreeMap<String, u64>,
    /// Errors not tied to a request (`error`, `closing`, failed connects),
    /// by code.
    pub errors: BTreeMap<String, u64>,
    pub clients: u64,
    pub connected: u64,
    pub connect_failures: u64,
    /// Connections that ended before the run did (any reason).
    pub dropped: u64,
    pub slow_consumers: u64,
    pub deltas: u64,
    pub events: u64,
    /// Deltas whose `from_version` skipped past the previous `to_version`.
    pub gaps: u64,
    pub gap_versions: u64,
    pub rooms: BTreeMap<String, RoomSpan>,
    /// Intents (move, lock, chat) sent but neither acknowledged nor rejected
    /// when the client stopped.
    pub unresolved: u64,
}

impl Tally {
    pub fn record(&mut self, class: Class, micros: u64) {
        self.histograms()[class.index()].saturating_record(micros.max(1));
    }

    fn histograms(&mut self) -> &mut Vec<Histogram<u64>> {
        if self.latency.is_empty() {
            self.latency = Class::ALL.iter().map(|_| new_histogram()).collect();
        }
        &mut self.latency
    }

    pub fn sent(&mut self, class: Class) {
        bump(&mut self.sent, class.name());
    }

    pub fn echoed(&mut self, class: Class) {
        bump(&mut self.echoed, class.name());
    }

    pub fn error(&mut self, code: &str) {
        bump(&mut self.errors, code);
    }

    pub fn reject(&mut self, code: &str) {
        bump(&mut self.rejects, code);
    }

    pub fn latency(&self, class: Class) -> &Histogram<u64> {
        static NONE: std::sync::OnceLock<Histogram<u64>> = std::sync::OnceLock::new();
        self.latency
            .get(class.index())
            .unwrap_or_else(|| NONE.get_or_init(new_histogram))
    }

    pub fn merge(&mut self, other: &Tally) {
        if !other.latency.is_empty() {
            self.histograms();
        }
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        let add = |a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        };
        add(&mut self.sent, &other.sent);
        add(&mut self.echoed, &other.echoed);
        add(&mut self.errors, &other.errors);
        add(&mut self.rejects, &other.rejects);
        self.acks += other.acks;
        self.ack_frames += other.ack_frames;
        self.frames += other.frames;
        self.clients += other.clients;
        self.connected += other.connected;
        self.connect_failures += other.connect_failures;
        self.dropped += other.dropped;
        self.slow_consumers += other.slow_consumers;
        self.deltas += other.deltas;
        self.events += other.events;
        self.gaps += other.gaps;
        self.gap_versions += other.gap_versions;
        self.unresolved += other.unresolved;
        for (room, span) in &other.rooms {
            self.rooms.entry(room.clone()).or_default().merge(span);
        }
    }

    /// Critical intents sent (move, lock, chat).
    pub fn critical_sent(&self) -> u64 {
        self.count_critical(&self.sent)
    }

    pub fn critical_echoed(&self) -> u64 {
        self.count_critical(&self.echoed)
    }

    fn count_critical(&self, map: &BTreeMap<String, u64>) -> u64 {
        Class::ALL
            .iter()
            .filter(|c| c.critical())
            .map(|c| map.get(c.name()).copied().unwrap_or(0))
            .sum()
    }

    /// Requests the server refused: not expected back in a delta.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }

    pub fn expected_versions(&self) -> u64 {
        self.rooms.values().map(RoomSpan::expected).sum()
    }

    pub fn received_versions(&self) -> u64 {
        self.rooms.values().map(|r| r.received_versions).sum()
    }
}

/// Histograms on the wire: per class, the `[value, count]` pairs of the
/// recorded buckets, which rebuild the histogram exactly.
mod buckets {
    use super::{Class, Histogram, MAX_US, new_histogram};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(h: &[Histogram<u64>], s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, Vec<(u64, u64)>> = Class::ALL
            .iter()
            .zip(h)
            .map(|(c, h)| {
                let pairs = h
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect();
                (c.name(), pairs)
            })
            .collect();
        map.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Histogram<u64>>, D::Error> {
        let map = BTreeMap::<String, Vec<(u64, u64)>>::deserialize(d)?;
        Ok(Class::ALL
            .iter()
            .map(|c| {
                let mut h = new_histogram();
                for &(value, count) in map.get(c.name()).into_iter().flatten() {
                    let _ = h.record_n(value.min(MAX_US), count);
                }
                h
            })
            .collect())
    }
}

/// Quantiles of one class, in microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quantiles {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Quantiles {
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        // hdrhistogram reports a bucket's highest equivalent value, so a
        // quantile is never understated.
        Quantiles {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histograms_give_the_quantiles_of_all_samples_not_averages() {
        // Two halves with very different latencies: the merged p50 and p99
        // must be those of the union, which averaging would not give.
        let mut fast = Tally::default();
        let mut slow = Tally::default();
        for i in 0..900 {
            fast.record(Class::Move, 1_000 + i);
        }
        for i in 0..100 {
            slow.record(Class::Move, 50_000 + i * 10);
        }
        let mut all = Tally::default();
        // Through the JSON the worker processes send.
        let wire = |t: &Tally| -> Tally {
            serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap()
        };
        all.merge(&wire(&fast));
        all.merge(&wire(&slow));
        let q = Quantiles::of(all.latency(Class::Move));
        assert_eq!(q.count, 1000);
        // The 500th sample is 1,499 µs and the 990th 50,890 µs (to the
        // histogram's 3 significant digits); averaging the halves' p50s
        // would say about 26 ms.
        assert!((1_499..=1_500).contains(&q.p50_us), "{q:?}");
        assert!((50_890..=50_950).contains(&q.p99_us), "{q:?}");
        assert!((50_990..=51_050).contains(&q.max_us), "{q:?}");
    }

    #[test]
    fn expected_versions_run_from_each_join_to_the_newest_version_seen() {
        let mut a = Tally::default();
        a.rooms.insert(
            "r".into(),
            RoomSpan {
                clients: 1,
                joined_versions: 10,
                received_versions: 90,
                final_version: 100,
            },
        );
        let mut b = Tally::default();
        // Joined at 40 and was cut off at 70: 30 of 60 versions.
        b.rooms.insert(
            "r".into(),
            RoomSpan {
                clients: 1,
                joined_versions: 40,
                received_versions: 30,
                final_version: 70,
            },
        );
        a.merge(&b);
        assert_eq!(a.expected_versions(), 90 + 60);
        assert_eq!(a.received_versions(), 120);
    }
}
