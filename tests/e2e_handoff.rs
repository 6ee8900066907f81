//! End-to-end: handoff on deploy. A node stopped with SIGTERM (or drained
//! by the admin API) moves each of its rooms to another node: every
//! member's client (the client library) is told where, resumes there with
//! its seat, and keeps playing; every acknowledged move is in the room
//! afterwards, and the room's owner in Redis is the new node.

mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::cluster::*;
use tickroom_net::client::{Client, ConnectOptions};
use tickroom_net::reconnecting::{Backoff, Event, ReconnectingClient, Resolution, Target};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{
    ClientMessage, Codec, ErrorCode, MemberId, PieceId, Pos, RoomId, ServerMessage,
};

/// What one player saw.
struct Played {
    member: MemberId,
    resumed_as: Option<MemberId>,
    /// The last move acknowledged (x of the piece).
    last_acked_x: i32,
    /// The longest time between two acknowledgements.
    longest_gap: Duration,
    moved_to: Option<String>,
}

async fn next(client: &mut ReconnectingClient) -> Event {
    tokio::time::timeout(Duration::from_secs(10), client.next_event())
        .await
        .expect("an event within 10 s")
        .expect("the client has not failed")
}

/// Creates `room` on `ws`, sits in it and moves its piece, one move at a
/// time, until `stop`; follows the room wherever it goes.
async fn play(
    ws: String,
    alternates: Vec<String>,
    room: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Played {
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_attempts: 100,
        ..Backoff::default()
    };
    let mut c = ReconnectingClient::connect(&ws, Codec::Json, ConnectOptions::default(), backoff)
        .await
        .unwrap()
        .with_alternates(
            alternates
                .into_iter()
                .map(|url| Target::WebSocket {
                    url,
                    codec: Codec::Json,
                })
                .collect(),
        );
    c.request(|seq| ClientMessage::CreateRoom {
        seq,
        room: Some(room.into()),
        config: support::small_room(),
        private: false,
    })
    .await
    .unwrap();
    c.request(|seq| ClientMessage::JoinRoom {
        seq,
        room: room.into(),
        name: "p".into(),
        team: None,
    })
    .await
    .unwrap();
    let member = loop {
        if let Event::Message(ServerMessage::Joined { member, .. }) = next(&mut c).await {
            break member;
        }
    };
    let piece = PieceId(0);
    let mut played = Played {
        member,
        resumed_as: None,
        last_acked_x: 0,
        longest_gap: Duration::ZERO,
        moved_to: None,
    };
    let mut locked = false;
    let mut x = 0;
    let mut last_ack = Instant::now();
    while !*stop.borrow() {
        let (seq, moving) = if locked {
            x += 1;
            let to = Pos::new(x % 900, 11);
            let seq = c
                .request(|seq| ClientMessage::intent(seq, Intent::MovePiece { piece, to }))
                .await
                .unwrap();
            (seq, true)
        } else {
            let seq = c
                .request(|seq| ClientMessage::intent(seq, Intent::TakeLock { piece }))
                .await
                .unwrap();
            (seq, false)
        };
        loop {
            match next(&mut c).await {
                Event::Resolved { seq: s, resolution } if s == seq => {
                    match resolution {
                        Resolution::Acked | Resolution::AppliedBeforeResume => {
                            let now = Instant::now();
                            played.longest_gap = played.longest_gap.max(now - last_ack);
                            last_ack = now;
                            if moving {
                                played.last_acked_x = x % 900;
                            } else {
                                locked = true;
                            }
                        }
                        // The lock went with the old connection.
                        Resolution::Rejected(e) if e.code == ErrorCode::NotLockOwner => {
                            locked = false
                        }
                        other => panic!("request {seq} of {room}: {other:?}"),
                    }
                    break;
                }
                Event::Resumed(joined) => {
                    played.resumed_as = Some(joined.member);
                    locked = false;
                }
                Event::Redirected { node } => played.moved_to = Some(node),
                Event::SeatLost(e) => panic!("{room}: the seat was lost: {e:?}"),
                _ => {}
            }
        }
    }
    played
}

/// Where `room`'s piece is, as a fresh member of the room on `server` sees it.
async fn piece_x(server: &Server, room: &str) -> i32 {
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = c.join(&RoomId::from(room), "reader", None).await.unwrap();
    support::board(&joined.state)
        .pieces
        .iter()
        .find(|p| p.id == PieceId(0))
        .map(|p| p.pos.x)
        .unwrap()
}

#[tokio::test]
async fn sigterm_hands_every_room_to_another_node_and_every_client_resumes_there() {
    let url = redis_url();
    let prefix = prefix("handoff");
    let mut a = node(&url, &prefix, &[]);
    let b = node(&url, &prefix, &[]);
    let c = node(&url, &prefix, &[]);
    let ids = [node_id(&b), node_id(&c)];
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 3).await;

    let rooms = ["deploy-1", "deploy-2", "deploy-3", "deploy-4"];
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut players = Vec::new();
    for room in rooms {
        players.push(tokio::spawn(play(
            a.ws.clone(),
            vec![b.ws.clone(), c.ws.clone()],
            room,
            stop.clone(),
        )));
    }
    // Play a while on a, then stop it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let pid = a.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while a.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Play on at the new nodes, then stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop_tx.send(true).unwrap();
    for (room, player) in rooms.iter().zip(players) {
        let played = player.await.unwrap();
        assert_eq!(
            played.resumed_as,
            Some(played.member),
            "{room}: the same seat"
        );
        let moved_to = played.moved_to.clone().expect("told where the room went");
        assert!(ids.contains(&moved_to), "{room} went to {moved_to}");
        let owner = owner_in_redis(&url, &prefix, room).await;
        assert_eq!(owner.as_deref(), Some(moved_to.as_str()), "{room}");
        let server = if moved_to == ids[0] { &b } else { &c };
        assert_eq!(
            piece_x(server, room).await,
            played.last_acked_x,
            "{room}: the last acknowledged move is where the piece is"
        );
        eprintln!("{room}: longest gap between acks {:?}", played.longest_gap);
    }
    let stdout = a.stdout_lines();
    assert!(
        stdout
            .iter()
            .any(|l| l.contains("\"drained\"") && l.contains("\"handed\":4")),
        "a reported the handoff: {stdout:?}"
    );
}

/// The admin API drains a node that keeps running: its room moves, it opens
/// no room afterwards, and matchmaking places nothing there.
#[tokio::test]
async fn an_admin_drain_moves_the_rooms_and_the_node_opens_no_more() {
    const ADMIN: &str = "drain-admin-token";
    let url = redis_url();
    let prefix = prefix("drain");
    let admin = [("TICKROOM_AUTH_ADMIN_TOKEN", ADMIN.to_owned())];
    let a = node(&url, &prefix, &admin);
    let b = node(&url, &prefix, &admin);
    let b_id = node_id(&b);
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 2).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let player = tokio::spawn(play(a.ws.clone(), vec![b.ws.clone()], "drained-room", stop));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, body) = support::http(&a.http, "POST", "/api/v1/drain", &[], "").await;
    assert_eq!(status, 401, "{body}");
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = support::http(
        &a.http,
        "POST",
        "/api/v1/drain",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let drained: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(drained["rooms"], 1, "{drained}");
    assert_eq!(drained["handed"], 1, "{drained}");
    assert_eq!(drained["to"][&b_id], 1, "{drained}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(true).unwrap();
    let played = player.await.unwrap();
    assert_eq!(played.resumed_as, Some(played.member));
    assert_eq!(played.moved_to.as_deref(), Some(b_id.as_str()));
    assert_eq!(piece_x(&b, "drained-room").await, played.last_acked_x);

    // a opens no room now, and matchmaking sends everyone to b.
    let mut late = Client::connect(&a.ws, Codec::Json).await.unwrap();
    match late
        .create_room(Some("after-drain".into()), support::small_room(), false)
        .await
    {
        Err(tickroom_net::client::ClientError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::ShuttingDown, "{e:?}")
        }
        other => panic!("a drained node opened a room: {other:?}"),
    }
    for _ in 0..4 {
        let (status, body) = support::http(
            &a.http,
            "POST",
            "/api/v1/matchmake",
            &[],
            r#"{"mode":"board"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let m: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(m["node"], b_id.as_str(), "{m}");
    }
}
