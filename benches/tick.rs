//! Tick cost of one room: players all moving a locked piece every tick, an
//! idle room, and snapshot/restore of a 300-player room.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tickroom_sim::Room;
use tickroom_sim::fixtures::{busy_room, move_inputs};

fn moving(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick_all_moving");
    for players in [1u16, 30, 300, 1000] {
        let (mut room, members) = busy_room(players, 1);
        let mut round = 0u64;
        group.bench_function(format!("{players}_players"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    move_inputs(&members, round)
                },
                |inputs| {
                    let out = room.step(inputs);
                    assert_eq!(out.outcomes.len(), usize::from(players));
                    black_box(out)
                },
                BatchSize::SmallInput,
            )
        });
        // Every move must have been applied, or the figure means nothing.
        let out = room.step(move_inputs(&members, round + 1));
        assert!(out.outcomes.iter().all(|o| o.rejection().is_none()));
    }
    group.finish();
}

fn idle(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick_idle");
    // 30 members seated, nothing sent. Their fixture locks expire once at
    // tick 102; every other measured tick has nothing due.
    let (mut room, _) = busy_room(30, 2);
    group.bench_function("30_players_seated", |b| {
        b.iter(|| black_box(room.step(Vec::new())))
    });
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    for players in [30u16, 300] {
        let mut group = c.benchmark_group(format!("snapshot_{players}_players"));
        let (mut room, members) = busy_room(players, 3);
        for round in 0..20 {
            room.step(move_inputs(&members, round));
        }
        let bytes = room.snapshot();
        group.bench_function("snapshot", |b| b.iter(|| black_box(room.snapshot())));
        // What the server's journal takes on the tick thread per stored snapshot.
        group.bench_function("snapshot_with_hash", |b| {
            b.iter(|| black_box(room.snapshot_with_hash()))
        });
        group.bench_function("restore", |b| {
            b.iter(|| black_box(Room::restore(&bytes).map(|r| r.tick())))
        });
        group.bench_function("state_hash", |b| b.iter(|| black_box(room.state_hash())));
        group.finish();
        println!("snapshot of a {players}-player room: {} bytes", bytes.len());
    }
}

criterion_group!(benches, moving, idle, snapshot);
criterion_main!(benches);
