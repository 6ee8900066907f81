//! A database written by an earlier build opens, migrates, recovers and
//! replays under this one, with every hash that build stored checked.
//!
//! Each fixture was written by the build of a commit, killed with SIGKILL
//! mid-session so recovery has a log tail to replay; its rooms hold moves,
//! locks, a formation saved and applied, dice, chat and a started match, and
//! its `.json` holds what its clients last saw:
//! - `tickroom-772d0fa`: schema 3, packed log format 1, no seat seqs beside
//!   snapshots;
//! - `tickroom-2d837ef`: the last build before game modes (schema 4, log
//!   format 2, protocol 1, snapshot format 1, no mode recorded per room).
//!
//! To write such a fixture with another build, from that build's own tree
//! (its client speaks its protocol): `FIXTURE_WRITE_WITH=/path/to/tickroom
//! FIXTURE_NAME=tickroom-<rev> cargo nextest run --test e2e_fixture_db
//! --run-ignored all`, then copy the two files here.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;
use support::Server;
use tickroom_net::client::Client;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{Codec, Pos, RoomId, TeamId};

const NAME: &str = "tickroom-772d0fa";

fn fixture(name: &str, ext: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.{ext}"))
}

fn ok(r: Result<Result<u64, tickroom_protocol::ErrorBody>, tickroom_net::client::ClientError>) {
    let r = r.expect("the connection holds");
    assert!(r.is_ok(), "{r:?}");
}

/// Plays the fixture's session against `ws`; returns what the clients saw
/// last (the piece moved, its place, the chat line).
async fn play(ws: &str) -> serde_json::Value {
    let board = RoomId::from("fx-board");
    let mut a = Client::connect(ws, Codec::Json).await.unwrap();
    let joined = a.join(&board, "ada", Some(TeamId(0))).await.unwrap();
    let mut b = Client::connect(ws, Codec::Postcard).await.unwrap();
    b.join(&board, "bo", Some(TeamId(1))).await.unwrap();
    let mine = |team: u8| {
        support::board(&joined.state)
            .pieces
            .iter()
            .find(|p| p.team == Some(TeamId(team)))
            .map(|p| p.id)
            .unwrap()
    };
    let (pa, pb) = (mine(0), mine(1));
    ok(a.intent(Intent::TakeLock { piece: pa }).await);
    for (x, y) in [(100, 100), (120, 140), (160, 180)] {
        ok(a.intent(Intent::MovePiece {
            piece: pa,
            to: Pos::new(x, y),
        })
        .await);
    }
    ok(a.intent(Intent::SaveFormation {
        name: "wedge".into(),
        key: "k1".into(),
    })
    .await);
    ok(a.intent(Intent::MovePiece {
        piece: pa,
        to: Pos::new(300, 310),
    })
    .await);
    ok(a.intent(Intent::ApplyFormation {
        name: "wedge".into(),
    })
    .await);
    ok(a.intent(Intent::ReleaseLock { piece: pa }).await);
    ok(b.intent(Intent::RollDice {
        notation: "2d6+1".into(),
    })
    .await);
    ok(b.intent(Intent::Chat {
        text: "hello from the fixture".into(),
    })
    .await);
    ok(a.intent(Intent::StartMatch {}).await);
    ok(b.intent(Intent::TakeLock { piece: pb }).await);
    ok(b.intent(Intent::MovePiece {
        piece: pb,
        to: Pos::new(700, 720),
    })
    .await);

    let private = RoomId::from("fx-private");
    let mut c = Client::connect(ws, Codec::Json).await.unwrap();
    c.create_room(Some(private.clone()), support::small_room(), true)
        .await
        .unwrap();
    c.join(&private, "cy", None).await.unwrap();
    ok(c.intent(Intent::Chat {
        text: "private words".into(),
    })
    .await);
    ok(c.intent(Intent::RollDice {
        notation: "1d20".into(),
    })
    .await);
    serde_json::json!({
        "rooms": ["fx-board", "fx-private"],
        "piece": pa.0,
        "at": [160, 180],
        "locked_piece": pb.0,
        "locked_at": [700, 720],
        "chat": "hello from the fixture",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a fixture with another build: FIXTURE_WRITE_WITH=<binary>"]
async fn write_a_fixture_database_with_another_build() {
    let bin = PathBuf::from(std::env::var("FIXTURE_WRITE_WITH").expect("FIXTURE_WRITE_WITH"));
    let name = std::env::var("FIXTURE_NAME").unwrap_or_else(|_| NAME.into());
    let data = support::fresh_data_dir();
    let mut server = Server::start_binary(&bin, data.clone(), &[], |c| c);
    server.keep_data = true;
    let seen = play(&server.ws).await;
    // Committed (one commit interval), then killed: recovery has a tail.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill9();
    let db = data.join("tickroom.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    std::fs::create_dir_all(fixture(&name, "db").parent().unwrap()).unwrap();
    std::fs::copy(&db, fixture(&name, "db")).unwrap();
    std::fs::write(
        fixture(&name, "json"),
        serde_json::to_string_pretty(&seen).unwrap(),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_an_earlier_build_opens_recovers_and_replays() {
    opens_recovers_and_replays(NAME).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_last_build_before_modes_opens_recovers_and_replays() {
    opens_recovers_and_replays("tickroom-2d837ef").await;
}

async fn opens_recovers_and_replays(name: &str) {
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name, "json")).unwrap()).unwrap();
    let data = support::fresh_data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture(name, "db"), data.join("tickroom.db")).unwrap();
    let mut server = Server::start_in(data.clone(), &[], |c| c);
    let recovered = &server.recovered["recovered"];
    assert_eq!(recovered["rooms"], 2, "{recovered}");
    assert_eq!(recovered["failed"], serde_json::json!([]), "{recovered}");
    assert_eq!(recovered["damaged"], serde_json::json!([]), "{recovered}");

    let mut q = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = q
        .join(&RoomId::from("fx-board"), "quinn", None)
        .await
        .unwrap();
    let at = |id: u64| {
        support::board(&joined.state)
            .pieces
            .iter()
            .find(|p| u64::from(p.id.0) == id)
            .map(|p| serde_json::json!([p.pos.x, p.pos.y]))
            .unwrap()
    };
    assert_eq!(
        at(seen["piece"].as_u64().unwrap()),
        seen["at"],
        "the applied formation"
    );
    assert_eq!(
        at(seen["locked_piece"].as_u64().unwrap()),
        seen["locked_at"]
    );
    assert!(
        support::board(&joined.state)
            .chat
            .iter()
            .any(|l| l.text == seen["chat"]),
        "{:?}",
        support::board(&joined.state).chat
    );
    assert_eq!(
        support::board(&joined.state).formations,
        vec!["wedge".to_string()]
    );
    // Stored before modes: board rooms of version 1, and so recorded.
    assert_eq!(joined.config.mode, "board");
    let (status, text) = support::http_get(&server.http, "/api/v1/history").await;
    assert_eq!(status, 200, "{text}");
    let history: serde_json::Value = serde_json::from_str(&text).unwrap();
    for room in history["rooms"].as_array().unwrap() {
        assert_eq!(
            (room["mode"].as_str(), room["mode_version"].as_u64()),
            (Some("board"), Some(1))
        );
    }
    drop(q);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.terminate(Duration::from_secs(20)).is_some());
    // Replay from creation checks every hash the earlier build stored, then
    // what this build logged after it; export turns it into a scenario that
    // runs.
    for room in ["fx-board", "fx-private"] {
        let text = support::replay(&server.db_path(), room);
        let report: serde_json::Value = text
            .lines()
            .find(|l| l.starts_with("{\"replay\""))
            .and_then(|l| serde_json::from_str(l).ok())
            .expect("a replay line");
        assert!(
            report["replay"]["hashes_checked"].as_u64() > Some(0),
            "{text}"
        );
        support::export_and_run(&server.db_path(), room);
    }
}
