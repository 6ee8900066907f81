//! End-to-end: cluster mode against a real Redis. Nodes register with a
//! time to live and show up in every node's `GET /api/v1/nodes`; a killed
//! node leaves within its TTL, a stopped one at once, a restarted one comes
//! back under the same id; a node that loses Redis keeps serving its rooms,
//! says so in `/ready`, answers `CLUSTER_UNAVAILABLE` for cluster calls,
//! and rejoins when Redis returns.
//!
//! Uses `REDIS_URL` (default `redis://127.0.0.1:6379`) with a key prefix of
//! its own; the outage test runs a `redis-server` of its own on a free port.

mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::cluster::*;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ErrorCode, PieceId, Pos};

#[tokio::test]
async fn nodes_register_leave_when_killed_or_stopped_and_come_back_under_their_id() {
    let url = redis_url();
    let prefix = prefix("nodes");
    let mut a = node(&url, &prefix, &[]);
    let mut b = node(&url, &prefix, &[]);
    let mut c = node(&url, &prefix, &[]);
    let ids = [node_id(&a), node_id(&b), node_id(&c)];
    let mut all = ids.to_vec();
    all.sort();

    // Every node lists all three, each with its addresses and modes.
    for s in [&a, &b, &c] {
        let (listed, body) = nodes_until(s, Duration::from_secs(10), |l| l.len() == 3).await;
        assert_eq!(listed, all, "{body}");
        assert_eq!(body["cluster"], true);
        for n in body["nodes"].as_array().unwrap() {
            let owner = [&a, &b, &c][ids.iter().position(|i| n["id"] == **i).unwrap()];
            assert_eq!(n["ws"], owner.ws.as_str(), "{n}");
            let quic = owner.quic.as_ref().map(|q| q.addr.to_string());
            assert_eq!(n["quic"].as_str(), quic.as_deref(), "{n}");
            let modes: Vec<&str> = n["modes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["name"].as_str())
                .collect();
            assert!(
                modes.contains(&"board") && modes.contains(&"tabletop"),
                "{n}"
            );
            let left = n["expires_in_ms"].as_i64().unwrap();
            assert!(0 < left && left <= 1000, "{n}");
        }
    }

    // Load travels with the record.
    let _player = support::first_player(&a.ws, "busy", "ann").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = json(&b, "/api/v1/nodes").await;
        let mine = body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == ids[0].as_str())
            .cloned()
            .unwrap();
        if mine["rooms"] == 1 && mine["members"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "a's load never showed: {mine}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kill -9: gone once its record expires (TTL 1 s), not before it stops
    // renewing.
    let killed = Instant::now();
    c.kill9();
    let (listed, body) = nodes_until(&a, Duration::from_secs(5), |l| l.len() == 2).await;
    assert!(!listed.contains(&ids[2]), "{body}");
    let took = killed.elapsed();
    // Its last renewal came before the kill, so its record expires within
    // the TTL; the rest is this test's polling on a busy machine.
    assert!(
        took <= Duration::from_millis(1000 + 1000),
        "a killed node left after {took:?}, its TTL is 1 s"
    );

    // A graceful stop leaves at once.
    b.terminate(Duration::from_secs(10));
    let (_, listed) = json(&a, "/api/v1/nodes").await;
    let left: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(left, [ids[0].as_str()], "a stopped node deregisters");

    // A restart on the same data is the same node.
    c.keep_data = true;
    let c2 = Server::start_in(c.data_dir.clone(), &node_env(&url, &prefix), |cmd| cmd);
    assert_eq!(node_id(&c2), ids[2]);
    let (listed, _) = nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    assert!(listed.contains(&ids[2]));
    a.terminate(Duration::from_secs(10));
}

#[tokio::test]
async fn a_node_that_loses_redis_keeps_its_rooms_says_why_and_rejoins() {
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let prefix = prefix("outage");
    let server = node(&redis.url(), &prefix, &[]);
    let id = node_id(&server);
    let (listed, _) = nodes_until(&server, Duration::from_secs(10), |l| l.len() == 1).await;
    assert_eq!(listed, std::slice::from_ref(&id));
    let body = ready_until(&server, "ok").await;
    assert_eq!(body["cluster"]["node"], id.as_str());

    let mut player = support::first_player(&server.ws, "steady", "ann").await;
    let piece = PieceId(0);
    assert!(
        player
            .intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );

    redis.stop();
    let body = ready_until(&server, "degraded").await;
    let (status, _) = ready(&server).await;
    assert_eq!(
        status, 200,
        "Redis down degrades the cluster, not the node: {body}"
    );
    assert_eq!(body["ready"], true, "{body}");
    assert!(
        body["cluster"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    let (status, err) = json(&server, "/api/v1/nodes").await;
    assert_eq!(status, 503, "{err}");
    assert_eq!(err["code"], "CLUSTER_UNAVAILABLE", "{err}");
    // The room keeps ticking and applying moves.
    for x in 1..4 {
        let moved = player
            .intent(Intent::MovePiece {
                piece,
                to: Pos::new(x * 10, 10),
            })
            .await
            .unwrap();
        assert!(moved.is_ok(), "{moved:?}");
    }

    // Redis back on the same port: the node re-registers by itself.
    let _redis = OwnRedis::start(port);
    ready_until(&server, "ok").await;
    let (listed, _) = nodes_until(&server, Duration::from_secs(10), |l| l.len() == 1).await;
    assert_eq!(listed, [id]);
}

#[tokio::test]
async fn a_single_node_needs_no_redis() {
    let server = Server::start(&[]);
    let (status, body) = json(&server, "/api/v1/nodes").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"cluster": false, "nodes": []}));
    let (_, body) = ready(&server).await;
    assert_eq!(body["cluster"], serde_json::json!({"enabled": false}));
    assert!(!server.data_dir.join("node.id").exists());
}

/// A Redis that accepts connections and never answers (hung, or a black
/// hole in the network): the node starts and serves, and its probes answer
/// at once, saying the cluster is degraded, while its calls to Redis wait
/// out their timeouts.
#[tokio::test]
async fn a_redis_that_never_answers_does_not_hold_up_the_probes() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", hole.local_addr().unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in hole.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let server = node(
        &url,
        &prefix("hole"),
        &[("TICKROOM_CLUSTER_REDIS_TIMEOUT_MS", "3000".into())],
    );
    // Through the first connect attempts (each may wait up to the 3 s
    // timeout), every probe answers at once.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let asked = Instant::now();
        let (status, body) = ready(&server).await;
        let took = asked.elapsed();
        assert!(
            took < Duration::from_millis(1000),
            "/ready took {took:?} while Redis hangs"
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["cluster"]["state"], "degraded", "{body}");
        assert!(body["cluster"]["reason"].is_string(), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A new room needs its lease: refused with a clear code, not held
    // forever.
    let refused = create_refused(&server, "alone").await;
    assert_eq!(refused.code, ErrorCode::ClusterUnavailable, "{refused:?}");
    assert!(!held.lock().unwrap().is_empty(), "the node did try Redis");
}

/// Creates `room` on `server` and expects a refusal.
async fn create_refused(server: &Server, room: &str) -> tickroom_protocol::ErrorBody {
    let mut c = tickroom_net::client::Client::connect(&server.ws, tickroom_protocol::Codec::Json)
        .await
        .unwrap();
    match c
        .create_room(Some(room.into()), support::small_room(), false)
        .await
    {
        Err(tickroom_net::client::ClientError::Refused(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A node started while Redis is down (a restart during an outage) starts
/// and says it is degraded; it opens no room it cannot lease (a clear
/// `CLUSTER_UNAVAILABLE`), and joins the cluster and serves when Redis
/// comes up, with nothing done by hand.
#[tokio::test]
async fn a_node_started_during_an_outage_joins_when_redis_comes_up() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = prefix("late");
    let server = node(&url, &prefix, &[]);
    let id = node_id(&server);
    let body = ready_until(&server, "degraded").await;
    assert_eq!(body["ready"], true, "{body}");
    let refused = create_refused(&server, "early").await;
    assert_eq!(refused.code, ErrorCode::ClusterUnavailable, "{refused:?}");

    let _redis = OwnRedis::start(port);
    ready_until(&server, "ok").await;
    let mut player = support::first_player(&server.ws, "early", "ann").await;
    assert!(
        player
            .intent(Intent::TakeLock { piece: PieceId(0) })
            .await
            .unwrap()
            .is_ok()
    );
    let (listed, body) = nodes_until(&server, Duration::from_secs(10), |l| l.len() == 1).await;
    assert_eq!(listed, std::slice::from_ref(&id), "{body}");
    // The record carries the load as of its last renewal: within a few
    // renewals (a fifth of the 1 s TTL each) it shows the room.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut body = body;
    while body["nodes"][0]["rooms"] != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        body = json(&server, "/api/v1/nodes").await.1;
    }
    assert_eq!(body["nodes"][0]["rooms"], 1, "{body}");
}
