//! What per-member views cost: one tick of a 300-member room, stepped and
//! fanned out (each distinct delta encoded once per codec), for the
//! board's one shared delta against the tabletop's views: the director
//! and the players (2 groups), and with private rolls (each roller sees
//! its own: 12 groups).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::collections::BTreeSet;
use std::hint::black_box;
use tickroom::TickView;
use tickroom_protocol::{Codec, MemberId, Payload, RoomConfig, RoomId};
use tickroom_sim::fixtures::{busy_room, move_inputs};
use tickroom_sim::{Input, Modes, Outcome, Room, TickOutput, mode};
use tickroom_tabletop::{Cell, Intent, Rect, Tabletop};

const MEMBERS: u32 = 300;
/// Tokens of the director's own that wander in and out of the fog.
const DIRECTORS_TOKENS: u32 = 20;

/// Steps `room` and encodes every distinct delta in both codecs.
fn tick_and_fan_out(room: &mut Room, inputs: Vec<Input>, members: &[MemberId]) -> usize {
    let out: TickOutput = room.step(inputs);
    let view = TickView::new(
        room,
        out.delta,
        &out.restricted,
        members.iter().copied(),
        &BTreeSet::new(),
    );
    let mut bytes = 0;
    let mut seen = BTreeSet::new();
    for m in members {
        if let Some((group, msg)) = view.delta_for(Some(*m))
            && seen.insert(group)
        {
            for codec in [Codec::Postcard, Codec::Json] {
                bytes += codec.encode(msg).map_or(0, |b| b.len());
            }
        }
    }
    bytes
}

/// A tabletop: the director, 299 players each owning a token in the west
/// half of the map, the east half under fog, and 20 of the director's
/// tokens.
fn table() -> (Room, Vec<MemberId>) {
    let mut modes = Modes::builtin();
    modes.add(mode::<Tabletop>()).unwrap();
    let config = RoomConfig {
        mode: "tabletop".into(),
        max_players: MEMBERS as u16,
        game: Payload::of(tickroom_tabletop::Config {
            max_tokens: MEMBERS as u16 + DIRECTORS_TOKENS as u16,
            ..Default::default()
        }),
        ..RoomConfig::default()
    };
    let mut room = modes.create_room(RoomId::from("table"), config, 1).unwrap();
    let joins = (0..MEMBERS)
        .map(|i| Input::join(&format!("u{i}"), &format!("p{i}"), None, None))
        .collect();
    let members: Vec<MemberId> = room
        .step(joins)
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Joined { member } => Some(*member),
            _ => None,
        })
        .collect();
    let director = members[0];
    let mut setup = vec![Input::intent(
        director,
        1,
        Intent::AddFog {
            area: Rect {
                x: 20,
                y: 0,
                w: 20,
                h: 30,
            },
        },
    )];
    for (i, m) in members.iter().enumerate().skip(1) {
        setup.push(Input::intent(
            director,
            1 + i as u64,
            Intent::PlaceToken {
                name: format!("t{i}"),
                at: Cell {
                    x: (i % 20) as u32,
                    y: (i / 20) as u32,
                },
                owner: Some(*m),
            },
        ));
    }
    for t in 0..DIRECTORS_TOKENS {
        setup.push(Input::intent(
            director,
            1_000 + u64::from(t),
            Intent::PlaceToken {
                name: format!("npc{t}"),
                at: Cell { x: 19, y: t },
                owner: None,
            },
        ));
    }
    let out = room.step(setup);
    assert!(out.outcomes.iter().all(|o| o.rejection().is_none()));
    (room, members)
}

/// Every player moves its token in the open; the director moves its
/// tokens in and out of the fog (moves only it sees, appear/vanish for the
/// players); `private` players also roll privately.
fn table_moves(members: &[MemberId], round: u64, private: usize) -> Vec<Input> {
    let mut inputs: Vec<Input> = members
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, m)| {
            let x = ((i as u64 + round) % 20) as u32;
            Input::intent(
                *m,
                10_000 * round + i as u64,
                Intent::MoveToken {
                    token: i as u32,
                    to: Cell {
                        x,
                        y: (i / 20) as u32,
                    },
                },
            )
        })
        .collect();
    for t in 0..DIRECTORS_TOKENS {
        inputs.push(Input::intent(
            members[0],
            10_000 * round + 5_000 + u64::from(t),
            Intent::MoveToken {
                token: MEMBERS + t,
                to: Cell {
                    x: 18 + ((round + u64::from(t)) % 4) as u32,
                    y: t,
                },
            },
        ));
    }
    for m in members.iter().skip(1).take(private) {
        inputs.push(Input::intent(
            *m,
            10_000 * round + 9_000,
            Intent::Roll {
                notation: "1d20".into(),
                private: true,
            },
        ));
    }
    inputs
}

fn views(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick_and_fan_out_300_members");
    let (mut board, members) = busy_room(MEMBERS as u16, 1);
    let mut round = 0;
    group.bench_function("board_shared_delta", |b| {
        b.iter_batched(
            || {
                round += 1;
                move_inputs(&members, round)
            },
            |inputs| black_box(tick_and_fan_out(&mut board, inputs, &members)),
            BatchSize::SmallInput,
        )
    });
    for (name, private) in [("tabletop_2_views", 0), ("tabletop_12_views", 10)] {
        let (mut room, members) = table();
        // The figure means something only if every move is applied and the
        // views are as many as named.
        let out = room.step(table_moves(&members, 0, private));
        assert!(out.outcomes.iter().all(|o| o.rejection().is_none()));
        let view = TickView::new(
            &room,
            out.delta,
            &out.restricted,
            members.iter().copied(),
            &BTreeSet::new(),
        );
        assert_eq!(view.groups(), 2 + private, "{name}");
        let mut round = 0;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    round += 1;
                    table_moves(&members, round, private)
                },
                |inputs| black_box(tick_and_fan_out(&mut room, inputs, &members)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, views);
criterion_main!(benches);
