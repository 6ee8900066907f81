//! A room whose stored history is found damaged at start (a tick missing
//! from its log, an input that does not decode, a replay that diverges) is
//! recovered to its last consistent tick, not dropped. Everything stored
//! after that tick is moved out of the room's history into `damaged_ticks`,
//! `damaged_snapshots`, `damaged_formations` and `damaged_audit` (kept for
//! examination, with a row in `damage` saying why), so the room's next ticks are logged after a history that
//! replays, instead of colliding with rows of a history that does not.

use crate::StoreError;
use crate::commit::i64_bits;
use crate::schema::{self, OpenOptions};
use rusqlite::params;
use std::path::Path;

/// What [`cut_after`] moved aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub ticks: u64,
    pub snapshots: u64,
}

/// Moves `room`'s logged ticks and snapshots after `keep_to_tick` into the
/// damaged tables, in one transaction, and records why.
pub fn cut_after(
    path: &Path,
    room: &str,
    keep_to_tick: u64,
    reason: &str,
) -> Result<Cut, StoreError> {
    let mut conn = schema::open(path, OpenOptions::default())?;
    let now = i64_bits(crate::model::unix_ms());
    let keep = i64_bits(keep_to_tick);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Each table's rows after the cut move to its damaged twin.
    let mut moved = [0u64; 4];
    for (n, (table, columns)) in [
        (
            "ticks",
            "room, tick, from_version, to_version, state_hash, at, input_count, inputs",
        ),
        (
            "snapshots",
            "room, tick, version, epoch, state_hash, size, at, bytes, seqs",
        ),
        // Formation saves and audit entries of the cut ticks: a save of the
        // same key after recovery must not be shadowed by the lost one.
        (
            "formations",
            "room, user, key, name, team, member, tick, at, placements",
        ),
        ("audit", "room, tick, at, actor, action, details"),
    ]
    .into_iter()
    .enumerate()
    {
        moved[n] = tx.execute(
            &format!(
                "INSERT INTO damaged_{table} ({columns}, cut_at)
                 SELECT {columns}, ?3 FROM {table} WHERE room = ?1 AND tick > ?2"
            ),
            params![room, keep, now],
        )? as u64;
        tx.execute(
            &format!("DELETE FROM {table} WHERE room = ?1 AND tick > ?2"),
            params![room, keep],
        )?;
    }
    let [ticks, snapshots, _, _] = moved;
    tx.execute(
        "UPDATE rooms SET last_tick = min(last_tick, ?2) WHERE id = ?1",
        params![room, keep],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO damage (room, cut_at, kept_to_tick, ticks_moved, snapshots_moved, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![room, now, keep, ticks as i64, snapshots as i64, reason],
    )?;
    tx.commit()?;
    Ok(Cut { ticks, snapshots })
}
