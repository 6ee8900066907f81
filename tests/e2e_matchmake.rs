//! End-to-end: matchmaking over three nodes. A burst of 200 concurrent
//! calls, spread over the nodes, fills rooms of four without ever handing
//! out a fifth seat, spreads the rooms it makes over the nodes, and every
//! reservation then takes its seat on the owner; a reservation not claimed
//! in time gives its seat back and is refused.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::Server;
use support::cluster::*;
use tickroom_net::client::{Client, ClientError};
use tickroom_protocol::{Codec, ErrorCode};

async fn matchmake(server: &Server, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = support::http(&server.http, "POST", "/api/v1/matchmake", &[], body).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

fn seats(max: u16, ttl_ms: u64) -> Vec<(&'static str, String)> {
    vec![
        ("TICKROOM_ROOMS_DEFAULT_MAX_PLAYERS", max.to_string()),
        ("TICKROOM_ROOMS_DEFAULT_TEAMS", "0".into()),
        ("TICKROOM_CLUSTER_RESERVATION_TTL_MS", ttl_ms.to_string()),
    ]
}

#[tokio::test]
async fn a_burst_of_matchmaking_fills_rooms_without_overfilling_and_spreads_them() {
    let url = redis_url();
    let prefix = prefix("burst");
    let nodes: Vec<Server> = (0..3)
        .map(|_| node(&url, &prefix, &seats(4, 30_000)))
        .collect();
    let ids: Vec<String> = nodes.iter().map(node_id).collect();
    nodes_until(&nodes[0], Duration::from_secs(10), |l| l.len() == 3).await;

    let calls = 200;
    let mut tasks = Vec::new();
    for i in 0..calls {
        let http = nodes[i % 3].http.clone();
        tasks.push(tokio::spawn(async move {
            let (status, text) = support::http(
                &http,
                "POST",
                "/api/v1/matchmake",
                &[],
                r#"{"mode":"board"}"#,
            )
            .await;
            (status, text)
        }));
    }
    let mut seats_by_room: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for t in tasks {
        let (status, text) = t.await.unwrap();
        assert_eq!(status, 200, "{text}");
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        seats_by_room
            .entry(m["room"].as_str().unwrap().to_owned())
            .or_default()
            .push(m);
    }
    for (room, seats) in &seats_by_room {
        assert!(seats.len() <= 4, "room {room} got {} seats", seats.len());
        let owners: BTreeSet<&str> = seats.iter().map(|s| s["node"].as_str().unwrap()).collect();
        assert_eq!(owners.len(), 1, "one owner per room: {owners:?}");
    }
    assert!(
        seats_by_room.len() >= calls / 4,
        "{} rooms for {calls} seats of 4",
        seats_by_room.len()
    );
    let per_node = |id: &str| {
        seats_by_room
            .values()
            .filter(|s| s[0]["node"] == id)
            .count()
    };
    for id in &ids {
        assert!(
            per_node(id) * 5 >= seats_by_room.len(),
            "the rooms spread over the nodes: {:?}",
            ids.iter().map(|i| per_node(i)).collect::<Vec<_>>()
        );
    }

    // Every reservation takes its seat on the room's owner.
    let mut joins = Vec::new();
    for m in seats_by_room.values().flatten().cloned() {
        joins.push(tokio::spawn(async move {
            let mut c = Client::connect(m["ws"].as_str().unwrap(), Codec::Json)
                .await
                .unwrap();
            let joined = c
                .join_reserved(m["reservation"].as_str().unwrap(), "p", None)
                .await;
            (m, joined, c)
        }));
    }
    let mut clients = Vec::new();
    for j in joins {
        let (m, joined, c) = j.await.unwrap();
        let joined = joined.unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_eq!(joined.room.as_str(), m["room"].as_str().unwrap());
        clients.push(c);
    }
    // The cluster's room list (from any node), once every node has
    // published its rooms.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (_, rooms) = json(&nodes[0], "/api/v1/rooms?limit=500").await;
        let list = rooms["rooms"].as_array().unwrap();
        let mut members = 0;
        for r in list {
            let n = r["members"].as_u64().unwrap();
            assert!(n <= 4, "{r}");
            members += n;
        }
        if members == calls as u64 {
            assert_eq!(list.len(), seats_by_room.len(), "{rooms}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "every player seated exactly once: {members} of {calls}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_unclaimed_reservation_gives_its_seat_back_and_is_refused() {
    let url = redis_url();
    let prefix = prefix("expiry");
    let a = node(&url, &prefix, &seats(2, 500));
    nodes_until(&a, Duration::from_secs(10), |l| l.len() == 1).await;

    let (_, first) = matchmake(&a, r#"{"mode":"board","filters":{"map":"forest"}}"#).await;
    let (_, second) = matchmake(&a, r#"{"filters":{"map":"forest"},"mode":"board"}"#).await;
    assert_eq!(first["room"], second["room"], "{first} {second}");
    assert_eq!(first["created"], true);
    assert_eq!(second["created"], false);
    let (_, third) = matchmake(&a, r#"{"mode":"board","filters":{"map":"forest"}}"#).await;
    assert_ne!(
        third["room"], first["room"],
        "the room's two seats are held"
    );
    let (_, elsewhere) = matchmake(&a, r#"{"mode":"board","filters":{"map":"desert"}}"#).await;
    assert_ne!(
        elsewhere["room"], third["room"],
        "other filters, other rooms"
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    // Both seats of the first room came back: the fullest open room with
    // a free seat is offered again.
    let held = [first["room"].clone(), third["room"].clone()];
    for _ in 0..3 {
        let (_, m) = matchmake(&a, r#"{"mode":"board","filters":{"map":"forest"}}"#).await;
        assert_eq!(m["created"], false, "a freed seat was offered: {m}");
        assert!(held.contains(&m["room"]), "{m}");
    }
    let mut late = Client::connect(&a.ws, Codec::Json).await.unwrap();
    match late
        .join_reserved(first["reservation"].as_str().unwrap(), "late", None)
        .await
    {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::ReservationExpired),
        other => panic!("an expired reservation was taken: {other:?}"),
    }
    let (status, bad) = matchmake(&a, r#"{"mode":"board","filters":{"map":{"x":1}}}"#).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["code"], "INVALID_ARGUMENT");
    let (status, bad) = matchmake(&a, r#"{"mode":"chess"}"#).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["code"], "MODE_UNAVAILABLE");
}

#[tokio::test]
async fn a_single_node_says_matchmaking_needs_cluster_mode() {
    let server = Server::start(&[]);
    let (status, body) = matchmake(&server, r#"{"mode":"board"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_ARGUMENT");
}
