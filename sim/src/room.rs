//! [`Room`]: the face of the simulation. Inputs in, one [`TickOutput`] out.

use crate::input::{Input, Outcome};
use crate::lifecycle::run_phase_timers;
use crate::mode::{Mode, TickSet, Viewer};
use crate::pipeline::apply_inputs;
use crate::registry::ModeRef;
use crate::resources::{Boxed, Inbox, Outbox, RoomMeta, Roster};
use crate::snapshot::{Canonical, SnapshotError, hash_of_snapshot};
use crate::systems::publish_hash;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use std::marker::PhantomData;
use tickroom_protocol::{
    Delta, MemberId, MemberView, Payload, Phase, RoomConfig, RoomId, RoomState, StateHash,
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
    /// The delta's events not every member may see, by index, with who may
    /// (empty in a mode that hides nothing).
    pub restricted: Vec<(usize, crate::resources::Audience)>,
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

/// One room of mode `M`: a bevy_ecs world and its single-threaded schedule.
pub(crate) struct GameRoom<M: Mode> {
    world: World,
    schedule: Schedule,
    /// The next tick at which a timer or expiry is due. A cache derived
    /// from the world after each schedule run; lets idle ticks skip the
    /// schedule.
    next_due: Option<u64>,
    /// Mirrors of the world's `RoomMeta` that the server reads for every
    /// request: a resource lookup walks several of the world's structures,
    /// a cache miss each (1.7 % of the server's CPU under load, measured).
    tick: u64,
    /// The framework's settings with the mode's, as the wire shows them.
    config: RoomConfig,
    mode: PhantomData<fn() -> M>,
}

impl<M: Mode> GameRoom<M> {
    pub fn from_state(state: Canonical<M>, epoch: u32) -> GameRoom<M> {
        let config = RoomConfig {
            game: Payload::of(state.config.clone()),
            ..state.engine.config.clone()
        };
        let mut world = state.into_world(epoch);
        world.insert_resource(Boxed::new(Inbox::default()));
        world.insert_resource(Boxed::new(Outbox::default()));
        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets(
            (
                EngineTimers,
                TickSet::Timers,
                TickSet::Inputs,
                TickSet::After,
            )
                .chain(),
        );
        schedule.add_systems(run_phase_timers::<M>.in_set(EngineTimers));
        schedule.add_systems(apply_inputs::<M>.in_set(TickSet::Inputs));
        schedule.add_systems(publish_hash::<M>.after(TickSet::After));
        M::build(&mut schedule);
        schedule.initialize(&mut world).ok();
        let tick = world.resource::<Boxed<RoomMeta>>().tick;
        let mut room = GameRoom {
            world,
            schedule,
            next_due: None,
            tick,
            config,
            mode: PhantomData,
        };
        room.refresh_next_due();
        room
    }

    fn meta(&self) -> &RoomMeta {
        self.world.resource::<Boxed<RoomMeta>>()
    }

    fn refresh_next_due(&mut self) {
        let timer = self.meta().phase_timer();
        let game = M::next_due(&self.world);
        self.next_due = match (timer, game) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The set the engine's own timers run in, ahead of a mode's timers.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EngineTimers;

/// A room of any mode, as the server holds it.
pub(crate) trait AnyRoom: Send + Sync {
    fn world(&self) -> &World;
    fn world_mut(&mut self) -> &mut World;
    fn step(&mut self, inputs: Vec<Input>) -> TickOutput;
    fn next_due_tick(&self) -> Option<u64>;
    fn skip_idle(&mut self, n: u64) -> u64;
    fn config(&self) -> &RoomConfig;
    fn tick(&self) -> u64;
    fn state_hash(&self) -> StateHash;
    fn game_view(&self, viewer: Viewer) -> Payload;
    fn hides(&self) -> bool;
    fn sees_all(&self, member: MemberId) -> bool;
    fn snapshot(&self, epoch: u32) -> Vec<u8>;
}

impl<M: Mode> AnyRoom for GameRoom<M> {
    fn world(&self) -> &World {
        &self.world
    }

    fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    fn step(&mut self, inputs: Vec<Input>) -> TickOutput {
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
                restricted: Vec::new(),
            };
        }
        self.world.resource_mut::<Boxed<Inbox>>().0 = inputs;
        self.schedule.run(&mut self.world);
        self.refresh_next_due();
        let inputs = std::mem::take(&mut self.world.resource_mut::<Boxed<Inbox>>().0);
        let (events, outcomes, state_hash, restricted) = {
            let mut out = self.world.resource_mut::<Boxed<Outbox>>();
            (
                out.finish(),
                std::mem::take(&mut out.outcomes),
                out.state_hash.take(),
                std::mem::take(&mut out.restricted),
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
            cursors: Vec::new(),
        });
        TickOutput {
            tick,
            delta,
            inputs,
            outcomes,
            restricted,
        }
    }

    fn next_due_tick(&self) -> Option<u64> {
        self.next_due
    }

    fn skip_idle(&mut self, n: u64) -> u64 {
        let next_due = self.next_due;
        let mut meta = self.world.resource_mut::<Boxed<RoomMeta>>();
        let room_for = next_due.map_or(u64::MAX, |due| due.saturating_sub(meta.tick + 1));
        let skipped = n.min(room_for);
        meta.tick += skipped;
        self.tick = meta.tick;
        skipped
    }

    fn config(&self) -> &RoomConfig {
        &self.config
    }

    fn tick(&self) -> u64 {
        debug_assert_eq!(self.tick, self.meta().tick);
        self.tick
    }

    fn state_hash(&self) -> StateHash {
        Canonical::<M>::read(&self.world).hash()
    }

    fn game_view(&self, viewer: Viewer) -> Payload {
        Payload::of(M::view(&self.world, viewer))
    }

    fn snapshot(&self, epoch: u32) -> Vec<u8> {
        Canonical::<M>::read(&self.world).encode(epoch)
    }

    fn hides(&self) -> bool {
        M::HIDES
    }

    fn sees_all(&self, member: MemberId) -> bool {
        !M::HIDES || M::sees_all(&self.world, member)
    }
}

/// One room: the engine and its mode. Inputs in, one [`TickOutput`] out.
pub struct Room {
    inner: Box<dyn AnyRoom>,
    mode: ModeRef,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.meta();
        f.debug_struct("Room")
            .field("room", &meta.room)
            .field("mode", &self.mode.name())
            .field("tick", &meta.tick)
            .field("version", &meta.version)
            .finish()
    }
}

impl Room {
    pub(crate) fn from_parts(inner: Box<dyn AnyRoom>, mode: ModeRef) -> Room {
        Room { inner, mode }
    }

    /// A new room of the mode `config.mode` names (empty: the board) in
    /// `setup` at tick 0; its generator is seeded with `seed`. For the
    /// modes a server serves, see [`crate::Modes`].
    pub fn new(
        id: RoomId,
        config: RoomConfig,
        seed: u64,
    ) -> Result<Room, tickroom_protocol::ErrorBody> {
        crate::registry::Modes::builtin().create_room(id, config, seed)
    }

    /// Rebuilds a room of a built-in mode from [`Room::snapshot`] bytes,
    /// epoch included.
    pub fn restore(bytes: &[u8]) -> Result<Room, SnapshotError> {
        crate::registry::Modes::builtin().restore(bytes)
    }

    /// The room's mode.
    pub fn mode(&self) -> &ModeRef {
        &self.mode
    }

    /// The room's world, to read (a mode's own queries, tests).
    pub fn world(&self) -> &World {
        self.inner.world()
    }

    fn meta(&self) -> &RoomMeta {
        self.inner.world().resource::<Boxed<RoomMeta>>()
    }

    fn roster(&self) -> &Roster {
        self.inner.world().resource::<Boxed<Roster>>()
    }

    /// Advances the room by one tick: timers and expiries due at the new
    /// tick first, then `inputs` in order through the pipeline.
    pub fn step(&mut self, inputs: Vec<Input>) -> TickOutput {
        self.inner.step(inputs)
    }

    /// The first tick after the last completed one at which a step without
    /// inputs could change anything (a phase timer or a mode's timer);
    /// `None` when nothing is scheduled.
    pub fn next_due_tick(&self) -> Option<u64> {
        self.inner.next_due_tick()
    }

    /// Advances the clock over up to `n` ticks without inputs, stopping
    /// before the first tick with something due: exactly what as many
    /// `step(vec![])` calls would do, without running them. Lets a server
    /// park a quiet room and catch it up when it is next needed. Returns the
    /// ticks skipped.
    pub fn skip_idle(&mut self, n: u64) -> u64 {
        self.inner.skip_idle(n)
    }

    pub fn id(&self) -> &RoomId {
        &self.meta().room
    }
    /// The framework's settings with the mode's.
    pub fn config(&self) -> &RoomConfig {
        self.inner.config()
    }
    pub fn seed(&self) -> u64 {
        self.meta().seed
    }
    /// The last completed tick.
    pub fn tick(&self) -> u64 {
        self.inner.tick()
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
        self.inner
            .world_mut()
            .resource_mut::<Boxed<RoomMeta>>()
            .epoch += 1;
    }

    pub fn member(&self, id: MemberId) -> Option<MemberView> {
        self.roster().members.get(&id).map(|m| m.view())
    }

    /// The seat of a user, for resuming sessions.
    pub fn member_by_user(&self, user: &str) -> Option<MemberView> {
        self.roster().by_user(user).map(|m| m.view())
    }

    pub fn member_count(&self) -> usize {
        self.roster().members.len()
    }

    /// XXH3-64 of the canonical state encoding (epoch excluded).
    pub fn state_hash(&self) -> StateHash {
        self.inner.state_hash()
    }

    /// The whole room, everything in it (operators, replays, tests).
    pub fn state(&self) -> RoomState {
        self.state_for(Viewer::All)
    }

    /// True when the room's mode hides anything from some members.
    pub fn hides(&self) -> bool {
        self.inner.hides()
    }

    /// Whether `member` sees the whole room (and so its state hash).
    pub fn sees_all(&self, member: MemberId) -> bool {
        self.inner.sees_all(member)
    }

    /// The whole room as `viewer` may see it: what a joiner is sent. A
    /// member who does not see everything gets no state hash (it could
    /// tell hidden state apart): zero.
    pub fn state_for(&self, viewer: Viewer) -> RoomState {
        let meta = self.meta();
        let hash = match viewer {
            Viewer::Member(m) if !self.sees_all(m) => StateHash(0),
            Viewer::Nobody if self.hides() => StateHash(0),
            _ => self.state_hash(),
        };
        RoomState {
            tick: meta.tick,
            version: meta.version,
            phase: meta.phase,
            match_ends_at: meta.match_ends_at,
            archive_at: meta.archive_at,
            host: self.roster().host(),
            members: self.roster().members.values().map(|m| m.view()).collect(),
            state_hash: hash,
            game: self.inner.game_view(viewer),
        }
    }

    /// Snapshot bytes and the state hash, computed from one encoding.
    pub fn snapshot_with_hash(&self) -> (Vec<u8>, StateHash) {
        let bytes = self.snapshot();
        let hash = hash_of_snapshot(&bytes).unwrap_or_default();
        (bytes, hash)
    }

    /// The user id behind a seat (for the audit log and session resumes).
    pub fn member_user(&self, id: MemberId) -> Option<&str> {
        self.roster().members.get(&id).map(|m| m.user.as_str())
    }

    /// Every seat with its user id, in member id order.
    pub fn seats(&self) -> Vec<(MemberView, String)> {
        self.roster()
            .members
            .values()
            .map(|m| (m.view(), m.user.clone()))
            .collect()
    }

    /// The room without its world: its snapshot, from which
    /// [`FrozenRoom::thaw`] rebuilds this same room. A server keeps a room
    /// that has been quiet for a while in this form: a bevy world costs tens
    /// of KiB of bookkeeping, the snapshot of a small room a few hundred
    /// bytes.
    pub fn frozen(&self) -> FrozenRoom {
        let meta = self.meta();
        FrozenRoom {
            snapshot: self.snapshot().into_boxed_slice(),
            mode: self.mode.clone(),
            member_count: self.member_count(),
            id: meta.room.clone(),
            config: self.config().clone(),
            tick: meta.tick,
            version: meta.version,
            phase: meta.phase,
            epoch: meta.epoch,
        }
    }

    /// Versioned snapshot bytes; [`Room::restore`] gives back a room with the
    /// same hash and the same future for the same inputs.
    pub fn snapshot(&self) -> Vec<u8> {
        self.inner.snapshot(self.epoch())
    }
}

/// A room kept as its snapshot instead of a world ([`Room::frozen`]), with
/// what listings and metrics read from it at hand. One allocation: its
/// canonical state would be tens of small ones, made while the world still
/// lives, and each could keep one of the pages the world frees from going
/// back to the operating system.
#[derive(Debug, Clone)]
pub struct FrozenRoom {
    snapshot: Box<[u8]>,
    mode: ModeRef,
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
        self.mode
            .restore_unchecked(&self.snapshot)
            .unwrap_or_else(|e| panic!("a frozen room's own snapshot failed to decode: {e}"))
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
    pub fn mode(&self) -> &ModeRef {
        &self.mode
    }
}
