//! [`Room`]: the face of the simulation. Inputs in, one [`TickOutput`] out.

use crate::components::{Piece, PieceLock, Position};
use crate::input::{Input, Outcome};
use crate::pipeline::apply_inputs;
use crate::resources::{
    Boxed, Formations, Inbox, LockExpiries, Outbox, PieceIndex, RoomMeta, Roster,
};
use crate::snapshot::{CanonicalState, SnapshotError};
use crate::systems::{expire_locks, publish_hash, run_phase_timers};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use tickroom_protocol::{
    Delta, ErrorBody, LockView, MemberId, MemberView, Phase, PieceId, PieceView, Placement,
    RoomConfig, RoomId, RoomState, StateHash,
};

/// What one tick produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickOutput {
    pub tick: u64,
    /// The tick's events for every member; `None` when nothing changed.
    pub delta: Option<Delta>,
    /// The tick's inputs, handed back for the log, in processing order.
    pub inputs: Vec<Input>,
    /// One outcome per input, in the same order: the acks and rejections.
    pub outcomes: Vec<Outcome>,
}

/// One input with its outcome, as the persistence layer logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    pub tick: u64,
    /// Position in the tick's processing order.
    pub index: u32,
    pub input: &'a Input,
    pub outcome: &'a Outcome,
}

impl TickOutput {
    /// Every input of the tick with its outcome, applied or rejected, in order.
    pub fn log(&self) -> impl Iterator<Item = LogRecord<'_>> {
        self.inputs
            .iter()
            .zip(&self.outcomes)
            .enumerate()
            .map(|(i, (input, outcome))| LogRecord {
                tick: self.tick,
                index: i as u32,
                input,
                outcome,
            })
    }
}

/// One room: a bevy_ecs world and its single-threaded schedule.
pub struct Room {
    world: World,
    schedule: Schedule,
    /// The next tick at which a timer or lock is due. A cache derived from
    /// the world after each schedule run; lets idle ticks skip the schedule.
    next_due: Option<u64>,
    /// Mirrors of the world's `RoomMeta` that the server reads for every
    /// request: a resource lookup walks several of the world's structures,
    /// a cache miss each (1.7 % of the server's CPU under load, measured).
    tick: u64,
    config: RoomConfig,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.meta();
        f.debug_struct("Room")
            .field("room", &meta.room)
            .field("tick", &meta.tick)
            .field("version", &meta.version)
            .finish()
    }
}

impl Room {
    /// A new room in `setup` at tick 0; its generator is seeded with `seed`.
    pub fn new(id: RoomId, config: RoomConfig, seed: u64) -> Result<Room, ErrorBody> {
        config.validate()?;
        Ok(Room::from_state(
            CanonicalState::initial(id, config, seed),
            0,
        ))
    }

    /// Rebuilds a room from [`Room::snapshot`] bytes, epoch included.
    pub fn restore(bytes: &[u8]) -> Result<Room, SnapshotError> {
        let (state, epoch) = CanonicalState::decode(bytes)?;
        let room = Room::from_state(state, epoch);
        if !CanonicalState::is_canonical_snapshot(&room.world, bytes) {
            return Err(SnapshotError::Corrupt(
                "not in canonical form (unsorted or repeated entries)".into(),
            ));
        }
        Ok(room)
    }

    fn from_state(state: CanonicalState, epoch: u32) -> Room {
        let mut world = state.into_world(epoch);
        world.insert_resource(Boxed::new(Inbox::default()));
        world.insert_resource(Boxed::new(Outbox::default()));
        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.add_systems((run_phase_timers, expire_locks, apply_inputs, publish_hash).chain());
        schedule.initialize(&mut world).ok();
        let meta = world.resource::<Boxed<RoomMeta>>();
        let (tick, config) = (meta.tick, meta.config.clone());
        let mut room = Room {
            world,
            schedule,
            next_due: None,
            tick,
            config,
        };
        room.refresh_next_due();
        room
    }

    fn meta(&self) -> &RoomMeta {
        self.world.resource::<Boxed<RoomMeta>>()
    }

    fn refresh_next_due(&mut self) {
        let timer = self.meta().phase_timer();
        let lock = self.world.resource::<Boxed<LockExpiries>>().next_due();
        self.next_due = match (timer, lock) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Advances the room by one tick: timer and lock expiries due at the new
    /// tick first, then `inputs` in order through the mutation pipeline.
    pub fn step(&mut self, inputs: Vec<Input>) -> TickOutput {
        let (tick, from_version) = {
            let mut meta = self.world.resource_mut::<Boxed<RoomMeta>>();
            meta.tick += 1;
            (meta.tick, meta.version)
        };
        self.tick = tick;
        if inputs.is_empty() && self.next_due.is_none_or(|due| due > tick) {
            return TickOutput {
                tick,
                delta: None,
                inputs,
                outcomes: Vec::new(),
            };
        }
        self.world.resource_mut::<Boxed<Inbox>>().0 = inputs;
        self.schedule.run(&mut self.world);
        self.refresh_next_due();
        let inputs = std::mem::take(&mut self.world.resource_mut::<Boxed<Inbox>>().0);
        let (events, outcomes, state_hash) = {
            let mut out = self.world.resource_mut::<Boxed<Outbox>>();
            (
                std::mem::take(&mut out.events),
                std::mem::take(&mut out.outcomes),
                out.state_hash.take(),
            )
        };
        let meta = self.meta();
        let delta = (!events.is_empty()).then(|| Delta {
            room: meta.room.clone(),
            tick,
            from_version,
            to_version: meta.version,
            events,
            state_hash,
        });
        TickOutput {
            tick,
            delta,
            inputs,
            outcomes,
        }
    }

    /// The first tick after the last completed one at which a step without
    /// inputs could change anything (a phase timer or a lock expiry);
    /// `None` when nothing is scheduled.
    pub fn next_due_tick(&self) -> Option<u64> {
        self.next_due
    }

    /// Advances the clock over up to `n` ticks without inputs, stopping
    /// before the first tick with something due: exactly what as many
    /// `step(vec![])` calls would do, without running them. Lets a server
    /// park a quiet room and catch it up when it is next needed. Returns the
    /// ticks skipped.
    pub fn skip_idle(&mut self, n: u64) -> u64 {
        let mut meta = self.world.resource_mut::<Boxed<RoomMeta>>();
        let room_for = self
            .next_due
            .map_or(u64::MAX, |due| due.saturating_sub(meta.tick + 1));
        let skipped = n.min(room_for);
        meta.tick += skipped;
        self.tick = meta.tick;
        skipped
    }

    pub fn id(&self) -> &RoomId {
        &self.meta().room
    }
    pub fn config(&self) -> &RoomConfig {
        debug_assert_eq!(self.config, self.meta().config);
        &self.config
    }
    pub fn seed(&self) -> u64 {
        self.meta().seed
    }
    /// The last completed tick.
    pub fn tick(&self) -> u64 {
        debug_assert_eq!(self.tick, self.meta().tick);
        self.tick
    }
    pub fn version(&self) -> u64 {
        self.meta().version
    }
    pub fn phase(&self) -> Phase {
        self.meta().phase
    }
    pub fn epoch(&self) -> u32 {
        self.meta().epoch
    }
    /// Marks a restore after a restart: clients that see a new epoch know the
    /// room may have rewound.
    pub fn bump_epoch(&mut self) {
        self.world.resource_mut::<Boxed<RoomMeta>>().epoch += 1;
    }

    pub fn member(&self, id: MemberId) -> Option<MemberView> {
        self.world
            .resource::<Boxed<Roster>>()
            .members
            .get(&id)
            .map(|m| m.view())
    }

    /// The seat of a user, for resuming sessions.
    pub fn member_by_user(&self, user: &str) -> Option<MemberView> {
        self.world
            .resource::<Boxed<Roster>>()
            .by_user(user)
            .map(|m| m.view())
    }

    pub fn member_count(&self) -> usize {
        self.world.resource::<Boxed<Roster>>().members.len()
    }

    pub fn piece(&self, id: PieceId) -> Option<PieceView> {
        let e = self.world.resource::<Boxed<PieceIndex>>().get(id)?;
        Some(PieceView {
            id,
            team: self.world.get::<Piece>(e)?.team,
            pos: self.world.get::<Position>(e)?.0,
            lock: self.world.get::<PieceLock>(e)?.0.map(|l| LockView {
                holder: l.holder,
                expires_at: l.expires_at,
            }),
        })
    }

    /// XXH3-64 of the canonical state encoding (epoch excluded).
    pub fn state_hash(&self) -> StateHash {
        CanonicalState::read(&self.world).hash()
    }

    /// The whole room as a joiner sees it.
    pub fn state(&self) -> RoomState {
        let s = CanonicalState::read(&self.world);
        RoomState {
            tick: s.tick,
            version: s.version,
            phase: s.phase,
            match_ends_at: s.match_ends_at,
            archive_at: s.archive_at,
            host: self.world.resource::<Boxed<Roster>>().host(),
            members: s.members.iter().map(|m| m.view()).collect(),
            pieces: s
                .pieces
                .iter()
                .enumerate()
                .map(|(i, p)| p.view(PieceId(i as u32)))
                .collect(),
            formations: s.formation_names(),
            chat: s.chat.clone(),
            state_hash: s.hash(),
        }
    }

    /// Snapshot bytes and the state hash, computed from one encoding.
    pub fn snapshot_with_hash(&self) -> (Vec<u8>, StateHash) {
        let bytes = self.snapshot();
        let hash = CanonicalState::hash_of_snapshot(&bytes).unwrap_or_default();
        (bytes, hash)
    }

    /// The user id behind a seat (for the audit log and session resumes).
    pub fn member_user(&self, id: MemberId) -> Option<&str> {
        self.world
            .resource::<Boxed<Roster>>()
            .members
            .get(&id)
            .map(|m| m.user.as_str())
    }

    /// Every seat with its user id, in member id order.
    pub fn seats(&self) -> Vec<(MemberView, String)> {
        self.world
            .resource::<Boxed<Roster>>()
            .members
            .values()
            .map(|m| (m.view(), m.user.clone()))
            .collect()
    }

    /// A saved formation: its key, who saved it, and where its pieces go.
    pub fn formation(&self, name: &str) -> Option<(String, MemberId, Vec<Placement>)> {
        self.world
            .resource::<Boxed<Formations>>()
            .by_name
            .get(name)
            .map(|f| (f.key.clone(), f.saved_by, f.placements.clone()))
    }

    /// The room without its world: its snapshot, from which
    /// [`FrozenRoom::thaw`] rebuilds this same room. A server keeps a room
    /// that has been quiet for a while in this form: a bevy world costs tens
    /// of KiB of bookkeeping, the snapshot of a small room a few hundred
    /// bytes.
    pub fn frozen(&self) -> FrozenRoom {
        let state = CanonicalState::read(&self.world);
        let epoch = self.epoch();
        FrozenRoom {
            snapshot: state.encode(epoch).into_boxed_slice(),
            member_count: state.members.len(),
            id: state.room,
            config: state.config,
            tick: state.tick,
            version: state.version,
            phase: state.phase,
            epoch,
        }
    }

    /// Versioned snapshot bytes; [`Room::restore`] gives back a room with the
    /// same hash and the same future for the same inputs.
    pub fn snapshot(&self) -> Vec<u8> {
        CanonicalState::read(&self.world).encode(self.epoch())
    }
}

/// A room kept as its snapshot instead of a world ([`Room::frozen`]), with
/// what listings and metrics read from it at hand. One allocation: its
/// canonical state would be tens of small ones, made while the world still
/// lives, and each could keep one of the pages the world frees from going
/// back to the operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenRoom {
    snapshot: Box<[u8]>,
    id: RoomId,
    config: RoomConfig,
    tick: u64,
    version: u64,
    phase: Phase,
    epoch: u32,
    member_count: usize,
}

impl FrozenRoom {
    /// The room again, exactly as it was frozen: same hash, same future for
    /// the same inputs. The snapshot was encoded by this process from a live
    /// room, never read from outside, so it is decoded without the checks
    /// meant for outside snapshots; a failure to decode would be a codec
    /// bug, which the snapshot round-trip tests catch first.
    pub fn thaw(&self) -> Room {
        let (state, epoch) = CanonicalState::decode_unchecked(&self.snapshot)
            .unwrap_or_else(|e| panic!("a frozen room's own snapshot failed to decode: {e}"));
        Room::from_state(state, epoch)
    }
    pub fn id(&self) -> &RoomId {
        &self.id
    }
    pub fn config(&self) -> &RoomConfig {
        &self.config
    }
    /// The last completed tick.
    pub fn tick(&self) -> u64 {
        self.tick
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn epoch(&self) -> u32 {
        self.epoch
    }
    pub fn member_count(&self) -> usize {
        self.member_count
    }
}
