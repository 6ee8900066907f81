//! Room behaviour that scenarios cannot express: the shape of tick outputs,
//! the delta's version chain and origins, hash publication, determinism,
//! snapshots, and a randomized check that restore keeps the future.

use proptest::prelude::*;
use tickroom_protocol::board::{Event, Intent};
use tickroom_protocol::{
    DomainEvent, MemberId, Origin, PieceId, Pos, RoomConfig, RoomId, StateHash,
};
use tickroom_sim::fixtures::{busy_room, move_inputs};
use tickroom_sim::{Input, InputKind, Outcome, Room, SnapshotError, TickOutput};

#[test]
fn outcomes_line_up_with_inputs_and_inputs_come_back_for_the_log() {
    let (mut room, members) = busy_room(3, 1);
    let inputs = vec![
        Input::intent(
            members[0],
            10,
            Intent::MovePiece {
                piece: PieceId(0),
                to: Pos::new(1, 1),
            },
        ),
        Input::intent(
            members[1],
            11,
            Intent::MovePiece {
                piece: PieceId(0),
                to: Pos::new(2, 2),
            },
        ),
        Input::intent(members[2], 12, Intent::Chat { text: "hi".into() }),
    ];
    let out = room.step(inputs.clone());
    assert_eq!(out.inputs, inputs);
    assert_eq!(out.outcomes.len(), 3);
    assert_eq!(out.outcomes[0], Outcome::Applied);
    assert_eq!(
        out.outcomes[1].rejection().map(|e| e.code),
        Some(tickroom_protocol::ErrorCode::LockHeld)
    );
    assert_eq!(out.outcomes[2], Outcome::Applied);
    let log: Vec<_> = out.log().collect();
    assert_eq!(log.len(), 3);
    assert_eq!((log[1].tick, log[1].index), (out.tick, 1));
    assert_eq!(
        (log[1].input, log[1].outcome),
        (&inputs[1], &out.outcomes[1])
    );
    let p0 = tickroom_sim::board::piece(&room, PieceId(0)).unwrap();
    assert_eq!(
        (p0.pos, p0.lock.map(|l| l.holder)),
        (Pos::new(1, 1), Some(members[0]))
    );
    assert_eq!(tickroom_sim::board::piece(&room, PieceId(3)), None);
}

#[test]
fn deltas_chain_versions_and_carry_origins() {
    let (mut room, members) = busy_room(5, 2);
    let mut last_to = room.version();
    for round in 0..50 {
        let out = room.step(move_inputs(&members, round));
        let delta = out.delta.expect("moves make a delta");
        assert_eq!(delta.tick, out.tick);
        assert_eq!(delta.from_version, last_to, "gap at tick {}", out.tick);
        assert_eq!(delta.to_version, delta.from_version + 5);
        for (i, e) in delta.events.iter().enumerate() {
            assert_eq!(e.version, delta.from_version + 1 + i as u64);
            assert_eq!(
                e.origin,
                Origin {
                    member: Some(members[i]),
                    seq: Some(round + 2)
                }
            );
            assert!(
                matches!(e.event.decode_game(), Some(Event::PieceMoved { piece, .. }) if piece == PieceId(i as u32))
            );
        }
        last_to = delta.to_version;
    }
}

/// What the room does by itself carries no member in its origin (the
/// protocol's rule): a grace expiry is the room's timer, not the expired
/// member's request, like lock and match expiry; the disconnect before it is
/// the member's.
#[test]
fn a_grace_expiry_has_the_room_as_its_origin() {
    let mut room = Room::new(RoomId::from("grace"), RoomConfig::default(), 7).unwrap();
    let out = room.step(vec![
        Input::join("alice", "Alice", None, None),
        Input::join("bob", "Bob", None, None),
    ]);
    let alice = match out.outcomes[0] {
        Outcome::Joined { member } => member,
        ref other => panic!("{other:?}"),
    };
    let out = room.step(vec![Input::about(alice, InputKind::Disconnect)]);
    let delta = out.delta.expect("a disconnect is a change");
    assert!(delta.events.iter().all(|e| e.origin.member == Some(alice)));
    let out = room.step(vec![Input::about(alice, InputKind::GraceExpired)]);
    let delta = out.delta.expect("a grace expiry is a change");
    assert!(
        delta.events.iter().any(|e| matches!(
            e.event,
            tickroom_protocol::Event::Room(DomainEvent::HostChanged { .. })
        )),
        "{delta:?}"
    );
    for e in &delta.events {
        assert_eq!(e.origin, Origin::default(), "{e:?}");
    }
}

#[test]
fn quiet_ticks_send_nothing_and_rejections_alone_send_no_delta() {
    let (mut room, members) = busy_room(2, 3);
    let out = room.step(Vec::new());
    assert_eq!((out.delta, out.outcomes.len()), (None, 0));
    let out = room.step(vec![Input::intent(
        members[0],
        1,
        Intent::MovePiece {
            piece: PieceId(1),
            to: Pos::new(0, 0),
        },
    )]);
    assert!(out.delta.is_none());
    assert_eq!(out.outcomes.len(), 1);
}

#[test]
fn the_state_hash_is_published_every_hash_every_ticks() {
    let (mut room, members) = busy_room(2, 4);
    let every = room.config().hash_every_ticks as u64;
    let mut hashed = Vec::new();
    for round in 0..(3 * every) {
        let out = room.step(move_inputs(&members, round));
        if let Some(h) = out.delta.and_then(|d| d.state_hash) {
            assert_eq!(
                h,
                room.state_hash(),
                "published hash is the state after the tick"
            );
            hashed.push(out.tick);
        }
    }
    assert_eq!(hashed.len(), 3, "{hashed:?}");
    assert!(
        hashed.windows(2).all(|w| w[1] - w[0] == every),
        "{hashed:?}"
    );
}

fn dice_trace(seed: u64) -> (StateHash, Vec<u32>) {
    let (mut room, members) = busy_room(2, seed);
    let mut rolls = Vec::new();
    for seq in 0..20 {
        let out = room.step(vec![Input::intent(
            members[seq as usize % 2],
            seq,
            Intent::RollDice {
                notation: "3d20".into(),
            },
        )]);
        for e in out.delta.unwrap().events {
            if let Some(Event::DiceRolled { rolls: r, .. }) = e.event.decode_game() {
                rolls.extend(r);
            }
        }
    }
    (room.state_hash(), rolls)
}

#[test]
fn same_seed_same_rolls_and_hash_other_seed_differs() {
    let a = dice_trace(7);
    assert_eq!(a, dice_trace(7));
    let b = dice_trace(8);
    assert_ne!(a.1, b.1);
    assert_ne!(a.0, b.0);
    assert_eq!(a.1.len(), 60);
    assert!(a.1.iter().all(|r| (1..=20).contains(r)));
}

#[test]
fn snapshot_restores_hash_epoch_and_future() {
    let (mut room, members) = busy_room(10, 5);
    for round in 0..7 {
        room.step(move_inputs(&members, round));
    }
    room.bump_epoch();
    let hash = room.state_hash();
    let mut restored = Room::restore(&room.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), hash);
    assert_eq!(restored.epoch(), 1);
    assert_eq!(
        (restored.tick(), restored.version()),
        (room.tick(), room.version())
    );
    restored.bump_epoch();
    assert_eq!(restored.state_hash(), hash, "the epoch is outside the hash");
    for round in 7..150 {
        let a = room.step(move_inputs(&members, round));
        let b = restored.step(move_inputs(&members, round));
        assert_eq!(a, b);
    }
}

#[test]
fn bad_snapshots_are_refused_with_a_reason() {
    let (room, _) = busy_room(3, 6);
    let good = room.snapshot();
    assert_eq!(Room::restore(b"nope").unwrap_err(), SnapshotError::BadMagic);
    let mut newer = good.clone();
    newer[4] = 99;
    assert!(matches!(
        Room::restore(&newer).unwrap_err(),
        SnapshotError::UnsupportedVersion { found: 99, .. }
    ));
    assert!(matches!(
        Room::restore(&good[..good.len() - 1]),
        Err(SnapshotError::Corrupt(_))
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        Room::restore(&longer),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn new_rooms_refuse_an_invalid_config() {
    let config = RoomConfig {
        tick_rate_hz: 0,
        ..RoomConfig::default()
    };
    let err = Room::new(RoomId::from("r"), config, 1).unwrap_err();
    assert_eq!(err.code, tickroom_protocol::ErrorCode::InvalidConfig);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Damaged snapshot bytes give an error or a room, never a panic.
    #[test]
    fn damaged_snapshots_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (room, _) = busy_room(4, 9);
        let mut bytes = room.snapshot();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
                if let Ok(mut room) = Room::restore(&bytes) {
            // Drive the restored room through the whole pipeline.
            for round in 0..5u32 {
                let m = MemberId(round % 6);
                room.step(vec![
                    Input::join(&format!("x{round}"), "X", None, None),
                    Input::intent(m, 1, Intent::TakeLock { piece: PieceId(round) }),
                    Input::intent(m, 2, Intent::MovePiece { piece: PieceId(round), to: Pos::new(1, 1) }),
                    Input::intent(m, 3, Intent::StartMatch {}),
                    Input::about(m, InputKind::Leave),
                ]);
            }
            let _ = room.state_hash();
        }
    }
}

/// A random input for a small room of 4 seats, 2 teams and 6 pieces.
fn any_input() -> impl Strategy<Value = Input> {
    let member = (0u32..6).prop_map(MemberId);
    let piece = (0u32..7).prop_map(PieceId);
    let pos = (-2i32..52, -2i32..52).prop_map(|(x, y)| Pos::new(x, y));
    let intent = prop_oneof![
        4 => (piece.clone(), pos).prop_map(|(piece, to)| Intent::MovePiece { piece, to }),
        3 => piece.clone().prop_map(|piece| Intent::TakeLock { piece }),
        1 => piece.clone().prop_map(|piece| Intent::RenewLock { piece }),
        1 => piece.prop_map(|piece| Intent::ReleaseLock { piece }),
        1 => (0u8..3, 0u8..4).prop_map(|(n, k)| Intent::SaveFormation { name: format!("f{n}"), key: format!("k{k}") }),
        1 => (0u8..3).prop_map(|n| Intent::ApplyFormation { name: format!("f{n}") }),
        1 => prop_oneof![Just("2d6+1"), Just("d20"), Just("0d6")].prop_map(|n| Intent::RollDice { notation: n.into() }),
        1 => Just(Intent::Chat { text: "hi".into() }),
        1 => Just(Intent::StartMatch {}),
        1 => Just(Intent::ArchiveRoom {}),
    ];
    prop_oneof![
        6 => (member.clone(), intent).prop_map(|(m, i)| Input::intent(m, 1, i)),
        1 => (0u8..6, 0u8..3).prop_map(|(u, t)| Input::join(&format!("u{u}"), "N", None, Some(tickroom_protocol::TeamId(t % 2)))),
        1 => member.clone().prop_map(|m| Input::about(m, InputKind::Leave)),
        1 => member.clone().prop_map(|m| Input::about(m, InputKind::Disconnect)),
        1 => member.clone().prop_map(|m| Input::about(m, InputKind::Reconnect)),
        1 => member.clone().prop_map(|m| Input::about(m, InputKind::GraceExpired)),
        1 => (member, 0u8..2).prop_map(|(m, t)| Input::about(m, InputKind::ChangeTeam { team: tickroom_protocol::TeamId(t) })),
    ]
}

fn small_room() -> Room {
    let config = RoomConfig {
        max_players: 4,
        teams: 2,
        match_ticks: 30,
        auto_archive_ticks: 10,
        hash_every_ticks: 3,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 2,
            neutral_pieces: 2,
            board_width: 50,
            board_height: 50,
            lock_ttl_ticks: 4,
            max_formations: 2,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    Room::new(RoomId::from("fuzz"), config, 1234).unwrap()
}

/// Gives every input a distinct seq, so events trace back to their input.
fn numbered(script: Vec<Vec<Input>>) -> Vec<Vec<Input>> {
    let mut seq = 0;
    script
        .into_iter()
        .map(|tick| {
            tick.into_iter()
                .map(|i| {
                    seq += 1;
                    Input {
                        seq: Some(seq),
                        ..i
                    }
                })
                .collect()
        })
        .collect()
}

fn run_script(room: &mut Room, script: &[Vec<Input>]) -> Vec<TickOutput> {
    script
        .iter()
        .map(|inputs| room.step(inputs.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random input streams: the same stream gives the same outputs; a room
    /// restored from a snapshot at any tick continues exactly like the
    /// original; versions chain without gaps; every rejection changes nothing
    /// that the version would show.
    #[test]
    fn random_streams_are_deterministic_and_restore_keeps_the_future(
        script in prop::collection::vec(prop::collection::vec(any_input(), 0..6), 1..60),
        cut in any::<prop::sample::Index>(),
    ) {
                let script = numbered(script);
        let mut a = small_room();
        let mut b = small_room();
        let outs_a = run_script(&mut a, &script);
        prop_assert_eq!(&outs_a, &run_script(&mut b, &script));

                let mut version = 0;
        for out in &outs_a {
            let applied = out
                .outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Applied | Outcome::Joined { .. }))
                .count();
            let Some(d) = &out.delta else {
                prop_assert_eq!(applied, 0, "an applied input always makes a delta");
                continue;
            };
            prop_assert_eq!(d.from_version, version);
            version = d.to_version;
            // Every version in the range belongs to exactly one mutation with events…
            let versions: std::collections::BTreeSet<u64> = d.events.iter().map(|e| e.version).collect();
            let range: std::collections::BTreeSet<u64> = (d.from_version + 1..=d.to_version).collect();
            prop_assert_eq!(versions, range);
            // …and the mutations caused by inputs are exactly the applied inputs:
            // no rejection or duplicate bumps the version, nothing bumps it twice.
            let by_inputs: std::collections::BTreeSet<u64> = d
                .events
                .iter()
                .filter(|e| e.origin.seq.is_some())
                .map(|e| e.version)
                .collect();
            prop_assert_eq!(by_inputs.len(), applied);
        }

        let cut = cut.index(script.len());
        let mut c = small_room();
        run_script(&mut c, &script[..cut]);
        let mut restored = Room::restore(&c.snapshot()).unwrap();
        prop_assert_eq!(run_script(&mut restored, &script[cut..]), outs_a[cut..].to_vec());
        prop_assert_eq!(restored.state_hash(), a.state_hash());
    }
}

/// The outputs of the ticks that did something, and the room's hash, after
/// each tick of `script` is followed by its number of quiet ticks; `skip`
/// passes the quiet stretches with `skip_idle` where it allows.
fn run_with_quiet_stretches(script: &[(Vec<Input>, u64)], skip: bool) -> (Vec<TickOutput>, Room) {
    let mut room = small_room();
    let mut busy = Vec::new();
    for (inputs, quiet) in script {
        busy.push(room.step(inputs.clone()));
        let mut left = *quiet;
        while left > 0 {
            if skip {
                let skipped = room.skip_idle(left);
                assert!(skipped <= left);
                left -= skipped;
                if left == 0 {
                    break;
                }
            }
            let out = room.step(Vec::new());
            left -= 1;
            if out.delta.is_some() || !out.outcomes.is_empty() {
                busy.push(out);
            }
        }
    }
    (busy, room)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A parked room skips its quiet ticks: skipping them gives the same
    /// outputs, ticks and hash as stepping through them, so a server that
    /// parks quiet rooms replays exactly like one that ticks them.
    #[test]
    fn skipping_quiet_ticks_is_the_same_as_stepping_them(
        script in prop::collection::vec((prop::collection::vec(any_input(), 0..5), 0u64..40), 1..30),
    ) {
        let script: Vec<(Vec<Input>, u64)> = numbered(script.iter().map(|(i, _)| i.clone()).collect())
            .into_iter()
            .zip(script.iter().map(|(_, q)| *q))
            .collect();
        let (stepped, a) = run_with_quiet_stretches(&script, false);
        let (skipped, b) = run_with_quiet_stretches(&script, true);
        prop_assert_eq!(stepped, skipped);
        prop_assert_eq!(a.tick(), b.tick());
        prop_assert_eq!(a.state_hash(), b.state_hash());
        prop_assert_eq!(a.snapshot(), b.snapshot());
    }

    /// A server freezes a room that has been quiet for a while and thaws it
    /// for its next request: a room frozen and thawed between any ticks
    /// gives the same outputs, hash and snapshot as one that never was.
    #[test]
    fn freezing_and_thawing_between_ticks_changes_nothing(
        script in prop::collection::vec((prop::collection::vec(any_input(), 0..5), any::<bool>()), 1..40),
    ) {
        let ticks = numbered(script.iter().map(|(i, _)| i.clone()).collect());
        let mut plain = small_room();
        let mut thawed = small_room();
        for (inputs, (_, freeze)) in ticks.into_iter().zip(&script) {
            if *freeze {
                let frozen = thawed.frozen();
                prop_assert_eq!(frozen.tick(), thawed.tick());
                prop_assert_eq!(frozen.version(), thawed.version());
                prop_assert_eq!(frozen.phase(), thawed.phase());
                prop_assert_eq!(frozen.member_count(), thawed.member_count());
                prop_assert_eq!(frozen.epoch(), thawed.epoch());
                let before = thawed.snapshot();
                thawed = frozen.thaw();
                prop_assert_eq!(thawed.snapshot(), before);
            }
            prop_assert_eq!(plain.step(inputs.clone()), thawed.step(inputs));
        }
        prop_assert_eq!(plain.state_hash(), thawed.state_hash());
        prop_assert_eq!(plain.snapshot(), thawed.snapshot());
    }
}

#[test]
fn skipping_stops_before_a_lock_expiry_and_the_expiry_still_happens() {
    let (mut room, _) = busy_room(1, 7);
    let due = room.next_due_tick().expect("the held lock expires");
    let start = room.tick();
    assert_eq!(room.skip_idle(1_000), due - start - 1);
    assert_eq!(room.tick(), due - 1);
    assert_eq!(room.skip_idle(1_000), 0, "the next tick has something due");
    let out = room.step(Vec::new());
    assert_eq!(out.tick, due);
    let delta = out.delta.expect("the expiry is an event");
    assert!(delta.events.iter().any(|e| matches!(
        e.event.decode_game(),
        Some(Event::LockReleased { piece, .. }) if piece == PieceId(0)
    )));
    assert_eq!(
        tickroom_sim::board::piece(&room, PieceId(0))
            .and_then(|p| p.lock)
            .map(|l| l.holder),
        None
    );
    assert_eq!(room.next_due_tick(), None);
    assert_eq!(
        room.skip_idle(1_000),
        1_000,
        "nothing due: any stretch is quiet"
    );
}

#[test]
fn inputs_and_outcomes_round_trip_through_postcard_for_the_log() {
    let inputs = vec![
        Input::join("u", "Name", Some(tickroom_protocol::Role::Spectator), None),
        Input::intent(
            MemberId(3),
            9,
            Intent::RollDice {
                notation: "2d6".into(),
            },
        ),
        Input::about(MemberId(3), InputKind::GraceExpired),
    ];
    for input in &inputs {
        let bytes = input.encode();
        assert_eq!(&Input::decode::<Intent>(&bytes).unwrap(), input);
    }
    let outcome = Outcome::Rejected(
        tickroom_protocol::ErrorBody::new(tickroom_protocol::ErrorCode::LockHeld, "x")
            .with("holder", 3u32),
    );
    let bytes = postcard::to_stdvec(&outcome).unwrap();
    assert_eq!(postcard::from_bytes::<Outcome>(&bytes).unwrap(), outcome);
}
