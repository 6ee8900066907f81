//! Every wire type survives encode → decode through both codecs, under the
//! limits the receiving side really uses; and the JSON shape is exactly the
//! documented one.

mod common;

use common::*;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use tickroom_protocol::*;

const CASES: u32 = 512;

fn roundtrip<T>(msg: &T, limits: &Limits) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + CheckLimits + PartialEq + Debug,
{
    for codec in Codec::ALL {
        let frame = codec.encode(msg).expect("every message encodes");
        let back: T = codec
            .decode(&frame, limits)
            .map_err(|e| TestCaseError::fail(format!("{codec:?}: {e} for {msg:?}")))?;
        prop_assert_eq!(&back, msg, "{:?}", codec);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn client_messages_roundtrip(msg in client_message()) {
        roundtrip(&msg, &Limits::CLIENT_FRAMES)?;
    }

    #[test]
    fn intents_roundtrip(intent in intent()) {
        roundtrip(&intent, &Limits::CLIENT_FRAMES)?;
    }

    #[test]
    fn room_configs_roundtrip(config in room_config()) {
        roundtrip(&config, &Limits::CLIENT_FRAMES)?;
    }

    #[test]
    fn server_messages_roundtrip(msg in server_message()) {
        roundtrip(&msg, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn domain_events_roundtrip(event in domain_event()) {
        roundtrip(&event, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn room_states_roundtrip(state in room_state()) {
        roundtrip(&state, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn deltas_roundtrip(delta in delta()) {
        roundtrip(&delta, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn rejects_with_any_code_and_details_roundtrip(
        seq in any::<u64>(),
        code in error_code(),
        message in text(),
        details in details(),
    ) {
        roundtrip(&ServerMessage::Reject { seq, code, message, details }, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn state_hash_is_16_lowercase_hex_digits_in_json(hash in state_hash()) {
        let v = serde_json::to_value(hash).unwrap();
        let s = v.as_str().expect("a JSON string");
        prop_assert_eq!(s.len(), 16);
        prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(u64::from_str_radix(s, 16).unwrap(), hash.0);
        prop_assert_eq!(postcard::from_bytes::<u64>(&postcard::to_stdvec(&hash).unwrap()).unwrap(), hash.0);
    }
}

/// The strategies above pick variants at random; this makes sure every
/// variant and every error code goes through both codecs at least once.
#[test]
fn every_variant_and_code_roundtrips() {
    let clients = client_samples();
    let mut seen: Vec<usize> = clients.iter().map(client_index).collect();
    assert_eq!(seen, (0..CLIENT_VARIANTS).collect::<Vec<_>>());
    for m in &clients {
        roundtrip(m, &Limits::CLIENT_FRAMES).unwrap();
    }
    let intents = intent_samples();
    seen = intents.iter().map(intent_index).collect();
    assert_eq!(seen, (0..INTENT_VARIANTS).collect::<Vec<_>>());
    for (seq, intent) in intents.into_iter().enumerate() {
        let m = ClientMessage::Intent {
            seq: seq as u64,
            intent,
        };
        roundtrip(&m, &Limits::CLIENT_FRAMES).unwrap();
    }
    let servers = server_samples();
    seen = servers.iter().map(server_index).collect();
    assert_eq!(seen, (0..SERVER_VARIANTS).collect::<Vec<_>>());
    for m in &servers {
        roundtrip(m, &Limits::SERVER_FRAMES).unwrap();
    }
    let events = event_samples();
    seen = events.iter().map(event_index).collect();
    assert_eq!(seen, (0..EVENT_VARIANTS).collect::<Vec<_>>());
    let delta = Delta {
        events: events
            .into_iter()
            .enumerate()
            .map(|(i, event)| EventRecord {
                origin: Origin::default(),
                version: i as u64 + 1,
                event,
            })
            .collect(),
        ..sample_delta()
    };
    roundtrip(&ServerMessage::Delta(delta), &Limits::SERVER_FRAMES).unwrap();
    for &code in ErrorCode::ALL {
        let m = ServerMessage::Closing {
            code,
            reason: code.when().into(),
        };
        roundtrip(&m, &Limits::SERVER_FRAMES).unwrap();
    }
}

#[test]
fn postcard_variant_index_is_the_first_byte() {
    for m in client_samples() {
        assert_eq!(
            postcard::to_stdvec(&m).unwrap()[0] as usize,
            client_index(&m)
        );
    }
    for m in server_samples() {
        assert_eq!(
            postcard::to_stdvec(&m).unwrap()[0] as usize,
            server_index(&m)
        );
    }
    for i in intent_samples() {
        assert_eq!(
            postcard::to_stdvec(&i).unwrap()[0] as usize,
            intent_index(&i)
        );
    }
    for e in event_samples() {
        assert_eq!(
            postcard::to_stdvec(&e).unwrap()[0] as usize,
            event_index(&e)
        );
    }
}

#[test]
fn postcard_bytes_are_exactly_as_documented() {
    let m = ClientMessage::Intent {
        seq: 4,
        intent: Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    };
    // variant 6, seq 4, variant 0, piece 3, x = zigzag(120) = 240 = f0 01, y = zigzag(40) = 80 = 50
    assert_eq!(
        Codec::Postcard.encode(&m).unwrap(),
        [0x06, 0x04, 0x00, 0x03, 0xf0, 0x01, 0x50]
    );
    // A detail value is a tagged enum in postcard: Int = 0 (zigzag i64), Text = 1, Bool = 2.
    let mut details = Details::new();
    details.insert("holder".into(), DetailValue::Int(2));
    details.insert("ok".into(), DetailValue::Bool(true));
    let m = ServerMessage::Reject {
        seq: 5,
        code: ErrorCode::LockHeld,
        message: "x".into(),
        details,
    };
    let lock_held = ErrorCode::ALL
        .iter()
        .position(|&c| c == ErrorCode::LockHeld)
        .unwrap() as u8;
    let mut want = vec![0x05, 0x05, lock_held, 0x01, b'x', 0x02];
    want.extend([6, b'h', b'o', b'l', b'd', b'e', b'r', 0x00, 0x04]);
    want.extend([2, b'o', b'k', 0x02, 0x01]);
    assert_eq!(Codec::Postcard.encode(&m).unwrap(), want);
    // The delta shown in docs/protocol.md, byte for byte.
    let delta = ServerMessage::Delta(common::sample_delta());
    let documented = "03 09 74 61 63 74 69 63 73 2d 31 b1 09 39 3b 02 01 01 01 04 3a 06 03 f0 01 50 \
                      01 02 01 09 3b 07 05 02 95 0a 01 a3 82 bc ef bc 15";
    let bytes: Vec<u8> = documented
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(Codec::Postcard.encode(&delta).unwrap(), bytes);
    // The state hash is a plain u64 varint in postcard.
    let bytes = Codec::Postcard.encode(&StateHash(300)).unwrap();
    assert_eq!(bytes, [0xac, 0x02]);
}

#[test]
fn json_shape_of_intent_move_piece() {
    let m = ClientMessage::Intent {
        seq: 4,
        intent: Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    };
    let want = json!({"intent": {"seq": 4, "intent": {"move_piece": {"piece": 3, "to": {"x": 120, "y": 40}}}}});
    assert_eq!(serde_json::to_value(&m).unwrap(), want);
    assert_eq!(
        Codec::Json.encode(&m).unwrap(),
        br#"{"intent":{"seq":4,"intent":{"move_piece":{"piece":3,"to":{"x":120,"y":40}}}}}"#
    );
}

#[test]
fn json_shape_of_empty_intents_is_an_empty_object() {
    let m = ClientMessage::Intent {
        seq: 7,
        intent: Intent::StartMatch {},
    };
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({"intent": {"seq": 7, "intent": {"start_match": {}}}})
    );
    assert_eq!(
        serde_json::to_value(Intent::StartMatch {}).unwrap(),
        json!({"start_match": {}})
    );
    assert_eq!(
        serde_json::to_value(Intent::ArchiveRoom {}).unwrap(),
        json!({"archive_room": {}})
    );
    // And it decodes from exactly that.
    let back: ClientMessage = Codec::Json
        .decode(
            br#"{"intent":{"seq":7,"intent":{"start_match":{}}}}"#,
            &Limits::CLIENT_FRAMES,
        )
        .unwrap();
    assert_eq!(back, m);
}

#[test]
fn json_shape_of_reject_has_bare_detail_values() {
    let mut details = Details::new();
    details.insert("holder".into(), DetailValue::Int(2));
    details.insert("name".into(), DetailValue::Text("bob".into()));
    details.insert("fatal".into(), DetailValue::Bool(false));
    details.insert("min".into(), DetailValue::Int(-5));
    let m = ServerMessage::Reject {
        seq: 5,
        code: ErrorCode::LockHeld,
        message: "piece p3 is locked by m2".into(),
        details,
    };
    let want = json!({"reject": {
        "seq": 5,
        "code": "LOCK_HELD",
        "message": "piece p3 is locked by m2",
        "details": {"fatal": false, "holder": 2, "min": -5, "name": "bob"},
    }});
    assert_eq!(serde_json::to_value(&m).unwrap(), want);
}

#[test]
fn json_shape_of_delta() {
    let m = ServerMessage::Delta(sample_delta());
    let want = json!({"delta": {
        "room": "tactics-1",
        "tick": 1201,
        "from_version": 57,
                "to_version": 59,
        "events": [
            {"origin": {"member": 1, "seq": 4}, "version": 58,
             "event": {"piece_moved": {"piece": 3, "to": {"x": 120, "y": 40}}}},
            {"origin": {"member": 2, "seq": 9}, "version": 59,
             "event": {"lock_taken": {"piece": 5, "holder": 2, "expires_at": 1301}}},
        ],
        "state_hash": "000000abcdef0123",
    }});
    assert_eq!(serde_json::to_value(&m).unwrap(), want);

    let no_hash = ServerMessage::Delta(Delta {
        events: vec![EventRecord {
            origin: Origin::default(),
            version: 58,
            event: DomainEvent::PhaseChanged {
                phase: Phase::Expired,
                until: None,
            },
        }],
        state_hash: None,
        ..sample_delta()
    });
    let v = serde_json::to_value(&no_hash).unwrap();
    assert_eq!(v["delta"]["state_hash"], serde_json::Value::Null);
    assert_eq!(
        v["delta"]["events"][0],
        json!({"origin": {"member": null, "seq": null}, "version": 58,
               "event": {"phase_changed": {"phase": "expired", "until": null}}})
    );
}

#[test]
fn json_shape_of_ids_hello_and_create_room() {
    assert_eq!(
        serde_json::to_value(ClientMessage::Hello {
            version: 1,
            token: None,
            resume: Some("r-1".into()),
        })
        .unwrap(),
        json!({"hello": {"version": 1, "token": null, "resume": "r-1"}})
    );
    assert_eq!(
        serde_json::to_value(ClientMessage::JoinRoom {
            seq: 2,
            room: RoomId::from("tactics-1"),
            name: "alice".into(),
            team: None,
        })
        .unwrap(),
        json!({"join_room": {"seq": 2, "room": "tactics-1", "name": "alice", "team": null}})
    );
    let v = serde_json::to_value(ClientMessage::CreateRoom {
        seq: 1,
        room: None,
        config: RoomConfig::default(),
        private: true,
    })
    .unwrap();
    assert_eq!(v["create_room"]["config"]["mode"], json!("board"));
    assert_eq!(v["create_room"]["config"]["tick_rate_hz"], json!(20));
    assert_eq!(v["create_room"]["room"], json!(null));
}

#[test]
fn json_options_and_config_fields_may_be_omitted() {
    // Missing `Option` fields read as null; a missing or partial config takes defaults.
    let m: ClientMessage = Codec::Json
        .decode(
            br#"{"create_room":{"seq":1,"config":{"teams":4},"private":false}}"#,
            &Limits::CLIENT_FRAMES,
        )
        .unwrap();
    assert_eq!(
        m,
        ClientMessage::CreateRoom {
            seq: 1,
            room: None,
            config: RoomConfig {
                teams: 4,
                ..RoomConfig::default()
            },
            private: false,
        }
    );
    let m: ClientMessage = Codec::Json
        .decode(br#"{"hello":{"version":1}}"#, &Limits::CLIENT_FRAMES)
        .unwrap();
    assert_eq!(
        m,
        ClientMessage::Hello {
            version: 1,
            token: None,
            resume: None
        }
    );
}

#[test]
fn json_state_hash_must_be_16_hex_digits() {
    let frame = |h: &str| {
        format!(
            r#"{{"delta":{{"room":"r","tick":1,"from_version":0,"to_version":0,"events":[],"state_hash":{h}}}}}"#
        )
    };
    let ok: ServerMessage = Codec::Json
        .decode(
            frame("\"00000000000000ff\"").as_bytes(),
            &Limits::SERVER_FRAMES,
        )
        .unwrap();
    let ServerMessage::Delta(d) = ok else {
        panic!()
    };
    assert_eq!(d.state_hash, Some(StateHash(255)));
    for bad in [
        "\"ff\"",
        "\"000000000000000ff\"",
        "\"zzzzzzzzzzzzzzzz\"",
        "255",
        "\"+00000000000000f\"",
        "\"-00000000000000f\"",
        "\"0x000000000000ff\"",
        "\"éééééééé\"",
    ] {
        let err = Codec::Json
            .decode::<ServerMessage>(frame(bad).as_bytes(), &Limits::SERVER_FRAMES)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Malformed, "{bad}: {err}");
    }
}
