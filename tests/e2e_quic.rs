//! End-to-end over QUIC: the real server binary, real QUIC clients.

mod support;

use std::time::Duration;
use support::Server;
use support::{Ev, ev};
use tickroom_net::client::{Client, ClientError, ConnectOptions};
use tickroom_protocol::board::Event as BoardEvent;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{
    ClientMessage, Codec, ErrorCode, PieceId, Pos, RoomId, ServerMessage, TeamId,
};

const WAIT: Duration = Duration::from_secs(5);

/// The server closed the connection itself, with `reason`.
fn assert_closed_as(closed: quinn::ConnectionError, reason: &str) {
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(&close.reason[..], reason.as_bytes())
        }
        other => panic!("{other:?}"),
    }
}

async fn quic(server: &Server) -> Client {
    let target = server.quic.as_ref().expect("QUIC is on");
    Client::connect_quic(target, ConnectOptions::default())
        .await
        .expect("QUIC connects")
}

#[tokio::test]
async fn join_move_and_contend_over_quic_next_to_websocket() {
    let server = Server::start(&[]);
    let mut a = quic(&server).await;
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let room = RoomId::from("quic-room");
    a.join(&room, "alice", Some(TeamId(0))).await.unwrap();
    b.join(&room, "bob", Some(TeamId(0))).await.unwrap();
    assert!(
        a.intent(Intent::TakeLock { piece: PieceId(0) })
            .await
            .unwrap()
            .is_ok()
    );
    let refused = b
        .intent(Intent::TakeLock { piece: PieceId(0) })
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().code, ErrorCode::LockHeld);
    assert!(
        a.intent(Intent::MovePiece {
            piece: PieceId(0),
            to: Pos::new(9, 9)
        })
        .await
        .unwrap()
        .is_ok()
    );
    loop {
        if let ServerMessage::Delta(d) = b.recv_timeout(WAIT).await.unwrap()
            && d.events.iter().any(
                |e| matches!(ev(&e.event), Ev::Board(BoardEvent::PieceMoved { to, .. }) if to == Pos::new(9, 9)),
            )
        {
            break;
        }
    }
}

#[tokio::test]
async fn cursors_sent_over_quic_reach_the_other_members() {
    let server = Server::start(&[]);
    let mut a = quic(&server).await;
    let mut b = quic(&server).await;
    let room = RoomId::from("cursors");
    let seat = a.join(&room, "alice", None).await.unwrap();
    b.join(&room, "bob", None).await.unwrap();
    // Datagrams may be lost or reordered; the server keeps the latest it got
    // per member and tick, so any of these positions is a valid arrival.
    for x in 0..5 {
        a.send(&ClientMessage::Cursor {
            pos: Pos::new(10 + x, 20),
        })
        .await
        .unwrap();
    }
    let seen = loop {
        if let Some(c) = (b.recv_timeout(WAIT).await.unwrap().cursors())
            .iter()
            .find(|c| c.member == seat.member)
        {
            break c.pos;
        }
    };
    assert!((10..15).contains(&seen.x) && seen.y == 20, "{seen:?}");
}

#[tokio::test]
async fn bad_frames_over_quic_get_coded_errors() {
    let server = Server::start(&[("TICKROOM_NET_MAX_FRAME_BYTES", "1024")]);
    let mut c = quic(&server).await;
    c.send_quic_frame(&[0xff; 2000]).await.unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::MessageTooLarge),
        other => panic!("{other:?}"),
    }
    c.send_quic_frame(&[0x06, 0xff, 0xff]).await.unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::Malformed),
        other => panic!("{other:?}"),
    }
    c.send(&ClientMessage::Ping { client_time: 3 })
        .await
        .unwrap();
    assert!(matches!(
        c.recv_timeout(WAIT).await.unwrap(),
        ServerMessage::Pong { client_time: 3, .. }
    ));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_cannot_connect() {
    let server = Server::start(&[]);
    let mut target = server.quic.clone().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    target.cert_der = other.cert.der().to_vec();
    match Client::connect_quic(&target, ConnectOptions::default()).await {
        Err(ClientError::Protocol(e)) => assert!(
            e.contains("certificate") || e.contains("Certificate"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_quic_session_resumes_after_a_broken_connection() {
    let server = Server::start(&[]);
    let target = server.quic.clone().unwrap();
    let mut a = quic(&server).await;
    let seat = a
        .join(&RoomId::from("q-resume"), "alice", None)
        .await
        .unwrap();
    let token = a.welcome.resume_token.clone();
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = Client::connect_quic(
        &target,
        ConnectOptions {
            resume: Some(token),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(back.resumed.map(|j| j.member), Some(seat.member));
}

#[tokio::test]
async fn quic_clients_are_told_when_the_server_shuts_down() {
    let server = Server::start(&[]);
    let mut c = quic(&server).await;
    c.join(&RoomId::from("q-bye"), "alice", None).await.unwrap();
    let stop = support::terminate_in_background(server);
    let closing = support::closing_code(&mut c).await;
    assert_eq!(closing, Some(ErrorCode::ShuttingDown));
    let (status, _server) = stop.await.unwrap();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)));
}

#[tokio::test]
async fn a_second_hello_over_quic_is_refused_and_the_session_lives() {
    let server = Server::start(&[]);
    let target = server.quic.clone().unwrap();
    // The version check itself is the transport-free session's, tested over
    // WebSocket; here: a hello after the welcome is refused, not obeyed.
    let mut c = Client::connect_quic(&target, ConnectOptions::default())
        .await
        .unwrap();
    let hello = Codec::Postcard
        .encode(&ClientMessage::Hello {
            version: 99,
            token: None,
            resume: None,
        })
        .unwrap();
    c.send_quic_frame(&hello).await.unwrap();
    match c.recv_timeout(WAIT).await.unwrap() {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::InvalidArgument),
        other => panic!("{other:?}"),
    }
    c.send(&ClientMessage::Ping { client_time: 8 })
        .await
        .unwrap();
    assert!(matches!(
        c.recv_timeout(WAIT).await.unwrap(),
        ServerMessage::Pong { client_time: 8, .. }
    ));
}

#[tokio::test]
async fn chat_dice_and_formations_between_quic_and_websocket() {
    let server = Server::start(&[]);
    let mut q = quic(&server).await;
    let mut w = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let room = RoomId::from("q-table");
    q.join(&room, "quinn", Some(TeamId(0))).await.unwrap();
    w.join(&room, "wes", Some(TeamId(1))).await.unwrap();
    assert!(
        q.intent(Intent::Chat {
            text: "hi from QUIC".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    assert!(
        w.intent(Intent::RollDice {
            notation: "4d4".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    let save = Intent::SaveFormation {
        name: "line".into(),
        key: "k".into(),
    };
    assert!(q.intent(save.clone()).await.unwrap().is_ok());
    assert!(q.intent(save).await.unwrap().is_ok(), "idempotent");
    let foreign = w
        .intent(Intent::ApplyFormation {
            name: "line".into(),
        })
        .await
        .unwrap();
    assert_eq!(foreign.unwrap_err().code, ErrorCode::Forbidden);
    let (mut chat, mut dice) = (false, false);
    while !(chat && dice) {
        if let ServerMessage::Delta(d) = q.recv_timeout(WAIT).await.unwrap() {
            for e in d.events {
                match ev(&e.event) {
                    Ev::Board(BoardEvent::ChatPosted { text, .. }) => {
                        chat |= text == "hi from QUIC"
                    }
                    Ev::Board(BoardEvent::DiceRolled { total, rolls, .. }) => {
                        assert_eq!(rolls.len(), 4);
                        assert!((4..=16).contains(&total));
                        dice = true;
                    }
                    _ => {}
                }
            }
        }
    }
}

#[tokio::test]
async fn a_flood_over_quic_is_rate_limited() {
    let server = Server::start(&[("TICKROOM_NET_RATE_CHAT_PER_10S", "3")]);
    let mut c = quic(&server).await;
    c.join(&RoomId::from("q-flood"), "f", None).await.unwrap();
    let first = c.next_seq();
    for i in 0..6 {
        let intent = Intent::Chat {
            text: format!("line {i}"),
        };
        c.send(&ClientMessage::intent(first + i, intent))
            .await
            .unwrap();
    }
    let mut limited = 0;
    let mut answered = 0;
    while answered < 6 {
        match c.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Reject {
                code: ErrorCode::RateLimited,
                ..
            } => {
                limited += 1;
                answered += 1;
            }
            ServerMessage::Ack { .. } | ServerMessage::Reject { .. } => answered += 1,
            ServerMessage::Delta(d) => answered += c.acknowledged_by(&d).count(),
            _ => {}
        }
    }
    assert_eq!(limited, 3);
}

#[tokio::test]
async fn after_the_grace_period_a_quic_seat_is_gone() {
    let server = Server::start(&[("TICKROOM_ROOMS_GRACE_MS", "200")]);
    let target = server.quic.clone().unwrap();
    let mut a = quic(&server).await;
    a.join(&RoomId::from("q-gone"), "alice", None)
        .await
        .unwrap();
    let token = a.welcome.resume_token.clone();
    drop(a);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let back = Client::connect_quic(
        &target,
        ConnectOptions {
            resume: Some(token),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        back.resume_error.map(|e| e.code),
        Some(ErrorCode::ResumeFailed)
    );
    assert!(back.resumed.is_none());
}

#[tokio::test]
async fn quic_connections_are_capped_per_ip() {
    let server = Server::start(&[("TICKROOM_NET_MAX_CONNECTIONS_PER_IP", "2")]);
    let target = server.quic.clone().unwrap();
    let _a = Client::connect_quic(&target, ConnectOptions::default())
        .await
        .unwrap();
    let b = Client::connect_quic(&target, ConnectOptions::default())
        .await
        .unwrap();
    assert!(
        Client::connect_quic(&target, ConnectOptions::default())
            .await
            .is_err(),
        "the third is refused"
    );
    // A closed one frees its place.
    b.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while Client::connect_quic(&target, ConnectOptions::default())
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "no place was freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_protocol_version_mismatch_over_quic_is_refused_with_the_range() {
    let server = Server::start(&[]);
    let target = server.quic.clone().unwrap();
    let options = ConnectOptions {
        protocol_version: Some(99),
        ..Default::default()
    };
    match Client::connect_quic(&target, options).await {
        Err(ClientError::Refused(e)) => {
            assert_eq!(e.code, ErrorCode::VersionMismatch);
            assert!(
                e.details.contains_key("min") && e.details.contains_key("max"),
                "{e:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A raw QUIC connection to the server (no Tickroom hello), for what the
/// client library would never send.
async fn raw_quic(server: &Server) -> quinn::Connection {
    let target = server.quic.as_ref().expect("QUIC is on");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            target.cert_der.clone(),
        ))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![tickroom_net::quic::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let config = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
    let endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into()).unwrap();
    endpoint
        .connect_with(config, target.addr, &target.server_name)
        .unwrap()
        .await
        .unwrap()
}

/// A client that opens its stream but never completes a hello is closed
/// with HANDSHAKE_TIMEOUT once the handshake timeout has passed.
#[tokio::test]
async fn a_quic_connection_without_hello_is_closed_at_the_handshake_timeout() {
    let server = Server::start(&[("TICKROOM_NET_HANDSHAKE_TIMEOUT_MS", "300")]);
    let conn = raw_quic(&server).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // Half a length prefix: the server sees the stream, never a frame.
    send.write_all(&[0, 0]).await.unwrap();
    let opened = std::time::Instant::now();
    let closed = tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("the server closes the connection");
    match closed {
        // Code 0: closed by the session after its `closing` frame (a
        // stream that never arrived would close with code 1).
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(0));
            assert_eq!(&close.reason[..], b"HANDSHAKE_TIMEOUT")
        }
        other => panic!("{other:?}"),
    }
    assert!(opened.elapsed() >= Duration::from_millis(200));
}

/// A datagram before the hello closes the connection, as a frame would.
#[tokio::test]
async fn a_quic_datagram_before_hello_closes_the_connection() {
    let server = Server::start(&[]);
    let conn = raw_quic(&server).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&[0, 0]).await.unwrap();
    let cursor = Codec::Postcard
        .encode(&ClientMessage::Cursor {
            pos: Pos::new(1, 1),
        })
        .unwrap();
    // The server reads datagrams once it has the stream: resend until closed.
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            let _ = conn.send_datagram(cursor.clone().into());
            tokio::select! {
                e = conn.closed() => return e,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
    assert_closed_as(closed, "UNAUTHORIZED");
}

/// A cursor datagram before any stream byte is a message before the hello
/// too: the connection is closed with UNAUTHORIZED at once, not left to the
/// handshake timeout.
#[tokio::test]
async fn a_quic_datagram_before_any_stream_data_closes_the_connection() {
    let server = Server::start(&[("TICKROOM_NET_HANDSHAKE_TIMEOUT_MS", "4000")]);
    let conn = raw_quic(&server).await;
    let cursor = Codec::Postcard
        .encode(&ClientMessage::Cursor {
            pos: Pos::new(1, 1),
        })
        .unwrap();
    let sent = std::time::Instant::now();
    conn.send_datagram(cursor.into()).unwrap();
    let closed = tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("the server closes the connection");
    assert_closed_as(closed, "UNAUTHORIZED");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "closed at once, not at the handshake timeout"
    );
}
