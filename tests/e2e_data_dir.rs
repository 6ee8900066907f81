//! End-to-end: one server per data dir, and a room whose stored history is
//! damaged comes back at its last consistent tick instead of being dropped.

mod support;

use std::time::Duration;
use support::{Server, cli, http_get};
use tickroom_net::client::Client;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{Codec, PieceId, Pos, RoomId};

/// A second `serve` on a data dir a server holds would recover the same
/// rooms and fork their logs: it refuses to start and names the holder.
/// Readers need no lock: replay, export and the history API work on the
/// live store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_refuses_to_start_and_names_the_first() {
    let server = Server::start(&[]);
    let mut c = support::first_player(&server.ws, "held", "p").await;
    let piece = PieceId(0);
    assert!(c.intent(Intent::TakeLock { piece }).await.unwrap().is_ok());
    assert!(
        c.intent(Intent::MovePiece {
            piece,
            to: Pos::new(10, 20)
        })
        .await
        .unwrap()
        .is_ok()
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickroom"))
        .arg("serve")
        .env("TICKROOM_SERVER_HTTP", "127.0.0.1:0")
        .env("TICKROOM_SERVER_QUIC", "127.0.0.1:0")
        .env("TICKROOM_SERVER_DATA_DIR", &server.data_dir)
        .output()
        .expect("the second server runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the second server must not start: {text}"
    );
    assert!(text.contains("in use by another tickroom server"), "{text}");
    assert!(
        text.contains(&format!("\"pid\":{}", server.child.id())),
        "names the holder's pid: {text}"
    );
    assert!(text.contains(&server.http), "names its address: {text}");
    assert!(
        !text.contains("{\"listening\""),
        "it never listened: {text}"
    );

    // The first server is unaffected, and the store is readable while it runs.
    assert!(
        c.intent(Intent::MovePiece {
            piece,
            to: Pos::new(11, 21)
        })
        .await
        .unwrap()
        .is_ok()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    support::replay(&server.db_path(), "held");
    let out_file = server.data_dir.join("held.scenario");
    let (ok, text) = cli(&[
        "export".as_ref(),
        "--db".as_ref(),
        server.db_path().as_os_str(),
        "--room".as_ref(),
        "held".as_ref(),
        "--out".as_ref(),
        out_file.as_os_str(),
    ]);
    assert!(ok, "export on a live store: {text}");
    let (status, body) = http_get(&server.http, "/api/v1/history/held").await;
    assert_eq!(status, 200, "{body}");
}

/// A tick is removed from the middle of a room's log while the server is
/// down (a hole, as a crash during a store outage used to leave). The next
/// start does not drop the room: it finds the hole, brings the room back at
/// the tick before it with a loud error and a `damaged` entry in the
/// `recovered` line, keeps what followed in `damaged_ticks`, and the room's
/// log replays again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_whose_log_has_a_hole_comes_back_at_its_last_consistent_tick() {
    // Snapshots only at creation: recovery has to replay the whole log.
    let env = [
        ("TICKROOM_STORE_SNAPSHOT_EVERY_TICKS", "100000000"),
        ("TICKROOM_STORE_SNAPSHOT_EVERY_INPUTS", "100000000"),
    ];
    let mut server = Server::start(&env);
    server.keep_data = true;
    let data = server.data_dir.clone();
    let room = RoomId::from("holed");
    let mut c = support::first_player(&server.ws, room.as_str(), "p").await;
    let piece = PieceId(0);
    assert!(c.intent(Intent::TakeLock { piece }).await.unwrap().is_ok());
    for n in 1..=12 {
        assert!(
            c.intent(Intent::MovePiece {
                piece,
                to: Pos::new(n, n)
            })
            .await
            .unwrap()
            .is_ok()
        );
        // One move per tick.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    drop(server);

    // The tick of the 6th move goes missing.
    let db = data.join("tickroom.db");
    let (hole, next, last) = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let ticks: Vec<i64> = conn
            .prepare(
                "SELECT tick FROM ticks WHERE room = 'holed' AND input_count > 0 ORDER BY tick",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // create + join + lock + 12 moves (some may share a tick).
        assert!(ticks.len() >= 8, "{ticks:?}");
        let hole = ticks[ticks.len() - 7];
        let next = ticks[ticks.len() - 6];
        let last = *ticks.last().unwrap();
        conn.execute(
            "DELETE FROM ticks WHERE room = 'holed' AND tick = ?1",
            [hole],
        )
        .unwrap();
        (hole as u64, next as u64, last as u64)
    };

    let mut server = Server::start_in(data, &env, |c| c);
    let recovered = &server.recovered["recovered"];
    assert_eq!(recovered["failed"], serde_json::json!([]), "{recovered}");
    assert_eq!(recovered["rooms"], 1, "the room is served: {recovered}");
    let damaged = recovered["damaged"].as_array().expect("a damaged list");
    assert_eq!(damaged.len(), 1, "{recovered}");
    let d = &damaged[0];
    assert_eq!(d["room"], "holed");
    // The hole is found at the next logged tick: the room comes back just
    // before it (the ticks in between had nothing logged).
    let to = d["recovered_to_tick"].as_u64().unwrap();
    assert!(
        (hole - 1..next).contains(&to),
        "back before the first tick after the hole ({hole}, next {next}): {d}"
    );
    assert_eq!(d["stored_to_tick"].as_u64(), Some(last), "{d}");
    assert!(d["ticks_moved"].as_u64() >= Some(1), "{d}");
    assert!(
        d["error"].as_str().unwrap_or("").contains("version"),
        "the hole shows as a version gap: {d}"
    );

    // The room plays on from there, and its log replays.
    let mut q = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = q.join(&room, "q", None).await.unwrap();
    let pos = support::board(&joined.state)
        .pieces
        .iter()
        .find(|p| p.id == piece)
        .map(|p| p.pos)
        .unwrap();
    assert!(
        pos.x >= 1 && pos.x <= 6,
        "the piece is where a move before the hole left it: {pos:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.terminate(Duration::from_secs(20)).is_some());
    support::replay(&server.db_path(), room.as_str());
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM damaged_ticks WHERE room = 'holed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept >= 1, "what followed the hole is kept for examination");
}
