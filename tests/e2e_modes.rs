//! End-to-end: one binary serves several game modes. Rooms are created with
//! a mode (over WebSocket and the HTTP API), welcome lists the modes, a
//! mode's intents travel in both codecs, an intent of another mode or an
//! unknown kind gets UNKNOWN_INTENT and changes nothing, a mode's own error
//! codes reach clients by name and number, and a stored room of a mode
//! replays and exports from its log.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Server, cli, http};
use tickroom_net::client::Client;
use tickroom_protocol::board;
use tickroom_protocol::{
    ClientMessage, Codec, ErrorCode, ModeCode, ModeInfo, Payload, PieceId, Pos, RoomConfig, RoomId,
    ServerMessage,
};
use tickroom_tictactoe::{Event, Game, Intent, Mark};

const WAIT: Duration = Duration::from_secs(5);
const ADMIN: &str = "admin-token-0123456789";

fn tictactoe() -> RoomConfig {
    RoomConfig {
        mode: "tictactoe".into(),
        ..RoomConfig::default()
    }
}

/// The reply to `seq`, skipping deltas and cursors.
async fn reply(c: &mut Client, seq: u64) -> ServerMessage {
    loop {
        let msg = c.recv_timeout(WAIT).await.expect("a reply in time");
        if let ServerMessage::Ack { seq: s } | ServerMessage::Reject { seq: s, .. } = msg
            && s == seq
        {
            return msg;
        }
    }
}

/// The room's state hash, from the HTTP API.
async fn state_hash(server: &Server, room: &str) -> String {
    let (status, text) = http(
        &server.http,
        "GET",
        &format!("/api/v1/rooms/{room}"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["state"]["state_hash"].as_str().unwrap().to_owned()
}

/// The next tic-tac-toe event a client sees.
async fn next_event(c: &mut Client) -> Event {
    loop {
        if let ServerMessage::Delta(d) = c.recv_timeout(WAIT).await.expect("a delta in time")
            && let Some(e) = d.events.iter().find_map(|e| e.event.decode_game::<Event>())
        {
            return e;
        }
    }
}

#[tokio::test]
async fn a_tictactoe_room_plays_over_json_and_postcard_beside_the_board() {
    // A client that knows the mode registers its codes, so that both codecs
    // give the same code (postcard carries only the number).
    ModeCode::register(<tickroom_tictactoe::TicTacToe as tickroom_sim::Mode>::ERROR_CODES).unwrap();
    let server = Server::start(&[]);
    let room = RoomId::from("ttt");
    let mut x = Client::connect(&server.ws, Codec::Json).await.unwrap();
    assert_eq!(
        x.welcome.modes,
        vec![
            ModeInfo {
                name: "board".into(),
                version: 1
            },
            ModeInfo {
                name: "tictactoe".into(),
                version: 1
            },
            ModeInfo {
                name: "tabletop".into(),
                version: <tickroom_tabletop::Tabletop as tickroom_sim::Mode>::VERSION
            }
        ],
        "welcome lists every mode the server serves"
    );
    x.create_room(Some(room.clone()), tictactoe(), false)
        .await
        .unwrap();
    let joined = x.join(&room, "xena", None).await.unwrap();
    assert_eq!(joined.config.mode, "tictactoe");
    let game: Game = joined.state.game.decode().unwrap();
    assert_eq!(game.cells.len(), 9);
    let mut o = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    o.join(&room, "otto", None).await.unwrap();

    assert!(x.intent(Intent::Place { cell: 4 }).await.unwrap().is_ok());
    assert_eq!(
        next_event(&mut o).await,
        Event::Placed {
            member: joined.member,
            cell: 4,
            mark: Mark::X
        },
        "the postcard client decodes the mode's event"
    );
    // Out of turn: the mode's own code, by name in JSON and by number in
    // postcard.
    let err = x
        .intent(Intent::Place { cell: 0 })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Mode(ModeCode(1100)));
    assert_eq!(err.code.as_str(), "NOT_YOUR_TURN");
    assert!(o.intent(Intent::Place { cell: 0 }).await.unwrap().is_ok());
    let err = o
        .intent(Intent::Place { cell: 1 })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code.as_str(), "NOT_YOUR_TURN");

    // Another mode's intent, and a kind no mode has: UNKNOWN_INTENT, and
    // the room does not change.
    let before = state_hash(&server, "ttt").await;
    let seq = x.next_seq();
    x.send(&ClientMessage::intent(
        seq,
        board::Intent::MovePiece {
            piece: PieceId(0),
            to: Pos::new(1, 1),
        },
    ))
    .await
    .unwrap();
    match reply(&mut x, seq).await {
        ServerMessage::Reject { code, details, .. } => {
            assert_eq!(code, ErrorCode::UnknownIntent);
            assert_eq!(
                details.get("mode"),
                Some(&tickroom_protocol::DetailValue::Text("tictactoe".into()))
            );
        }
        other => panic!("{other:?}"),
    }
    let seq = x.next_seq();
    x.send(&ClientMessage::Intent {
        seq,
        intent: Payload::from_json(r#"{"fly": {"to": 3}}"#).unwrap(),
    })
    .await
    .unwrap();
    assert!(matches!(
        reply(&mut x, seq).await,
        ServerMessage::Reject {
            code: ErrorCode::UnknownIntent,
            ..
        }
    ));
    assert_eq!(state_hash(&server, "ttt").await, before, "nothing changed");

    // A board room on the same server still plays the board.
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = b.join(&RoomId::from("a-board"), "bea", None).await.unwrap();
    assert_eq!(joined.config.mode, "board");
    let own = support::board(&joined.state)
        .pieces
        .iter()
        .position(|p| p.team == joined.state.members[0].team)
        .unwrap() as u32;
    assert!(
        b.intent(board::Intent::TakeLock {
            piece: PieceId(own)
        })
        .await
        .unwrap()
        .is_ok()
    );
    // ... and refuses the tic-tac-toe intent the same way.
    let err = b
        .intent(Intent::Place { cell: 0 })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownIntent);
}

#[tokio::test]
async fn rooms_of_a_mode_are_created_listed_and_refused_over_http() {
    let server = Server::start(&[("TICKROOM_AUTH_ADMIN_TOKEN", ADMIN)]);
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let body = json!({"room": "t1", "config": {"mode": "tictactoe", "size": 4}}).to_string();
    let (status, text) = http(&server.http, "POST", "/api/v1/rooms", &headers, &body).await;
    assert_eq!(status, 201, "{text}");
    // A key of another mode is no key of this one.
    let body =
        json!({"room": "t2", "config": {"mode": "tictactoe", "pieces_per_team": 1}}).to_string();
    let (status, text) = http(&server.http, "POST", "/api/v1/rooms", &headers, &body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("INVALID_CONFIG"), "{text}");
    // A mode this server does not serve.
    let body = json!({"room": "t3", "config": {"mode": "chess"}}).to_string();
    let (status, text) = http(&server.http, "POST", "/api/v1/rooms", &headers, &body).await;
    assert!(text.contains("MODE_UNAVAILABLE"), "{status} {text}");
    assert!(text.contains("tictactoe"), "names what is served: {text}");
    // Out of bounds for the mode.
    let body = json!({"room": "t4", "config": {"mode": "tictactoe", "to_win": 5}}).to_string();
    let (status, text) = http(&server.http, "POST", "/api/v1/rooms", &headers, &body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("to_win"), "{text}");

    let (status, text) = http(&server.http, "GET", "/api/v1/rooms", &[], "").await;
    assert_eq!(status, 200, "{text}");
    let rooms: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t1 = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "t1")
        .expect("t1 is listed");
    assert_eq!(t1["mode"], "tictactoe");
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = c.join(&RoomId::from("t1"), "c", None).await.unwrap();
    let game: Game = joined.state.game.decode().unwrap();
    assert_eq!(game.cells.len(), 16, "the room's own size");
}

#[tokio::test]
async fn a_stored_tictactoe_room_replays_exports_and_shows_its_mode_in_history() {
    let mut server = Server::start(&[]);
    let room = RoomId::from("kept");
    let mut x = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    x.create_room(Some(room.clone()), tictactoe(), false)
        .await
        .unwrap();
    x.join(&room, "xena", None).await.unwrap();
    let mut o = Client::connect(&server.ws, Codec::Json).await.unwrap();
    o.join(&room, "otto", None).await.unwrap();
    for (who, cell) in [(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)] {
        let c = if who == 0 { &mut x } else { &mut o };
        assert!(c.intent(Intent::Place { cell }).await.unwrap().is_ok());
    }
    let (status, text) = http(&server.http, "GET", "/api/v1/history", &[], "").await;
    assert_eq!(status, 200, "{text}");
    let history: serde_json::Value = serde_json::from_str(&text).unwrap();
    let kept = history["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "kept")
        .expect("stored");
    assert_eq!(
        (kept["mode"].as_str(), kept["mode_version"].as_u64()),
        (Some("tictactoe"), Some(1))
    );
    server.terminate(Duration::from_secs(10));
    let db = server.db_path();
    let out = support::replay(&db, "kept");
    assert!(out.contains("\"hashes_checked\""), "{out}");
    let scenario = support::export_and_run(&db, "kept");
    assert!(scenario.contains("\nmode tictactoe\n"), "{scenario}");
    assert!(scenario.contains("place cell=2"), "{scenario}");
    // A build that does not serve the mode (here: a board-only server,
    // built from the library in this process) refuses to replay the room.
    let code = tickroom::Server::builder()
        .mode::<tickroom_sim::board::Board>()
        .run_with([
            "tickroom",
            "replay",
            "--db",
            db.to_str().unwrap(),
            "--room",
            "kept",
        ]);
    assert_ne!(code, std::process::ExitCode::SUCCESS);
    // A room stored by a version of the mode this build does not have is
    // refused with a coded message naming the mode and both versions, never
    // replayed into a silent divergence.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE rooms SET mode_version = 9 WHERE id = 'kept'", [])
        .unwrap();
    let (ok, text) = cli(&["replay", "--db", db.to_str().unwrap(), "--room", "kept"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("MODE_UNAVAILABLE") && text.contains("tictactoe version 9"),
        "{text}"
    );
    assert!(text.contains("tictactoe 1"), "names what it serves: {text}");
}
