//! Every rejected input leaves the room exactly as an empty tick would: the
//! state hash after the rejected input equals that of a twin room (restored
//! from the same snapshot) that received nothing.

use tickroom_protocol::board::Intent;
use tickroom_protocol::{ErrorCode, MemberId, PieceId, Pos, Role, RoomConfig, RoomId, TeamId};
use tickroom_sim::{AdminAction, Input, InputKind, Outcome, Room};

struct Cast {
    alice: MemberId, // host, team 0, holds the lock of piece 0
    bob: MemberId,   // player, team 1, holds the lock of piece 4
    sam: MemberId,   // spectator
    gus: MemberId,   // player, team 0, disconnected (in grace)
}

fn joined(out: &tickroom_sim::TickOutput, i: usize) -> MemberId {
    match &out.outcomes[i] {
        Outcome::Joined { member } => *member,
        other => panic!("join {i} failed: {other:?}"),
    }
}

/// A room in `setup` with 2 teams of 4 pieces (team 0: 0..=3, team 1: 4..=7)
/// and 2 neutral pieces (8, 9), one saved formation and a full formation list.
fn setup_room() -> (Room, Cast) {
    let config = RoomConfig {
        max_players: 4,
        teams: 2,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 4,
            neutral_pieces: 2,
            board_width: 100,
            board_height: 100,
            max_formations: 1,
            max_chat_chars: 20,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    let mut room = Room::new(RoomId::from("r"), config, 42).unwrap();
    let out = room.step(vec![
        Input::join("alice", "Alice", None, Some(TeamId(0))),
        Input::join("bob", "Bob", None, Some(TeamId(1))),
        Input::join("sam", "Sam", Some(Role::Spectator), None),
        Input::join("gus", "Gus", None, Some(TeamId(0))),
    ]);
    let cast = Cast {
        alice: joined(&out, 0),
        bob: joined(&out, 1),
        sam: joined(&out, 2),
        gus: joined(&out, 3),
    };
    let out = room.step(vec![
        Input::intent(cast.alice, 1, Intent::TakeLock { piece: PieceId(0) }),
        Input::intent(cast.bob, 1, Intent::TakeLock { piece: PieceId(4) }),
        Input::intent(
            cast.alice,
            2,
            Intent::SaveFormation {
                name: "f".into(),
                key: "k".into(),
            },
        ),
        Input::about(cast.gus, InputKind::Disconnect),
    ]);
    assert!(
        out.outcomes.iter().all(|o| o.rejection().is_none()),
        "{out:?}"
    );
    (room, cast)
}

fn intent(m: MemberId, i: Intent) -> Input {
    Input::intent(m, 99, i)
}

fn assert_rejected_without_effect(base: &Room, input: Input, want: Option<ErrorCode>) {
    let snapshot = base.snapshot();
    let mut tried = Room::restore(&snapshot).unwrap();
    let mut control = Room::restore(&snapshot).unwrap();
    let out = tried.step(vec![input.clone()]);
    let idle = control.step(Vec::new());
    match (want, &out.outcomes[..]) {
        (Some(code), [Outcome::Rejected(e)]) => {
            assert_eq!(e.code, code, "{input:?}: {e:?}");
            assert!(!e.message.is_empty());
        }
        (None, [Outcome::Duplicate]) => {}
        (_, other) => panic!("{input:?}: expected {want:?}, got {other:?}"),
    }
    assert_eq!(out.delta, None, "{input:?} produced a delta");
    assert_eq!(idle.delta, None);
    assert_eq!(
        tried.version(),
        base.version(),
        "{input:?} bumped the version"
    );
    assert_eq!(
        tried.state_hash(),
        control.state_hash(),
        "{input:?} changed the room"
    );
    // And the rejected room keeps behaving like the untouched one.
    let next = |r: &mut Room| {
        r.step(vec![Input::join("late", "Late", None, None)]);
        r.state_hash()
    };
    assert_eq!(next(&mut tried), next(&mut control), "{input:?}");
}

#[test]
fn every_kind_of_rejected_input_leaves_the_room_untouched() {
    use ErrorCode::*;
    let (room, c) = setup_room();
    let move_to = |p: u32, x: i32, y: i32| Intent::MovePiece {
        piece: PieceId(p),
        to: Pos::new(x, y),
    };
    let cases: Vec<(Input, Option<ErrorCode>)> = vec![
        // resolve
        (
            Input {
                member: None,
                seq: Some(1),
                kind: InputKind::intent(move_to(0, 1, 1)),
            },
            Some(NotInRoom),
        ),
        (intent(MemberId(777), move_to(0, 1, 1)), Some(NotInRoom)),
        (
            intent(c.gus, Intent::TakeLock { piece: PieceId(1) }),
            Some(NotInRoom),
        ),
        // validate
        (intent(c.alice, move_to(0, 100, 1)), Some(OutOfBounds)),
        (intent(c.alice, move_to(0, 1, -1)), Some(OutOfBounds)),
        (intent(c.alice, move_to(99, 1, 1)), Some(PieceNotFound)),
        (
            intent(c.alice, Intent::TakeLock { piece: PieceId(10) }),
            Some(PieceNotFound),
        ),
        (
            intent(
                c.alice,
                Intent::RollDice {
                    notation: "0d6".into(),
                },
            ),
            Some(InvalidArgument),
        ),
        (
            intent(
                c.alice,
                Intent::RollDice {
                    notation: "2d6+".into(),
                },
            ),
            Some(InvalidArgument),
        ),
        (
            intent(c.alice, Intent::Chat { text: "   ".into() }),
            Some(InvalidArgument),
        ),
        (
            intent(
                c.alice,
                Intent::Chat {
                    text: "x".repeat(21),
                },
            ),
            Some(FieldTooLong),
        ),
        (
            intent(
                c.alice,
                Intent::Chat {
                    text: "bell\u{7}".into(),
                },
            ),
            Some(InvalidArgument),
        ),
        (
            intent(
                c.alice,
                Intent::ApplyFormation {
                    name: "nope".into(),
                },
            ),
            Some(FormationNotFound),
        ),
        (
            intent(
                c.alice,
                Intent::SaveFormation {
                    name: "".into(),
                    key: "k2".into(),
                },
            ),
            Some(InvalidArgument),
        ),
        (
            intent(
                c.alice,
                Intent::SaveFormation {
                    name: "g".into(),
                    key: "k".repeat(129),
                },
            ),
            Some(FieldTooLong),
        ),
        (
            Input::about(c.alice, InputKind::ChangeTeam { team: TeamId(2) }),
            Some(InvalidArgument),
        ),
        (
            Input::about(c.alice, InputKind::Reconnect),
            Some(InvalidArgument),
        ),
        (
            Input::about(c.alice, InputKind::GraceExpired),
            Some(InvalidArgument),
        ),
        (Input::join("zed", "", None, None), Some(InvalidArgument)),
        (
            Input::join("zed", &"z".repeat(33), None, None),
            Some(FieldTooLong),
        ),
        (
            Input::join("zed", "Zed", None, Some(TeamId(9))),
            Some(InvalidArgument),
        ),
        (Input::join("", "Zed", None, None), Some(InvalidArgument)),
        (
            Input {
                member: None,
                seq: None,
                kind: InputKind::Admin(AdminAction::Kick {
                    member: MemberId(777),
                    by: "ops".into(),
                }),
            },
            Some(MemberNotFound),
        ),
        // authorize
        (intent(c.sam, move_to(8, 1, 1)), Some(Forbidden)),
        (
            intent(c.sam, Intent::TakeLock { piece: PieceId(8) }),
            Some(Forbidden),
        ),
        (
            intent(
                c.sam,
                Intent::SaveFormation {
                    name: "s".into(),
                    key: "s".into(),
                },
            ),
            Some(Forbidden),
        ),
        (
            intent(c.sam, Intent::ApplyFormation { name: "f".into() }),
            Some(Forbidden),
        ),
        (
            intent(
                c.sam,
                Intent::RollDice {
                    notation: "1d6".into(),
                },
            ),
            Some(Forbidden),
        ),
        (intent(c.sam, Intent::StartMatch {}), Some(Forbidden)),
        (
            Input::about(c.sam, InputKind::ChangeTeam { team: TeamId(0) }),
            Some(Forbidden),
        ),
        (intent(c.bob, Intent::StartMatch {}), Some(Forbidden)),
        (intent(c.bob, Intent::ArchiveRoom {}), Some(Forbidden)),
        (
            intent(c.bob, Intent::TakeLock { piece: PieceId(1) }),
            Some(Forbidden),
        ),
        (
            intent(c.bob, Intent::ApplyFormation { name: "f".into() }),
            Some(Forbidden),
        ),
        (
            Input::join("alice", "Alice again", None, None),
            Some(AlreadyInRoom),
        ),
        // lock
        (
            intent(c.alice, Intent::TakeLock { piece: PieceId(4) }),
            Some(Forbidden),
        ),
        (intent(c.bob, move_to(0, 1, 1)), Some(Forbidden)),
        (intent(c.alice, move_to(8, 1, 1)), Some(NotLockOwner)),
        (
            intent(c.alice, Intent::RenewLock { piece: PieceId(8) }),
            Some(NotLockOwner),
        ),
        (
            intent(c.alice, Intent::ReleaseLock { piece: PieceId(1) }),
            Some(NotLockOwner),
        ),
        (
            intent(
                c.alice,
                Intent::SaveFormation {
                    name: "new".into(),
                    key: "k3".into(),
                },
            ),
            Some(FormationLimit),
        ),
        // idempotent repeat: acknowledged, nothing changes
        (
            intent(
                c.alice,
                Intent::SaveFormation {
                    name: "f".into(),
                    key: "k".into(),
                },
            ),
            None,
        ),
        (
            Input::about(c.alice, InputKind::ChangeTeam { team: TeamId(0) }),
            None,
        ),
    ];
    for (input, want) in cases {
        assert_rejected_without_effect(&room, input, want);
    }
}

/// Lock contention between two players of one team, and a full room.
#[test]
fn contention_and_capacity_rejections_leave_the_room_untouched() {
    let (mut room, c) = setup_room();
    // Gus comes back and takes piece 1; Alice then cannot move or take it.
    let out = room.step(vec![
        Input::about(c.gus, InputKind::Reconnect),
        Input::intent(c.gus, 5, Intent::TakeLock { piece: PieceId(1) }),
    ]);
    assert!(out.outcomes.iter().all(|o| o.rejection().is_none()));
    assert_rejected_without_effect(
        &room,
        intent(c.alice, Intent::TakeLock { piece: PieceId(1) }),
        Some(ErrorCode::LockHeld),
    );
    assert_rejected_without_effect(
        &room,
        intent(
            c.alice,
            Intent::MovePiece {
                piece: PieceId(1),
                to: Pos::new(3, 3),
            },
        ),
        Some(ErrorCode::LockHeld),
    );
    assert_rejected_without_effect(
        &room,
        intent(c.alice, Intent::ApplyFormation { name: "f".into() }),
        Some(ErrorCode::LockHeld),
    );
    assert_rejected_without_effect(
        &room,
        Input::join("zed", "Zed", None, None),
        Some(ErrorCode::RoomFull),
    );
}

#[test]
fn wrong_phase_rejections_leave_the_room_untouched() {
    let (mut room, c) = setup_room();
    let out = room.step(vec![intent(c.alice, Intent::StartMatch {})]);
    assert!(out.outcomes[0].rejection().is_none());
    assert_rejected_without_effect(
        &room,
        intent(c.alice, Intent::StartMatch {}),
        Some(ErrorCode::WrongPhase),
    );
    assert_rejected_without_effect(
        &room,
        Input::about(c.alice, InputKind::ChangeTeam { team: TeamId(1) }),
        Some(ErrorCode::WrongPhase),
    );
    let out = room.step(vec![intent(c.alice, Intent::ArchiveRoom {})]);
    assert!(out.outcomes[0].rejection().is_none());
    for i in [
        Intent::MovePiece {
            piece: PieceId(0),
            to: Pos::new(1, 1),
        },
        Intent::TakeLock { piece: PieceId(0) },
        Intent::Chat { text: "hi".into() },
        Intent::RollDice {
            notation: "1d6".into(),
        },
        Intent::ArchiveRoom {},
    ] {
        assert_rejected_without_effect(&room, intent(c.alice, i), Some(ErrorCode::WrongPhase));
    }
    assert_rejected_without_effect(
        &room,
        Input::join("zed", "Zed", None, None),
        Some(ErrorCode::WrongPhase),
    );
}

/// The text of `#### `tag` (index …)` in docs/modes/board.md, up to the next heading.
fn protocol_section(tag: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/modes/board.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let heading = format!("#### `{tag}` (index");
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("no section {tag}"));
    let body = &doc[start + heading.len()..];
    let end = body.find("\n#").unwrap_or(body.len());
    body[..end].to_owned()
}

/// Lock rejections are the codes docs/modes/board.md lists for each intent: a
/// move of a piece another member holds is LOCK_HELD (with the holder, as
/// for take_lock), a move of an unlocked piece NOT_LOCK_OWNER (take it
/// first); renew and release of someone else's lock are NOT_LOCK_OWNER.
#[test]
fn lock_rejections_are_the_codes_the_protocol_document_lists() {
    use ErrorCode::*;
    let (mut room, c) = setup_room();
    let out = room.step(vec![intent(c.bob, Intent::TakeLock { piece: PieceId(8) })]);
    assert!(out.outcomes[0].rejection().is_none(), "{out:?}");
    let move_to = |p: u32| Intent::MovePiece {
        piece: PieceId(p),
        to: Pos::new(1, 1),
    };
    let cases = [
        ("move_piece", move_to(8), LockHeld),
        ("move_piece", move_to(9), NotLockOwner),
        (
            "take_lock",
            Intent::TakeLock { piece: PieceId(8) },
            LockHeld,
        ),
        (
            "renew_lock",
            Intent::RenewLock { piece: PieceId(8) },
            NotLockOwner,
        ),
        (
            "release_lock",
            Intent::ReleaseLock { piece: PieceId(8) },
            NotLockOwner,
        ),
    ];
    for (tag, i, code) in cases {
        let input = intent(c.alice, i);
        assert_rejected_without_effect(&room, input.clone(), Some(code));
        let section = protocol_section(tag);
        assert!(
            section.contains(&format!("`{}`", code.as_str())),
            "docs/protocol.md does not list {code} for {tag}:{section}"
        );
    }
    let out = room.step(vec![intent(c.alice, move_to(8))]);
    match out.outcomes[0].rejection() {
        Some(e) => assert_eq!(
            e.details.get("holder"),
            Some(&tickroom_protocol::DetailValue::Int(i64::from(c.bob.0)))
        ),
        None => panic!("{out:?}"),
    }
}

/// An intent of another mode (here a type the board does not have), and
/// one decoded from a client that names no board intent, are refused with
/// UNKNOWN_INTENT and leave the room as an empty tick would.
#[test]
fn an_intent_of_another_mode_is_unknown_and_changes_nothing() {
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Other {
        Place { cell: u8 },
    }
    let (room, c) = setup_room();
    assert_rejected_without_effect(
        &room,
        Input::intent(c.alice, 99, Other::Place { cell: 4 }),
        Some(ErrorCode::UnknownIntent),
    );
    // From the wire: the room's mode refuses it before any of its code runs.
    let limits = tickroom_protocol::Limits::CLIENT_FRAMES;
    for json in [
        r#"{"place": {"cell": 4}}"#,
        r#"{"move_piece": 7}"#,
        r#"[1, 2]"#,
    ] {
        let payload = tickroom_protocol::Payload::from_json(json).unwrap();
        let err = room.mode().decode_intent(&payload, &limits).unwrap_err();
        assert!(
            matches!(err.code, ErrorCode::UnknownIntent | ErrorCode::Malformed),
            "{json}: {err:?}"
        );
    }
}
