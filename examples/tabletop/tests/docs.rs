//! `docs/modes/tabletop.md` stays in step with this crate the way
//! `docs/modes/board.md` does with the board (`shared-protocol/tests/
//! docs_modes.rs`): every intent and event tag has a heading with its
//! variant index and a field table, the intent table is
//! `Tabletop::INTENTS`, every `json` example decodes to the mode's typed
//! values and re-encodes to exactly the same bytes, every setting of
//! `Config` is documented with its default and the bounds `validate_config`
//! enforces, every error code named is a real one, the errors table is
//! what the rules answer, and the frames the "What each member sees"
//! section shows are the ones the mode produces for each member.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tickroom_protocol::walk::{Variant, check_value, variant_of};
use tickroom_protocol::*;
use tickroom_sim::{Input, Mode, Modes, Room, TickOutput, Viewer, mode, scenario};
use tickroom_tabletop::{self as tt, Tabletop};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/modes/tabletop.md");
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
fn intent_index(i: &tt::Intent) -> usize {
    use tt::Intent::*;
    match i {
        PlaceToken { .. } => 0,
        MoveToken { .. } => 1,
        RemoveToken { .. } => 2,
        AssignToken { .. } => 3,
        AddFog { .. } => 4,
        Reveal { .. } => 5,
        Cover { .. } => 6,
        SetInitiative { .. } => 7,
        NextTurn {} => 8,
        EndTurn {} => 9,
        EndInitiative {} => 10,
        Roll { .. } => 11,
        Chat { .. } => 12,
    }
}
const INTENT_VARIANTS: usize = 13;

fn event_index(e: &tt::Event) -> usize {
    use tt::Event::*;
    match e {
        TokenPlaced { .. } => 0,
        TokenMoved { .. } => 1,
        TokenRemoved { .. } => 2,
        TokenAssigned { .. } => 3,
        TokenAppeared { .. } => 4,
        TokenVanished { .. } => 5,
        FogAdded { .. } => 6,
        RegionRevealed { .. } => 7,
        RegionCovered { .. } => 8,
        TurnOrder { .. } => 9,
        TurnChanged { .. } => 10,
        InitiativeEnded {} => 11,
        DiceRolled { .. } => 12,
        ChatPosted { .. } => 13,
    }
}
const EVENT_VARIANTS: usize = 14;

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

/// One example of every intent, in variant order.
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
    ]
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
    }
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
    assert_eq!(Tabletop::INTENTS.len(), INTENT_VARIANTS);
    for (i, intent) in intents.iter().enumerate() {
        assert_eq!(intent_index(intent), i);
        assert_eq!(serde_index(intent), i);
        assert_eq!(json_tag(intent), Tabletop::INTENTS[i].name);
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
    ModeCode::register(Tabletop::ERROR_CODES).unwrap();
}

/// A framework code, or one of the mode's.
fn known_code(code: ErrorCode) -> bool {
    ErrorCode::ALL.contains(&code)
        || Tabletop::ERROR_CODES
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
    Intent(tt::Intent),
    Event(tt::Event),
    State(tt::State),
    Config(tt::Config),
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
    let game: tt::Config = c.game.decode().ok()?;
    Some(RoomConfig {
        game: Payload::of(game),
        ..c
    })
}

fn typed_state(s: RoomState) -> Option<RoomState> {
    let game: tt::State = s.game.decode().ok()?;
    Some(RoomState {
        game: Payload::of(game),
        ..s
    })
}

fn typed_event(e: tickroom_protocol::Event) -> Option<tickroom_protocol::Event> {
    match e {
        tickroom_protocol::Event::Room(r) => Some(tickroom_protocol::Event::Room(r)),
        tickroom_protocol::Event::Game(p) => p
            .decode::<tt::Event>()
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
            let intent: tt::Intent = intent.decode().ok()?;
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
fn intents_in(block: &str) -> Vec<tt::Intent> {
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
fn events_in(block: &str) -> Vec<tt::Event> {
    if let Some(e) = bare::<tt::Event>(block, &Limits::SERVER_FRAMES) {
        return vec![e];
    }
    match example(block) {
        Some(Example::Server(ServerMessage::Delta(d))) => d
            .events
            .iter()
            .filter_map(|r| r.event.decode_game::<tt::Event>())
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

/// The intent table is `Tabletop::INTENTS`, row for row.
#[test]
fn the_intent_table_is_the_modes_intents() {
    let doc = doc();
    let text = section(&doc, "## Intents");
    let table: Vec<Vec<String>> = table_rows(text)
        .into_iter()
        .filter(|r| r.len() == 5 && r[1].parse::<usize>().is_ok())
        .collect();
    assert_eq!(table.len(), Tabletop::INTENTS.len());
    for (i, spec) in Tabletop::INTENTS.iter().enumerate() {
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

/// The state's fields, in postcard order, and the types inside the state
/// and the events, each with its fields in order.
#[test]
fn the_state_and_its_types_are_documented() {
    let doc = doc();
    let text = section(&doc, "## State");
    let (fields, types) = text
        .split_once("| type | fields, in order |")
        .expect("a table of the types");
    assert_eq!(
        row_names(fields),
        field_order(&sample_state()),
        "state rows in postcard order"
    );
    let table = rows(types);
    let actual: [(&str, Vec<String>); 6] = [
        ("Cell", field_order(&cell(1, 2))),
        ("Rect", field_order(&region().area)),
        ("TokenView", field_order(&token())),
        ("RegionView", field_order(&region())),
        ("Initiative", field_order(&initiative())),
        ("ChatLine", field_order(&sample_state().chat[0])),
    ];
    assert_eq!(table.len(), actual.len(), "{:?}", table.keys());
    for (ty, fields) in actual {
        let row = &table
            .get(ty)
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
        assert_eq!(
            row.split('`')
                .skip(1)
                .step_by(2)
                .filter(|c| c.contains(": "))
                .count(),
            fields.len(),
            "{ty}: `{row}` names exactly its fields"
        );
    }
}

// ------------------------------------------------------------------- config

/// A config with `key` set to `value`, when the value fits the key's type.
fn with(base: &tt::Config, key: &str, value: i64) -> Option<tt::Config> {
    let mut json = serde_json::to_value(base).unwrap();
    json[key] = value.into();
    serde_json::from_value(json).ok()
}

/// A bound as the doc writes it: a number, or another key in backticks
/// (resolved in `config`).
fn bound(text: &str, config: &tt::Config) -> i64 {
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
    let defaults = tt::Config::default();
    let json = serde_json::to_value(&defaults).unwrap();
    let encoded = serde_json::to_string(&defaults).unwrap();
    let declared = field_order(&defaults);
    assert_eq!(declared.len(), json.as_object().unwrap().len());
    assert_eq!(row_names(text), declared, "rows in postcard order");
    assert!(
        json_blocks(text).contains(&encoded),
        "no example of the defaults:\n{encoded}"
    );

    let validate = |c: &tt::Config| Tabletop::validate_config(&RoomConfig::default(), c);
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
        .chain(Tabletop::ERROR_CODES.iter().map(|e| e.name))
        .collect()
}

/// The mode's codes table is `Tabletop::ERROR_CODES`: number, name and
/// description, and nothing else.
#[test]
fn the_modes_codes_are_its_error_codes() {
    let doc = doc();
    let text = section(&doc, "## Errors");
    let table: Vec<Vec<String>> = table_rows(text)
        .into_iter()
        .filter(|r| r[0].parse::<u16>().is_ok())
        .collect();
    assert_eq!(table.len(), Tabletop::ERROR_CODES.len());
    for (row, e) in table.iter().zip(Tabletop::ERROR_CODES) {
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
    // The name the mode exports is that code.
    assert_eq!(
        tt::OUT_OF_TURN_ACTION,
        ErrorCode::Mode(ModeCode(Tabletop::ERROR_CODES[0].number))
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
    for (i, spec) in Tabletop::INTENTS.iter().enumerate() {
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
tick 4
  dana set_initiative order=[3,2]
  pia move_token token=1 to.x=4 to.y=2                !OUT_OF_TURN_ACTION
  pia end_turn                                        !OUT_OF_TURN_ACTION
  sam chat text=hi
  expect view pia /state_hash \"0000000000000000\"
  expect view sam /state_hash \"0000000000000000\"
  expect view pia /sees_all false
  expect view dana /sees_all true
";

/// The errors table is what the rules answer: each intent's row is exactly
/// the codes the scenario above provokes with it, but for those any intent
/// can get (which a row may repeat when the rules answer them too).
#[test]
fn the_errors_table_is_what_the_rules_answer() {
    let mut modes = Modes::builtin();
    modes.add(mode::<Tabletop>()).unwrap();
    let parsed = scenario::parse_with(REJECTIONS, &modes).unwrap();
    let report = scenario::run(&parsed);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    let names: BTreeSet<&str> = Tabletop::INTENTS.iter().map(|s| s.name).collect();
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
    for spec in Tabletop::INTENTS {
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
    let text = section(&doc, "## What each member sees");
    let frames = frames_of_the_example();
    let mut shown = BTreeSet::new();
    for block in json_blocks(text) {
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
