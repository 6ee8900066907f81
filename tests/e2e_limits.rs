//! End-to-end: rate limits, abuse, and backpressure (slow consumers).

mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::{Ev, ev};
use tickroom_net::client::{Client, ConnectOptions};
use tickroom_protocol::board::Event as BoardEvent;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{
    ClientMessage, Codec, ErrorCode, PieceId, Pos, RoomConfig, RoomId, ServerMessage,
};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_flood_is_rate_limited_with_a_retry_time() {
    // A 10-second class: the bucket refills one token a second, so a burst
    // answered within a second sees exactly its 10 tokens.
    let server = Server::start(&[("TICKROOM_NET_RATE_CHAT_PER_10S", "10")]);
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    c.join(&RoomId::from("flood"), "f", None).await.unwrap();
    let first = c.next_seq();
    for i in 0..30 {
        let seq = first + i;
        let intent = Intent::Chat {
            text: format!("flood {i}"),
        };
        c.send(&ClientMessage::intent(seq, intent)).await.unwrap();
    }
    let (mut limited, mut passed) = (0, 0);
    while limited + passed < 30 {
        match c.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Reject {
                code: ErrorCode::RateLimited,
                details,
                ..
            } => {
                limited += 1;
                let retry = &details["retry_after_ms"];
                assert!(
                    matches!(retry, tickroom_protocol::DetailValue::Int(ms) if *ms > 0 && *ms <= 1000),
                    "{retry:?}"
                );
            }
            ServerMessage::Ack { .. } | ServerMessage::Reject { .. } => passed += 1,
            // Applied moves are acknowledged by the delta's origins.
            ServerMessage::Delta(d) => passed += c.acknowledged_by(&d).count(),
            _ => {}
        }
    }
    assert_eq!(passed, 10, "the burst is the per-second count");
    assert_eq!(limited, 20);
}

#[tokio::test]
async fn persistent_abuse_is_disconnected_with_the_reason() {
    let server = Server::start(&[
        ("TICKROOM_NET_RATE_CHAT_PER_10S", "5"),
        ("TICKROOM_NET_ABUSE_LIMIT", "20"),
    ]);
    let mut c = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    c.join(&RoomId::from("abuse"), "a", None).await.unwrap();
    for i in 0..40 {
        let seq = c.next_seq();
        let intent = Intent::Chat {
            text: format!("spam {i}"),
        };
        if c.send(&ClientMessage::intent(seq, intent)).await.is_err() {
            break;
        }
    }
    let (mut fatal, mut closing) = (false, None);
    while let Ok(m) = c.recv_timeout(WAIT).await {
        match m {
            // The request that tipped it over still gets its one reply.
            ServerMessage::Reject {
                code: ErrorCode::RateLimited,
                details,
                ..
            } => {
                fatal |= details.get("disconnected")
                    == Some(&tickroom_protocol::DetailValue::Bool(true));
            }
            ServerMessage::Closing { code, .. } => closing = Some(code),
            _ => {}
        }
    }
    assert!(
        fatal,
        "the last refusal says the connection is being closed"
    );
    assert_eq!(closing, Some(ErrorCode::RateLimited));
}

/// A mover that keeps the room busy: `per_round` moves per round, waiting
/// for all their replies before the next round.
async fn busy_mover(url: &str, room: &RoomId, rounds: u32, per_round: u32) -> Client {
    let mut m = Client::connect(url, Codec::Postcard).await.unwrap();
    m.join(room, "mover", None).await.unwrap();
    let locks = (0..per_round)
        .map(|p| Intent::TakeLock { piece: PieceId(p) })
        .collect();
    pipelined(&mut m, locks).await;
    for r in 0..rounds {
        let moves = (0..per_round)
            .map(|p| Intent::MovePiece {
                piece: PieceId(p),
                to: Pos::new((r * 7 + p) as i32 % 1000, p as i32),
            })
            .collect();
        pipelined(&mut m, moves).await;
    }
    m
}

/// Sends every intent at once, then waits until each is acknowledged.
async fn pipelined(c: &mut Client, intents: Vec<Intent>) {
    let n = intents.len();
    for intent in intents {
        let seq = c.next_seq();
        c.send(&ClientMessage::intent(seq, intent)).await.unwrap();
    }
    let mut acked = 0;
    while acked < n {
        match c.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Ack { .. } => acked += 1,
            ServerMessage::Delta(d) => acked += c.acknowledged_by(&d).count(),
            ServerMessage::Reject { code, message, .. } => panic!("{code}: {message}"),
            _ => {}
        }
    }
}

fn busy_room() -> RoomConfig {
    RoomConfig {
        teams: 0,
        max_players: 8,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: 400,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    }
}

/// Follows deltas until one moves piece 0 to `last`, checking for gaps.
async fn follow(mut c: Client, mut version: u64, last: Pos) -> Client {
    loop {
        match c
            .recv_timeout(Duration::from_secs(20))
            .await
            .expect("deltas keep coming")
        {
            ServerMessage::Delta(d) => {
                assert_eq!(d.from_version, version, "a gap in room versions");
                version = d.to_version;
                if d.events.iter().any(|e| matches!(ev(&e.event), Ev::Board(BoardEvent::PieceMoved { piece: PieceId(0), to }) if to == last)) {
                    return c;
                }
            }
            ServerMessage::Closing { code, .. } => panic!("closed with {code}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_a_slow_consumer_and_others_are_unaffected() {
    let server = Server::start(&[
        ("TICKROOM_NET_RATE_MOVES_PER_S", "1000000"),
        ("TICKROOM_NET_OUTBOUND_BYTES", "524288"),
        ("TICKROOM_NET_STALL_TIMEOUT_MS", "1000"),
        // The stalled client reads again only once the mover is done (a few
        // seconds): within the linger, so `closing` still reaches it. (One
        // that reads again later finds the connection dropped.)
        ("TICKROOM_NET_CLOSE_LINGER_MS", "20000"),
        // Small kernel buffers, so that a stalled reader shows up quickly.
        ("TICKROOM_NET_SOCKET_SEND_BUFFER", "8192"),
        ("TICKROOM_NET_OUTBOUND_FRAMES", "4096"),
    ]);
    let room = RoomId::from("busy");
    let mut host = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    host.create_room(Some(room.clone()), busy_room(), false)
        .await
        .unwrap();
    host.close().await.unwrap();
    let mut healthy = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let healthy_version = healthy
        .join(&room, "healthy", None)
        .await
        .unwrap()
        .state
        .version;
    let small = ConnectOptions {
        recv_buffer: Some(4096),
        ..Default::default()
    };
    let mut stalled = Client::connect_with(&server.ws, Codec::Json, small)
        .await
        .unwrap();
    stalled.join(&room, "stalled", None).await.unwrap();

    let rounds = 60;
    let per_round = 300;
    let watcher = tokio::spawn(follow(
        healthy,
        healthy_version,
        Pos::new(((rounds - 1) * 7) as i32 % 1000, 0),
    ));
    let started = Instant::now();
    let _mover = busy_mover(&server.ws, &room, rounds, per_round).await;
    watcher
        .await
        .expect("the healthy member got every delta in order");

    // The stalled client now reads: after what was in flight, the server
    // said it was closed as a slow consumer.
    let mut closing = None;
    while let Ok(m) = stalled.recv_timeout(Duration::from_secs(2)).await {
        if let ServerMessage::Closing { code, .. } = m {
            closing = Some(code);
        }
    }
    assert_eq!(
        closing,
        Some(ErrorCode::SlowConsumer),
        "after {:?}",
        started.elapsed()
    );
}

/// A slow consumer that never reads again (its TCP receive window full, so
/// neither `closing` nor the close handshake gets through) is dropped after
/// `net.close_linger_ms`, not after the heartbeat timeout: it leaves the
/// connections gauge and frees its place under the per-IP cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_that_never_reads_again_is_dropped_after_the_linger() {
    let linger = Duration::from_millis(500);
    let server = Server::start(&[
        ("TICKROOM_NET_RATE_MOVES_PER_S", "1000000"),
        ("TICKROOM_NET_STALL_TIMEOUT_MS", "500"),
        ("TICKROOM_NET_CLOSE_LINGER_MS", "500"),
        // The heartbeat timeout (the old linger) stays at its 30 s default.
        ("TICKROOM_NET_SOCKET_SEND_BUFFER", "8192"),
        ("TICKROOM_NET_OUTBOUND_FRAMES", "4096"),
        // Each client below has an address of its own.
        ("TICKROOM_NET_MAX_CONNECTIONS_PER_IP", "1"),
    ]);
    let from = |ip: [u8; 4], recv_buffer: Option<u32>| ConnectOptions {
        local_ip: Some(std::net::IpAddr::from(ip)),
        recv_buffer,
        ..Default::default()
    };
    let stalled_ip = [127, 0, 0, 4];
    let room = RoomId::from("never-reads");
    let mut host = Client::connect_with(&server.ws, Codec::Postcard, from([127, 0, 0, 2], None))
        .await
        .unwrap();
    host.create_room(Some(room.clone()), busy_room(), false)
        .await
        .unwrap();
    host.close().await.unwrap();

    // Joins, then never reads again and never answers the close.
    let mut stalled = Client::connect_with(&server.ws, Codec::Json, from(stalled_ip, Some(4096)))
        .await
        .unwrap();
    stalled.join(&room, "stalled", None).await.unwrap();
    const GAUGE: &str = r#"tickroom_connections{transport="ws",codec="json"}"#;
    assert_eq!(metric(&server, GAUGE).await, 1.0);
    assert!(
        Client::connect_with(&server.ws, Codec::Json, from(stalled_ip, None))
            .await
            .is_err(),
        "the per-IP cap holds while the stalled connection lives"
    );

    let mut mover = Client::connect_with(&server.ws, Codec::Postcard, from([127, 0, 0, 3], None))
        .await
        .unwrap();
    mover.join(&room, "mover", None).await.unwrap();
    let per_round = 50;
    let locks = (0..per_round)
        .map(|p| Intent::TakeLock { piece: PieceId(p) })
        .collect();
    pipelined(&mut mover, locks).await;
    let mut round = 0;
    while metric(&server, "tickroom_slow_consumer_disconnects_total").await == 0.0 {
        assert!(round < 400, "never a slow consumer");
        let moves = (0..per_round)
            .map(|p| Intent::MovePiece {
                piece: PieceId(p),
                to: Pos::new((round * 7 + p) as i32 % 1000, p as i32),
            })
            .collect();
        pipelined(&mut mover, moves).await;
        round += 1;
    }
    let closed_at = Instant::now();

    // Gone within the linger and some slack: from the gauge, and from the
    // cap (a new connection from its address is admitted).
    let slack = Duration::from_millis(2500);
    let deadline = closed_at + Duration::from_secs(10);
    let freed = loop {
        if metric(&server, GAUGE).await == 0.0
            && let Ok(c) =
                Client::connect_with(&server.ws, Codec::Json, from(stalled_ip, None)).await
        {
            break (closed_at.elapsed(), c);
        }
        assert!(
            Instant::now() < deadline,
            "the stalled connection still held its place 10 s after SLOW_CONSUMER"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        freed.0 <= linger + slack,
        "freed {:?} after SLOW_CONSUMER (linger {linger:?})",
        freed.0
    );
    drop(stalled);
}

/// One sample of the server's `/metrics` (0 when absent). Retries a scrape
/// refused by a per-IP cap of 1 while the previous scrape's connection
/// was still being let go.
async fn metric(server: &Server, key: &str) -> f64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, text) = support::http_get(&server.http, "/metrics").await;
        if status == 200 {
            return text
                .lines()
                .find_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    (k == key).then(|| v.parse().ok())?
                })
                .unwrap_or(0.0);
        }
        assert!(Instant::now() < deadline, "/metrics: {status} {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stall_is_tolerated() {
    let server = Server::start(&[
        ("TICKROOM_NET_RATE_MOVES_PER_S", "1000000"),
        ("TICKROOM_NET_STALL_TIMEOUT_MS", "3000"),
        ("TICKROOM_NET_OUTBOUND_FRAMES", "4096"),
    ]);
    let room = RoomId::from("pause");
    let mut host = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    host.create_room(Some(room.clone()), busy_room(), false)
        .await
        .unwrap();
    host.close().await.unwrap();
    let small = ConnectOptions {
        recv_buffer: Some(4096),
        ..Default::default()
    };
    let mut pauser = Client::connect_with(&server.ws, Codec::Json, small)
        .await
        .unwrap();
    let mut version = pauser
        .join(&room, "pauser", None)
        .await
        .unwrap()
        .state
        .version;
    let rounds = 20;
    let mover = tokio::spawn({
        let url = server.ws.clone();
        let room = room.clone();
        async move { busy_mover(&url, &room, rounds, 50).await }
    });
    // Wait until traffic flows, then stop reading for a while, well under
    // the stall timeout.
    loop {
        if let ServerMessage::Delta(d) = pauser.recv_timeout(WAIT).await.unwrap() {
            assert_eq!(d.from_version, version);
            version = d.to_version;
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    follow(
        pauser,
        version,
        Pos::new(((rounds - 1) * 7) as i32 % 1000, 0),
    )
    .await;
    mover.await.unwrap();
}

async fn connect_status(url: &str) -> Result<Client, u16> {
    match Client::connect(url, Codec::Postcard).await {
        Ok(c) => Ok(c),
        Err(tickroom_net::client::ClientError::Ws(
            tokio_tungstenite::tungstenite::Error::Http(resp),
        )) => {
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("TOO_MANY_CONNECTIONS"), "{body}");
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("unexpected failure: {e}"),
    }
}

/// Retries until the server has noticed a close and freed its place.
async fn connect_when_freed(url: &str) -> Client {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match connect_status(url).await {
            Ok(c) => return c,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("no place freed within 5 s ({status})"),
        }
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_with_a_reason() {
    let server = Server::start(&[("TICKROOM_NET_MAX_CONNECTIONS", "3")]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_status(&server.ws).await.expect("under the cap"));
    }
    assert_eq!(connect_status(&server.ws).await.unwrap_err(), 503);
    // A closed connection frees its place.
    held.pop().unwrap().close().await.unwrap();
    held.push(connect_when_freed(&server.ws).await);
}

#[tokio::test]
async fn new_connections_per_ip_are_rate_limited() {
    let server = Server::start(&[("TICKROOM_NET_NEW_CONNECTIONS_PER_IP_PER_S", "2")]);
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..8 {
        match connect_status(&server.ws).await {
            Ok(c) => held.push(c),
            Err(status) => {
                assert_eq!(status, 503);
                refused += 1;
            }
        }
    }
    assert!(refused >= 2, "{refused} refused");
}

/// Under a real open-file limit of 256, the server caps connections below
/// it, refuses the rest with a reason, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_file_limit_caps_connections_without_breaking_the_server() {
    let server = Server::start_with(&[], |cmd| {
        let mut wrapped = std::process::Command::new("prlimit");
        wrapped
            .arg("--nofile=256:256")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped.stdout(std::process::Stdio::piped());
        wrapped
    });
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..220 {
        match connect_status(&server.ws).await {
            Ok(c) => held.push(c),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(
        held.len(),
        256 - 64,
        "the cap is the limit minus the reserve"
    );
    assert_eq!(refused, 220 - held.len());
    // Still serving: a held connection works, and a freed place is reusable.
    let mut c = held.pop().unwrap();
    c.send(&ClientMessage::Ping { client_time: 5 })
        .await
        .unwrap();
    assert!(matches!(
        c.recv_timeout(WAIT).await.unwrap(),
        ServerMessage::Pong { client_time: 5, .. }
    ));
    c.close().await.unwrap();
    held.push(connect_when_freed(&server.ws).await);
}

/// A client that connects and never finishes its request (slowloris) is cut
/// off at the handshake timeout and its place freed.
#[tokio::test]
async fn a_connection_that_never_finishes_its_request_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(&[
        ("TICKROOM_NET_HANDSHAKE_TIMEOUT_MS", "300"),
        ("TICKROOM_NET_MAX_CONNECTIONS", "1"),
    ]);
    let mut slow = tokio::net::TcpStream::connect(&server.http).await.unwrap();
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap(); // no end of headers
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the dawdling connection");
    // Its place is free again.
    let c = connect_when_freed(&server.ws).await;
    drop(c);
}
