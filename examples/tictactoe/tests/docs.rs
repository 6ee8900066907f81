//! `docs/modes/tictactoe.md` stays in step with this crate: the checks
//! every mode's page passes (`tickroom_sim::mode_docs`: every intent and
//! event tag has a heading with its variant index, a field table and an
//! example, the intent table is `TicTacToe::INTENTS`, every `json` example
//! decodes to the mode's typed values and re-encodes to exactly the same
//! bytes, every setting of `Config` is documented with its default and the
//! bounds `validate_config` enforces, every error code named is a real
//! one, and the errors table is what the rules answer), and this mode's
//! own: its samples, the example of a new room, its exported codes.

use std::path::Path;
use tickroom_protocol::*;
use tickroom_sim::Mode;
use tickroom_sim::mode_docs::{self, Example, Page};
use tickroom_tictactoe::{self as ttt, TicTacToe};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/modes/tictactoe.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ samples

/// One example of every intent, in variant order (`mode_docs` checks
/// that these are every variant).
fn intent_samples() -> Vec<ttt::Intent> {
    vec![ttt::Intent::Place { cell: 4 }, ttt::Intent::Reset {}]
}

/// One example of every event, in variant order.
fn event_samples() -> Vec<ttt::Event> {
    vec![
        ttt::Event::Placed {
            member: MemberId(1),
            cell: 4,
            mark: ttt::Mark::X,
        },
        ttt::Event::GameOver {
            winner: Some(ttt::Mark::X),
            outcome: ttt::Outcome::Line,
        },
        ttt::Event::Reset {},
    ]
}

// --------------------------------------------------------------------- page

/// A room that provokes every rejection of the rules; the runner checks
/// that each line gets exactly the code it names.
const REJECTIONS: &str = "\
scenario tictactoe.md: every rejection the errors table lists
mode tictactoe
seed 1

tick 1
  xena join
  otto join
  nina join
  sam join role=spectator
tick 2
  - place cell=0               !NOT_IN_ROOM
  sam place cell=0             !FORBIDDEN
  sam reset                    !FORBIDDEN
  xena place cell=4
  xena place cell=0            !NOT_YOUR_TURN
  otto place cell=4            !INVALID_ARGUMENT
  otto place cell=9            !INVALID_ARGUMENT
  otto place cell=0
  nina place cell=1            !FORBIDDEN
  otto reset                   !FORBIDDEN
  xena reset
  expect state /x 1
  expect state /o 2
tick 3
  xena place cell=0
  otto place cell=3
  xena place cell=1
  otto place cell=4
  xena place cell=2
  expect state /over [\"x\",\"line\"]
  otto place cell=5            !GAME_OVER
tick 4
  nina reset
  expect state /over null
  admin archive
tick 5
  xena place cell=0            !WRONG_PHASE
";

/// The page passes every check of `mode_docs`, with a sample of every
/// variant, the unit enums and the scenario above.
#[test]
fn the_page_is_true_to_the_mode() {
    use ttt::{Mark, Outcome};
    let doc = doc();
    let problems = Page::<TicTacToe>::new(&doc, intent_samples(), event_samples())
        .unit_enum("Mark", &[Mark::X, Mark::O])
        .unit_enum("Outcome", &[Outcome::Line, Outcome::Draw, Outcome::Forfeit])
        .rejections(REJECTIONS)
        .problems();
    assert!(
        problems.is_empty(),
        "tictactoe.md:\n{}",
        problems.join("\n")
    );
    // Every value of each enum is in its row (a new one fails to decode).
    assert!(serde_json::from_str::<Mark>(r#""z""#).is_err());
    let named = mode_docs::codes_in(&doc);
    assert!(named.len() > 8, "{named:?}");
}

/// The example check refuses what it should.
#[test]
fn the_example_check_refuses_what_the_mode_does_not_have() {
    let example = mode_docs::example::<TicTacToe>;
    for bad in [
        // Not the mode's: the board's intent, a made-up one.
        r#"{"intent":{"seq":1,"intent":{"move_piece":{"piece":3,"to":{"x":1,"y":2}}}}}"#,
        r#"{"intent":{"seq":1,"intent":{"undo":{}}}}"#,
        r#"{"undo":{}}"#,
        // A field the mode does not have, a value out of its type.
        r#"{"place":{"cell":4,"mark":"x"}}"#,
        r#"{"place":{"cell":300}}"#,
        r#"{"placed":{"member":1,"cell":4,"mark":"z"}}"#,
        // Not byte-identical: spacing, field order, a config key missing.
        r#"{"place": {"cell":4}}"#,
        r#"{"placed":{"cell":4,"member":1,"mark":"x"}}"#,
        r#"{"size":3}"#,
        // A rejection with a code nobody has.
        r#"{"reject":{"seq":4,"code":"NOT_YOUR_MOVE","message":"no","details":{}}}"#,
    ] {
        assert!(example(bad).is_none(), "{bad}");
    }
    assert!(matches!(
        example(r#"{"place":{"cell":4}}"#),
        Some(Example::Intent(_))
    ));
    assert!(matches!(
        example(r#"{"reject":{"seq":4,"code":"GAME_OVER","message":"over","details":{}}}"#),
        Some(Example::Server(_))
    ));
}

/// The state section shows a new room's state.
#[test]
fn the_state_of_a_new_room_is_shown() {
    let doc = doc();
    let text = mode_docs::section(&doc, "## State").expect("a state section");
    let state = TicTacToe::initial_state(&RoomConfig::default(), &ttt::Config::default());
    let encoded = serde_json::to_string(&state).unwrap();
    assert!(
        mode_docs::json_blocks(text).contains(&encoded),
        "no example of a new room's state:\n{encoded}"
    );
}

/// The names the mode exports are its codes.
#[test]
fn the_exported_codes_are_the_modes() {
    let code = |i: usize| ErrorCode::Mode(ModeCode(TicTacToe::ERROR_CODES[i].number));
    assert_eq!(ttt::NOT_YOUR_TURN, code(0));
    assert_eq!(ttt::GAME_OVER, code(1));
}
