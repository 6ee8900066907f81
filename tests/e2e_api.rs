//! End-to-end: the REST API on the real server. Rooms are created, read,
//! archived and members kicked over HTTP; mutations need the admin token,
//! go into the room as logged admin inputs and land in the audit log;
//! errors are the protocol's `{code, message, details}` with fitting
//! statuses; reads need a token once the server listens off loopback.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Server, http};
use tickroom_net::client::Client;
use tickroom_persistence::Reader;
use tickroom_protocol::{Codec, ErrorCode, RoomId};

const ADMIN: &str = "admin-token-0123456789";

async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let (status, text) = http(&server.http, method, path, &headers, body).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, value)
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_created_read_archived_and_members_kicked_over_http() {
    let mut server = Server::start(&[("TICKROOM_AUTH_ADMIN_TOKEN", ADMIN)]);
    server.keep_data = true;
    let create =
        r#"{"room":"api-room","config":{"teams":0,"pieces_per_team":0,"neutral_pieces":2}}"#;

    // Mutations need the admin token.
    let (status, body) = call(&server, "POST", "/api/v1/rooms", None, create).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms",
        Some("admin-token-0123456788"),
        create,
    )
    .await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{body}");

    let (status, body) = call(&server, "POST", "/api/v1/rooms", Some(ADMIN), create).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["room"], "api-room");
    let (status, body) = call(&server, "POST", "/api/v1/rooms", Some(ADMIN), create).await;
    assert_eq!((status, code(&body)), (409, "ROOM_EXISTS"), "{body}");
    let (status, body) = call(&server, "POST", "/api/v1/rooms", Some(ADMIN), "").await;
    assert_eq!(status, 201, "an id is picked: {body}");
    assert!(body["room"].as_str().is_some_and(|r| !r.is_empty()));
    for (bad, want) in [
        (r#"{"config":{"wings":2}}"#, "INVALID_CONFIG"),
        (r#"{"config":{"teams":99}}"#, "INVALID_CONFIG"),
        (r#"{"room":"no spaces"}"#, "INVALID_ARGUMENT"),
        (r#"{"room":"#, "MALFORMED"),
        (r#"{"rooom":"x"}"#, "MALFORMED"),
    ] {
        let (status, body) = call(&server, "POST", "/api/v1/rooms", Some(ADMIN), bad).await;
        assert_eq!((status, code(&body)), (400, want), "{bad}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // The OpenAPI document is served.
    let (status, doc) = call(&server, "GET", "/api/openapi.json", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc["paths"]["/api/v1/rooms/{id}/kick"]["post"].is_object(),
        "{doc}"
    );

    // A player joins over WebSocket; the API sees the seat.
    let room = RoomId::from("api-room");
    let mut player = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let user = format!("anon-{}", player.welcome.session);
    let joined = player.join(&room, "p", None).await.unwrap();
    let (status, body) = call(&server, "GET", "/api/v1/rooms/api-room", None, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"], 1);
    assert_eq!(body["phase"], "setup");
    assert_eq!(body["config"]["neutral_pieces"], 2);
    assert_eq!(body["state"]["members"][0]["id"], joined.member.0);
    let (status, body) = call(&server, "GET", "/api/v1/rooms/nope", None, "").await;
    assert_eq!((status, code(&body)), (404, "ROOM_NOT_FOUND"), "{body}");

    // Kick: by a user with no seat, by a member id the room does not have
    // (rejected by the room: logged), then the player by user id.
    let kick = |b: Value| b.to_string();
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/kick",
        Some(ADMIN),
        &kick(json!({"user": "nobody"})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "MEMBER_NOT_FOUND"), "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/kick",
        Some(ADMIN),
        &kick(json!({"member": 999})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "MEMBER_NOT_FOUND"), "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/kick",
        Some(ADMIN),
        &kick(json!({"member": 1, "user": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/kick",
        Some(ADMIN),
        &kick(json!({"user": user, "by": "moderator"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["tick"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(
        support::closing_code(&mut player).await,
        Some(ErrorCode::Kicked)
    );
    let (_, body) = call(&server, "GET", "/api/v1/rooms/api-room", None, "").await;
    assert_eq!(body["members"], 0, "{body}");

    // Archive, then again (the room says WRONG_PHASE).
    let (status, body) = call(&server, "POST", "/api/v1/rooms/api-room/archive", None, "").await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/archive",
        Some(ADMIN),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(&server, "GET", "/api/v1/rooms/api-room", None, "").await;
    assert_eq!(body["phase"], "archived", "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/rooms/api-room/archive",
        Some(ADMIN),
        "",
    )
    .await;
    assert_eq!((status, code(&body)), (409, "WRONG_PHASE"), "{body}");

    // Both actions are in the log and the audit log, with who did them.
    assert!(server.terminate(Duration::from_secs(10)).is_some());
    let r = Reader::open(&server.db_path()).unwrap();
    let audit: Vec<(String, String)> = r
        .audit("api-room")
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.actor))
        .collect();
    assert!(
        audit.contains(&("kick".into(), "api:moderator".into())),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("archive".into(), "api".into())),
        "{audit:?}"
    );
    assert_eq!(
        audit.first(),
        Some(&("create".into(), "api".into())),
        "{audit:?}"
    );
    let mut kinds = Vec::new();
    r.for_each_input::<tickroom_persistence::StoreError>("api-room", 0, u64::MAX, |_, row| {
        kinds.push((row.kind, row.code));
        Ok(())
    })
    .unwrap();
    assert!(
        kinds.contains(&("admin_kick".into(), Some("MEMBER_NOT_FOUND".into()))),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("admin_kick".into(), None)), "{kinds:?}");
    assert!(kinds.contains(&("admin_archive".into(), None)), "{kinds:?}");
    support::replay(&server.db_path(), "api-room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_reads_need_a_token_and_mutations_are_off_without_an_admin_token() {
    const READ: &str = "read-token-0123456789";
    let server = Server::start(&[
        ("TICKROOM_SERVER_HTTP", "0.0.0.0:0"),
        ("TICKROOM_SERVER_QUIC_ENABLED", "false"),
        ("TICKROOM_SERVER_ALLOW_PUBLIC_WITHOUT_AUTH", "true"),
        ("TICKROOM_AUTH_READ_TOKEN", READ),
    ]);
    let (status, body) = call(&server, "GET", "/api/v1/rooms", None, "").await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{body}");
    let (status, body) = call(&server, "GET", "/api/v1/rooms", Some(READ), "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["rooms"].is_array());
    let (status, body) = call(&server, "POST", "/api/v1/rooms", Some(READ), "{}").await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    // Probes stay open.
    let (status, _) = http(&server.http, "GET", "/health", &[], "").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rebuilds_a_live_room_at_any_tick() {
    let server = Server::start(&[]);
    let room = RoomId::from("replayed");
    let mut c = support::first_player(&server.ws, room.as_str(), "p").await;
    let piece = tickroom_protocol::PieceId(0);
    let lock = tickroom_protocol::board::Intent::TakeLock { piece };
    assert!(c.intent(lock).await.unwrap().is_ok());
    let to = tickroom_protocol::Pos::new(11, 22);
    let moved = tickroom_protocol::board::Intent::MovePiece { piece, to };
    assert!(c.intent(moved).await.unwrap().is_ok());

    // The move is committed within a commit interval; then the last logged
    // tick shows it, with its input and delta.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let last = loop {
        let (status, v) = call(&server, "GET", "/api/v1/history/replayed", None, "").await;
        assert_eq!(status, 200, "{v}");
        if v["state"]["pieces"][0]["pos"] == json!({"x": 11, "y": 22}) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(last["tick"], last["last_tick"]);
    assert_eq!(last["from_tick"], 0);
    assert!(
        last["inputs"][0]["input"]["kind"]["Intent"]["move_piece"].is_object(),
        "{last}"
    );
    assert_eq!(last["inputs"][0]["outcome"], "Applied");
    assert!(
        last["delta"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(last["state_hash"].as_str().map(str::len), Some(16));

    // Tick 0 is the room as created; a tick past the end clamps.
    let (_, first) = call(&server, "GET", "/api/v1/history/replayed?tick=0", None, "").await;
    assert_eq!(first["tick"], 0);
    assert_eq!(first["state"]["members"], json!([]));
    assert_ne!(first["state_hash"], last["state_hash"]);
    let (_, beyond) = call(
        &server,
        "GET",
        "/api/v1/history/replayed?tick=99999999",
        None,
        "",
    )
    .await;
    assert_eq!(beyond["tick"], last["tick"]);
    let (status, body) = call(&server, "GET", "/api/v1/history/nope", None, "").await;
    assert_eq!((status, code(&body)), (404, "ROOM_NOT_FOUND"), "{body}");
    let (status, list) = call(&server, "GET", "/api/v1/history", None, "").await;
    assert_eq!(status, 200);
    assert!(
        list["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room"] == "replayed" && r["archived"] == false),
        "{list}"
    );
}

/// On a single node the operators' notice reaches everyone in every room
/// of that node; it needs the admin token and some text.
#[tokio::test]
async fn a_notice_reaches_every_room_of_a_single_node() {
    let server = Server::start(&[("TICKROOM_AUTH_ADMIN_TOKEN", ADMIN)]);
    let mut ann = support::first_player(&server.ws, "one", "ann").await;
    let mut bob = support::first_player(&server.ws, "two", "bob").await;
    let auth = format!("Bearer {ADMIN}");
    let (status, _) = http(
        &server.http,
        "POST",
        "/api/v1/notice",
        &[],
        r#"{"text":"hi"}"#,
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = http(
        &server.http,
        "POST",
        "/api/v1/notice",
        &[("authorization", &auth)],
        r#"{"text":""}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(
        &server.http,
        "POST",
        "/api/v1/notice",
        &[("authorization", &auth)],
        r#"{"text":"back in five"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"sent": "node"})
    );
    for c in [&mut ann, &mut bob] {
        loop {
            match c.recv_timeout(Duration::from_secs(5)).await.unwrap() {
                tickroom_protocol::ServerMessage::Notice { text, from } => {
                    assert_eq!(
                        (text.as_str(), from.as_str()),
                        ("back in five", "operators")
                    );
                    break;
                }
                _ => continue,
            }
        }
    }
}
