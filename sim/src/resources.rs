//! The engine's room-wide resources: clock, version, phase, seats, the
//! generator, and the tick's inputs and outputs. A mode adds its own.

use crate::input::{Input, Outcome};
use bevy_ecs::resource::Resource;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use tickroom_protocol::{
    Event, EventRecord, MemberId, MemberView, Origin, Phase, Presence, Role, RoomConfig, RoomId,
    StateHash, TeamId,
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

/// What the tick produced so far.
#[derive(Debug, Default)]
pub struct Outbox {
    pub events: Vec<EventRecord>,
    pub outcomes: Vec<Outcome>,
    /// Events of the mutation being applied, before the version bump
    /// stamps them, with who may see each (`None`: everyone).
    pub staged: Vec<(Event, Option<Audience>)>,
    /// The events of `events` not everyone may see: (index, audience).
    pub restricted: Vec<(usize, Audience)>,
    pub state_hash: Option<StateHash>,
}

impl Outbox {
    /// Stamps the staged events with their origin and the room version.
    pub fn emit_staged(&mut self, origin: Origin, version: u64) {
        for (event, audience) in self.staged.drain(..) {
            if let Some(a) = audience {
                self.restricted.push((self.events.len(), a));
            }
            self.events.push(EventRecord {
                origin,
                version,
                event,
            });
        }
    }
}
