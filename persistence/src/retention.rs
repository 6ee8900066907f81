//! Retention: a room's full log is kept for the retention period; after it,
//! the log behind the oldest kept snapshot is compacted (replay then starts
//! from that snapshot). Archived rooms are purged after their retention.

use crate::StoreError;
use crate::commit::i64_bits;
use rusqlite::{Connection, params};
use std::time::Duration;

/// What one retention pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub compacted_rooms: usize,
    pub deleted_inputs: usize,
    pub purged_rooms: usize,
}

pub fn run(
    conn: &mut Connection,
    now_ms: u64,
    log_retention: Duration,
    archived_retention: Duration,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    let log_cutoff = now_ms.saturating_sub(log_retention.as_millis() as u64);
    let purge_cutoff = now_ms.saturating_sub(archived_retention.as_millis() as u64);
    let tx = conn.transaction()?;
    {
        // The compaction base: the newest snapshot older than the cutoff,
        // when it is past the room's current log start.
        let mut bases = tx.prepare(
            "SELECT r.id, max(s.tick) FROM rooms r JOIN snapshots s ON s.room = r.id
             WHERE s.at <= ?1 GROUP BY r.id HAVING max(s.tick) > r.log_from_tick",
        )?;
        let bases: Vec<(String, i64)> = bases
            .query_map(params![i64_bits(log_cutoff)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        for (room, base) in bases {
            report.deleted_inputs += tx.query_row(
                "SELECT coalesce(sum(input_count), 0) FROM ticks WHERE room = ?1 AND tick <= ?2",
                params![room, base],
                |r| r.get::<_, i64>(0),
            )? as usize;
            tx.execute(
                "DELETE FROM ticks WHERE room = ?1 AND tick <= ?2",
                params![room, base],
            )?;
            tx.execute(
                "DELETE FROM snapshots WHERE room = ?1 AND tick < ?2",
                params![room, base],
            )?;
            tx.execute(
                "UPDATE rooms SET log_from_tick = ?2 WHERE id = ?1",
                params![room, base],
            )?;
            report.compacted_rooms += 1;
        }
        let purged: Vec<String> = tx
            .prepare("SELECT id FROM rooms WHERE archived_at IS NOT NULL AND archived_at <= ?1")?
            .query_map(params![i64_bits(purge_cutoff)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for room in purged {
            for table in ["ticks", "snapshots", "formations", "audit"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE room = ?1"),
                    params![room],
                )?;
            }
            tx.execute("DELETE FROM rooms WHERE id = ?1", params![room])?;
            report.purged_rooms += 1;
        }
    }
    tx.commit()?;
    if report != RetentionReport::default() {
        tracing::info!(?report, "retention");
    }
    Ok(report)
}
