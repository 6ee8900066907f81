//! The store against a real SQLite file, with faults injected for real: a
//! second connection holding `BEGIN EXCLUSIVE` (SQLITE_BUSY) and a tiny
//! tmpfs filled to the brim (a full disk). Each test checks that its fault
//! fired, then that nothing was lost once it cleared.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickroom_persistence::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tickroom-store-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tmpfs of `size` bytes, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: usize) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}")])
            .arg("tmpfs")
            .arg(&at)
            .status()
            .expect("running mount");
        assert!(ok.success(), "mounting a tmpfs (the tests run as root)");
        Tmpfs(at)
    }
    /// Fills the file system: the next write that needs a page fails.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn config(path: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(path.to_owned());
    c.commit_interval = Duration::from_millis(5);
    c.breaker.retry_base = Duration::from_millis(5);
    c.breaker.retry_max = Duration::from_millis(50);
    c.busy_timeout = Duration::from_millis(20);
    c
}

fn room(id: &str) -> Write {
    Write::CreateRoom(RoomRecord {
        room: id.into(),
        seed: u64::MAX - 7,
        config: Default::default(),
        private: true,
        created_at: 1,
        mode_version: 1,
    })
}

fn tick(room: &str, tick: u64, inputs: u32) -> Write {
    Write::Tick(TickBatch {
        room: room.into(),
        tick,
        from_version: tick * 10,
        to_version: tick * 10 + u64::from(inputs),
        state_hash: tick.is_multiple_of(2).then_some(u64::MAX - tick),
        at: 1000 + tick,
        inputs: (0..inputs)
            .map(|i| InputRow {
                index: i,
                member: Some(i),
                seq: Some(u64::from(i) + 1),
                kind: "move_piece".into(),
                code: (i == 1).then(|| "LOCK_HELD".into()),
                input: vec![i as u8; 40],
                outcome: vec![1, 2],
                trace_id: Some(u64::MAX - u64::from(i)),
            })
            .collect(),
        formations: vec![],
        audit: vec![],
    })
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn logged_ticks(path: &Path, room: &str) -> Vec<u64> {
    let r = Reader::open(path).unwrap();
    r.ticks(room, 0, u64::MAX)
        .unwrap()
        .iter()
        .map(|t| t.tick)
        .collect()
}

fn input_count(path: &Path, room: &str) -> u64 {
    Reader::open(path).unwrap().input_count(room).unwrap()
}

#[test]
fn writes_read_back_exactly() {
    let dir = TempDir::new("roundtrip");
    let db = dir.path("t.db");
    let store = Store::start(config(&db)).unwrap();
    let progress = Arc::new(RoomProgress::default());
    store.submit(Pending::new(room("a"))).ok().unwrap();
    for t in 1..=3 {
        let mut p = Pending::new(tick("a", t, 3));
        p.progress = Some(progress.clone());
        store.submit(p).ok().unwrap();
    }
    let mut with_formation = tick("a", 4, 0);
    if let Write::Tick(t) = &mut with_formation {
        t.formations.push(FormationRow {
            user: "u1".into(),
            key: "k1".into(),
            name: "wall".into(),
            team: Some(1),
            member: 3,
            placements: vec![9, 9],
        });
        t.audit.push(AuditRow {
            action: "start_match".into(),
            actor: "u1".into(),
            details: "{}".into(),
        });
    }
    let acked = Arc::new(Mutex::new(None));
    let a = acked.clone();
    store
        .submit(Pending {
            write: with_formation,
            progress: Some(progress.clone()),
            on_commit: Some(Box::new(move |r| *a.lock().unwrap() = Some(r))),
        })
        .ok()
        .unwrap();
    store
        .submit(Pending::new(Write::Snapshot(SnapshotRow {
            room: "a".into(),
            tick: 4,
            version: 40,
            epoch: 2,
            state_hash: u64::MAX,
            at: 5,
            bytes: vec![7; 100],
        })))
        .ok()
        .unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(*acked.lock().unwrap(), Some(Ok(())));
    assert_eq!(progress.committed(), 4);

    let r = Reader::open(&db).unwrap();
    let rooms = r.rooms(false).unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        rooms[0].record.seed,
        u64::MAX - 7,
        "u64 survives i64 storage"
    );
    assert_eq!(rooms[0].last_tick, 4);
    let ticks = r.ticks("a", 0, u64::MAX).unwrap();
    assert_eq!(ticks.len(), 4);
    assert_eq!(ticks[1].state_hash, Some(u64::MAX - 2));
    let mut inputs = Vec::new();
    r.for_each_input::<StoreError>("a", 1, 3, |t, row| {
        inputs.push((t, row));
        Ok(())
    })
    .unwrap();
    assert_eq!(inputs.len(), 6, "ticks 2 and 3, three inputs each");
    assert_eq!(inputs[1].1.code.as_deref(), Some("LOCK_HELD"));
    assert_eq!(inputs[0].1.input, vec![0u8; 40]);
    let snaps = r.snapshots("a").unwrap();
    assert_eq!((snaps[0].tick, snaps[0].size, snaps[0].epoch), (4, 100, 2));
    assert_eq!(r.snapshot_bytes("a", 4).unwrap(), Some(vec![7; 100]));
    assert_eq!(r.formations("a").unwrap()[0].name, "wall");
    assert_eq!(r.audit("a").unwrap()[0].action, "start_match");
    store.stop(Duration::from_secs(5)).unwrap();
}

/// A database written by a build before format 2 holds format-1 rows: they
/// read back beside the format-2 rows this build writes, tick by tick.
#[test]
fn ticks_logged_in_format_1_still_read_back_beside_format_2() {
    let dir = TempDir::new("format1");
    let db = dir.path("t.db");
    let store = Store::start(config(&db)).unwrap();
    store.submit(Pending::new(room("a"))).ok().unwrap();
    let written: Vec<Write> = (1..=4).map(|t| tick("a", t, 3)).collect();
    for w in &written {
        store.submit(Pending::new(w.clone())).ok().unwrap();
    }
    store.stop(Duration::from_secs(5)).unwrap();

    // Ticks 1 and 3 as the earlier build stored them.
    let conn = rusqlite_conn(&db);
    for w in written.iter().step_by(2) {
        let Write::Tick(t) = w else { unreachable!() };
        let v1 = packed::pack_v1(&t.inputs).unwrap();
        assert_eq!(v1[0], 1);
        conn.execute(
            "UPDATE ticks SET inputs = ?3 WHERE room = ?1 AND tick = ?2",
            rusqlite::params![t.room, t.tick as i64, v1],
        )
        .unwrap();
    }
    let formats: Vec<u8> = conn
        .prepare("SELECT substr(inputs, 1, 1) FROM ticks WHERE room = 'a' ORDER BY tick")
        .unwrap()
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|b| b.unwrap()[0])
        .collect();
    assert_eq!(formats, [1, 2, 1, 2]);
    drop(conn);

    let mut read = Vec::new();
    Reader::open(&db)
        .unwrap()
        .for_each_input::<StoreError>("a", 0, u64::MAX, |t, row| {
            read.push((t, row));
            Ok(())
        })
        .unwrap();
    let expected: Vec<(u64, InputRow)> = written
        .iter()
        .flat_map(|w| match w {
            Write::Tick(t) => t.inputs.iter().map(|i| (t.tick, i.clone())).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(read, expected);
}

#[test]
fn a_snapshot_from_a_later_epoch_replaces_one_at_the_same_tick() {
    let dir = TempDir::new("epochs");
    let db = dir.path("t.db");
    let store = Store::start(config(&db)).unwrap();
    store.submit(Pending::new(room("a"))).ok().unwrap();
    let snap = |epoch: u32, byte: u8| {
        Pending::new(Write::Snapshot(SnapshotRow {
            room: "a".into(),
            tick: 9,
            version: 3,
            epoch,
            state_hash: 77,
            at: 5,
            bytes: vec![byte; 10],
        }))
    };
    // The previous life's snapshot, the restored room's own at the same
    // tick, then the older one offered again (as a dead-letter replay would).
    store.submit(snap(0, 1)).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    store.submit(snap(1, 2)).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    store.submit(snap(0, 1)).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    let r = Reader::open(&db).unwrap();
    let snaps = r.snapshots("a").unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!((snaps[0].tick, snaps[0].epoch), (9, 1));
    assert_eq!(r.snapshot_bytes("a", 9).unwrap(), Some(vec![2; 10]));
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn writes_are_grouped_into_few_transactions() {
    let dir = TempDir::new("group");
    let db = dir.path("t.db");
    let mut c = config(&db);
    c.commit_interval = Duration::from_millis(200);
    let store = Store::start(c).unwrap();
    store.submit(Pending::new(room("g"))).ok().unwrap();
    for t in 1..=500 {
        store.submit(Pending::new(tick("g", t, 2))).ok().unwrap();
    }
    store.flush(Duration::from_secs(5)).unwrap();
    let commits = store.health().commits.load(Ordering::Relaxed);
    assert!(commits <= 3, "501 writes in {commits} commits");
    assert_eq!(input_count(&db, "g"), 1000);
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_database_from_a_newer_binary_is_refused() {
    let dir = TempDir::new("newer");
    let db = dir.path("t.db");
    {
        let conn = rusqlite_conn(&db);
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::start(config(&db)).err().expect("refused");
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::TooNew { found: 99, .. }),
        "{text}"
    );
    assert!(text.contains("newer than this binary"), "{text}");
}

fn rusqlite_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn a_busy_store_is_retried_behind_the_breaker_and_loses_nothing() {
    let dir = TempDir::new("busy");
    let db = dir.path("t.db");
    let store = Store::start(config(&db)).unwrap();
    store.submit(Pending::new(room("b"))).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();

    // Another connection takes the write lock and keeps it.
    let holder = rusqlite_conn(&db);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let durable = Arc::new(Mutex::new(Vec::new()));
    for t in 1..=50 {
        let d = durable.clone();
        store
            .submit(Pending {
                write: tick("b", t, 2),
                progress: None,
                on_commit: Some(Box::new(move |r| d.lock().unwrap().push(r))),
            })
            .ok()
            .unwrap();
    }
    let h = store.health().clone();
    wait_until("the breaker opens", Duration::from_secs(5), || {
        h.breaker() != BreakerState::Closed
    });
    assert!(h.failed_commits.load(Ordering::Relaxed) >= 3);
    assert!(!h.is_healthy());
    assert!(
        h.last_error().unwrap().contains("locked"),
        "{:?}",
        h.last_error()
    );
    assert!(
        store.flush(Duration::from_secs(1)).is_err(),
        "a flush during the outage reports it"
    );
    wait_until(
        "every durable write is answered",
        Duration::from_secs(5),
        || durable.lock().unwrap().len() == 50,
    );
    assert!(
        durable.lock().unwrap().iter().all(|r| r.is_err()),
        "nothing was acknowledged as durable while the store was locked"
    );

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    store.flush(Duration::from_secs(10)).unwrap();
    assert!(h.is_healthy());
    assert_eq!(h.breaker(), BreakerState::Closed);
    assert_eq!(logged_ticks(&db, "b"), (1..=50).collect::<Vec<_>>());
    assert_eq!(input_count(&db, "b"), 100);
    store.stop(Duration::from_secs(5)).unwrap();
}

/// A store whose database sits on a tmpfs of `fs_size` bytes, with its
/// dead-letter file elsewhere, holding room `room`; then the tmpfs is
/// filled. Fields drop in order: the store stops before the unmount.
struct FullDisk {
    store: Store,
    filler: PathBuf,
    db: PathBuf,
    dead: PathBuf,
    _fs: Tmpfs,
    _dir: TempDir,
}

impl FullDisk {
    fn new(name: &str, fs_size: usize, buffer_max_bytes: u64, room_id: &str) -> FullDisk {
        let dir = TempDir::new(name);
        let fs = Tmpfs::mount(dir.path("fs"), fs_size);
        let db = fs.0.join("t.db");
        let dead = dir.path("dead/letter");
        let mut c = config(&db);
        c.dead_letter = Some(dead.clone());
        c.buffer_max_bytes = buffer_max_bytes;
        let store = Store::start(c).unwrap();
        store.submit(Pending::new(room(room_id))).ok().unwrap();
        store.flush(Duration::from_secs(5)).unwrap();
        let filler = fs.fill();
        FullDisk {
            store,
            filler,
            db,
            dead,
            _fs: fs,
            _dir: dir,
        }
    }
}

#[test]
fn a_full_disk_spills_to_the_dead_letter_file_and_replays_in_order() {
    let disk = FullDisk::new("full", 512 * 1024, 20_000, "f");
    let (store, db, dead) = (&disk.store, &disk.db, &disk.dead);
    let h = store.health().clone();
    for t in 1..=300 {
        store.submit(Pending::new(tick("f", t, 4))).ok().unwrap();
    }
    wait_until(
        "writes spill to the dead-letter file",
        Duration::from_secs(10),
        || h.spilled_writes.load(Ordering::Relaxed) > 0,
    );
    assert!(
        h.last_error().is_some_and(|e| e.contains("full")),
        "{:?}",
        h.last_error()
    );
    assert!(std::fs::metadata(dead).unwrap().len() > 0);
    assert!(!h.is_refusing(), "the dead-letter file still has room");

    std::fs::remove_file(&disk.filler).unwrap();
    store.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(logged_ticks(db, "f"), (1..=300).collect::<Vec<_>>());
    assert_eq!(input_count(db, "f"), 1200);
    assert_eq!(std::fs::metadata(dead).unwrap().len(), 0, "emptied");
    assert_eq!(h.dead_letter_bytes.load(Ordering::Relaxed), 0);
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn retries_during_a_long_outage_do_not_append_the_parked_writes_again() {
    let disk = FullDisk::new("outage", 256 * 1024, 1, "o");
    let (store, db, dead) = (&disk.store, &disk.db, &disk.dead);
    let h = store.health().clone();
    for t in 1..=20 {
        store.submit(Pending::new(tick("o", t, 2))).ok().unwrap();
    }
    wait_until("all 20 ticks are parked", Duration::from_secs(5), || {
        h.spilled_writes.load(Ordering::Relaxed) >= 20
    });
    let parked = std::fs::metadata(dead).unwrap().len();
    // Each retry reads the parked writes back and fails to commit them.
    let failed = h.failed_commits.load(Ordering::Relaxed);
    wait_until("five more failed retries", Duration::from_secs(10), || {
        h.failed_commits.load(Ordering::Relaxed) >= failed + 5
    });
    assert_eq!(
        std::fs::metadata(dead).unwrap().len(),
        parked,
        "the file holds each parked write once"
    );
    assert_eq!(h.spilled_writes.load(Ordering::Relaxed), 20);

    std::fs::remove_file(&disk.filler).unwrap();
    store.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(logged_ticks(db, "o"), (1..=20).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(dead).unwrap().len(), 0, "emptied");
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn with_buffer_and_file_exhausted_mutations_are_refused_until_it_clears() {
    let dir = TempDir::new("exhausted");
    let db = dir.path("t.db");
    let mut c = config(&db);
    c.buffer_max_bytes = 5_000;
    let store = Store::start(c).unwrap();
    store.submit(Pending::new(room("x"))).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    let holder = rusqlite_conn(&db);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let h = store.health().clone();
    for t in 1..=100 {
        store.submit(Pending::new(tick("x", t, 2))).ok().unwrap();
    }
    wait_until("the store refuses", Duration::from_secs(5), || {
        h.is_refusing()
    });
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    store.flush(Duration::from_secs(10)).unwrap();
    assert!(!h.is_refusing());
    assert_eq!(
        input_count(&db, "x"),
        200,
        "the overflow was kept, not dropped"
    );
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_dead_letter_file_left_by_a_crash_is_replayed_at_start() {
    let dir = TempDir::new("leftover");
    let db = dir.path("t.db");
    let dead = dir.path("dead.letter");
    let fs = Tmpfs::mount(dir.path("fs"), 256 * 1024);
    // A first run whose store is full spills, then stops.
    {
        let mut c = config(&fs.0.join("full.db"));
        c.dead_letter = Some(dead.clone());
        c.buffer_max_bytes = 1;
        let store = Store::start(c).unwrap();
        fs.fill();
        store.submit(Pending::new(room("l"))).ok().unwrap();
        for t in 1..=20 {
            store.submit(Pending::new(tick("l", t, 1))).ok().unwrap();
        }
        assert!(store.stop(Duration::from_secs(2)).is_err());
    }
    let left = std::fs::metadata(&dead).unwrap().len();
    assert!(left > 0);
    // A start on the still-full database cannot commit them: it fails, and
    // the file is kept as it was.
    let mut c = config(&fs.0.join("full.db"));
    c.dead_letter = Some(dead.clone());
    assert!(Store::start(c).is_err(), "a start that cannot replay fails");
    assert_eq!(std::fs::metadata(&dead).unwrap().len(), left, "kept");
    // The next run (on a healthy database) commits it before it returns,
    // so a reader (room recovery) opened right after sees every tick.
    let mut c = config(&db);
    c.dead_letter = Some(dead.clone());
    let store = Store::start(c).unwrap();
    assert_eq!(store.replayed_at_start(), 21, "the room and its 20 ticks");
    assert_eq!(logged_ticks(&db, "l"), (1..=20).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(&dead).unwrap().len(), 0, "emptied");
    store.stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn retention_compacts_behind_the_oldest_kept_snapshot_and_purges_archived_rooms() {
    let dir = TempDir::new("retention");
    let db = dir.path("t.db");
    let store = Store::start(config(&db)).unwrap();
    for id in ["keep", "gone"] {
        store.submit(Pending::new(room(id))).ok().unwrap();
        for t in 1..=30 {
            store.submit(Pending::new(tick(id, t, 1))).ok().unwrap();
        }
    }
    // Snapshots at 10 and 20 are old; the one at 30 is recent.
    for (t, at) in [(10, 1_000), (20, 2_000), (30, 9_000_000)] {
        let s = SnapshotRow {
            room: "keep".into(),
            tick: t,
            version: t,
            epoch: 0,
            state_hash: t,
            at,
            bytes: vec![1],
        };
        store.submit(Pending::new(Write::Snapshot(s))).ok().unwrap();
    }
    store
        .submit(Pending::new(Write::Archived {
            room: "gone".into(),
            at: 1_000,
        }))
        .ok()
        .unwrap();
    store.stop(Duration::from_secs(5)).unwrap();

    let mut conn = rusqlite_conn(&db);
    let report = retention::run(
        &mut conn,
        10_000_000,
        Duration::from_millis(5_000_000),
        Duration::from_millis(5_000_000),
    )
    .unwrap();
    assert_eq!(report.compacted_rooms, 1);
    assert_eq!(report.deleted_inputs, 20, "ticks 1..=20 of `keep`");
    assert_eq!(report.purged_rooms, 1);
    let r = Reader::open(&db).unwrap();
    let keep = r.room("keep").unwrap();
    assert_eq!(
        keep.log_from_tick, 20,
        "replay starts from the tick-20 snapshot"
    );
    let kept: Vec<u64> = r
        .snapshots("keep")
        .unwrap()
        .iter()
        .map(|s| s.tick)
        .collect();
    assert_eq!(kept, vec![20, 30]);
    assert_eq!(logged_ticks(&db, "keep"), (21..=30).collect::<Vec<_>>());
    assert!(matches!(r.room("gone"), Err(StoreError::NoRoom(_))));
    assert_eq!(r.input_count("gone").unwrap(), 0);
    drop(r);

    // The purged room was still loaded: what it writes afterwards is dropped
    // rather than left behind as rows of a room that no longer exists.
    let store = Store::start(config(&db)).unwrap();
    store
        .submit(Pending::new(tick("gone", 31, 1)))
        .ok()
        .unwrap();
    store
        .submit(Pending::new(tick("keep", 31, 1)))
        .ok()
        .unwrap();
    store.stop(Duration::from_secs(5)).unwrap();
    let r = Reader::open(&db).unwrap();
    assert_eq!(r.input_count("gone").unwrap(), 0);
    assert_eq!(logged_ticks(&db, "gone"), Vec::<u64>::new());
    assert_eq!(r.room("keep").unwrap().last_tick, 31);
}

fn chattr(flag: &str, files: &[&Path]) {
    for f in files {
        if f.exists() {
            let ok = std::process::Command::new("chattr")
                .arg(flag)
                .arg(f)
                .status()
                .expect("running chattr");
            assert!(
                ok.success(),
                "chattr {flag} {} (the tests run as root)",
                f.display()
            );
        }
    }
}

/// The database and its WAL are made immutable for a moment: SQLite's
/// connection keeps failing ("attempt to write a readonly database") after
/// the files are writable again, so the breaker's probe must use a fresh
/// connection, or the store never recovers.
#[test]
fn a_brief_write_failure_clears_once_the_files_are_writable_again() {
    let dir = TempDir::new("immutable");
    let db = dir.path("t.db");
    let mut c = config(&db);
    c.dead_letter = Some(dir.path("dead.letter"));
    let store = Store::start(c).unwrap();
    store.submit(Pending::new(room("i"))).ok().unwrap();
    for t in 1..=5 {
        store.submit(Pending::new(tick("i", t, 2))).ok().unwrap();
    }
    store.flush(Duration::from_secs(5)).unwrap();
    let wal = dir.path("t.db-wal");
    chattr("+i", &[&db, &wal]);
    let h = store.health().clone();
    let failed = h.failed_commits.load(Ordering::Relaxed);
    for t in 6..=40 {
        store.submit(Pending::new(tick("i", t, 2))).ok().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_until("commits fail", Duration::from_secs(5), || {
        h.failed_commits.load(Ordering::Relaxed) >= failed + 3
    });
    assert!(!h.is_healthy(), "the fault fired");
    chattr("-i", &[&db, &wal]);
    store
        .flush(Duration::from_secs(10))
        .expect("the store recovers by itself once the files are writable");
    assert!(h.is_healthy());
    assert_eq!(h.breaker(), BreakerState::Closed);
    assert_eq!(logged_ticks(&db, "i"), (1..=40).collect::<Vec<_>>());
    store.stop(Duration::from_secs(5)).unwrap();
}

/// A crash during an outage loses only what had not reached the store
/// thread: everything the thread took is in the dead-letter file, oldest
/// first, so the next start commits an unbroken prefix of every room's log,
/// whatever the buffer size. (Before: the oldest writes waited in memory
/// and died with the process while newer ones were in the file, and the
/// next start committed them over a hole.)
#[test]
fn a_crash_during_an_outage_leaves_no_hole_whatever_the_buffer() {
    for buffer in [1, 4096, 256 << 20] {
        let dir = TempDir::new("crash-outage");
        let db = dir.path("t.db");
        let dead = dir.path("dead.letter");
        let mut c = config(&db);
        c.dead_letter = Some(dead.clone());
        c.buffer_max_bytes = buffer;
        let store = Store::start(c).unwrap();
        store.submit(Pending::new(room("h"))).ok().unwrap();
        store.flush(Duration::from_secs(5)).unwrap();
        let holder = rusqlite_conn(&db);
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        for t in 1..=200 {
            store.submit(Pending::new(tick("h", t, 3))).ok().unwrap();
        }
        let h = store.health().clone();
        wait_until(
            "the thread took every write",
            Duration::from_secs(5),
            || store.queue_depth() == 0 && h.spilled_writes.load(Ordering::Relaxed) >= 200,
        );
        assert_eq!(
            h.buffered_writes.load(Ordering::Relaxed),
            0,
            "buffer {buffer}: nothing waits in memory during the outage"
        );
        // The crash: what is on disk now is all a restart gets (a copy of
        // the files, taken while the outage lasts and memory still holds
        // whatever it holds).
        let after = TempDir::new("crash-outage-after");
        for f in ["t.db", "t.db-wal", "dead.letter"] {
            if dir.path(f).exists() {
                std::fs::copy(dir.path(f), after.path(f)).unwrap();
            }
        }
        let mut c2 = config(&after.path("t.db"));
        c2.dead_letter = Some(after.path("dead.letter"));
        let restarted = Store::start(c2).unwrap();
        assert_eq!(restarted.replayed_at_start(), 200, "buffer {buffer}");
        assert_eq!(
            logged_ticks(&after.path("t.db"), "h"),
            (1..=200).collect::<Vec<_>>(),
            "buffer {buffer}"
        );
        restarted.stop(Duration::from_secs(5)).unwrap();
        holder.execute_batch("ROLLBACK").unwrap();
        drop(holder);
        store.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(logged_ticks(&db, "h"), (1..=200).collect::<Vec<_>>());
        store.stop(Duration::from_secs(5)).unwrap();
    }
}

/// The dead-letter file sits on a disk that fills during an outage: an
/// append fails halfway (part of its record in the file), the write stays
/// in memory, and once the disk has room again later writes are appended.
/// The partial record is cut off (else replay could not frame what follows
/// it), the writes that waited in memory are committed after the older
/// ones in the file, and every tick arrives, in order, exactly once.
#[test]
fn a_dead_letter_append_that_fails_halfway_leaves_the_file_readable() {
    let dir = TempDir::new("dl-full");
    let db = dir.path("t.db");
    let fs = Tmpfs::mount(dir.path("fs"), 64 * 1024);
    let mut c = config(&db);
    c.dead_letter = Some(fs.0.join("dead.letter"));
    let store = Store::start(c).unwrap();
    store.submit(Pending::new(room("d"))).ok().unwrap();
    store.flush(Duration::from_secs(5)).unwrap();
    let holder = rusqlite_conn(&db);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let h = store.health().clone();
    for t in 1..=20 {
        store.submit(Pending::new(tick("d", t, 3))).ok().unwrap();
    }
    wait_until("the first ticks are parked", Duration::from_secs(5), || {
        h.spilled_writes.load(Ordering::Relaxed) >= 20
    });
    // The disk fills: the next appends fail, some halfway.
    let filler = fs.fill();
    for t in 21..=60 {
        store.submit(Pending::new(tick("d", t, 40))).ok().unwrap();
    }
    wait_until("writes wait in memory", Duration::from_secs(5), || {
        h.buffered_writes.load(Ordering::Relaxed) > 0
    });
    std::fs::remove_file(&filler).unwrap();
    for t in 61..=80 {
        store.submit(Pending::new(tick("d", t, 3))).ok().unwrap();
    }
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    store.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(logged_ticks(&db, "d"), (1..=80).collect::<Vec<_>>());
    assert_eq!(input_count(&db, "d"), 20 * 3 + 40 * 40 + 20 * 3);
    store.stop(Duration::from_secs(5)).unwrap();
}
