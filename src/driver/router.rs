//! Net → tick: routes each room request to the tick thread that owns the
//! room, through a bounded channel. A full channel is SERVER_BUSY; nothing
//! here blocks the async runtime.

use super::shard::ShardCommand;
use crossbeam_channel::{Sender, TrySendError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickroom_net::{ConnHandle, ConnId, Router};
use tickroom_protocol::{ClientMessage, ErrorBody, ErrorCode, RoomId};

/// A shard's two queues: room requests (bounded: SERVER_BUSY when full) and
/// lifecycle events (closes, shutdown), which are never refused: there is
/// at most one close per connection, so the connection limit bounds them.
#[derive(Clone)]
pub struct ShardQueues {
    pub requests: Sender<ShardCommand>,
    pub control: super::shard::Control,
}

/// Which room a session's seat is in, so a resume finds it. Only the async
/// side touches this map; entries of sessions closed longer ago than the
/// grace period are swept, as their seats are gone: every 256 inserts, and
/// from the server's housekeeping ([`RoomRouter::sweep_sessions`]) so that
/// a burst of sessions followed by quiet does not stay for good.
#[derive(Default)]
struct SessionRooms {
    /// Session → (room, the connection that holds it, when it closed).
    rooms: HashMap<String, SessionEntry>,
    inserts: u64,
    /// User → room of seats recovered at start (first room by id when a
    /// user sat in several).
    restored: HashMap<String, RoomId>,
}

/// The shard that owns `room` among `count`.
pub fn shard_index(room: &RoomId, count: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(room.as_str().as_bytes()) % count.max(1) as u64) as usize
}

struct SessionEntry {
    room: RoomId,
    /// The connection that holds the session.
    owner: ConnId,
    /// Its handle while it is open, to notice it went away without a close
    /// on record. Let go at the close: a closed connection's handle (its
    /// identity, queue and room clock) must not live on for the grace
    /// period in this map.
    live: Option<Arc<ConnHandle>>,
    closed: Option<Instant>,
}

impl SessionEntry {
    fn new(room: RoomId, conn: &Arc<ConnHandle>) -> SessionEntry {
        SessionEntry {
            room,
            owner: conn.id,
            live: Some(conn.clone()),
            closed: None,
        }
    }

    fn close(&mut self, at: Instant) {
        self.closed = Some(at);
        self.live = None;
    }
}

pub struct RoomRouter {
    shards: Vec<ShardQueues>,
    sessions: Mutex<SessionRooms>,
    grace: Duration,
    shutting_down: std::sync::atomic::AtomicBool,
    /// Makes generated room ids unique within this process; mixed with the
    /// start time so ids differ across restarts.
    next_room: AtomicU64,
    nonce: u64,
    /// Cluster mode: rooms are served only under this node's lease.
    ownership: Option<Arc<super::ownership::Ownership>>,
    /// Cluster mode: checks matchmaking's seat reservations.
    seats: Option<Arc<tickroom_net::tokens::Tokens>>,
}

impl RoomRouter {
    pub fn new(shards: Vec<ShardQueues>, grace: Duration) -> RoomRouter {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        RoomRouter {
            shards,
            sessions: Mutex::default(),
            grace,
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            next_room: AtomicU64::new(1),
            nonce,
            ownership: None,
            seats: None,
        }
    }

    /// Cluster mode: `join_reserved` takes seats reserved by matchmaking,
    /// checked with `tokens`.
    pub fn with_reservations(mut self, tokens: Arc<tickroom_net::tokens::Tokens>) -> RoomRouter {
        self.seats = Some(tokens);
        self
    }

    /// A reserved join as the `join_room` it stands for, with the mode of
    /// the room to open if nobody has yet.
    fn reserved_join(
        &self,
        msg: ClientMessage,
    ) -> Result<(ClientMessage, Option<String>), ErrorBody> {
        let ClientMessage::JoinReserved {
            seq,
            reservation,
            name,
            team,
        } = msg
        else {
            return Ok((msg, None));
        };
        let tokens = self.seats.as_ref().ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::InvalidArgument,
                "seat reservations come from matchmaking, which needs cluster mode",
            )
        })?;
        let seat = tokens.verify_reservation(&reservation, tickroom_persistence::unix_ms())?;
        let room = RoomId::from(seat.room);
        if !room.is_valid() {
            return Err(invalid_room_id());
        }
        let join = ClientMessage::JoinRoom {
            seq,
            room,
            name,
            team,
        };
        Ok((join, Some(seat.mode)))
    }

    /// Cluster mode: every room request waits for, and needs, this node's
    /// lease on the room.
    pub fn with_ownership(mut self, ownership: Arc<super::ownership::Ownership>) -> RoomRouter {
        self.ownership = Some(ownership);
        self
    }

    /// A claim settled: what waited for it goes on to the room in order, or
    /// is answered; a room recovered here that another node owns is
    /// stopped unseen.
    pub fn settle(&self, room: &RoomId, how: super::ownership::Settled) {
        use super::ownership::{Settled, refuse};
        let Some(ownership) = &self.ownership else {
            return;
        };
        let shard = &self.shards[self.shard_of(room)];
        ownership.settle(room, &how, |held| match &how {
            Settled::Owned { .. } => {
                let _ = shard.control.send(ShardCommand::Adopt { room: room.clone() });
                for cmd in held {
                    if let Err(e) = self.forward(room, cmd) {
                        tracing::debug!(room = %room, error = %e.message, "a request that waited for its room's lease was refused");
                    }
                }
            }
            Settled::Elsewhere(e) | Settled::Failed(e) => {
                if matches!(how, Settled::Elsewhere(_)) {
                    let _ = shard.control.send(ShardCommand::Evict {
                        room: room.clone(),
                        error: e.clone(),
                    });
                }
                for cmd in held {
                    if let Some(cmd) = refuse(cmd, e) {
                        let _ = shard.control.send(cmd);
                    }
                }
            }
        });
    }

    /// Runs a room rebuilt from its replica on its tick thread; its seated
    /// users' resumes find it from now on.
    /// Returns once the tick thread has it, so that no request let
    /// through after this can reach the room before it is there.
    pub async fn install(
        &self,
        slot: super::RoomSlot,
        record: tickroom_persistence::RoomRecord,
        prefer_local: bool,
        seated: Vec<String>,
    ) {
        let room = slot.body().id().clone();
        {
            let mut s = self.sessions();
            for user in seated {
                s.restored.insert(user, room.clone());
            }
        }
        let control = &self.shards[self.shard_of(&room)].control;
        let install = ShardCommand::Install {
            slot: Box::new(slot),
            record,
            prefer_local,
        };
        let (reply, done) = tokio::sync::oneshot::channel();
        if control.send(install).is_ok() && control.send(ShardCommand::Census { reply }).is_ok() {
            let _ = done.await;
        }
    }

    /// Stops the room at the tick it is at and snapshots it (the snapshot
    /// goes to the replica): the first step of handing it to another node.
    /// The tick, or `None` when the room is not loaded here.
    pub async fn freeze(&self, room: &RoomId) -> Option<u64> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let cmd = ShardCommand::Freeze {
            room: room.clone(),
            reply,
        };
        self.shards[self.shard_of(room)].control.send(cmd).ok()?;
        done.await.ok().flatten()
    }

    /// A join whose count against the user's rate came back: sent on to
    /// its room, or refused with why.
    pub fn join_counted(
        &self,
        room: &RoomId,
        join: Box<ShardCommand>,
        verdict: Result<(), ErrorBody>,
    ) {
        let join = *join;
        let refused = match verdict {
            Err(e) => Some((join, e)),
            Ok(()) => {
                let ShardCommand::Submit { conn, msg, .. } = &join else {
                    return;
                };
                let (conn, seq) = (conn.clone(), msg.seq());
                match self.send(room, join) {
                    Ok(()) => None,
                    Err(e) => {
                        conn.set_room(None);
                        if let Some(seq) = seq {
                            let reject = super::shard::reject(seq, e);
                            if let Ok(frame) =
                                tickroom_net::OutFrame::encode(conn.codec, &reject, true)
                            {
                                conn.push(frame);
                            }
                        }
                        None
                    }
                }
            }
        };
        if let Some((join, e)) = refused {
            super::ownership::refuse(join, &e);
        }
    }

    /// An operators' notice to everyone in every room on this node.
    pub fn notice(&self, text: String, from: String) {
        let msg = tickroom_protocol::ServerMessage::Notice { text, from };
        for shard in &self.shards {
            let _ = shard
                .control
                .send(ShardCommand::Notice { msg: msg.clone() });
        }
    }

    /// Whether this node runs `room` now (cluster mode: holds its lease).
    pub fn owns(&self, room: &RoomId) -> bool {
        self.ownership
            .as_ref()
            .is_none_or(|o| o.epoch(room).is_some())
    }

    /// Undoes [`RoomRouter::freeze`]: the room ticks on here.
    pub fn thaw(&self, room: &RoomId) {
        let _ = self.shards[self.shard_of(room)]
            .control
            .send(ShardCommand::Thaw { room: room.clone() });
    }

    /// Asks the room's tick thread for a snapshot now (cluster mode: the
    /// replica lost its base).
    pub fn snapshot_now(&self, room: &RoomId) {
        let _ = self.shards[self.shard_of(room)]
            .control
            .send(ShardCommand::SnapshotNow { room: room.clone() });
    }

    /// The room's lease was lost: it stops here at once, and its members
    /// are told with `error` (where it went). Returns once the room's tick
    /// thread has stopped it, so that nothing moves the lease fence on
    /// (letting rooms tick again) while a lost room could still run.
    pub async fn lose(&self, room: &RoomId, error: ErrorBody) {
        let Some(ownership) = &self.ownership else {
            return;
        };
        if !ownership.lose(room, error.clone()) {
            return;
        }
        let control = &self.shards[self.shard_of(room)].control;
        let evict = ShardCommand::Evict {
            room: room.clone(),
            error,
        };
        let (reply, done) = tokio::sync::oneshot::channel();
        if control.send(evict).is_ok() && control.send(ShardCommand::Census { reply }).is_ok() {
            let _ = done.await;
        }
    }

    /// The shard that owns `room`: a fixed hash, so the owner never changes.
    pub fn shard_of(&self, room: &RoomId) -> usize {
        shard_index(room, self.shards.len())
    }

    /// Seats rebuilt from the store: their sessions are unknown after a
    /// restart, so a resume finds its seat by the token's user instead.
    pub fn remember_restored_seats(&self, seats: Vec<(String, RoomId)>) {
        let mut s = self.sessions();
        for (user, room) in seats {
            s.restored.entry(user).or_insert(room);
        }
    }

    fn new_room_id(&self) -> RoomId {
        let n = self.next_room.fetch_add(1, Ordering::Relaxed);
        let h = xxhash_rust::xxh3::xxh3_64(&[self.nonce.to_le_bytes(), n.to_le_bytes()].concat());
        RoomId::from(format!("r{:012x}", h & 0xffff_ffff_ffff))
    }

    /// Sends a command to the room's tick thread once the room is this
    /// node's (at once outside cluster mode).
    fn send(&self, room: &RoomId, cmd: ShardCommand) -> Result<(), ErrorBody> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(ErrorBody::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down",
            ));
        }
        let cmd = match &self.ownership {
            None => cmd,
            Some(ownership) => match ownership.admit(room, cmd) {
                super::ownership::Admission::Pass(cmd) => cmd,
                super::ownership::Admission::Held => return Ok(()),
                super::ownership::Admission::Refused(e) => return Err(e),
            },
        };
        self.forward(room, cmd)
    }

    /// Puts a command on the room's tick thread's queue: requests on the
    /// bounded one, closes and resumes on the control one.
    fn forward(&self, room: &RoomId, cmd: ShardCommand) -> Result<(), ErrorBody> {
        let shard = &self.shards[self.shard_of(room)];
        if matches!(
            cmd,
            ShardCommand::Closed { .. } | ShardCommand::Resume { .. }
        ) {
            return shard.control.send(cmd).map_err(|_| {
                ErrorBody::new(ErrorCode::ShuttingDown, "the server is shutting down")
            });
        }
        match shard.requests.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(ErrorBody::new(
                ErrorCode::ServerBusy,
                "the server is busy; nothing was applied, retry shortly",
            )),
            Err(TrySendError::Disconnected(_)) => Err(ErrorBody::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down",
            )),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, SessionRooms> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember_session(&self, conn: &Arc<ConnHandle>, room: &RoomId) {
        let Some(identity) = conn.identity() else {
            return;
        };
        if let Some(ownership) = &self.ownership {
            ownership.note_seat(identity.user.clone(), room.clone());
        }
        let mut s = self.sessions();
        s.rooms
            .insert(identity.session, SessionEntry::new(room.clone(), conn));
        s.inserts += 1;
        if s.inserts.is_multiple_of(256) {
            self.sweep(&mut s, Instant::now());
        }
    }

    /// Forgets sessions closed longer ago than the grace period (and a
    /// minute): their seats are gone. Called by the server's housekeeping.
    pub fn sweep_sessions(&self, now: Instant) {
        let mut s = self.sessions();
        self.sweep(&mut s, now);
    }

    fn sweep(&self, s: &mut SessionRooms, now: Instant) {
        let grace = self.grace + Duration::from_secs(60);
        s.rooms.retain(|_, e| {
            // An owner that is gone without a close on record (its
            // session moved on, e.g. after a failed resume) ages too.
            if e.closed.is_none() && e.live.as_ref().is_none_or(|c| c.is_gone()) {
                e.close(now);
            }
            e.closed.is_none_or(|t| now.duration_since(t) < grace)
        });
        // A map that held a burst keeps its table after the burst is gone.
        if s.rooms.capacity() > 64 && s.rooms.len() < s.rooms.capacity() / 4 {
            s.rooms.shrink_to_fit();
        }
    }

    /// Sessions remembered, and the map's capacity (for tests).
    #[cfg(test)]
    fn session_count(&self) -> (usize, usize) {
        let s = self.sessions();
        (s.rooms.len(), s.rooms.capacity())
    }

    /// Public rooms in id order, after `after`, at most `limit`; asks every
    /// tick thread (they own the rooms) and merges their pages.
    pub async fn list_rooms(
        &self,
        after: Option<RoomId>,
        limit: usize,
    ) -> Vec<super::shard::RoomSummary> {
        let mut waits = Vec::new();
        for shard in &self.shards {
            let (reply, wait) = tokio::sync::oneshot::channel();
            let cmd = ShardCommand::List {
                after: after.clone(),
                limit,
                reply,
            };
            if shard.control.send(cmd).is_ok() {
                waits.push(wait);
            }
        }
        let mut rooms = Vec::new();
        for wait in waits {
            rooms.extend(wait.await.unwrap_or_default());
        }
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        rooms.truncate(limit);
        rooms
    }

    /// An HTTP API operation, answered by the tick thread that owns the
    /// room (archive and kick after the tick that applied them). Creating
    /// without an id picks one.
    pub async fn admin(
        &self,
        room: Option<RoomId>,
        op: super::admin::AdminOp,
    ) -> super::admin::AdminResult {
        let room = match room {
            Some(r) if !r.is_valid() => return Err(invalid_room_id()),
            Some(r) => r,
            None => self.new_room_id(),
        };
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.send(
            &room,
            ShardCommand::Admin {
                room: room.clone(),
                op,
                reply,
            },
        )?;
        wait.await.unwrap_or_else(|_| {
            Err(ErrorBody::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down",
            ))
        })
    }

    /// Rooms by phase, members and unloaded rooms over every tick thread.
    pub async fn census(&self) -> super::shard::Census {
        let mut waits = Vec::new();
        for shard in &self.shards {
            let (reply, wait) = tokio::sync::oneshot::channel();
            if shard.control.send(ShardCommand::Census { reply }).is_ok() {
                waits.push(wait);
            }
        }
        let mut total = super::shard::Census::default();
        for wait in waits {
            if let Ok(c) = wait.await {
                total.add(&c);
            }
        }
        total
    }

    /// How long each tick thread took to answer a probe on its control
    /// channel, or `None` when it did not answer within `limit` (stuck, or
    /// gone).
    pub async fn probe_shards(&self, limit: Duration) -> Vec<Option<Duration>> {
        let mut answers = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (reply, wait) = tokio::sync::oneshot::channel();
            let sent = std::time::Instant::now();
            let answered = shard.control.send(ShardCommand::Census { reply }).is_ok()
                && matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)));
            answers.push(answered.then(|| sent.elapsed()));
        }
        answers
    }

    /// Stops every tick thread after its current tick.
    pub fn shutdown(&self) {
        // From now on requests are refused with SHUTTING_DOWN instead of
        // queued behind a tick thread that is about to stop.
        self.shutting_down.store(true, Ordering::Release);
        for shard in &self.shards {
            let _ = shard.control.send(ShardCommand::Shutdown);
        }
    }
}

fn invalid_room_id() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidArgument,
        "room ids are 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
    )
    .with("field", "room")
}

impl Router for RoomRouter {
    fn submit(&self, conn: &Arc<ConnHandle>, msg: ClientMessage) -> Result<(), ErrorBody> {
        let (msg, open_as) = self.reserved_join(msg)?;
        // A connection routed to a room (seated, or its join on the way)
        // creates none: refused before anything is created.
        if let (ClientMessage::CreateRoom { .. }, Some(current)) = (&msg, conn.room()) {
            return Err(ErrorBody::new(
                ErrorCode::AlreadyInRoom,
                format!("this connection sits in room {current}; leave it before creating one"),
            )
            .with("room", current.as_str()));
        }
        let room = match &msg {
            ClientMessage::CreateRoom { room: Some(r), .. }
            | ClientMessage::JoinRoom { room: r, .. } => {
                if !r.is_valid() {
                    return Err(invalid_room_id());
                }
                r.clone()
            }
            ClientMessage::CreateRoom { room: None, .. } => self.new_room_id(),
            _ => conn
                .room()
                .ok_or_else(|| ErrorBody::new(ErrorCode::NotInRoom, "join a room first"))?,
        };
        let msg = match msg {
            ClientMessage::CreateRoom {
                seq,
                room: None,
                config,
                private,
            } => ClientMessage::CreateRoom {
                seq,
                room: Some(room.clone()),
                config,
                private,
            },
            ClientMessage::JoinRoom { .. } => {
                if conn.room().is_some_and(|r| r != room) {
                    return Err(ErrorBody::new(
                        ErrorCode::AlreadyInRoom,
                        "leave your room before joining another",
                    ));
                }
                if let Some(mode) = open_as {
                    // The room matchmaking made for the reservation opens
                    // with its first reserved player.
                    self.send(
                        &room,
                        ShardCommand::Open {
                            room: room.clone(),
                            mode,
                        },
                    )?;
                }
                // Route before sending: the room's reply may come back at
                // once. Undone if the send fails.
                let before = conn.room();
                conn.set_room(Some(room.clone()));
                let join = Box::new(ShardCommand::Submit {
                    conn: conn.clone(),
                    room: room.clone(),
                    msg,
                });
                // Cluster mode: counted against the user's join rate first.
                let counted = match (&self.ownership, conn.identity()) {
                    (Some(o), Some(identity)) if !self.shutting_down.load(Ordering::Acquire) => {
                        o.count_join(identity.user, &room, join)
                    }
                    _ => Err(join),
                };
                let sent = match counted {
                    Ok(()) => Ok(()),
                    Err(join) => self.send(&room, *join),
                };
                match &sent {
                    Ok(()) => self.remember_session(conn, &room),
                    Err(_) => conn.set_room(before),
                }
                return sent;
            }
            other => other,
        };
        self.send(
            &room,
            ShardCommand::Submit {
                conn: conn.clone(),
                room: room.clone(),
                msg,
            },
        )
    }

    fn closed(&self, conn: &Arc<ConnHandle>) {
        // Only the connection holding the session marks it closed: after a
        // takeover, the old connection's close must not age the live entry.
        if let Some(identity) = conn.identity()
            && let Some(entry) = self.sessions().rooms.get_mut(&identity.session)
            && entry.owner == conn.id
        {
            entry.close(Instant::now());
        }
        if let Some(room) = conn.room() {
            let cmd = ShardCommand::Closed {
                conn: conn.clone(),
                room: room.clone(),
            };
            // A close comes after whatever the connection sent; in cluster
            // mode that may still wait for the room's lease.
            let _ = match &self.ownership {
                Some(ownership) => match ownership.admit(&room, cmd) {
                    super::ownership::Admission::Pass(cmd) => self.forward(&room, cmd),
                    _ => Ok(()),
                },
                None => self.forward(&room, cmd),
            };
        }
    }

    fn resume(&self, conn: &Arc<ConnHandle>) -> Result<(), ErrorBody> {
        self.resume_session(conn)
    }
}

impl RoomRouter {
    /// A resume the seat directory located in `room` (cluster mode):
    /// routed like a resume of a session this node knew, through the
    /// room's lease (claimed, and the room rebuilt here, if it is nobody's
    /// now; answered with where it is if it is another node's). `None`:
    /// the directory knows no seat; the session starts afresh.
    pub fn resume_in(&self, conn: &Arc<ConnHandle>, room: Result<Option<RoomId>, ErrorBody>) {
        let room = room.and_then(|r| {
            r.ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::ResumeFailed,
                    "this session has no seat to resume",
                )
            })
        });
        let room = match room {
            Ok(room) => room,
            Err(error) => {
                conn.set_room(None);
                let _ = self.shards[0].control.send(ShardCommand::ResumeRefused {
                    conn: conn.clone(),
                    error,
                });
                return;
            }
        };
        if let Some(identity) = conn.identity() {
            self.sessions()
                .restored
                .entry(identity.user)
                .or_insert(room.clone());
        }
        if let Err(error) = self.resume_session(conn) {
            let _ = self.shards[self.shard_of(&room)]
                .control
                .send(ShardCommand::ResumeRefused {
                    conn: conn.clone(),
                    error,
                });
        }
    }

    fn resume_session(&self, conn: &Arc<ConnHandle>) -> Result<(), ErrorBody> {
        let failed = || {
            ErrorBody::new(
                ErrorCode::ResumeFailed,
                "this session has no seat to resume",
            )
        };
        let identity = conn.identity().ok_or_else(failed)?;
        let room = {
            let mut s = self.sessions();
            match s.rooms.get_mut(&identity.session) {
                Some(entry) => {
                    let room = entry.room.clone();
                    *entry = SessionEntry::new(room.clone(), conn);
                    room
                }
                None => {
                    // After a restart, or a room that moved here: the seat
                    // was rebuilt with its user. In a cluster, a session
                    // this node never saw may sit in a room that moved
                    // (or is moving) here, or elsewhere: the seat
                    // directory says which.
                    let Some(room) = s.restored.remove(&identity.user) else {
                        drop(s);
                        return match &self.ownership {
                            Some(ownership) if ownership.locate(conn.clone()) => Ok(()),
                            _ => Err(failed()),
                        };
                    };
                    s.rooms.insert(
                        identity.session.clone(),
                        SessionEntry::new(room.clone(), conn),
                    );
                    room
                }
            }
        };
        conn.set_room(Some(room.clone()));
        // The control queue: a resume is at most one per hello.
        let cmd = ShardCommand::Resume {
            conn: conn.clone(),
            room: room.clone(),
        };
        let cmd = match &self.ownership {
            None => cmd,
            Some(ownership) => match ownership.admit(&room, cmd) {
                super::ownership::Admission::Pass(cmd) => cmd,
                super::ownership::Admission::Held => return Ok(()),
                super::ownership::Admission::Refused(e) => {
                    conn.set_room(None);
                    return Err(e);
                }
            },
        };
        self.forward(&room, cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickroom_protocol::board::Intent;
    use tickroom_protocol::{Codec, TeamId};

    /// A router over one tick thread that never drains: its request queue
    /// holds one command.
    fn stalled_router() -> (RoomRouter, crossbeam_channel::Receiver<ShardCommand>) {
        let (requests, rx) = crossbeam_channel::bounded(1);
        let (control, _) = crossbeam_channel::unbounded();
        let control = super::super::shard::Control::unattended(control);
        let router = RoomRouter::new(
            vec![ShardQueues { requests, control }],
            Duration::from_secs(1),
        );
        (router, rx)
    }

    #[test]
    fn a_full_queue_answers_server_busy_and_applies_nothing() {
        let (router, rx) = stalled_router();
        let conn = ConnHandle::detached(ConnId(1), Codec::Json);
        conn.set_room(Some(RoomId::from("r")));
        let chat = |seq| ClientMessage::intent(seq, Intent::Chat { text: "x".into() });
        assert_eq!(router.submit(&conn, chat(1)), Ok(()));
        let busy = router.submit(&conn, chat(2)).unwrap_err();
        assert_eq!(busy.code, ErrorCode::ServerBusy);
        assert_eq!(rx.len(), 1, "the refused request was not queued");
    }

    #[test]
    fn a_busy_join_leaves_the_connection_free_to_try_again() {
        let (router, _rx) = stalled_router();
        let conn = ConnHandle::detached(ConnId(2), Codec::Json);
        let filler = ConnHandle::detached(ConnId(3), Codec::Json);
        filler.set_room(Some(RoomId::from("r")));
        router
            .submit(&filler, ClientMessage::Leave { seq: 1 })
            .unwrap();
        let join = ClientMessage::JoinRoom {
            seq: 1,
            room: RoomId::from("r"),
            name: "n".into(),
            team: Some(TeamId(0)),
        };
        assert_eq!(
            router.submit(&conn, join).unwrap_err().code,
            ErrorCode::ServerBusy
        );
        assert_eq!(conn.room(), None, "not routed to a room it never reached");
    }

    /// A flood of sessions that join and close: the map lets go of every
    /// closed connection at once, forgets the sessions after the grace
    /// period even with no new session to trigger a sweep, and gives its
    /// table back.
    #[test]
    fn closed_sessions_let_go_of_their_connections_and_are_swept() {
        let (requests, rx) = crossbeam_channel::bounded(4096);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let control = super::super::shard::Control::unattended(control);
        let router = RoomRouter::new(
            vec![ShardQueues { requests, control }],
            Duration::from_secs(1),
        );
        let conns: Vec<_> = (0..1000)
            .map(|i| {
                let conn = ConnHandle::detached_as(
                    ConnId(i),
                    Codec::Json,
                    tickroom_net::Identity {
                        user: format!("u{i}"),
                        name: None,
                        not_after: None,
                        role: None,
                        session: format!("s{i}"),
                    },
                );
                let join = ClientMessage::JoinRoom {
                    seq: 1,
                    room: RoomId::from("r"),
                    name: "n".into(),
                    team: None,
                };
                router.submit(&conn, join).unwrap();
                conn
            })
            .collect();
        // The room's side is not under test: what was queued for it goes.
        while rx.try_recv().is_ok() {}
        assert_eq!(router.session_count().0, 1000);
        for conn in &conns {
            conn.mark_gone();
            router.closed(conn);
        }
        while control_rx.try_recv().is_ok() {}
        for conn in &conns {
            assert_eq!(
                Arc::strong_count(conn),
                1,
                "the session map let go of the closed connection"
            );
        }
        router.sweep_sessions(Instant::now());
        assert_eq!(router.session_count().0, 1000, "kept for the grace period");
        router.sweep_sessions(Instant::now() + Duration::from_secs(62));
        let (len, capacity) = router.session_count();
        assert_eq!(len, 0, "forgotten after the grace period and a minute");
        assert!(capacity < 64, "the table was given back: {capacity}");
    }

    #[test]
    fn requests_after_shutdown_are_refused_with_shutting_down() {
        let (router, _rx) = stalled_router();
        router.shutdown();
        let conn = ConnHandle::detached(ConnId(4), Codec::Json);
        conn.set_room(Some(RoomId::from("r")));
        let err = router
            .submit(&conn, ClientMessage::Leave { seq: 1 })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ShuttingDown);
    }
}
