//! End-to-end: the store fails under a live room and the server says so
//! instead of losing anything. A second connection holds the database with
//! `BEGIN EXCLUSIVE`: the store thread first waits on the lock (the room's
//! writes pile up: STORE_BEHIND), then parks writes in its bounded buffer
//! (degraded: formation saves get STORE_UNAVAILABLE, `/ready` answers 503),
//! then the buffer is full and every mutation gets STORE_UNAVAILABLE. The
//! room keeps ticking throughout. When the lock goes, the buffer is
//! committed, `/ready` is 200 again, and every move the server acknowledged
//! is in the log. Also: a room whose snapshot nears the size cap refuses new
//! members with ROOM_TOO_LARGE and keeps serving the ones it has.

mod support;

use std::time::{Duration, Instant};
use support::{Server, http_get};
use tickroom_net::client::{Client, ClientError};
use tickroom_persistence::Reader;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{Codec, ErrorCode, PieceId, Pos, RoomConfig, RoomId, ServerMessage};

const FAULT_ENV: &[(&str, &str)] = &[
    ("TICKROOM_NET_RATE_MOVES_PER_S", "100000"),
    ("TICKROOM_NET_RATE_ACTIONS_PER_10S", "100000"),
    ("TICKROOM_NET_ABUSE_LIMIT", "1000000"),
    ("TICKROOM_STORE_BUSY_TIMEOUT_MS", "1000"),
    ("TICKROOM_STORE_MAX_LAG_TICKS", "5"),
    ("TICKROOM_STORE_BREAKER_FAILURES", "1"),
    ("TICKROOM_STORE_RETRY_BASE_MS", "50"),
    ("TICKROOM_STORE_RETRY_MAX_MS", "300"),
    ("TICKROOM_STORE_BUFFER_MAX_BYTES", "4096"),
];

async fn ready(server: &Server) -> (u16, serde_json::Value) {
    let (status, body) = http_get(&server.http, "/ready").await;
    (status, serde_json::from_str(&body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_refuses_mutations_reports_degraded_and_loses_nothing() {
    // Without a dead-letter file, writes wait in memory only, so the
    // refusal comes once the small buffer is full.
    let mut env = FAULT_ENV.to_vec();
    env.push(("TICKROOM_STORE_DEAD_LETTER", "off"));
    let mut server = Server::start(&env);
    server.keep_data = true;
    let room = RoomId::from("faulty");
    let mut c = support::first_player(&server.ws, room.as_str(), "p").await;
    let piece = PieceId(0);
    assert!(c.intent(Intent::TakeLock { piece }).await.unwrap().is_ok());
    let mut acked_moves = 0u64;
    let mut n = 0;
    let mut move_once = async |c: &mut Client, acked: &mut u64| {
        n += 1;
        let to = Pos::new(n % 900 + 1, n % 500 + 1);
        let r = c.intent(Intent::MovePiece { piece, to }).await.unwrap();
        if r.is_ok() {
            *acked += 1;
        }
        r.err()
    };
    for _ in 0..5 {
        assert_eq!(move_once(&mut c, &mut acked_moves).await, None);
    }
    let (status, body) = ready(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"]["state"], "ok");
    let threads = body["tick_threads"]
        .as_array()
        .expect("tick threads reported");
    assert!(
        !threads.is_empty() && threads.iter().all(|t| t["answering"] == true),
        "{body}"
    );

    // The fault.
    let (release, locker) = support::hold_lock(server.db_path());
    let mut behind = None;
    let mut unavailable = None;
    let mut degraded_ready = None;
    let mut save_refused = None;
    let mut deltas_during_fault = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while behind.is_none() || unavailable.is_none() || save_refused.is_none() {
        assert!(
            Instant::now() < deadline,
            "faults not all seen: behind {behind:?}, unavailable {unavailable:?}, save {save_refused:?}"
        );
        if let Some(e) = move_once(&mut c, &mut acked_moves).await {
            match e.code {
                ErrorCode::StoreBehind => behind = Some(e),
                ErrorCode::StoreUnavailable => unavailable = Some(e),
                other => panic!("unexpected rejection {other}: {}", e.message),
            }
        }
        let (status, body) = ready(&server).await;
        if status == 503 && degraded_ready.is_none() {
            degraded_ready = Some(body.clone());
        }
        if body["store"]["state"] == "degraded" && save_refused.is_none() {
            let save = Intent::SaveFormation {
                name: "f".into(),
                key: "k1".into(),
            };
            if let Err(e) = c.intent(save).await.unwrap() {
                assert_eq!(e.code, ErrorCode::StoreUnavailable, "{}", e.message);
                save_refused = Some(e);
            }
        }
        while let Ok(m) = c.recv_timeout(Duration::from_millis(1)).await {
            if matches!(m, ServerMessage::Delta(_)) {
                deltas_during_fault += 1;
            }
        }
    }
    let behind = behind.unwrap();
    assert!(behind.details.contains_key("lag_ticks"), "{behind:?}");
    let degraded = degraded_ready.expect("/ready answered 503 during the fault");
    assert_eq!(degraded["ready"], false);
    assert!(degraded["store"]["last_error"].is_string(), "{degraded}");
    assert!(
        deltas_during_fault > 0,
        "the room kept ticking and applying moves during the fault"
    );

    // The fault clears: the buffer is committed and mutations go through.
    release.send(()).unwrap();
    locker.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the store did not recover");
        let moved = move_once(&mut c, &mut acked_moves).await;
        let (status, body) = ready(&server).await;
        if moved.is_none() && status == 200 {
            assert_eq!(body["store"]["state"], "ok");
            assert_eq!(body["store"]["breaker"], "closed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let save = Intent::SaveFormation {
        name: "f".into(),
        key: "k2".into(),
    };
    assert!(
        c.intent(save).await.unwrap().is_ok(),
        "durable saves work again"
    );
    assert!(server.terminate(Duration::from_secs(10)).is_some());

    // Nothing acknowledged was lost: every applied move is logged, and the
    // log replays with every stored hash.
    let r = Reader::open(&server.db_path()).unwrap();
    let mut logged_moves = 0u64;
    r.for_each_input::<tickroom_persistence::StoreError>(room.as_str(), 0, u64::MAX, |_, row| {
        if row.kind == "move_piece" && row.code.is_none() {
            logged_moves += 1;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(logged_moves, acked_moves);
    let db = server.db_path();
    support::replay(&db, room.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_near_its_snapshot_cap_refuses_new_members_and_keeps_serving() {
    let server = Server::start(&[
        ("TICKROOM_STORE_SNAPSHOT_MAX_BYTES", "4096"),
        ("TICKROOM_STORE_SNAPSHOT_EVERY_INPUTS", "1"),
    ]);
    let room = RoomId::from("crowded");
    let big = RoomConfig {
        max_players: 200,
        teams: 0,
        max_name_chars: 64,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: 100,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    let mut host = Client::connect(&server.ws, Codec::Json).await.unwrap();
    host.create_room(Some(room.clone()), big, false)
        .await
        .unwrap();
    host.join(&room, "host", None).await.unwrap();
    let mut members = Vec::new();
    let refused = loop {
        assert!(members.len() < 150, "never refused");
        let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
        let name = format!("member-{:0>50}", members.len());
        match c.join(&room, &name, None).await {
            Ok(_) => members.push(c),
            Err(e) => break e,
        }
    };
    let ClientError::Refused(refused) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(refused.code, ErrorCode::RoomTooLarge, "{refused:?}");
    assert!(refused.details.contains_key("snapshot_max_bytes"));
    assert!(members.len() > 3, "the room grew before it refused");
    // The members it has are still served.
    let piece = PieceId(0);
    assert!(
        host.intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );
    let to = Pos::new(10, 10);
    assert!(
        host.intent(Intent::MovePiece { piece, to })
            .await
            .unwrap()
            .is_ok()
    );
}

/// The store is locked while a room plays, so the room's writes wait in the
/// dead-letter file, and the server stops with the lock still held. The
/// next start (the store healthy again) brings the room back with every
/// acknowledged move: the file is committed before the rooms are recovered,
/// so the room resumes after its newest tick instead of re-running ticks the
/// log already holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_left_in_the_dead_letter_file_come_back_with_their_room_after_a_restart() {
    let data = support::fresh_data_dir();
    let dead = data.join("dead.letter");
    let dead_path = dead.display().to_string();
    let mut env = FAULT_ENV.to_vec();
    env.push(("TICKROOM_STORE_DEAD_LETTER", &dead_path));
    let mut server = Server::start_in(data.clone(), &env, |c| c);
    server.keep_data = true;
    let room = RoomId::from("parked");
    let mut c = support::first_player(&server.ws, room.as_str(), "p").await;
    let piece = PieceId(0);
    assert!(c.intent(Intent::TakeLock { piece }).await.unwrap().is_ok());
    let file_len = || std::fs::metadata(&dead).map_or(0, |m| m.len());

    let (release, locker) = support::hold_lock(server.db_path());
    let mut last_acked = None;
    let mut acked_while_spilling = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 1i32.. {
        assert!(
            Instant::now() < deadline,
            "the dead-letter file did not fill: {} bytes, {acked_while_spilling} moves acknowledged while spilling",
            file_len()
        );
        let to = Pos::new(n % 900 + 1, n % 500 + 1);
        match c.intent(Intent::MovePiece { piece, to }).await.unwrap() {
            Ok(_) => {
                last_acked = Some(to);
                if file_len() > 0 {
                    acked_while_spilling += 1;
                }
            }
            Err(e) => assert_eq!(e.code, ErrorCode::StoreBehind, "{}", e.message),
        }
        while c.recv_timeout(Duration::from_millis(1)).await.is_ok() {}
        if acked_while_spilling >= 20 {
            break;
        }
    }
    let last_acked = last_acked.expect("moves were acknowledged");
    assert!(
        server.terminate(Duration::from_secs(30)).is_some(),
        "the server stops while its store is locked"
    );
    release.send(()).unwrap();
    locker.join().unwrap();
    assert!(file_len() > 0, "the stopped run left writes in the file");

    let mut server = Server::start_in(data, &env, |c| c);
    let recovered = &server.recovered["recovered"];
    assert_eq!(recovered["rooms"], 1, "{recovered}");
    assert_eq!(recovered["failed"], serde_json::json!([]), "{recovered}");
    assert!(
        recovered["dead_letter_replayed"].as_u64() > Some(0),
        "{recovered}"
    );
    assert_eq!(file_len(), 0, "the replayed file is emptied");
    let mut q = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = q.join(&room, "q", None).await.unwrap();
    let at = support::board(&joined.state)
        .pieces
        .iter()
        .find(|p| p.id == piece)
        .map(|p| p.pos);
    assert_eq!(
        at,
        Some(last_acked),
        "the room came back with its last acknowledged move"
    );
    // The log holds one history: it replays from creation through the
    // parked ticks and the recovery snapshot with every stored hash.
    assert!(server.terminate(Duration::from_secs(10)).is_some());
    support::replay(&server.db_path(), room.as_str());
}
