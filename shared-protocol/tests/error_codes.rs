//! The error catalog: its JSON and postcard forms, and its integrity.

use std::collections::BTreeSet;
use tickroom_protocol::*;

#[test]
fn json_form_is_the_screaming_snake_name() {
    for &code in ErrorCode::ALL {
        let name = code.as_str();
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && !name.starts_with('_')
                && !name.ends_with('_')
                && !name.contains("__"),
            "{name} is not SCREAMING_SNAKE_CASE"
        );
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::Value::String(name.to_owned())
        );
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
        let back: ErrorCode = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(back, code);
        assert_eq!(code.to_string(), name);
    }
}

#[test]
fn postcard_form_is_the_position_in_all() {
    for (i, &code) in ErrorCode::ALL.iter().enumerate() {
        let bytes = postcard::to_stdvec(&code).unwrap();
        assert_eq!(postcard::from_bytes::<u32>(&bytes).unwrap() as usize, i);
        assert_eq!(postcard::from_bytes::<ErrorCode>(&bytes).unwrap(), code);
    }
    // ALL is in wire order, which is also declaration order.
    let mut sorted = ErrorCode::ALL.to_vec();
    sorted.sort();
    assert_eq!(sorted, ErrorCode::ALL);
}

#[test]
fn all_has_no_duplicates_and_every_code_explains_itself() {
    let codes: BTreeSet<ErrorCode> = ErrorCode::ALL.iter().copied().collect();
    assert_eq!(codes.len(), ErrorCode::ALL.len(), "duplicate code in ALL");
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len(), "duplicate name");
    let whens: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.when()).collect();
    assert_eq!(whens.len(), ErrorCode::ALL.len(), "duplicate description");
    for &code in ErrorCode::ALL {
        let when = code.when();
        assert!(when.len() > 20, "{code}: {when}");
        assert!(when.ends_with('.'), "{code}: {when}");
        assert!(!when.contains('|'), "{code}: `|` breaks the docs table");
    }
}

#[test]
fn the_wire_order_of_existing_codes_never_changes() {
    // Appending is fine; reordering or removing breaks every postcard client.
    let first = [
        "MALFORMED",
        "MESSAGE_TOO_LARGE",
        "NESTING_TOO_DEEP",
        "FIELD_TOO_LONG",
        "VERSION_MISMATCH",
        "UNAUTHORIZED",
        "NOT_IN_ROOM",
        "ALREADY_IN_ROOM",
        "ROOM_NOT_FOUND",
        "ROOM_EXISTS",
        "ROOM_FULL",
        "TOO_MANY_ROOMS",
        "FORBIDDEN",
        "WRONG_PHASE",
        "INVALID_ARGUMENT",
        "INVALID_CONFIG",
        "PIECE_NOT_FOUND",
        "OUT_OF_BOUNDS",
        "LOCK_HELD",
        "NOT_LOCK_OWNER",
        "FORMATION_NOT_FOUND",
        "FORMATION_LIMIT",
        "MEMBER_NOT_FOUND",
        "RATE_LIMITED",
        "SERVER_BUSY",
        "STORE_BEHIND",
        "STORE_UNAVAILABLE",
        "SLOW_CONSUMER",
        "TOO_MANY_CONNECTIONS",
        "HANDSHAKE_TIMEOUT",
        "HEARTBEAT_TIMEOUT",
        "RESUME_FAILED",
        "KICKED",
        "SHUTTING_DOWN",
        "ROOM_TOO_LARGE",
        "UNSUPPORTED_CODEC",
        "INTERNAL",
        "SESSION_REPLACED",
        "SEQ_NOT_INCREASING",
    ];
    assert!(ErrorCode::ALL.len() >= first.len());
    for (i, name) in first.iter().enumerate() {
        assert_eq!(ErrorCode::ALL[i].as_str(), *name, "position {i}");
    }
}
