//! Hostile input: every bad frame gets the right `DecodeError` (and so the
//! right `ErrorCode`), quickly, without a panic and without a large
//! allocation.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tickroom_protocol::*;

// ---------------------------------------------- largest allocation, per thread

struct TrackLargest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards every call to `System` unchanged; only records sizes.
unsafe impl GlobalAlloc for TrackLargest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: TrackLargest = TrackLargest;

/// Runs `f`, returning its result, the largest single allocation it made on
/// this thread, and how long it took.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, Duration) {
    LARGEST.with(|l| l.set(0));
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    (r, LARGEST.with(Cell::get), took)
}

// ------------------------------------------------------------------- helpers

const C: &Limits = &Limits::CLIENT_FRAMES;
const S: &Limits = &Limits::SERVER_FRAMES;

fn client(codec: Codec, frame: &[u8]) -> Result<ClientMessage, DecodeError> {
    codec.decode(frame, C)
}

fn server(codec: Codec, frame: &[u8]) -> Result<ServerMessage, DecodeError> {
    codec.decode(frame, S)
}

#[track_caller]
fn assert_malformed<T: std::fmt::Debug>(r: Result<T, DecodeError>) {
    match r {
        Err(e @ DecodeError::Malformed { .. }) => assert_eq!(e.code(), ErrorCode::Malformed),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn chat(seq: u64, text: String) -> ClientMessage {
    ClientMessage::Intent {
        seq,
        intent: Intent::Chat { text },
    }
}

// ----------------------------------------------------------------- truncation

#[test]
fn every_prefix_of_a_postcard_frame_is_malformed() {
    let mut checked = 0;
    for m in client_samples() {
        let frame = Codec::Postcard.encode(&m).unwrap();
        assert_eq!(client(Codec::Postcard, &frame).unwrap(), m);
        for n in 0..frame.len() {
            assert_malformed(client(Codec::Postcard, &frame[..n]));
            checked += 1;
        }
    }
    for m in server_samples() {
        let frame = Codec::Postcard.encode(&m).unwrap();
        assert_eq!(server(Codec::Postcard, &frame).unwrap(), m);
        for n in 0..frame.len() {
            assert_malformed(server(Codec::Postcard, &frame[..n]));
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn every_prefix_of_a_json_frame_is_malformed() {
    for m in client_samples() {
        let frame = Codec::Json.encode(&m).unwrap();
        for n in 0..frame.len() {
            assert_malformed(client(Codec::Json, &frame[..n]));
        }
    }
    for m in server_samples() {
        let frame = Codec::Json.encode(&m).unwrap();
        for n in 0..frame.len() {
            assert_malformed(server(Codec::Json, &frame[..n]));
        }
    }
}

// ----------------------------------------------------------------- frame size

#[test]
fn oversized_frames_are_refused_before_parsing() {
    for codec in Codec::ALL {
        // Garbage that would be Malformed if it were parsed at all.
        let frame = vec![0xff; C.max_frame_bytes + 1];
        let (r, largest, took) = measured(|| client(codec, &frame));
        let err = r.unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooLarge {
                len: C.max_frame_bytes + 1,
                max: C.max_frame_bytes
            }
        );
        assert_eq!(err.code(), ErrorCode::MessageTooLarge);
        assert!(largest < 1024, "allocated {largest} bytes");
        assert!(took < Duration::from_millis(100), "{took:?}");

        let frame = vec![0xff; S.max_frame_bytes + 1];
        let err = server(codec, &frame).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MessageTooLarge);
    }
}

#[test]
fn a_frame_of_exactly_the_maximum_size_is_parsed() {
    // JSON allows trailing whitespace: pad a valid ping to exactly the limit.
    let mut frame = br#"{"ping":{"client_time":1}}"#.to_vec();
    frame.resize(C.max_frame_bytes, b' ');
    assert_eq!(
        client(Codec::Json, &frame).unwrap(),
        ClientMessage::Ping { client_time: 1 }
    );
    frame.push(b' ');
    assert_eq!(
        client(Codec::Json, &frame).unwrap_err().code(),
        ErrorCode::MessageTooLarge
    );
}

// ----------------------------------------------------------------- JSON depth

#[test]
fn deeply_nested_json_is_refused_fast() {
    for open in [b'[', b'{'] {
        let frame = vec![open; 100_000];
        let (r, largest, took) = measured(|| client(Codec::Json, &frame[..C.max_frame_bytes]));
        let err = r.unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooDeep {
                max: C.max_json_depth
            }
        );
        assert_eq!(err.code(), ErrorCode::NestingTooDeep);
        assert!(largest < 1024, "allocated {largest} bytes");
        assert!(took < Duration::from_millis(100), "{took:?}");

        // Within the server's 16 MiB frame limit, 100k levels are still refused early.
        let (r, _, took) = measured(|| server(Codec::Json, &frame));
        assert_eq!(
            r.unwrap_err(),
            DecodeError::TooDeep {
                max: S.max_json_depth
            }
        );
        assert!(took < Duration::from_millis(100), "{took:?}");
    }
    // Balanced, realistic nesting too: {"a":{"a":{...}}}
    let mut frame = String::new();
    for _ in 0..50_000 {
        frame.push_str(r#"{"a":"#);
    }
    assert_eq!(
        server(Codec::Json, frame.as_bytes()).unwrap_err().code(),
        ErrorCode::NestingTooDeep
    );
}

#[test]
fn depth_is_counted_in_an_otherwise_valid_message() {
    // Unknown fields are skipped, but their nesting still counts.
    let nest = |levels: usize| {
        let mut f = String::from(r#"{"ping":{"client_time":1,"x":"#);
        f.push_str(&"[".repeat(levels));
        f.push_str(&"]".repeat(levels));
        f.push_str("}}");
        f
    };
    // Two levels for the message itself.
    let fits = nest(C.max_json_depth - 2);
    assert_eq!(
        client(Codec::Json, fits.as_bytes()).unwrap(),
        ClientMessage::Ping { client_time: 1 }
    );
    let deep = nest(C.max_json_depth - 1);
    assert_eq!(
        client(Codec::Json, deep.as_bytes()).unwrap_err(),
        DecodeError::TooDeep {
            max: C.max_json_depth
        }
    );
}

#[test]
fn brackets_inside_json_strings_do_not_count() {
    let tricky = [
        "[".repeat(1_000),
        "{".repeat(1_000),
        format!("\\\"{}", "[".repeat(500)),
        format!("\\\\{}\\\\\"{}", "{".repeat(200), "[".repeat(200)),
        format!("\"{}\\", "[{".repeat(300)),
    ];
    for text in tricky {
        let m = chat(1, text);
        let frame = Codec::Json.encode(&m).unwrap();
        assert_eq!(client(Codec::Json, &frame).unwrap(), m);
    }
    // A hand-written frame whose string ends in an escaped backslash, followed
    // by real nesting: the checker must see the string end.
    let frame =
        br#"{"intent":{"seq":1,"intent":{"chat":{"text":"a\\"}}},"x":[[[[[[[[[[]]]]]]]]]]}"#;
    assert_eq!(
        client(Codec::Json, frame).unwrap_err().code(),
        ErrorCode::NestingTooDeep
    );
}

// ---------------------------------------------------------------- bad UTF-8

#[test]
fn invalid_utf8_is_malformed() {
    for bad in [
        &b"\xff"[..],
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
    ] {
        // JSON: inside a string, and outside any string.
        let mut frame = br#"{"intent":{"seq":1,"intent":{"chat":{"text":"ab"#.to_vec();
        frame.extend_from_slice(bad);
        frame.extend_from_slice(br#"cd"}}}}"#);
        assert_malformed(client(Codec::Json, &frame));
        let mut frame = br#"{"ping":{"client_time":1}}"#.to_vec();
        frame.extend_from_slice(bad);
        assert_malformed(client(Codec::Json, &frame));

        // postcard: a length-prefixed string whose bytes are not UTF-8.
        let mut frame = vec![0x06, 0x01, 0x07]; // intent, seq 1, chat
        let text: Vec<u8> = [b"ab", bad, b"cd"].concat();
        frame.extend(varint(text.len() as u64));
        frame.extend(&text);
        assert_malformed(client(Codec::Postcard, &frame));
    }
    // A JSON escape for a lone surrogate is not a string either.
    assert_malformed(client(
        Codec::Json,
        br#"{"intent":{"seq":1,"intent":{"chat":{"text":"\ud800"}}}}"#,
    ));
}

// ------------------------------------------------------------ unknown tags

#[test]
fn unknown_postcard_variant_index_is_malformed() {
    // ClientMessage has 8 variants, ServerMessage 10.
    for idx in [CLIENT_VARIANTS as u64, 127, 128, u32::MAX as u64] {
        let mut frame = varint(idx);
        frame.extend([0x01, 0x01, 0x01]);
        assert_malformed(client(Codec::Postcard, &frame));
    }
    for idx in [SERVER_VARIANTS as u64, 200] {
        let mut frame = varint(idx);
        frame.extend([0x01, 0x01, 0x01]);
        assert_malformed(server(Codec::Postcard, &frame));
    }
    // Nested: an intent index one past the last intent.
    assert_malformed(client(
        Codec::Postcard,
        &[0x06, 0x01, INTENT_VARIANTS as u8],
    ));
    // A domain event index one past the last event, inside a delta.
    let mut frame = vec![0x03, 0x01, b'r', 0x01, 0x00, 0x01, 0x01]; // delta, room "r", tick, versions, 1 event
    frame.extend([0x00, 0x00, 0x01, EVENT_VARIANTS as u8, 0x00]); // origin none/none, version, bad event
    assert_malformed(server(Codec::Postcard, &frame));
    // An error code index one past the catalog.
    let mut frame = vec![0x09]; // closing
    frame.extend(varint(ErrorCode::ALL.len() as u64));
    frame.extend([0x00]);
    assert_malformed(server(Codec::Postcard, &frame));
    // An Option tag other than 0/1 and a bool other than 0/1.
    assert_malformed(client(Codec::Postcard, &[0x00, 0x01, 0x02]));
    let mut frame = Codec::Postcard.encode(&client_samples()[2]).unwrap(); // create_room
    assert_eq!(frame.pop(), Some(0x00)); // `private: false` is the last byte
    frame.push(0x02);
    assert_malformed(client(Codec::Postcard, &frame));
}

#[test]
fn unknown_json_variant_name_is_malformed() {
    for frame in [
        &br#"{"teleport":{}}"#[..],
        br#"{"Ping":{"client_time":1}}"#,
        br#"{"intent":{"seq":1,"intent":{"teleport":{"piece":1}}}}"#,
        br#"{"intent":{"seq":1,"intent":{"MovePiece":{"piece":1,"to":{"x":0,"y":0}}}}}"#,
        br#"{"ping":{"client_time":1},"leave":{"seq":1}}"#,
        br#"{}"#,
        br#""ping""#,
        br#""start_match""#,
        br#"{"intent":{"seq":1,"intent":"start_match"}}"#,
    ] {
        assert_malformed(client(Codec::Json, frame));
    }
    assert_malformed(server(
        Codec::Json,
        br#"{"closing":{"code":"NOT_A_CODE","reason":""}}"#,
    ));
    assert_malformed(server(
        Codec::Json,
        br#"{"closing":{"code":"lock_held","reason":""}}"#,
    ));
}

#[test]
fn wrong_json_types_are_malformed() {
    for frame in [
        &br#"{"ping":{"client_time":-1}}"#[..],
        br#"{"ping":{"client_time":1.5}}"#,
        br#"{"ping":{"client_time":"1"}}"#,
        br#"{"ping":{"client_time":18446744073709551616}}"#,
        br#"{"ping":{"client_time":1,"client_time":2}}"#,
        br#"{"ping":{}}"#,
        br#"{"cursor":{"pos":{"x":2147483648,"y":0}}}"#,
        br#"{"change_team":{"seq":1,"team":256}}"#,
        br#"{"hello":{"version":65536}}"#,
    ] {
        assert_malformed(client(Codec::Json, frame));
    }
    // Details values are ints, strings or bools only.
    for details in [
        r#"{"a":1.5}"#,
        r#"{"a":null}"#,
        r#"{"a":[1]}"#,
        r#"{"a":{"b":1}}"#,
        r#"{"a":9223372036854775808}"#,
    ] {
        let frame =
            format!(r#"{{"error":{{"code":"INTERNAL","message":"","details":{details}}}}}"#);
        assert_malformed(server(Codec::Json, frame.as_bytes()));
    }
}

// ------------------------------------------------------------------- varints

#[test]
fn varint_overflow_is_malformed() {
    assert_malformed(client(Codec::Postcard, &[0xff; 11]));
    assert_malformed(server(Codec::Postcard, &[0xff; 11]));
    // A u64 (ping's client_time) whose 10th byte carries more than 1 bit.
    let mut frame = vec![0x01];
    frame.extend([0xff; 9]);
    frame.push(0x02);
    assert_malformed(client(Codec::Postcard, &frame));
    // ... and one that never ends.
    let mut frame = vec![0x01];
    frame.extend([0x80; 20]);
    assert_malformed(client(Codec::Postcard, &frame));
    // A u16 (hello's version) over 65535, and a u32 variant index over 2^32.
    assert_malformed(client(
        Codec::Postcard,
        &[0x00, 0xff, 0xff, 0x04, 0x00, 0x00],
    ));
    assert_malformed(client(Codec::Postcard, &[0x80, 0x80, 0x80, 0x80, 0x10]));
}

#[test]
fn huge_length_prefixes_fail_fast_without_allocating() {
    // The tracker sees large allocations on this thread.
    let (_, largest, _) = measured(|| std::hint::black_box(vec![0u8; 8 << 20]));
    assert!(largest >= 8 << 20);
    let claim = varint(1 << 60);
    let mut frames: Vec<(Vec<u8>, bool)> = Vec::new();
    // join_room whose room string claims 2^60 bytes.
    frames.push(([&[0x03, 0x01][..], &claim, b"abc"].concat(), false));
    // A chat text claiming 2^60 bytes.
    frames.push(([&[0x06, 0x01, 0x07][..], &claim, b"abc"].concat(), false));
    // A delta whose event list claims 2^60 elements.
    frames.push((
        [
            &[0x03, 0x01, b'r', 0x01, 0x00, 0x01][..],
            &claim,
            &[0x00; 8],
        ]
        .concat(),
        true,
    ));
    // A reject whose details map claims 2^60 entries.
    frames.push((
        [
            &[0x05, 0x01, 0x00, 0x00][..],
            &claim,
            &[0x01, b'a', 0x00, 0x00],
        ]
        .concat(),
        true,
    ));
    // A cursors frame claiming 2^60 cursors.
    frames.push(([&[0x06, 0x01, b'r'][..], &claim, &[0x00; 4]].concat(), true));
    // A usize length that overflows.
    frames.push(([&[0x03, 0x01][..], &[0xff; 12][..]].concat(), false));
    for (frame, is_server) in frames {
        let (r, largest, took) = measured(|| {
            if is_server {
                server(Codec::Postcard, &frame).map(drop)
            } else {
                client(Codec::Postcard, &frame).map(drop)
            }
        });
        assert_malformed(r);
        assert!(
            largest <= 2 << 20,
            "{frame:x?}: allocated {largest} bytes at once"
        );
        assert!(took < Duration::from_millis(200), "{frame:x?}: {took:?}");
    }
}

// ------------------------------------------------------------ trailing bytes

#[test]
fn trailing_bytes_are_malformed() {
    for m in client_samples() {
        let mut frame = Codec::Postcard.encode(&m).unwrap();
        frame.push(0x00);
        let err = client(Codec::Postcard, &frame).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Malformed {
                reason: "1 trailing bytes after the message".into()
            }
        );
        let mut frame = Codec::Json.encode(&m).unwrap();
        frame.extend(b" {}");
        assert_malformed(client(Codec::Json, &frame));
    }
    for m in server_samples() {
        let mut frame = Codec::Postcard.encode(&m).unwrap();
        frame.extend([0x01, 0x02, 0x03]);
        assert_malformed(server(Codec::Postcard, &frame));
    }
    // Two JSON messages in one frame.
    assert_malformed(client(
        Codec::Json,
        br#"{"ping":{"client_time":1}}{"ping":{"client_time":2}}"#,
    ));
}

// ------------------------------------------------------- strings and lists

#[test]
fn strings_longer_than_the_limit_are_field_too_long() {
    let max = C.max_string_bytes;
    for codec in Codec::ALL {
        // Exactly at the limit: fine. Counted in bytes, not chars.
        let at = chat(1, "€".repeat(max / 3) + &"a".repeat(max % 3));
        assert_eq!(client(codec, &codec.encode(&at).unwrap()).unwrap(), at);

        let over = chat(1, "€".repeat(max / 3) + &"a".repeat(max % 3 + 1));
        let err = client(codec, &codec.encode(&over).unwrap()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::FieldTooLong {
                field: "text",
                len: max + 1,
                max
            }
        );
        assert_eq!(err.code(), ErrorCode::FieldTooLong);

        for (m, field) in [
            (
                ClientMessage::JoinRoom {
                    seq: 1,
                    room: RoomId::from("r"),
                    name: "n".repeat(max + 5),
                    team: None,
                },
                "name",
            ),
            (
                ClientMessage::JoinRoom {
                    seq: 1,
                    room: RoomId::from("r".repeat(max + 5)),
                    name: "n".into(),
                    team: None,
                },
                "room",
            ),
            (
                ClientMessage::Hello {
                    version: 1,
                    token: Some("t".repeat(max + 5)),
                    resume: None,
                },
                "token",
            ),
            (
                ClientMessage::Intent {
                    seq: 1,
                    intent: Intent::SaveFormation {
                        name: "f".into(),
                        key: "k".repeat(max + 5),
                    },
                },
                "key",
            ),
        ] {
            let err = client(codec, &codec.encode(&m).unwrap()).unwrap_err();
            assert_eq!(
                err,
                DecodeError::FieldTooLong {
                    field,
                    len: max + 5,
                    max
                },
                "{codec:?}"
            );
        }

        // Server side: the chat history inside a joined snapshot.
        let mut state = sample_state();
        state.chat[0].text = "x".repeat(S.max_string_bytes + 1);
        let m = ServerMessage::Joined {
            seq: None,
            room: RoomId::from("r"),
            member: MemberId(1),
            config: RoomConfig::default(),
            epoch: 0,
            state,
        };
        assert_eq!(
            server(codec, &codec.encode(&m).unwrap()).unwrap_err(),
            DecodeError::FieldTooLong {
                field: "chat",
                len: S.max_string_bytes + 1,
                max: S.max_string_bytes
            }
        );
    }
}

#[test]
fn lists_longer_than_the_limit_are_field_too_long() {
    let small = Limits {
        max_list_len: 4,
        ..Limits::SERVER_FRAMES
    };
    let record = sample_delta().events[0].clone();
    for codec in Codec::ALL {
        let mut delta = sample_delta();
        delta.events = vec![record.clone(); 4];
        let m = ServerMessage::Delta(delta.clone());
        assert_eq!(
            codec
                .decode::<ServerMessage>(&codec.encode(&m).unwrap(), &small)
                .unwrap(),
            m
        );
        delta.events.push(record.clone());
        let err = codec
            .decode::<ServerMessage>(&codec.encode(&ServerMessage::Delta(delta)).unwrap(), &small)
            .unwrap_err();
        assert_eq!(
            err,
            DecodeError::FieldTooLong {
                field: "events",
                len: 5,
                max: 4
            }
        );
        assert_eq!(err.code(), ErrorCode::FieldTooLong);

        // The real server limit: a dice roll with one roll too many (it still
        // fits in a frame, at one byte per roll in postcard).
        let rolls = vec![0u32; S.max_list_len + 1];
        let m = ServerMessage::Delta(Delta {
            events: vec![EventRecord {
                origin: Origin::default(),
                version: 1,
                event: DomainEvent::DiceRolled {
                    member: MemberId(1),
                    notation: "1000001d1".into(),
                    rolls,
                    modifier: 0,
                    total: 0,
                },
            }],
            ..sample_delta()
        });
        assert_eq!(
            server(codec, &codec.encode(&m).unwrap()).unwrap_err(),
            DecodeError::FieldTooLong {
                field: "rolls",
                len: S.max_list_len + 1,
                max: S.max_list_len
            },
            "{codec:?}"
        );
    }
}

// ------------------------------------------------------------- error bodies

#[test]
fn decode_errors_become_error_bodies_with_details() {
    let body = DecodeError::TooLarge {
        len: 20_000,
        max: 16_384,
    }
    .to_error_body();
    assert_eq!(body.code, ErrorCode::MessageTooLarge);
    assert_eq!(body.details["len"], DetailValue::Int(20_000));
    assert_eq!(body.details["max"], DetailValue::Int(16_384));
    assert_eq!(body.details.len(), 2);
    assert!(body.message.contains("20000"), "{}", body.message);

    let body = DecodeError::TooDeep { max: 8 }.to_error_body();
    assert_eq!(body.code, ErrorCode::NestingTooDeep);
    assert_eq!(body.details["max"], DetailValue::Int(8));
    assert_eq!(body.details.len(), 1);

    let body = DecodeError::FieldTooLong {
        field: "text",
        len: 3_000,
        max: 2_048,
    }
    .to_error_body();
    assert_eq!(body.code, ErrorCode::FieldTooLong);
    assert_eq!(body.details["field"], DetailValue::Text("text".into()));
    assert_eq!(body.details["len"], DetailValue::Int(3_000));
    assert_eq!(body.details["max"], DetailValue::Int(2_048));
    assert_eq!(body.details.len(), 3);
    assert!(body.message.contains("`text`"), "{}", body.message);

    let body = DecodeError::Malformed {
        reason: "unexpected end".into(),
    }
    .to_error_body();
    assert_eq!(body.code, ErrorCode::Malformed);
    assert!(body.details.is_empty());
    assert!(body.message.contains("unexpected end"), "{}", body.message);

    // And the body fits into an `error` frame that a client can decode.
    let real = client(Codec::Json, &[b'['; 100]).unwrap_err();
    let body = real.to_error_body();
    let m = ServerMessage::Error {
        code: body.code,
        message: body.message,
        details: body.details,
    };
    for codec in Codec::ALL {
        assert_eq!(server(codec, &codec.encode(&m).unwrap()).unwrap(), m);
    }
}

// ------------------------------------------------------------ random bytes

fn decode_all(frame: &[u8]) {
    for codec in Codec::ALL {
        if let Ok(m) = client(codec, frame) {
            // Whatever decodes re-encodes and decodes to the same value.
            assert_eq!(client(codec, &codec.encode(&m).unwrap()).unwrap(), m);
        }
        if let Ok(m) = server(codec, frame) {
            assert_eq!(server(codec, &codec.encode(&m).unwrap()).unwrap(), m);
        }
    }
}

fn mutate(mut frame: Vec<u8>, edits: &[(u16, u8, u8)]) -> Vec<u8> {
    for &(at, op, byte) in edits {
        let i = if frame.is_empty() {
            0
        } else {
            at as usize % frame.len()
        };
        match op % 4 {
            0 if !frame.is_empty() => frame[i] = byte,
            1 => frame.insert(i.min(frame.len()), byte),
            2 if !frame.is_empty() => {
                frame.remove(i);
            }
            _ if !frame.is_empty() => frame[i] ^= 1 << (byte % 8),
            _ => frame.push(byte),
        }
    }
    frame
}

fn sample_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for codec in Codec::ALL {
        frames.extend(client_samples().iter().map(|m| codec.encode(m).unwrap()));
        frames.extend(server_samples().iter().map(|m| codec.encode(m).unwrap()));
    }
    frames
}

/// Case counts scale with `TICKROOM_FUZZ_SCALE` (default 1) for long runs:
/// `TICKROOM_FUZZ_SCALE=100 cargo test --release -p tickroom-protocol --test hostile`.
fn fuzz_cases(base: u32) -> u32 {
    let scale: u32 = std::env::var("TICKROOM_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    base.saturating_mul(scale.max(1))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(20_000)))]

    #[test]
    fn random_bytes_never_panic(frame in vec(any::<u8>(), 0..512)) {
        decode_all(&frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(10_000)))]

    /// Random edits of valid frames reach much deeper into the decoders than
    /// random bytes do.
    #[test]
    fn mutated_valid_frames_never_panic(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<u16>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let frames = sample_frames();
        let frame = mutate(which.get(&frames).clone(), &edits);
        decode_all(&frame);
    }

    #[test]
    fn random_json_built_from_tokens_never_panics(
        tokens in vec(prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", "\\", "\"ping\"", "\"intent\"", "\"seq\"",
            "\"chat\"", "\"text\"", "\"client_time\"", "1", "-1", "1e400", "null", "true",
            "\"\\u0000\"", "\"\\ud800\"", "{}", "[]", " ", "\"LOCK_HELD\"", "\"details\"",
        ]), 0..40),
    ) {
        decode_all(tokens.concat().as_bytes());
    }
}
