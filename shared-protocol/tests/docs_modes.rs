//! `docs/modes/board.md` stays in step with the board's wire types the way
//! `docs/protocol.md` does with the framework's: every intent and event tag
//! has a heading with its index and a field table, the intent table is
//! `board::INTENTS`, every `json` example decodes to the board's typed
//! values and re-encodes to exactly the same bytes, every setting of
//! `board::Config` is documented with its default and bounds, and every
//! error code named is a real one.

mod common;

use common::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tickroom_protocol::board;
use tickroom_protocol::walk::check_value;
use tickroom_protocol::*;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/modes/board.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text under `heading` (a whole line), up to the next heading of any
/// level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let at = doc
        .match_indices(heading)
        .map(|(at, _)| at)
        .find(|&at| {
            (at == 0 || doc.as_bytes()[at - 1] == b'\n')
                && doc[at + heading.len()..].starts_with('\n')
        })
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let rest = &doc[at + heading.len()..];
    &rest[..rest.find("\n#").unwrap_or(rest.len())]
}

/// The fenced `json` blocks in `text`, trimmed.
fn json_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == "```json" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(block.trim().to_owned());
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated json block");
    out
}

/// The cells of the table rows in `text`, split on `|`, trimmed, without
/// the empty first and last cells.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|') && l.ends_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells[1..cells.len() - 1]
                .iter()
                .map(|c| c.to_string())
                .collect()
        })
        .collect()
}

/// Rows whose first cell is a backticked name: name → the other cells.
fn rows(text: &str) -> BTreeMap<String, Vec<String>> {
    table_rows(text)
        .into_iter()
        .filter_map(|cells| {
            let name = cells[0].strip_prefix('`')?.strip_suffix('`')?.to_owned();
            Some((name, cells[1..].to_vec()))
        })
        .collect()
}

/// What a `json` block is, once decoded and typed (kept whole for the
/// failure messages).
#[derive(Debug)]
#[allow(dead_code)]
enum Example {
    Client(ClientMessage),
    Server(ServerMessage),
    Intent(board::Intent),
    Event(board::Event),
    State(board::State),
    Config(board::Config),
}

/// `value` written as compact JSON is exactly `text`, and its strings and
/// lists are inside the limits.
fn same<T: Serialize>(value: &T, text: &str, limits: &Limits) -> bool {
    serde_json::to_string(value).unwrap() == text && check_value(value, limits).is_ok()
}

fn bare<T: DeserializeOwned + Serialize>(text: &str, limits: &Limits) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    same(&value, text, limits).then_some(value)
}

/// Decodes an example as a message (its payloads decoded as the board's
/// types) or as one of the board's values, and re-encodes it: `None` unless
/// that gives back exactly the same bytes.
fn example(text: &str) -> Option<Example> {
    let (c, s) = (&Limits::CLIENT_FRAMES, &Limits::SERVER_FRAMES);
    if let Ok(m) = Codec::Json.decode::<ClientMessage>(text.as_bytes(), c) {
        let m = typed_client(m).ok()?;
        if let ClientMessage::Intent { intent, .. } = &m {
            check_value(&intent.decode::<board::Intent>().ok()?, c).ok()?;
        }
        return same(&m, text, c).then_some(Example::Client(m));
    }
    if let Ok(m) = Codec::Json.decode::<ServerMessage>(text.as_bytes(), s) {
        let m = typed_server(m).ok()?;
        return same(&m, text, s).then_some(Example::Server(m));
    }
    None.or_else(|| bare(text, c).map(Example::Intent))
        .or_else(|| bare(text, s).map(Example::Event))
        .or_else(|| bare(text, s).map(Example::State))
        .or_else(|| bare(text, c).map(Example::Config))
}

#[test]
fn every_json_example_decodes_and_reencodes_byte_identically() {
    let doc = doc();
    let blocks = json_blocks(&doc);
    let least = BOARD_INTENT_VARIANTS + BOARD_EVENT_VARIANTS + 2;
    assert!(blocks.len() >= least, "only {} json examples", blocks.len());
    for block in &blocks {
        assert!(
            example(block).is_some(),
            "this example does not decode to the board's types and re-encode \
             to the same bytes:\n{block}\nre-encoded: {:?}",
            serde_json::from_str::<serde_json::Value>(block).map(|v| v.to_string())
        );
    }
}

/// The check above refuses what it should.
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
        assert!(example(bad).is_none(), "{bad}");
    }
    assert!(matches!(
        example(r#"{"chat":{"text":"hi"}}"#),
        Some(Example::Intent(_))
    ));
}

/// The intent a section's example shows, if it shows one.
fn intent_tag(e: &Example) -> Option<String> {
    match e {
        Example::Intent(i) => Some(json_tag(i)),
        Example::Client(ClientMessage::Intent { intent, .. }) => {
            Some(json_tag(&intent.decode::<board::Intent>().ok()?))
        }
        _ => None,
    }
}

#[test]
fn every_intent_and_event_tag_is_documented_with_its_index_and_example() {
    let doc = doc();
    let intents = board_intent_samples();
    assert_eq!(intents.len(), BOARD_INTENT_VARIANTS);
    for (i, intent) in intents.iter().enumerate() {
        assert_eq!(board_intent_index(intent), i);
        let tag = json_tag(intent);
        let text = section(&doc, &format!("#### `{tag}` (index {i})"));
        let shown: Vec<String> = json_blocks(text)
            .iter()
            .filter_map(|b| intent_tag(&example(b)?))
            .collect();
        assert!(shown.contains(&tag), "intent `{tag}` has no example");
    }
    let events = board_event_samples();
    assert_eq!(events.len(), BOARD_EVENT_VARIANTS);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(board_event_index(event), i);
        let tag = json_tag(event);
        let text = section(&doc, &format!("#### `{tag}` (index {i})"));
        let shown = json_blocks(text)
            .iter()
            .any(|b| matches!(example(b), Some(Example::Event(e)) if json_tag(&e) == tag));
        assert!(shown, "event `{tag}` has no example");
    }
    // The framework's messages and events are protocol.md's.
    for tag in event_samples().iter().map(json_tag) {
        assert!(!doc.contains(&format!("#### `{tag}`")), "{tag}");
    }
}

/// Every intent and event has a table of exactly its fields; integer
/// fields give their width.
#[test]
fn every_intent_and_event_has_a_table_of_its_fields() {
    let doc = doc();
    let values = board_intent_samples()
        .iter()
        .enumerate()
        .map(|(i, v)| (serde_json::to_value(v).unwrap(), i))
        .chain(
            board_event_samples()
                .iter()
                .enumerate()
                .map(|(i, v)| (serde_json::to_value(v).unwrap(), i)),
        )
        .collect::<Vec<_>>();
    for (json, i) in values {
        let tag = json.as_object().unwrap().keys().next().unwrap().clone();
        let table = rows(section(&doc, &format!("#### `{tag}` (index {i})")));
        let fields = json[&tag].as_object().expect("a struct variant");
        let mut names: Vec<&String> = fields.keys().collect();
        names.sort();
        if fields.is_empty() {
            assert!(table.is_empty(), "{tag} has no fields but a table");
            continue;
        }
        assert_eq!(
            table.keys().collect::<Vec<_>>(),
            names,
            "the field table of {tag}"
        );
        for (name, value) in fields {
            let ty = &table[name][0];
            if value.is_number() {
                assert!(
                    ["u8", "u16", "u32", "u64", "i32", "i64"]
                        .iter()
                        .any(|w| ty.starts_with(w)),
                    "{tag}.{name}: `{ty}` gives no integer width"
                );
            }
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The intent table is `board::INTENTS`, row for row.
#[test]
fn the_intent_table_is_board_intents() {
    let doc = doc();
    let text = section(&doc, "## Intents");
    let table: Vec<Vec<String>> = table_rows(text)
        .into_iter()
        .filter(|r| r.len() == 5 && r[1].parse::<usize>().is_ok())
        .collect();
    assert_eq!(table.len(), board::INTENTS.len());
    for (i, spec) in board::INTENTS.iter().enumerate() {
        let rate = serde_json::to_value(spec.rate).unwrap();
        let want = vec![
            format!("`{}`", spec.name),
            i.to_string(),
            format!("`{}`", rate.as_str().unwrap()),
            yes_no(spec.durable).to_owned(),
            yes_no(spec.audited).to_owned(),
        ];
        assert_eq!(table[i], want, "row {i}");
        // The intent's own section says so too.
        let own = section(&doc, &format!("#### `{}` (index {i})", spec.name));
        assert_eq!(own.contains("Durable"), spec.durable, "{}", spec.name);
    }
}

#[test]
fn unit_enums_are_documented() {
    let doc = doc();
    fn names<T: Serialize>(values: &[T]) -> String {
        values
            .iter()
            .map(|v| format!("`{}`", serde_json::to_value(v).unwrap().as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(", ")
    }
    for row in [
        format!("| `ReleaseReason` | {} |", names(RELEASE_REASONS)),
        format!("| `RateClass` | {} |", names(RATE_CLASSES)),
    ] {
        assert!(doc.lines().any(|l| l == row), "missing row:\n{row}");
    }
}

/// The state's fields and the types inside it, each field in postcard
/// order.
#[test]
fn the_state_and_its_types_are_documented() {
    let doc = doc();
    let text = section(&doc, "## State");
    let table = rows(text);
    let state = serde_json::to_value(sample_board_state()).unwrap();
    for key in state.as_object().unwrap().keys() {
        assert!(table.contains_key(key), "state field `{key}` has no row");
    }
    let piece = &sample_board_state().pieces[1];
    let line = &sample_board_state().chat[0];
    let placement = board::Placement {
        piece: PieceId(0),
        pos: Pos::new(1, 1),
    };
    let types: [(&str, Vec<&str>); 4] = [
        ("PieceView", vec!["id", "team", "pos", "lock"]),
        ("LockView", vec!["holder", "expires_at"]),
        ("ChatLine", vec!["tick", "member", "text"]),
        ("Placement", vec!["piece", "pos"]),
    ];
    let actual = [
        serde_json::to_value(piece).unwrap(),
        serde_json::to_value(piece.lock.unwrap()).unwrap(),
        serde_json::to_value(line).unwrap(),
        serde_json::to_value(placement).unwrap(),
    ];
    for ((ty, fields), value) in types.iter().zip(actual) {
        let keys: BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, fields.iter().copied().collect(), "{ty}");
        let row = &table
            .get(*ty)
            .unwrap_or_else(|| panic!("type `{ty}` has no row"))[0];
        let at: Vec<usize> = fields
            .iter()
            .map(|f| {
                row.find(&format!("`{f}: "))
                    .unwrap_or_else(|| panic!("{ty}.{f} not in `{row}`"))
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "{ty}: fields out of order"
        );
    }
}

/// Every setting of `board::Config`, in postcard order, with its default
/// and its bounds; the derived checks under their keys; and every key
/// `validate` names in an `INVALID_CONFIG` is documented with the range it
/// reports.
#[test]
fn every_config_key_is_documented_with_its_default_and_bounds() {
    use board::bounds::*;
    let doc = doc();
    let text = section(&doc, "## Config");
    let table = rows(text);
    let defaults = serde_json::to_value(board::Config::default()).unwrap();
    let keys: Vec<&String> = defaults.as_object().unwrap().keys().collect();
    let declared: Vec<String> = serde_json::to_string(&board::Config::default())
        .unwrap()
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(declared.len(), keys.len());
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|k| defaults.get(*k).is_some())
        .collect();
    assert_eq!(order, declared, "rows in postcard order");

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
        let cells = table
            .get(*key)
            .unwrap_or_else(|| panic!("config key `{key}` has no row"));
        let default = cells[1].split_whitespace().next().unwrap();
        assert_eq!(
            default,
            defaults[key.as_str()].to_string(),
            "default of `{key}`"
        );
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

/// The `SCREAMING_SNAKE` words in backticks.
fn codes_in(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3 && w.contains('_') && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

/// Every code named is in the catalog; every intent's section names the
/// codes of its row in the errors table, and the lock rejections are the
/// ones the board's rules give (see `sim/tests/rejections.rs`).
#[test]
fn every_error_code_named_is_real_and_each_intent_lists_its_own() {
    let doc = doc();
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let named = codes_in(&doc);
    assert!(named.len() > 10, "{named:?}");
    for code in &named {
        assert!(known.contains(code.as_str()), "`{code}` is no error code");
    }
    let errors = rows(section(&doc, "## Errors"));
    for spec in board::INTENTS {
        let listed = codes_in(
            &errors
                .get(spec.name)
                .unwrap_or_else(|| panic!("`{}` has no row in the errors table", spec.name))[0],
        );
        assert!(!listed.is_empty(), "{}", spec.name);
        let i = board::INTENTS.iter().position(|s| s == spec).unwrap();
        let own = section(&doc, &format!("#### `{}` (index {i})", spec.name));
        let paragraph = own
            .split("\n\n")
            .find(|p| p.starts_with("Errors:"))
            .unwrap_or_else(|| panic!("`{}` has no Errors: paragraph", spec.name));
        assert_eq!(codes_in(paragraph), listed, "{}", spec.name);
    }
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
    // The board registers no codes of its own, and says so.
    assert!(doc.contains("registers no error codes of its own"));
}
