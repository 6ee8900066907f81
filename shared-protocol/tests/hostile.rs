//! Hostile input: every bad frame gets the right `DecodeError` (and so the
//! right `ErrorCode`), quickly, without a panic and without a large
//! allocation. A mode's payload is opaque to the frame decoder: what is
//! wrong inside it is found when the room's mode decodes it (here: the
//! board's types, the board's intent table and `walk::check_value`), and
//! gets a coded error there.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tickroom_protocol::board;
use tickroom_protocol::walk::check_value;
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

fn chat(seq: u64, text: String) -> ClientMessage {
    ClientMessage::intent(seq, board::Intent::Chat { text })
}

/// The intent payload of a frame that decoded as an `intent` message.
#[track_caller]
fn intent_payload(r: Result<ClientMessage, DecodeError>) -> Payload {
    match r {
        Ok(ClientMessage::Intent { intent, .. }) => intent,
        other => panic!("expected an intent message, got {other:?}"),
    }
}

/// What a board room answers a frame with: the frame's decode error, or
/// else the error (or the intent) the board's decode of its payload gives.
fn answer(codec: Codec, frame: &[u8]) -> Result<board::Intent, ErrorCode> {
    let payload = intent_payload(Ok(client(codec, frame).map_err(|e| e.code())?));
    board_intent_of(&payload, C).map_err(|e| e.code)
}

/// The events of a frame that decoded as a delta.
#[track_caller]
fn delta_events(r: Result<ServerMessage, DecodeError>) -> Vec<Event> {
    match r {
        Ok(ServerMessage::Delta(d)) => d.events.into_iter().map(|r| r.event).collect(),
        other => panic!("expected a delta, got {other:?}"),
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
    // Inside a payload: every prefix of a board value's bytes fails to
    // decode as that value.
    for i in board_intent_samples() {
        let bytes = postcard::to_stdvec(&i).unwrap();
        assert_eq!(
            Payload::from_postcard(bytes.clone()).decode::<board::Intent>(),
            Ok(i)
        );
        for n in 0..bytes.len() {
            assert_malformed(Payload::from_postcard(bytes[..n].to_vec()).decode::<board::Intent>());
        }
    }
    for e in board_event_samples() {
        let bytes = postcard::to_stdvec(&e).unwrap();
        for n in 0..bytes.len() {
            assert_malformed(Payload::from_postcard(bytes[..n].to_vec()).decode::<board::Event>());
        }
    }
    let bytes = postcard::to_stdvec(&sample_board_state()).unwrap();
    for n in 0..bytes.len() {
        assert_malformed(Payload::from_postcard(bytes[..n].to_vec()).decode::<board::State>());
    }
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
    // The nesting inside a mode's payload is the frame's nesting: four levels
    // for `{"intent":{…"intent":{"chat":{…}}}}`, the rest in an unknown field.
    let nest = |levels: usize| {
        format!(
            r#"{{"intent":{{"seq":1,"intent":{{"chat":{{"text":"hi","x":{}{}}}}}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let fits = nest(C.max_json_depth - 4);
    assert_eq!(
        answer(Codec::Json, fits.as_bytes()),
        Ok(board::Intent::Chat { text: "hi".into() })
    );
    assert_eq!(
        client(Codec::Json, nest(C.max_json_depth - 3).as_bytes()).unwrap_err(),
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
        let m = chat(1, text.clone());
        let frame = Codec::Json.encode(&m).unwrap();
        assert_eq!(client(Codec::Json, &frame).unwrap(), m);
        assert_eq!(
            answer(Codec::Json, &frame),
            Ok(board::Intent::Chat { text })
        );
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
        // JSON: inside a string of a payload, inside a framework string, and
        // outside any string. The whole frame must be UTF-8.
        let mut frame = br#"{"intent":{"seq":1,"intent":{"chat":{"text":"ab"#.to_vec();
        frame.extend_from_slice(bad);
        frame.extend_from_slice(br#"cd"}}}}"#);
        assert_malformed(client(Codec::Json, &frame));
        let mut frame = br#"{"join_room":{"seq":1,"room":"r","name":"ab"#.to_vec();
        frame.extend_from_slice(bad);
        frame.extend_from_slice(br#"cd","team":null}}"#);
        assert_malformed(client(Codec::Json, &frame));
        let mut frame = br#"{"ping":{"client_time":1}}"#.to_vec();
        frame.extend_from_slice(bad);
        assert_malformed(client(Codec::Json, &frame));

        let text: Vec<u8> = [b"ab", bad, b"cd"].concat();
        // postcard: a framework string whose bytes are not UTF-8.
        let mut frame = vec![0x03, 0x01, 0x01, b'r']; // join_room, seq 1, room "r"
        frame.extend(varint(text.len() as u64));
        frame.extend(&text);
        frame.push(0x00); // team: none
        assert_malformed(client(Codec::Postcard, &frame));
        // ... and a chat text inside a payload: the frame holds bytes, so it
        // decodes; the board's decode of the payload is MALFORMED.
        let mut inner = vec![0x07]; // chat
        inner.extend(varint(text.len() as u64));
        inner.extend(&text);
        let mut frame = vec![0x06, 0x01]; // intent, seq 1
        frame.extend(varint(inner.len() as u64));
        frame.extend(&inner);
        assert_malformed(intent_payload(client(Codec::Postcard, &frame)).decode::<board::Intent>());
        assert_eq!(answer(Codec::Postcard, &frame), Err(ErrorCode::Malformed));
    }
    // A JSON escape for a lone surrogate is not a string either: in a
    // framework field the frame is MALFORMED; in a payload (which the frame
    // decoder keeps as it came) the board's decode is.
    assert_malformed(client(
        Codec::Json,
        br#"{"join_room":{"seq":1,"room":"r","name":"\ud800","team":null}}"#,
    ));
    assert_eq!(
        answer(
            Codec::Json,
            br#"{"intent":{"seq":1,"intent":{"chat":{"text":"\ud800"}}}}"#
        ),
        Err(ErrorCode::Malformed)
    );
}

// ------------------------------------------------------------ unknown tags

#[test]
fn unknown_postcard_variant_index_is_malformed() {
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
    // An `Event` tag past framework (0) and mode (1), inside a delta.
    let delta = [0x03, 0x01, b'r', 0x01, 0x00, 0x01, 0x01]; // delta, room "r", tick, versions, 1 event
    let mut frame = delta.to_vec();
    frame.extend([0x00, 0x00, 0x01, EVENT_KINDS as u8, 0x00, 0x00]); // origin none/none, version, bad tag
    assert_malformed(server(Codec::Postcard, &frame));
    // A framework event index one past the last framework event.
    let mut frame = delta.to_vec();
    frame.extend([0x00, 0x00, 0x01, 0x00, EVENT_VARIANTS as u8, 0x00, 0x00]);
    assert_malformed(server(Codec::Postcard, &frame));
    // An error code number one past the catalog, and the last number below
    // the modes' range; a mode's number decodes even unregistered.
    for n in [ErrorCode::ALL.len() as u64, u64::from(FIRST_MODE_CODE) - 1] {
        let mut frame = vec![0x09]; // closing
        frame.extend(varint(n));
        frame.extend([0x00]);
        assert_malformed(server(Codec::Postcard, &frame));
    }
    let mut frame = vec![0x09];
    frame.extend(varint(u64::from(FIRST_MODE_CODE) + 7));
    frame.extend([0x00]);
    assert_eq!(
        server(Codec::Postcard, &frame).unwrap(),
        ServerMessage::Closing {
            code: ErrorCode::Mode(ModeCode(FIRST_MODE_CODE + 7)),
            reason: String::new()
        }
    );
    // An Option tag other than 0/1 and a bool other than 0/1.
    assert_malformed(client(Codec::Postcard, &[0x00, 0x01, 0x02]));
    let mut frame = Codec::Postcard.encode(&client_samples()[2]).unwrap(); // create_room
    assert_eq!(frame.pop(), Some(0x00)); // `private: false` is the last byte
    frame.push(0x02);
    assert_malformed(client(Codec::Postcard, &frame));
}

/// Past the framework, an unknown tag is the mode's business: the frame
/// decodes, and the board finds no such intent (`UNKNOWN_INTENT`) or no
/// such event.
#[test]
fn unknown_board_variant_index_is_an_unknown_intent_or_event() {
    for idx in [BOARD_INTENT_VARIANTS as u64, 127, 128, u32::MAX as u64] {
        let inner = [varint(idx), vec![0x01]].concat();
        let frame = [vec![0x06, 0x01], varint(inner.len() as u64), inner.clone()].concat();
        let payload = intent_payload(client(Codec::Postcard, &frame));
        assert_eq!(
            payload.variant(),
            Some(walk::Variant::Index(idx as u32)),
            "{idx}"
        );
        assert_malformed(payload.decode::<board::Intent>());
        assert_eq!(
            answer(Codec::Postcard, &frame),
            Err(ErrorCode::UnknownIntent)
        );
    }
    // A varint that is no u32 names no variant at all.
    let frame = [0x06, 0x01, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        intent_payload(client(Codec::Postcard, &frame)).variant(),
        None
    );
    assert_eq!(
        answer(Codec::Postcard, &frame),
        Err(ErrorCode::UnknownIntent)
    );
    // A mode event index one past the board's events, inside a delta.
    let mut frame = vec![0x03, 0x01, b'r', 0x01, 0x00, 0x01, 0x01];
    frame.extend([
        0x00,
        0x00,
        0x01,
        0x01,
        0x02,
        BOARD_EVENT_VARIANTS as u8,
        0x00,
        0x00,
        0x00,
    ]);
    let events = delta_events(server(Codec::Postcard, &frame));
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0], Event::Game(_)), "{events:?}");
    assert_eq!(events[0].decode_game::<board::Event>(), None);
    match &events[0] {
        Event::Game(p) => assert_malformed(p.decode::<board::Event>()),
        Event::Room(e) => panic!("{e:?}"),
    }
}

#[test]
fn unknown_json_variant_name_is_malformed() {
    for frame in [
        &br#"{"teleport":{}}"#[..],
        br#"{"Ping":{"client_time":1}}"#,
        br#"{"ping":{"client_time":1},"leave":{"seq":1}}"#,
        br#"{}"#,
        br#""ping""#,
        br#""start_match""#,
        br#"{"start_match":{}}"#,
    ] {
        assert_malformed(client(Codec::Json, frame));
    }
    // Error codes: a framework name in the wrong case, a name that cannot
    // be a code, a mode code's number form out of range.
    for code in [
        "lock_held",
        "Lock_Held",
        "",
        "NOT-A-CODE",
        "NOT A CODE",
        &"X".repeat(65),
        "MODE_ERROR_999",
        "MODE_ERROR_",
        "MODE_ERROR_x",
        "MODE_ERROR_65536",
    ] {
        let frame = format!(r#"{{"closing":{{"code":"{code}","reason":""}}}}"#);
        assert_malformed(server(Codec::Json, frame.as_bytes()));
    }
    // A well-formed name this process does not know is a mode's code: it
    // decodes, keeping its name (error_codes.rs).
    let m = server(
        Codec::Json,
        br#"{"closing":{"code":"HOSTILE_UNKNOWN_CODE","reason":""}}"#,
    )
    .unwrap();
    let ServerMessage::Closing { code, .. } = m else {
        panic!("{m:?}")
    };
    assert!(matches!(code, ErrorCode::Mode(_)), "{code:?}");
    assert_eq!(code.as_str(), "HOSTILE_UNKNOWN_CODE");
    assert_eq!(
        server(
            Codec::Json,
            br#"{"closing":{"code":"MODE_ERROR_1000","reason":""}}"#
        )
        .unwrap(),
        ServerMessage::Closing {
            code: ErrorCode::Mode(ModeCode(1000)),
            reason: String::new()
        }
    );
}

/// An intent the board does not have is `UNKNOWN_INTENT`; one it has, with
/// the wrong fields, is `MALFORMED`. Both frames decode: the framework does
/// not know the board's intents.
#[test]
fn unknown_or_wrong_json_intents_get_coded_errors_from_the_mode() {
    let frame = |intent: &str| format!(r#"{{"intent":{{"seq":1,"intent":{intent}}}}}"#);
    for intent in [
        r#"{"teleport":{"piece":1}}"#,
        r#"{"MovePiece":{"piece":1,"to":{"x":0,"y":0}}}"#,
        r#"{"member_joined":{}}"#,
        r#""start_match""#,
        r#"{"start_match":{},"archive_room":{}}"#,
        r#"{}"#,
        r#"[]"#,
        r#"7"#,
        r#"null"#,
    ] {
        assert_eq!(
            answer(Codec::Json, frame(intent).as_bytes()),
            Err(ErrorCode::UnknownIntent),
            "{intent}"
        );
    }
    for intent in [
        r#"{"move_piece":{"piece":1}}"#,
        r#"{"move_piece":{"piece":-1,"to":{"x":0,"y":0}}}"#,
        r#"{"move_piece":{"piece":1,"to":{"x":2147483648,"y":0}}}"#,
        r#"{"chat":{"text":5}}"#,
        r#"{"chat":{"text":"a","text":"b"}}"#,
        r#"{"chat":null}"#,
        r#"{"start_match":null}"#,
    ] {
        assert_eq!(
            answer(Codec::Json, frame(intent).as_bytes()),
            Err(ErrorCode::Malformed),
            "{intent}"
        );
    }
    // The payload must still be JSON.
    assert_malformed(client(Codec::Json, frame("{chat}").as_bytes()));
    assert_malformed(client(Codec::Json, br#"{"intent":{"seq":1}}"#));
}

/// In a delta, a framework event's tag with the wrong fields makes the
/// frame MALFORMED; any other tag is a mode's event, which the client's
/// decode of the board's events then refuses.
#[test]
fn json_events_with_framework_tags_are_checked_and_others_left_to_the_mode() {
    let frame = |event: &str| {
        format!(
            r#"{{"delta":{{"room":"r","tick":1,"from_version":0,"to_version":1,"events":[{{"origin":{{"member":null,"seq":null}},"version":1,"event":{event}}}],"state_hash":null}}}}"#
        )
    };
    for event in [
        r#"{"member_left":{"member":2}}"#,
        r#"{"phase_changed":{"phase":"over","until":null}}"#,
        r#"{"host_changed":5}"#,
    ] {
        assert_malformed(server(Codec::Json, frame(event).as_bytes()));
    }
    for event in [
        r#"{"teleported":{"piece":1}}"#,
        r#"{"piece_moved":{"piece":1}}"#,
        r#"{"chat_posted":{"member":1,"text":"a","text":"b"}}"#,
        r#"{}"#,
        r#"5"#,
    ] {
        let events = delta_events(server(Codec::Json, frame(event).as_bytes()));
        assert!(matches!(events[0], Event::Game(_)), "{event}");
        assert_eq!(events[0].decode_game::<board::Event>(), None, "{event}");
    }
    let events = delta_events(server(
        Codec::Json,
        frame(r#"{"piece_moved":{"piece":1,"to":{"x":5,"y":6}}}"#).as_bytes(),
    ));
    assert_eq!(
        events[0].decode_game::<board::Event>(),
        Some(board::Event::PieceMoved {
            piece: PieceId(1),
            to: Pos::new(5, 6)
        })
    );
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
        br#"{"create_room":{"seq":1,"config":{"teams":256},"private":false}}"#,
        br#"{"create_room":{"seq":1,"config":{"mode":5},"private":false}}"#,
        br#"{"create_room":{"seq":1,"config":[],"private":false}}"#,
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
    // A board setting of the wrong type is found when the board decodes it.
    let m = client(
        Codec::Json,
        br#"{"create_room":{"seq":1,"config":{"pieces_per_team":-1},"private":false}}"#,
    )
    .unwrap();
    let ClientMessage::CreateRoom { config, .. } = m else {
        panic!("{m:?}")
    };
    assert_malformed(config.game.decode::<board::Config>());
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
    // A payload length that overflows.
    let mut frame = vec![0x06, 0x01];
    frame.extend([0xff; 11]);
    assert_malformed(client(Codec::Postcard, &frame));
    // Inside a payload: a piece id (u32) over 2^32.
    let inner = [0x01, 0x80, 0x80, 0x80, 0x80, 0x10]; // take_lock
    assert_malformed(Payload::from_postcard(inner.to_vec()).decode::<board::Intent>());
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
    // An intent payload claiming 2^60 bytes.
    frames.push(([&[0x06, 0x01][..], &claim, b"abc"].concat(), false));
    // A create_room whose config payload claims 2^60 bytes.
    let mut create = Codec::Postcard
        .encode(&ClientMessage::CreateRoom {
            seq: 1,
            room: None,
            config: RoomConfig::default(),
            private: false,
        })
        .unwrap();
    assert_eq!(create.pop(), Some(0x00)); // private
    assert_eq!(create.pop(), Some(0x00)); // the empty payload's length
    frames.push(([&create[..], &claim, b"abc"].concat(), false));
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
    // A delta whose one mode event claims 2^60 bytes.
    frames.push((
        [
            &[
                0x03, 0x01, b'r', 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x01,
            ][..],
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
    // A welcome claiming 2^60 modes.
    frames.push((
        [
            &[0x00, 0x00, 0x00, 0x02, 0x02, 0x00][..],
            &claim,
            &[0x00; 4],
        ]
        .concat(),
        true,
    ));
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
    // Inside payloads: a chat text, a formation's placements, a roll's dice
    // and the board's pieces claiming 2^60.
    type Decode = fn(&Payload) -> Result<(), DecodeError>;
    let inner: [(Vec<u8>, Decode); 4] = [
        ([&[0x07][..], &claim, b"abc"].concat(), |p| {
            p.decode::<board::Intent>().map(drop)
        }),
        (
            [&[0x05, 0x01, b'w'][..], &claim, &[0x00; 8]].concat(),
            |p| p.decode::<board::Event>().map(drop),
        ),
        (
            [
                &[0x06, 0x01, 0x03, b'1', b'd', b'6'][..],
                &claim,
                &[0x00; 8],
            ]
            .concat(),
            |p| p.decode::<board::Event>().map(drop),
        ),
        ([&claim[..], &[0x00; 8]].concat(), |p| {
            p.decode::<board::State>().map(drop)
        }),
    ];
    for (bytes, decode) in inner {
        let payload = Payload::from_postcard(bytes.clone());
        let (r, largest, took) = measured(|| decode(&payload));
        assert_malformed(r);
        assert!(
            largest <= 2 << 20,
            "{bytes:x?}: allocated {largest} bytes at once"
        );
        assert!(took < Duration::from_millis(200), "{bytes:x?}: {took:?}");
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
    // A payload must hold exactly one value too: a byte past the board
    // intent inside the payload's length is the mode's MALFORMED.
    for i in board_intent_samples() {
        let mut inner = postcard::to_stdvec(&i).unwrap();
        inner.push(0x00);
        let frame = [vec![0x06, 0x01], varint(inner.len() as u64), inner].concat();
        let payload = intent_payload(client(Codec::Postcard, &frame));
        assert_eq!(
            payload.decode::<board::Intent>(),
            Err(DecodeError::Malformed {
                reason: "1 trailing bytes in a mode payload".into()
            })
        );
        assert_eq!(answer(Codec::Postcard, &frame), Err(ErrorCode::Malformed));
    }
}

// ------------------------------------------------------- strings and lists

#[test]
fn strings_longer_than_the_limit_are_field_too_long() {
    let max = C.max_string_bytes;
    for codec in Codec::ALL {
        // Framework strings: checked by the frame decoder.
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
                ClientMessage::Hello {
                    version: 1,
                    token: None,
                    resume: Some("t".repeat(max + 5)),
                },
                "resume",
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
            assert_eq!(err.code(), ErrorCode::FieldTooLong);
        }

        // A payload's strings: the frame decodes (the framework does not
        // look inside), and the board's walk over the decoded intent names
        // the field. Exactly at the limit is fine; counted in bytes.
        let at = "€".repeat(max / 3) + &"a".repeat(max % 3);
        let frame = codec.encode(&chat(1, at.clone())).unwrap();
        assert_eq!(answer(codec, &frame), Ok(board::Intent::Chat { text: at }));
        for (intent, field) in [
            (
                board::Intent::Chat {
                    text: "€".repeat(max / 3) + &"a".repeat(max % 3 + 1),
                },
                "text",
            ),
            (
                board::Intent::SaveFormation {
                    name: "f".into(),
                    key: "k".repeat(max + 1),
                },
                "key",
            ),
            (
                board::Intent::SaveFormation {
                    name: "f".repeat(max + 1),
                    key: "k".into(),
                },
                "name",
            ),
            (
                board::Intent::ApplyFormation {
                    name: "f".repeat(max + 1),
                },
                "name",
            ),
            (
                board::Intent::RollDice {
                    notation: "1".repeat(max + 1),
                },
                "notation",
            ),
        ] {
            let frame = codec
                .encode(&ClientMessage::intent(1, intent.clone()))
                .unwrap();
            let payload = intent_payload(client(codec, &frame));
            let decoded = payload.decode::<board::Intent>().unwrap();
            assert_eq!(decoded, intent);
            let err = check_value(&decoded, C).unwrap_err();
            assert_eq!(
                err,
                DecodeError::FieldTooLong {
                    field,
                    len: max + 1,
                    max
                },
                "{codec:?}"
            );
            assert_eq!(answer(codec, &frame), Err(ErrorCode::FieldTooLong));
        }

        // Server side: a member's name in a joined snapshot is the
        // framework's; the board's chat history and formation names are
        // the board's.
        let mut state = sample_state();
        state.members[0].name = "x".repeat(S.max_string_bytes + 1);
        let joined = |state: RoomState| ServerMessage::Joined {
            seq: None,
            room: RoomId::from("r"),
            member: MemberId(1),
            config: board_room_config(),
            epoch: 0,
            state,
        };
        assert_eq!(
            server(codec, &codec.encode(&joined(state)).unwrap()).unwrap_err(),
            DecodeError::FieldTooLong {
                field: "name",
                len: S.max_string_bytes + 1,
                max: S.max_string_bytes
            }
        );
        for (game, field) in [
            (
                board::State {
                    chat: vec![board::ChatLine {
                        tick: 1,
                        member: MemberId(1),
                        text: "x".repeat(S.max_string_bytes + 1),
                    }],
                    ..sample_board_state()
                },
                "text",
            ),
            (
                board::State {
                    formations: vec!["x".repeat(S.max_string_bytes + 1)],
                    ..sample_board_state()
                },
                "formations",
            ),
        ] {
            let state = RoomState {
                game: Payload::of(game),
                ..sample_state()
            };
            let m = server(codec, &codec.encode(&joined(state)).unwrap()).unwrap();
            let ServerMessage::Joined { state, .. } = m else {
                panic!("{m:?}")
            };
            let board_state = state.game.decode::<board::State>().unwrap();
            assert_eq!(
                check_value(&board_state, S),
                Err(DecodeError::FieldTooLong {
                    field,
                    len: S.max_string_bytes + 1,
                    max: S.max_string_bytes
                }),
                "{codec:?}"
            );
        }
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

        // Lists inside the board's values: a formation's placements and the
        // board's pieces, walked after decoding.
        let placements = vec![
            board::Placement {
                piece: PieceId(0),
                pos: Pos::new(1, 1)
            };
            5
        ];
        let event = board::Event::FormationApplied {
            name: "w".into(),
            placements,
        };
        assert_eq!(
            check_value(&event, &small),
            Err(DecodeError::FieldTooLong {
                field: "placements",
                len: 5,
                max: 4
            })
        );
        let game = board::State {
            pieces: vec![sample_board_state().pieces[0].clone(); 5],
            ..sample_board_state()
        };
        assert_eq!(
            check_value(&game, &small),
            Err(DecodeError::FieldTooLong {
                field: "pieces",
                len: 5,
                max: 4
            })
        );

        // The real server limit: a dice roll with one roll too many. A mode's
        // events are bounded by the frame size (it fits, at one byte per
        // roll in postcard), so the frame decodes; the board's walk over the
        // decoded event refuses it.
        let rolls = vec![0u32; S.max_list_len + 1];
        let m = ServerMessage::Delta(Delta {
            events: vec![EventRecord {
                origin: Origin::default(),
                version: 1,
                event: Event::game(board::Event::DiceRolled {
                    member: MemberId(1),
                    notation: "1000001d1".into(),
                    rolls,
                    modifier: 0,
                    total: 0,
                }),
            }],
            ..sample_delta()
        });
        let events = delta_events(server(codec, &codec.encode(&m).unwrap()));
        let event = events[0].decode_game::<board::Event>().unwrap();
        assert_eq!(
            check_value(&event, S),
            Err(DecodeError::FieldTooLong {
                field: "rolls",
                len: S.max_list_len + 1,
                max: S.max_list_len
            }),
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

    // What the board's walk over an over-long chat text gives.
    let body = check_value(
        &board::Intent::Chat {
            text: "x".repeat(3_000),
        },
        C,
    )
    .unwrap_err()
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
            // And the board's decode of what it carries answers, typed or
            // with a code, without a panic.
            if let ClientMessage::Intent { intent, .. } = &m
                && let Ok(i) = board_intent_of(intent, C)
            {
                let again = ClientMessage::intent(1, i.clone());
                assert_eq!(answer(codec, &codec.encode(&again).unwrap()), Ok(i));
            }
            let _ = typed_client(m);
        }
        if let Ok(m) = server(codec, frame) {
            assert_eq!(server(codec, &codec.encode(&m).unwrap()).unwrap(), m);
            if let Ok(typed) = typed_server(m) {
                assert_eq!(
                    server(codec, &codec.encode(&typed).unwrap()).unwrap(),
                    typed
                );
            }
        }
    }
}

/// Whatever random bytes decode to as a board value re-encodes and decodes
/// to the same value.
fn decode_payload_all(bytes: &[u8]) {
    fn check<T>(bytes: &[u8])
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + Clone
            + PartialEq
            + std::fmt::Debug
            + 'static,
    {
        if let Ok(v) = Payload::from_postcard(bytes.to_vec()).decode::<T>() {
            let again = postcard::to_stdvec(&v).unwrap();
            assert_eq!(Payload::from_postcard(again).decode::<T>().unwrap(), v);
            let _ = check_value(&v, S);
        }
    }
    check::<board::Intent>(bytes);
    check::<board::Event>(bytes);
    check::<board::State>(bytes);
    check::<board::Config>(bytes);
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
    let intents: Vec<ClientMessage> = board_intent_samples()
        .into_iter()
        .enumerate()
        .map(|(seq, i)| ClientMessage::intent(seq as u64, i))
        .collect();
    let events = ServerMessage::Delta(Delta {
        events: board_event_samples()
            .into_iter()
            .map(Event::game)
            .chain(event_samples().into_iter().map(Event::Room))
            .map(|event| EventRecord {
                origin: Origin::default(),
                version: 1,
                event,
            })
            .collect(),
        ..sample_delta()
    });
    for codec in Codec::ALL {
        frames.extend(client_samples().iter().map(|m| codec.encode(m).unwrap()));
        frames.extend(intents.iter().map(|m| codec.encode(m).unwrap()));
        frames.extend(server_samples().iter().map(|m| codec.encode(m).unwrap()));
        frames.push(codec.encode(&events).unwrap());
    }
    frames
}

fn sample_payloads() -> Vec<Vec<u8>> {
    let mut payloads: Vec<Vec<u8>> = board_intent_samples()
        .iter()
        .map(|i| postcard::to_stdvec(i).unwrap())
        .collect();
    payloads.extend(
        board_event_samples()
            .iter()
            .map(|e| postcard::to_stdvec(e).unwrap()),
    );
    payloads.push(postcard::to_stdvec(&sample_board_state()).unwrap());
    payloads.push(postcard::to_stdvec(&board::Config::default()).unwrap());
    payloads
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
        decode_payload_all(&frame);
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
    fn mutated_board_payloads_never_panic(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<u16>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let payloads = sample_payloads();
        let bytes = mutate(which.get(&payloads).clone(), &edits);
        decode_payload_all(&bytes);
        // And the same bytes as the payload of an intent message.
        let frame = [vec![0x06, 0x01], varint(bytes.len() as u64), bytes].concat();
        decode_all(&frame);
    }

    #[test]
    fn random_json_built_from_tokens_never_panics(
        tokens in vec(prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", "\\", "\"ping\"", "\"intent\"", "\"seq\"",
            "\"chat\"", "\"text\"", "\"client_time\"", "1", "-1", "1e400", "null", "true",
            "\"\\u0000\"", "\"\\ud800\"", "{}", "[]", " ", "\"LOCK_HELD\"", "\"details\"",
            "\"move_piece\"", "\"piece\"", "\"to\"", "\"x\"", "\"y\"", "\"start_match\"",
        ]), 0..40),
    ) {
        decode_all(tokens.concat().as_bytes());
    }
}
