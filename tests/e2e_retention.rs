//! End-to-end: retention runs by itself while the server serves. With a
//! one-second retention, a busy room's log is compacted behind a snapshot and
//! an archived room is purged; the compacted room still replays (from its
//! oldest kept snapshot) and still exports to a scenario that passes.

mod support;

use std::time::{Duration, Instant};
use support::Server;
use tickroom_net::client::Client;
use tickroom_persistence::{Reader, StoreError};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{Codec, PieceId, Pos, RoomId};

const ENV: &[(&str, &str)] = &[
    ("TICKROOM_STORE_SNAPSHOT_EVERY_TICKS", "10"),
    ("TICKROOM_STORE_LOG_RETENTION_S", "1"),
    ("TICKROOM_STORE_ARCHIVED_RETENTION_S", "1"),
    ("TICKROOM_STORE_RETENTION_INTERVAL_S", "1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_logs_are_compacted_and_archived_rooms_purged_while_rooms_still_replay_and_export() {
    let mut server = Server::start(ENV);
    server.keep_data = true;
    let kept = RoomId::from("kept");
    let done = RoomId::from("done");
    let mut host = Client::connect(&server.ws, Codec::Json).await.unwrap();
    for id in [&kept, &done] {
        host.create_room(Some(id.clone()), support::small_room(), false)
            .await
            .unwrap();
    }
    let mut archiver = Client::connect(&server.ws, Codec::Json).await.unwrap();
    archiver.join(&done, "a", None).await.unwrap();
    let archived = archiver.intent(Intent::ArchiveRoom {}).await.unwrap();
    assert!(archived.is_ok(), "{archived:?}");
    drop(archiver);

    host.join(&kept, "h", None).await.unwrap();
    let piece = PieceId(0);
    assert!(
        host.intent(Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );
    let db = server.db_path();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    let compacted_at = loop {
        n += 1;
        let to = Pos::new(n % 900 + 1, n % 700 + 1);
        let moved = host.intent(Intent::MovePiece { piece, to }).await.unwrap();
        assert!(moved.is_ok(), "{moved:?}");
        if n % 5 == 0 {
            let r = Reader::open(&db).unwrap();
            let from = r.room(kept.as_str()).unwrap().log_from_tick;
            let purged = matches!(r.room(done.as_str()), Err(StoreError::NoRoom(_)));
            if from > 0 && purged {
                break from;
            }
        }
        assert!(
            Instant::now() < deadline,
            "retention did not compact and purge in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // More history after the compaction point.
    for k in 0..10 {
        let to = Pos::new(k + 5, k + 7);
        assert!(
            host.intent(Intent::MovePiece { piece, to })
                .await
                .unwrap()
                .is_ok()
        );
    }
    assert!(server.terminate(Duration::from_secs(10)).is_some());

    let r = Reader::open(&db).unwrap();
    let stored = r.room(kept.as_str()).unwrap();
    assert!(stored.log_from_tick >= compacted_at);
    assert!(
        r.snapshots(kept.as_str())
            .unwrap()
            .iter()
            .all(|s| s.tick >= stored.log_from_tick),
        "snapshots behind the compaction point are gone"
    );
    drop(r);

    let text = support::replay(&db, kept.as_str());
    assert!(
        !text.contains("\"from_tick\":0,"),
        "replay starts at the kept snapshot: {text}"
    );
    let file = support::export_and_run(&db, kept.as_str());
    assert!(
        file.contains("\nsnapshot "),
        "the export starts from the snapshot"
    );
    assert!(file.contains(" move "));
}
