//! A connection as the rest of the server sees it: an id, its codec, who it
//! is, and a bounded outbound queue that any thread can push into without
//! blocking.

use crate::outbound::{OutFrame, PushOutcome};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickroom_protocol::{Codec, ErrorCode, Role, RoomId};
use tokio::sync::Notify;

/// Milliseconds since the first call: a cheap monotonic clock that fits in
/// an atomic.
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Who the client is, established by `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable user id: from the join token, or the session id when anonymous.
    pub user: String,
    /// The display name from the join token, which wins over `join_room`'s.
    pub name: Option<String>,
    /// When the join token this identity came from expires (seconds since
    /// the Unix epoch); resume tokens never outlive it. `None`: anonymous.
    pub not_after: Option<u64>,
    /// The role the token grants; `None` for anonymous play.
    pub role: Option<Role>,
    pub session: String,
}

/// Why the server closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: ErrorCode,
    pub reason: String,
}

pub struct ConnHandle {
    pub id: ConnId,
    pub codec: Codec,
    pub peer: SocketAddr,
    identity: Mutex<Option<Identity>>,
    out: crate::out_queue::Sender,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    /// When the queue last drained (or last became non-empty), in ms since
    /// the process started: a queue that has not drained for
    /// `stall_timeout` belongs to a slow consumer.
    last_drained_ms: AtomicU64,
    stall_timeout: Duration,
    close: Mutex<Option<CloseReason>>,
    close_notify: Notify,
    /// The tick of the room the connection sits in, for pongs.
    room_clock: Mutex<Option<Arc<crate::RoomClock>>>,
    /// The room this connection's room requests go to (its last join).
    room: Mutex<Option<RoomId>>,
    /// The intent kinds of that room's mode, for rate limiting.
    intents: Mutex<Option<tickroom_protocol::IntentTable>>,
    /// Set when the connection's task is done with it, before the router
    /// hears of the close: a seat must never be bound to it afterwards.
    gone: std::sync::atomic::AtomicBool,
    /// One more than the highest request seq of the session (0: none yet):
    /// the lowest seq its next request may carry. Raised by the connection's
    /// task for each request and by a resume to the seat's last applied seq.
    next_seq: AtomicU64,
    meter: crate::stats::Meter,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("codec", &self.codec)
            .field("peer", &self.peer)
            .finish()
    }
}

/// The receiving end of a connection's queue, owned by its writer task.
pub(crate) struct OutQueue {
    pub rx: crate::out_queue::Receiver,
}

impl ConnHandle {
    pub(crate) fn new(
        id: ConnId,
        codec: Codec,
        peer: SocketAddr,
        max_frames: usize,
        max_bytes: usize,
        stall_timeout: Duration,
        meter: crate::stats::Meter,
    ) -> (Arc<ConnHandle>, OutQueue) {
        let (out, rx) = crate::out_queue::queue(max_frames);
        let handle = Arc::new(ConnHandle {
            id,
            codec,
            peer,
            identity: Mutex::new(None),
            out,
            queued_bytes: AtomicUsize::new(0),
            max_bytes,
            last_drained_ms: AtomicU64::new(now_ms()),
            stall_timeout,
            close: Mutex::new(None),
            close_notify: Notify::new(),
            room_clock: Mutex::new(None),
            room: Mutex::new(None),
            intents: Mutex::new(None),
            gone: std::sync::atomic::AtomicBool::new(false),
            next_seq: AtomicU64::new(0),
            meter,
        });
        (handle, OutQueue { rx })
    }

    /// Queues a frame without blocking; safe from any thread. A critical
    /// frame that does not fit (frames or bytes) closes the connection with
    /// SLOW_CONSUMER instead of being dropped.
    pub fn push(&self, frame: OutFrame) -> PushOutcome {
        if self.closing().is_some() {
            return PushOutcome::Gone;
        }
        let len = frame.payload.len();
        let critical = frame.critical;
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        let now = now_ms();
        if queued == 0 {
            self.last_drained_ms.store(now, Ordering::Relaxed);
        } else if critical
            && now.saturating_sub(self.last_drained_ms.load(Ordering::Relaxed))
                > self.stall_timeout.as_millis() as u64
        {
            self.close_with(
                ErrorCode::SlowConsumer,
                "the connection stopped reading; resume for a fresh snapshot",
            );
            return PushOutcome::SlowConsumer;
        }
        let over_bytes = queued + len > self.max_bytes;
        let refused = if over_bytes {
            true
        } else {
            // Counted before the frame is visible to the writer: the writer
            // may pop it and call `sent` before `try_send` even returns, and
            // counting after would let the counter wrap below zero.
            self.queued_bytes.fetch_add(len, Ordering::Relaxed);
            match self.out.try_send(frame) {
                Ok(()) => {
                    self.meter.queued(len as i64);
                    return PushOutcome::Queued;
                }
                Err(crate::out_queue::Refused::Full) => {
                    self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                    true
                }
                Err(crate::out_queue::Refused::Closed) => {
                    self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                    return PushOutcome::Gone;
                }
            }
        };
        debug_assert!(refused);
        if critical {
            self.close_with(
                ErrorCode::SlowConsumer,
                "the connection did not keep up with its room; resume for a fresh snapshot",
            );
            PushOutcome::SlowConsumer
        } else {
            PushOutcome::Dropped
        }
    }

    /// Called by the writer after a frame left the queue.
    pub(crate) fn meter(&self) -> &crate::stats::Meter {
        &self.meter
    }

    pub(crate) fn sent(&self, len: usize) {
        self.meter.frame_out(len);
        self.meter.queued(-(len as i64));
        self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        self.last_drained_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Asks the connection's task to close with `code`; the first reason wins.
    pub fn close_with(&self, code: ErrorCode, reason: &str) {
        let mut close = self.close.lock().unwrap_or_else(|p| p.into_inner());
        if close.is_none() {
            if code == ErrorCode::SlowConsumer {
                self.meter
                    .stats()
                    .slow_consumers
                    .fetch_add(1, Ordering::Relaxed);
            }
            *close = Some(CloseReason {
                code,
                reason: reason.to_owned(),
            });
            self.close_notify.notify_one();
        }
    }

    pub fn closing(&self) -> Option<CloseReason> {
        self.close.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) async fn close_requested(&self) {
        if self.closing().is_none() {
            self.close_notify.notified().await;
        }
    }

    pub fn identity(&self) -> Option<Identity> {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_identity(&self, identity: Identity) {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = Some(identity);
    }

    /// Shares the room's tick with the connection, for pongs.
    pub fn set_room_clock(&self, clock: Option<Arc<crate::RoomClock>>) {
        *self.room_clock.lock().unwrap_or_else(|p| p.into_inner()) = clock;
    }

    pub fn room_tick(&self) -> u64 {
        self.room_clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |c| c.now())
    }

    /// The room this connection's requests are routed to.
    pub fn room(&self) -> Option<RoomId> {
        self.room.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_room(&self, room: Option<RoomId>) {
        if room.is_none() {
            self.set_intents(None);
        }
        *self.room.lock().unwrap_or_else(|p| p.into_inner()) = room;
    }

    /// The intent kinds of the mode of the room the connection sits in.
    pub fn intents(&self) -> Option<tickroom_protocol::IntentTable> {
        *self.intents.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_intents(&self, intents: Option<tickroom_protocol::IntentTable>) {
        *self.intents.lock().unwrap_or_else(|p| p.into_inner()) = intents;
    }

    /// Starts a new session for this connection's user (after a resume whose
    /// seat is gone): a new session id and resume token, no room.
    pub fn restart_session(
        &self,
        tokens: &crate::tokens::Tokens,
        modes: &[tickroom_protocol::ModeInfo],
    ) -> tickroom_protocol::ServerMessage {
        let mut identity = self.identity().unwrap_or_else(|| Identity {
            user: format!("c{}", self.id.0),
            name: None,
            role: None,
            session: String::new(),
            not_after: None,
        });
        identity.session = crate::tokens::new_session_id();
        let welcome = tickroom_protocol::ServerMessage::Welcome {
            session: identity.session.clone(),
            resume_token: tokens.issue_resume(&identity),
            versions: tickroom_protocol::supported_versions(),
            last_applied_seq: None,
            modes: modes.to_vec(),
        };
        self.set_identity(identity);
        self.set_room(None);
        self.set_room_clock(None);
        welcome
    }

    /// Takes `seq` for a request of this session: `Err(last)` when it is not
    /// greater than `last`, the highest seq the session has used.
    pub fn take_seq(&self, seq: u64) -> Result<(), u64> {
        let next = self.next_seq.load(Ordering::Acquire);
        if seq < next {
            return Err(next - 1);
        }
        self.next_seq
            .fetch_max(seq.saturating_add(1), Ordering::AcqRel);
        Ok(())
    }

    /// A resumed session continues the seat's numbering: its requests must
    /// carry seqs above `last_applied`.
    pub fn continue_seqs_after(&self, last_applied: u64) {
        self.next_seq
            .fetch_max(last_applied.saturating_add(1), Ordering::AcqRel);
    }

    /// Marks the connection as gone (its socket is closed or closing).
    pub fn mark_gone(&self) {
        self.gone.store(true, Ordering::Release);
    }

    /// True once the connection's task has let go of it.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// A connection with no socket behind it, for tests and tools: what is
    /// pushed to it is dropped (`PushOutcome::Gone`).
    pub fn detached(id: ConnId, codec: Codec) -> Arc<ConnHandle> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        let meter = crate::stats::Meter::new(Default::default(), crate::stats::Transport::Ws);
        ConnHandle::new(id, codec, peer, 1, 1024, Duration::from_secs(5), meter).0
    }

    /// [`ConnHandle::detached`] that said hello as `identity`.
    pub fn detached_as(id: ConnId, codec: Codec, identity: Identity) -> Arc<ConnHandle> {
        let conn = Self::detached(id, codec);
        conn.set_identity(identity);
        conn
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        // Frames still queued when the connection ends are never sent.
        self.meter
            .queued(-(self.queued_bytes.load(Ordering::Relaxed) as i64));
    }
}

/// Runs a write that a client which stopped reading can block forever.
/// Gives up (false) when the connection is asked to close, or when the write
/// has been stuck for the stall timeout, which makes it a slow consumer.
pub(crate) async fn unless_closed(
    conn: &ConnHandle,
    write: impl std::future::Future<Output = bool>,
) -> bool {
    tokio::select! {
        ok = write => ok,
        () = conn.close_requested() => false,
        () = tokio::time::sleep(conn.stall_timeout) => {
            conn.close_with(ErrorCode::SlowConsumer, "a write did not complete within the stall timeout");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Payload;
    use bytes::Bytes;

    /// The writer may take a frame off the queue and report it sent before
    /// `push` returns. The byte count must never go below zero (in a debug
    /// build that panicked the pushing thread, the tick or store thread).
    #[test]
    fn a_writer_racing_the_pusher_never_drives_the_byte_count_below_zero() {
        let meter = crate::stats::Meter::new(Default::default(), crate::stats::Transport::Ws);
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        let (conn, mut queue) = ConnHandle::new(
            ConnId(1),
            Codec::Postcard,
            peer,
            4,
            1 << 20,
            Duration::from_secs(60),
            meter,
        );
        const FRAMES: usize = 200_000;
        let writer = {
            let conn = conn.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                while seen < FRAMES {
                    match queue.rx.try_recv() {
                        Some(frame) => {
                            conn.sent(frame.payload.len());
                            seen += 1;
                        }
                        None => std::thread::yield_now(),
                    }
                }
            })
        };
        let mut pushed = 0;
        while pushed < FRAMES {
            let frame = OutFrame {
                payload: Payload::Binary(Bytes::from_static(b"0123456789")),
                critical: false,
            };
            match conn.push(frame) {
                PushOutcome::Queued => pushed += 1,
                PushOutcome::Dropped => std::thread::yield_now(),
                other => panic!("unexpected {other:?}"),
            }
            // At most the 4 queued frames and the one the writer holds.
            assert!(conn.queued_bytes() <= 5 * 10, "{}", conn.queued_bytes());
        }
        writer.join().unwrap();
        assert_eq!(conn.queued_bytes(), 0);
    }
}
