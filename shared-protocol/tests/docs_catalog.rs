//! `docs/protocol.md` stays in step with the code: every error code and every
//! message, intent and event tag is documented with its wire index, and every
//! `json` example is exactly what the codec produces.

mod common;

use common::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use tickroom_protocol::*;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_error_code_is_in_the_catalog_table() {
    let doc = doc();
    for (i, &code) in ErrorCode::ALL.iter().enumerate() {
        assert!(doc.contains(code.as_str()), "{code} is not documented");
        let row = format!("| {i} | `{}` | {} |", code.as_str(), code.when());
        assert!(
            doc.lines().any(|l| l == row),
            "the catalog row for {code} is missing or out of date; expected:\n{row}"
        );
    }
}

fn assert_documented(doc: &str, what: &str, tag: &str, index: usize) {
    assert!(doc.contains(tag), "{what} `{tag}` is not documented");
    let heading = format!("#### `{tag}` (index {index})");
    assert!(
        doc.lines().any(|l| l == heading),
        "{what} `{tag}`: no heading `{heading}`"
    );
}

#[test]
fn every_message_intent_and_event_tag_is_documented() {
    let doc = doc();
    let clients = client_samples();
    assert_eq!(clients.len(), CLIENT_VARIANTS);
    for (i, m) in clients.iter().enumerate() {
        assert_eq!(client_index(m), i);
        assert_documented(&doc, "client message", &json_tag(m), i);
    }
    let intents = intent_samples();
    assert_eq!(intents.len(), INTENT_VARIANTS);
    for (i, m) in intents.iter().enumerate() {
        assert_eq!(intent_index(m), i);
        assert_documented(&doc, "intent", &json_tag(m), i);
    }
    let servers = server_samples();
    assert_eq!(servers.len(), SERVER_VARIANTS);
    for (i, m) in servers.iter().enumerate() {
        assert_eq!(server_index(m), i);
        assert_documented(&doc, "server message", &json_tag(m), i);
    }
    let events = event_samples();
    assert_eq!(events.len(), EVENT_VARIANTS);
    for (i, m) in events.iter().enumerate() {
        assert_eq!(event_index(m), i);
        assert_documented(&doc, "domain event", &json_tag(m), i);
    }
}

#[test]
fn unit_enums_config_fields_and_transport_names_are_documented() {
    let doc = doc();
    let names = |v: Vec<serde_json::Value>| -> Vec<String> {
        v.into_iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let rows = [
        (
            "GameMode",
            names(vec![serde_json::to_value(GameMode::Board).unwrap()]),
        ),
        (
            "Role",
            names(
                [Role::Host, Role::Player, Role::Spectator]
                    .iter()
                    .map(|v| serde_json::to_value(v).unwrap())
                    .collect(),
            ),
        ),
        (
            "Presence",
            names(
                [Presence::Connected, Presence::InGrace]
                    .iter()
                    .map(|v| serde_json::to_value(v).unwrap())
                    .collect(),
            ),
        ),
        (
            "Phase",
            names(
                [Phase::Setup, Phase::Live, Phase::Expired, Phase::Archived]
                    .iter()
                    .map(|v| serde_json::to_value(v).unwrap())
                    .collect(),
            ),
        ),
        (
            "LeaveReason",
            names(
                [
                    LeaveReason::Left,
                    LeaveReason::GraceExpired,
                    LeaveReason::Kicked,
                ]
                .iter()
                .map(|v| serde_json::to_value(v).unwrap())
                .collect(),
            ),
        ),
        (
            "ReleaseReason",
            names(
                [
                    ReleaseReason::Released,
                    ReleaseReason::Expired,
                    ReleaseReason::HolderLeft,
                    ReleaseReason::HolderDisconnected,
                    ReleaseReason::PhaseEnded,
                    ReleaseReason::TeamChanged,
                ]
                .iter()
                .map(|v| serde_json::to_value(v).unwrap())
                .collect(),
            ),
        ),
    ];
    for (ty, values) in rows {
        let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        let row = format!("| `{ty}` | {} |", list.join(", "));
        assert!(doc.lines().any(|l| l == row), "missing row:\n{row}");
    }

    let config = serde_json::to_value(RoomConfig::default()).unwrap();
    for key in config.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "config field `{key}` has no row"
        );
    }

    for codec in Codec::ALL {
        assert!(doc.contains(codec.subprotocol()), "{codec:?}");
    }
    assert!(doc.contains("tickroom/1"));
    assert!(doc.contains(&format!("PROTOCOL_VERSION = {PROTOCOL_VERSION}")));
    assert!(doc.contains(&format!("MIN_PROTOCOL_VERSION = {MIN_PROTOCOL_VERSION}")));
}

/// Decodes `text` as `T` and checks it serializes back to the same JSON.
fn exact<T>(text: &str, limits: &Limits) -> bool
where
    T: Serialize + DeserializeOwned + CheckLimits,
{
    let Ok(value) = Codec::Json.decode::<T>(text.as_bytes(), limits) else {
        return false;
    };
    let written: serde_json::Value = serde_json::from_str(text).unwrap();
    serde_json::to_value(&value).unwrap() == written
}

#[test]
fn every_json_example_is_exact() {
    let doc = doc();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match &mut current {
            None if line.trim() == "```json" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
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
    assert!(blocks.len() > 40, "only {} json examples", blocks.len());
    for block in &blocks {
        let ok = exact::<ClientMessage>(block, &Limits::CLIENT_FRAMES)
            || exact::<ServerMessage>(block, &Limits::SERVER_FRAMES)
            || exact::<DomainEvent>(block, &Limits::SERVER_FRAMES)
            || exact::<RoomConfig>(block, &Limits::CLIENT_FRAMES);
        assert!(
            ok,
            "this example does not decode to a protocol type and back exactly:\n{block}"
        );
    }
}

#[test]
fn the_documented_decode_error_example_is_what_the_server_sends() {
    let body = DecodeError::FieldTooLong {
        field: "text",
        len: 3000,
        max: 2048,
    }
    .to_error_body();
    let frame = serde_json::to_string(&ServerMessage::Reject {
        seq: 17,
        code: body.code,
        message: body.message,
        details: body.details,
    })
    .unwrap();
    assert!(doc().contains(&frame), "{frame}");
}

/// The integer after `key` (`"x":` and the like) at the start of `text`.
fn int_after(text: &str, key: &str) -> Option<i64> {
    let rest = text.strip_prefix(key)?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Every position in the examples is on the default board: an example a
/// client copies must not be an OUT_OF_BOUNDS move.
#[test]
fn every_example_position_is_on_the_default_board() {
    let doc = doc();
    let board = RoomConfig::default();
    let mut seen = 0;
    for (at, _) in doc.match_indices("\"x\":") {
        let text = &doc[at..];
        let x = int_after(text, "\"x\":").expect("a number after \"x\":");
        let y_at = text.find("\"y\":").expect("a y after the x");
        let y = int_after(&text[y_at..], "\"y\":").expect("a number after \"y\":");
        assert!(
            (0..i64::from(board.board_width)).contains(&x)
                && (0..i64::from(board.board_height)).contains(&y),
            "({x}, {y}) is off the default board"
        );
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} positions found");
    // The postcard worked example, byte for byte.
    assert!(doc.contains("the intent `move_piece` with `seq` 4, piece 3, to (120, 40)"));
    let bytes = Codec::Postcard
        .encode(&ClientMessage::Intent {
            seq: 4,
            intent: tickroom_protocol::Intent::MovePiece {
                piece: tickroom_protocol::PieceId(3),
                to: tickroom_protocol::Pos::new(120, 40),
            },
        })
        .unwrap();
    assert_eq!(bytes, [0x06, 0x04, 0x00, 0x03, 0xf0, 0x01, 0x50]);
    for line in [
        "06          ClientMessage",
        "f0 01       to.x",
        "50          to.y",
    ] {
        assert!(doc.contains(line), "{line}");
    }
}

/// Every domain event has a field table, and it names exactly the event's
/// fields; integer fields give their width.
#[test]
fn every_domain_event_has_a_table_of_its_fields() {
    let doc = doc();
    for (i, event) in event_samples().iter().enumerate() {
        let tag = json_tag(event);
        let heading = format!("#### `{tag}` (index {i})");
        let start = doc.find(&heading).expect("documented") + heading.len();
        let section = &doc[start..];
        let section = &section[..section.find("\n#").unwrap_or(section.len())];
        let rows: std::collections::BTreeMap<String, String> = section
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((name.to_owned(), cells.get(2)?.to_string()))
            })
            .collect();
        let json = serde_json::to_value(event).unwrap();
        let fields = json[&tag].as_object().expect("a struct variant");
        let mut names: Vec<&String> = fields.keys().collect();
        names.sort();
        assert_eq!(
            rows.keys().collect::<Vec<_>>(),
            names,
            "the field table of {tag}"
        );
        for (name, value) in fields {
            if value.is_number() {
                let ty = &rows[name];
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
