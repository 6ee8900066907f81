//! Which rooms this node may run, in cluster mode: a room is served only
//! under a lease this node holds. A request for a room whose lease is not
//! settled yet waits here, in order, while the cluster claims it; then it
//! goes on to the room's tick thread (granted), or is answered with why not
//! (another node owns it: `ROOM_ELSEWHERE`; Redis unreachable:
//! `CLUSTER_UNAVAILABLE`). A room whose lease is lost is stopped at once;
//! should it come back to this node later, it is rebuilt from its replica.
//!
//! This side knows nothing of Redis: it asks for claims through a channel
//! and is told how each settled ([`super::RoomRouter::settle`]).

use super::shard::ShardCommand;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tickroom_net::OutFrame;
use tickroom_protocol::{ClientMessage, ErrorBody, ErrorCode, RoomId};

enum Lease {
    /// Held under this fencing epoch.
    Owned { epoch: u64 },
    /// Being claimed; what arrived meanwhile, in order.
    Claiming { held: Vec<ShardCommand> },
    /// Another node's (or lost): answered with this error until then;
    /// after that, the next request claims the room again (its owner may
    /// have died or let it go).
    Gone(ErrorBody, Instant),
}

/// How long a room found to be another node's is answered from memory
/// before its lease is asked again.
const ELSEWHERE_FOR: Duration = Duration::from_millis(250);

/// How a claim settled.
pub enum Settled {
    Owned {
        epoch: u64,
    },
    /// Not this node's: every held request is answered with the error, and
    /// the room is stopped here if it was loaded (recovered at start).
    Elsewhere(ErrorBody),
    /// Could not be settled now (Redis unreachable): held requests are
    /// answered with the error; the next request claims again.
    Failed(ErrorBody),
}

/// What the router does with a command.
pub enum Admission {
    /// The room is this node's: on to its tick thread.
    Pass(ShardCommand),
    /// Held until the claim settles.
    Held,
    Refused(ErrorBody),
}

/// What the cluster side is asked to do for the room directory.
pub enum Ask {
    /// Claim the room's lease, and settle it.
    Claim(RoomId),
    /// Note in the cluster's seat directory that `user` sits in `room`.
    Seat { user: String, room: RoomId },
    /// Find where `conn`'s user sits (a resume of a session this node
    /// does not know: its room may have moved here, or be elsewhere).
    Locate(std::sync::Arc<tickroom_net::ConnHandle>),
    /// Count `user`'s join against the cluster's rate, then send `join`
    /// to `room` ([`super::RoomRouter::join_counted`]).
    Join {
        user: String,
        room: RoomId,
        join: Box<ShardCommand>,
    },
}

pub struct Ownership {
    leases: Mutex<HashMap<RoomId, Lease>>,
    claims: tokio::sync::mpsc::UnboundedSender<Ask>,
    claiming: std::sync::atomic::AtomicUsize,
    max_claiming: usize,
    claim_queue: usize,
    /// Joins are counted against the cluster's per-user rate.
    count_joins: bool,
    pub fence: LeaseFence,
    /// Draining: no room is claimed here any more.
    draining: std::sync::atomic::AtomicBool,
    /// Asks for a renewal of every lease at once (a claim granted past the
    /// fence: the other rooms' leases must be confirmed before any ticks).
    pub renew_now: tokio::sync::Notify,
}

impl Ownership {
    /// `claims` receives each room to claim, once per settle.
    pub fn new(
        claims: tokio::sync::mpsc::UnboundedSender<Ask>,
        max_claiming: usize,
        claim_queue: usize,
        count_joins: bool,
    ) -> Ownership {
        Ownership {
            leases: Mutex::default(),
            claims,
            claiming: Default::default(),
            max_claiming,
            claim_queue,
            count_joins,
            fence: LeaseFence::new(),
            renew_now: tokio::sync::Notify::new(),
            draining: Default::default(),
        }
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Lease>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rooms recovered from the store: claimed before they run.
    pub fn claim_recovered(&self, rooms: impl IntoIterator<Item = RoomId>) {
        let mut leases = self.leases();
        for room in rooms {
            self.claiming.fetch_add(1, Ordering::AcqRel);
            leases.insert(room.clone(), Lease::Claiming { held: Vec::new() });
            let _ = self.claims.send(Ask::Claim(room));
        }
    }

    /// Rooms a dead node left that nobody holds: claimed (and rebuilt from
    /// their replicas) unless this node already knows them or is draining.
    pub fn claim_orphans(&self, rooms: impl IntoIterator<Item = RoomId>) {
        if self.draining.load(Ordering::Acquire) {
            return;
        }
        let mut leases = self.leases();
        for room in rooms {
            if leases.contains_key(&room)
                || self.claiming.load(Ordering::Acquire) >= self.max_claiming
            {
                continue;
            }
            self.claiming.fetch_add(1, Ordering::AcqRel);
            leases.insert(room.clone(), Lease::Claiming { held: Vec::new() });
            let _ = self.claims.send(Ask::Claim(room));
        }
    }

    /// Lets `cmd` through, holds it while `room`'s lease is claimed
    /// (starting the claim), or refuses it.
    pub fn admit(&self, room: &RoomId, cmd: ShardCommand) -> Admission {
        let mut leases = self.leases();
        if let Some(Lease::Gone(_, until)) = leases.get(room)
            && *until <= Instant::now()
        {
            leases.remove(room);
        }
        match leases.get_mut(room) {
            Some(Lease::Owned { .. }) => Admission::Pass(cmd),
            Some(Lease::Gone(e, _)) => Admission::Refused(e.clone()),
            Some(Lease::Claiming { held }) => {
                if held.len() >= self.claim_queue {
                    return Admission::Refused(busy("requests for this room wait for its lease"));
                }
                held.push(cmd);
                Admission::Held
            }
            None => {
                if matches!(cmd, ShardCommand::Closed { .. }) {
                    // Nothing of a room this node never ran to close.
                    return Admission::Held;
                }
                if self.draining.load(Ordering::Acquire) {
                    return Admission::Refused(ErrorBody::new(
                        ErrorCode::ShuttingDown,
                        "this node is draining and opens no room; use another node",
                    ));
                }
                let claiming = self.claiming.load(Ordering::Acquire);
                if claiming >= self.max_claiming {
                    return Admission::Refused(busy("too many rooms wait for their leases"));
                }
                if self.claims.send(Ask::Claim(room.clone())).is_err() {
                    return Admission::Refused(ErrorBody::new(
                        ErrorCode::ShuttingDown,
                        "the server is shutting down",
                    ));
                }
                self.claiming.fetch_add(1, Ordering::AcqRel);
                leases.insert(room.clone(), Lease::Claiming { held: vec![cmd] });
                Admission::Held
            }
        }
    }

    /// Has `user`'s join counted against the cluster's rate before it goes
    /// on; false when joins are not counted (the caller sends it).
    pub fn count_join(
        &self,
        user: String,
        room: &RoomId,
        join: Box<ShardCommand>,
    ) -> Result<(), Box<ShardCommand>> {
        if !self.count_joins {
            return Err(join);
        }
        let ask = Ask::Join {
            user,
            room: room.clone(),
            join,
        };
        self.claims.send(ask).map_err(|e| match e.0 {
            Ask::Join { join, .. } => join,
            _ => unreachable!("sent a join"),
        })
    }

    /// Notes in the cluster's seat directory where `user` sits.
    pub fn note_seat(&self, user: String, room: RoomId) {
        let _ = self.claims.send(Ask::Seat { user, room });
    }

    /// Asks the cluster where `conn`'s user sits; the answer resumes it
    /// ([`super::RoomRouter::resume_in`]) or refuses the resume.
    pub fn locate(&self, conn: std::sync::Arc<tickroom_net::ConnHandle>) -> bool {
        self.claims.send(Ask::Locate(conn)).is_ok()
    }

    /// Settles `room`'s claim; returns what was held for it, to pass on
    /// (owned) or refuse, while the lock on the leases is still held by
    /// `with` (so nothing newer overtakes it).
    pub fn settle(&self, room: &RoomId, how: &Settled, with: impl FnOnce(Vec<ShardCommand>)) {
        let mut leases = self.leases();
        let held = match leases.get_mut(room) {
            Some(Lease::Claiming { held }) => std::mem::take(held),
            _ => return,
        };
        self.claiming.fetch_sub(1, Ordering::AcqRel);
        match how {
            Settled::Owned { epoch } => {
                leases.insert(room.clone(), Lease::Owned { epoch: *epoch });
            }
            Settled::Elsewhere(e) => {
                leases.insert(
                    room.clone(),
                    Lease::Gone(e.clone(), Instant::now() + ELSEWHERE_FOR),
                );
            }
            Settled::Failed(_) => {
                leases.remove(room);
            }
        }
        with(held);
    }

    /// The room's lease is lost: from now on it is refused with `error`.
    /// True when the room was this node's until now.
    pub fn lose(&self, room: &RoomId, error: ErrorBody) -> bool {
        let mut leases = self.leases();
        let was_owned = matches!(leases.get(room), Some(Lease::Owned { .. }));
        if was_owned {
            leases.insert(
                room.clone(),
                Lease::Gone(error, Instant::now() + ELSEWHERE_FOR),
            );
        }
        was_owned
    }

    /// Every room this node owns, with its epoch (for the renewals).
    pub fn owned(&self) -> Vec<(RoomId, u64)> {
        self.leases()
            .iter()
            .filter_map(|(room, lease)| match lease {
                Lease::Owned { epoch } => Some((room.clone(), *epoch)),
                _ => None,
            })
            .collect()
    }
}

impl Ownership {
    /// From now on this node claims no room (it is handing its rooms off).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// The epoch this node holds `room` under, if it does.
    pub fn epoch(&self, room: &RoomId) -> Option<u64> {
        match self.leases().get(room) {
            Some(Lease::Owned { epoch }) => Some(*epoch),
            _ => None,
        }
    }
}

fn busy(what: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ServerBusy,
        format!("the server is busy: {what}; nothing was applied, retry shortly"),
    )
}

/// Answers a command that will not reach a room. A resume is answered by
/// the tick thread (it gives the session a fresh start), so it is returned.
pub fn refuse(cmd: ShardCommand, error: &ErrorBody) -> Option<ShardCommand> {
    match cmd {
        ShardCommand::Submit { conn, msg, .. } => {
            if matches!(msg, ClientMessage::JoinRoom { .. }) {
                conn.set_room(None);
            }
            if let Some(seq) = msg.seq() {
                let reject = super::shard::reject(seq, error.clone());
                match OutFrame::encode(conn.codec, &reject, true) {
                    Ok(frame) => {
                        conn.push(frame);
                    }
                    Err(e) => tracing::error!(error = %e, "could not encode a reply"),
                }
            }
            None
        }
        ShardCommand::Admin { reply, .. } => {
            let _ = reply.send(Err(error.clone()));
            None
        }
        ShardCommand::Resume { conn, .. } => {
            conn.set_room(None);
            Some(ShardCommand::ResumeRefused {
                conn,
                error: error.clone(),
            })
        }
        _ => None,
    }
}

/// How long this node's leases are good for on its own clock: the last
/// renewal's send time plus most of the lease TTL. Rooms do not tick past
/// it, so a node that was paused (or cut off) past its leases' TTL runs
/// nothing on them — and writes nothing — before it has heard from Redis
/// whether they are still its own.
pub struct LeaseFence {
    base: Instant,
    /// Milliseconds after `base`; 0: no lease yet.
    until_ms: AtomicU64,
}

impl LeaseFence {
    fn new() -> LeaseFence {
        LeaseFence {
            base: Instant::now(),
            until_ms: AtomicU64::new(0),
        }
    }

    /// The leases hold until `until` (never moves back).
    pub fn hold_until(&self, until: Instant) {
        let ms = until.saturating_duration_since(self.base).as_millis() as u64;
        self.until_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// How long ticks may run from `now`; zero: not at all now.
    pub fn left(&self, now: Instant) -> Duration {
        let until = self.base + Duration::from_millis(self.until_ms.load(Ordering::Acquire));
        until.saturating_duration_since(now)
    }
}
