//! End-to-end: a scripted session through the real server moves the
//! Prometheus counters it should, by the right amounts, and leaves the
//! others alone.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::Server;
use tickroom_net::client::{Client, ConnectOptions};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, ErrorCode, PieceId, Pos, RoomId};

type Scrape = BTreeMap<String, f64>;

async fn scrape(server: &Server) -> Scrape {
    support::scrape_metrics(server).await
}

fn get(s: &Scrape, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample `{key}` in {:?}", s.keys().collect::<Vec<_>>()))
}

fn delta(before: &Scrape, after: &Scrape, key: &str) -> f64 {
    get(after, key) - get(before, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_session_moves_the_counters_it_should() {
    let server = Server::start(&[]);
    let before = scrape(&server).await;
    assert_eq!(
        get(
            &before,
            r#"tickroom_connections{transport="ws",codec="json"}"#
        ),
        0.0
    );

    // Two clients, one per codec: 2 hellos, 1 create, 2 joins.
    let room = RoomId::from("metered");
    let mut a = support::first_player(&server.ws, room.as_str(), "a").await;
    let mut b = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    b.join(&room, "b", None).await.unwrap();
    // 6 intents: 5 applied, 1 LOCK_HELD.
    let p0 = PieceId(0);
    assert!(
        a.intent(Intent::TakeLock { piece: p0 })
            .await
            .unwrap()
            .is_ok()
    );
    let held = b.intent(Intent::TakeLock { piece: p0 }).await.unwrap();
    assert_eq!(held.unwrap_err().code, ErrorCode::LockHeld);
    for k in 0..3 {
        let to = Pos::new(10 + k, 20);
        assert!(
            a.intent(Intent::MovePiece { piece: p0, to })
                .await
                .unwrap()
                .is_ok()
        );
    }
    assert!(
        b.intent(Intent::TakeLock { piece: PieceId(1) })
            .await
            .unwrap()
            .is_ok()
    );
    // 3 cursor updates.
    for k in 0..3 {
        a.send(&ClientMessage::Cursor {
            pos: Pos::new(k, k),
        })
        .await
        .unwrap();
    }
    // A client speaking a protocol version from the future.
    let future = ConnectOptions {
        protocol_version: Some(99),
        ..Default::default()
    };
    assert!(
        Client::connect_with(&server.ws, Codec::Json, future)
            .await
            .is_err()
    );

    // The counters settle once the server has read everything.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = scrape(&server).await;
        let settled = delta(&before, &s, r#"tickroom_frames_in_total{transport="ws"}"#) >= 15.0
            && delta(&before, &s, "tickroom_version_mismatches_total") >= 1.0
            && get(&s, r#"tickroom_connections{transport="ws",codec="json"}"#) == 1.0;
        if settled {
            break s;
        }
        assert!(Instant::now() < deadline, "counters did not settle: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let d = |key: &str| delta(&before, &after, key);
    assert_eq!(
        get(
            &after,
            r#"tickroom_connections{transport="ws",codec="json"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            r#"tickroom_connections{transport="ws",codec="postcard"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &after,
            r#"tickroom_connections{transport="quic",codec="postcard"}"#
        ),
        0.0
    );
    // hello ×3 (the future one included), create, join ×2, 6 intents, 3 cursors.
    assert_eq!(d(r#"tickroom_frames_in_total{transport="ws"}"#), 15.0);
    assert!(d(r#"tickroom_bytes_in_total{transport="ws"}"#) > 15.0 * 10.0);
    assert_eq!(d(r#"tickroom_frames_in_total{transport="quic"}"#), 0.0);
    assert!(d(r#"tickroom_frames_out_total{transport="ws"}"#) >= 15.0);
    assert_eq!(
        d("tickroom_inputs_applied_total"),
        7.0,
        "2 joins, 2 locks, 3 moves"
    );
    assert_eq!(
        d(r#"tickroom_inputs_rejected_total{code="LOCK_HELD"}"#),
        1.0
    );
    assert_eq!(
        d(r#"tickroom_inputs_rejected_total{code="NOT_IN_ROOM"}"#),
        0.0
    );
    assert_eq!(d("tickroom_lock_conflicts_total"), 1.0);
    assert_eq!(d("tickroom_version_mismatches_total"), 1.0);
    assert_eq!(d("tickroom_rate_limited_total"), 0.0);
    assert_eq!(d("tickroom_cursor_updates_total"), 3.0);
    assert!(d("tickroom_cursor_updates_coalesced_total") <= 2.0);
    assert_eq!(d("tickroom_slow_consumer_disconnects_total"), 0.0);
    assert_eq!(get(&after, r#"tickroom_rooms{phase="setup"}"#), 1.0);
    assert_eq!(get(&after, "tickroom_members"), 2.0);
    assert!(d("tickroom_tick_duration_seconds_count") > 0.0);
    assert_eq!(
        get(
            &after,
            r#"tickroom_tick_duration_seconds_bucket{le="+Inf"}"#
        ),
        get(&after, "tickroom_tick_duration_seconds_count")
    );
    assert!(d("tickroom_store_commits_total") > 0.0);
    assert_eq!(get(&after, "tickroom_store_degraded"), 0.0);

    // A resume: the seat comes back, the counter says so.
    let token = a.welcome.resume_token.clone();
    drop(a);
    let options = ConnectOptions {
        resume: Some(token),
        ..Default::default()
    };
    let back = Client::connect_with(&server.ws, Codec::Json, options)
        .await
        .unwrap();
    assert!(back.resumed.is_some());
    let resumed = scrape(&server).await;
    assert_eq!(
        delta(&after, &resumed, r#"tickroom_resumes_total{result="ok"}"#),
        1.0
    );
    assert_eq!(
        delta(
            &after,
            &resumed,
            r#"tickroom_resumes_total{result="failed"}"#
        ),
        0.0
    );

    // Everything sent was read: the outbound queues settle at zero bytes
    // (a counter that leaked on closed connections would not).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let queued = get(&scrape(&server).await, "tickroom_outbound_queued_bytes");
        assert!(queued >= 0.0, "{queued}");
        if queued == 0.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{queued} bytes stay queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
