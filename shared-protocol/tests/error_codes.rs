//! The error catalog: its JSON and postcard forms, and its integrity; and
//! the codes game modes add to it (numbered from 1000, named once
//! registered).

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
    for (i, &code) in ErrorCode::ALL.iter().enumerate() {
        assert_eq!(code.number() as usize, i);
        assert!(!matches!(code, ErrorCode::Mode(_)), "{code:?} in ALL");
    }
    // The framework's numbers stay below the modes' range.
    assert!(ErrorCode::ALL.len() < usize::from(FIRST_MODE_CODE));
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
        // Protocol 2.
        "UNKNOWN_INTENT",
        "MODE_UNAVAILABLE",
    ];
    assert!(ErrorCode::ALL.len() >= first.len());
    for (i, name) in first.iter().enumerate() {
        assert_eq!(ErrorCode::ALL[i].as_str(), *name, "position {i}");
    }
}

// ------------------------------------------------------------ mode codes
//
// The registry is one per process and the tests of this file share it:
// each test uses numbers and names of its own.

#[test]
fn an_unregistered_mode_code_travels_by_number() {
    let code = ErrorCode::Mode(ModeCode(1_100));
    assert_eq!(code.number(), 1_100);
    // postcard: its number as a varint, like any code.
    let bytes = postcard::to_stdvec(&code).unwrap();
    assert_eq!(bytes, [0xcc, 0x08]);
    assert_eq!(postcard::from_bytes::<ErrorCode>(&bytes).unwrap(), code);
    // JSON: `MODE_ERROR_<number>`, which reads back as the same code.
    assert_eq!(
        serde_json::to_string(&code).unwrap(),
        r#""MODE_ERROR_1100""#
    );
    assert_eq!(
        serde_json::from_str::<ErrorCode>(r#""MODE_ERROR_1100""#).unwrap(),
        code
    );
    // Numbers between the catalog and the modes' range name nothing.
    for n in [ErrorCode::ALL.len() as u32, u32::from(FIRST_MODE_CODE) - 1] {
        let bytes = postcard::to_stdvec(&n).unwrap();
        assert!(postcard::from_bytes::<ErrorCode>(&bytes).is_err(), "{n}");
    }
    for name in [
        r#""MODE_ERROR_999""#,
        r#""MODE_ERROR_0""#,
        r#""MODE_ERROR_""#,
        r#""MODE_ERROR_65536""#,
        r#""MODE_ERROR_-1000""#,
    ] {
        assert!(serde_json::from_str::<ErrorCode>(name).is_err(), "{name}");
    }
    // Beyond u16: no code.
    let bytes = postcard::to_stdvec(&65_536u32).unwrap();
    assert!(postcard::from_bytes::<ErrorCode>(&bytes).is_err());
}

#[test]
fn a_registered_mode_code_has_a_name_and_a_catalog_row() {
    let entries = [
        ModeCodeEntry {
            number: 1_200,
            name: "TEST_CARD_NOT_IN_HAND",
            when: "The card is not in the member's hand.",
        },
        ModeCodeEntry {
            number: 1_201,
            name: "TEST_NOT_YOUR_TURN",
            when: "It is another member's turn.",
        },
    ];
    ModeCode::register(&entries).unwrap();
    // Registering the same entries again is fine.
    ModeCode::register(&entries).unwrap();
    for e in entries {
        let code = ErrorCode::Mode(ModeCode(e.number));
        assert_eq!(code.as_str(), e.name);
        assert_eq!(code.when(), e.when);
        assert_eq!(code.to_string(), e.name);
        assert_eq!(code.number(), u32::from(e.number));
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", e.name));
        assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        // The number form is still understood.
        let by_number = format!("\"MODE_ERROR_{}\"", e.number);
        assert_eq!(serde_json::from_str::<ErrorCode>(&by_number).unwrap(), code);
        let bytes = postcard::to_stdvec(&code).unwrap();
        assert_eq!(
            postcard::from_bytes::<u32>(&bytes).unwrap(),
            u32::from(e.number)
        );
        assert_eq!(postcard::from_bytes::<ErrorCode>(&bytes).unwrap(), code);
        assert!(!ErrorCode::ALL.contains(&code));
    }
    let registered = ModeCode::registered();
    for e in &entries {
        assert!(registered.contains(e), "{e:?}");
    }
    assert!(
        registered.windows(2).all(|w| w[0].number < w[1].number),
        "{registered:?}"
    );
    // A reject carrying one, in both codecs.
    let m = ServerMessage::Reject {
        seq: 3,
        code: ErrorCode::Mode(ModeCode(1_201)),
        message: "wait".into(),
        details: Details::new(),
    };
    assert_eq!(
        serde_json::to_value(&m).unwrap()["reject"]["code"],
        serde_json::json!("TEST_NOT_YOUR_TURN")
    );
    for codec in Codec::ALL {
        let frame = codec.encode(&m).unwrap();
        assert_eq!(
            codec
                .decode::<ServerMessage>(&frame, &Limits::SERVER_FRAMES)
                .unwrap(),
            m
        );
    }
}

#[test]
fn clashing_mode_codes_are_refused() {
    let first = ModeCodeEntry {
        number: 1_300,
        name: "TEST_CLASH_FIRST",
        when: "The first of two codes.",
    };
    ModeCode::register(&[first]).unwrap();
    let refused = [
        // Another name for a number that is taken.
        ModeCodeEntry {
            name: "TEST_CLASH_OTHER_NAME",
            ..first
        },
        // Another number for a name that is taken.
        ModeCodeEntry {
            number: 1_301,
            ..first
        },
        // Another description of the same code.
        ModeCodeEntry {
            when: "Something else.",
            ..first
        },
        // A framework code's name.
        ModeCodeEntry {
            number: 1_302,
            name: "LOCK_HELD",
            when: "A mode's own lock.",
        },
        // A number below the modes' range.
        ModeCodeEntry {
            number: FIRST_MODE_CODE - 1,
            name: "TEST_CLASH_LOW",
            when: "Too low.",
        },
        ModeCodeEntry {
            number: 5,
            name: "TEST_CLASH_FRAMEWORK_NUMBER",
            when: "A framework code's number.",
        },
    ];
    for e in refused {
        let err = ModeCode::register(&[e]).unwrap_err();
        assert!(err.contains(e.name), "{e:?}: {err}");
    }
    // The first registration is untouched.
    assert_eq!(ErrorCode::Mode(ModeCode(1_300)).as_str(), first.name);
    assert!(!ModeCode::registered().iter().any(|e| e.number == 1_301
        || e.number == 1_302
        || e.name == "TEST_CLASH_OTHER_NAME"
        || e.name == "TEST_CLASH_LOW"));
    // The framework's own name still means the framework's code.
    assert_eq!(
        serde_json::from_str::<ErrorCode>(r#""LOCK_HELD""#).unwrap(),
        ErrorCode::LockHeld
    );
}

/// A client that does not know a server's modes still reads their codes by
/// name: a well-formed unknown name is kept under a number of this
/// process's own (from `DYNAMIC_MODE_CODES`), so it re-encodes to the same
/// name; anything that cannot be a code's name is refused.
#[test]
fn an_unknown_code_name_in_json_keeps_its_name() {
    let code: ErrorCode = serde_json::from_str(r#""TEST_SEEN_ONLY_IN_JSON""#).unwrap();
    let ErrorCode::Mode(ModeCode(n)) = code else {
        panic!("{code:?}")
    };
    // Numbered outside the range modes number their codes in (from
    // `DYNAMIC_MODE_CODES = 64000`, which the crate does not export).
    assert!(n >= 64_000, "{n}");
    assert_eq!(code.as_str(), "TEST_SEEN_ONLY_IN_JSON");
    assert_eq!(
        serde_json::to_string(&code).unwrap(),
        r#""TEST_SEEN_ONLY_IN_JSON""#
    );
    // The same name again: the same code.
    let again: ErrorCode = serde_json::from_str(r#""TEST_SEEN_ONLY_IN_JSON""#).unwrap();
    assert_eq!(again, code);
    let other: ErrorCode = serde_json::from_str(r#""TEST_SEEN_ONLY_IN_JSON_2""#).unwrap();
    assert_ne!(other, code);
    // A reject carrying it survives a JSON round trip.
    let m = ServerMessage::Reject {
        seq: 1,
        code,
        message: String::new(),
        details: Details::new(),
    };
    let frame = Codec::Json.encode(&m).unwrap();
    assert_eq!(
        Codec::Json
            .decode::<ServerMessage>(&frame, &Limits::SERVER_FRAMES)
            .unwrap(),
        m
    );
    for bad in [
        r#""test_lower_case""#,
        r#""TEST-DASH""#,
        r#""""#,
        r#""MODE_ERROR_12""#,
    ] {
        assert!(serde_json::from_str::<ErrorCode>(bad).is_err(), "{bad}");
    }
    let long = format!("\"{}\"", "X".repeat(65));
    assert!(serde_json::from_str::<ErrorCode>(&long).is_err());
}
