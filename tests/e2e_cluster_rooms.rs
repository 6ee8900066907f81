//! End-to-end: the room directory. Every room runs on exactly one node,
//! under that node's lease: a request for it on another node is answered
//! `ROOM_ELSEWHERE` with the owner's addresses (and the client library
//! follows it there); a node paused past its lease finds its rooms taken
//! and stops them without applying or writing anything more; a Redis
//! restarted mid-play (losing every key) leaves each room with the one
//! owner it had.

mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::cluster::*;
use tickroom_net::client::{Client, ClientError, ConnectOptions, Elsewhere};
use tickroom_net::reconnecting::{Backoff, Event, ReconnectingClient};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, ErrorCode, PieceId, Pos, RoomId, ServerMessage};

async fn connect(server: &Server) -> Client {
    Client::connect(&server.ws, Codec::Json).await.unwrap()
}

/// The refusal of a join of `room` on `server`.
async fn join_refused(server: &Server, room: &str) -> tickroom_protocol::ErrorBody {
    let mut c = connect(server).await;
    match c.join(&RoomId::from(room), "visitor", None).await {
        Err(ClientError::Refused(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_room_lives_on_one_node_and_a_join_elsewhere_is_redirected_there() {
    let url = redis_url();
    let prefix = prefix("directory");
    let a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let c = node(&url, &prefix, &[]);
    let ids: Vec<String> = [&a, &b, &c].iter().map(|s| node_id(s)).collect();
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 3).await;

    let mut ann = support::first_player(&a.ws, "table", "ann").await;
    assert_eq!(
        owner_in_redis(&url, &prefix, "table").await.as_deref(),
        Some(ids[0].as_str())
    );

    // On the other nodes, the room is a's: joins and creates say where.
    for other in [&b, &c] {
        let e = join_refused(other, "table").await;
        assert_eq!(e.code, ErrorCode::RoomElsewhere, "{e:?}");
        let to = Elsewhere::of(&e).unwrap();
        assert_eq!(to.node, ids[0]);
        assert_eq!(to.ws, a.ws, "the owner's WebSocket address");
        let mut creator = connect(other).await;
        match creator
            .create_room(Some("table".into()), support::small_room(), false)
            .await
        {
            Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::RoomElsewhere),
            other => panic!("a second node created the room: {other:?}"),
        }
    }

    // The client library follows the redirect: bob asks c and sits in a's room.
    let mut bob = ReconnectingClient::connect(
        &c.ws,
        Codec::Json,
        ConnectOptions::default(),
        Backoff::default(),
    )
    .await
    .unwrap();
    let seq = bob
        .request(|seq| ClientMessage::JoinRoom {
            seq,
            room: "table".into(),
            name: "bob".into(),
            team: None,
        })
        .await
        .unwrap();
    let mut redirected = None;
    let joined = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match bob.next_event().await.unwrap() {
                Event::Redirected { node } => redirected = Some(node),
                Event::Message(ServerMessage::Joined { seq: s, member, .. }) if s == Some(seq) => {
                    return member;
                }
                Event::Resolved { resolution, .. } => panic!("the join resolved as {resolution:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("bob joined");
    assert_eq!(redirected.as_deref(), Some(ids[0].as_str()));
    // ann, on a, sees bob arrive: one room, on one node.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        if let Ok(ServerMessage::Delta(d)) = ann.recv_timeout(Duration::from_secs(5)).await {
            seen = d
                .events
                .iter()
                .any(|e| format!("{e:?}").contains(&format!("{joined:?}")));
        }
    }
    assert!(seen, "ann saw bob ({joined:?}) join her room on a");
    // Every node's list (the cluster's) shows one room, on a, with both
    // (within a renewal period).
    for server in [&a, &b, &c] {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let (_, rooms) = json(server, "/api/v1/rooms").await;
            let table: Vec<&serde_json::Value> = rooms["rooms"]
                .as_array()
                .map(|r| r.iter().filter(|r| r["room"] == "table").collect())
                .unwrap_or_default();
            if table.len() == 1 && table[0]["members"] == 2 {
                assert_eq!(table[0]["node"], ids[0].as_str(), "{rooms}");
                break;
            }
            assert!(Instant::now() < deadline, "{rooms}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // No other node holds a copy: asked for the room, they point to a.
    for other in [&b, &c] {
        let (status, body) = json(other, "/api/v1/rooms/table").await;
        assert_eq!(status, 421, "{body}");
        assert_eq!(body["code"], "ROOM_ELSEWHERE", "{body}");
        assert_eq!(body["details"]["node"], ids[0].as_str(), "{body}");
    }
}

/// A node frozen (SIGSTOP) past its lease's TTL: another node takes the
/// room meanwhile. When the frozen node runs again it applies nothing of
/// what its client sent during the freeze and logs nothing more of the
/// room: it stops the room and tells the member where it went.
#[tokio::test]
async fn a_node_paused_past_its_lease_stops_its_rooms_and_writes_nothing() {
    let url = redis_url();
    let prefix = prefix("paused");
    let a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let b_id = node_id(&b);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let mut ann = support::first_player(&a.ws, "frozen", "ann").await;
    let piece = PieceId(0);
    assert!(
        ann.intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );
    let before = ann
        .intent(Intent::MovePiece {
            piece,
            to: Pos::new(10, 10),
        })
        .await
        .unwrap();
    assert!(before.is_ok(), "{before:?}");

    let pid = a.child.id().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    // Past the 1 s lease: b takes the room.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut bob = connect(&b).await;
    bob.join(&RoomId::from("frozen"), "bob", None)
        .await
        .expect("b took the room over once a's lease ran out");
    assert_eq!(
        owner_in_redis(&url, &prefix, "frozen").await.as_deref(),
        Some(b_id.as_str())
    );
    // What ann sends meanwhile waits in a's socket.
    let mut frozen_seqs = Vec::new();
    for x in 0..5 {
        let seq = ann.next_seq();
        let msg = ClientMessage::intent(
            seq,
            Intent::MovePiece {
                piece,
                to: Pos::new(20 + x, 20),
            },
        );
        ann.send(&msg).await.unwrap();
        frozen_seqs.push(seq);
    }
    signal("-CONT");

    // a tells ann the room is elsewhere, and acknowledges none of it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut told = None;
    while told.is_none() && Instant::now() < deadline {
        match ann.recv_timeout(Duration::from_secs(5)).await {
            Ok(ServerMessage::Error { code, details, .. }) => told = Some((code, details)),
            Ok(ServerMessage::Ack { seq }) => {
                assert!(
                    !frozen_seqs.contains(&seq),
                    "a applied {seq} after losing the room"
                )
            }
            Ok(ServerMessage::Delta(d)) => {
                let acked: Vec<u64> = ann.acknowledged_by(&d).collect();
                assert!(
                    acked.iter().all(|s| !frozen_seqs.contains(s)),
                    "a applied {acked:?} after losing the room"
                );
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let (code, details) = told.expect("ann was told the room left a");
    assert_eq!(code, ErrorCode::RoomElsewhere);
    assert_eq!(
        details.get("node"),
        Some(&tickroom_protocol::DetailValue::Text(b_id.clone()))
    );
    // a's store holds nothing of the moves sent during the freeze.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, at_last) = json(&a, "/api/v1/history/frozen").await;
    assert_eq!(status, 200, "{at_last}");
    let state: tickroom_protocol::RoomState =
        serde_json::from_value(at_last["state"].clone()).unwrap();
    let pos = support::board(&state)
        .pieces
        .iter()
        .find(|p| p.id == piece)
        .map(|p| p.pos);
    assert_eq!(
        pos,
        Some(Pos::new(10, 10)),
        "a's store ends at the last move before the freeze"
    );
}

/// Redis restarted in the middle of play, losing every key: the owner
/// takes its lease back and keeps the room; another node asked for it
/// afterwards redirects to the owner instead of opening a second copy.
#[tokio::test]
async fn a_redis_restart_leaves_every_room_with_its_one_owner() {
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let url = redis.url();
    let prefix = prefix("restart");
    let a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let a_id = node_id(&a);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let mut ann = support::first_player(&a.ws, "steady", "ann").await;
    let piece = PieceId(0);
    assert!(
        ann.intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );

    redis.stop();
    ready_until(&a, "degraded").await;
    // Play goes on while Redis is down.
    for x in 1..4 {
        let moved = ann
            .intent(Intent::MovePiece {
                piece,
                to: Pos::new(x * 10, 10),
            })
            .await
            .unwrap();
        assert!(moved.is_ok(), "{moved:?}");
    }
    // b cannot settle who owns the room: a clear refusal, no second copy.
    let e = join_refused(&b, "steady").await;
    assert_eq!(e.code, ErrorCode::ClusterUnavailable, "{e:?}");

    let _redis = OwnRedis::start(port);
    ready_until(&a, "ok").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while owner_in_redis(&url, &prefix, "steady").await.as_deref() != Some(a_id.as_str()) {
        assert!(Instant::now() < deadline, "a never took its lease back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = join_refused(&b, "steady").await;
    assert_eq!(e.code, ErrorCode::RoomElsewhere, "{e:?}");
    assert_eq!(Elsewhere::of(&e).unwrap().node, a_id);
    let moved = ann
        .intent(Intent::MovePiece {
            piece,
            to: Pos::new(99, 10),
        })
        .await
        .unwrap();
    assert!(moved.is_ok(), "the room still plays on a: {moved:?}");
}

/// Joins `room` on `server`, retrying while the room is still another
/// node's (a dead node's lease runs out within its TTL).
async fn join_when_free(
    server: &Server,
    room: &str,
    name: &str,
) -> (Client, tickroom_net::client::Joined) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = connect(server).await;
        match c.join(&RoomId::from(room), name, None).await {
            Ok(joined) => return (c, joined),
            Err(ClientError::Refused(e)) if e.code == ErrorCode::RoomElsewhere => {
                assert!(Instant::now() < deadline, "the room never came free: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A node killed with SIGKILL: once its lease runs out, another node asked
/// for the room rebuilds it from the replica in Redis to the state hash
/// the dead node had at that tick, with every acknowledged move; the dead
/// node, restarted on its data, does not bring the room back.
#[tokio::test]
async fn a_killed_nodes_room_fails_over_with_its_state_hash_and_every_acked_move() {
    let url = redis_url();
    let prefix = prefix("failover");
    let mut a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let b_id = node_id(&b);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let mut ann = support::first_player(&a.ws, "phoenix", "ann").await;
    // A room nobody will ask for after the kill.
    let _sleeper = support::first_player(&a.ws, "sleeper", "sam").await;
    let piece = PieceId(0);
    assert!(
        ann.intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );
    for x in 1..=20 {
        let moved = ann
            .intent(Intent::MovePiece {
                piece,
                to: Pos::new(x * 5, 7),
            })
            .await
            .unwrap();
        assert!(moved.is_ok(), "{moved:?}");
    }
    // Past a few replication intervals: every acknowledged move is in Redis.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.keep_data = true;
    let a_dir = a.data_dir.clone();
    a.kill9();
    let killed = Instant::now();

    // The live node takes the dead node's rooms over before anyone asks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while owner_in_redis(&url, &prefix, "sleeper").await.as_deref() != Some(b_id.as_str()) {
        assert!(Instant::now() < deadline, "nobody took the sleeper over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the sleeper was taken over {:?} after the kill",
        killed.elapsed()
    );
    let (mut bob, joined) = join_when_free(&b, "phoenix", "bob").await;
    let took = killed.elapsed();
    let pos = support::board(&joined.state)
        .pieces
        .iter()
        .find(|p| p.id == piece)
        .map(|p| p.pos);
    assert_eq!(
        pos,
        Some(Pos::new(100, 7)),
        "the last acknowledged move survived"
    );
    assert!(took < Duration::from_secs(3), "failed over in {took:?}");
    assert_eq!(
        owner_in_redis(&url, &prefix, "phoenix").await.as_deref(),
        Some(b_id.as_str())
    );
    // The room plays on at b.
    let moved = bob
        .intent(Intent::TakeLock { piece: PieceId(1) })
        .await
        .unwrap();
    assert!(moved.is_ok(), "{moved:?}");

    // b's log starts where it rebuilt the room; a's own log, replayed to
    // that tick, has the same state hash.
    let (_, stored) = json(&b, "/api/v1/history").await;
    let from = stored["rooms"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["room"] == "phoenix"))
        .map(|r| r["log_from_tick"].as_u64().unwrap())
        .expect("b stores the room");
    assert!(from > 0, "b's log starts at the rebuilt tick");
    let (_, at_b) = json(&b, &format!("/api/v1/history/phoenix?tick={from}")).await;
    let a2 = support::Server::start_in(a_dir, &node_env(&url, &prefix), |c| c);
    let (_, at_a) = json(&a2, &format!("/api/v1/history/phoenix?tick={from}")).await;
    assert_eq!(at_b["tick"], from);
    assert_eq!(at_a["tick"], from, "{at_a}");
    assert_eq!(
        at_a["state_hash"], at_b["state_hash"],
        "b rebuilt the room to the hash a had at tick {from}"
    );
    // The restarted node finds the room taken and does not serve it.
    let e = join_refused(&a2, "phoenix").await;
    assert_eq!(e.code, ErrorCode::RoomElsewhere, "{e:?}");
    assert_eq!(Elsewhere::of(&e).unwrap().node, b_id);
}

/// Waits for the event `want` picks, failing on a request that resolves
/// as anything but acked.
async fn until_event<T>(
    client: &mut ReconnectingClient,
    mut want: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let event = client
                .next_event()
                .await
                .expect("the client has not failed");
            if let Some(found) = want(&event) {
                return found;
            }
            if let Event::Resolved { seq, resolution } = &event {
                assert_eq!(
                    *resolution,
                    tickroom_net::reconnecting::Resolution::Acked,
                    "request {seq}"
                );
            }
        }
    })
    .await
    .expect("the event came")
}

/// The client library's side of a failover: its node is killed; it
/// reconnects through another node of the cluster, which finds its seat in
/// the seat directory, takes the room over once the dead node's lease runs
/// out, and resumes the seat (same member, same team), with the request
/// sent while it was cut off applied exactly once.
#[tokio::test]
async fn a_client_of_a_killed_node_resumes_its_seat_where_the_room_went() {
    use tickroom_net::reconnecting::{Resolution, Target};
    let url = redis_url();
    let prefix = prefix("resume");
    let mut a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let b_id = node_id(&b);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_attempts: 40,
        ..Backoff::default()
    };
    let mut ann =
        ReconnectingClient::connect(&a.ws, Codec::Json, ConnectOptions::default(), backoff)
            .await
            .unwrap()
            .with_alternates(vec![Target::WebSocket {
                url: b.ws.clone(),
                codec: Codec::Json,
            }]);
    ann.request(|seq| ClientMessage::CreateRoom {
        seq,
        room: Some("ember".into()),
        config: support::small_room(),
        private: false,
    })
    .await
    .unwrap();
    until_event(&mut ann, |e| {
        matches!(e, Event::Message(ServerMessage::RoomCreated { .. })).then_some(())
    })
    .await;
    ann.request(|seq| ClientMessage::JoinRoom {
        seq,
        room: "ember".into(),
        name: "ann".into(),
        team: None,
    })
    .await
    .unwrap();
    let member = until_event(&mut ann, |e| match e {
        Event::Message(ServerMessage::Joined { member, .. }) => Some(*member),
        _ => None,
    })
    .await;
    let piece = PieceId(0);
    let mut last = 0;
    for x in 0..=10 {
        let intent = match x {
            0 => Intent::TakeLock { piece },
            x => Intent::MovePiece {
                piece,
                to: Pos::new(x * 4, 9),
            },
        };
        let seq = ann
            .request(|seq| ClientMessage::intent(seq, intent))
            .await
            .unwrap();
        until_event(&mut ann, |e| match e {
            Event::Resolved {
                seq: s,
                resolution: Resolution::Acked,
            } if *s == seq => Some(()),
            _ => None,
        })
        .await;
        last = seq;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.kill9();
    let killed = Instant::now();
    // Sent while cut off: applied once, after the resume (the lock went
    // with the connection, as after any disconnect: it is taken again).
    let late = ann
        .request(|seq| ClientMessage::intent(seq, Intent::TakeLock { piece }))
        .await
        .unwrap();
    assert!(late > last);
    let resumed = until_event(&mut ann, |e| match e {
        Event::Resumed(joined) => Some(joined.clone()),
        _ => None,
    })
    .await;
    let took = killed.elapsed();
    assert_eq!(resumed.member, member, "the same seat");
    assert_eq!(resumed.room.as_str(), "ember");
    let pos = support::board(&resumed.state)
        .pieces
        .iter()
        .find(|p| p.id == piece)
        .map(|p| p.pos);
    assert_eq!(
        pos,
        Some(Pos::new(40, 9)),
        "every acknowledged move is there"
    );
    until_event(&mut ann, |e| match e {
        Event::Resolved {
            seq,
            resolution: Resolution::Acked,
        } if *seq == late => Some(()),
        _ => None,
    })
    .await;
    assert!(
        matches!(ann.target(), Target::WebSocket { url, .. } if *url == b.ws),
        "the client moved to b"
    );
    assert_eq!(
        owner_in_redis(&url, &prefix, "ember").await.as_deref(),
        Some(b_id.as_str())
    );
    // TTL 1 s: the lease runs out, then the seat comes back at b.
    assert!(
        took < Duration::from_secs(4),
        "resumed {took:?} after the kill"
    );
    eprintln!("resumed {took:?} after the kill");
}

/// Follows `GET /api/v1/lobby` on `server`, collecting what arrives.
fn follow_lobby(server: &Server) -> std::sync::Arc<std::sync::Mutex<String>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (addr, keep) = (server.http.clone(), seen.clone());
    tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "GET /api/v1/lobby HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
            keep.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    seen
}

/// `GET /api/v1/rooms` on any node lists every node's public rooms with
/// the node each is on, and the lobby channel tells followers on any node
/// of rooms appearing and changing anywhere.
#[tokio::test]
async fn the_room_list_and_the_lobby_span_the_cluster() {
    let url = redis_url();
    let prefix = prefix("lobby");
    let a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let (a_id, b_id) = (node_id(&a), node_id(&b));
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let lobby = follow_lobby(&b);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let _ann = support::first_player(&a.ws, "north", "ann").await;
    let _bob = support::first_player(&b.ws, "south", "bob").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let listed = loop {
        let (status, body) = json(&b, "/api/v1/rooms").await;
        assert_eq!(status, 200, "{body}");
        let rooms = body["rooms"].as_array().cloned().unwrap_or_default();
        if rooms.len() == 2 {
            break rooms;
        }
        assert!(
            Instant::now() < deadline,
            "the list never showed both: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed[0]["room"], "north");
    assert_eq!(listed[0]["node"], a_id.as_str());
    assert_eq!(listed[1]["room"], "south");
    assert_eq!(listed[1]["node"], b_id.as_str());
    let (_, page) = json(&a, "/api/v1/rooms?limit=1").await;
    assert_eq!(page["rooms"][0]["room"], "north");
    assert_eq!(page["next"], "north");
    let (_, rest) = json(&a, "/api/v1/rooms?limit=1&after=north").await;
    assert_eq!(rest["rooms"][0]["room"], "south", "{rest}");

    // A second member in north: a change the lobby on b hears of.
    let mut cid = Client::connect(&b.ws, Codec::Json).await.unwrap();
    let e = cid.join(&RoomId::from("north"), "cid", None).await;
    assert!(matches!(e, Err(ClientError::Refused(ref e)) if e.code == ErrorCode::RoomElsewhere));
    let mut cid = Client::connect(&a.ws, Codec::Json).await.unwrap();
    cid.join(&RoomId::from("north"), "cid", None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = lobby.lock().unwrap().clone();
        let appeared = |room: &str| {
            seen.lines().any(|l| {
                l.starts_with("data:")
                    && l.contains("\"appeared\"")
                    && l.contains(&format!("\"room\":\"{room}\""))
            })
        };
        let changed = seen.lines().any(|l| {
            l.contains("\"changed\"")
                && l.contains("\"room\":\"north\"")
                && l.contains("\"members\":2")
        });
        if appeared("north") && appeared("south") && changed {
            break;
        }
        assert!(Instant::now() < deadline, "the lobby said: {seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits on `c` for a frame `want` picks.
async fn until_frame<T>(c: &mut Client, mut want: impl FnMut(&ServerMessage) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv_timeout(left).await {
            Ok(m) => {
                if let Some(found) = want(&m) {
                    return found;
                }
            }
            Err(e) => panic!("no such frame: {e}"),
        }
    }
}

/// The operators act on the whole cluster from any node: a notice reaches
/// every room on every node, and a user is kicked out of their room on
/// whichever node runs it.
#[tokio::test]
async fn a_notice_reaches_every_node_and_a_user_is_kicked_wherever_they_sit() {
    const ADMIN: &str = "cluster-admin-token";
    let url = redis_url();
    let prefix = prefix("admin");
    let admin = [("TICKROOM_AUTH_ADMIN_TOKEN", ADMIN.to_owned())];
    let a = node(&url, &prefix, &admin);
    let b = node(&url, &prefix, &admin);
    let a_id = node_id(&a);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let mut ann = support::first_player(&a.ws, "hall", "ann").await;
    let mut bob = support::first_player(&b.ws, "yard", "bob").await;
    let auth = format!("Bearer {ADMIN}");
    let headers = [("authorization", auth.as_str())];
    // The channel subscriptions settle.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, body) = support::http(
        &b.http,
        "POST",
        "/api/v1/notice",
        &headers,
        r#"{"text":"maintenance soon","from":"ops"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for c in [&mut ann, &mut bob] {
        let (text, from) = until_frame(c, |m| match m {
            ServerMessage::Notice { text, from } => Some((text.clone(), from.clone())),
            _ => None,
        })
        .await;
        assert_eq!((text.as_str(), from.as_str()), ("maintenance soon", "ops"));
    }

    // ann sits on a; the kick is asked of b.
    let user = format!("anon-{}", ann.welcome.session);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = support::http(
        &b.http,
        "POST",
        &format!("/api/v1/users/{user}/kick"),
        &headers,
        r#"{"by":"ops"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["room"], "hall");
    assert_eq!(answer["node"], a_id.as_str());
    let code = until_frame(&mut ann, |m| match m {
        ServerMessage::Closing { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, ErrorCode::Kicked);
    let (status, body) = support::http(
        &b.http,
        "POST",
        "/api/v1/users/nobody-at-all/kick",
        &headers,
        "",
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

/// New connections from one IP are counted across the cluster: a burst
/// spread over two nodes gets no more than the cluster's rate (per second
/// window) in, the rest refused with 429 `RATE_LIMITED`, though each node
/// alone would let them all in.
#[tokio::test]
async fn new_connections_per_ip_are_limited_across_the_cluster() {
    let url = redis_url();
    let prefix = prefix("rate-conn");
    let env = [(
        "TICKROOM_CLUSTER_NEW_CONNECTIONS_PER_IP_PER_S",
        "8".to_owned(),
    )];
    let a = node(&url, &prefix, &env);
    let b = node(&url, &prefix, &env);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..24 {
        let server = if i % 2 == 0 { &a } else { &b };
        match Client::connect(&server.ws, Codec::Json).await {
            Ok(c) => accepted.push(c),
            Err(e) => {
                assert!(e.to_string().contains("429"), "{e}");
                refused += 1;
            }
        }
    }
    // The burst may straddle two one-second windows: at most 8 in each.
    assert!(accepted.len() <= 16, "{} accepted", accepted.len());
    assert!(refused >= 8, "{refused} refused");
}

/// Joins by one user are counted across the cluster, whichever node each
/// goes to.
#[tokio::test]
async fn joins_per_user_are_limited_across_the_cluster() {
    use tickroom_net::tokens::{JoinClaims, sign_join_token};
    let url = redis_url();
    let prefix = prefix("rate-join");
    let secret = "a-backend-secret-of-at-least-32-bytes";
    let env = [
        ("TICKROOM_CLUSTER_JOINS_PER_USER_PER_S", "3".to_owned()),
        ("TICKROOM_AUTH_JWT_SECRET", secret.to_owned()),
    ];
    let a = node(&url, &prefix, &env);
    let b = node(&url, &prefix, &env);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = sign_join_token(
        secret.as_bytes(),
        &JoinClaims {
            sub: "zoe".into(),
            name: None,
            role: None,
            exp,
        },
    );
    let options = ConnectOptions {
        token: Some(token),
        ..Default::default()
    };
    let mut clients = Vec::new();
    for i in 0..8 {
        let server = if i % 2 == 0 { &a } else { &b };
        clients.push(
            Client::connect_with(&server.ws, Codec::Json, options.clone())
                .await
                .unwrap(),
        );
    }
    let (mut joined, mut limited) = (0, 0);
    for (i, c) in clients.iter_mut().enumerate() {
        match c.join(&RoomId::from(format!("zoe-{i}")), "zoe", None).await {
            Ok(_) => joined += 1,
            Err(ClientError::Refused(e)) if e.code == ErrorCode::RateLimited => {
                assert!(e.details.contains_key("retry_after_ms"), "{e:?}");
                limited += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!((3..=6).contains(&joined), "{joined} joined");
    assert_eq!(joined + limited, 8);
}
