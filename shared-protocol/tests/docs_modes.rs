//! `docs/modes/board.md` stays in step with the board's wire types the way
//! `docs/protocol.md` does with the framework's: the checks every mode's
//! page passes (`tickroom_sim::mode_docs`: every intent and event tag has a
//! heading with its index, a field table and an example, the intent table
//! is `board::INTENTS`, every `json` example decodes to the board's typed
//! values and re-encodes to exactly the same bytes, the state and its
//! types are documented in order, every setting of `board::Config` with
//! its default and bounds, and every error code named is a real one), and
//! the board's own: its bounds and derived checks, its lock rejections.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tickroom_protocol::board;
use tickroom_protocol::*;
use tickroom_sim::board::Board;
use tickroom_sim::mode_docs::{Example, Page, codes_in, example, field_order, rows, section};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/modes/board.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page passes every check of `mode_docs`, with a sample of every
/// variant, the types of the state and the events, and the unit enums.
#[test]
fn the_page_is_true_to_the_board() {
    let state = sample_board_state();
    let piece = &state.pieces[1];
    let placement = board::Placement {
        piece: PieceId(0),
        pos: Pos::new(1, 1),
    };
    let doc = doc();
    let problems = Page::<Board>::new(&doc, board_intent_samples(), board_event_samples())
        .type_fields("PieceView", piece)
        .type_fields("LockView", &piece.lock.unwrap())
        .type_fields("ChatLine", &state.chat[0])
        .type_fields("Placement", &placement)
        .unit_enum("ReleaseReason", RELEASE_REASONS)
        .unit_enum("RateClass", RATE_CLASSES)
        .problems();
    assert!(problems.is_empty(), "board.md:\n{}", problems.join("\n"));
    let named = codes_in(&doc);
    assert!(named.len() > 10, "{named:?}");
}

/// The example check refuses what it should.
#[test]
fn the_example_check_refuses_what_the_board_does_not_have() {
    for bad in [
        // Not the board's.
        r#"{"intent":{"seq":1,"intent":{"teleport":{"piece":3}}}}"#,
        r#"{"teleport":{"piece":3}}"#,
        // A field the board does not have.
        r#"{"chat":{"text":"hi","colour":"red"}}"#,
        // Not byte-identical: spacing, field order, a config key missing.
        r#"{"chat": {"text":"hi"}}"#,
        r#"{"piece_moved":{"to":{"x":1,"y":1},"piece":3}}"#,
        r#"{"pieces_per_team":8}"#,
        // Over a decode limit.
        &format!(r#"{{"chat":{{"text":"{}"}}}}"#, "x".repeat(2049)),
    ] {
        assert!(example::<Board>(bad).is_none(), "{bad}");
    }
    assert!(matches!(
        example::<Board>(r#"{"chat":{"text":"hi"}}"#),
        Some(Example::Intent(_))
    ));
}

/// The bounds of every setting of `board::Config` are `board::bounds`
/// (`mode_docs` holds them to `validate` too); the derived checks are
/// under their keys; and every key `validate` names in an `INVALID_CONFIG`
/// is documented with the range it reports.
#[test]
fn every_config_bound_is_the_boards() {
    use board::bounds::*;
    let doc = doc();
    let text = section(&doc, "## Config").expect("a config section");
    let table = rows(text);
    let keys = field_order(&board::Config::default());

    let range = |(min, max): (i64, i64)| format!("{min} ..= {max}");
    let wide = |(a, b): (u16, u16)| (i64::from(a), i64::from(b));
    let bounds: BTreeMap<&str, String> = [
        ("pieces_per_team", "see `pieces`".to_owned()),
        ("neutral_pieces", "see `pieces`".to_owned()),
        (
            "board_width",
            range((BOARD_SIDE.0.into(), BOARD_SIDE.1.into())),
        ),
        (
            "board_height",
            range((BOARD_SIDE.0.into(), BOARD_SIDE.1.into())),
        ),
        (
            "lock_ttl_ticks",
            range((LOCK_TTL_TICKS.0.into(), LOCK_TTL_TICKS.1.into())),
        ),
        ("max_formations", range(wide(MAX_FORMATIONS))),
        ("chat_history", range(wide(CHAT_HISTORY))),
        ("max_chat_chars", range(wide(MAX_CHAT_CHARS))),
        ("max_dice", range(wide(MAX_DICE))),
        (
            "max_dice_sides",
            range((MAX_DICE_SIDES.0.into(), MAX_DICE_SIDES.1.into())),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(bounds.len(), keys.len());
    for key in &keys {
        let cells = &table[key.as_str()];
        assert_eq!(cells[2], bounds[key.as_str()], "bounds of `{key}`");
    }

    // The derived checks, under the keys `validate` reports them with.
    let derived = rows(
        &text
            .lines()
            .map(|l| l.replacen("| (`", "| `", 1).replacen("`) |", "` |", 1))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let teams = RoomConfig::default().teams;
    let d = board::Config::default();
    let pieces = d.piece_count(teams);
    let places = u32::from(d.max_formations) * pieces;
    for (key, default, (min, max)) in [
        ("pieces", pieces, TOTAL_PIECES),
        ("max_formations × pieces", places, FORMATION_PLACES),
    ] {
        let cells = derived
            .get(key)
            .unwrap_or_else(|| panic!("derived key `{key}` has no row"));
        assert_eq!(cells[1], default.to_string(), "default of `{key}`");
        assert_eq!(cells[2], format!("{min} ..= {max}"), "bounds of `{key}`");
    }
    assert_eq!(d.validate(teams), Ok(()));

    // Every value `validate` refuses names a documented key and the
    // documented range.
    let out_of_bounds = [
        board::Config {
            pieces_per_team: 50_000,
            ..d.clone()
        },
        board::Config {
            board_width: 0,
            ..d.clone()
        },
        board::Config {
            board_height: BOARD_SIDE.1.saturating_add(1),
            ..d.clone()
        },
        board::Config {
            lock_ttl_ticks: 0,
            ..d.clone()
        },
        board::Config {
            max_formations: MAX_FORMATIONS.1 + 1,
            ..d.clone()
        },
        board::Config {
            chat_history: CHAT_HISTORY.1 + 1,
            ..d.clone()
        },
        board::Config {
            max_chat_chars: 0,
            ..d.clone()
        },
        board::Config {
            max_dice: 0,
            ..d.clone()
        },
        board::Config {
            max_dice_sides: 1,
            ..d.clone()
        },
        board::Config {
            pieces_per_team: 20_000,
            ..d.clone()
        },
    ];
    let mut reported = BTreeSet::new();
    for c in out_of_bounds {
        let err = c.validate(teams).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        let DetailValue::Text(key) = &err.details["key"] else {
            panic!("{err:?}")
        };
        let (DetailValue::Int(min), DetailValue::Int(max)) =
            (&err.details["min"], &err.details["max"])
        else {
            panic!("{err:?}")
        };
        let cells = derived
            .get(key.as_str())
            .unwrap_or_else(|| panic!("`validate` names `{key}`, which has no row"));
        assert_eq!(cells[2], format!("{min} ..= {max}"), "{key}");
        reported.insert(key.clone());
    }
    assert_eq!(reported.len(), 10, "{reported:?}");
}

/// The lock rejections the errors table lists are the ones the board's
/// rules give (see `sim/tests/rejections.rs`), and the board registers no
/// codes of its own.
#[test]
fn the_errors_table_has_the_boards_rejections() {
    let doc = doc();
    let errors = rows(section(&doc, "## Errors").expect("an errors section"));
    for (tag, code) in [
        ("move_piece", "LOCK_HELD"),
        ("move_piece", "NOT_LOCK_OWNER"),
        ("take_lock", "LOCK_HELD"),
        ("renew_lock", "NOT_LOCK_OWNER"),
        ("release_lock", "NOT_LOCK_OWNER"),
        ("save_formation", "FORMATION_LIMIT"),
        ("apply_formation", "FORMATION_NOT_FOUND"),
        ("chat", "FIELD_TOO_LONG"),
    ] {
        assert!(codes_in(&errors[tag][0]).contains(code), "{tag}: {code}");
    }
    assert!(doc.contains("registers no error codes of its own"));
}
