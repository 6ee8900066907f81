//! Room-wide resources.

use crate::input::{Input, Outcome};
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::ops::{Deref, DerefMut};
use tickroom_protocol::{
    ChatLine, DomainEvent, EventRecord, MemberId, MemberView, Origin, Phase, PieceId, Placement,
    Presence, Role, RoomConfig, RoomId, StateHash, TeamId,
};

/// A room resource, boxed. bevy keeps each resource type in a sparse set
/// that reserves 64 slots in every world; boxed, a slot is one pointer
/// instead of the whole value, which saves about 50 KiB per room.
#[derive(Resource, Debug, Clone, Default)]
pub struct Boxed<T: Send + Sync + 'static> {
    value: Box<T>,
}

impl<T: Send + Sync + 'static> Boxed<T> {
    pub fn new(value: T) -> Boxed<T> {
        Boxed {
            value: Box::new(value),
        }
    }
}

impl<T: Send + Sync + 'static> Deref for Boxed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send + Sync + 'static> DerefMut for Boxed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// The room's clock, version, phase and timers.
#[derive(Debug, Clone)]
pub struct RoomMeta {
    pub room: RoomId,
    pub config: RoomConfig,
    pub seed: u64,
    /// Bumped by each restore after a restart; not part of the state hash,
    /// so a restored room hashes like the room it was restored from.
    pub epoch: u32,
    /// The last completed tick.
    pub tick: u64,
    /// Bumped once per applied mutation.
    pub version: u64,
    pub phase: Phase,
    pub match_ends_at: Option<u64>,
    pub archive_at: Option<u64>,
    pub next_member: u32,
    pub next_seat: u64,
    /// The tick of the last delta that carried the state hash.
    pub last_hash_tick: u64,
}

impl RoomMeta {
    /// The phase's own timer: match end while live, auto-archive while expired.
    pub fn phase_timer(&self) -> Option<u64> {
        match self.phase {
            Phase::Live => self.match_ends_at,
            Phase::Expired => self.archive_at,
            Phase::Setup | Phase::Archived => None,
        }
    }
}

/// The room's only source of randomness, seeded at creation.
#[derive(Debug, Clone)]
pub struct RoomRng(pub ChaCha8Rng);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub user: String,
    pub name: String,
    pub role: Role,
    pub team: Option<TeamId>,
    pub seat: u64,
    pub presence: Presence,
}

impl Member {
    pub fn view(&self) -> MemberView {
        MemberView {
            id: self.id,
            name: self.name.clone(),
            role: self.role,
            team: self.team,
            seat: self.seat,
            presence: self.presence,
        }
    }
}

/// Seated members by id. A resource, not entities: a join must be visible to
/// the very next input of the same tick, and bevy spawns from a system are
/// deferred to the end of the system.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub members: BTreeMap<MemberId, Member>,
}

impl Roster {
    pub fn host(&self) -> Option<MemberId> {
        self.members
            .values()
            .find(|m| m.role == Role::Host)
            .map(|m| m.id)
    }

    pub fn by_user(&self, user: &str) -> Option<&Member> {
        self.members.values().find(|m| m.user == user)
    }
}

/// Piece id → entity; piece ids are dense and pieces are never despawned.
#[derive(Debug, Clone, Default)]
pub struct PieceIndex(pub Vec<Entity>);

impl PieceIndex {
    pub fn get(&self, id: PieceId) -> Option<Entity> {
        self.0.get(id.0 as usize).copied()
    }
}

/// Locks by expiry tick, popped in `(tick, piece)` order. Renewing a lock
/// does not touch the queue: when a renewed lock's entry comes due it is
/// pushed again at the new expiry. Derived from the pieces' locks, rebuilt on
/// restore, not hashed.
#[derive(Debug, Clone, Default)]
pub struct LockExpiries {
    pub queue: BinaryHeap<Reverse<(u64, PieceId, u64)>>,
    pub next_serial: u64,
}

impl LockExpiries {
    pub fn next_due(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    pub key: String,
    pub saved_by: MemberId,
    /// The saver's team; only that team may overwrite the formation.
    pub team: Option<TeamId>,
    pub placements: Vec<Placement>,
}

/// How many save keys a room remembers beyond those of its formations.
pub const REMEMBERED_KEYS: usize = 256;

/// One remembered save: who used which key for which formation name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyUse {
    pub member: MemberId,
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Formations {
    pub by_name: BTreeMap<String, Formation>,
    /// Recent saves, oldest first, bounded by [`REMEMBERED_KEYS`].
    pub recent_keys: VecDeque<KeyUse>,
}

impl Formations {
    /// The formation name `member` saved with `key`, if the room remembers it.
    /// Keys are scoped to the member, so clients may number them freely.
    pub fn key_use(&self, member: MemberId, key: &str) -> Option<&str> {
        let live = self
            .by_name
            .iter()
            .find(|(_, f)| f.saved_by == member && f.key == key)
            .map(|(name, _)| name.as_str());
        live.or_else(|| {
            self.recent_keys
                .iter()
                .find(|k| k.member == member && k.key == key)
                .map(|k| k.name.as_str())
        })
    }

    pub fn remember_key(&mut self, member: MemberId, key: &str, name: &str) {
        if self.recent_keys.len() == REMEMBERED_KEYS {
            self.recent_keys.pop_front();
        }
        self.recent_keys.push_back(KeyUse {
            member,
            key: key.to_owned(),
            name: name.to_owned(),
        });
    }
}

/// Which pieces each member holds the lock of. Derived from the pieces'
/// locks, rebuilt on restore, not hashed: it lets a leaving member's locks be
/// released without scanning every piece.
#[derive(Debug, Clone, Default)]
pub struct HeldLocks(pub BTreeMap<MemberId, std::collections::BTreeSet<PieceId>>);

/// The last `chat_history` chat lines, sent to joiners.
#[derive(Debug, Clone, Default)]
pub struct ChatLog {
    pub lines: VecDeque<ChatLine>,
}

/// The inputs of the tick being processed, in arrival order.
#[derive(Debug, Default)]
pub struct Inbox(pub Vec<Input>);

/// What the tick produced so far.
#[derive(Debug, Default)]
pub struct Outbox {
    pub events: Vec<EventRecord>,
    pub outcomes: Vec<Outcome>,
    /// Events of the mutation being applied, before the version bump stamps them.
    pub staged: Vec<DomainEvent>,
    pub state_hash: Option<StateHash>,
}

impl Outbox {
    /// Stamps the staged events with their origin and the room version.
    pub fn emit_staged(&mut self, origin: Origin, version: u64) {
        self.events
            .extend(self.staged.drain(..).map(|event| EventRecord {
                origin,
                version,
                event,
            }));
    }
}
