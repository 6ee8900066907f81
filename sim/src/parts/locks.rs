//! Locks with a time to live, on any kind of key (a board's pieces, a
//! tabletop's tokens): `unlocked → locked → released | expired`. First
//! processed wins; the holder renews a lock by taking it again or by using
//! what it locks.
//!
//! A mode keeps one [`Locks`] in a resource, checks with
//! [`Locks::free_for`] / [`Locks::require_holder`] in its validation, changes
//! it only in its apply step, calls [`Locks::expire`] from a system in
//! [`TickSet::Timers`](crate::TickSet::Timers) (and reports
//! [`Locks::next_due`] from `Mode::next_due` so an idle room wakes for it),
//! and releases a member's locks from `Mode::on_change` when it leaves.
//!
//! Only the holders and expiry ticks are state (what a mode hashes and
//! snapshots: [`Locks::iter`] in key order, [`Locks::restore`], or serde:
//! a list of [`Entry`] in key order); the expiry queue and the holder index
//! are derived and rebuilt on restore.

use bevy_platform::collections::HashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::hash::Hash;
use tickroom_protocol::{DetailValue, ErrorBody, ErrorCode, MemberId, PieceId};

/// What can be locked: ordered (expiries and releases run in key order) and
/// named in error messages and details.
pub trait LockKey: Copy + Ord + Hash + fmt::Display + Send + Sync + 'static {
    /// The key in an error's details.
    fn detail(self) -> DetailValue;
}

impl LockKey for PieceId {
    fn detail(self) -> DetailValue {
        self.0.into()
    }
}

impl LockKey for u32 {
    fn detail(self) -> DetailValue {
        self.into()
    }
}

/// One held lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub holder: MemberId,
    /// The first tick at which the lock is gone unless renewed before.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    lock: Lock,
    /// Tells this lock apart from earlier locks of the same key in the
    /// expiry queue.
    serial: u64,
}

/// One lock as state: what [`Locks`] encodes to, in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<K> {
    pub key: K,
    pub holder: MemberId,
    pub expires_at: u64,
}

/// Whether [`Locks::take`] took a free lock or renewed the taker's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    New { expires_at: u64 },
    Renewed { expires_at: u64 },
}

/// The lock table of one kind of key.
#[derive(Debug, Clone)]
pub struct Locks<K: LockKey> {
    /// What a key is called in messages and details ("piece", "token").
    noun: &'static str,
    /// By key, with a fixed hasher: looked up on every move, so a hash map
    /// (never iterated but through a sort, so its order cannot leak into
    /// the state).
    held: HashMap<K, Held>,
    by_holder: BTreeMap<MemberId, BTreeSet<K>>,
    /// Locks by expiry tick, popped in `(tick, key)` order. Renewing does not
    /// touch the queue: a renewed lock's entry is pushed again at its new
    /// expiry when it comes due.
    expiries: BinaryHeap<Reverse<(u64, K, u64)>>,
    next_serial: u64,
}

impl<K: LockKey> PartialEq for Locks<K> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<K: LockKey> Eq for Locks<K> {}

impl<K: LockKey + Serialize> Serialize for Locks<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|(key, l)| Entry {
            key,
            holder: l.holder,
            expires_at: l.expires_at,
        }))
    }
}

/// Decodes with the noun "key"; name it with [`Locks::named`].
impl<'de, K: LockKey + Deserialize<'de>> Deserialize<'de> for Locks<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<Entry<K>>::deserialize(d)?;
        if !entries.windows(2).all(|w| w[0].key < w[1].key) {
            return Err(serde::de::Error::custom("locks not in key order"));
        }
        Ok(Locks::restore(
            "key",
            entries.into_iter().map(|e| {
                let lock = Lock {
                    holder: e.holder,
                    expires_at: e.expires_at,
                };
                (e.key, lock)
            }),
        ))
    }
}

impl<K: LockKey> Locks<K> {
    pub fn new(noun: &'static str) -> Locks<K> {
        Locks {
            noun,
            held: HashMap::default(),
            by_holder: BTreeMap::new(),
            expiries: BinaryHeap::new(),
            next_serial: 0,
        }
    }

    /// Rebuilds the table from its state (as [`Locks::iter`] gave it).
    pub fn restore(noun: &'static str, locks: impl IntoIterator<Item = (K, Lock)>) -> Locks<K> {
        let mut table = Locks::new(noun);
        for (key, lock) in locks {
            table.insert(key, lock);
        }
        table
    }

    /// The same table, naming its keys `noun` in errors.
    pub fn named(mut self, noun: &'static str) -> Locks<K> {
        self.noun = noun;
        self
    }

    #[inline]
    pub fn get(&self, key: K) -> Option<Lock> {
        self.held.get(&key).map(|h| h.lock)
    }

    /// Every held lock, in key order: the part of a mode's state.
    pub fn iter(&self) -> impl Iterator<Item = (K, Lock)> + '_ {
        let mut all: Vec<(K, Lock)> = self.held.iter().map(|(k, h)| (*k, h.lock)).collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all.into_iter()
    }

    /// How many locks are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The keys `holder` holds, in key order.
    pub fn held_by(&self, holder: MemberId) -> Vec<K> {
        self.by_holder
            .get(&holder)
            .map(|keys| keys.iter().copied().collect())
            .unwrap_or_default()
    }

    /// LOCK_HELD when someone other than `who` holds the lock of `key`.
    #[inline]
    pub fn free_for(&self, who: MemberId, key: K) -> Result<(), ErrorBody> {
        match self.get(key) {
            Some(l) if l.holder != who => Err(ErrorBody::new(
                ErrorCode::LockHeld,
                format!("{} {key} is locked by member {}", self.noun, l.holder.0),
            )
            .with(self.noun, key.detail())
            .with("holder", l.holder.0)
            .with("expires_at", l.expires_at)),
            _ => Ok(()),
        }
    }

    /// NOT_LOCK_OWNER unless `who` holds the lock of `key`.
    pub fn require_holder(&self, who: MemberId, key: K) -> Result<(), ErrorBody> {
        match self.get(key) {
            Some(l) if l.holder == who => Ok(()),
            other => {
                let err = ErrorBody::new(
                    ErrorCode::NotLockOwner,
                    format!(
                        "member {} does not hold the lock of {} {key}",
                        who.0, self.noun
                    ),
                )
                .with(self.noun, key.detail());
                Err(match other {
                    Some(l) => err.with("holder", l.holder.0),
                    None => err,
                })
            }
        }
    }

    /// Gives `holder` the lock of `key` for `ttl` ticks from `tick`, or
    /// renews it if `holder` has it already. Check [`Locks::free_for`] first:
    /// taking another member's lock takes it over.
    pub fn take(&mut self, tick: u64, ttl: u64, key: K, holder: MemberId) -> Taken {
        let expires_at = tick + ttl;
        match self.held.get(&key) {
            Some(h) if h.lock.holder == holder => {
                self.renew(tick, ttl, key);
                Taken::Renewed { expires_at }
            }
            _ => {
                self.remove(key);
                self.insert(key, Lock { holder, expires_at });
                self.compact();
                Taken::New { expires_at }
            }
        }
    }

    /// Moves the expiry of a held lock to `tick + ttl`.
    #[inline]
    pub fn renew(&mut self, tick: u64, ttl: u64, key: K) -> Option<u64> {
        let h = self.held.get_mut(&key)?;
        let expires_at = tick + ttl;
        let earlier = expires_at < h.lock.expires_at;
        h.lock.expires_at = expires_at;
        if earlier {
            // A later expiry is found when the queued one comes due; an
            // earlier one must be queued, or the lock would outlive it.
            let serial = h.serial;
            self.expiries.push(Reverse((expires_at, key, serial)));
        }
        Some(expires_at)
    }

    /// Frees the lock of `key`; returns the lock it was.
    pub fn release(&mut self, key: K) -> Option<Lock> {
        self.remove(key)
    }

    /// Frees every lock of `holder` (every lock, for `None`), in key order,
    /// and returns them.
    pub fn release_all(&mut self, holder: Option<MemberId>) -> Vec<(K, Lock)> {
        let keys: Vec<K> = match holder {
            Some(h) => self.held_by(h),
            None => self.iter().map(|(k, _)| k).collect(),
        };
        keys.into_iter()
            .filter_map(|k| self.remove(k).map(|l| (k, l)))
            .collect()
    }

    /// The tick the next lock may expire at.
    pub fn next_due(&self) -> Option<u64> {
        self.expiries.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Frees the locks expired by `now`, in `(expiry tick, key)` order, and
    /// returns them (each one a mutation of its own, for the mode to
    /// announce and commit).
    pub fn expire(&mut self, now: u64) -> Vec<(K, Lock)> {
        let mut gone = Vec::new();
        while let Some(&Reverse((due, key, serial))) = self.expiries.peek() {
            if due > now {
                break;
            }
            self.expiries.pop();
            let Some(h) = self.held.get(&key).copied() else {
                continue;
            };
            if h.serial != serial {
                continue;
            }
            if h.lock.expires_at <= now {
                self.remove(key);
                gone.push((key, h.lock));
            } else {
                self.expiries
                    .push(Reverse((h.lock.expires_at, key, serial)));
            }
        }
        gone
    }

    fn insert(&mut self, key: K, lock: Lock) {
        self.remove(key);
        let serial = self.next_serial;
        self.next_serial += 1;
        self.expiries.push(Reverse((lock.expires_at, key, serial)));
        self.by_holder.entry(lock.holder).or_default().insert(key);
        self.held.insert(key, Held { lock, serial });
    }

    fn remove(&mut self, key: K) -> Option<Lock> {
        let h = self.held.remove(&key)?;
        if let Some(keys) = self.by_holder.get_mut(&h.lock.holder) {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_holder.remove(&h.lock.holder);
            }
        }
        Some(h.lock)
    }

    /// Drops stale queue entries (of released or renewed locks) once they
    /// outnumber the held locks, so lock churn cannot grow the queue.
    fn compact(&mut self) {
        if self.expiries.len() <= 2 * self.held.len() + 64 {
            return;
        }
        self.expiries = self
            .held
            .iter()
            .map(|(k, h)| Reverse((h.lock.expires_at, *k, h.serial)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MemberId = MemberId(1);
    const B: MemberId = MemberId(2);

    #[test]
    fn first_taker_wins_and_the_other_gets_lock_held_with_the_holder() {
        let mut l: Locks<u32> = Locks::new("token");
        assert_eq!(l.take(10, 5, 7, A), Taken::New { expires_at: 15 });
        let err = l.free_for(B, 7).unwrap_err();
        assert_eq!(err.code, ErrorCode::LockHeld);
        assert_eq!(err.details.get("holder"), Some(&DetailValue::Int(1)));
        assert_eq!(err.details.get("token"), Some(&DetailValue::Int(7)));
        assert!(l.free_for(A, 7).is_ok());
        assert_eq!(l.take(12, 5, 7, A), Taken::Renewed { expires_at: 17 });
        assert_eq!(
            l.require_holder(B, 7).unwrap_err().code,
            ErrorCode::NotLockOwner
        );
    }

    #[test]
    fn a_renewed_lock_outlives_its_first_expiry_and_expiries_run_in_tick_then_key_order() {
        let mut l: Locks<u32> = Locks::new("token");
        l.take(0, 10, 3, A);
        l.take(0, 10, 1, B);
        l.take(0, 4, 2, A);
        assert_eq!(l.next_due(), Some(4));
        assert_eq!(l.renew(3, 10, 2), Some(13));
        assert!(l.expire(9).is_empty());
        let gone: Vec<u32> = l.expire(10).into_iter().map(|(k, _)| k).collect();
        assert_eq!(gone, vec![1, 3]);
        assert_eq!(l.held_by(A), vec![2]);
        assert_eq!(l.expire(13).len(), 1);
        assert!(l.is_empty());
        assert_eq!(l.next_due(), None);
    }

    #[test]
    fn releasing_a_members_locks_frees_only_theirs_in_key_order() {
        let mut l: Locks<u32> = Locks::new("token");
        for (k, who) in [(5, A), (2, B), (1, A)] {
            l.take(0, 100, k, who);
        }
        let freed: Vec<u32> = l.release_all(Some(A)).into_iter().map(|(k, _)| k).collect();
        assert_eq!(freed, vec![1, 5]);
        assert_eq!(l.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![2]);
        // A released lock's stale queue entry never frees a later lock.
        l.take(0, 100, 5, B);
        assert!(l.expire(99).is_empty());
        assert_eq!(l.release_all(None).len(), 2);
    }

    #[test]
    fn lock_churn_keeps_the_queue_bounded_and_restore_gives_the_same_table() {
        let mut l: Locks<u32> = Locks::new("token");
        for t in 0..10_000u64 {
            l.take(t, 50, (t % 3) as u32, if t % 2 == 0 { A } else { B });
        }
        assert!(l.expiries.len() <= 2 * l.held.len() + 65);
        let copy = Locks::restore("token", l.iter());
        assert_eq!(copy, l);
        assert_eq!(copy.held_by(A), l.held_by(A));
        let bytes = postcard::to_allocvec(&l).unwrap();
        let back: Locks<u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, l);
        let json = serde_json::to_string(&l).unwrap();
        assert!(json.starts_with(r#"[{"key":0,"holder":"#), "{json}");
    }

    #[test]
    fn a_restored_table_expires_exactly_what_the_original_would() {
        let mut live: Locks<u32> = Locks::new("token");
        for t in 0..200u64 {
            live.take(t, 7 + t % 5, (t % 11) as u32, MemberId((t % 3) as u32));
            if t % 4 == 0 {
                live.renew(t, 9, ((t + 5) % 11) as u32);
            }
        }
        let mut restored = Locks::restore("token", live.iter());
        for now in 200..230 {
            assert_eq!(live.expire(now), restored.expire(now), "tick {now}");
        }
        assert!(live.is_empty() && restored.is_empty());
    }

    #[test]
    fn a_renewal_to_an_earlier_tick_expires_then_and_a_retake_by_the_holder_renews() {
        let mut l: Locks<u32> = Locks::new("token");
        l.take(0, 100, 1, A);
        assert_eq!(l.take(10, 5, 1, A), Taken::Renewed { expires_at: 15 });
        assert!(l.expire(14).is_empty());
        assert_eq!(l.expire(15).len(), 1, "expires at the earlier tick");
        assert!(l.expire(100).is_empty(), "and only once");
        // A restored table expires it at the same tick.
        let mut live: Locks<u32> = Locks::new("token");
        live.take(0, 100, 1, A);
        live.renew(10, 5, 1);
        let mut restored = Locks::restore("token", live.iter());
        for now in 0..120 {
            assert_eq!(live.expire(now), restored.expire(now), "tick {now}");
        }
    }

    #[test]
    fn a_list_out_of_key_order_does_not_decode() {
        let json = r#"[{"key":2,"holder":1,"expires_at":5},{"key":1,"holder":1,"expires_at":5}]"#;
        assert!(serde_json::from_str::<Locks<u32>>(json).is_err());
    }
}
