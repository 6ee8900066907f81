//! Every wire type survives encode → decode through both codecs, under the
//! limits the receiving side really uses; a mode's payload survives too and
//! decodes back to the typed value it was built from; and the JSON and
//! postcard shapes are exactly the documented ones.

mod common;

use common::*;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeSet;
use std::fmt::Debug;
use tickroom_protocol::board;
use tickroom_protocol::walk::{Variant, check_value};
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
        // What was decoded encodes again to the same frame.
        prop_assert_eq!(codec.encode(&back).unwrap(), frame, "{:?}", codec);
    }
    Ok(())
}

/// A mode's value (no framework type, so no `CheckLimits`): through each
/// codec on its own, and as a payload, which must decode back to it.
fn roundtrip_mode_value<T>(value: &T, limits: &Limits) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Clone + Debug + Send + Sync + 'static,
{
    for codec in Codec::ALL {
        let frame = codec.encode(value).unwrap();
        let back: T = codec.decode_unchecked(&frame, limits).unwrap();
        prop_assert_eq!(&back, value, "{:?}", codec);
        prop_assert_eq!(check_value(&back, limits), Ok(()));

        let typed = Payload::of(value.clone());
        let frame = codec.encode(&typed).unwrap();
        let received: Payload = codec.decode_unchecked(&frame, limits).unwrap();
        prop_assert!(!received.is_typed());
        prop_assert_eq!(&received, &typed, "{:?}", codec);
        prop_assert_eq!(
            received.decode::<T>().unwrap(),
            value.clone(),
            "{:?}",
            codec
        );
        prop_assert_eq!(typed.decode::<T>().unwrap(), value.clone());
        prop_assert_eq!(typed.downcast_ref::<T>(), Some(value));
    }
    Ok(())
}

fn payload_of_intent(m: &ClientMessage) -> &Payload {
    match m {
        ClientMessage::Intent { intent, .. } => intent,
        other => panic!("not an intent: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn client_messages_roundtrip(msg in client_message()) {
        roundtrip(&msg, &Limits::CLIENT_FRAMES)?;
        for codec in Codec::ALL {
            let back: ClientMessage = codec
                .decode(&codec.encode(&msg).unwrap(), &Limits::CLIENT_FRAMES)
                .unwrap();
            prop_assert_eq!(typed_client(back).unwrap(), msg.clone());
        }
    }

    /// A board intent goes out typed and comes back as a payload that
    /// equals it, that the board table knows, and that decodes to it.
    #[test]
    fn board_intents_roundtrip(seq in any::<u64>(), intent in board_intent()) {
        roundtrip_mode_value(&intent, &Limits::CLIENT_FRAMES)?;
        let msg = ClientMessage::intent(seq, intent.clone());
        roundtrip(&msg, &Limits::CLIENT_FRAMES)?;
        for codec in Codec::ALL {
            let back: ClientMessage = codec
                .decode(&codec.encode(&msg).unwrap(), &Limits::CLIENT_FRAMES)
                .unwrap();
            prop_assert_eq!(back.seq(), Some(seq));
            let payload = payload_of_intent(&back);
            prop_assert_eq!(payload, &Payload::of(intent.clone()));
            prop_assert_eq!(payload.decode::<board::Intent>().unwrap(), intent.clone());
            prop_assert_eq!(
                board_intent_of(payload, &Limits::CLIENT_FRAMES).unwrap(),
                intent.clone()
            );
        }
    }

    #[test]
    fn room_configs_roundtrip(config in room_config()) {
        roundtrip(&config, &Limits::CLIENT_FRAMES)?;
    }

    #[test]
    fn board_configs_roundtrip(game in board_config()) {
        roundtrip_mode_value(&game, &Limits::CLIENT_FRAMES)?;
        let config = RoomConfig { game: Payload::of(game.clone()), ..board_room_config() };
        roundtrip(&config, &Limits::CLIENT_FRAMES)?;
        for codec in Codec::ALL {
            let back: RoomConfig = codec
                .decode(&codec.encode(&config).unwrap(), &Limits::CLIENT_FRAMES)
                .unwrap();
            prop_assert_eq!(back.game.decode::<board::Config>().unwrap(), game.clone());
        }
    }

    #[test]
    fn server_messages_roundtrip(msg in server_message()) {
        roundtrip(&msg, &Limits::SERVER_FRAMES)?;
        for codec in Codec::ALL {
            let back: ServerMessage = codec
                .decode(&codec.encode(&msg).unwrap(), &Limits::SERVER_FRAMES)
                .unwrap();
            prop_assert_eq!(typed_server(back).unwrap(), msg.clone());
        }
    }

    #[test]
    fn events_roundtrip(event in event()) {
        roundtrip(&event, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn board_events_roundtrip(event in board_event()) {
        roundtrip_mode_value(&event, &Limits::SERVER_FRAMES)?;
        let wrapped = Event::game(event.clone());
        for codec in Codec::ALL {
            let back: Event = codec
                .decode(&codec.encode(&wrapped).unwrap(), &Limits::SERVER_FRAMES)
                .unwrap();
            prop_assert!(matches!(back, Event::Game(_)), "{:?}: {:?}", codec, back);
            prop_assert_eq!(back.decode_game::<board::Event>(), Some(event.clone()));
        }
    }

    #[test]
    fn room_states_roundtrip(state in room_state()) {
        roundtrip(&state, &Limits::SERVER_FRAMES)?;
    }

    #[test]
    fn board_states_roundtrip(game in board_state()) {
        roundtrip_mode_value(&game, &Limits::SERVER_FRAMES)?;
        let state = RoomState { game: Payload::of(game.clone()), ..sample_state() };
        for codec in Codec::ALL {
            let back: RoomState = codec
                .decode(&codec.encode(&state).unwrap(), &Limits::SERVER_FRAMES)
                .unwrap();
            prop_assert_eq!(back.game.decode::<board::State>().unwrap(), game.clone());
            prop_assert_eq!(&back, &state);
        }
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
    let seen: Vec<usize> = clients.iter().map(client_index).collect();
    assert_eq!(seen, (0..CLIENT_VARIANTS).collect::<Vec<_>>());
    for m in &clients {
        roundtrip(m, &Limits::CLIENT_FRAMES).unwrap();
    }
    let intents = board_intent_samples();
    let seen: Vec<usize> = intents.iter().map(board_intent_index).collect();
    assert_eq!(seen, (0..BOARD_INTENT_VARIANTS).collect::<Vec<_>>());
    for (seq, intent) in intents.into_iter().enumerate() {
        roundtrip_mode_value(&intent, &Limits::CLIENT_FRAMES).unwrap();
        let m = ClientMessage::intent(seq as u64, intent.clone());
        roundtrip(&m, &Limits::CLIENT_FRAMES).unwrap();
        for codec in Codec::ALL {
            let back: ClientMessage = codec
                .decode(&codec.encode(&m).unwrap(), &Limits::CLIENT_FRAMES)
                .unwrap();
            assert_eq!(
                board_intent_of(payload_of_intent(&back), &Limits::CLIENT_FRAMES),
                Ok(intent.clone())
            );
        }
    }
    let servers = server_samples();
    let seen: Vec<usize> = servers.iter().map(server_index).collect();
    assert_eq!(seen, (0..SERVER_VARIANTS).collect::<Vec<_>>());
    for m in &servers {
        roundtrip(m, &Limits::SERVER_FRAMES).unwrap();
    }
    let events = event_samples();
    let seen: Vec<usize> = events.iter().map(event_index).collect();
    assert_eq!(seen, (0..EVENT_VARIANTS).collect::<Vec<_>>());
    let board_events = board_event_samples();
    let seen: Vec<usize> = board_events.iter().map(board_event_index).collect();
    assert_eq!(seen, (0..BOARD_EVENT_VARIANTS).collect::<Vec<_>>());
    for e in &board_events {
        roundtrip_mode_value(e, &Limits::SERVER_FRAMES).unwrap();
    }
    // Framework and board events interleaved in one delta, as a room sends them.
    let all: Vec<Event> = events
        .into_iter()
        .map(Event::Room)
        .chain(board_events.iter().cloned().map(Event::game))
        .collect();
    let kinds: BTreeSet<usize> = all.iter().map(event_kind_index).collect();
    assert_eq!(kinds, (0..EVENT_KINDS).collect());
    let delta = Delta {
        events: all
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
    let m = ServerMessage::Delta(delta);
    roundtrip(&m, &Limits::SERVER_FRAMES).unwrap();
    for codec in Codec::ALL {
        let back: ServerMessage = codec
            .decode(&codec.encode(&m).unwrap(), &Limits::SERVER_FRAMES)
            .unwrap();
        let ServerMessage::Delta(d) = back else {
            panic!("{codec:?}")
        };
        let decoded: Vec<board::Event> = d
            .events
            .iter()
            .filter_map(|r| r.event.decode_game::<board::Event>())
            .collect();
        assert_eq!(decoded, board_events, "{codec:?}");
    }
    let mode_codes = [
        ErrorCode::Mode(ModeCode(FIRST_MODE_CODE)),
        ErrorCode::Mode(ModeCode(u16::MAX)),
    ];
    for &code in ErrorCode::ALL.iter().chain(&mode_codes) {
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
    for i in board_intent_samples() {
        assert_eq!(
            postcard::to_stdvec(&i).unwrap()[0] as usize,
            board_intent_index(&i)
        );
    }
    for e in board_event_samples() {
        assert_eq!(
            postcard::to_stdvec(&e).unwrap()[0] as usize,
            board_event_index(&e)
        );
        // Inside an `Event`: tag 1, the payload's length, then the board event.
        let bytes = postcard::to_stdvec(&Event::game(e.clone())).unwrap();
        let inner = postcard::to_stdvec(&e).unwrap();
        assert_eq!(bytes[0] as usize, event_kind_index(&Event::game(e.clone())));
        assert_eq!(
            bytes,
            [&[1][..], &varint(inner.len() as u64), &inner].concat()
        );
    }
    for e in event_samples() {
        assert_eq!(
            postcard::to_stdvec(&e).unwrap()[0] as usize,
            event_index(&e)
        );
        // Inside an `Event`: tag 0, then the framework event itself.
        let bytes = postcard::to_stdvec(&Event::Room(e.clone())).unwrap();
        assert_eq!(bytes[0], 0);
        assert_eq!(bytes[1..], postcard::to_stdvec(&e).unwrap());
    }
}

/// The payload rule: in JSON the mode's own value, inlined; in postcard a
/// byte string (varint length, then the postcard encoding of the value).
#[test]
fn a_payload_is_the_mode_value_inlined_in_json_and_a_byte_string_in_postcard() {
    for (seq, i) in board_intent_samples().into_iter().enumerate() {
        let p = Payload::of(i.clone());
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&i).unwrap()
        );
        let inner = postcard::to_stdvec(&i).unwrap();
        assert_eq!(
            postcard::to_stdvec(&p).unwrap(),
            [varint(inner.len() as u64), inner.clone()].concat()
        );
        assert_eq!(p.to_postcard().unwrap(), inner);
        // And inside the `intent` message.
        let m = ClientMessage::intent(seq as u64, i.clone());
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"intent": {"seq": seq, "intent": serde_json::to_value(&i).unwrap()}})
        );
        assert_eq!(
            Codec::Postcard.encode(&m).unwrap(),
            [
                vec![6],
                varint(seq as u64),
                varint(inner.len() as u64),
                inner
            ]
            .concat()
        );
    }
    // An empty payload: `{}` in JSON, zero bytes in postcard.
    assert_eq!(serde_json::to_string(&Payload::empty()).unwrap(), "{}");
    assert_eq!(postcard::to_stdvec(&Payload::empty()).unwrap(), [0]);
    assert!(Payload::empty().is_empty());
    assert!(!Payload::of(board::Intent::StartMatch {}).is_empty());
    // A typed value and the same value received in either codec are equal;
    // a different value is not.
    let a = Payload::of(board_intent_samples()[0].clone());
    let b = Payload::of(board_intent_samples()[1].clone());
    assert_ne!(a, b);
    let json = Payload::from_json(&serde_json::to_string(&a).unwrap()).unwrap();
    let bytes = Payload::from_postcard(a.to_postcard().unwrap());
    assert_eq!(json, a);
    assert_eq!(bytes, a);
    assert_ne!(json, b);
    assert_ne!(bytes, b);
}

/// Which intent a payload is, read without decoding it: by name from
/// JSON, by index from postcard, both from a typed value; `board::INTENTS`
/// lists the intents in variant order, so all three find the same row.
#[test]
fn a_payload_names_its_variant_and_the_intent_table_finds_it() {
    let table = IntentTable(board::INTENTS);
    assert_eq!(board::INTENTS.len(), BOARD_INTENT_VARIANTS);
    for (index, i) in board_intent_samples().into_iter().enumerate() {
        let tag = json_tag(&i);
        assert_eq!(board::INTENTS[index].name, tag);
        assert_eq!(i.kind(), tag);
        let typed = Payload::of(i.clone());
        let json = Payload::from_json(&serde_json::to_string(&i).unwrap()).unwrap();
        let bytes = Payload::from_postcard(postcard::to_stdvec(&i).unwrap());
        assert_eq!(
            typed.variant(),
            Some(Variant::Both {
                index: index as u32,
                name: board::INTENTS[index].name
            })
        );
        assert_eq!(json.variant(), Some(Variant::Name(tag.clone())));
        assert_eq!(bytes.variant(), Some(Variant::Index(index as u32)));
        for p in [&typed, &json, &bytes] {
            let v = p.variant().unwrap();
            assert!(v.is(index as u32, &tag), "{v:?}");
            assert_eq!(table.find(&v), Some(&board::INTENTS[index]), "{v:?}");
            assert_eq!(board_intent_of(p, &Limits::CLIENT_FRAMES), Ok(i.clone()));
        }
    }
    // Past the table: no row.
    assert_eq!(
        table.find(&Variant::Index(BOARD_INTENT_VARIANTS as u32)),
        None
    );
    assert_eq!(table.find(&Variant::Name("teleport".into())), None);
    // Events are enums too.
    for (index, e) in board_event_samples().into_iter().enumerate() {
        let v = Payload::of(e.clone()).variant().unwrap();
        assert!(v.is(index as u32, &json_tag(&e)), "{v:?}");
    }
    // A config is no enum.
    assert_eq!(Payload::of(board::Config::default()).variant(), None);
    assert_eq!(Payload::empty().variant(), None);
}

#[test]
fn postcard_bytes_are_exactly_as_documented() {
    let m = ClientMessage::intent(
        4,
        board::Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    );
    // variant 6, seq 4, payload of 5 bytes: variant 0, piece 3,
    // x = zigzag(120) = 240 = f0 01, y = zigzag(40) = 80 = 50
    assert_eq!(
        Codec::Postcard.encode(&m).unwrap(),
        [0x06, 0x04, 0x05, 0x00, 0x03, 0xf0, 0x01, 0x50]
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
    // A mode's code is its own number, a varint like any other.
    let m = ServerMessage::Closing {
        code: ErrorCode::Mode(ModeCode(1000)),
        reason: String::new(),
    };
    assert_eq!(
        Codec::Postcard.encode(&m).unwrap(),
        [0x09, 0xe8, 0x07, 0x00]
    );
    // The delta shown in docs/protocol.md, byte for byte: each board event
    // is `01` (a mode's event), its length, then the board event; the last
    // byte is the empty `cursors`.
    let delta = ServerMessage::Delta(sample_delta());
    let documented = "03 09 74 61 63 74 69 63 73 2d 31 b1 09 39 3b 02 01 01 01 04 3a \
                      01 05 00 03 f0 01 50 \
                      01 02 01 09 3b 01 05 01 05 02 95 0a \
                      01 a3 82 bc ef bc 15 \
                      00";
    let bytes: Vec<u8> = documented
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(Codec::Postcard.encode(&delta).unwrap(), bytes);
    // A framework event is `00` and the event: phase_changed (6) to live (1)
    // until 13 200.
    let event = Event::Room(DomainEvent::PhaseChanged {
        phase: Phase::Live,
        until: Some(13_200),
    });
    assert_eq!(
        Codec::Postcard.encode(&event).unwrap(),
        [0x00, 0x06, 0x01, 0x01, 0x90, 0x67]
    );
    // The state hash is a plain u64 varint in postcard.
    let bytes = Codec::Postcard.encode(&StateHash(300)).unwrap();
    assert_eq!(bytes, [0xac, 0x02]);
}

#[test]
fn json_shape_of_intent_move_piece() {
    let m = ClientMessage::intent(
        4,
        board::Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    );
    let want = json!({"intent": {"seq": 4, "intent": {"move_piece": {"piece": 3, "to": {"x": 120, "y": 40}}}}});
    assert_eq!(serde_json::to_value(&m).unwrap(), want);
    assert_eq!(
        Codec::Json.encode(&m).unwrap(),
        br#"{"intent":{"seq":4,"intent":{"move_piece":{"piece":3,"to":{"x":120,"y":40}}}}}"#
    );
}

#[test]
fn json_shape_of_empty_intents_is_an_empty_object() {
    let m = ClientMessage::intent(7, board::Intent::StartMatch {});
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({"intent": {"seq": 7, "intent": {"start_match": {}}}})
    );
    assert_eq!(
        serde_json::to_value(board::Intent::StartMatch {}).unwrap(),
        json!({"start_match": {}})
    );
    assert_eq!(
        serde_json::to_value(board::Intent::ArchiveRoom {}).unwrap(),
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
    assert_eq!(
        payload_of_intent(&back).decode::<board::Intent>().unwrap(),
        board::Intent::StartMatch {}
    );
    // In postcard an empty intent is its variant index alone: one byte.
    assert_eq!(
        Codec::Postcard.encode(&m).unwrap(),
        [0x06, 0x07, 0x01, 0x08]
    );
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
            event: Event::Room(DomainEvent::PhaseChanged {
                phase: Phase::Expired,
                until: None,
            }),
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

/// In JSON a framework event and a mode's event look alike: the event's
/// own externally tagged object. Decoding tells them apart by the tag.
#[test]
fn json_events_are_framework_events_by_tag_and_mode_events_otherwise() {
    let names: Vec<String> = event_samples().iter().map(json_tag).collect();
    assert_eq!(names, DomainEvent::NAMES);
    for e in event_samples() {
        let json = serde_json::to_string(&Event::Room(e.clone())).unwrap();
        assert_eq!(json, serde_json::to_string(&e).unwrap());
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Event::Room(e));
    }
    for e in board_event_samples() {
        assert!(
            !DomainEvent::NAMES.contains(&json_tag(&e).as_str()),
            "{e:?}"
        );
        let json = serde_json::to_string(&Event::game(e.clone())).unwrap();
        assert_eq!(json, serde_json::to_string(&e).unwrap());
        let back: Event = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, Event::Game(_)), "{back:?}");
        assert_eq!(back.decode_game::<board::Event>(), Some(e));
    }
    // A board intent's name is no framework event's either (the registry
    // refuses a mode whose intent is).
    for spec in board::INTENTS {
        assert!(!DomainEvent::NAMES.contains(&spec.name), "{}", spec.name);
    }
    // A framework event's tag with the wrong fields is no mode event.
    assert!(serde_json::from_str::<Event>(r#"{"member_left":{"member":2}}"#).is_err());
}

#[test]
fn json_shape_of_ids_hello_welcome_and_create_room() {
    assert_eq!(
        serde_json::to_value(ClientMessage::Hello {
            version: 2,
            token: None,
            resume: Some("r-1".into()),
        })
        .unwrap(),
        json!({"hello": {"version": 2, "token": null, "resume": "r-1"}})
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
    assert_eq!(
        serde_json::to_value(&server_samples()[0]).unwrap(),
        json!({"welcome": {"session": "s-5f2c", "resume_token": "r-8d0e41",
               "versions": {"min": 2, "max": 2}, "last_applied_seq": null,
               "modes": [{"name": "board", "version": 1}]}})
    );
    // The default config names no mode ("the server's default") and
    // carries no mode settings ("the mode's defaults").
    let v = serde_json::to_value(ClientMessage::CreateRoom {
        seq: 1,
        room: None,
        config: RoomConfig::default(),
        private: true,
    })
    .unwrap();
    assert_eq!(v["create_room"]["config"]["mode"], json!(""));
    assert_eq!(v["create_room"]["config"]["tick_rate_hz"], json!(20));
    assert_eq!(
        v["create_room"]["config"].as_object().unwrap().len(),
        config::FRAMEWORK_KEYS.len()
    );
    assert_eq!(v["create_room"]["room"], json!(null));
    // A board config: the board's settings sit beside the framework's.
    let v = serde_json::to_value(board_room_config()).unwrap();
    assert_eq!(v["mode"], json!("board"));
    assert_eq!(v["tick_rate_hz"], json!(20));
    assert_eq!(v["pieces_per_team"], json!(8));
    assert_eq!(v["max_dice_sides"], json!(1000));
}

/// `config::FRAMEWORK_KEYS` decides which JSON keys of a config are the
/// framework's: it must be exactly the framework's fields, and the board's
/// keys must be none of them (a clash would be silently dropped). The same
/// holds for a joiner's state.
#[test]
fn merged_json_objects_keep_framework_and_mode_keys_apart() {
    let keys = |v: serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let framework = keys(serde_json::to_value(RoomConfig::default()).unwrap());
    let listed: BTreeSet<String> = config::FRAMEWORK_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(framework, listed);
    let board_keys = keys(serde_json::to_value(board::Config::default()).unwrap());
    assert!(framework.is_disjoint(&board_keys));
    let merged = keys(serde_json::to_value(board_room_config()).unwrap());
    assert_eq!(
        merged,
        framework
            .union(&board_keys)
            .cloned()
            .collect::<BTreeSet<_>>()
    );
    // In postcard: the framework's fields, then the board's as a byte string.
    let inner = postcard::to_stdvec(&board::Config::default()).unwrap();
    let bytes = postcard::to_stdvec(&board_room_config()).unwrap();
    let tail = [varint(inner.len() as u64), inner].concat();
    assert!(bytes.ends_with(&tail), "{bytes:02x?}");
    assert_eq!(
        postcard::to_stdvec(&RoomConfig::default()).unwrap().last(),
        Some(&0)
    );

    let state = sample_state();
    let merged = keys(serde_json::to_value(&state).unwrap());
    let board_keys = keys(serde_json::to_value(sample_board_state()).unwrap());
    let framework = keys(
        serde_json::to_value(RoomState {
            game: Payload::empty(),
            ..state.clone()
        })
        .unwrap(),
    );
    assert!(framework.is_disjoint(&board_keys));
    assert_eq!(
        merged,
        framework
            .union(&board_keys)
            .cloned()
            .collect::<BTreeSet<_>>()
    );
    let inner = postcard::to_stdvec(&sample_board_state()).unwrap();
    let bytes = postcard::to_stdvec(&state).unwrap();
    assert!(bytes.ends_with(&[varint(inner.len() as u64), inner].concat()));
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
    // A board key goes to the mode; the board's missing keys take its defaults.
    let m: ClientMessage = Codec::Json
        .decode(
            br#"{"create_room":{"seq":1,"config":{"mode":"board","teams":4,"pieces_per_team":3},"private":false}}"#,
            &Limits::CLIENT_FRAMES,
        )
        .unwrap();
    let ClientMessage::CreateRoom { config, .. } = m else {
        panic!("{m:?}")
    };
    assert_eq!(config.mode, "board");
    assert_eq!(config.teams, 4);
    assert_eq!(
        config.game.decode::<board::Config>().unwrap(),
        board::Config {
            pieces_per_team: 3,
            ..board::Config::default()
        }
    );
    // No mode settings at all: the board's defaults.
    assert_eq!(
        RoomConfig::default()
            .game
            .decode::<board::Config>()
            .unwrap(),
        board::Config::default()
    );
    let m: ClientMessage = Codec::Json
        .decode(br#"{"hello":{"version":2}}"#, &Limits::CLIENT_FRAMES)
        .unwrap();
    assert_eq!(
        m,
        ClientMessage::Hello {
            version: 2,
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
