//! `docs/modes/tabletop.md` stays in step with this crate: the checks
//! every mode's page passes (`tickroom_sim::mode_docs`: every intent and
//! event tag has a heading with its variant index, a field table and an
//! example, the intent table is `Tabletop::INTENTS`, every `json` example
//! decodes to the mode's typed values and re-encodes to exactly the same
//! bytes, the state and its types are documented in order, every setting
//! of `Config` with its default and the bounds `validate_config` enforces,
//! every error code named is a real one, and the errors table is what the
//! rules answer), and this mode's own: the frames the "What each member
//! sees" section shows are the ones the mode produces for each member.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tickroom_protocol::*;
use tickroom_sim::mode_docs::{self, Example, Page};
use tickroom_sim::{Input, Mode, Modes, Room, TickOutput, Viewer, mode};
use tickroom_tabletop::{self as tt, Tabletop};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/modes/tabletop.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------ samples

fn cell(x: u32, y: u32) -> tt::Cell {
    tt::Cell { x, y }
}

fn token() -> tt::TokenView {
    tt::TokenView {
        id: 1,
        name: "Goblin".into(),
        at: cell(14, 5),
        owner: Some(MemberId(2)),
    }
}

fn region() -> tt::RegionView {
    tt::RegionView {
        id: 1,
        area: tt::Rect {
            x: 10,
            y: 0,
            w: 10,
            h: 10,
        },
        revealed: false,
    }
}

fn initiative() -> tt::Initiative {
    tt::Initiative {
        order: vec![MemberId(2), MemberId(1)],
        current: 0,
        round: 1,
    }
}

/// One example of every intent, in variant order (`mode_docs` checks
/// that these are every variant).
fn intent_samples() -> Vec<tt::Intent> {
    use tt::Intent::*;
    vec![
        PlaceToken {
            name: "Goblin".into(),
            at: cell(15, 5),
            owner: None,
        },
        MoveToken {
            token: 2,
            to: cell(11, 2),
        },
        RemoveToken { token: 1 },
        AssignToken {
            token: 1,
            owner: Some(MemberId(2)),
        },
        AddFog {
            area: region().area,
        },
        Reveal { region: 1 },
        Cover { region: 1 },
        SetInitiative {
            order: vec![MemberId(2), MemberId(1)],
        },
        NextTurn {},
        EndTurn {},
        EndInitiative {},
        Roll {
            notation: "1d20".into(),
            private: true,
        },
        Chat {
            text: "the door creaks".into(),
        },
        LockToken { token: 2 },
        UnlockToken { token: 2 },
    ]
}

/// One example of every event, in variant order.
fn event_samples() -> Vec<tt::Event> {
    use tt::Event::*;
    vec![
        TokenPlaced { token: token() },
        TokenMoved {
            token: 2,
            to: cell(11, 2),
        },
        TokenRemoved { token: 1 },
        TokenAssigned {
            token: 1,
            owner: None,
        },
        TokenAppeared { token: token() },
        TokenVanished { token: 2 },
        FogAdded { region: region() },
        RegionRevealed { region: 1 },
        RegionCovered { region: 1 },
        TurnOrder {
            initiative: initiative(),
        },
        TurnChanged {
            member: MemberId(1),
            round: 1,
        },
        InitiativeEnded {},
        DiceRolled {
            member: MemberId(2),
            notation: "2d6+1".into(),
            rolls: vec![4, 2],
            modifier: 1,
            total: 7,
            private: false,
        },
        ChatPosted {
            member: MemberId(1),
            text: "hi".into(),
        },
        TokenLocked { lock: lock() },
        TokenUnlocked {
            token: 2,
            holder: MemberId(2),
            reason: tt::UnlockReason::Expired,
        },
    ]
}

fn lock() -> tt::TokenLock {
    tt::TokenLock {
        key: 2,
        holder: MemberId(2),
        expires_at: 140,
    }
}

fn sample_state() -> tt::State {
    tt::State {
        map_width: 40,
        map_height: 30,
        tokens: vec![token()],
        regions: vec![region()],
        initiative: Some(initiative()),
        chat: vec![tt::ChatLine {
            tick: 5,
            member: MemberId(1),
            text: "hi".into(),
        }],
        sees_all: false,
        locks: vec![lock()],
    }
}

// --------------------------------------------------------------------- page

/// A room that provokes every rejection of the rules; the runner checks
/// that each line gets exactly the code it names.
const REJECTIONS: &str = "\
scenario tabletop.md: every rejection the errors table lists
mode tabletop
seed 1
room max_tokens=3 max_regions=1 max_chat_chars=5

tick 1
  dana join
  pia join
  paul join
  sam join role=spectator
tick 2
  - chat text=hi                                      !NOT_IN_ROOM
  pia place_token name=X at.x=1 at.y=1                !FORBIDDEN
  dana place_token name=abcdefghijabcdefghijabcdefghijabc at.x=1 at.y=1 !FIELD_TOO_LONG
  dana place_token name=%01 at.x=1 at.y=1             !INVALID_ARGUMENT
  dana place_token name=X at.x=40 at.y=1              !OUT_OF_BOUNDS
  dana place_token name=X at.x=1 at.y=1 owner=4       !MEMBER_NOT_FOUND
  dana place_token name=Pia at.x=2 at.y=2 owner=2
  dana place_token name=Paul at.x=3 at.y=3 owner=3
  dana add_fog area.x=10 area.y=0 area.w=10 area.h=10
  dana place_token name=Goblin at.x=15 at.y=5
  dana place_token name=Orc at.x=16 at.y=5            !INVALID_ARGUMENT
  pia add_fog area.x=0 area.y=20 area.w=5 area.h=5    !FORBIDDEN
  dana add_fog area.x=0 area.y=0 area.w=0 area.h=1    !OUT_OF_BOUNDS
  dana add_fog area.x=0 area.y=20 area.w=5 area.h=5   !INVALID_ARGUMENT
tick 3
  sam move_token token=1 to.x=4 to.y=4                !FORBIDDEN
  pia move_token token=3 to.x=4 to.y=4                !INVALID_ARGUMENT
  paul move_token token=1 to.x=4 to.y=4               !FORBIDDEN
  pia move_token token=1 to.x=50 to.y=4               !OUT_OF_BOUNDS
  pia remove_token token=2                            !FORBIDDEN
  dana remove_token token=9                           !INVALID_ARGUMENT
  pia assign_token token=2 owner=2                    !FORBIDDEN
  dana assign_token token=2 owner=4                   !MEMBER_NOT_FOUND
  dana assign_token token=9 owner=2                   !INVALID_ARGUMENT
  pia reveal region=1                                 !FORBIDDEN
  dana reveal region=7                                !INVALID_ARGUMENT
  pia cover region=1                                  !FORBIDDEN
  dana cover region=7                                 !INVALID_ARGUMENT
  pia set_initiative order=[2,3]                      !FORBIDDEN
  dana set_initiative order=[]                        !INVALID_ARGUMENT
  dana set_initiative order=[2,2]                     !INVALID_ARGUMENT
  dana set_initiative order=[2,4]                     !MEMBER_NOT_FOUND
  pia next_turn                                       !FORBIDDEN
  dana next_turn                                      !WRONG_PHASE
  sam end_turn                                        !FORBIDDEN
  pia end_turn                                        !WRONG_PHASE
  pia end_initiative                                  !FORBIDDEN
  dana end_initiative                                 !WRONG_PHASE
  sam roll notation=1d6 private=false                 !FORBIDDEN
  pia roll notation=2x private=false                  !INVALID_ARGUMENT
  pia chat text=toolong                               !FIELD_TOO_LONG
  pia chat text=%20                                   !INVALID_ARGUMENT
  pia lock_token token=1
  dana move_token token=1 to.x=4 to.y=4               !LOCK_HELD
  dana lock_token token=1                             !LOCK_HELD
  dana unlock_token token=1                           !NOT_LOCK_OWNER
  paul lock_token token=1                             !FORBIDDEN
  pia lock_token token=3                              !INVALID_ARGUMENT
  sam unlock_token token=1                            !FORBIDDEN
  dana unlock_token token=9                           !INVALID_ARGUMENT
tick 4
  dana set_initiative order=[3,2]
  pia move_token token=1 to.x=4 to.y=2                !OUT_OF_TURN_ACTION
  pia lock_token token=1                              !OUT_OF_TURN_ACTION
  pia end_turn                                        !OUT_OF_TURN_ACTION
  sam chat text=hi
  expect view pia /state_hash \"0000000000000000\"
  expect view sam /state_hash \"0000000000000000\"
  expect view pia /sees_all false
  expect view dana /sees_all true
";

/// The page passes every check of `mode_docs`, with a sample of every
/// variant, the types of the state and the events, and the scenario above.
#[test]
fn the_page_is_true_to_the_mode() {
    let doc = doc();
    let problems = Page::<Tabletop>::new(&doc, intent_samples(), event_samples())
        .type_fields("Cell", &cell(1, 2))
        .type_fields("Rect", &region().area)
        .type_fields("TokenView", &token())
        .type_fields("RegionView", &region())
        .type_fields("Initiative", &initiative())
        .type_fields("ChatLine", &sample_state().chat[0])
        .type_fields("TokenLock", &lock())
        .rejections(REJECTIONS)
        .problems();
    assert!(problems.is_empty(), "tabletop.md:\n{}", problems.join("\n"));
    let named = mode_docs::codes_in(&doc);
    assert!(named.len() > 8, "{named:?}");
}

/// The example check refuses what it should.
#[test]
fn the_example_check_refuses_what_the_mode_does_not_have() {
    let example = mode_docs::example::<Tabletop>;
    for bad in [
        // Not the mode's: the board's intent, a made-up one.
        r#"{"intent":{"seq":1,"intent":{"move_piece":{"piece":3,"to":{"x":1,"y":2}}}}}"#,
        r#"{"intent":{"seq":1,"intent":{"teleport":{"token":1}}}}"#,
        r#"{"teleport":{"token":1}}"#,
        // A field the mode does not have, one missing, a value out of its
        // type.
        r#"{"remove_token":{"token":1,"reason":"slain"}}"#,
        r#"{"roll":{"notation":"1d20"}}"#,
        r#"{"token_moved":{"token":2,"to":{"x":-1,"y":2}}}"#,
        // Not byte-identical: spacing, field order, a config key missing.
        r#"{"remove_token": {"token":1}}"#,
        r#"{"token_moved":{"to":{"x":11,"y":2},"token":2}}"#,
        r#"{"map_width":40}"#,
        // Over a decode limit.
        &format!(r#"{{"chat":{{"text":"{}"}}}}"#, "x".repeat(2049)),
        // A rejection with a code nobody has.
        r#"{"reject":{"seq":4,"code":"NOT_YOUR_TURN_YET","message":"no","details":{}}}"#,
    ] {
        assert!(example(bad).is_none(), "{bad}");
    }
    assert!(matches!(
        example(r#"{"chat":{"text":"hi"}}"#),
        Some(Example::Intent(_))
    ));
    assert!(matches!(
        example(r#"{"reject":{"seq":4,"code":"OUT_OF_TURN_ACTION","message":"no","details":{}}}"#),
        Some(Example::Server(_))
    ));
}

/// The name the mode exports is its code.
#[test]
fn the_exported_code_is_the_modes() {
    assert_eq!(
        tt::OUT_OF_TURN_ACTION,
        ErrorCode::Mode(ModeCode(Tabletop::ERROR_CODES[0].number))
    );
}

// ---------------------------------------------------- what each member sees

/// `text` with every non-zero state hash replaced by a placeholder: its
/// value depends on the whole engine; whether a member gets one (and
/// whether it is zero) is what the section shows.
fn without_hash_values(text: &str) -> String {
    let key = "\"state_hash\":\"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let hash = &tail[..16.min(tail.len())];
        if hash.bytes().all(|b| b == b'0') {
            out.push_str(hash);
        } else {
            out.push_str("<hash>");
        }
        rest = &tail[hash.len()..];
    }
    out.push_str(rest);
    out
}

/// The delta `member` gets of a tick: the events it may see, and the state
/// hash only if it sees everything — what the server's fan-out
/// (`src/driver/views.rs`) sends it.
fn delta_for(room: &Room, out: &TickOutput, member: MemberId) -> Option<ServerMessage> {
    let delta = out.delta.as_ref()?;
    let events = delta
        .events
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            out.restricted
                .iter()
                .all(|(j, audience)| j != i || audience.contains(&member))
        })
        .map(|(_, e)| e.clone())
        .collect();
    Some(ServerMessage::Delta(Delta {
        events,
        state_hash: delta.state_hash.filter(|_| room.sees_all(member)),
        ..delta.clone()
    }))
}

const DANA: MemberId = MemberId(1);
const PIA: MemberId = MemberId(2);
const SAM: MemberId = MemberId(3);

/// The section's example room, played tick by tick: every frame a member
/// may get (its delta of each tick; its state and its `joined` on a
/// resume after each tick), with who gets it.
fn frames_of_the_example() -> BTreeMap<String, Vec<(&'static str, MemberId)>> {
    let mut modes = Modes::builtin();
    modes.add(mode::<Tabletop>()).unwrap();
    let config = RoomConfig {
        mode: tt::MODE.into(),
        game: Payload::of(tt::Config::default()),
        hash_every_ticks: 1,
        ..RoomConfig::default()
    };
    let mut room = modes
        .create_room(RoomId::from("table-1"), config, 7)
        .unwrap();
    use tt::Intent::*;
    let fog = tt::Rect {
        x: 10,
        y: 0,
        w: 10,
        h: 10,
    };
    let place = |name: &str, at, owner| PlaceToken {
        name: name.into(),
        at,
        owner,
    };
    let ticks = vec![
        vec![
            Input::join("dana", "dana", None, None),
            Input::join("pia", "pia", None, None),
            Input::join("sam", "sam", Some(Role::Spectator), None),
        ],
        vec![
            Input::intent(DANA, 2, AddFog { area: fog }),
            Input::intent(DANA, 3, place("Goblin", cell(15, 5), None)),
            Input::intent(DANA, 4, place("Pia", cell(2, 2), Some(PIA))),
            Input::intent(DANA, 5, place("Door", cell(5, 5), None)),
        ],
        vec![
            Input::intent(
                PIA,
                2,
                MoveToken {
                    token: 2,
                    to: cell(11, 2),
                },
            ),
            Input::intent(
                DANA,
                6,
                MoveToken {
                    token: 1,
                    to: cell(14, 5),
                },
            ),
            Input::intent(
                PIA,
                3,
                Roll {
                    notation: "1d20".into(),
                    private: true,
                },
            ),
        ],
        vec![Input::intent(DANA, 7, Reveal { region: 1 })],
    ];
    let mut frames: BTreeMap<String, Vec<(&'static str, MemberId)>> = BTreeMap::new();
    for inputs in ticks {
        let out = room.step(inputs);
        assert!(
            out.outcomes.iter().all(|o| o.rejection().is_none()),
            "{:?}",
            out.outcomes
        );
        for m in [DANA, PIA, SAM] {
            let mut add = |kind, msg: String| {
                frames
                    .entry(without_hash_values(&msg))
                    .or_default()
                    .push((kind, m));
            };
            if let Some(d) = delta_for(&room, &out, m) {
                add("delta", serde_json::to_string(&d).unwrap());
            }
            let state = room.state_for(Viewer::Member(m));
            let view: tt::State = state.game.decode().unwrap();
            add("state", serde_json::to_string(&view).unwrap());
            let joined = ServerMessage::Joined {
                seq: None,
                room: room.id().clone(),
                member: m,
                config: room.config().clone(),
                epoch: room.epoch(),
                state,
            };
            add("joined", serde_json::to_string(&joined).unwrap());
        }
    }
    frames
}

/// Every frame the section shows is one a member of its example room gets
/// (the same events, the same tokens, a hash or none, a zero hash or
/// not), and it shows a delta to each kind of member, the director's
/// state and a player's `joined`.
#[test]
fn what_each_member_sees_is_what_the_mode_sends() {
    let doc = doc();
    let text = mode_docs::section(&doc, "## What each member sees").expect("the section");
    let frames = frames_of_the_example();
    let mut shown = BTreeSet::new();
    for block in mode_docs::json_blocks(text) {
        let who = frames
            .get(&without_hash_values(&block))
            .unwrap_or_else(|| panic!("no member of the example gets this frame:\n{block}"));
        shown.extend(who.iter().copied());
    }
    for want in [
        ("delta", DANA),
        ("delta", PIA),
        ("delta", SAM),
        ("state", DANA),
        ("joined", PIA),
    ] {
        assert!(
            shown.contains(&want),
            "the section shows no {} as member {} gets it",
            want.0,
            want.1.0
        );
    }
}
