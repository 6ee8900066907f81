//! End-to-end: `tickroom loadgen` against the real server. A small run over
//! both transports, spread over two processes and several loopback source
//! addresses, must deliver every critical event with no version gap; an
//! idle run over JSON measures heartbeats. The report's figures are checked
//! against each other and against the server's own counters.

mod support;

use serde_json::Value;
use support::Server;

fn loadgen(server: &Server, extra: &[&str]) -> Value {
    let report = server.data_dir.join(format!("report-{}.json", extra.len()));
    let cert = server.data_dir.join("tls").join("cert.der");
    let quic = server.quic.as_ref().expect("QUIC is on").addr.to_string();
    let mut args = vec![
        "loadgen".to_owned(),
        "--ws".into(),
        server.ws.clone(),
        "--quic".into(),
        quic,
        "--quic-cert".into(),
        cert.display().to_string(),
        "--report".into(),
        report.display().to_string(),
        "--server-pid".into(),
        server.child.id().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let (ok, text) = support::cli(&args);
    assert!(ok, "loadgen failed:\n{text}");
    assert!(text.contains("critical: own events"), "{text}");
    eprintln!("{text}");
    let json = std::fs::read(&report).expect("the report was written");
    serde_json::from_slice(&json).expect("the report is JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Every one of `n` clients connected and none dropped.
fn assert_all_held(r: &Value, n: u64) {
    let c = &r["clients"];
    assert_eq!(u(&c["connected"]), n, "{c}");
    assert_eq!(u(&c["dropped"]), 0, "{c}");
}

#[test]
fn a_small_mixed_run_over_two_processes_loses_nothing() {
    let server = Server::start(&[]);
    let r = loadgen(
        &server,
        &[
            "--transport",
            "mixed",
            "--clients",
            "30",
            "--rooms",
            "3",
            "--duration-s",
            "3",
            "--chat-every-s",
            "1",
            "--processes",
            "2",
            "--source-ips",
            "127.0.0.2-127.0.0.4",
        ],
    );
    assert_all_held(&r, 30);
    let cr = &r["critical"];
    // Every critical request came back in a delta, every client got every
    // room version from its join on, and nothing was cut off.
    assert_eq!(u(&cr["lost"]), 0, "{cr}");
    assert_eq!(u(&cr["gaps"]), 0, "{cr}");
    assert_eq!(u(&cr["own_delivered"]), u(&cr["own_expected"]), "{cr}");
    assert_eq!(
        u(&cr["room_versions_delivered"]),
        u(&cr["room_versions_expected"]),
        "{cr}"
    );
    // About 20 moves/s for 3 s from each of 30 clients (a loaded machine
    // may skip some sends; the report says how many went).
    let moves = u(&r["sent"]["move"]);
    assert!(moves > 30 * 20, "moves sent: {moves}");
    // Each client sees every version of its room: 10 members per room.
    assert!(u(&cr["room_versions_expected"]) >= 10 * moves / 3, "{cr}");
    for class in ["move", "cursor", "chat"] {
        let q = &r["latency_us"][class];
        assert!(u(&q["count"]) > 0, "{class}: {q}");
        assert!(u(&q["p50_us"]) <= u(&q["p99_us"]), "{class}: {q}");
        assert!(u(&q["p99_us"]) <= u(&q["max_us"]), "{class}: {q}");
    }
    assert_eq!(
        u(&r["latency_us"]["move"]["count"]),
        u(&r["echoed"]["move"]),
        "one latency sample per echoed move"
    );
    assert_eq!(r["rejects"], serde_json::json!({}), "{}", r["rejects"]);
    assert_eq!(r["errors"], serde_json::json!({}), "{}", r["errors"]);
    // Every intent was acknowledged (the joins' and locks' acks too).
    assert!(u(&r["acks"]) >= u(&cr["own_expected"]));
    let s = &r["server"];
    assert!(s["cpu_s"].as_f64().unwrap() > 0.0, "{s}");
    assert!(u(&s["rss_kib_end"]) > 0, "{s}");
    assert!(
        s["cpu_s_per_million_intents"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    assert!(!s["samples"].as_array().unwrap().is_empty(), "{s}");
    // The server's own gauge agrees on how many connections the run held.
    let conns = s["samples"][0]["gauges"]["tickroom_connections"]
        .as_f64()
        .unwrap();
    assert_eq!(conns, 30.0, "{s}");
    assert_eq!(u(&r["loadgen"]["processes"]), 2);
}

#[test]
fn an_idle_run_over_json_measures_heartbeats_and_changes_nothing() {
    let server = Server::start(&[]);
    let r = loadgen(
        &server,
        &[
            "--codec",
            "json",
            "--behavior",
            "idle",
            "--heartbeat-s",
            "0.5",
            "--clients",
            "20",
            "--rooms",
            "2",
            "--duration-s",
            "2",
        ],
    );
    assert_eq!(u(&r["clients"]["connected"]), 20);
    let pings = &r["latency_us"]["ping"];
    // Two seconds at one ping per half second: about four per client.
    assert!(u(&pings["count"]) >= 20 * 3, "{pings}");
    assert_eq!(u(&r["sent"]["ping"]), u(&r["echoed"]["ping"]));
    assert!(r["sent"].get("move").is_none(), "{}", r["sent"]);
    let cr = &r["critical"];
    assert_eq!(u(&cr["lost"]), 0, "{cr}");
    // Only the other clients' joins change an idle room.
    assert_eq!(
        u(&cr["room_versions_delivered"]),
        u(&cr["room_versions_expected"]),
        "{cr}"
    );
    assert!(u(&cr["room_versions_expected"]) <= 20 * 10, "{cr}");
}

#[test]
fn silent_clients_live_on_the_servers_pings() {
    // A heartbeat timeout of 600 ms: the server pings a connection after
    // 300 ms of silence; clients that send nothing of their own must still
    // be held for five timeouts, answering those pings.
    let server = Server::start(&[("TICKROOM_NET_HEARTBEAT_TIMEOUT_MS", "600")]);
    let r = loadgen(
        &server,
        &[
            "--behavior",
            "idle",
            "--heartbeat-s",
            "0",
            "--clients",
            "20",
            "--rooms",
            "2",
            "--duration-s",
            "3",
        ],
    );
    assert_all_held(&r, 20);
    assert!(r["sent"].get("ping").is_none(), "{}", r["sent"]);
    assert_eq!(r["errors"], serde_json::json!({}), "{}", r["errors"]);
    assert_eq!(u(&r["critical"]["lost"]), 0, "{}", r["critical"]);
    // Still all there by the server's own count at the end of the run.
    let samples = r["server"]["samples"].as_array().unwrap();
    let last = samples.last().expect("the server was sampled");
    assert_eq!(
        last["gauges"]["tickroom_connections"].as_f64(),
        Some(20.0),
        "{last}"
    );
}

#[test]
fn a_target_off_loopback_is_refused() {
    let (ok, text) = support::cli(&["loadgen", "--ws", "ws://192.0.2.1:7700/ws"]);
    assert!(!ok);
    assert!(text.contains("loopback"), "{text}");
}

/// Cluster mode: the load generator places its clients by matchmaking on
/// the nodes given (in turn), each taking its seat on the node that owns
/// its room.
#[test]
fn clients_placed_by_matchmaking_spread_over_the_cluster() {
    let url = support::cluster::redis_url();
    let prefix = support::cluster::prefix("loadgen");
    let env = [("TICKROOM_ROOMS_DEFAULT_MAX_PLAYERS", "4".to_owned())];
    let a = support::cluster::node(&url, &prefix, &env);
    let b = support::cluster::node(&url, &prefix, &env);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(support::cluster::nodes_until(
        &a,
        std::time::Duration::from_secs(10),
        |l| l.len() == 2,
    ));
    let nodes = format!("{},{}", a.http, b.http);
    let r = loadgen(
        &a,
        &[
            "--matchmake",
            &nodes,
            "--behavior",
            "idle",
            "--clients",
            "24",
            "--rooms",
            "6",
            "--duration-s",
            "1",
        ],
    );
    assert_all_held(&r, 24);
    // The room list reflects each node's rooms within a renewal period.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_, rooms) = runtime.block_on(support::cluster::json(&a, "/api/v1/rooms?limit=500"));
    let list = rooms["rooms"].as_array().cloned().unwrap_or_default();
    let on: std::collections::BTreeSet<String> = list
        .iter()
        .filter_map(|r| r["node"].as_str().map(str::to_owned))
        .collect();
    assert!(list.len() >= 6, "24 players in rooms of 4: {rooms}");
    assert_eq!(on.len(), 2, "rooms on both nodes: {rooms}");
}
