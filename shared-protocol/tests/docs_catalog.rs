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
