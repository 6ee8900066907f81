//! `docs/modes/tictactoe.md` stays in step with this crate the way
//! `docs/modes/board.md` does with the board (`shared-protocol/tests/
//! docs_modes.rs`): every intent and event tag has a heading with its
//! variant index and a field table, the intent table is
//! `TicTacToe::INTENTS`, every `json` example decodes to the mode's typed
//! values and re-encodes to exactly the same bytes, every setting of
//! `Config` is documented with its default and the bounds `validate_config`
//! enforces, every error code named is a real one, and the errors table
//! is what the rules answer.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tickroom_protocol::walk::{Variant, check_value, variant_of};
use tickroom_protocol::*;
use tickroom_sim::{Mode, Modes, mode, scenario};
use tickroom_tictactoe::{self as ttt, TicTacToe};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/modes/tictactoe.md");
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

/// The backticked names in the first column of the tables in `text`, in
/// order.
fn row_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The keys of a JSON object in the order they are written.
struct OrderedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for OrderedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.push(key);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Keys).map(OrderedKeys)
    }
}

/// The fields of `value` (a struct) in declaration order: the order
/// serde writes them in, and postcard's.
fn field_order<T: Serialize>(value: &T) -> Vec<String> {
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str::<OrderedKeys>(&text).unwrap().0
}

/// The fields of an enum value's struct variant, in declaration order.
fn variant_field_order<T: Serialize>(value: &T) -> Vec<String> {
    let text = serde_json::to_string(value).unwrap();
    let outer: BTreeMap<String, OrderedKeys> = serde_json::from_str(&text).unwrap();
    outer.into_values().next().unwrap().0
}

/// The JSON tag of an externally tagged value: its only key.
fn json_tag<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v).unwrap() {
        serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().unwrap().clone(),
        other => panic!("not an externally tagged enum: {other}"),
    }
}

// ------------------------------------------------------------------ samples

/// The variant index of each intent (a new variant does not compile here
/// until it is given one, and a sample, and a heading).
fn intent_index(i: &ttt::Intent) -> usize {
    match i {
        ttt::Intent::Place { .. } => 0,
        ttt::Intent::Reset {} => 1,
    }
}
const INTENT_VARIANTS: usize = 2;

fn event_index(e: &ttt::Event) -> usize {
    match e {
        ttt::Event::Placed { .. } => 0,
        ttt::Event::GameOver { .. } => 1,
        ttt::Event::Reset {} => 2,
    }
}
const EVENT_VARIANTS: usize = 3;

/// One example of every intent, in variant order.
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

/// The serde variant index: what postcard writes, and what the headings
/// must say.
fn serde_index<T: Serialize>(v: &T) -> usize {
    match variant_of(v) {
        Some(Variant::Both { index, .. }) => index as usize,
        other => panic!("not an enum variant: {other:?}"),
    }
}

#[test]
fn the_samples_cover_every_variant_in_order() {
    let intents = intent_samples();
    assert_eq!(intents.len(), INTENT_VARIANTS);
    assert_eq!(TicTacToe::INTENTS.len(), INTENT_VARIANTS);
    for (i, intent) in intents.iter().enumerate() {
        assert_eq!(intent_index(intent), i);
        assert_eq!(serde_index(intent), i);
        assert_eq!(json_tag(intent), TicTacToe::INTENTS[i].name);
    }
    let events = event_samples();
    assert_eq!(events.len(), EVENT_VARIANTS);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event_index(event), i);
        assert_eq!(serde_index(event), i);
    }
}

// ----------------------------------------------------------------- examples

/// Makes the mode's codes known to the catalog, as serving the mode does.
fn register_codes() {
    ModeCode::register(TicTacToe::ERROR_CODES).unwrap();
}

/// A framework code, or one of the mode's.
fn known_code(code: ErrorCode) -> bool {
    ErrorCode::ALL.contains(&code)
        || TicTacToe::ERROR_CODES
            .iter()
            .any(|e| code == ErrorCode::Mode(ModeCode(e.number)))
}

/// What a `json` block is, once decoded and typed (kept whole for the
/// failure messages).
#[derive(Debug)]
#[allow(dead_code)]
enum Example {
    Client(ClientMessage),
    Server(ServerMessage),
    Intent(ttt::Intent),
    Event(ttt::Event),
    State(ttt::Game),
    Config(ttt::Config),
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

fn typed_config(c: RoomConfig) -> Option<RoomConfig> {
    if c.game.is_empty() {
        return Some(c);
    }
    let game: ttt::Config = c.game.decode().ok()?;
    Some(RoomConfig {
        game: Payload::of(game),
        ..c
    })
}

fn typed_state(s: RoomState) -> Option<RoomState> {
    let game: ttt::Game = s.game.decode().ok()?;
    Some(RoomState {
        game: Payload::of(game),
        ..s
    })
}

fn typed_event(e: tickroom_protocol::Event) -> Option<tickroom_protocol::Event> {
    match e {
        tickroom_protocol::Event::Room(r) => Some(tickroom_protocol::Event::Room(r)),
        tickroom_protocol::Event::Game(p) => p
            .decode::<ttt::Event>()
            .ok()
            .map(tickroom_protocol::Event::game),
    }
}

/// The message with every mode payload decoded as the mode's type and
/// wrapped again, typed; `None` when a payload is none of the mode's
/// values, or a rejection's code is no known code.
fn typed_client(m: ClientMessage) -> Option<ClientMessage> {
    Some(match m {
        ClientMessage::Intent { seq, intent } => {
            let intent: ttt::Intent = intent.decode().ok()?;
            check_value(&intent, &Limits::CLIENT_FRAMES).ok()?;
            ClientMessage::intent(seq, intent)
        }
        ClientMessage::CreateRoom {
            seq,
            room,
            config,
            private,
        } => ClientMessage::CreateRoom {
            seq,
            room,
            config: typed_config(config)?,
            private,
        },
        other => other,
    })
}

fn typed_server(m: ServerMessage) -> Option<ServerMessage> {
    Some(match m {
        ServerMessage::Joined {
            seq,
            room,
            member,
            config,
            epoch,
            state,
        } => ServerMessage::Joined {
            seq,
            room,
            member,
            config: typed_config(config)?,
            epoch,
            state: typed_state(state)?,
        },
        ServerMessage::Delta(d) => ServerMessage::Delta(Delta {
            events: d
                .events
                .into_iter()
                .map(|r| {
                    Some(EventRecord {
                        event: typed_event(r.event)?,
                        ..r
                    })
                })
                .collect::<Option<_>>()?,
            ..d
        }),
        ServerMessage::Reject {
            seq,
            code,
            message,
            details,
        } if known_code(code) => ServerMessage::Reject {
            seq,
            code,
            message,
            details,
        },
        ServerMessage::Reject { .. } => return None,
        other => other,
    })
}

/// Decodes an example as a message (its payloads decoded as the mode's
/// types) or as one of the mode's values, and re-encodes it: `None` unless
/// that gives back exactly the same bytes.
fn example(text: &str) -> Option<Example> {
    register_codes();
    let (c, s) = (&Limits::CLIENT_FRAMES, &Limits::SERVER_FRAMES);
    if let Ok(m) = Codec::Json.decode::<ClientMessage>(text.as_bytes(), c) {
        let m = typed_client(m)?;
        return same(&m, text, c).then_some(Example::Client(m));
    }
    if let Ok(m) = Codec::Json.decode::<ServerMessage>(text.as_bytes(), s) {
        let m = typed_server(m)?;
        return same(&m, text, s).then_some(Example::Server(m));
    }
    None.or_else(|| bare(text, c).map(Example::Intent))
        .or_else(|| bare(text, s).map(Example::Event))
        .or_else(|| bare(text, s).map(Example::State))
        .or_else(|| bare(text, c).map(Example::Config))
}

/// The intents a block shows: a bare intent, or an `intent` message.
fn intents_in(block: &str) -> Vec<ttt::Intent> {
    match example(block) {
        Some(Example::Intent(i)) => vec![i],
        Some(Example::Client(ClientMessage::Intent { intent, .. })) => {
            intent.decode().into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// The events a block shows: a bare event (also when it reads as an
/// intent of the same name too), or the mode's events in a delta.
fn events_in(block: &str) -> Vec<ttt::Event> {
    if let Some(e) = bare::<ttt::Event>(block, &Limits::SERVER_FRAMES) {
        return vec![e];
    }
    match example(block) {
        Some(Example::Server(ServerMessage::Delta(d))) => d
            .events
            .iter()
            .filter_map(|r| r.event.decode_game::<ttt::Event>())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_json_example_decodes_and_reencodes_byte_identically() {
    let doc = doc();
    let blocks = json_blocks(&doc);
    let least = INTENT_VARIANTS + EVENT_VARIANTS + 2;
    assert!(blocks.len() >= least, "only {} json examples", blocks.len());
    for block in &blocks {
        assert!(
            example(block).is_some(),
            "this example does not decode to the mode's types and re-encode \
             to the same bytes:\n{block}\nre-encoded: {:?}",
            serde_json::from_str::<serde_json::Value>(block).map(|v| v.to_string())
        );
    }
}

/// The check above refuses what it should.
#[test]
fn the_example_check_refuses_what_the_mode_does_not_have() {
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

// ----------------------------------------------------------------- headings

#[test]
fn every_intent_and_event_tag_is_documented_with_its_index_and_example() {
    let doc = doc();
    for (i, intent) in intent_samples().iter().enumerate() {
        let tag = json_tag(intent);
        let text = section(&doc, &format!("#### `{tag}` (index {i})"));
        let shown = json_blocks(text)
            .iter()
            .flat_map(|b| intents_in(b))
            .any(|s| json_tag(&s) == tag);
        assert!(shown, "intent `{tag}` has no example in its section");
    }
    for (i, event) in event_samples().iter().enumerate() {
        let tag = json_tag(event);
        let text = section(&doc, &format!("#### `{tag}` (index {i})"));
        let shown = json_blocks(text)
            .iter()
            .flat_map(|b| events_in(b))
            .any(|e| json_tag(&e) == tag);
        assert!(shown, "event `{tag}` has no example in its section");
    }
    // Exactly these headings: none for a variant the mode does not have.
    let mut want: BTreeSet<String> = BTreeSet::new();
    for (i, v) in intent_samples().iter().enumerate() {
        want.insert(format!("#### `{}` (index {i})", json_tag(v)));
    }
    for (i, v) in event_samples().iter().enumerate() {
        want.insert(format!("#### `{}` (index {i})", json_tag(v)));
    }
    let have: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with("#### "))
        .map(str::to_owned)
        .collect();
    assert_eq!(have, want);
    // The framework's events are protocol.md's.
    for tag in DomainEvent::NAMES {
        assert!(!doc.contains(&format!("#### `{tag}`")), "{tag}");
    }
}

/// Every intent and event has a table of exactly its fields, in
/// declaration (postcard) order; integer fields give their width.
#[test]
fn every_intent_and_event_has_a_table_of_its_fields() {
    let doc = doc();
    let values = intent_samples()
        .iter()
        .enumerate()
        .map(|(i, v)| (serde_json::to_value(v).unwrap(), variant_field_order(v), i))
        .chain(
            event_samples()
                .iter()
                .enumerate()
                .map(|(i, v)| (serde_json::to_value(v).unwrap(), variant_field_order(v), i)),
        )
        .collect::<Vec<_>>();
    for (json, declared, i) in values {
        let tag = json.as_object().unwrap().keys().next().unwrap().clone();
        let own = section(&doc, &format!("#### `{tag}` (index {i})"));
        let table = rows(own);
        let fields = json[&tag].as_object().expect("a struct variant");
        if fields.is_empty() {
            assert!(table.is_empty(), "{tag} has no fields but a table");
            assert!(own.contains("No fields"), "{tag} says it has no fields");
            continue;
        }
        assert_eq!(row_names(own), declared, "the field table of {tag}");
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

/// The intent table is `TicTacToe::INTENTS`, row for row.
#[test]
fn the_intent_table_is_the_modes_intents() {
    let doc = doc();
    let text = section(&doc, "## Intents");
    let table: Vec<Vec<String>> = table_rows(text)
        .into_iter()
        .filter(|r| r.len() == 5 && r[1].parse::<usize>().is_ok())
        .collect();
    assert_eq!(table.len(), TicTacToe::INTENTS.len());
    for (i, spec) in TicTacToe::INTENTS.iter().enumerate() {
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
        assert_eq!(own.contains("durable"), spec.durable, "{}", spec.name);
        assert_eq!(own.contains("audit"), spec.audited, "{}", spec.name);
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
    use ttt::{Mark, Outcome};
    for row in [
        format!("| `Mark` | {} |", names(&[Mark::X, Mark::O])),
        format!(
            "| `Outcome` | {} |",
            names(&[Outcome::Line, Outcome::Draw, Outcome::Forfeit])
        ),
    ] {
        assert!(doc.lines().any(|l| l == row), "missing row:\n{row}");
    }
    // Every value of each enum is in its row (a new one fails to decode).
    assert!(serde_json::from_str::<Mark>(r#""z""#).is_err());
}

/// The state's fields, in postcard order, and the examples of a new room
/// are the mode's own.
#[test]
fn the_state_is_documented() {
    let doc = doc();
    let text = section(&doc, "## State");
    let state = <TicTacToe as Mode>::initial_state(&RoomConfig::default(), &ttt::Config::default());
    let encoded = serde_json::to_string(&state).unwrap();
    assert_eq!(
        row_names(text),
        field_order(&state),
        "state rows in postcard order"
    );
    assert!(
        json_blocks(text).contains(&encoded),
        "no example of a new room's state:\n{encoded}"
    );
}

// ------------------------------------------------------------------- config

/// A config with `key` set to `value`, when the value fits the key's type.
fn with(base: &ttt::Config, key: &str, value: i64) -> Option<ttt::Config> {
    let mut json = serde_json::to_value(base).unwrap();
    json[key] = value.into();
    serde_json::from_value(json).ok()
}

/// A bound as the doc writes it: a number, or another key in backticks
/// (resolved in `config`).
fn bound(text: &str, config: &ttt::Config) -> i64 {
    match text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(key) => serde_json::to_value(config).unwrap()[key]
            .as_i64()
            .unwrap_or_else(|| panic!("bound `{key}` is no setting")),
        None => text
            .parse()
            .unwrap_or_else(|_| panic!("bound `{text}` is no number")),
    }
}

/// Every setting of `Config`, in postcard order, with its default and its
/// bounds: each bound is accepted, one past it is refused with
/// `INVALID_CONFIG` naming the key and the same range.
#[test]
fn every_config_key_is_documented_with_its_default_and_bounds() {
    let doc = doc();
    let text = section(&doc, "## Config");
    let table = rows(text);
    let defaults = ttt::Config::default();
    let json = serde_json::to_value(&defaults).unwrap();
    let encoded = serde_json::to_string(&defaults).unwrap();
    let declared = field_order(&defaults);
    assert_eq!(declared.len(), json.as_object().unwrap().len());
    assert_eq!(row_names(text), declared, "rows in postcard order");
    assert!(
        json_blocks(text).contains(&encoded),
        "no example of the defaults:\n{encoded}"
    );

    let validate = |c: &ttt::Config| TicTacToe::validate_config(&RoomConfig::default(), c);
    assert_eq!(validate(&defaults), Ok(()));
    for key in &declared {
        let cells = &table[key.as_str()];
        let default = cells[1].split_whitespace().next().unwrap();
        assert_eq!(
            default,
            json[key.as_str()].to_string(),
            "default of `{key}`"
        );
        let (lo, hi) = cells[2]
            .split_once(" ..= ")
            .unwrap_or_else(|| panic!("bounds of `{key}`: `{}`", cells[2]));
        // A bound that names another key is checked at that key's default
        // and at the largest value it may take.
        let mut bases = vec![defaults.clone()];
        for other in [lo, hi] {
            if let Some(k) = other.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
                let max = table[k][2].split_once(" ..= ").unwrap().1;
                bases.push(with(&defaults, k, bound(max, &defaults)).unwrap());
            }
        }
        for base in bases {
            let (min, max) = (bound(lo, &base), bound(hi, &base));
            for ok in [min, max] {
                let c = with(&base, key, ok).unwrap();
                assert_eq!(validate(&c), Ok(()), "`{key}` = {ok} is allowed");
            }
            for bad in [min - 1, max + 1] {
                let Some(c) = with(&base, key, bad) else {
                    continue; // outside the key's type: not a config at all
                };
                let err = validate(&c).expect_err(&format!("`{key}` = {bad} is refused"));
                assert_eq!(err.code, ErrorCode::InvalidConfig);
                assert_eq!(
                    err.details["key"],
                    DetailValue::Text(key.clone()),
                    "{err:?}"
                );
                assert_eq!(
                    (&err.details["min"], &err.details["max"]),
                    (&DetailValue::Int(min), &DetailValue::Int(max)),
                    "the range of `{key}`"
                );
            }
        }
    }
}

// ------------------------------------------------------------------- errors

/// The `SCREAMING_SNAKE` words in backticks (`FORBIDDEN` included).
fn codes_in(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

fn known_names() -> BTreeSet<&'static str> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(TicTacToe::ERROR_CODES.iter().map(|e| e.name))
        .collect()
}

/// The mode's codes table is `TicTacToe::ERROR_CODES`: number, name and
/// description, and nothing else.
#[test]
fn the_modes_codes_are_its_error_codes() {
    let doc = doc();
    let text = section(&doc, "## Errors");
    let table: Vec<Vec<String>> = table_rows(text)
        .into_iter()
        .filter(|r| r[0].parse::<u16>().is_ok())
        .collect();
    assert_eq!(table.len(), TicTacToe::ERROR_CODES.len());
    for (row, e) in table.iter().zip(TicTacToe::ERROR_CODES) {
        assert_eq!(
            row[..3],
            [
                e.number.to_string(),
                format!("`{}`", e.name),
                e.when.to_owned()
            ],
            "{}",
            e.name
        );
    }
    // The names the mode exports are those codes.
    assert_eq!(
        ttt::NOT_YOUR_TURN,
        ErrorCode::Mode(ModeCode(TicTacToe::ERROR_CODES[0].number))
    );
    assert_eq!(
        ttt::GAME_OVER,
        ErrorCode::Mode(ModeCode(TicTacToe::ERROR_CODES[1].number))
    );
}

/// The paragraph of the codes any intent can get.
fn any_intent_codes(doc: &str) -> BTreeSet<String> {
    let errors = section(doc, "## Errors");
    let paragraph = errors
        .split("\n\n")
        .find(|p| p.starts_with("Any intent can also be refused"))
        .expect("the paragraph of the codes any intent can get");
    codes_in(paragraph)
}

/// Every code named is in the catalog or the mode's; every intent's
/// section names the codes of its row in the errors table.
#[test]
fn every_error_code_named_is_real_and_each_intent_lists_its_own() {
    let doc = doc();
    let known = known_names();
    let named = codes_in(&doc);
    assert!(named.len() > 8, "{named:?}");
    for code in &named {
        assert!(known.contains(code.as_str()), "`{code}` is no error code");
    }
    assert!(any_intent_codes(&doc).contains("NOT_IN_ROOM"));
    let errors = rows(section(&doc, "## Errors"));
    for (i, spec) in TicTacToe::INTENTS.iter().enumerate() {
        let listed = codes_in(
            &errors
                .get(spec.name)
                .unwrap_or_else(|| panic!("`{}` has no row in the errors table", spec.name))[0],
        );
        assert!(!listed.is_empty(), "{}", spec.name);
        let own = section(&doc, &format!("#### `{}` (index {i})", spec.name));
        let paragraph = own
            .split("\n\n")
            .find(|p| p.starts_with("Errors:"))
            .unwrap_or_else(|| panic!("`{}` has no Errors: paragraph", spec.name));
        assert_eq!(codes_in(paragraph), listed, "{}", spec.name);
    }
}

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

/// The errors table is what the rules answer: each intent's row is exactly
/// the codes the scenario above provokes with it, but for those any intent
/// can get (which a row may repeat when the rules answer them too).
#[test]
fn the_errors_table_is_what_the_rules_answer() {
    let mut modes = Modes::builtin();
    modes.add(mode::<TicTacToe>()).unwrap();
    let parsed = scenario::parse_with(REJECTIONS, &modes).unwrap();
    let report = scenario::run(&parsed);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    let names: BTreeSet<&str> = TicTacToe::INTENTS.iter().map(|s| s.name).collect();
    let mut provoked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in REJECTIONS.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ([_, verb, ..], Some(code)) = (
            words.as_slice(),
            words.last().and_then(|w| w.strip_prefix('!')),
        ) && names.contains(verb)
        {
            provoked
                .entry(verb.to_string())
                .or_default()
                .insert(code.to_owned());
        }
    }
    let doc = doc();
    let any = any_intent_codes(&doc);
    let errors = rows(section(&doc, "## Errors"));
    for spec in TicTacToe::INTENTS {
        let listed = codes_in(&errors[spec.name][0]);
        let got = provoked.remove(spec.name).unwrap_or_default();
        let unlisted: BTreeSet<&String> = got
            .iter()
            .filter(|c| !listed.contains(*c) && !any.contains(*c))
            .collect();
        assert!(
            unlisted.is_empty(),
            "`{}` answers {unlisted:?}, which its row does not list",
            spec.name
        );
        let unseen: BTreeSet<&String> = listed.iter().filter(|c| !got.contains(*c)).collect();
        assert!(
            unseen.is_empty(),
            "the row of `{}` lists {unseen:?}, which the scenario does not provoke",
            spec.name
        );
    }
}
