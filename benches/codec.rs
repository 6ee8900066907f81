//! Encode and decode of a 300-move delta with both codecs.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tickroom_protocol::{Codec, Limits, ServerMessage};
use tickroom_sim::fixtures::{busy_room, move_inputs};

fn delta_300_moves() -> ServerMessage {
    let (mut room, members) = busy_room(300, 4);
    let delta = room
        .step(move_inputs(&members, 1))
        .delta
        .unwrap_or_else(|| panic!("300 moves produce a delta"));
    assert_eq!(delta.events.len(), 300);
    ServerMessage::Delta(delta)
}

fn codecs(c: &mut Criterion) {
    let msg = delta_300_moves();
    let mut group = c.benchmark_group("delta_300_moves");
    for codec in Codec::ALL {
        let name = match codec {
            Codec::Postcard => "postcard",
            Codec::Json => "json",
        };
        let bytes = codec.encode(&msg).unwrap_or_default();
        println!("{name}: a 300-move delta is {} bytes", bytes.len());
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| black_box(codec.encode(black_box(&msg))))
        });
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                black_box(codec.decode::<ServerMessage>(black_box(&bytes), &Limits::SERVER_FRAMES))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
