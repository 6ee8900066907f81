//! End-to-end: the reconnecting client against the real server.

mod support;

use std::time::Duration;
use support::Server;
use tickroom_net::client::ConnectOptions;
use tickroom_net::reconnecting::{
    Backoff, ClientState, Event, ReconnectingClient, Resolution, Target,
};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, MemberId, PieceId, RoomId, ServerMessage};

const WAIT: Duration = Duration::from_secs(10);

async fn next(c: &mut ReconnectingClient) -> Event {
    tokio::time::timeout(WAIT, c.next_event())
        .await
        .expect("an event in time")
        .expect("not failed")
}

/// Joins `room` as `name` and waits for the seat.
async fn join(c: &mut ReconnectingClient, room: &str, name: &str) -> MemberId {
    c.request(|seq| ClientMessage::JoinRoom {
        seq,
        room: RoomId::from(room),
        name: name.into(),
        team: None,
    })
    .await
    .unwrap();
    loop {
        if let Event::Message(ServerMessage::Joined { member, .. }) = next(c).await {
            return member;
        }
    }
}

fn fast() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        multiplier: 2.0,
        jitter: 0.2,
        max_attempts: 4,
    }
}

#[tokio::test]
async fn a_broken_websocket_resumes_and_every_request_resolves_exactly_once() {
    let server = Server::start(&[]);
    let target = Target::WebSocket {
        url: server.ws.clone(),
        codec: Codec::Postcard,
    };
    broken_connection_resumes(target).await;
}

#[tokio::test]
async fn a_broken_quic_connection_resumes_and_every_request_resolves_exactly_once() {
    let server = Server::start(&[]);
    broken_connection_resumes(Target::Quic(server.quic.clone().unwrap())).await;
}

async fn broken_connection_resumes(target: Target) {
    let mut c = ReconnectingClient::connect_to(target, ConnectOptions::default(), fast())
        .await
        .unwrap();
    let member = join(&mut c, "rc", "rita").await;
    let lock = c
        .request(|seq| ClientMessage::intent(seq, Intent::TakeLock { piece: PieceId(16) }))
        .await
        .unwrap();
    // Sent, then the link dies before its reply can arrive.
    let chat = c
        .request(|seq| {
            ClientMessage::intent(
                seq,
                Intent::Chat {
                    text: "before".into(),
                },
            )
        })
        .await
        .unwrap();
    c.drop_connection();
    // Sent while down: goes out after the resume.
    let later = c
        .request(|seq| {
            ClientMessage::intent(
                seq,
                Intent::Chat {
                    text: "after".into(),
                },
            )
        })
        .await
        .unwrap();

    let mut resolutions = std::collections::BTreeMap::new();
    let mut states = Vec::new();
    let mut resumed_as = None;
    while resolutions.len() < 3 || resumed_as.is_none() {
        match next(&mut c).await {
            Event::Resolved { seq, resolution } => {
                assert!(
                    resolutions.insert(seq, resolution).is_none(),
                    "seq {seq} resolved twice"
                );
            }
            Event::State(s) => states.push(s),
            Event::Resumed(j) => resumed_as = Some(j.member),
            _ => {}
        }
    }
    assert_eq!(resumed_as, Some(member), "the same seat");
    assert!(
        states.contains(&ClientState::Reconnecting { attempt: 1 }),
        "{states:?}"
    );
    assert_eq!(states.last(), Some(&ClientState::Connected), "{states:?}");
    // The lock's ack may have arrived before the break, or not: either way, once.
    assert!(
        matches!(
            resolutions[&lock],
            Resolution::Acked | Resolution::AppliedBeforeResume
        ),
        "{resolutions:?}"
    );
    assert_eq!(
        resolutions[&chat],
        Resolution::AppliedBeforeResume,
        "{resolutions:?}"
    );
    assert_eq!(resolutions[&later], Resolution::Acked, "{resolutions:?}");
}

#[tokio::test]
async fn without_a_server_the_client_fails_after_its_attempts() {
    let mut server = Server::start(&[]);
    let mut c =
        ReconnectingClient::connect(&server.ws, Codec::Json, ConnectOptions::default(), fast())
            .await
            .unwrap();
    server.terminate(Duration::from_secs(10));
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(WAIT, c.next_event()).await.unwrap() {
            Ok(Event::State(s)) => states.push(s),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(matches!(c.state(), ClientState::Failed(_)), "{states:?}");
    let attempts: Vec<_> = states
        .iter()
        .filter(|s| matches!(s, ClientState::Reconnecting { .. }))
        .collect();
    assert_eq!(attempts.len(), 4, "{states:?}");
}

/// Exactly once across a restart: a chat line and a dice roll are applied
/// (and committed), the link and then the server die before their replies
/// are read, and the client resumes on the restarted server. The resumed
/// `welcome` carries the seat's last applied seq (kept beside snapshots and
/// recovered from the log), so the client resolves both as applied instead
/// of sending them again: the log holds each once. Both after a kill -9 and
/// after a graceful stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_across_a_kill_are_applied_exactly_once() {
    in_flight_across_a_restart(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_across_a_graceful_restart_are_applied_exactly_once() {
    in_flight_across_a_restart(false).await;
}

async fn in_flight_across_a_restart(kill: bool) {
    let mut server = Server::start(&[]);
    server.keep_data = true;
    let data = server.data_dir.clone();
    let http = server.http.clone();
    let slow = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
        multiplier: 2.0,
        jitter: 0.2,
        max_attempts: 60,
    };
    let mut c =
        ReconnectingClient::connect(&server.ws, Codec::Json, ConnectOptions::default(), slow)
            .await
            .unwrap();
    let room = RoomId::from("once");
    let member = join(&mut c, room.as_str(), "olga").await;
    let chat = c
        .request(|seq| {
            ClientMessage::intent(
                seq,
                Intent::Chat {
                    text: "exactly once".into(),
                },
            )
        })
        .await
        .unwrap();
    let roll = c
        .request(|seq| {
            ClientMessage::intent(
                seq,
                Intent::RollDice {
                    notation: "2d6".into(),
                },
            )
        })
        .await
        .unwrap();
    // Applied and committed (the window is one commit interval), replies
    // unread; then the link and the server go.
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.drop_connection();
    if kill {
        server.kill9();
    } else {
        assert!(server.terminate(Duration::from_secs(20)).is_some());
    }
    drop(server);
    let mut server = Server::start_in(data, &[("TICKROOM_SERVER_HTTP", http.as_str())], |cmd| cmd);
    server.keep_data = false;

    let mut resolutions = std::collections::BTreeMap::new();
    let mut resumed_as = None;
    while resolutions.len() < 2 || resumed_as.is_none() {
        match tokio::time::timeout(Duration::from_secs(30), c.next_event())
            .await
            .expect("an event in time")
            .expect("not failed")
        {
            Event::Resolved { seq, resolution } => {
                assert!(
                    resolutions.insert(seq, resolution).is_none(),
                    "seq {seq} resolved twice"
                );
            }
            Event::Resumed(j) => resumed_as = Some(j.member),
            Event::SeatLost(e) => panic!("the seat was lost: {e:?}"),
            _ => {}
        }
    }
    assert_eq!(resumed_as, Some(member), "the same seat");
    for seq in [chat, roll] {
        assert_eq!(
            resolutions[&seq],
            Resolution::AppliedBeforeResume,
            "seq {seq}: {resolutions:?}"
        );
    }
    // Whatever the client sent after the resume is applied by now; the log
    // holds each request once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.terminate(Duration::from_secs(20)).is_some());
    let reader = tickroom_persistence::Reader::open(&server.db_path()).unwrap();
    let mut applied = std::collections::BTreeMap::<String, usize>::new();
    reader
        .for_each_input::<tickroom_persistence::StoreError>(room.as_str(), 0, u64::MAX, |_, row| {
            if row.code.is_none() && (row.kind == "chat" || row.kind == "roll_dice") {
                *applied.entry(row.kind).or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(applied.get("chat"), Some(&1), "{applied:?}");
    assert_eq!(applied.get("roll_dice"), Some(&1), "{applied:?}");
}
