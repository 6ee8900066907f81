//! One tick thread: owns its rooms and ticks each at its own fixed rate,
//! with drift compensation.

use super::journal::{StoreOutbox, StorePolicy};
use super::router::ShardQueues;
use super::slot::RoomSlot;
use crossbeam_channel::{Receiver, TryRecvError, bounded, select, unbounded};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickroom_net::ConnHandle;
use tickroom_protocol::{ClientMessage, ErrorBody, ErrorCode, RoomConfig, RoomId, ServerMessage};

pub enum ShardCommand {
    Submit {
        conn: Arc<ConnHandle>,
        room: RoomId,
        msg: ClientMessage,
    },
    Closed {
        conn: Arc<ConnHandle>,
        room: RoomId,
    },
    Resume {
        conn: Arc<ConnHandle>,
        room: RoomId,
    },
    /// The listed (public) rooms of this shard with ids after `after`.
    List {
        after: Option<RoomId>,
        limit: usize,
        reply: tokio::sync::oneshot::Sender<Vec<RoomSummary>>,
    },
    /// How many rooms by phase, members and unloaded rooms (metrics).
    Census {
        reply: tokio::sync::oneshot::Sender<Census>,
    },
    /// An operation of the HTTP API.
    Admin {
        room: RoomId,
        op: super::admin::AdminOp,
        reply: super::admin::AdminReplyTo,
    },
    /// Opens `room` with `mode`'s default settings unless it exists (or
    /// existed): the room matchmaking made, at its first reserved player.
    Open {
        room: RoomId,
        mode: String,
    },
    /// Cluster mode: this node holds the room's lease now; a room
    /// recovered at start begins to run.
    Adopt {
        room: RoomId,
    },
    /// Cluster mode: the room is not this node's (its lease was lost, or
    /// another node held it when this one recovered it): it stops at once,
    /// writes nothing more, and its members are told with `error`.
    Evict {
        room: RoomId,
        error: ErrorBody,
    },
    /// Cluster mode: a room rebuilt from another node's replica, to run
    /// here from now on (this node holds its lease). A copy this node
    /// recovered from its own store is replaced, unless `prefer_local` (the
    /// replica is this node's own) and the local copy is at least as far.
    Install {
        slot: Box<RoomSlot>,
        record: tickroom_persistence::RoomRecord,
        prefer_local: bool,
    },
    /// Cluster mode, handing the room to another node: it stops at the
    /// tick it is at (no tick runs, requests wait unapplied), snapshots
    /// itself (the snapshot goes to the replica), and answers with that
    /// tick; `None` when the room is not loaded here.
    Freeze {
        room: RoomId,
        reply: tokio::sync::oneshot::Sender<Option<u64>>,
    },
    /// An operators' notice to every member of every room of this shard.
    Notice {
        msg: ServerMessage,
    },
    /// Cluster mode: a handoff that could not finish; the room ticks on.
    Thaw {
        room: RoomId,
    },
    /// Cluster mode: the room's replica lost its base (Redis lost its
    /// keys): a snapshot now, which goes to the replica too.
    SnapshotNow {
        room: RoomId,
    },
    /// A resume that will not reach its room: the session is told why and
    /// starts afresh.
    ResumeRefused {
        conn: Arc<ConnHandle>,
        error: ErrorBody,
    },
    Shutdown,
}

/// Rooms of one shard or of all, as metrics show them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Census {
    /// Loaded rooms by phase: setup, live, expired, archived.
    pub rooms: [u64; 4],
    pub members: u64,
    /// Empty rooms kept as a snapshot until someone joins.
    pub unloaded: u64,
    /// Loaded rooms not ticking: nothing due until a request or a timer.
    pub parked: u64,
    /// Parked rooms kept as their state, without a world.
    pub frozen: u64,
}

impl Census {
    pub const PHASES: [tickroom_protocol::Phase; 4] = [
        tickroom_protocol::Phase::Setup,
        tickroom_protocol::Phase::Live,
        tickroom_protocol::Phase::Expired,
        tickroom_protocol::Phase::Archived,
    ];

    pub fn add(&mut self, other: &Census) {
        for (a, b) in self.rooms.iter_mut().zip(other.rooms) {
            *a += b;
        }
        self.members += other.members;
        self.unloaded += other.unloaded;
        self.parked += other.parked;
        self.frozen += other.frozen;
    }
}

/// A room as listings show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomSummary {
    pub room: RoomId,
    /// The room's game mode.
    pub mode: String,
    pub phase: tickroom_protocol::Phase,
    pub members: usize,
    pub max_players: u16,
    pub tick: u64,
    pub version: u64,
}

/// What every shard needs to know; shared.
pub struct ShardSettings {
    pub grace: Duration,
    /// A room with no seat for this long is unloaded.
    pub empty_room_ttl: Duration,
    /// A room parked this long is frozen (keeps its state, not its world).
    pub freeze_after: Duration,
    /// Signs the resume tokens sent with `welcome` after a resume.
    pub tokens: Arc<tickroom_net::tokens::Tokens>,
    pub max_rooms: usize,
    pub default_room: RoomConfig,
    /// The game modes rooms may play.
    pub modes: Arc<tickroom_sim::Modes>,
    /// Decode limits a mode's intent payload is checked against.
    pub limits: tickroom_protocol::Limits,
    /// Rooms on all shards together.
    pub rooms: AtomicUsize,
    pub stats: super::stats::TickStats,
    /// The part of each tick spent logging it (building its write for the
    /// store); included in `stats`.
    pub journal_stats: super::stats::TickStats,
    /// The store every tick is logged to; `None` runs without persistence.
    pub store: Option<StorePolicy>,
    /// Cluster mode: rooms run only under this node's leases. Recovered
    /// rooms wait for theirs ([`ShardCommand::Adopt`]), and no room ticks
    /// past the fence.
    pub ownership: Option<Arc<super::ownership::Ownership>>,
    /// Cluster mode: copies of the writes that rebuild a room, for Redis.
    pub replica: Option<super::journal::Replica>,
}

/// What a tick thread starts with: the rooms recovered from the store, and
/// the ids of archived rooms (never reused while the store keeps them).
#[derive(Default)]
pub struct ShardInit {
    pub rooms: Vec<RoomSlot>,
    pub retired: BTreeSet<RoomId>,
}

/// An unloaded room: its snapshot, restored when someone comes back.
struct Hibernated {
    snapshot: Vec<u8>,
    private: bool,
}

/// How often a tick thread past its node's lease fence looks again.
const FENCE_POLL: Duration = Duration::from_millis(5);

/// Inputs drained per wake-up before ticking again, so a flood cannot
/// starve the ticks.
const DRAIN_BATCH: usize = 8192;
/// How long a request waits at most for the tick thread to look at it
/// when no tick is due sooner.
const REQUEST_POLL: Duration = Duration::from_millis(2);
/// With no tick due for this long, requests wake the thread at once.
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// Rooms due to freeze within this much of each other freeze together.
const FREEZE_BATCH: Duration = Duration::from_secs(1);
/// A room more than this many ticks behind skips ahead instead of bursting.
const MAX_LAG_TICKS: u32 = 5;

/// A tick thread's control queue. Sending also wakes the thread, which
/// between ticks sleeps in `park_timeout`: a channel wait with a deadline
/// first spins and yields the CPU several times, and a thread that waits
/// a few thousand times a second spent about 2 % of the server's CPU
/// there (measured under 1,000 active players).
#[derive(Clone)]
pub struct Control {
    tx: crossbeam_channel::Sender<ShardCommand>,
    thread: Option<std::thread::Thread>,
}

impl Control {
    // The error hands the unsent command back, and only when the shard is
    // gone; boxing every command to shrink it would cost an allocation per
    // request.
    #[allow(clippy::result_large_err)]
    pub fn send(
        &self,
        cmd: ShardCommand,
    ) -> Result<(), crossbeam_channel::SendError<ShardCommand>> {
        self.tx.send(cmd)?;
        if let Some(thread) = &self.thread {
            thread.unpark();
        }
        Ok(())
    }

    /// A control queue with no thread to wake (a test drains it itself).
    #[cfg(test)]
    pub fn unattended(tx: crossbeam_channel::Sender<ShardCommand>) -> Control {
        Control { tx, thread: None }
    }
}

pub fn spawn_shards(
    queue: usize,
    settings: Arc<ShardSettings>,
    init: Vec<ShardInit>,
) -> std::io::Result<(Vec<ShardQueues>, Vec<JoinHandle<()>>)> {
    let mut queues = Vec::new();
    let mut threads = Vec::new();
    for (i, init) in init.into_iter().enumerate() {
        let (requests, requests_rx) = bounded(queue);
        let (control, control_rx) = unbounded();
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tick-{i}"))
            .spawn(move || Shard::new(settings, init).run(requests_rx, control_rx))?;
        let control = Control {
            tx: control,
            thread: Some(thread.thread().clone()),
        };
        queues.push(ShardQueues { requests, control });
        threads.push(thread);
    }
    Ok((queues, threads))
}

struct Shard {
    settings: Arc<ShardSettings>,
    rooms: BTreeMap<RoomId, RoomSlot>,
    /// When each room's next tick is due.
    due: BinaryHeap<Reverse<(Instant, RoomId)>>,
    seed_counter: u64,
    outbox: StoreOutbox,
    hibernated: BTreeMap<RoomId, Hibernated>,
    retired: BTreeSet<RoomId>,
    /// Rooms in the order they parked, with when: each is frozen
    /// `freeze_after` later unless it was woken meanwhile.
    parkings: std::collections::VecDeque<(Instant, RoomId)>,
    /// Rooms unloaded since freed memory was last returned, and when that
    /// was: at most once a second, however the unloads spread.
    unloaded_since_trim: bool,
    last_unload_trim: Option<Instant>,
    /// Cluster mode: rooms recovered at start, waiting for their lease.
    unclaimed: BTreeMap<RoomId, RoomSlot>,
    /// Cluster mode: rooms being handed to another node; they tick no more.
    frozen: BTreeSet<RoomId>,
}

impl Shard {
    fn new(settings: Arc<ShardSettings>, init: ShardInit) -> Shard {
        let outbox = StoreOutbox::replicating_to(settings.replica.clone());
        let mut shard = Shard {
            settings,
            rooms: BTreeMap::new(),
            due: BinaryHeap::new(),
            seed_counter: 0,
            outbox,
            hibernated: BTreeMap::new(),
            retired: init.retired,
            parkings: std::collections::VecDeque::new(),
            unloaded_since_trim: false,
            last_unload_trim: None,
            unclaimed: BTreeMap::new(),
            frozen: BTreeSet::new(),
        };
        for slot in init.rooms {
            if shard.settings.ownership.is_some() {
                let id = slot.body().id().clone();
                shard.unclaimed.insert(id, slot);
            } else {
                shard.insert_room(slot);
            }
        }
        shard
    }

    /// How long rooms may tick from `now` under this node's leases.
    fn fence_left(&self, now: Instant) -> Option<Duration> {
        self.settings.ownership.as_ref().map(|o| o.fence.left(now))
    }

    /// A recovered room whose lease this node holds now begins to run.
    /// Also called for any request that reaches a recovered room: the
    /// router lets requests through only under the lease, and a request
    /// may overtake the `Adopt` (they travel on different queues).
    fn adopt(&mut self, room: &RoomId) {
        if let Some(slot) = self.unclaimed.remove(room) {
            self.insert_room(slot);
            tracing::info!(room = %room, "running a recovered room under this node's lease");
        }
    }

    /// Runs a room rebuilt from a replica (see [`ShardCommand::Install`]).
    fn install(
        &mut self,
        slot: RoomSlot,
        record: tickroom_persistence::RoomRecord,
        prefer_local: bool,
    ) {
        let id = slot.body().id().clone();
        let tick = slot.body().tick();
        if prefer_local
            && let Some(local) = self.unclaimed.get(&id)
            && local.body().tick() >= tick
        {
            tracing::info!(room = %id, local_tick = local.body().tick(), replica_tick = tick, "kept this node's own copy of the room: it is as far as its replica");
            return;
        }
        if self.unclaimed.remove(&id).is_some() {
            self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
        }
        if self.rooms.remove(&id).is_some() {
            self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
        }
        self.hibernated.remove(&id);
        self.retired.remove(&id);
        // A room moving here is counted, never refused: it exists already.
        self.settings.rooms.fetch_add(1, Ordering::AcqRel);
        if self.settings.store.is_some() {
            self.outbox.push(tickroom_persistence::Pending::new(
                tickroom_persistence::Write::Adopt { record, tick },
            ));
        }
        tracing::info!(room = %id, tick, "running a room rebuilt from its replica");
        self.insert_room(slot);
    }

    /// Stops a room that is not this node's: nothing of it runs or is
    /// written again here.
    fn evict(&mut self, room: &RoomId, error: ErrorBody) {
        if self.unclaimed.remove(room).is_some() {
            self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(room = %room, error = %error.message, "a recovered room is another node's now; not running it");
        }
        if let Some(mut slot) = self.rooms.remove(room) {
            self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
            slot.halt(error.clone(), &self.settings);
            tracing::warn!(room = %room, error = %error.message, "stopped a room whose lease this node lost");
        }
        self.hibernated.remove(room);
        self.frozen.remove(room);
    }

    fn insert_room(&mut self, mut slot: RoomSlot) {
        let id = slot.body().id().clone();
        // Recovered rooms start from a snapshot of themselves, with their
        // new epoch.
        if self.settings.store.is_some() {
            self.outbox.push(tickroom_persistence::Pending::new(
                tickroom_persistence::Write::Epoch {
                    room: id.to_string(),
                    epoch: slot.body().epoch(),
                },
            ));
        }
        slot.snapshot_now(&self.settings, &mut self.outbox);
        slot.next_at = Instant::now() + slot.period;
        let at = slot.next_at;
        schedule(&mut self.due, &mut slot, id.clone(), at);
        self.rooms.insert(id, slot);
    }

    /// The slot of `room`, woken if it was parked (a request is about to
    /// reach it, and it must be at the tick the time says), and the
    /// settings alongside.
    fn awake(&mut self, room: &RoomId) -> (Option<&mut RoomSlot>, &ShardSettings) {
        let Shard {
            rooms,
            due,
            settings,
            frozen,
            ..
        } = self;
        let mut slot = rooms.get_mut(room);
        if let Some(slot) = slot.as_deref_mut()
            && slot.is_parked()
            && !frozen.contains(room)
        {
            let next = slot.unpark(Instant::now(), settings);
            schedule(due, slot, room.clone(), next);
        }
        (slot, settings)
    }

    /// Offers the store what the ticks produced; never waits.
    fn offer_store(&mut self) {
        if let Some(policy) = &self.settings.store {
            self.outbox.offer(&policy.store);
        }
    }

    /// Counts one more live room, unless the server holds its maximum.
    fn count_room(&self) -> Result<(), ErrorBody> {
        let max = self.settings.max_rooms;
        self.settings
            .rooms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| {
                ErrorBody::new(
                    ErrorCode::TooManyRooms,
                    format!("this server holds its maximum of {max} rooms"),
                )
                .with("max_rooms", max)
            })
    }

    /// A room someone comes back to after it was unloaded: it counts
    /// against `max_rooms` again.
    fn wake(&mut self, room: &RoomId) -> Result<(), ErrorBody> {
        if !self.hibernated.contains_key(room) {
            return Ok(());
        }
        self.count_room()?;
        let Some(h) = self.hibernated.remove(room) else {
            return Ok(());
        };
        match self.settings.modes.restore(&h.snapshot) {
            Ok(r) => {
                let grace_ms = self.settings.grace.as_millis() as u64;
                // Unloaded only once nobody was seated: no seat has a seq.
                let mut slot = RoomSlot::recovered(r, Default::default(), h.private, grace_ms);
                slot.next_at = Instant::now();
                let at = slot.next_at;
                schedule(&mut self.due, &mut slot, room.clone(), at);
                self.rooms.insert(room.clone(), slot);
                tracing::info!(room = %room, "woke an unloaded room");
                Ok(())
            }
            Err(e) => {
                self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
                Err(super::trace::internal_error(
                    "the unloaded room could not be restored",
                    format_args!("cannot wake the unloaded room {room}: {e}"),
                ))
            }
        }
    }

    fn run(mut self, requests: Receiver<ShardCommand>, control: Receiver<ShardCommand>) {
        let mut stopping = false;
        while !stopping {
            let mut next_tick = self.due.peek().map(|Reverse((t, _))| *t);
            if let (Some(t), Some(left)) = (next_tick, self.fence_left(Instant::now()))
                && left.is_zero()
            {
                // Past the leases: look again shortly, when a renewal may
                // have moved the fence (or taken the rooms away).
                next_tick = Some(t.max(Instant::now() + FENCE_POLL));
            }
            let next_freeze = self
                .parkings
                .front()
                .map(|(t, _)| *t + self.settings.freeze_after);
            let wait = [next_tick, next_freeze]
                .into_iter()
                .flatten()
                .min()
                .map_or(Duration::from_secs(3600), |t| {
                    t.saturating_duration_since(Instant::now())
                });
            // Requests do not wake this thread while rooms tick: what they
            // ask is applied at a tick, so they are drained when one is due,
            // or after REQUEST_POLL for the few answered at once (room
            // creation, listings). Waking per request cost a futex wake and a
            // context switch per intent. Control commands still wake it at
            // once. With no tick due for a while (every room parked), a
            // request wakes it too, so an idle shard sleeps instead of polling.
            if wait >= QUIET_AFTER {
                select! {
                    recv(control) -> cmd => stopping |= self.on_control(cmd.ok(), &requests),
                    recv(requests) -> cmd => match cmd {
                        Ok(cmd) => stopping |= self.handle(cmd),
                        Err(_) => stopping = true,
                    },
                    default(wait) => {}
                }
            } else if !wait.is_zero() {
                // Woken early by a control command (see `Control::send`).
                std::thread::park_timeout(wait.min(REQUEST_POLL));
            }
            loop {
                match control.try_recv() {
                    Ok(cmd) => stopping |= self.on_control(Some(cmd), &requests),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stopping |= self.on_control(None, &requests);
                        break;
                    }
                }
            }
            for _ in 0..DRAIN_BATCH {
                match requests.try_recv() {
                    Ok(cmd) => stopping |= self.handle(cmd),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stopping = true;
                        break;
                    }
                }
            }
            if stopping {
                // Finish the current tick: whatever was accepted is applied
                // and answered before the connections are told to close.
                while let Ok(cmd) = requests.try_recv() {
                    self.handle(cmd);
                }
                let now = Instant::now();
                for slot in self.rooms.values_mut() {
                    if slot.is_parked() {
                        slot.unpark(now, &self.settings);
                    }
                    if slot.has_pending() {
                        slot.tick(&self.settings, &mut self.outbox);
                    }
                    // Recovery after a clean stop starts from here.
                    slot.snapshot_if_changed(&self.settings, &mut self.outbox);
                }
                self.hand_over_to_store();
            } else {
                self.run_due_ticks();
                self.freeze_quiet_rooms();
                self.offer_store();
            }
        }
        tracing::info!(rooms = self.rooms.len(), "tick thread stopped");
    }

    /// A control command, after the requests queued before it; `None`: the
    /// control channel is gone. True when the shard should stop.
    fn on_control(&mut self, cmd: Option<ShardCommand>, requests: &Receiver<ShardCommand>) -> bool {
        let Some(cmd) = cmd else {
            return true;
        };
        self.drain_requests(requests);
        self.handle(cmd)
    }

    /// At shutdown: waits (briefly, in steps) until the store has taken
    /// every write this thread produced.
    fn hand_over_to_store(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.offer_store();
            if self.outbox.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !self.outbox.is_empty() {
            tracing::error!("the store did not take every write before shutdown");
        }
    }

    /// Handles every request already queued. Called before each control
    /// command: a connection's close (or a resume) must come after the
    /// requests it sent before it, and whatever a task sent before a control
    /// command is visible here once that command is.
    fn drain_requests(&mut self, requests: &Receiver<ShardCommand>) {
        // What is queued now is all that can precede the command; a flood
        // arriving meanwhile waits for the next batch.
        for _ in 0..requests.len() {
            match requests.try_recv() {
                Ok(cmd) => {
                    self.handle(cmd);
                }
                Err(_) => break,
            }
        }
    }

    /// Once the oldest parking is `freeze_after` old, freezes the rooms
    /// parked that long (and not woken since) and those that will be within
    /// `FREEZE_BATCH`: freezing in batches lets one trim give back the
    /// memory of all.
    fn freeze_quiet_rooms(&mut self) {
        let now = Instant::now();
        let freeze_after = self.settings.freeze_after;
        if self
            .parkings
            .front()
            .is_none_or(|(since, _)| *since + freeze_after > now)
        {
            return;
        }
        let mut froze = 0usize;
        while let Some((since, _)) = self.parkings.front() {
            if *since + freeze_after > now + FREEZE_BATCH {
                break;
            }
            let Some((since, room)) = self.parkings.pop_front() else {
                break;
            };
            let Some(slot) = self.rooms.get_mut(&room) else {
                continue;
            };
            match slot.freeze_if_parked_since(since, &self.settings, &mut self.outbox) {
                Some(Some(wake)) => schedule(&mut self.due, slot, room, wake),
                // Nothing due any more (the snapshot it waited for is taken):
                // its old entry goes stale.
                Some(None) => slot.scheduled = None,
                None => continue,
            }
            froze += 1;
        }
        if froze > 0 {
            let started = Instant::now();
            super::memory::return_freed_memory();
            tracing::debug!(
                rooms = froze,
                trim_us = started.elapsed().as_micros() as u64,
                "froze quiet rooms"
            );
        }
    }

    fn run_due_ticks(&mut self) {
        let now = Instant::now();
        if self.fence_left(now).is_some_and(|left| left.is_zero()) {
            return;
        }
        // Rooms that fell behind in this pass: one warning for all of them
        // (thousands of rooms woken at once would otherwise log a line each).
        let mut behind: Option<(usize, RoomId)> = None;
        while let Some(Reverse((due, _))) = self.due.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((due, room))) = self.due.pop() else {
                break;
            };
            if self.frozen.contains(&room) {
                continue;
            }
            let Some(slot) = self.rooms.get_mut(&room) else {
                continue;
            };
            if slot.scheduled != Some(due) {
                // Superseded: the room was woken or rescheduled since.
                continue;
            }
            slot.scheduled = None;
            if slot.is_parked() {
                // Something falls due: catch up to it; the tick runs when
                // its own entry comes up (at once if it is due already).
                let next = slot.unpark(now, &self.settings);
                schedule(&mut self.due, slot, room, next);
                continue;
            }
            let started = Instant::now();
            slot.tick(&self.settings, &mut self.outbox);
            self.settings.stats.record(started.elapsed());
            if slot.idle_for(self.settings.empty_room_ttl, now) {
                // Nobody seated for the TTL: unload it. An archived room is
                // done; another is kept as a snapshot until someone returns.
                let snapshot = slot.unload_snapshot(&self.settings, &mut self.outbox);
                let Some(slot) = self.rooms.remove(&room) else {
                    continue;
                };
                self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
                self.unloaded_since_trim = true;
                if slot.body().phase() == tickroom_protocol::Phase::Archived {
                    self.retired.insert(room.clone());
                    tracing::info!(room = %room, "unloaded an archived room");
                } else {
                    self.hibernated.insert(
                        room.clone(),
                        Hibernated {
                            snapshot,
                            private: slot.private,
                        },
                    );
                    tracing::info!(room = %room, "unloaded an empty room");
                }
                continue;
            }
            let period = slot.period;
            // Drift compensation: the next tick is due one period after this
            // one was due, not after it ran; far behind, skip ahead.
            let mut next = due + period;
            if now.saturating_duration_since(next) > period * MAX_LAG_TICKS {
                self.settings.stats.overruns.fetch_add(1, Ordering::Relaxed);
                match &mut behind {
                    Some((count, _)) => *count += 1,
                    None => behind = Some((1, room.clone())),
                }
                next = now + period;
            }
            slot.next_at = next;
            // A quiet room parks: its ticks would change nothing, so none
            // runs until something falls due, the empty room's TTL ends, or
            // a request wakes it. Idle rooms then cost nothing.
            match slot.park_if_quiet(&self.settings, now) {
                Some(wake) => {
                    self.parkings.push_back((now, room.clone()));
                    if let Some(wake) = wake {
                        schedule(&mut self.due, slot, room, wake);
                    }
                }
                None => schedule(&mut self.due, slot, room, next),
            }
        }
        if let Some((rooms, first)) = behind {
            tracing::warn!(
                rooms,
                room = %first,
                "rooms fell behind their tick rate; skipping ahead"
            );
        }
        if self.unloaded_since_trim
            && self
                .last_unload_trim
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            // As after freezing: the unloaded rooms' memory lies between
            // allocations that stay, where glibc keeps it.
            super::memory::return_freed_memory();
            self.unloaded_since_trim = false;
            self.last_unload_trim = Some(now);
        }
    }

    /// Handles one command; true when the shard should stop.
    fn handle(&mut self, cmd: ShardCommand) -> bool {
        if !self.unclaimed.is_empty() {
            match &cmd {
                ShardCommand::Submit { room, .. }
                | ShardCommand::Closed { room, .. }
                | ShardCommand::Resume { room, .. }
                | ShardCommand::Admin { room, .. }
                | ShardCommand::Open { room, .. } => {
                    let room = room.clone();
                    self.adopt(&room);
                }
                _ => {}
            }
        }
        match cmd {
            ShardCommand::Shutdown => return true,
            ShardCommand::Adopt { room } => self.adopt(&room),
            ShardCommand::Evict { room, error } => self.evict(&room, error),
            ShardCommand::Freeze { room, reply } => {
                let _ = self.wake(&room);
                let _ = self.awake(&room);
                let Shard {
                    rooms,
                    settings,
                    outbox,
                    ..
                } = self;
                let tick = rooms.get_mut(&room).map(|slot| {
                    slot.snapshot_now(settings, outbox);
                    slot.body().tick()
                });
                if tick.is_some() {
                    self.frozen.insert(room);
                }
                let _ = reply.send(tick);
            }
            ShardCommand::Notice { msg } => {
                for slot in self.rooms.values() {
                    slot.tell_members(&msg, &self.settings);
                }
            }
            ShardCommand::Thaw { room } => {
                if self.frozen.remove(&room)
                    && let Some(slot) = self.rooms.get_mut(&room)
                {
                    let at = Instant::now();
                    schedule(&mut self.due, slot, room, at);
                }
            }
            ShardCommand::SnapshotNow { room } => {
                if let Some(slot) = self.rooms.get_mut(&room) {
                    slot.snapshot_now(&self.settings, &mut self.outbox);
                }
            }
            ShardCommand::Install {
                slot,
                record,
                prefer_local,
            } => self.install(*slot, record, prefer_local),
            ShardCommand::Open { room, mode } => {
                let known = self.rooms.contains_key(&room)
                    || self.hibernated.contains_key(&room)
                    || self.retired.contains(&room);
                if !known {
                    // A failure shows in the join that follows (no room).
                    let opened = default_config(&self.settings, &mode)
                        .and_then(|config| self.create_room(&room, config, false));
                    if let Err(e) = opened {
                        tracing::warn!(room = %room, mode, error = %e.message, "could not open a matchmade room");
                    }
                }
            }
            ShardCommand::ResumeRefused { conn, error } => {
                RoomSlot::reply(
                    &conn,
                    &ServerMessage::Error {
                        code: error.code,
                        message: error.message,
                        details: error.details,
                    },
                    &self.settings,
                );
                let welcome =
                    conn.restart_session(&self.settings.tokens, &self.settings.modes.infos());
                RoomSlot::reply(&conn, &welcome, &self.settings);
            }
            ShardCommand::Admin { room, op, reply } => self.admin(room, op, reply),
            ShardCommand::Census { reply } => {
                let mut census = Census {
                    unloaded: self.hibernated.len() as u64,
                    ..Census::default()
                };
                for slot in self.rooms.values() {
                    let room = slot.body();
                    if let Some(i) = Census::PHASES.iter().position(|p| *p == room.phase()) {
                        census.rooms[i] += 1;
                    }
                    census.members += room.member_count() as u64;
                    census.parked += u64::from(slot.is_parked());
                    census.frozen += u64::from(room.is_frozen());
                }
                let _ = reply.send(census);
            }
            ShardCommand::Closed { conn, room } => {
                if let (Some(slot), _) = self.awake(&room) {
                    slot.connection_closed(&conn);
                }
            }
            ShardCommand::List {
                after,
                limit,
                reply,
            } => {
                let from = match &after {
                    Some(a) => std::ops::Bound::Excluded(a.clone()),
                    None => std::ops::Bound::Unbounded,
                };
                let page = self
                    .rooms
                    .range((from, std::ops::Bound::Unbounded))
                    .filter(|(_, slot)| !slot.private)
                    .take(limit)
                    .map(|(_, slot)| slot.summary())
                    .collect();
                let _ = reply.send(page);
            }
            ShardCommand::Resume { conn, room } => {
                // A room that cannot be woken (server full) has no seat to give.
                let _ = self.wake(&room);
                match self.awake(&room) {
                    (Some(slot), settings) => slot.resume(conn, settings),
                    (None, settings) => RoomSlot::resume_failed(&conn, settings),
                }
            }
            ShardCommand::Submit { conn, room, msg } => match msg {
                ClientMessage::CreateRoom {
                    seq,
                    config,
                    private,
                    ..
                } => {
                    let reply = match self.create_room(&room, config, private) {
                        Ok(()) => ServerMessage::RoomCreated { seq, room },
                        Err(e) => reject(seq, e),
                    };
                    RoomSlot::reply(&conn, &reply, &self.settings);
                }
                ClientMessage::JoinRoom { seq, .. } if self.hibernated.contains_key(&room) => {
                    match self.wake(&room) {
                        Ok(()) => self.submit(conn, room, msg),
                        Err(e) => {
                            conn.set_room(None);
                            RoomSlot::reply(&conn, &reject(seq, e), &self.settings);
                        }
                    }
                }
                ClientMessage::JoinRoom { seq, .. } if self.retired.contains(&room) => {
                    conn.set_room(None);
                    RoomSlot::reply(&conn, &reject(seq, archived(&room)), &self.settings);
                }
                ClientMessage::JoinRoom { .. } if !self.rooms.contains_key(&room) => {
                    // Rooms are also created by their first join.
                    let config = self.settings.default_room.clone();
                    match self.create_room(&room, config, false) {
                        Ok(()) => self.submit(conn, room, msg),
                        Err(e) => {
                            conn.set_room(None);
                            let seq = msg.seq().unwrap_or_default();
                            RoomSlot::reply(&conn, &reject(seq, e), &self.settings);
                        }
                    }
                }
                msg => self.submit(conn, room, msg),
            },
        }
        false
    }

    fn submit(&mut self, conn: Arc<ConnHandle>, room: RoomId, msg: ClientMessage) {
        match self.awake(&room) {
            (Some(slot), settings) => slot.submit(conn, msg, settings),
            (None, _) => {
                if matches!(msg, ClientMessage::JoinRoom { .. }) {
                    conn.set_room(None);
                }
                if let Some(seq) = msg.seq() {
                    RoomSlot::reply(&conn, &reject(seq, not_found(&room)), &self.settings);
                }
            }
        }
    }

    fn admin(
        &mut self,
        room: RoomId,
        op: super::admin::AdminOp,
        reply: super::admin::AdminReplyTo,
    ) {
        use super::admin::{AdminOp, AdminReply};
        let op = match op {
            AdminOp::Create {
                config,
                private,
                by,
            } => {
                let created = self.create_room(&room, *config, private);
                if created.is_ok() && self.settings.store.is_some() {
                    // An admin action: audited at tick 0, before the room's first tick.
                    use tickroom_persistence::{AuditRow, Pending, TickBatch, Write};
                    self.outbox.push(Pending::new(Write::Tick(TickBatch {
                        room: room.to_string(),
                        tick: 0,
                        from_version: 0,
                        to_version: 0,
                        state_hash: None,
                        at: tickroom_persistence::unix_ms(),
                        inputs: Vec::new(),
                        formations: Vec::new(),
                        audit: vec![AuditRow {
                            action: "create".into(),
                            actor: by,
                            details: serde_json::json!({ "private": private }).to_string(),
                        }],
                    })));
                }
                let _ = reply.send(created.map(|()| AdminReply::Created { room }));
                return;
            }
            AdminOp::InRoom(op) => op,
        };
        if self.retired.contains(&room) {
            let _ = reply.send(Err(archived(&room)));
            return;
        }
        if let Err(e) = self.wake(&room) {
            let _ = reply.send(Err(e));
            return;
        }
        match self.awake(&room) {
            (Some(slot), settings) => slot.admin(op, reply, settings),
            (None, _) => {
                let _ = reply.send(Err(not_found(&room)));
            }
        }
    }

    fn create_room(
        &mut self,
        room: &RoomId,
        config: RoomConfig,
        private: bool,
    ) -> Result<(), ErrorBody> {
        if self
            .settings
            .store
            .as_ref()
            .is_some_and(|p| p.store.health().is_refusing())
        {
            return Err(ErrorBody::new(
                ErrorCode::StoreUnavailable,
                "the store cannot take more writes; no room was created",
            ));
        }
        if self.rooms.contains_key(room)
            || self.hibernated.contains_key(room)
            || self.retired.contains(room)
        {
            return Err(ErrorBody::new(
                ErrorCode::RoomExists,
                format!("room {room} already exists"),
            )
            .with("room", room.as_str()));
        }
        self.count_room()?;
        self.seed_counter += 1;
        let seed = room_seed(room, self.seed_counter);
        let grace_ms = self.settings.grace.as_millis() as u64;
        let modes = &self.settings.modes;
        match RoomSlot::new(modes, room.clone(), config, seed, private, grace_ms) {
            Ok(mut slot) => {
                if self.settings.store.is_some() {
                    self.outbox.push(tickroom_persistence::Pending::new(
                        tickroom_persistence::Write::CreateRoom(tickroom_persistence::RoomRecord {
                            room: room.to_string(),
                            seed,
                            // As the mode filled it in: mode named, defaults set.
                            config: slot.body().config().clone(),
                            private,
                            created_at: tickroom_persistence::unix_ms(),
                            mode_version: slot.body().mode().version(),
                        }),
                    ));
                }
                slot.next_at = Instant::now() + slot.period;
                let at = slot.next_at;
                schedule(&mut self.due, &mut slot, room.clone(), at);
                self.rooms.insert(room.clone(), slot);
                tracing::info!(room = %room, seed, private, "room created");
                Ok(())
            }
            Err(e) => {
                self.settings.rooms.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }
}

/// Puts `room`'s next wake-up at `at` in the shard's schedule; any earlier
/// entry of the room becomes stale.
fn schedule(
    due: &mut BinaryHeap<Reverse<(Instant, RoomId)>>,
    slot: &mut RoomSlot,
    room: RoomId,
    at: Instant,
) {
    slot.scheduled = Some(at);
    due.push(Reverse((at, room)));
}

/// A room's seed: unpredictable to clients, recorded with the room (the
/// persistence issue stores it) so the room can be replayed.
fn room_seed(room: &RoomId, counter: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    xxhash_rust::xxh3::xxh3_64_with_seed(room.as_str().as_bytes(), now ^ counter.rotate_left(32))
}

/// The settings a room of `mode` gets when nobody chose any: the
/// server's `rooms.default`, with that mode's defaults for another mode.
pub fn default_config(settings: &ShardSettings, mode: &str) -> Result<RoomConfig, ErrorBody> {
    let mut only_mode = serde_json::Map::new();
    only_mode.insert("mode".into(), serde_json::Value::String(mode.to_owned()));
    crate::api::config_over_default(&settings.modes, &settings.default_room, only_mode)
}

fn not_found(room: &RoomId) -> ErrorBody {
    ErrorBody::new(ErrorCode::RoomNotFound, format!("no room {room}")).with("room", room.as_str())
}

/// An archived room that was unloaded: its id is not reused.
fn archived(room: &RoomId) -> ErrorBody {
    ErrorBody::new(ErrorCode::WrongPhase, format!("room {room} is archived"))
        .with("room", room.as_str())
        .with("phase", "archived")
}

pub(super) fn reject(seq: u64, e: ErrorBody) -> ServerMessage {
    ServerMessage::Reject {
        seq,
        code: e.code,
        message: e.message,
        details: e.details,
    }
}
