//! How many logged inputs per second the store thread commits, with group
//! commit, on this machine's disk: one iteration submits a second's worth of
//! 20 Hz ticks of a 300-player room all moving (20 writes of 300 inputs,
//! 6,000 inputs, sizes as the server encodes moves) and waits for the flush.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tickroom_persistence::{InputRow, Pending, RoomRecord, Store, StoreConfig, TickBatch, Write};

const TICKS: u64 = 20;
const INPUTS: u32 = 300;

fn tick(t: u64) -> Write {
    Write::Tick(TickBatch {
        room: "bench".into(),
        tick: t,
        from_version: t * 300,
        to_version: t * 300 + 300,
        state_hash: t.is_multiple_of(20).then_some(t),
        at: t,
        inputs: (0..INPUTS)
            .map(|i| InputRow {
                index: i,
                member: Some(i),
                seq: Some(t),
                kind: "move_piece".into(),
                code: None,
                // A postcard-encoded move is 12–16 bytes, its outcome 1.
                input: vec![7; 14],
                outcome: vec![0],
                trace_id: None,
            })
            .collect(),
        formations: vec![],
        audit: vec![],
    })
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_commit_6000_inputs");
    group.sample_size(20);
    for full in [false, true] {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("store-bench-{full}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bench dir");
        let mut config = StoreConfig::new(dir.join("bench.db"));
        config.full_durability = full;
        let store = Store::start(config).expect("store starts");
        let room = Write::CreateRoom(RoomRecord {
            room: "bench".into(),
            seed: 1,
            config: Default::default(),
            private: false,
            created_at: 0,
            mode_version: 1,
        });
        assert!(store.submit(Pending::new(room)).is_ok());
        let mut next = 1u64;
        let name = if full {
            "synchronous_full"
        } else {
            "synchronous_normal"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let writes: Vec<Write> = (next..next + TICKS).map(tick).collect();
                    next += TICKS;
                    let started = Instant::now();
                    for w in writes {
                        assert!(store.submit(Pending::new(w)).is_ok(), "store queue full");
                    }
                    store.flush(Duration::from_secs(30)).expect("flush");
                    total += started.elapsed();
                }
                total
            })
        });
        store.stop(Duration::from_secs(30)).expect("stop");
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
