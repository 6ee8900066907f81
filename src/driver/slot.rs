//! One room on a tick thread: the sim `Room`, who is connected to it, and
//! the inputs waiting for its next tick.

use super::body::RoomBody;
use super::journal::{Journal, StoreOutbox};
use super::seat_seqs::SeatSeqs;
use super::shard::{ShardSettings, reject};
use super::views::TickView;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tickroom_net::{ConnHandle, ConnId, OutFrame, PushOutcome, RoomClock};
use tickroom_protocol::{
    ClientMessage, Codec, CursorPos, ErrorBody, ErrorCode, MemberId, Pos, RoomConfig, RoomId,
    ServerMessage,
};
use tickroom_sim::{AdminAction, Input, InputKind, Outcome, Room, Viewer};

pub struct RoomSlot {
    body: RoomBody,
    /// Set when the room's mode panicked: the room no longer ticks, every
    /// request to it is answered with this `INTERNAL` (one trace id, on
    /// the log line with the cause), and nothing of it is stored after its
    /// last good tick, so a restart rebuilds it from the store.
    stopped: Option<ErrorBody>,
    pub period: Duration,
    /// Unlisted; joined by id.
    pub private: bool,
    /// The room's tick, shared with member connections for pongs.
    clock: Arc<RoomClock>,
    /// When the tick after the room's current one is due.
    pub next_at: std::time::Instant,
    /// The time of this room's live entry in its shard's schedule; other
    /// entries for it are stale. `None`: not scheduled (parked until a
    /// request comes).
    pub scheduled: Option<std::time::Instant>,
    /// Since when the room is parked (not ticking: nothing is due until
    /// `scheduled` or a request; the ticks in between are skipped, not run).
    parked_since: Option<std::time::Instant>,
    /// The last tick had no input, event or cursor. Only then may the room
    /// park: a busy room parking between its ticks would only be woken by
    /// its next request, at the cost of a reschedule every tick.
    last_tick_idle: bool,
    /// Inputs for the next tick, and who to answer for each.
    pending: Vec<Input>,
    reply_to: Vec<Option<ReplyTo>>,
    /// The trace id of each pending input that came from a client or the API.
    traces: Vec<Option<super::trace::TraceId>>,
    /// HTTP API actions waiting for their outcome: (index in `pending`, reply).
    admin_replies: Vec<(usize, super::admin::AdminReplyTo)>,
    members: BTreeMap<MemberId, Arc<ConnHandle>>,
    seats: BTreeMap<ConnId, MemberId>,
    /// Latest cursor per member since the last tick (coalesced).
    cursors: BTreeMap<MemberId, Pos>,
    /// Members in the order their requests (inputs and cursors) arrived
    /// since the last tick, repeats included: the fan-out's order.
    arrivals: Vec<MemberId>,
    /// Seats taken over by a resumed session, welcomed after the next tick.
    taken_over: Vec<(MemberId, Arc<ConnHandle>)>,
    /// The reconnect grace period, in milliseconds.
    grace_ms: u64,
    /// Since when the room has had no seat and nothing to do.
    empty_since: Option<std::time::Instant>,
    /// Disconnected members and the tick at which their seat goes.
    grace: BTreeMap<MemberId, u64>,
    pub journal: Journal,
}

impl RoomSlot {
    pub fn new(
        modes: &tickroom_sim::Modes,
        id: RoomId,
        config: RoomConfig,
        seed: u64,
        private: bool,
        grace_ms: u64,
    ) -> Result<RoomSlot, ErrorBody> {
        let room = modes.create_room(id, config, seed)?;
        Ok(RoomSlot::with_room(
            room,
            private,
            grace_ms,
            Journal::new(0, 0, false),
        ))
    }

    /// A room rebuilt from the store after a restart: nobody is connected,
    /// so every seat that was connected gets a logged disconnect and every
    /// seat its grace period, counted from now.
    pub fn recovered(room: Room, seqs: SeatSeqs, private: bool, grace_ms: u64) -> RoomSlot {
        let journal = Journal::new(
            room.tick(),
            room.version(),
            room.phase() == tickroom_protocol::Phase::Archived,
        );
        let mut slot = RoomSlot::with_room(room, private, grace_ms, journal);
        slot.journal.seqs = seqs;
        let deadline = slot.grace_deadline();
        for (seat, _) in slot.body.live().seats() {
            if seat.presence == tickroom_protocol::Presence::Connected {
                slot.queue(Input::about(seat.id, InputKind::Disconnect), None);
            }
            slot.grace.insert(seat.id, deadline);
        }
        slot
    }

    /// Users seated here, for resuming their sessions after a restart.
    pub fn seated_users(&mut self) -> Vec<String> {
        self.body
            .live()
            .seats()
            .into_iter()
            .map(|(_, user)| user)
            .collect()
    }

    /// The room's simulation, as it is (possibly frozen).
    pub fn body(&self) -> &RoomBody {
        &self.body
    }

    fn with_room(room: Room, private: bool, grace_ms: u64, journal: Journal) -> RoomSlot {
        let period = Duration::from_secs(1) / u32::from(room.config().tick_rate_hz.max(1));
        RoomSlot {
            stopped: None,
            clock: Arc::new(RoomClock::new(room.tick(), period)),
            next_at: std::time::Instant::now() + period,
            scheduled: None,
            parked_since: None,
            last_tick_idle: false,
            body: RoomBody::Live(Box::new(room)),
            period,
            private,
            pending: Vec::new(),
            reply_to: Vec::new(),
            admin_replies: Vec::new(),
            traces: Vec::new(),
            members: BTreeMap::new(),
            seats: BTreeMap::new(),
            cursors: BTreeMap::new(),
            arrivals: Vec::new(),
            taken_over: Vec::new(),
            grace_ms,
            empty_since: None,
            grace: BTreeMap::new(),
            journal,
        }
    }

    pub fn summary(&self) -> super::shard::RoomSummary {
        super::shard::RoomSummary {
            room: self.body.id().clone(),
            mode: self.body.mode().name().to_owned(),
            phase: self.body.phase(),
            members: self.body.member_count(),
            max_players: self.body.config().max_players,
            tick: self.clock.now(),
            version: self.body.version(),
        }
    }

    /// Whether the room has anything to do before a request comes: `None`
    /// while it must tick every period, else the tick at which something
    /// falls due (a timer or lock expiry, a grace period's end, a snapshot),
    /// `Some(None)` if nothing ever does.
    fn quiet_until(&mut self, settings: &ShardSettings) -> Option<Option<u64>> {
        if self.stopped.is_some() {
            return Some(None);
        }
        let busy = !self.last_tick_idle
            || !self.pending.is_empty()
            || !self.taken_over.is_empty()
            || !self.cursors.is_empty()
            || !self.admin_replies.is_empty();
        if busy {
            return None;
        }
        let snapshot = settings
            .store
            .as_ref()
            .and_then(|p| self.journal.snapshot_due_tick(self.body.version(), p));
        let due = [
            self.body.live().next_due_tick(),
            self.grace.values().min().copied(),
            snapshot,
        ]
        .into_iter()
        .flatten()
        .min();
        Some(due)
    }

    pub fn is_parked(&self) -> bool {
        self.parked_since.is_some()
    }

    /// Parks the room if it is quiet: it stops ticking until the returned
    /// moment (when something falls due or an empty room's TTL ends;
    /// `None`: until a request), and its ticks are skipped, not run.
    /// Returns `None`, and parks nothing, while it must keep ticking.
    pub fn park_if_quiet(
        &mut self,
        settings: &ShardSettings,
        now: std::time::Instant,
    ) -> Option<Option<std::time::Instant>> {
        let wake = self.wake_moment(settings)?;
        self.parked_since = Some(now);
        self.clock.park(self.body.tick(), self.next_at);
        Some(wake)
    }

    /// When a quiet room next has something to do (`None`: only a request
    /// will give it any); `None` outside while it must keep ticking.
    fn wake_moment(&mut self, settings: &ShardSettings) -> Option<Option<std::time::Instant>> {
        let busy = self.quiet_until(settings)?;
        let next = self.body.tick() + 1;
        if busy.is_some_and(|b| b <= next) {
            // Due at the very next tick: parking would gain nothing.
            return None;
        }
        let at_busy = busy.map(|tick| {
            let ticks_away = u32::try_from(tick - next).unwrap_or(u32::MAX);
            self.next_at + self.period.saturating_mul(ticks_away)
        });
        let at_ttl = self
            .empty_since
            .map(|since| (since + settings.empty_room_ttl).max(self.next_at));
        Some([at_busy, at_ttl].into_iter().flatten().min())
    }

    /// Freezes the room if it is still in the parking that began at
    /// `since` (not woken since): it keeps its state, not its world, until
    /// it is next needed. A room that changed since its last snapshot is
    /// snapshotted first, so that no wake-up (and thaw) is left for one.
    /// Returns the room's new wake moment (as `park_if_quiet`), or `None`
    /// if it did not freeze.
    pub fn freeze_if_parked_since(
        &mut self,
        since: std::time::Instant,
        settings: &ShardSettings,
        outbox: &mut StoreOutbox,
    ) -> Option<Option<std::time::Instant>> {
        if self.parked_since != Some(since) || self.body.is_frozen() || self.stopped.is_some() {
            return None;
        }
        self.snapshot_if_changed(settings, outbox);
        let wake = self.wake_moment(settings)?;
        self.body.freeze();
        Some(wake)
    }

    /// Wakes a parked room at `now` (thawing it if it froze): the ticks due by now are skipped
    /// (nothing happened in them), up to the first that has something due.
    /// Returns when the next tick is due.
    pub fn unpark(
        &mut self,
        now: std::time::Instant,
        settings: &ShardSettings,
    ) -> std::time::Instant {
        self.parked_since = None;
        let due_by_now = match now.checked_duration_since(self.next_at) {
            Some(late) => (late.as_nanos() / self.period.as_nanos().max(1)) as u64 + 1,
            None => 0,
        };
        let limit = match self.quiet_until(settings) {
            Some(Some(busy)) => busy.saturating_sub(self.body.tick() + 1),
            Some(None) => u64::MAX,
            None => 0,
        };
        let skipped = self.body.live().skip_idle(due_by_now.min(limit));
        self.next_at += self.period * u32::try_from(skipped).unwrap_or(u32::MAX);
        self.clock.set(self.body.tick());
        self.next_at
    }

    /// True once the room has had no seat and nothing pending for `ttl`:
    /// it can be unloaded.
    pub fn idle_for(&mut self, ttl: Duration, now: std::time::Instant) -> bool {
        if self.stopped.is_some() {
            // Kept as it is (its stored history is whole) until a restart.
            return false;
        }
        let empty =
            self.body.member_count() == 0 && self.pending.is_empty() && self.taken_over.is_empty();
        if !empty {
            self.empty_since = None;
            return false;
        }
        let since = *self.empty_since.get_or_insert(now);
        now.duration_since(since) >= ttl
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Queues an input for the next tick; one from a connection gets a trace id.
    fn queue(&mut self, input: Input, conn: Option<Arc<ConnHandle>>) {
        let trace = conn.as_ref().map(|_| super::trace::next_id());
        self.queue_traced(input, conn, trace);
    }

    fn queue_traced(
        &mut self,
        input: Input,
        conn: Option<Arc<ConnHandle>>,
        trace: Option<super::trace::TraceId>,
    ) {
        if let Some(t) = &trace {
            tracing::debug!(
                trace_id = %t,
                room = self.body.id().as_str(),
                connection_id = conn.as_ref().map(|c| c.id.0),
                seq = ?input.seq,
                kind = super::journal::input_kind(&input.kind),
                "request queued"
            );
        }
        if let (Some(m), Some(_)) = (input.member, &conn) {
            self.arrivals.push(m);
        }
        self.traces.push(trace);
        self.pending.push(input);
        self.reply_to.push(conn.map(|conn| ReplyTo {
            conn,
            resume: false,
        }));
    }

    /// A resume whose seat is gone: RESUME_FAILED and a fresh session.
    pub fn resume_failed(conn: &ConnHandle, settings: &ShardSettings) {
        settings
            .stats
            .resumes_failed
            .fetch_add(1, Ordering::Relaxed);
        let error = ServerMessage::Error {
            code: ErrorCode::ResumeFailed,
            message: "the seat of this session is gone; join again".into(),
            details: Default::default(),
        };
        Self::reply(conn, &error, settings);
        let welcome = conn.restart_session(&settings.tokens, &settings.modes.infos());
        Self::reply(conn, &welcome, settings);
    }

    /// Gives a resumed session its seat back: through a logged `Reconnect`
    /// when the seat is in its grace period, or by taking it over from a
    /// connection that has not noticed it is dead.
    pub fn resume(&mut self, conn: Arc<ConnHandle>, settings: &ShardSettings) {
        if self.stopped.is_some() {
            return Self::resume_failed(&conn, settings);
        }
        let user = conn.identity().map(|i| i.user).unwrap_or_default();
        let Some(seat) = self.body.live().member_by_user(&user) else {
            return Self::resume_failed(&conn, settings);
        };
        // Decided by the slot's own view of connections, not by the room's
        // presence: a disconnect may be queued and not yet applied.
        match self.members.get(&seat.id).cloned() {
            Some(old) => {
                if old.id != conn.id {
                    self.seats.remove(&old.id);
                    old.close_with(
                        ErrorCode::SessionReplaced,
                        "the session was resumed elsewhere",
                    );
                    // Requests the old connection sent are still queued: their
                    // replies go to the new one, and `welcome` waits for the
                    // tick so its last applied seq counts them.
                    for to in self.reply_to.iter_mut().flatten() {
                        if to.conn.id == old.id {
                            to.conn = conn.clone();
                        }
                    }
                }
                if self.bind(seat.id, &conn) {
                    self.taken_over.push((seat.id, conn));
                }
            }
            None => {
                // After the (possibly still pending) disconnect.
                self.grace.remove(&seat.id);
                self.pending
                    .push(Input::about(seat.id, InputKind::Reconnect));
                self.traces.push(None);
                self.reply_to.push(Some(ReplyTo { conn, resume: true }));
            }
        }
    }

    /// Ties a seat to a connection. A connection that closed before its
    /// join or reconnect was applied is not bound: its seat gets the
    /// disconnect (and grace period) its close could not give it.
    fn bind(&mut self, member: MemberId, conn: &Arc<ConnHandle>) -> bool {
        if conn.is_gone() {
            self.queue(Input::about(member, InputKind::Disconnect), None);
            self.grace.insert(member, self.grace_deadline());
            return false;
        }
        self.members.insert(member, conn.clone());
        self.seats.insert(conn.id, member);
        conn.set_room(Some(self.body.id().clone()));
        conn.set_intents(Some(self.body.mode().intents()));
        conn.set_room_clock(Some(self.clock.clone()));
        true
    }

    fn grace_deadline(&self) -> u64 {
        let rate = u64::from(self.body.config().tick_rate_hz);
        let grace_ticks = (self.grace_ms * rate).div_ceil(1000);
        self.body.tick() + 1 + grace_ticks
    }

    /// `welcome` (with the last applied seq) and `joined` for a resumed session.
    fn welcome_back(
        &self,
        conn: &ConnHandle,
        member: MemberId,
        state: tickroom_protocol::RoomState,
        settings: &ShardSettings,
    ) {
        let Some(identity) = conn.identity() else {
            return;
        };
        settings.stats.resumes_ok.fetch_add(1, Ordering::Relaxed);
        let last_applied_seq = self.journal.seqs.get(member);
        // Set before welcome goes out: the client numbers on from it.
        if let Some(last) = last_applied_seq {
            conn.continue_seqs_after(last);
        }
        let welcome = ServerMessage::Welcome {
            session: identity.session.clone(),
            resume_token: settings.tokens.issue_resume(&identity),
            versions: tickroom_protocol::supported_versions(),
            last_applied_seq,
            modes: settings.modes.infos(),
        };
        Self::reply(conn, &welcome, settings);
        let joined = ServerMessage::Joined {
            seq: None,
            room: self.body.id().clone(),
            member,
            config: self.body.config().clone(),
            epoch: self.body.epoch(),
            state,
        };
        Self::reply(conn, &joined, settings);
    }

    /// Encodes `msg` for one connection and queues it as critical.
    pub fn reply(conn: &ConnHandle, msg: &ServerMessage, settings: &ShardSettings) {
        match OutFrame::encode(conn.codec, msg, true) {
            Ok(frame) => count(conn.push(frame), settings),
            Err(e) => tracing::error!(error = %e, "could not encode a reply"),
        }
    }

    pub fn submit(&mut self, conn: Arc<ConnHandle>, msg: ClientMessage, settings: &ShardSettings) {
        if let Some(e) = &self.stopped {
            if matches!(msg, ClientMessage::JoinRoom { .. }) {
                conn.set_room(None);
            }
            if let Some(seq) = msg.seq() {
                Self::reply(&conn, &reject(seq, e.clone()), settings);
            }
            return;
        }
        if let Some(e) = self.store_refusal(&msg, settings) {
            settings.stats.rejected(e.code);
            if matches!(msg, ClientMessage::JoinRoom { .. }) && !self.seats.contains_key(&conn.id) {
                conn.set_room(None);
            }
            if let Some(seq) = msg.seq() {
                Self::reply(&conn, &reject(seq, e), settings);
            }
            return;
        }
        let member = self.seats.get(&conn.id).copied();
        let input = |seq, kind| Input {
            member,
            seq: Some(seq),
            kind,
        };
        match msg {
            ClientMessage::JoinRoom {
                seq, name, team, ..
            } => {
                if member.is_some() {
                    let e = ErrorBody::new(
                        ErrorCode::AlreadyInRoom,
                        "this connection already has a seat here",
                    );
                    Self::reply(&conn, &reject(seq, e), settings);
                    return;
                }
                let identity = conn.identity();
                let kind = InputKind::Join {
                    user: identity
                        .as_ref()
                        .map_or_else(|| conn.id.to_string(), |i| i.user.clone()),
                    name: identity
                        .as_ref()
                        .and_then(|i| i.name.clone())
                        .unwrap_or(name),
                    role: identity.and_then(|i| i.role),
                    team,
                };
                self.queue(
                    Input {
                        member: None,
                        seq: Some(seq),
                        kind,
                    },
                    Some(conn),
                );
            }
            ClientMessage::ChangeTeam { seq, team } => {
                self.queue(input(seq, InputKind::ChangeTeam { team }), Some(conn))
            }
            ClientMessage::Leave { seq } => self.queue(input(seq, InputKind::Leave), Some(conn)),
            ClientMessage::Intent { seq, intent } => {
                // Decoded by the room's mode, its strings and lists checked
                // against the decode limits before any mode code sees it.
                match self.body.mode().decode_intent(&intent, &settings.limits) {
                    Ok(typed) => self.queue(input(seq, InputKind::Intent(typed)), Some(conn)),
                    Err(e) => {
                        settings.stats.rejected(e.code);
                        Self::reply(&conn, &reject(seq, e), settings);
                    }
                }
            }
            ClientMessage::Cursor { pos } => {
                // In a mode that hides things, where someone who sees
                // everything points is itself hidden (it would show players
                // where the fog's tokens are): that cursor is not relayed.
                let tells = member.is_some_and(|m| {
                    let room = self.body.live();
                    room.hides() && room.sees_all(m)
                });
                let on_board = !tells && self.body.mode().cursor_ok(self.body.config(), pos);
                settings
                    .stats
                    .cursor_updates
                    .fetch_add(1, Ordering::Relaxed);
                if let (Some(m), true) = (member, on_board) {
                    if self.cursors.insert(m, pos).is_some() {
                        settings
                            .stats
                            .cursors_coalesced
                            .fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.arrivals.push(m);
                    }
                }
            }
            // The router turns a reserved join into a `join_room`.
            ClientMessage::Hello { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::CreateRoom { .. }
            | ClientMessage::JoinReserved { .. } => {}
        }
    }

    /// The room's mode panicked in a tick: nothing of that tick is applied
    /// or stored. Its requests, its admin actions and its members are told
    /// `INTERNAL` (with the trace id of the log line that has the cause);
    /// the members leave it; it stays, stopped, until a restart rebuilds it
    /// from the store.
    fn stop(
        &mut self,
        panic: &(dyn std::any::Any + Send),
        seqs: &[Option<u64>],
        reply_to: Vec<Option<ReplyTo>>,
        settings: &ShardSettings,
    ) {
        let cause = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        let error = super::trace::internal_error(
            "the room's game mode failed; nothing of this tick was applied and the room is stopped",
            format_args!(
                "room {} ({} mode) panicked at tick {}: {cause}",
                self.body.id(),
                self.body.mode().name(),
                self.body.tick() + 1
            ),
        );
        for (to, seq) in reply_to.into_iter().zip(seqs) {
            let Some(ReplyTo { conn, .. }) = to else {
                continue;
            };
            match seq {
                Some(seq) => Self::reply(&conn, &reject(*seq, error.clone()), settings),
                None => Self::resume_failed(&conn, settings),
            }
        }
        self.halt(error, settings);
    }

    /// Sends `msg` to every member connected now (an operators' notice).
    pub fn tell_members(&self, msg: &ServerMessage, settings: &ShardSettings) {
        for conn in self.members.values() {
            Self::reply(conn, msg, settings);
        }
    }

    /// Stops the room for good: pending admin calls get `error`, every
    /// member is told with it and unseated, and requests from now on are
    /// refused with it. Used when the mode panicked, and in cluster mode
    /// when the room is another node's now (evicted).
    pub fn halt(&mut self, error: ErrorBody, settings: &ShardSettings) {
        for (_, reply) in std::mem::take(&mut self.admin_replies) {
            let _ = reply.send(Err(error.clone()));
        }
        let notice = ServerMessage::Error {
            code: error.code,
            message: error.message.clone(),
            details: error.details.clone(),
        };
        for (_, conn) in std::mem::take(&mut self.members) {
            Self::reply(&conn, &notice, settings);
            conn.set_room_clock(None);
            conn.set_room(None);
        }
        self.seats.clear();
        self.grace.clear();
        self.cursors.clear();
        self.taken_over.clear();
        self.stopped = Some(error);
    }

    /// Whether the room's mode acknowledges this intent only once durable.
    fn is_durable(&self, intent: &tickroom_protocol::Payload) -> bool {
        let intents = self.body.mode().intents();
        intent
            .variant()
            .and_then(|v| intents.find(&v))
            .is_some_and(|spec| spec.durable)
    }

    /// Mutating requests are refused while the store cannot keep up with
    /// them (STORE_BEHIND), cannot take them (STORE_UNAVAILABLE), or the
    /// room is at its snapshot size cap (ROOM_TOO_LARGE). Leaving is never
    /// refused.
    fn store_refusal(
        &mut self,
        msg: &ClientMessage,
        settings: &ShardSettings,
    ) -> Option<ErrorBody> {
        let policy = settings.store.as_ref()?;
        let (durable, grows) = match msg {
            ClientMessage::JoinRoom { .. } => (false, true),
            ClientMessage::Intent { intent, .. } => {
                // A durable intent keeps something (a formation): it grows
                // the room.
                let durable = self.is_durable(intent);
                (durable, durable)
            }
            ClientMessage::ChangeTeam { .. } => (false, false),
            _ => return None,
        };
        self.journal
            .refusal(policy, self.body.tick(), durable, grows)
    }

    pub fn snapshot_now(&mut self, settings: &ShardSettings, outbox: &mut StoreOutbox) {
        if self.stopped.is_some() {
            return;
        }
        if let Some(policy) = &settings.store {
            self.journal.snapshot(self.body.live(), policy, outbox);
        }
    }

    /// The snapshot an unloaded room is kept as; also stored if the room
    /// changed since its last stored snapshot.
    pub fn unload_snapshot(
        &mut self,
        settings: &ShardSettings,
        outbox: &mut StoreOutbox,
    ) -> Vec<u8> {
        self.journal
            .unload_snapshot(self.body.live(), settings.store.as_ref(), outbox)
    }

    /// Writes a snapshot if the room changed since its last one (before it
    /// is unloaded, or at shutdown).
    pub fn snapshot_if_changed(&mut self, settings: &ShardSettings, outbox: &mut StoreOutbox) {
        if self.stopped.is_some() {
            return;
        }
        if let Some(policy) = &settings.store {
            self.journal
                .snapshot_if_changed(self.body.live(), policy, outbox);
        }
    }

    /// The connection dropped: its seat enters the grace period.
    pub fn connection_closed(&mut self, conn: &ConnHandle) {
        let Some(member) = self.seats.remove(&conn.id) else {
            return;
        };
        self.members.remove(&member);
        self.cursors.remove(&member);
        self.queue(Input::about(member, InputKind::Disconnect), None);
        self.grace.insert(member, self.grace_deadline());
    }

    /// An operation of the HTTP API on this room. Archive and kick are
    /// logged admin inputs, answered with their outcome after the tick.
    pub fn admin(
        &mut self,
        op: super::admin::RoomOp,
        reply: super::admin::AdminReplyTo,
        settings: &ShardSettings,
    ) {
        use super::admin::{AdminReply, KickTarget, RoomDetail, RoomOp};
        if let Some(e) = &self.stopped {
            let _ = reply.send(Err(e.clone()));
            return;
        }
        let action = match op {
            RoomOp::Get => {
                let detail = RoomDetail {
                    summary: self.summary(),
                    private: self.private,
                    epoch: self.body.epoch(),
                    config: self.body.config().clone(),
                    state: self.body.live().state(),
                };
                let _ = reply.send(Ok(AdminReply::Room(Box::new(detail))));
                return;
            }
            RoomOp::Archive { by } => AdminAction::Archive { by },
            RoomOp::Kick { target, by } => {
                let member = match target {
                    KickTarget::Member(m) => m,
                    KickTarget::User(user) => match self.body.live().member_by_user(&user) {
                        Some(m) => m.id,
                        None => {
                            let e = ErrorBody::new(
                                ErrorCode::MemberNotFound,
                                format!("user {user} has no seat in this room"),
                            )
                            .with("user", user.as_str());
                            let _ = reply.send(Err(e));
                            return;
                        }
                    },
                };
                AdminAction::Kick { member, by }
            }
        };
        if let Some(policy) = &settings.store
            && let Some(e) = self.journal.refusal(policy, self.body.tick(), false, false)
        {
            let _ = reply.send(Err(e));
            return;
        }
        self.admin_replies.push((self.pending.len(), reply));
        self.queue_traced(
            Input {
                member: None,
                seq: None,
                kind: InputKind::Admin(action),
            },
            None,
            Some(super::trace::next_id()),
        );
    }

    pub fn tick(&mut self, settings: &ShardSettings, outbox: &mut StoreOutbox) {
        let next = self.body.tick() + 1;
        let expired: Vec<MemberId> = self
            .grace
            .iter()
            .filter(|(_, at)| **at <= next)
            .map(|(m, _)| *m)
            .collect();
        for m in expired {
            self.grace.remove(&m);
            self.queue(Input::about(m, InputKind::GraceExpired), None);
        }
        let inputs = std::mem::take(&mut self.pending);
        let traces = std::mem::take(&mut self.traces);
        let reply_to = std::mem::take(&mut self.reply_to);
        if self.stopped.is_some() {
            return;
        }
        let seqs: Vec<Option<u64>> = inputs.iter().map(|i| i.seq).collect();
        // A mode's code runs inside `step`: a panic there stops this room,
        // not the tick thread and every other room on it.
        let room = self.body.live();
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| room.step(inputs)));
        let out = match stepped {
            Ok(out) => out,
            Err(panic) => return self.stop(&*panic, &seqs, reply_to, settings),
        };
        self.clock.set(out.tick);
        self.journal.seqs.note_tick(&out);
        for (index, reply) in std::mem::take(&mut self.admin_replies) {
            let result = match out.outcomes.get(index) {
                Some(Outcome::Rejected(e)) => Err(e.clone()),
                Some(_) => Ok(super::admin::AdminReply::Applied {
                    room: self.body.id().clone(),
                    tick: out.tick,
                    version: self.body.version(),
                }),
                None => Err(super::trace::internal_error(
                    "the admin action has no outcome",
                    format_args!(
                        "step returned {} outcomes for {} inputs",
                        out.outcomes.len(),
                        index + 1
                    ),
                )),
            };
            let _ = reply.send(result);
        }

        // Applied durable requests: acknowledged once their write commits.
        let durable: BTreeSet<(MemberId, u64)> = out
            .inputs
            .iter()
            .zip(&out.outcomes)
            .filter(|(i, o)| {
                matches!(o, Outcome::Applied | Outcome::Duplicate)
                    && matches!(&i.kind, InputKind::Intent(p) if self.is_durable(p))
            })
            .filter_map(|(i, _)| i.member.zip(i.seq))
            .collect();
        let mut view = TickView::new(
            self.body.live(),
            out.delta.clone(),
            &out.restricted,
            self.members.keys().copied(),
            &durable,
        );
        let mut joined_now = BTreeSet::new();
        let mut state = None;
        let mut durable_acks = Vec::new();
        // Replies wait for the fan-out below, so that each connection gets
        // its replies, the delta and the cursors pushed back to back and
        // its writer sends them in one write rather than one per frame.
        let mut held = Held::default();
        for (outcome, trace) in out.outcomes.iter().zip(&traces) {
            if let Some(t) = trace {
                tracing::debug!(
                    trace_id = %t,
                    room = self.body.id().as_str(),
                    tick = out.tick,
                    outcome = ?outcome,
                    "request applied"
                );
            }
            match outcome {
                Outcome::Rejected(e) => settings.stats.rejected(e.code),
                _ => {
                    settings.stats.applied.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for ((input, outcome), to) in out.inputs.iter().zip(&out.outcomes).zip(reply_to) {
            let Some(ReplyTo { conn, resume }) = to else {
                continue;
            };
            let seq = input.seq.unwrap_or_default();
            let reply = match outcome {
                Outcome::Joined { member } => {
                    if !self.bind(*member, &conn) {
                        continue;
                    }
                    joined_now.insert(conn.id);
                    ServerMessage::Joined {
                        seq: input.seq,
                        room: self.body.id().clone(),
                        member: *member,
                        config: self.body.config().clone(),
                        epoch: self.body.epoch(),
                        state: snapshot_for(self.body.live(), &mut state, *member),
                    }
                }
                Outcome::Applied if resume => {
                    let Some(m) = input.member else { continue };
                    if !self.bind(m, &conn) {
                        continue;
                    }
                    joined_now.insert(conn.id);
                    let snapshot = snapshot_for(self.body.live(), &mut state, m);
                    held.flush(&conn, settings);
                    self.welcome_back(&conn, m, snapshot, settings);
                    continue;
                }
                Outcome::Rejected(_) if resume => {
                    held.flush(&conn, settings);
                    Self::resume_failed(&conn, settings);
                    continue;
                }
                // The delta this member gets acknowledges it: an event with
                // its origin (one frame per tick, not an ack and a delta).
                Outcome::Applied
                    if !matches!(input.kind, InputKind::Leave)
                        && input.member.is_some_and(|m| {
                            view.acknowledges(m, seq) && self.members.contains_key(&m)
                        }) =>
                {
                    continue;
                }
                Outcome::Applied | Outcome::Duplicate
                    if settings.store.is_some()
                        && matches!(&input.kind, InputKind::Intent(i) if self.is_durable(i)) =>
                {
                    // Acknowledged once its write has committed.
                    durable_acks.push((conn, seq));
                    continue;
                }
                Outcome::Applied | Outcome::Duplicate => {
                    if matches!(input.kind, InputKind::Leave) {
                        if let Some(m) = self.seats.remove(&conn.id) {
                            self.members.remove(&m);
                            self.cursors.remove(&m);
                        }
                        conn.set_room_clock(None);
                        conn.set_room(None);
                    }
                    ServerMessage::Ack { seq }
                }
                Outcome::Rejected(e) => {
                    // A refused join frees the connection to join elsewhere,
                    // unless it already sits here (a second join).
                    if matches!(input.kind, InputKind::Join { .. })
                        && !self.seats.contains_key(&conn.id)
                    {
                        conn.set_room(None);
                    }
                    reject(seq, e.clone())
                }
            };
            held.hold(conn, &reply);
        }
        if let Some(policy) = &settings.store {
            let started = std::time::Instant::now();
            self.journal.record_tick(
                self.body.live(),
                &out,
                &traces,
                policy,
                durable_acks,
                outbox,
            );
            settings.journal_stats.record(started.elapsed());
        }
        // Seats that are gone take their bookkeeping with them.
        if let Some(d) = &out.delta {
            for e in &d.events {
                if let tickroom_protocol::Event::Room(
                    tickroom_protocol::DomainEvent::MemberLeft { member, reason },
                ) = e.event
                {
                    self.grace.remove(&member);
                    if let Some(conn) = self.members.remove(&member) {
                        self.seats.remove(&conn.id);
                        conn.set_room_clock(None);
                        conn.set_room(None);
                        if reason == tickroom_protocol::LeaveReason::Kicked {
                            conn.close_with(
                                ErrorCode::Kicked,
                                "an admin removed you from the room",
                            );
                        }
                    }
                }
            }
        }

        // Taken-over seats: welcomed now that their old requests are applied.
        for (member, conn) in std::mem::take(&mut self.taken_over) {
            if self.seats.get(&conn.id) == Some(&member) {
                joined_now.insert(conn.id);
                let snapshot = snapshot_for(self.body.live(), &mut state, member);
                held.flush(&conn, settings);
                self.welcome_back(&conn, member, snapshot, settings);
            }
        }
        self.last_tick_idle =
            out.inputs.is_empty() && out.delta.is_none() && self.cursors.is_empty();
        // The cursors ride in the tick's delta; only members who get no
        // delta this tick get them in a `cursors` frame of their own.
        let cursors = (!self.cursors.is_empty()).then(|| {
            let cursors: Vec<CursorPos> = std::mem::take(&mut self.cursors)
                .into_iter()
                .map(|(member, pos)| CursorPos { member, pos })
                .collect();
            view.carry_cursors(&cursors);
            ServerMessage::Cursors {
                room: self.body.id().clone(),
                cursors,
            }
        });
        let mut arrivals = std::mem::take(&mut self.arrivals);
        self.fan_out(
            &arrivals,
            held,
            &view,
            cursors.as_ref(),
            &joined_now,
            settings,
        );
        // Kept for the next tick's requests.
        arrivals.clear();
        self.arrivals = arrivals;
    }

    /// Queues, connection by connection (see [`waited_longest_first`]), its
    /// held replies, then the delta (critical; not to those that joined this tick, whose
    /// `joined` already holds it) with the tick's cursors in it, or, to a
    /// member that gets no delta, the cursors alone (droppable). Broadcasts
    /// are encoded once per codec and the same bytes shared.
    fn fan_out(
        &self,
        arrivals: &[MemberId],
        mut held: Held,
        view: &TickView,
        cursors: Option<&ServerMessage>,
        joined_now: &BTreeSet<ConnId>,
        settings: &ShardSettings,
    ) {
        if held.0.is_empty() && view.groups() == 0 && cursors.is_none() {
            // An idle tick: nothing to visit members for.
            return;
        }
        let mut deltas: Vec<SharedFrames> = (0..view.groups())
            .map(|_| SharedFrames::default())
            .collect();
        let mut cursor_frames = SharedFrames::default();
        for conn in waited_longest_first(arrivals, &self.members) {
            held.flush(conn, settings);
            let mut got_delta = false;
            if let Some((group, msg)) = view.delta_for(self.seats.get(&conn.id).copied())
                && !joined_now.contains(&conn.id)
                && let Some(frame) = deltas[group].get(conn.codec, msg, true)
            {
                count(conn.push(frame), settings);
                got_delta = true;
            }
            if let Some(msg) = cursors
                && !got_delta
                && let Some(frame) = cursor_frames.get(conn.codec, msg, false)
            {
                count(conn.push(frame), settings);
            }
        }
        // Replies to connections that are no longer members (a leave, a
        // refused join).
        for (conn, frames) in held.0.into_values() {
            for frame in frames {
                count(conn.push(frame), settings);
            }
        }
    }
}

/// The order a tick's fan-out visits the members: first those who sent
/// something (an input or a cursor) since the last tick, by the arrival of
/// their first request (they have waited longest for this tick's answer),
/// then the rest in member order. The connections write in the
/// order they are queued, and in a big room the last write comes milliseconds
/// after the first; visiting a fixed order instead would give the same
/// members that delay every tick, on top of however long their intent waited
/// for the tick.
fn waited_longest_first<'a, T>(
    arrivals: &[MemberId],
    members: &'a BTreeMap<MemberId, T>,
) -> Vec<&'a T> {
    let mut order = Vec::with_capacity(members.len());
    let mut visited = BTreeSet::new();
    for &m in arrivals {
        if let Some(conn) = members.get(&m)
            && visited.insert(m)
        {
            order.push(conn);
        }
    }
    order.extend(
        members
            .iter()
            .filter(|(m, _)| visited.is_empty() || !visited.contains(m))
            .map(|(_, conn)| conn),
    );
    order
}

/// The room as `member` may see it: one copy for everyone in a mode that
/// hides nothing, the member's own view in one that does.
fn snapshot_for(
    room: &Room,
    cache: &mut Option<tickroom_protocol::RoomState>,
    member: MemberId,
) -> tickroom_protocol::RoomState {
    if room.hides() {
        return room.state_for(Viewer::Member(member));
    }
    cache.get_or_insert_with(|| room.state()).clone()
}

/// Replies encoded and waiting for the tick's fan-out, by connection.
#[derive(Default)]
struct Held(BTreeMap<ConnId, (Arc<ConnHandle>, Vec<OutFrame>)>);

impl Held {
    fn hold(&mut self, conn: Arc<ConnHandle>, msg: &ServerMessage) {
        match OutFrame::encode(conn.codec, msg, true) {
            Ok(frame) => self
                .0
                .entry(conn.id)
                .or_insert_with(|| (conn, Vec::new()))
                .1
                .push(frame),
            Err(e) => tracing::error!(error = %e, "could not encode a reply"),
        }
    }

    /// Queues what is held for `conn` now.
    fn flush(&mut self, conn: &ConnHandle, settings: &ShardSettings) {
        if self.0.is_empty() {
            return;
        }
        if let Some((_, frames)) = self.0.remove(&conn.id) {
            for frame in frames {
                count(conn.push(frame), settings);
            }
        }
    }
}

/// One broadcast message encoded at most once per codec.
#[derive(Default)]
struct SharedFrames([Option<OutFrame>; 2]);

impl SharedFrames {
    fn get(&mut self, codec: Codec, msg: &ServerMessage, critical: bool) -> Option<OutFrame> {
        let slot = match codec {
            Codec::Postcard => 0,
            Codec::Json => 1,
        };
        if self.0[slot].is_none() {
            match OutFrame::encode(codec, msg, critical) {
                Ok(f) => self.0[slot] = Some(f),
                Err(e) => {
                    tracing::error!(error = %e, "could not encode a broadcast");
                    return None;
                }
            }
        }
        self.0[slot].clone()
    }
}

/// Who to answer for a pending input; `resume` marks a reconnect made by a
/// resumed session, answered with `welcome` and `joined` instead of an ack.
struct ReplyTo {
    conn: Arc<ConnHandle>,
    resume: bool,
}

fn count(outcome: PushOutcome, settings: &ShardSettings) {
    match outcome {
        PushOutcome::Dropped => {
            settings
                .stats
                .dropped_frames
                .fetch_add(1, Ordering::Relaxed);
        }
        PushOutcome::SlowConsumer => {
            settings
                .stats
                .slow_consumers
                .fetch_add(1, Ordering::Relaxed);
        }
        PushOutcome::Queued | PushOutcome::Gone => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_who_sent_first_are_visited_first_then_everyone_else_once() {
        let members: BTreeMap<MemberId, &str> = [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]
            .into_iter()
            .map(|(m, name)| (MemberId(m), name))
            .collect();
        // d's request arrived first, then b's, d's again, and one from a
        // member who has since left.
        let arrivals = [3, 1, 3, 9].map(MemberId);
        let order = waited_longest_first(&arrivals, &members);
        assert_eq!(order, [&"d", &"b", &"a", &"c", &"e"]);
        let quiet = waited_longest_first(&[], &members);
        assert_eq!(quiet, [&"a", &"b", &"c", &"d", &"e"], "member order");
        assert!(waited_longest_first(&arrivals, &BTreeMap::<MemberId, ()>::new()).is_empty());
    }
}
