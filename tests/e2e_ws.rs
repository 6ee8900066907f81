//! End-to-end over WebSocket: the real server binary, real clients.

mod support;

use std::time::Duration;
use support::Server;
use support::{Ev, ev};
use tickroom_net::client::{Client, ClientError, open_websocket};
use tickroom_protocol::board::Event as BoardEvent;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{
    ClientMessage, Codec, DetailValue, DomainEvent, ErrorCode, PieceId, Pos, RoomConfig, RoomId,
    ServerMessage, TeamId,
};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

/// The text frames a raw WebSocket receives until the server closes it
/// (within `WAIT`).
async fn texts_until_closed<S>(ws: &mut S) -> Vec<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use futures_util::StreamExt;
    let mut texts = Vec::new();
    let read = async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                texts.push(t.to_string());
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("closed in time");
    texts
}

fn room_config() -> RoomConfig {
    RoomConfig {
        teams: 2,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 2,
            neutral_pieces: 2,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    }
}

/// Reads until a delta containing an event that matches `want` arrives.
async fn delta_with(c: &mut Client, want: impl Fn(&Ev) -> bool) -> tickroom_protocol::Delta {
    loop {
        match c.recv_timeout(WAIT).await.expect("a delta in time") {
            ServerMessage::Delta(d) if d.events.iter().any(|e| want(&ev(&e.event))) => return d,
            _ => continue,
        }
    }
}

async fn join_move_and_contend(codec_a: Codec, codec_b: Codec) {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server.ws, codec_a).await.unwrap();
    let mut b = Client::connect(&server.ws, codec_b).await.unwrap();
    let room = a.create_room(None, room_config(), false).await.unwrap();
    let ja = a.join(&room, "alice", Some(TeamId(0))).await.unwrap();
    let jb = b.join(&room, "bob", Some(TeamId(0))).await.unwrap();
    assert_ne!(ja.member, jb.member);
    assert_eq!(jb.state.members.len(), 2, "bob's snapshot has both seats");

    // Both take piece 0 in the same tick: exactly one wins.
    let seq_a = a.next_seq();
    let seq_b = b.next_seq();
    a.send(&ClientMessage::intent(
        seq_a,
        Intent::TakeLock { piece: PieceId(0) },
    ))
    .await
    .unwrap();
    b.send(&ClientMessage::intent(
        seq_b,
        Intent::TakeLock { piece: PieceId(0) },
    ))
    .await
    .unwrap();
    let reply_a = reply_for(&mut a, seq_a).await;
    let reply_b = reply_for(&mut b, seq_b).await;
    let (winner, loser, loser_reply) = match (&reply_a, &reply_b) {
        (ServerMessage::Ack { .. }, r) => (&mut a, &mut b, r.clone()),
        (r, ServerMessage::Ack { .. }) => (&mut b, &mut a, r.clone()),
        other => panic!("no winner: {other:?}"),
    };
    match loser_reply {
        ServerMessage::Reject { code, .. } => assert_eq!(code, ErrorCode::LockHeld),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        winner
            .intent(Intent::MovePiece {
                piece: PieceId(0),
                to: Pos::new(40, 50)
            })
            .await
            .unwrap(),
        Ok(winner.next_seq() - 1)
    );
    let refused = loser
        .intent(Intent::MovePiece {
            piece: PieceId(0),
            to: Pos::new(1, 1),
        })
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().code, ErrorCode::LockHeld);
    // The loser sees the winner's move land, with its origin.
    let d = delta_with(
        loser,
        |e| matches!(e, Ev::Board(BoardEvent::PieceMoved { to, .. }) if *to == Pos::new(40, 50)),
    )
    .await;
    let moved = d
        .events
        .iter()
        .find(|e| matches!(ev(&e.event), Ev::Board(BoardEvent::PieceMoved { .. })))
        .unwrap();
    assert!(moved.origin.member.is_some() && moved.origin.seq.is_some());
}

/// The answer to `seq`: a reject, or the ack (an `ack` frame, or the delta
/// whose events carry the request's origin).
async fn reply_for(c: &mut Client, seq: u64) -> ServerMessage {
    c.reply_to(seq).await.unwrap()
}

#[tokio::test]
async fn join_move_and_contend_postcard() {
    join_move_and_contend(Codec::Postcard, Codec::Postcard).await;
}

#[tokio::test]
async fn join_move_and_contend_json() {
    join_move_and_contend(Codec::Json, Codec::Json).await;
}

#[tokio::test]
async fn mixed_codecs_share_a_room() {
    join_move_and_contend(Codec::Json, Codec::Postcard).await;
}

#[tokio::test]
async fn chat_dice_and_formations() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let mut b = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let room = RoomId::from("table-1");
    a.join(&room, "alice", Some(TeamId(0))).await.unwrap(); // created by its first join
    b.join(&room, "bob", Some(TeamId(1))).await.unwrap();

    assert!(
        a.intent(Intent::Chat {
            text: "hello bob".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    let d = delta_with(&mut b, |e| {
        matches!(e, Ev::Board(BoardEvent::ChatPosted { .. }))
    })
    .await;
    assert!(
        d.events.iter().any(
            |e| matches!(ev(&e.event), Ev::Board(BoardEvent::ChatPosted { text, .. }) if text == "hello bob")
        )
    );

    assert!(
        b.intent(Intent::RollDice {
            notation: "3d6+2".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    let d = delta_with(&mut a, |e| {
        matches!(e, Ev::Board(BoardEvent::DiceRolled { .. }))
    })
    .await;
    let total = d.events.iter().find_map(|e| match ev(&e.event) {
        Ev::Board(BoardEvent::DiceRolled { total, rolls, .. }) => Some((total, rolls.len())),
        _ => None,
    });
    let (total, dice) = total.unwrap();
    assert_eq!(dice, 3);
    assert!((5..=20).contains(&total), "{total}");
    let bad = b
        .intent(Intent::RollDice {
            notation: "0d6".into(),
        })
        .await
        .unwrap();
    assert_eq!(bad.unwrap_err().code, ErrorCode::InvalidArgument);

    let save = Intent::SaveFormation {
        name: "wedge".into(),
        key: "k1".into(),
    };
    assert!(a.intent(save.clone()).await.unwrap().is_ok());
    assert!(
        a.intent(save).await.unwrap().is_ok(),
        "a repeated key is acknowledged"
    );
    assert!(
        a.intent(Intent::ApplyFormation {
            name: "wedge".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    let foreign = b
        .intent(Intent::ApplyFormation {
            name: "wedge".into(),
        })
        .await
        .unwrap();
    assert_eq!(foreign.unwrap_err().code, ErrorCode::Forbidden);
}

#[tokio::test]
async fn a_protocol_version_mismatch_is_refused_and_closed() {
    let server = Server::start(&[]);
    let (mut ws, _) = open_websocket(&server.ws, &[Codec::Json.subprotocol()])
        .await
        .unwrap();
    use futures_util::SinkExt;
    ws.send(Message::Text(
        r#"{"hello":{"version":99,"token":null,"resume":null}}"#.into(),
    ))
    .await
    .unwrap();
    let texts = texts_until_closed(&mut ws).await;
    assert!(
        texts[0].contains("VERSION_MISMATCH") && texts[0].contains("\"min\":2"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("closing")), "{texts:?}");
}

#[tokio::test]
async fn an_unknown_subprotocol_is_refused_with_a_reason() {
    let server = Server::start(&[]);
    match open_websocket(&server.ws, &["chat.v2"]).await {
        Err(ClientError::Ws(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            assert_eq!(resp.status(), 400);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(
                body.contains("UNSUPPORTED_CODEC") && body.contains("tickroom.v1.json"),
                "{body}"
            );
        }
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
    // Offering several, one known: picked.
    let (_, picked) = open_websocket(&server.ws, &["chat.v2", "tickroom.v1.postcard"])
        .await
        .unwrap();
    assert_eq!(picked.as_deref(), Some("tickroom.v1.postcard"));
}

#[tokio::test]
async fn oversized_and_malformed_frames_get_coded_errors_and_the_connection_lives() {
    let server = Server::start(&[("TICKROOM_NET_MAX_FRAME_BYTES", "1024")]);
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let big = format!(
        r#"{{"intent":{{"seq":1,"intent":{{"chat":{{"text":"{}"}}}}}}}}"#,
        "x".repeat(2000)
    );
    c.send_raw(Message::Text(big.into())).await.unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, details, .. } => {
            assert_eq!(code, ErrorCode::MessageTooLarge);
            assert!(details.contains_key("max"));
        }
        other => panic!("{other:?}"),
    }
    c.send_raw(Message::Text("{not json".into())).await.unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Malformed),
        other => panic!("{other:?}"),
    }
    c.send_raw(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::UnsupportedCodec),
        other => panic!("{other:?}"),
    }
    c.send(&ClientMessage::Ping { client_time: 77 })
        .await
        .unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Pong { client_time, .. } => assert_eq!(client_time, 77),
        other => panic!("{other:?}"),
    }
}

/// A frame beyond the transport's hard cap (four times the frame limit, at
/// least 64 KiB) cannot be skipped, so it closes the connection; its error
/// still reports the frame's real length, as a frame just above the limit's does.
#[tokio::test]
async fn a_frame_beyond_the_hard_cap_reports_its_real_length_then_closes() {
    let server = Server::start(&[]);
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let chat = |n: usize| {
        format!(
            r#"{{"intent":{{"seq":1,"intent":{{"chat":{{"text":"{}"}}}}}}}}"#,
            "x".repeat(n)
        )
    };
    let just_above = chat(18_000);
    c.send_raw(Message::Text(just_above.clone().into()))
        .await
        .unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, details, .. } => {
            assert_eq!(code, ErrorCode::MessageTooLarge);
            assert_eq!(
                details.get("len"),
                Some(&DetailValue::Int(just_above.len() as i64))
            );
        }
        other => panic!("{other:?}"),
    }
    let far_above = chat(200_000);
    c.send_raw(Message::Text(far_above.clone().into()))
        .await
        .unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error {
            code,
            message,
            details,
        } => {
            assert_eq!(code, ErrorCode::MessageTooLarge);
            assert_eq!(
                details.get("len"),
                Some(&DetailValue::Int(far_above.len() as i64)),
                "{message}"
            );
            assert_eq!(details.get("max"), Some(&DetailValue::Int(16_384)));
            assert!(message.contains(&far_above.len().to_string()), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        support::closing_code(&mut c).await,
        Some(ErrorCode::MessageTooLarge)
    );
}

#[tokio::test]
async fn a_connection_without_hello_is_closed_after_the_handshake_timeout() {
    let server = Server::start(&[("TICKROOM_NET_HANDSHAKE_TIMEOUT_MS", "300")]);
    let (mut ws, _) = open_websocket(&server.ws, &[Codec::Json.subprotocol()])
        .await
        .unwrap();
    let texts = texts_until_closed(&mut ws).await;
    assert!(
        texts.iter().any(|t| t.contains("HANDSHAKE_TIMEOUT")),
        "{texts:?}"
    );
}

/// The server writes its own frames (tungstenite only reads): a WebSocket
/// ping gets its pong with the same payload, and a close gets a close.
#[tokio::test]
async fn websocket_pings_get_pongs_and_a_close_gets_a_close() {
    use futures_util::{SinkExt, StreamExt};
    let server = Server::start(&[]);
    let (mut ws, _) = open_websocket(&server.ws, &[Codec::Json.subprotocol()])
        .await
        .unwrap();
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(WAIT, async {
        while let Some(m) = ws.next().await {
            if let Message::Pong(p) = m.unwrap() {
                return p;
            }
        }
        panic!("closed before the pong");
    })
    .await
    .expect("a pong in time");
    assert_eq!(&pong[..], b"are you there");
    ws.send(Message::Close(None)).await.unwrap();
    let closed = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(_) = m {
                return true;
            }
        }
        false
    })
    .await
    .expect("answered in time");
    assert!(closed, "the server answers a close with a close");
}

#[tokio::test]
async fn graceful_shutdown_tells_clients_and_exits_zero() {
    let server = Server::start(&[]);
    let mut c = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    c.join(&RoomId::from("bye"), "alice", None).await.unwrap();
    let status = support::terminate_in_background(server);
    let closing = support::closing_code(&mut c).await;
    assert_eq!(closing, Some(ErrorCode::ShuttingDown));
    let (status, _server) = status.await.unwrap();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "exit 0 in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_on_both_transports_receive_every_delta_in_order() {
    const CLIENTS: usize = 200;
    const MOVES: u64 = 20;
    let server = Server::start(&[]);
    let room = RoomId::from("crowd");
    let mut host = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let config = RoomConfig {
        max_players: 256,
        teams: 0,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: 4,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    host.create_room(Some(room.clone()), config, false)
        .await
        .unwrap();
    let joined = host.join(&room, "host", None).await.unwrap();
    let mut watchers = Vec::new();
    let quic = server.quic.clone().expect("QUIC is on");
    for i in 0..CLIENTS - 1 {
        // A third each: WebSocket + postcard, WebSocket + JSON, QUIC.
        let mut c = match i % 3 {
            0 => Client::connect(&server.ws, Codec::Postcard).await.unwrap(),
            1 => Client::connect(&server.ws, Codec::Json).await.unwrap(),
            _ => Client::connect_quic(&quic, Default::default())
                .await
                .unwrap(),
        };
        let j = c.join(&room, &format!("p{i}"), None).await.unwrap();
        watchers.push((c, j.state.version));
    }
    assert!(
        host.intent(Intent::TakeLock { piece: PieceId(0) })
            .await
            .unwrap()
            .is_ok()
    );
    for m in 0..MOVES {
        let r = host
            .intent(Intent::MovePiece {
                piece: PieceId(0),
                to: Pos::new(m as i32, 1),
            })
            .await
            .unwrap();
        assert!(r.is_ok());
    }
    let _ = joined;
    let last = Pos::new(MOVES as i32 - 1, 1);
    let tasks: Vec<_> = watchers
        .into_iter()
        .map(|(mut c, mut version)| {
            tokio::spawn(async move {
                loop {
                    match c.recv_timeout(Duration::from_secs(20)).await.expect("every delta arrives") {
                        ServerMessage::Delta(d) => {
                            assert_eq!(d.from_version, version, "a gap in room versions");
                            version = d.to_version;
                            if d.events.iter().any(|e| matches!(ev(&e.event), Ev::Board(BoardEvent::PieceMoved { to, .. }) if to == last)) {
                                return version;
                            }
                        }
                        _ => continue,
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("no watcher saw a gap");
    }
}

#[tokio::test]
async fn private_rooms_are_not_listed_but_can_be_joined_by_id() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let open = a
        .create_room(Some(RoomId::from("open-table")), room_config(), false)
        .await
        .unwrap();
    let secret = a
        .create_room(Some(RoomId::from("secret-table")), room_config(), true)
        .await
        .unwrap();
    let (status, body) = support::http_get(&server.http, "/api/v1/rooms").await;
    assert_eq!(status, 200);
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = listing["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![open.as_str()], "{body}");
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    assert!(b.join(&secret, "bob", None).await.is_ok(), "joined by id");
    let taken = a
        .create_room(Some(secret.clone()), room_config(), false)
        .await
        .unwrap_err();
    assert!(matches!(taken, ClientError::Refused(e) if e.code == ErrorCode::RoomExists));
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_heartbeat_timeout_and_its_seat_waits() {
    let server = Server::start(&[("TICKROOM_NET_HEARTBEAT_TIMEOUT_MS", "600")]);
    let room = RoomId::from("quiet");
    let mut watcher = Client::connect(&server.ws, Codec::Json).await.unwrap();
    watcher.join(&room, "watcher", None).await.unwrap();
    // A client that joins and then never reads or writes again (so it never
    // answers the server's pings).
    let mut quiet = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let seat = quiet.join(&room, "quiet", None).await.unwrap();
    let mut saw_disconnect = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !saw_disconnect && tokio::time::Instant::now() < deadline {
        // The watcher keeps reading, so it keeps answering pings and stays.
        if let Ok(ServerMessage::Delta(d)) = watcher.recv_timeout(Duration::from_millis(200)).await
        {
            saw_disconnect = d.events.iter().any(|e| {
                ev(&e.event)
                    == Ev::Room(DomainEvent::MemberDisconnected {
                        member: seat.member,
                    })
            });
        }
    }
    assert!(
        saw_disconnect,
        "the silent client was dropped and its seat entered its grace period"
    );
    drop(quiet);
}

#[tokio::test]
async fn websocket_over_tls_uses_the_same_certificate_as_quic() {
    let server = Server::start(&[("TICKROOM_SERVER_WSS", "true")]);
    assert!(server.ws.starts_with("wss://"), "{}", server.ws);
    let cert = server.quic.as_ref().unwrap().cert_der.clone();
    let url = server.ws.replace("127.0.0.1", "localhost");
    let options = tickroom_net::client::ConnectOptions {
        tls_root_der: Some(cert),
        ..Default::default()
    };
    let mut c = Client::connect_with(&url, Codec::Json, options)
        .await
        .unwrap();
    c.join(&RoomId::from("tls-room"), "alice", None)
        .await
        .unwrap();
    assert!(
        c.intent(Intent::Chat {
            text: "over TLS".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    // Without trusting the certificate, the handshake fails.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();

    let bad = tickroom_net::client::ConnectOptions {
        tls_root_der: Some(other.cert.der().to_vec()),
        ..Default::default()
    };
    assert!(Client::connect_with(&url, Codec::Json, bad).await.is_err());
}

#[tokio::test]
async fn a_join_whose_connection_closes_before_the_tick_leaves_no_ghost_seat() {
    let server = Server::start(&[("TICKROOM_ROOMS_GRACE_MS", "300")]);
    let room = RoomId::from("ghost");
    let mut watcher = Client::connect(&server.ws, Codec::Json).await.unwrap();
    watcher.join(&room, "watcher", None).await.unwrap();
    let mut ghost = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let seq = ghost.next_seq();
    ghost
        .send(&ClientMessage::JoinRoom {
            seq,
            room: room.clone(),
            name: "ghost".into(),
            team: None,
        })
        .await
        .unwrap();
    drop(ghost); // before the tick that applies the join
    let (mut joined, mut disconnected, mut left) = (None, false, false);
    while !left {
        if let ServerMessage::Delta(d) = watcher
            .recv_timeout(WAIT)
            .await
            .expect("the seat goes through its grace period")
        {
            for e in d.events {
                match ev(&e.event) {
                    Ev::Room(DomainEvent::MemberJoined { member }) if member.name == "ghost" => {
                        joined = Some(member.id)
                    }
                    Ev::Room(DomainEvent::MemberDisconnected { member }) => {
                        disconnected |= Some(member) == joined
                    }
                    Ev::Room(DomainEvent::MemberLeft { member, .. }) => {
                        left |= Some(member) == joined
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(joined.is_some() && disconnected && left);
}

#[tokio::test]
async fn a_second_join_in_the_same_tick_does_not_unseat_the_first() {
    let server = Server::start(&[]);
    let room = RoomId::from("twice");
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let (s1, s2) = (c.next_seq(), c.next_seq());
    for seq in [s1, s2] {
        c.send(&ClientMessage::JoinRoom {
            seq,
            room: room.clone(),
            name: "twice".into(),
            team: None,
        })
        .await
        .unwrap();
    }
    let (mut joined, mut refused) = (false, None);
    while !joined || refused.is_none() {
        match c.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Joined { seq: Some(s), .. } if s == s1 => joined = true,
            ServerMessage::Reject { seq, code, .. } if seq == s2 => refused = Some(code),
            _ => {}
        }
    }
    assert_eq!(refused, Some(ErrorCode::AlreadyInRoom));
    assert!(
        c.intent(Intent::Chat {
            text: "still seated".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
}

#[tokio::test]
async fn empty_rooms_are_unloaded_and_free_their_place() {
    let server = Server::start(&[
        ("TICKROOM_ROOMS_MAX_ROOMS", "1"),
        ("TICKROOM_ROOMS_EMPTY_ROOM_TTL_MS", "200"),
    ]);
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    c.create_room(Some(RoomId::from("first")), room_config(), false)
        .await
        .unwrap();
    let full = c
        .create_room(Some(RoomId::from("second")), room_config(), false)
        .await
        .unwrap_err();
    assert!(matches!(full, ClientError::Refused(e) if e.code == ErrorCode::TooManyRooms));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match c
            .create_room(Some(RoomId::from("second")), room_config(), false)
            .await
        {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the empty room was never unloaded: {e}"),
        }
    }
}

/// Reads until a delta arrives.
async fn next_delta(c: &mut Client) -> tickroom_protocol::Delta {
    loop {
        if let ServerMessage::Delta(d) = c.recv_timeout(WAIT).await.expect("a delta in time") {
            return d;
        }
    }
}

/// `create_room` from a connection that sits in a room is refused with
/// ALREADY_IN_ROOM, and no room is created.
#[tokio::test]
async fn create_room_from_a_seated_connection_is_refused() {
    let server = Server::start(&[]);
    let mut a = support::first_player(&server.ws, "seated", "ann").await;
    match a
        .create_room(Some(RoomId::from("second")), room_config(), false)
        .await
    {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::AlreadyInRoom),
        other => panic!("{other:?}"),
    }
    // Nothing was created: the id is still free.
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    b.create_room(Some(RoomId::from("second")), room_config(), false)
        .await
        .expect("the id is still free");
    // After leaving, the connection may create rooms again.
    let seq = a.next_seq();
    assert!(matches!(
        a.request(seq, &ClientMessage::Leave { seq }).await.unwrap(),
        ServerMessage::Ack { .. }
    ));
    a.create_room(Some(RoomId::from("third")), room_config(), false)
        .await
        .expect("created after leaving");
}

/// Request seqs strictly increase within a session: a repeated or lower seq
/// is refused with SEQ_NOT_INCREASING and the room does not change.
#[tokio::test]
async fn a_seq_that_does_not_increase_is_refused_and_changes_nothing() {
    let server = Server::start(&[]);
    let mut c = support::first_player(&server.ws, "seqs", "ann").await;
    let piece = PieceId(0);
    let send = |seq, intent| ClientMessage::intent(seq, intent);
    c.send(&send(21, Intent::TakeLock { piece })).await.unwrap();
    assert_eq!(reply_for(&mut c, 21).await, ServerMessage::Ack { seq: 21 });
    let taken = next_delta(&mut c).await;

    let to = Pos::new(10, 10);
    c.send(&send(21, Intent::MovePiece { piece, to }))
        .await
        .unwrap();
    match reply_for(&mut c, 21).await {
        ServerMessage::Reject { code, details, .. } => {
            assert_eq!(code, ErrorCode::SeqNotIncreasing);
            assert_eq!(details.get("seq"), Some(&DetailValue::Int(21)));
            assert_eq!(details.get("last"), Some(&DetailValue::Int(21)));
        }
        other => panic!("{other:?}"),
    }
    c.send(&send(15, Intent::MovePiece { piece, to }))
        .await
        .unwrap();
    match reply_for(&mut c, 15).await {
        ServerMessage::Reject { code, .. } => assert_eq!(code, ErrorCode::SeqNotIncreasing),
        other => panic!("{other:?}"),
    }
    // Nothing happened in between: the next change follows the lock directly.
    c.send(&send(22, Intent::Chat { text: "hi".into() }))
        .await
        .unwrap();
    assert_eq!(reply_for(&mut c, 22).await, ServerMessage::Ack { seq: 22 });
    let next = next_delta(&mut c).await;
    assert_eq!(next.from_version, taken.to_version, "{next:?}");
    assert_eq!(next.events.len(), 1, "{next:?}");
    assert_eq!(next.events[0].origin.seq, Some(22));
}

/// A request that decodes but has a string over the decoder's limit is
/// answered with a reject carrying its seq (the one reply it is owed): the
/// room's mode decodes the intent and checks it before any of its code runs.
#[tokio::test]
async fn a_request_over_a_field_limit_is_rejected_with_its_seq() {
    let server = Server::start(&[]);
    for codec in Codec::ALL {
        let mut c = Client::connect(&server.ws, codec).await.unwrap();
        c.join(&RoomId::from("limits"), &format!("{codec:?}"), None)
            .await
            .unwrap();
        let seq = c.next_seq();
        c.send(&ClientMessage::intent(
            seq,
            Intent::Chat {
                text: "x".repeat(3000),
            },
        ))
        .await
        .unwrap();
        match c.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Reject {
                seq: s,
                code,
                details,
                ..
            } => {
                assert_eq!((s, code), (seq, ErrorCode::FieldTooLong), "{codec:?}");
                assert_eq!(details.get("len"), Some(&DetailValue::Int(3000)));
            }
            other => panic!("{codec:?}: {other:?}"),
        }
    }
}

/// What docs/protocol.md says about the handshake: anything before `hello`
/// gets `error {UNAUTHORIZED}`, `closing` and the close; a second `hello` gets
/// `error {INVALID_ARGUMENT}` and the session lives; `join_room` on an
/// unknown id creates the room with the server's default config.
#[tokio::test]
async fn the_handshake_rules_of_the_protocol_document() {
    let server = Server::start(&[]);
    let (mut ws, _) = open_websocket(&server.ws, &[Codec::Json.subprotocol()])
        .await
        .unwrap();
    use futures_util::SinkExt;
    ws.send(Message::Text(r#"{"ping":{"client_time":1}}"#.into()))
        .await
        .unwrap();
    let texts = texts_until_closed(&mut ws).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with(r#"{"error":{"code":"UNAUTHORIZED""#),
        "{texts:?}"
    );
    assert!(
        texts[1].starts_with(r#"{"closing":{"code":"UNAUTHORIZED""#),
        "{texts:?}"
    );

    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    c.send(&ClientMessage::Hello {
        version: 1,
        token: None,
        resume: None,
    })
    .await
    .unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidArgument),
        other => panic!("{other:?}"),
    }
    let joined = c
        .join(&RoomId::from("never-created"), "ann", None)
        .await
        .unwrap();
    // The server's default config: the default mode (the board) with its
    // defaults filled in.
    assert_eq!(
        joined.config,
        RoomConfig {
            mode: "board".into(),
            game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config::default()),
            ..RoomConfig::default()
        }
    );
    assert_eq!(joined.state.members.len(), 1);
}

/// Protocol 2: an applied move is acknowledged by the delta that carries
/// its origin, and the tick's cursors ride in that delta, so a member
/// moving and dragging every tick gets one frame a tick, never an `ack` or
/// a `cursors` frame besides; a durable save still gets its `ack` after the
/// commit, and its event does not carry the seq (the delta must not ack it
/// early).
#[tokio::test]
async fn the_delta_acknowledges_applied_requests_and_durable_ones_get_their_ack() {
    let server = Server::start(&[("TICKROOM_NET_RATE_MOVES_PER_S", "1000")]);
    for codec in Codec::ALL {
        let mut c = Client::connect(&server.ws, codec).await.unwrap();
        let room = RoomId::from(format!("acks-{codec:?}").as_str());
        c.create_room(Some(room.clone()), room_config(), false)
            .await
            .unwrap();
        let me = c.join(&room, "mover", Some(TeamId(0))).await.unwrap();
        assert!(
            c.intent(Intent::TakeLock { piece: PieceId(0) })
                .await
                .unwrap()
                .is_ok()
        );
        let mut frames = Vec::new();
        let mut moves = Vec::new();
        for i in 0..20 {
            let seq = c.next_seq();
            moves.push(seq);
            c.send(&ClientMessage::Cursor {
                pos: Pos::new(10 + i, 10),
            })
            .await
            .unwrap();
            c.send(&ClientMessage::intent(
                seq,
                Intent::MovePiece {
                    piece: PieceId(0),
                    to: Pos::new(10 + i, 10),
                },
            ))
            .await
            .unwrap();
            // One tick's answer, then whatever else arrives before the next.
            frames.push(c.recv_timeout(WAIT).await.unwrap());
            while let Ok(m) = c.recv_timeout(Duration::from_millis(20)).await {
                frames.push(m);
            }
        }
        assert!(
            !frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Ack { .. })),
            "{codec:?}: no ack frame for a move the delta acknowledges: {frames:?}"
        );
        // Each cursor comes at most once (two in one tick are coalesced to
        // the later): in the delta of its tick, or alone in a `cursors`
        // frame only when it landed in a tick of its own (the cursor and
        // the move straddled a tick boundary, which is rare).
        let mine = |m: &ServerMessage| -> Vec<i32> {
            let of_me = m.cursors().iter().filter(|c| c.member == me.member);
            of_me.map(|c| c.pos.x).collect()
        };
        let in_deltas: Vec<i32> = frames
            .iter()
            .filter(|m| matches!(m, ServerMessage::Delta(_)))
            .flat_map(mine)
            .collect();
        let alone: Vec<i32> = frames
            .iter()
            .filter(|m| matches!(m, ServerMessage::Cursors { .. }))
            .flat_map(mine)
            .collect();
        let mut every = [in_deltas.clone(), alone.clone()].concat();
        every.sort_unstable();
        let relayed = every.len();
        every.dedup();
        assert_eq!(every.len(), relayed, "{codec:?}: a cursor relayed twice");
        assert_eq!(
            every.last(),
            Some(&29),
            "{codec:?}: the last cursor relayed"
        );
        assert!(
            in_deltas.len() >= 15,
            "{codec:?}: the cursors ride in the deltas: {in_deltas:?}, alone: {alone:?}"
        );
        frames.retain(|m| !matches!(m, ServerMessage::Cursors { .. }));
        let mut acked: Vec<u64> = frames
            .iter()
            .flat_map(|m| match m {
                ServerMessage::Delta(d) => c.acknowledged_by(d).collect(),
                _ => Vec::new(),
            })
            .filter(|s| moves.contains(s))
            .collect();
        acked.sort_unstable();
        assert_eq!(acked, moves, "{codec:?}: every move acknowledged once");
        assert!(
            frames.iter().all(|m| matches!(m, ServerMessage::Delta(_))),
            "{codec:?}: one delta a tick and nothing else: {frames:?}"
        );

        let seq = c.next_seq();
        c.send(&ClientMessage::intent(
            seq,
            Intent::SaveFormation {
                name: "f".into(),
                key: format!("k{codec:?}"),
            },
        ))
        .await
        .unwrap();
        let mut saw_ack = false;
        while !saw_ack {
            match c.recv_timeout(WAIT).await.unwrap() {
                ServerMessage::Ack { seq: s } => saw_ack = s == seq,
                ServerMessage::Delta(d) => {
                    for e in &d.events {
                        if e.origin.member == Some(me.member) {
                            assert_eq!(e.origin.seq, None, "a durable save's event carries no seq");
                        }
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
