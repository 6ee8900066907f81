//! The engine's room-wide resources: clock, version, phase, seats, the
//! generator, and the tick's inputs and outputs. A mode adds its own.

use crate::input::{Input, Outcome};
use bevy_ecs::resource::Resource;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use tickroom_protocol::{
    DomainEvent, Event, EventRecord, MemberId, MemberView, ModeValue, ModeValues, Origin, Payload,
    Phase, Presence, Role, RoomConfig, RoomId, StateHash, TeamId,
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
    /// The framework's settings (`game` is empty: the mode keeps its own).
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

/// The members who may see an event: the mode names them (a private roll:
/// the roller and the director). Shared, not copied, between the delta's
/// fan-out groups.
pub type Audience = std::sync::Arc<[MemberId]>;

/// The inputs of the tick being processed, in arrival order.
#[derive(Debug, Default)]
pub struct Inbox(pub Vec<Input>);

/// An event of the tick before it is sent: the engine's, or the index of
/// one of the mode's in the tick's batch (typed, one allocation per tick
/// for all of them), or — a mode that emits events of a second type in
/// one tick — a payload of its own.
#[derive(Debug)]
pub enum Staged {
    /// Boxed: the engine's events are rare and large, a mode's are many;
    /// a small `Staged` keeps the per-event copies small.
    Room(Box<DomainEvent>),
    Game(u32),
    Boxed(Box<Payload>),
}

/// A tick's mode events of one type, typed until the tick ends.
pub trait EventBuf: std::fmt::Debug + Send + Sync {
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    fn into_shared(self: Box<Self>) -> std::sync::Arc<dyn ModeValues>;
}

impl<E: ModeValue> EventBuf for Vec<E> {
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn into_shared(self: Box<Self>) -> std::sync::Arc<dyn ModeValues> {
        std::sync::Arc::new(*self)
    }
}

/// What the tick produced so far.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The tick's events with their origin and version; those from `mark`
    /// on belong to the mutation being applied, and get both when it is
    /// committed (or go, if it is not).
    pub events: Vec<(Origin, u64, Staged)>,
    mark: usize,
    pub outcomes: Vec<Outcome>,
    /// The tick's mode events, indexed by `Staged::Game`.
    pub game: Option<Box<dyn EventBuf>>,
    /// The events of `events` not everyone may see: (index, audience).
    pub restricted: Vec<(usize, Audience)>,
    pub state_hash: Option<StateHash>,
}

impl Outbox {
    /// An event of the mutation being applied; `audience`: who may see it
    /// (`None`: everyone).
    #[inline]
    pub fn stage(&mut self, event: Staged, audience: Option<Audience>) {
        if let Some(a) = audience {
            self.restricted.push((self.events.len(), a));
        }
        self.events.push((Origin::default(), 0, event));
    }

    /// Stamps the mutation's events with their origin and the room version.
    pub fn emit_staged(&mut self, origin: Origin, version: u64) {
        for e in &mut self.events[self.mark..] {
            e.0 = origin;
            e.1 = version;
        }
        self.mark = self.events.len();
    }

    /// Drops the events of a mutation that was not applied (a mode that
    /// emitted before refusing).
    pub fn discard_staged(&mut self) {
        let mark = self.mark;
        self.events.truncate(mark);
        self.restricted.retain(|(i, _)| *i < mark);
    }

    /// Keeps a mode event in the tick's batch.
    pub fn push_game<E: ModeValue>(&mut self, event: E) -> Staged {
        let buf = self
            .game
            .get_or_insert_with(|| Box::new(Vec::<E>::with_capacity(16)));
        match buf.as_any_mut().downcast_mut::<Vec<E>>() {
            Some(v) => {
                v.push(event);
                Staged::Game((v.len() - 1) as u32)
            }
            None => Staged::Boxed(Box::new(Payload::of(event))),
        }
    }

    /// The tick's events as the delta carries them: the batch becomes one
    /// shared allocation every mode event points into.
    pub fn finish(&mut self) -> Vec<EventRecord> {
        let batch = self.game.take().map(|b| b.into_shared());
        self.mark = 0;
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(origin, version, staged)| EventRecord {
                origin,
                version,
                event: match staged {
                    Staged::Room(e) => Event::Room(*e),
                    Staged::Boxed(p) => Event::Game(*p),
                    Staged::Game(i) => match &batch {
                        Some(b) => Event::Game(Payload::shared(b.clone(), i)),
                        None => Event::Game(Payload::empty()),
                    },
                },
            })
            .collect()
    }
}
