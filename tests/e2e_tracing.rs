//! End-to-end: with `--log-format json`-style config every log line is a
//! JSON object, and a mutation's trace id is both on the log lines about it
//! (with its connection id, room and tick) and stored with its input in the
//! log, where the history API shows it again.

mod support;

use std::time::Duration;
use support::Server;
use tickroom_persistence::Reader;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{PieceId, RoomId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutations_trace_id_links_its_log_lines_and_its_logged_row() {
    let dir = support::fresh_data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Server::start_in(
        dir,
        &[
            ("TICKROOM_LOG_FORMAT", "json"),
            ("RUST_LOG", "tickroom=debug,info"),
        ],
        |mut cmd| {
            cmd.stderr(log);
            cmd
        },
    );
    server.keep_data = true;
    let room = RoomId::from("traced");
    let mut c = support::first_player(&server.ws, room.as_str(), "t").await;
    let piece = PieceId(1);
    assert!(c.intent(Intent::TakeLock { piece }).await.unwrap().is_ok());
    assert!(server.terminate(Duration::from_secs(10)).is_some());

    let r = Reader::open(&server.db_path()).unwrap();
    let mut rows = Vec::new();
    r.for_each_input::<tickroom_persistence::StoreError>(room.as_str(), 0, u64::MAX, |_, row| {
        rows.push((row.kind, row.trace_id));
        Ok(())
    })
    .unwrap();
    let logged = |kind: &str| rows.iter().find(|(k, _)| k == kind).and_then(|(_, t)| *t);
    let trace_id = logged("take_lock").expect("the take_lock row has a trace id");
    assert!(logged("join").is_some_and(|t| t != trace_id), "{rows:?}");
    // Log lines show it as 16 hex digits.
    let trace = format!("{trace_id:016x}");

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let about: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["trace_id"] == trace.as_str())
        .collect();
    let messages: Vec<&str> = about
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"request queued"), "{about:?}");
    assert!(messages.contains(&"request applied"), "{about:?}");
    assert!(
        about.iter().any(|l| l["fields"]["connection_id"].is_u64()),
        "{about:?}"
    );
    // Connection spans carry the connection id on the transport's lines.
    assert!(
        lines.iter().any(|l| l["span"]["connection_id"].is_u64()),
        "some line inside a connection span"
    );

    // From the log line to the input: its room and tick lead to the
    // history API's view of that tick, which shows the same trace id.
    let applied = about
        .iter()
        .find(|l| l["fields"]["message"] == "request applied")
        .unwrap();
    assert_eq!(applied["fields"]["room"], room.as_str(), "{applied}");
    let tick = applied["fields"]["tick"].as_u64().expect("a tick");
    let data_dir = server.data_dir.clone();
    drop(server);
    let server = Server::start_in(data_dir, &[], |cmd| cmd);
    let (status, body) = support::http_get(
        &server.http,
        &format!("/api/v1/history/{}?tick={tick}", room.as_str()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shown: Vec<&serde_json::Value> = view["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["trace_id"] == trace.as_str())
        .collect();
    assert_eq!(shown.len(), 1, "{view}");
    assert!(
        shown[0]["input"].to_string().contains("take_lock"),
        "{view}"
    );
}
