//! Cluster figures for docs/PERFORMANCE.md, against real nodes (this
//! build's release binary) and a real Redis:
//!
//!   cargo bench --bench cluster -- matchmake [calls]
//!   cargo bench --bench cluster -- handoff [rooms]
//!   cargo bench --bench cluster -- failover [rooms]
//!   cargo bench --bench cluster -- redis [rooms]
//!
//! Players send a chat line every `MOVE_EVERY` and wait for each
//! acknowledgement; a pause is the longest time a player went without one
//! (so it includes up to one `MOVE_EVERY` of the player's own cadence).
//! Nodes use a 1 s lease TTL and the default replication interval (50 ms);
//! `REDIS_URL` as the tests use it (the `redis` figure runs a
//! `redis-server` of its own, to count only this cluster's commands).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::cluster::*;
use tickroom_net::client::{Client, ConnectOptions};
use tickroom_net::reconnecting::{Backoff, Event, ReconnectingClient, Resolution, Target};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, ServerMessage};

const MOVE_EVERY: Duration = Duration::from_millis(100);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn summary(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what}: n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default()
    );
}

fn seats(max: u16) -> Vec<(&'static str, String)> {
    vec![
        ("TICKROOM_ROOMS_DEFAULT_MAX_PLAYERS", max.to_string()),
        ("TICKROOM_ROOMS_DEFAULT_TEAMS", "0".into()),
        ("TICKROOM_NET_MAX_CONNECTIONS_PER_IP", "20000".into()),
        ("TICKROOM_NET_NEW_CONNECTIONS_PER_IP_PER_S", "100000".into()),
        ("TICKROOM_NET_RATE_CHAT_PER_10S", "1000".into()),
        ("TICKROOM_CLUSTER_NEW_CONNECTIONS_PER_IP_PER_S", "0".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// What one player saw.
#[derive(Default)]
struct Played {
    longest_gap: Duration,
    /// From the stop (`since`) to the seat back.
    resumed_after: Option<Duration>,
    /// Acknowledged moves missing from the state the seat came back with.
    lost: bool,
}

async fn play(
    ws: String,
    alternates: Vec<String>,
    room: String,
    stop: tokio::sync::watch::Receiver<bool>,
    since: tokio::sync::watch::Receiver<Option<Instant>>,
) -> Played {
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(300),
        max_attempts: 200,
        ..Backoff::default()
    };
    let mut c = ReconnectingClient::connect(&ws, Codec::Json, ConnectOptions::default(), backoff)
        .await
        .expect("connect")
        .with_alternates(
            alternates
                .into_iter()
                .map(|url| Target::WebSocket {
                    url,
                    codec: Codec::Json,
                })
                .collect(),
        );
    let join = room.clone();
    c.request(|seq| ClientMessage::JoinRoom {
        seq,
        room: join.into(),
        name: "p".into(),
        team: None,
    })
    .await
    .expect("join");
    let mut played = Played::default();
    let (mut n, mut acked) = (0u64, None::<u64>);
    let mut last_ack = Instant::now();
    let mut joined = false;
    while !*stop.borrow() {
        // Chat lines: acknowledged, no lock to lose with a connection.
        let seq = match joined {
            false => None,
            true => {
                n += 1;
                let text = format!("m{n}");
                Some((
                    c.request(|seq| ClientMessage::intent(seq, Intent::Chat { text }))
                        .await
                        .expect("send"),
                    n,
                ))
            }
        };
        loop {
            let event = match tokio::time::timeout(Duration::from_secs(30), c.next_event()).await {
                Ok(Ok(e)) => e,
                _ => return played,
            };
            match event {
                Event::Message(ServerMessage::Joined { .. }) if !joined => {
                    joined = true;
                    last_ack = Instant::now();
                    break;
                }
                Event::Resolved { seq: s, resolution } if Some(s) == seq.map(|(s, _)| s) => {
                    if matches!(
                        resolution,
                        Resolution::Acked | Resolution::AppliedBeforeResume
                    ) {
                        let now = Instant::now();
                        played.longest_gap = played.longest_gap.max(now - last_ack);
                        last_ack = now;
                        acked = seq.map(|(_, n)| n);
                    }
                    break;
                }
                Event::Resumed(back) => {
                    if let Some(t) = *since.borrow() {
                        played.resumed_after = Some(t.elapsed());
                    }
                    if let Some(n) = acked {
                        let want = format!("m{n}");
                        played.lost |= !support::board(&back.state)
                            .chat
                            .iter()
                            .any(|line| line.text == want);
                    }
                }
                _ => {}
            }
        }
        tokio::time::sleep(MOVE_EVERY).await;
    }
    played
}

fn nodes(url: &str, prefix: &str, n: usize) -> Vec<Server> {
    (0..n).map(|_| node(url, prefix, &seats(16))).collect()
}

async fn players_on(
    server: &Server,
    others: &[&Server],
    rooms: usize,
    tag: &str,
) -> (
    Vec<tokio::task::JoinHandle<Played>>,
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Sender<Option<Instant>>,
) {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (since_tx, since) = tokio::sync::watch::channel(None);
    let alternates: Vec<String> = others.iter().map(|s| s.ws.clone()).collect();
    let mut players = Vec::new();
    for r in 0..rooms {
        players.push(tokio::spawn(play(
            server.ws.clone(),
            alternates.clone(),
            format!("{tag}-{r}"),
            stop.clone(),
            since.clone(),
        )));
        if r % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (players, stop_tx, since_tx)
}

async fn report(players: Vec<tokio::task::JoinHandle<Played>>) {
    let mut gaps = Vec::new();
    let mut resumed = Vec::new();
    let mut lost = 0;
    let mut missing = 0;
    for p in players {
        let p = p.await.expect("player");
        gaps.push(p.longest_gap);
        match p.resumed_after {
            Some(t) => resumed.push(t),
            None => missing += 1,
        }
        lost += usize::from(p.lost);
    }
    summary("longest time without an ack, per room", gaps);
    summary("from the stop to the seat back, per room", resumed);
    println!("rooms whose seat did not come back: {missing}; rooms missing an acked move: {lost}");
}

async fn handoff_or_failover(rooms: usize, kill: bool) {
    let url = redis_url();
    let prefix = prefix(if kill {
        "bench-failover"
    } else {
        "bench-handoff"
    });
    let mut all = nodes(&url, &prefix, 3);
    nodes_until(&all[0], Duration::from_secs(10), |l| l.len() == 3).await;
    let (players, stop, since) = {
        let others = [&all[1], &all[2]];
        players_on(&all[0], &others, rooms, "r").await
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a = &mut all[0];
    let t0 = Instant::now();
    since.send(Some(t0)).expect("players");
    if kill {
        a.kill9();
    } else {
        std::process::Command::new("kill")
            .args(["-TERM", &a.child.id().to_string()])
            .status()
            .expect("kill");
        while a.child.try_wait().expect("wait").is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!("SIGTERM to exit: {:?}", t0.elapsed());
        for line in a.stdout_lines() {
            if line.contains("\"drained\"") {
                println!("{line}");
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(if kill { 6 } else { 3 })).await;
    stop.send(true).expect("players");
    report(players).await;
}

async fn matchmake(calls: usize) {
    let url = redis_url();
    let prefix = prefix("bench-matchmake");
    let all: Vec<Server> = (0..3).map(|_| node(&url, &prefix, &seats(4))).collect();
    nodes_until(&all[0], Duration::from_secs(10), |l| l.len() == 3).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..calls {
        let http = all[i % 3].http.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let (status, body) = support::http(
                &http,
                "POST",
                "/api/v1/matchmake",
                &[],
                r#"{"mode":"board"}"#,
            )
            .await;
            (t.elapsed(), status, body)
        }));
    }
    let mut took = Vec::new();
    let mut seats = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (d, status, body) = t.await.expect("call");
        took.push(d);
        if status == 200 {
            seats.push(serde_json::from_str::<serde_json::Value>(&body).expect("json"));
        } else {
            failed += 1;
        }
    }
    println!(
        "{calls} concurrent calls over 3 nodes in {:?}",
        started.elapsed()
    );
    summary("matchmake latency", took);
    let rooms: std::collections::BTreeSet<String> =
        seats.iter().map(|s| s["room"].to_string()).collect();
    println!("refused calls: {failed}; rooms made: {}", rooms.len());
    let mut joins = Vec::new();
    for m in seats {
        joins.push(tokio::spawn(async move {
            let mut c = Client::connect(m["ws"].as_str().expect("ws"), Codec::Json)
                .await
                .expect("connect");
            let ok = c
                .join_reserved(m["reservation"].as_str().expect("reservation"), "p", None)
                .await
                .is_ok();
            (ok, c)
        }));
    }
    let mut refused = 0;
    let mut keep = Vec::new();
    for j in joins {
        let (ok, c) = j.await.expect("join");
        refused += usize::from(!ok);
        keep.push(c);
    }
    println!("reservations refused at join: {refused}");
}

async fn redis_cost(rooms: usize) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let redis = OwnRedis::start(port);
    let url = redis.url();
    let a = node(&url, "bench-redis", &seats(16));
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 1).await;
    let (players, stop, _since) = players_on(&a, &[], rooms, "c").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = || {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "info", "stats"])
            .output()
            .expect("redis-cli");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}:")))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (
            field("total_commands_processed"),
            field("total_net_input_bytes"),
            field("total_net_output_bytes"),
        )
    };
    let window = Duration::from_secs(10);
    let before = stats();
    tokio::time::sleep(window).await;
    let after = stats();
    stop.send(true).expect("players");
    report(players).await;
    let per = |a: f64, b: f64| (b - a) / window.as_secs_f64() / rooms as f64;
    println!(
        "per room per second ({rooms} rooms, a move every {MOVE_EVERY:?}): {:.1} commands, {:.0} bytes in, {:.0} bytes out",
        per(before.0, after.0),
        per(before.1, after.1),
        per(before.2, after.2)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n = |default: usize| args.get(1).and_then(|v| v.parse().ok()).unwrap_or(default);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("matchmake") => rt.block_on(matchmake(n(1000))),
        Some("handoff") => rt.block_on(handoff_or_failover(n(100), false)),
        Some("failover") => rt.block_on(handoff_or_failover(n(100), true)),
        Some("redis") => rt.block_on(redis_cost(n(100))),
        _ => {
            eprintln!("usage: cargo bench --bench cluster -- matchmake|handoff|failover|redis [n]")
        }
    }
}
