//! What the input log costs on disk, in format 1 and format 2, for the
//! same synthetic load, and what packing and reading it cost.
//!
//!   cargo run --release -p tickroom-persistence --example log_size [SECONDS]
//!
//! Each shape is SECONDS (default 20) of 20 Hz ticks in which every player
//! of every room moves once (the load generator's drag: each player moves
//! its own piece 20 times a second along its path; seqs count up per
//! player, trace ids are one process-wide counter in arrival order across
//! the rooms, as the server issues them). Inputs are encoded as the
//! server's `Input` is (postcard, mirrored below), outcomes as `Applied`.
//!
//!   ... --example log_size -- --rewrite-v1 DB
//!
//! rewrites every logged tick of the database DB in format 1 (as a build
//! before format 2 would have stored it), so that `tickroom replay` can be
//! timed on the same log in both formats.
//!
//! The tick rows go into a fresh database through the real store
//! (`Store`, group commit) for format 2; for format 1 the same rows are
//! written by the same statement with `packed::pack_v1` blobs, one
//! transaction per tick as the store groups them. Sizes are the database
//! file after a WAL checkpoint, less the empty database's. Snapshots are
//! not written (a 300-player room's ~15 KB every 5,000 inputs adds ~3 bytes
//! per input to either format).

use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};
use tickroom_persistence::{
    InputRow, Pending, Reader, RoomRecord, Store, StoreConfig, StoreError, TickBatch, Write, packed,
};

#[derive(Serialize)]
struct Input {
    member: Option<u32>,
    seq: Option<u64>,
    kind: Kind,
}

#[allow(dead_code)] // only the variant numbers matter
#[derive(Serialize)]
enum Kind {
    Join,
    Leave,
    Disconnect,
    Reconnect,
    GraceExpired,
    ChangeTeam,
    Intent(Intent),
}

#[derive(Serialize)]
enum Intent {
    MovePiece { piece: u32, to: (i32, i32) },
}

struct Shape {
    rooms: u32,
    players: u32,
}

fn load(shape: &Shape, ticks: u64) -> Vec<Vec<TickBatch>> {
    let mut trace = 0x6a09_e667_f3bc_c908u64;
    (1..=ticks)
        .map(|tick| {
            (0..shape.rooms)
                .map(|room| {
                    let inputs = (0..shape.players)
                        .map(|i| {
                            // Arrival order is not seat order.
                            let m = (i * 7 + room + tick as u32) % shape.players + 1;
                            let seq = tick + 1;
                            let n = tick as i32;
                            let to = (
                                (n * 37 + m as i32 * 11) % 980 + 10,
                                (n * 13 + m as i32 * 7) % 980 + 10,
                            );
                            let input = Input {
                                member: Some(m),
                                seq: Some(seq),
                                kind: Kind::Intent(Intent::MovePiece { piece: m, to }),
                            };
                            trace += 1;
                            InputRow {
                                index: i,
                                member: Some(m),
                                seq: Some(seq),
                                kind: "move_piece".into(),
                                code: None,
                                input: postcard::to_stdvec(&input).expect("encodes"),
                                outcome: vec![0],
                                trace_id: Some(trace + u64::from(room)),
                            }
                        })
                        .collect();
                    TickBatch {
                        room: format!("room-{room:04}"),
                        tick,
                        from_version: tick * u64::from(shape.players),
                        to_version: (tick + 1) * u64::from(shape.players),
                        state_hash: tick
                            .is_multiple_of(20)
                            .then_some(tick.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                        at: 1_764_000_000_000 + tick * 50,
                        inputs,
                        formations: vec![],
                        audit: vec![],
                    }
                })
                .collect()
        })
        .collect()
}

fn record(room: &str) -> Write {
    Write::CreateRoom(RoomRecord {
        room: room.into(),
        seed: 7,
        config: Default::default(),
        private: false,
        created_at: 0,
        mode_version: 1,
    })
}

fn db_bytes(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .expect("pages");
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    (pages * size) as u64
}

/// A fresh database with the rooms created; its size.
fn fresh(path: &Path, shape: &Shape) -> u64 {
    let _ = std::fs::remove_file(path);
    let store = Store::start(StoreConfig::new(path.to_path_buf())).expect("store starts");
    for room in 0..shape.rooms {
        assert!(
            store
                .submit(Pending::new(record(&format!("room-{room:04}"))))
                .is_ok()
        );
    }
    store.stop(Duration::from_secs(30)).expect("stop");
    db_bytes(path)
}

fn write_v2(path: &Path, ticks: &[Vec<TickBatch>]) {
    let store = Store::start(StoreConfig::new(path.to_path_buf())).expect("store starts");
    for tick in ticks {
        for batch in tick {
            let mut w = Pending::new(Write::Tick(batch.clone()));
            while let Err(back) = store.submit(w) {
                std::thread::sleep(Duration::from_millis(1));
                w = back;
            }
        }
        // The server commits every 20 ms: about one tick per transaction.
        store.flush(Duration::from_secs(30)).expect("flush");
    }
    store.stop(Duration::from_secs(30)).expect("stop");
}

fn write_v1(path: &Path, ticks: &[Vec<TickBatch>]) {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    for tick in ticks {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO ticks (room, tick, from_version, to_version, state_hash, at, input_count, inputs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .expect("prepare");
            for t in tick {
                insert
                    .execute(rusqlite::params![
                        t.room,
                        t.tick as i64,
                        t.from_version as i64,
                        t.to_version as i64,
                        t.state_hash.map(|h| h as i64),
                        t.at as i64,
                        t.inputs.len() as i64,
                        packed::pack_v1(&t.inputs).expect("packs"),
                    ])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
}

/// Reads every room's whole log back (as recovery and replay do); the best
/// of five, in nanoseconds per input.
fn read_all(path: &Path, shape: &Shape) -> f64 {
    let reader = Reader::open(path).expect("reader");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let mut n = 0u64;
        for room in 0..shape.rooms {
            reader
                .for_each_input::<StoreError>(&format!("room-{room:04}"), 0, u64::MAX, |_, row| {
                    n += u64::from(!row.input.is_empty());
                    Ok(())
                })
                .expect("reads");
        }
        best = best.min(started.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

/// Nanoseconds per input to pack, then to unpack, every row.
fn codec_ns(
    ticks: &[Vec<TickBatch>],
    pack: fn(&[InputRow]) -> Result<Vec<u8>, StoreError>,
) -> (f64, f64) {
    let rows: Vec<&TickBatch> = ticks.iter().flatten().collect();
    let n: usize = rows.iter().map(|t| t.inputs.len()).sum();
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let started = Instant::now();
        let blobs: Vec<Vec<u8>> = rows
            .iter()
            .map(|t| pack(&t.inputs).expect("packs"))
            .collect();
        let packed_ns = started.elapsed().as_nanos() as f64 / n as f64;
        let started = Instant::now();
        for (t, b) in rows.iter().zip(&blobs) {
            let back = packed::unpack(b, t.inputs.len() as u64, &t.room, t.tick).expect("unpacks");
            assert_eq!(back.len(), t.inputs.len());
        }
        let unpacked_ns = started.elapsed().as_nanos() as f64 / n as f64;
        best = (best.0.min(packed_ns), best.1.min(unpacked_ns));
    }
    best
}

/// Every tick row of `path` rewritten in format 1; how many.
fn rewrite_v1(path: &Path) -> usize {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("tx");
    let rows: Vec<(String, i64, i64, Vec<u8>)> = tx
        .prepare("SELECT room, tick, input_count, inputs FROM ticks WHERE input_count > 0")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (room, tick, count, blob) in &rows {
        let inputs = packed::unpack(blob, *count as u64, room, *tick as u64).expect("unpacks");
        tx.execute(
            "UPDATE ticks SET inputs = ?3 WHERE room = ?1 AND tick = ?2",
            rusqlite::params![room, tick, packed::pack_v1(&inputs).expect("packs")],
        )
        .expect("update");
    }
    tx.commit().expect("commit");
    rows.len()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, db] = args.as_slice()
        && flag == "--rewrite-v1"
    {
        let n = rewrite_v1(Path::new(db));
        println!("{n} tick rows rewritten in format 1");
        return;
    }
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("tickroom-log-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let shapes = [
        Shape {
            rooms: 1,
            players: 300,
        },
        Shape {
            rooms: 30,
            players: 10,
        },
        Shape {
            rooms: 100,
            players: 3,
        },
    ];
    println!("{seconds} s of 20 Hz ticks, every player moving every tick");
    println!(
        "| rooms x players | inputs | format | blob bytes/input | database bytes/input | pack ns/input | unpack ns/input | read back ns/input |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for shape in &shapes {
        let ticks = load(shape, seconds * 20);
        let n: usize = ticks.iter().flatten().map(|t| t.inputs.len()).sum();
        for (format, pack) in [
            (
                1,
                packed::pack_v1 as fn(&[InputRow]) -> Result<Vec<u8>, StoreError>,
            ),
            (2, packed::pack),
        ] {
            let db = dir.join(format!("f{format}-{}x{}.db", shape.rooms, shape.players));
            let empty = fresh(&db, shape);
            match format {
                1 => write_v1(&db, &ticks),
                _ => write_v2(&db, &ticks),
            }
            let grown = db_bytes(&db) - empty;
            let blobs: usize = ticks
                .iter()
                .flatten()
                .map(|t| pack(&t.inputs).expect("packs").len())
                .sum();
            let (pack_ns, unpack_ns) = codec_ns(&ticks, pack);
            let read_ns = read_all(&db, shape);
            println!(
                "| {} x {} | {n} | {format} | {:.1} | {:.1} | {pack_ns:.0} | {unpack_ns:.0} | {read_ns:.0} |",
                shape.rooms,
                shape.players,
                blobs as f64 / n as f64,
                grown as f64 / n as f64,
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
