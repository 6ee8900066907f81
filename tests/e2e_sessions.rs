//! End-to-end: resume within and after the grace period, session takeover,
//! and join tokens.

mod support;

use std::time::Duration;
use support::Server;
use support::{Ev, ev};
use tickroom_net::client::{Client, ClientError, ConnectOptions};
use tickroom_net::tokens::{JoinClaims, sign_join_token};
use tickroom_protocol::board::Event as BoardEvent;
use tickroom_protocol::board::{Intent, ReleaseReason};
use tickroom_protocol::{
    ClientMessage, Codec, DomainEvent, ErrorCode, LeaveReason, PieceId, Presence, Role, RoomId,
    ServerMessage, TeamId,
};

const WAIT: Duration = Duration::from_secs(5);

async fn event(c: &mut Client, want: impl Fn(&Ev) -> bool) -> Ev {
    loop {
        if let ServerMessage::Delta(d) = c.recv_timeout(WAIT).await.expect("an event in time")
            && let Some(e) = d.events.into_iter().find(|e| want(&ev(&e.event)))
        {
            return ev(&e.event);
        }
    }
}

fn resume_with(token: &str) -> ConnectOptions {
    ConnectOptions {
        resume: Some(token.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_resume_within_grace_gets_the_seat_back_and_settles_in_flight_requests() {
    let server = Server::start(&[]);
    let room = RoomId::from("resume");
    let mut a = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let seat = a.join(&room, "alice", Some(TeamId(1))).await.unwrap();
    b.join(&room, "bob", Some(TeamId(0))).await.unwrap();
    assert!(
        a.intent(Intent::TakeLock { piece: PieceId(8) })
            .await
            .unwrap()
            .is_ok()
    );
    let token = a.welcome.resume_token.clone();

    // A request in flight when the connection dies.
    let seq = a.next_seq();
    a.send(&ClientMessage::intent(
        seq,
        Intent::Chat {
            text: "in flight".into(),
        },
    ))
    .await
    .unwrap();
    drop(a);

    let released = event(&mut b, |e| {
        matches!(e, Ev::Board(BoardEvent::LockReleased { .. }))
    })
    .await;
    assert!(matches!(
        released,
        Ev::Board(BoardEvent::LockReleased {
            reason: ReleaseReason::HolderDisconnected,
            ..
        })
    ));

    let a = Client::connect_with(&server.ws, Codec::Postcard, resume_with(&token))
        .await
        .unwrap();
    assert_eq!(a.resume_error, None);
    assert_eq!(
        a.welcome.last_applied_seq,
        Some(seq),
        "the in-flight chat was applied"
    );
    let back = a.resumed.clone().expect("the seat came back");
    assert_eq!(back.member, seat.member);
    let me = back
        .state
        .members
        .iter()
        .find(|m| m.id == seat.member)
        .unwrap();
    assert_eq!(
        (me.team, me.role, me.presence),
        (Some(TeamId(1)), Role::Host, Presence::Connected),
        "seat, team and role kept"
    );
    let chats = support::board(&back.state)
        .chat
        .iter()
        .filter(|c| c.text == "in flight")
        .count();
    assert_eq!(chats, 1, "resolved exactly once");
    assert!(
        support::board(&back.state).pieces[8].lock.is_none(),
        "its lock went when it dropped"
    );
    let reconnected = event(&mut b, |e| {
        matches!(e, Ev::Room(DomainEvent::MemberReconnected { .. }))
    })
    .await;
    assert_eq!(
        reconnected,
        Ev::Room(DomainEvent::MemberReconnected {
            member: seat.member
        })
    );

    // The resumed session goes on numbering after the last applied seq: a
    // seq at or below it is refused, one above it is applied.
    let mut a = a;
    let next = a.next_seq();
    assert_eq!(next, seq + 1);
    let chat = |seq, text: &str| ClientMessage::intent(seq, Intent::Chat { text: text.into() });
    match a.request(seq, &chat(seq, "again")).await.unwrap() {
        ServerMessage::Reject { code, .. } => assert_eq!(code, ErrorCode::SeqNotIncreasing),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.request(next, &chat(next, "after")).await.unwrap(),
        ServerMessage::Ack { seq: next }
    );
}

#[tokio::test]
async fn after_the_grace_period_the_seat_is_gone() {
    let server = Server::start(&[("TICKROOM_ROOMS_GRACE_MS", "300")]);
    let room = RoomId::from("gone");
    let mut a = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let mut b = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let seat = a.join(&room, "alice", None).await.unwrap();
    b.join(&room, "bob", None).await.unwrap();
    let token = a.welcome.resume_token.clone();
    drop(a);
    let left = event(&mut b, |e| {
        matches!(e, Ev::Room(DomainEvent::MemberLeft { .. }))
    })
    .await;
    assert_eq!(
        left,
        Ev::Room(DomainEvent::MemberLeft {
            member: seat.member,
            reason: LeaveReason::GraceExpired
        })
    );

    let a = Client::connect_with(&server.ws, Codec::Json, resume_with(&token))
        .await
        .unwrap();
    assert_eq!(
        a.resume_error.map(|e| e.code),
        Some(ErrorCode::ResumeFailed)
    );
    assert!(a.resumed.is_none());
    assert_ne!(a.welcome.session, "", "a fresh session instead");
}

#[tokio::test]
async fn resuming_while_the_old_connection_lives_takes_the_seat_over() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let seat = a
        .join(&RoomId::from("takeover"), "alice", None)
        .await
        .unwrap();
    let token = a.welcome.resume_token.clone();
    let a2 = Client::connect_with(&server.ws, Codec::Postcard, resume_with(&token))
        .await
        .unwrap();
    assert_eq!(a2.resumed.map(|j| j.member), Some(seat.member));
    let closing = support::closing_code(&mut a).await;
    assert_eq!(closing, Some(ErrorCode::SessionReplaced));
}

#[tokio::test]
async fn a_forged_resume_token_is_refused() {
    let server = Server::start(&[]);
    let forged = sign_join_token(
        b"not the server's secret",
        &JoinClaims {
            sub: "x".into(),
            name: None,
            role: None,
            exp: u64::MAX / 2,
        },
    );
    match Client::connect_with(&server.ws, Codec::Json, resume_with(&forged)).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn join_tokens_decide_who_and_what_a_member_is() {
    let secret = "a-backend-secret-of-at-least-32-bytes";
    let server = Server::start(&[
        ("TICKROOM_AUTH_JWT_SECRET", secret),
        ("TICKROOM_NET_ANONYMOUS", "never"),
    ]);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = |sub: &str, name: &str, role| {
        sign_join_token(
            secret.as_bytes(),
            &JoinClaims {
                sub: sub.into(),
                name: Some(name.into()),
                role,
                exp,
            },
        )
    };
    let with = |t: String| ConnectOptions {
        token: Some(t),
        ..Default::default()
    };

    match Client::connect(&server.ws, Codec::Json).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("anonymous play must be refused: {other:?}"),
    }
    let forged = sign_join_token(
        b"wrong",
        &JoinClaims {
            sub: "eve".into(),
            name: None,
            role: Some(Role::Host),
            exp,
        },
    );
    match Client::connect_with(&server.ws, Codec::Json, with(forged)).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("a forged token must be refused: {other:?}"),
    }

    let room = RoomId::from("tokens");
    let mut host = Client::connect_with(
        &server.ws,
        Codec::Json,
        with(token("u-host", "Hana", Some(Role::Host))),
    )
    .await
    .unwrap();
    let mut sam = Client::connect_with(
        &server.ws,
        Codec::Json,
        with(token("u-sam", "Sam", Some(Role::Spectator))),
    )
    .await
    .unwrap();
    host.join(&room, "ignored", None).await.unwrap();
    let joined = sam.join(&room, "also ignored", None).await.unwrap();
    let me = joined
        .state
        .members
        .iter()
        .find(|m| m.id == joined.member)
        .unwrap();
    assert_eq!((me.name.as_str(), me.role), ("Sam", Role::Spectator));
    let refused = sam
        .intent(Intent::TakeLock { piece: PieceId(0) })
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().code, ErrorCode::Forbidden);
    assert!(host.intent(Intent::StartMatch {}).await.unwrap().is_ok());
}

/// Nodes of a cluster share `auth.session_secret`: a resume token one node
/// issued is genuine on another (which answers RESUME_FAILED while the seat
/// is not there, not UNAUTHORIZED); without the shared secret each node
/// signs with its own and refuses the other's tokens.
#[tokio::test]
async fn a_resume_token_is_genuine_on_every_node_sharing_the_session_secret() {
    let secret = "a-cluster-wide-session-secret-of-40-bytes";
    let shared = [("TICKROOM_AUTH_SESSION_SECRET", secret)];
    let a = Server::start(&shared);
    let b = Server::start(&shared);
    let lone = Server::start(&[]);
    let mut alice = Client::connect(&a.ws, Codec::Json).await.unwrap();
    alice
        .join(&RoomId::from("here"), "alice", None)
        .await
        .unwrap();
    let token = alice.welcome.resume_token.clone();

    let on_b = Client::connect_with(&b.ws, Codec::Json, resume_with(&token))
        .await
        .unwrap();
    assert_eq!(
        on_b.resume_error.map(|e| e.code),
        Some(ErrorCode::ResumeFailed),
        "the token is good on b; the seat is on a"
    );
    match Client::connect_with(&lone.ws, Codec::Json, resume_with(&token)).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("a node with its own secret took another's token: {other:?}"),
    }
    // And the issuing node still takes it back.
    drop(alice);
    let back = Client::connect_with(&a.ws, Codec::Json, resume_with(&token))
        .await
        .unwrap();
    assert!(back.resumed.is_some(), "{:?}", back.resume_error);
    assert!(!a.data_dir.join("server.secret").exists());
}
