//! `docs/protocol.md` stays in step with the code: every error code and every
//! framework message and event tag is documented with its wire index and
//! its fields, every `json` example is exactly what the codec produces (mode
//! payloads decoded as the board's types), and the postcard examples are
//! the codec's bytes. The board's own types are held to
//! `docs/modes/board.md` by `docs_modes.rs`.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use tickroom_protocol::board;
use tickroom_protocol::walk::check_value;
use tickroom_protocol::*;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text under `heading` (a whole line), up to the next heading of any
/// level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .lines()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| *l == heading)
        .map(|(at, _)| at + heading.len())
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let rest = &doc[start..];
    &rest[..rest.find("\n#").unwrap_or(rest.len())]
}

/// The fenced blocks of a language (`json`, `text`) in `text`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == open => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated {lang} block");
    out
}

/// The rows of the markdown tables in `text` whose first cell is a
/// backticked name: name → the other cells.
fn rows(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let rest = cells[2..cells.len().saturating_sub(1)]
                .iter()
                .map(|c| c.to_string())
                .collect();
            Some((name.to_owned(), rest))
        })
        .collect()
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
    // No row for a code that does not exist (one removed, or renamed).
    let catalog_rows = doc
        .lines()
        .filter(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells.len() == 5 && cells[1].parse::<usize>().is_ok() && cells[2].starts_with('`')
        })
        .count();
    assert_eq!(catalog_rows, ErrorCode::ALL.len());
    // How a mode's codes are numbered and named.
    assert!(doc.contains(&format!("FIRST_MODE_CODE = {FIRST_MODE_CODE}")));
    let unnamed = serde_json::to_string(&ErrorCode::Mode(ModeCode(1003))).unwrap();
    assert!(doc.contains(&format!("`{unnamed}`")), "{unnamed}");
}

fn assert_documented(doc: &str, what: &str, tag: &str, index: usize) {
    assert!(doc.contains(tag), "{what} `{tag}` is not documented");
    let heading = format!("#### `{tag}` (index {index})");
    assert!(
        doc.lines().any(|l| l == heading),
        "{what} `{tag}`: no heading `{heading}`"
    );
    // Its section shows the message itself.
    let examples = blocks(section(doc, &heading), "json");
    assert!(
        examples
            .iter()
            .any(|b| serde_json::from_str::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.contains_key(tag)))
                .unwrap_or(false)),
        "{what} `{tag}` has no json example of its own"
    );
}

#[test]
fn every_message_and_framework_event_tag_is_documented() {
    let doc = doc();
    let clients = client_samples();
    assert_eq!(clients.len(), CLIENT_VARIANTS);
    for (i, m) in clients.iter().enumerate() {
        assert_eq!(client_index(m), i);
        assert_documented(&doc, "client message", &json_tag(m), i);
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
    // The board's intents and events are the board's page's, not this
    // one's: no heading here, and a link there.
    for tag in board_intent_samples()
        .iter()
        .map(json_tag)
        .chain(board_event_samples().iter().map(json_tag))
    {
        assert!(
            !doc.lines()
                .any(|l| l.starts_with(&format!("#### `{tag}` (index"))),
            "board tag `{tag}` has a heading in protocol.md"
        );
    }
    assert!(doc.contains("(modes/board.md)"));
}

/// Every message and framework event has a field table naming each of its
/// fields (framework events: exactly its fields); integer fields give their
/// width.
#[test]
fn every_message_and_domain_event_has_a_table_of_its_fields() {
    let doc = doc();
    let mut checked = 0;
    let with_fields = client_samples()
        .iter()
        .enumerate()
        .map(|(i, m)| (serde_json::to_value(m).unwrap(), i, false))
        .chain(
            server_samples()
                .iter()
                .enumerate()
                .map(|(i, m)| (serde_json::to_value(m).unwrap(), i, false)),
        )
        .chain(
            event_samples()
                .iter()
                .enumerate()
                .map(|(i, e)| (serde_json::to_value(e).unwrap(), i, true)),
        )
        .collect::<Vec<_>>();
    for (json, i, exact) in with_fields {
        let tag = json.as_object().unwrap().keys().next().unwrap().clone();
        let table = rows(section(&doc, &format!("#### `{tag}` (index {i})")));
        let fields = json[&tag].as_object().expect("a struct");
        let mut names: Vec<&String> = fields.keys().collect();
        names.sort();
        if exact {
            assert_eq!(
                table.keys().collect::<Vec<_>>(),
                names,
                "the field table of {tag}"
            );
        }
        for (name, value) in fields {
            let ty = &table
                .get(name)
                .unwrap_or_else(|| panic!("{tag}.{name} has no row"))[0];
            if value.is_number() {
                assert!(
                    ["u8", "u16", "u32", "u64", "i32", "i64"]
                        .iter()
                        .any(|w| ty.starts_with(w)),
                    "{tag}.{name}: `{ty}` gives no integer width"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn unit_enums_config_fields_and_transport_names_are_documented() {
    let doc = doc();
    fn names<T: serde::Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
    let rows_wanted = [
        ("Role", names(&[Role::Host, Role::Player, Role::Spectator])),
        ("Presence", names(&[Presence::Connected, Presence::InGrace])),
        (
            "Phase",
            names(&[Phase::Setup, Phase::Live, Phase::Expired, Phase::Archived]),
        ),
        (
            "LeaveReason",
            names(&[
                LeaveReason::Left,
                LeaveReason::GraceExpired,
                LeaveReason::Kicked,
            ]),
        ),
    ];
    for (ty, values) in rows_wanted {
        let list: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        let row = format!("| `{ty}` | {} |", list.join(", "));
        assert!(doc.lines().any(|l| l == row), "missing row:\n{row}");
    }

    // The framework's config keys, in postcard order, each with its
    // default and its bounds.
    let config = section(&doc, "## 9. Room config");
    let table = rows(config);
    let order: Vec<&str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .filter(|k| table.contains_key(*k))
        .collect();
    assert_eq!(order, config::FRAMEWORK_KEYS, "rows in postcard order");
    let defaults = serde_json::to_value(RoomConfig::default()).unwrap();
    use config::bounds::*;
    let bounds: BTreeMap<&str, (i64, i64)> = [
        (
            "tick_rate_hz",
            (TICK_RATE_HZ.0.into(), TICK_RATE_HZ.1.into()),
        ),
        ("max_players", (MAX_PLAYERS.0.into(), MAX_PLAYERS.1.into())),
        ("teams", (TEAMS.0.into(), TEAMS.1.into())),
        ("match_ticks", (MATCH_TICKS.0.into(), MATCH_TICKS.1.into())),
        (
            "auto_archive_ticks",
            (AUTO_ARCHIVE_TICKS.0.into(), AUTO_ARCHIVE_TICKS.1.into()),
        ),
        (
            "hash_every_ticks",
            (HASH_EVERY_TICKS.0.into(), HASH_EVERY_TICKS.1.into()),
        ),
        (
            "max_name_chars",
            (MAX_NAME_CHARS.0.into(), MAX_NAME_CHARS.1.into()),
        ),
    ]
    .into_iter()
    .collect();
    for key in config::FRAMEWORK_KEYS {
        let cells = &table[*key];
        let default = cells[1]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('`');
        assert_eq!(
            default,
            defaults[*key].to_string(),
            "default of `{key}` in:\n{cells:?}"
        );
        if let Some((min, max)) = bounds.get(key) {
            assert_eq!(cells[2], format!("{min} ..= {max}"), "bounds of `{key}`");
        }
    }
    assert_eq!(bounds.len() + 1, config::FRAMEWORK_KEYS.len());
    assert!(config.contains("FRAMEWORK_KEYS"));

    for codec in Codec::ALL {
        assert!(doc.contains(codec.subprotocol()), "{codec:?}");
    }
    assert!(doc.contains("tickroom/1"));
    assert!(doc.contains(&format!("PROTOCOL_VERSION = {PROTOCOL_VERSION}")));
    assert!(doc.contains(&format!("MIN_PROTOCOL_VERSION = {MIN_PROTOCOL_VERSION}")));
    assert!(doc.starts_with(&format!(
        "# Tickroom wire protocol, version {PROTOCOL_VERSION}\n"
    )));
}

/// Decodes `text` as `T` with the codec, turns its mode payloads into the
/// board's typed values (`typed`), and checks that this serializes back to
/// the same JSON: so an example with an intent, event, setting or state
/// field the board does not have fails.
fn exact<T>(text: &str, limits: &Limits, typed: fn(T) -> Result<T, DecodeError>) -> bool
where
    T: serde::Serialize + serde::de::DeserializeOwned + CheckLimits,
{
    let Ok(value) = Codec::Json.decode::<T>(text.as_bytes(), limits) else {
        return false;
    };
    let Ok(value) = typed(value) else {
        return false;
    };
    let written: serde_json::Value = serde_json::from_str(text).unwrap();
    serde_json::to_value(&value).unwrap() == written
}

/// A framework event on its own (a mode's event would be accepted by
/// `Event`'s decoder as an opaque payload, so it is refused here).
fn exact_domain_event(text: &str) -> bool {
    match Codec::Json.decode::<Event>(text.as_bytes(), &Limits::SERVER_FRAMES) {
        Ok(Event::Room(e)) => {
            serde_json::to_value(e).unwrap()
                == serde_json::from_str::<serde_json::Value>(text).unwrap()
        }
        _ => false,
    }
}

#[test]
fn every_json_example_is_exact() {
    let doc = doc();
    let blocks = blocks(&doc, "json");
    let least = CLIENT_VARIANTS + SERVER_VARIANTS + EVENT_VARIANTS + 2;
    assert!(blocks.len() >= least, "only {} json examples", blocks.len());
    for block in &blocks {
        let ok = exact(block, &Limits::CLIENT_FRAMES, typed_client)
            || exact(block, &Limits::SERVER_FRAMES, typed_server)
            || exact_domain_event(block)
            || exact(block, &Limits::CLIENT_FRAMES, typed_config);
        assert!(
            ok,
            "this example does not decode to a protocol type and back exactly:\n{block}"
        );
    }
}

/// The check above refuses what it should: an intent, an event and a
/// config key the board does not have, in frames that the framework alone
/// would accept.
#[test]
fn the_example_check_refuses_what_the_board_does_not_have() {
    let intent = r#"{"intent":{"seq":4,"intent":{"teleport":{"piece":3}}}}"#;
    assert!(
        Codec::Json
            .decode::<ClientMessage>(intent.as_bytes(), &Limits::CLIENT_FRAMES)
            .is_ok()
    );
    assert!(!exact(intent, &Limits::CLIENT_FRAMES, typed_client));
    let extra = r#"{"intent":{"seq":4,"intent":{"chat":{"text":"hi","colour":"red"}}}}"#;
    assert!(!exact(extra, &Limits::CLIENT_FRAMES, typed_client));
    let event = r#"{"delta":{"room":"r","tick":1,"from_version":0,"to_version":1,"events":[{"origin":{"member":null,"seq":null},"version":1,"event":{"teleported":{}}}],"state_hash":null}}"#;
    assert!(
        Codec::Json
            .decode::<ServerMessage>(event.as_bytes(), &Limits::SERVER_FRAMES)
            .is_ok()
    );
    assert!(!exact(event, &Limits::SERVER_FRAMES, typed_server));
    assert!(!exact_domain_event(
        r#"{"piece_moved":{"piece":3,"to":{"x":1,"y":1}}}"#
    ));
    let mut config = serde_json::to_value(board_room_config()).unwrap();
    assert!(exact(
        &config.to_string(),
        &Limits::CLIENT_FRAMES,
        typed_config
    ));
    config["pieces_per_tem"] = serde_json::json!(3);
    assert!(!exact(
        &config.to_string(),
        &Limits::CLIENT_FRAMES,
        typed_config
    ));
}

#[test]
fn the_documented_decode_error_example_is_what_the_server_sends() {
    let text = "x".repeat(3000);
    let m = chat_3000(&text);
    // The frame decodes: the framework does not look inside the payload.
    let frame = Codec::Json.encode(&m).unwrap();
    let ClientMessage::Intent { intent, .. } = Codec::Json
        .decode::<ClientMessage>(&frame, &Limits::CLIENT_FRAMES)
        .unwrap()
    else {
        panic!()
    };
    let decoded: board::Intent = intent.decode().unwrap();
    let body = check_value(&decoded, &Limits::CLIENT_FRAMES)
        .unwrap_err()
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

fn chat_3000(text: &str) -> ClientMessage {
    ClientMessage::intent(
        17,
        board::Intent::Chat {
            text: text.to_owned(),
        },
    )
}

/// The integer after `key` (`"x":` and the like) at the start of `text`.
fn int_after(text: &str, key: &str) -> Option<i64> {
    let rest = text.strip_prefix(key)?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Hex bytes: `06 04 …`.
fn hex(text: &str) -> Option<Vec<u8>> {
    text.split_whitespace()
        .map(|h| {
            (h.len() == 2)
                .then(|| u8::from_str_radix(h, 16).ok())
                .flatten()
        })
        .collect()
}

/// Every position in the examples is on the default board: an example a
/// client copies must not be an OUT_OF_BOUNDS move.
#[test]
fn every_example_position_is_on_the_default_board() {
    let doc = doc();
    let board = board::Config::default();
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
    assert!(seen >= 6, "only {seen} positions found");
}

/// The annotated postcard example: its first column is the codec's bytes.
#[test]
fn the_postcard_worked_example_is_the_codecs() {
    let doc = doc();
    let intro = "the intent `move_piece` with `seq` 4, piece 3, to (120, 40)";
    let at = doc.find(intro).expect("the worked example");
    let block = &blocks(&doc[at..], "text")[0];
    let bytes: Vec<u8> = block
        .lines()
        .flat_map(|l| hex(&l[..12.min(l.len())]).expect(l))
        .collect();
    let m = ClientMessage::intent(
        4,
        board::Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    );
    assert_eq!(bytes, Codec::Postcard.encode(&m).unwrap());
    assert!(block.lines().count() >= 7, "every byte annotated:\n{block}");
    let json = String::from_utf8(Codec::Json.encode(&m).unwrap()).unwrap();
    assert!(doc[at..].contains(&format!("JSON: `{json}`")));
}

/// The delta's postcard dump is the codec's bytes, and its sizes are true.
#[test]
fn the_postcard_delta_is_the_codecs() {
    let doc = doc();
    let m = ServerMessage::Delta(sample_delta());
    let bytes = Codec::Postcard.encode(&m).unwrap();
    let dumps: Vec<Vec<u8>> = blocks(&doc, "text").iter().filter_map(|b| hex(b)).collect();
    assert!(dumps.contains(&bytes), "no dump of the sample delta");
    let json = Codec::Json.encode(&m).unwrap();
    let sizes = format!(
        "({} bytes, against {} for the compact JSON)",
        bytes.len(),
        json.len()
    );
    assert!(doc.contains(&sizes), "{sizes}");
}

/// The changelog says what protocol 2 changed, the new codes with their
/// indexes among it.
#[test]
fn the_changelog_names_what_changed() {
    let doc = doc();
    let log = section(&doc, "### Protocol 1 → 2");
    for code in [ErrorCode::UnknownIntent, ErrorCode::ModeUnavailable] {
        let needle = format!("`{}` (index {})", code.as_str(), code.number());
        assert!(log.contains(&needle), "{needle}");
    }
    for needle in [
        "welcome.modes",
        "GameMode",
        "byte string",
        "`Event` enum",
        "1000",
        "modes/board.md",
    ] {
        assert!(log.contains(needle), "{needle}");
    }
    // The intent bytes it quotes are the codec's.
    let m = ClientMessage::intent(
        4,
        board::Intent::MovePiece {
            piece: PieceId(3),
            to: Pos::new(120, 40),
        },
    );
    let now: Vec<String> = Codec::Postcard
        .encode(&m)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(log.contains(&format!("`{}`", now.join(" "))));
}
