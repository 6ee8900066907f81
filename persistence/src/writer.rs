//! The store's own thread. The tick threads hand it writes through a
//! bounded channel and never wait; it commits them in groups (one
//! transaction per batch or per interval), retries failures with backoff
//! behind a circuit breaker, parks what it cannot write in the dead-letter
//! file (oldest first; in memory only what the file cannot take, up to a
//! bound past which mutations are refused), and replays both, in order,
//! once the store recovers.

use crate::breaker::Breaker;
use crate::config::StoreConfig;
use crate::dead_letter::DeadLetter;
use crate::health::{RoomProgress, StoreHealth};
use crate::model::Write;
use crate::schema::{self, OpenOptions};
use crate::{StoreError, commit, retention};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Writes read back from the dead-letter file per commit: a drain commit
/// holds the store thread, and what arrives meanwhile waits in the channel.
const DRAIN_CHUNK: usize = 256;

/// Called once the write is committed (`Ok`) or could not be (`Err`, with
/// the reason); runs on the store thread and must not block.
pub type OnCommit = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write on its way to the store.
pub struct Pending {
    pub write: Write,
    /// The room's progress, advanced when the write settles.
    pub progress: Option<Arc<RoomProgress>>,
    /// For writes acknowledged only once durable (formation saves).
    pub on_commit: Option<OnCommit>,
}

impl Pending {
    pub fn new(write: Write) -> Pending {
        Pending {
            write,
            progress: None,
            on_commit: None,
        }
    }

    fn settle(&mut self, result: Result<(), String>) {
        if let (Some(p), Some(t)) = (&self.progress, self.write.tick()) {
            match result {
                Ok(()) => p.mark_committed(t),
                Err(_) => p.mark_settled(t),
            }
        }
        if let Some(f) = self.on_commit.take() {
            f(result);
        }
    }
}

enum Msg {
    Write(Pending),
    Flush(Sender<Result<(), String>>),
    Stop,
}

/// The handle the server holds.
pub struct Store {
    tx: Sender<Msg>,
    health: Arc<StoreHealth>,
    thread: Mutex<Option<JoinHandle<()>>>,
    replayed_at_start: u64,
}

impl Store {
    /// Opens the database (migrating it), opens the dead-letter file if one
    /// is configured, and starts the store thread.
    ///
    /// What an earlier run left in the dead-letter file is committed here,
    /// before this returns: those writes are the newest ticks of their rooms,
    /// and recovery must read them from the database, or a room would come
    /// back at an older tick and its next ticks would collide with the
    /// replayed ones. When they cannot be committed the store does not
    /// start, and the file is left as it was.
    pub fn start(config: StoreConfig) -> Result<Store, StoreError> {
        let mut conn = schema::open(&config.path, open_options(&config))?;
        let mut replayed_at_start = 0;
        let dead = match &config.dead_letter {
            Some(path) => {
                let dead_letter_error = |message: String| StoreError::DeadLetter {
                    path: path.display().to_string(),
                    message,
                };
                let mut dead =
                    DeadLetter::open(path, config.dead_letter_max_bytes, config.full_durability)
                        .map_err(|e| dead_letter_error(e.to_string()))?;
                replayed_at_start =
                    replay_left_over(&mut conn, &mut dead, config.batch_max_writes.max(1))
                        .map_err(dead_letter_error)?;
                Some(dead)
            }
            None => None,
        };
        let health = Arc::new(StoreHealth::default());
        let (tx, rx) = bounded(config.queue.max(1));
        let writer = Writer {
            breaker: Breaker::new(config.breaker),
            next_retention: Instant::now() + config.retention_interval,
            config,
            conn: Some(conn),
            queue: VecDeque::new(),
            queued_bytes: 0,
            first_queued: None,
            dead,
            from_file: 0,
            chunk_start: 0,
            spill_failed: false,
            health: health.clone(),
            flushes: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("starting the store thread: {e}")))?;
        Ok(Store {
            tx,
            health,
            thread: Mutex::new(Some(thread)),
            replayed_at_start,
        })
    }

    /// Writes an earlier run left in the dead-letter file, committed by
    /// [`Store::start`].
    pub fn replayed_at_start(&self) -> u64 {
        self.replayed_at_start
    }

    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.health
    }

    /// Writes waiting in the channel.
    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// Hands a write to the store thread without waiting; a full channel
    /// gives the write back (the caller keeps it and tries again later).
    // The refused write itself comes back (moved, not copied): the caller
    // must keep it.
    #[allow(clippy::result_large_err)]
    pub fn submit(&self, pending: Pending) -> Result<(), Pending> {
        match self.tx.try_send(Msg::Write(pending)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Msg::Write(p)) | TrySendError::Disconnected(Msg::Write(p))) => {
                Err(p)
            }
            Err(_) => unreachable!("only writes are sent here"),
        }
    }

    /// Waits until every write submitted before this call is committed.
    /// `Err` when the store could not commit them (they are still kept).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        let (reply, wait) = bounded(1);
        self.tx
            .send_timeout(Msg::Flush(reply), timeout)
            .map_err(|_| "the store thread is not taking requests".to_string())?;
        wait.recv_timeout(timeout)
            .map_err(|_| format!("the store did not commit within {timeout:?}"))?
    }

    /// Flushes, then stops the thread. Writes the store still cannot make go
    /// to the dead-letter file when there is one; otherwise they are counted
    /// and reported as an error (the log shows exactly how many).
    pub fn stop(&self, timeout: Duration) -> Result<(), String> {
        let flushed = self.flush(timeout);
        let _ = self.tx.send_timeout(Msg::Stop, timeout);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        flushed
    }
}

/// Commits everything in `dead`, in order, in batches of `batch`, then
/// empties the file. The count committed, or why not: the file is then kept
/// whole, and the batches committed before the failure are offered again at
/// the next start, which the store's writes take as no-ops (ticks, rooms and
/// formations are inserted only once; a snapshot is replaced by itself).
fn replay_left_over(
    conn: &mut Connection,
    dead: &mut DeadLetter,
    batch: usize,
) -> Result<u64, String> {
    if dead.is_drained() {
        return Ok(0);
    }
    tracing::warn!(path = %dead.path().display(), bytes = dead.bytes(), "the dead-letter file holds writes from an earlier run; committing them before recovery");
    let mut replayed = 0u64;
    while !dead.is_drained() {
        let writes = dead.read_chunk(batch).map_err(|e| {
            format!("it is damaged after {replayed} writes ({e}); the server does not start without what it holds: repair the file or move it aside (its writes are then lost)")
        })?;
        let refs: Vec<&Write> = writes.iter().collect();
        commit::commit(conn, &refs).map_err(|e| {
            format!("the database refused its writes ({e}); the server does not start without them: fix the store and start again (the file is kept)")
        })?;
        replayed += writes.len() as u64;
    }
    dead.clear().map_err(|e| {
        format!("its {replayed} writes are committed but it cannot be emptied: {e}")
    })?;
    tracing::info!(
        writes = replayed,
        "the dead-letter file is replayed and emptied"
    );
    Ok(replayed)
}

fn open_options(config: &StoreConfig) -> OpenOptions {
    OpenOptions {
        full_durability: config.full_durability,
        busy_timeout: config.busy_timeout,
        max_pages: config.max_db_bytes.map(|b| (b / 4096).max(1)),
        read_only: false,
    }
}

struct Writer {
    config: StoreConfig,
    conn: Option<Connection>,
    /// Accepted and not yet committed, oldest first.
    queue: VecDeque<Pending>,
    queued_bytes: u64,
    /// When the oldest write in `queue` arrived (for the commit interval).
    first_queued: Option<Instant>,
    /// Holds the oldest waiting writes while not drained: everything in
    /// `queue` past `from_file` is newer than what the file holds.
    dead: Option<DeadLetter>,
    /// How many writes at the front of `queue` were read back from the
    /// dead-letter file, from `chunk_start` on. Until committed they are
    /// still in the file: a failed commit puts them back by rewinding
    /// replay, and a stop leaves them there, instead of appending them again.
    from_file: usize,
    chunk_start: u64,
    /// The last write offered to the file did not go in (full or failing):
    /// the file counts as full for the refusal.
    spill_failed: bool,
    breaker: Breaker,
    health: Arc<StoreHealth>,
    flushes: Vec<Sender<Result<(), String>>>,
    next_retention: Instant,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut stop = false;
        while !stop {
            let wait = self.next_wake(Instant::now());
            let mut force = false;
            match rx.recv_timeout(wait) {
                Ok(msg) => self.take(msg, &mut stop, &mut force),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
            for _ in 0..self.config.batch_max_writes {
                match rx.try_recv() {
                    Ok(msg) => self.take(msg, &mut stop, &mut force),
                    Err(_) => break,
                }
            }
            let failed = self.work(Instant::now(), force || stop);
            self.answer_flushes(failed || stop);
            self.run_retention(Instant::now());
        }
        self.finish();
    }

    fn take(&mut self, msg: Msg, stop: &mut bool, force: &mut bool) {
        match msg {
            Msg::Write(p) => self.accept(p),
            Msg::Flush(reply) => {
                self.flushes.push(reply);
                *force = true;
            }
            Msg::Stop => *stop = true,
        }
    }

    fn has_backlog(&self) -> bool {
        !self.queue.is_empty() || self.dead.as_ref().is_some_and(|d| !d.is_drained())
    }

    fn next_wake(&self, now: Instant) -> Duration {
        let retention = self.next_retention.saturating_duration_since(now);
        if !self.has_backlog() {
            return retention.min(Duration::from_secs(1));
        }
        if let Some(t) = self.breaker.next_try()
            && t > now
        {
            return t - now;
        }
        if !self.health.is_healthy() || self.queue.len() >= self.config.batch_max_writes {
            return Duration::ZERO;
        }
        self.first_queued.map_or(Duration::ZERO, |t| {
            (t + self.config.commit_interval).saturating_duration_since(now)
        })
    }

    fn accept(&mut self, mut p: Pending) {
        let parking = self.dead.as_ref().is_some_and(|d| !d.is_drained());
        if parking || !self.health.is_healthy() {
            // The store is failing (or what it failed to take still waits in
            // the file): the write is parked, and a caller waiting for
            // durability is told now rather than after the outage.
            p.settle(Err(self.unavailable()));
            self.park(p);
        } else {
            self.push(p);
        }
        self.update_gauges();
    }

    /// Parks a write behind everything that waits: in the dead-letter file
    /// once every older write in memory went there first, else in memory.
    /// The file therefore always holds the oldest waiting writes and memory
    /// only newer ones, so a crash (which loses memory) can only cost the
    /// newest writes of a room, never leave a hole in its log.
    fn park(&mut self, p: Pending) {
        if self.dead.is_some() && self.park_queue() {
            if let Err(p) = self.spill(p) {
                self.push(p);
            }
        } else {
            self.push(p);
        }
    }

    fn unavailable(&self) -> String {
        match self.health.last_error() {
            Some(e) => format!("the store is unavailable ({e}); the write is kept and retried"),
            None => "the store is unavailable; the write is kept and retried".into(),
        }
    }

    fn push(&mut self, p: Pending) {
        if self.queue.is_empty() {
            self.first_queued = Some(Instant::now());
        }
        self.queued_bytes += p.write.weight() as u64;
        self.queue.push_back(p);
    }

    /// Appends to the dead-letter file; gives the write back when the file
    /// is full or failing.
    #[allow(clippy::result_large_err)]
    fn spill(&mut self, p: Pending) -> Result<(), Pending> {
        let Some(dead) = self.dead.as_mut() else {
            return Err(p);
        };
        if !dead.has_room_for(&p.write) {
            self.spill_failed = true;
            return Err(p);
        }
        match dead.append(&p.write) {
            Ok(()) => {
                self.spill_failed = false;
                self.health.spilled_writes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.spill_failed = true;
                tracing::error!(path = %dead.path().display(), error = %e, "cannot append to the dead-letter file");
                Err(p)
            }
        }
    }

    fn update_gauges(&self) {
        let h = &self.health;
        h.buffered_writes
            .store(self.queue.len() as u64, Ordering::Relaxed);
        h.buffered_bytes.store(self.queued_bytes, Ordering::Relaxed);
        let dead_bytes = self.dead.as_ref().map_or(0, |d| d.bytes());
        h.dead_letter_bytes.store(dead_bytes, Ordering::Relaxed);
        // Refuse new mutations once memory is full and the file (if any)
        // cannot take more: what is accepted after that would have nowhere
        // to wait.
        let memory_full = self.queued_bytes >= self.config.buffer_max_bytes;
        let file_full = self.spill_failed || self.dead.as_ref().is_none_or(|d| d.is_full());
        let refusing = !h.is_healthy() && memory_full && file_full;
        if refusing != h.is_refusing() {
            if refusing {
                tracing::error!(
                    "the store's buffer and dead-letter file are full; refusing mutating intents with STORE_UNAVAILABLE"
                );
            } else {
                tracing::info!("the store has room again; mutating intents are accepted");
            }
        }
        h.set_refusing(refusing);
    }

    /// Commits what is due: at most one batch per call, so the channel is
    /// drained between batches of a long backlog. True when a commit was
    /// attempted and failed.
    fn work(&mut self, now: Instant, force: bool) -> bool {
        if self.from_file == 0 {
            // What waits in the file is older than anything in memory: it
            // goes first, or a room's newer ticks would commit before it.
            self.refill_from_dead_letter();
        }
        if self.queue.is_empty() {
            return false;
        }
        let due = force
            || !self.health.is_healthy()
            || self.queue.len() >= self.config.batch_max_writes
            || self
                .first_queued
                .is_some_and(|t| now >= t + self.config.commit_interval);
        if !due || !self.breaker.allow(now) {
            return false;
        }
        if self.breaker.state() == crate::health::BreakerState::HalfOpen {
            // The probe tells whether the fault is gone, not whether this
            // connection got over it: it always starts afresh.
            self.conn = None;
        }
        self.health.set_breaker(self.breaker.state());
        let n = self.queue.len().min(self.config.batch_max_writes);
        let started = Instant::now();
        let result = match self.connection() {
            Ok(()) => match self.conn.as_mut() {
                Some(conn) => {
                    // While the store fails, an attempt waits for a lock at
                    // most one commit interval: writes that arrive meanwhile
                    // wait in the channel, where a crash would lose them,
                    // and the breaker spaces the attempts anyway.
                    let wait = match self.health.is_healthy() {
                        true => self.config.busy_timeout,
                        false => self.config.busy_timeout.min(self.config.commit_interval),
                    };
                    let writes: Vec<&Write> = self.queue.iter().take(n).map(|p| &p.write).collect();
                    conn.busy_timeout(wait)
                        .map_err(StoreError::from)
                        .and_then(|()| commit::commit(conn, &writes))
                }
                None => Err(StoreError::Unavailable("no connection".into())),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                let micros = started.elapsed().as_micros() as u64;
                self.health
                    .last_commit_micros
                    .store(micros, Ordering::Relaxed);
                self.health
                    .commit_micros_total
                    .fetch_add(micros, Ordering::Relaxed);
                self.health.commits.fetch_add(1, Ordering::Relaxed);
                self.health
                    .committed_writes
                    .fetch_add(n as u64, Ordering::Relaxed);
                for mut p in self.queue.drain(..n) {
                    self.queued_bytes -= p.write.weight() as u64;
                    p.settle(Ok(()));
                }
                self.from_file = self.from_file.saturating_sub(n);
                self.first_queued = (!self.queue.is_empty()).then(Instant::now);
                if self.breaker.state() != crate::health::BreakerState::Closed {
                    tracing::info!("the store recovered; replaying what waited");
                }
                self.breaker.success();
                self.health.set_breaker(self.breaker.state());
                if self.from_file == 0 {
                    self.refill_from_dead_letter();
                }
                if !self.has_backlog() {
                    if !self.health.is_healthy() {
                        tracing::info!("the store caught up; every parked write is committed");
                    }
                    self.health.set_degraded(false);
                    self.health.set_last_error(None);
                }
            }
            Err(e) => {
                self.breaker.failure(now);
                self.health.set_breaker(self.breaker.state());
                self.health.failed_commits.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, writes = n, breaker = self.breaker.state().as_str(), "a store commit failed; the writes are kept and retried");
                self.health.set_last_error(Some(e.to_string()));
                self.health.set_degraded(true);
                let reason = self.unavailable();
                for p in self.queue.iter_mut().take(n) {
                    p.settle(Err(reason.clone()));
                }
                if is_connection_fault(&e) {
                    self.conn = None;
                }
                self.park_queue();
                self.update_gauges();
                return true;
            }
        }
        self.update_gauges();
        false
    }

    /// Moves every write waiting in memory to the dead-letter file, oldest
    /// first, so that the file holds the whole backlog in order and a kill
    /// during an outage loses nothing that reached the store thread. Writes
    /// read back from the file leave memory (they are still in the file) and
    /// its replay rewinds to them. True when nothing is left in memory; on
    /// a failed append the rest stays in memory, in order.
    fn park_queue(&mut self) -> bool {
        let Some(dead) = self.dead.as_mut() else {
            return self.queue.is_empty();
        };
        if self.from_file > 0 {
            dead.rewind(self.chunk_start);
            for p in self.queue.drain(..self.from_file.min(self.queue.len())) {
                self.queued_bytes -= p.write.weight() as u64;
            }
            self.from_file = 0;
        }
        while let Some(mut p) = self.queue.pop_front() {
            self.queued_bytes -= p.write.weight() as u64;
            p.settle(Err(self.unavailable()));
            if let Err(p) = self.spill(p) {
                self.queued_bytes += p.write.weight() as u64;
                self.queue.push_front(p);
                return false;
            }
        }
        self.first_queued = None;
        true
    }

    /// Opens the connection again if a fault dropped it.
    fn connection(&mut self) -> Result<(), StoreError> {
        if self.conn.is_none() {
            self.conn = Some(schema::open(&self.config.path, open_options(&self.config))?);
        }
        Ok(())
    }

    fn refill_from_dead_letter(&mut self) {
        let Some(dead) = self.dead.as_mut() else {
            return;
        };
        if dead.is_drained() {
            if dead.bytes() == 0 && self.queue.is_empty() {
                // Everything read back is committed: empty the file once.
                if std::fs::metadata(dead.path()).is_ok_and(|m| m.len() > 0)
                    && let Err(e) = dead.clear()
                {
                    tracing::error!(error = %e, "cannot empty the dead-letter file");
                }
            }
            return;
        }
        let start = dead.read_offset();
        // Small chunks: while one commits, new writes wait in the channel.
        match dead.read_chunk(self.config.batch_max_writes.min(DRAIN_CHUNK)) {
            Ok(writes) => {
                self.chunk_start = start;
                self.from_file = writes.len();
                // Ahead of the writes in memory, which are all newer.
                for w in writes.into_iter().rev() {
                    let p = Pending::new(w);
                    self.queued_bytes += p.write.weight() as u64;
                    self.queue.push_front(p);
                }
                if self.first_queued.is_none() && !self.queue.is_empty() {
                    self.first_queued = Some(Instant::now());
                }
            }
            Err(e) => {
                tracing::error!(path = %dead.path().display(), error = %e, "the dead-letter file is damaged; replay stops here (the server keeps its writes behind the damage and will not start with the file as it is)");
                self.health
                    .set_last_error(Some(format!("dead-letter file damaged: {e}")));
                self.health.set_degraded(true);
                // Not again at once: the damage does not go away by itself.
                self.breaker.failure(Instant::now());
                self.health.set_breaker(self.breaker.state());
            }
        }
    }

    /// Flushes are answered once nothing is left, or when a commit made
    /// after they arrived failed.
    fn answer_flushes(&mut self, failed: bool) {
        if self.flushes.is_empty() {
            return;
        }
        let result = if !self.has_backlog() {
            Ok(())
        } else if failed {
            Err(self.unavailable())
        } else {
            return;
        };
        for f in self.flushes.drain(..) {
            let _ = f.send(result.clone());
        }
    }

    fn run_retention(&mut self, now: Instant) {
        if now < self.next_retention || self.has_backlog() || !self.health.is_healthy() {
            return;
        }
        self.next_retention = now + self.config.retention_interval;
        let (log, archived) = (self.config.log_retention, self.config.archived_retention);
        if self.connection().is_ok()
            && let Some(conn) = self.conn.as_mut()
            && let Err(e) = retention::run(conn, crate::model::unix_ms(), log, archived)
        {
            tracing::warn!(error = %e, "retention failed; it runs again later");
        }
    }

    /// The thread is stopping: one last attempt, then the dead-letter file;
    /// whatever is left is reported.
    fn finish(mut self) {
        let mut attempts = 0;
        while !self.queue.is_empty() && attempts < 3 {
            attempts += 1;
            self.breaker.success();
            self.work(Instant::now(), true);
        }
        let in_file = self.from_file.min(self.queue.len());
        let left: Vec<Pending> = self.queue.drain(in_file..).collect();
        let mut lost = 0usize;
        for p in left {
            // After the first write the file could not keep, none may go
            // there: a later one in the file would sit over a hole.
            let mut p = match lost {
                0 => match self.spill(p) {
                    Ok(()) => continue,
                    Err(p) => p,
                },
                _ => p,
            };
            lost += 1;
            p.settle(Err(
                "the store stopped before this write could be made".into()
            ));
        }
        if lost > 0 {
            tracing::error!(
                lost,
                "the store stopped with writes it could neither make nor keep in the dead-letter file (none or full); they are lost"
            );
        }
        for f in self.flushes.drain(..) {
            let _ = f.send(Err("the store stopped".into()));
        }
    }
}

/// Whether a failed commit may have left the connection itself unusable.
/// SQLite keeps some failures in the connection (after an I/O error on its
/// files it reports "attempt to write a readonly database" on every later
/// write, even once the files are writable again), so anything but lock
/// contention drops the connection and the next attempt opens a fresh one.
fn is_connection_fault(e: &StoreError) -> bool {
    !matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}
