//! Writing one batch of writes in one transaction (the group commit).
//! Every insert is idempotent, so a batch replayed from the dead-letter
//! file after a crash cannot fail on rows it already wrote.

use crate::StoreError;
use crate::model::Write;
use crate::packed;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

pub(crate) fn i64_bits(v: u64) -> i64 {
    v as i64
}

/// A room record as the `rooms` insert takes it: id, seed, config (JSON),
/// private, created_at, mode, mode_version.
fn room_params(r: &crate::model::RoomRecord) -> Result<Vec<Box<dyn rusqlite::ToSql>>, StoreError> {
    let config = serde_json::to_string(&r.config).map_err(|e| StoreError::Corrupt {
        what: "room config",
        message: e.to_string(),
    })?;
    Ok(vec![
        Box::new(r.room.clone()),
        Box::new(i64_bits(r.seed)),
        Box::new(config),
        Box::new(r.private),
        Box::new(i64_bits(r.created_at)),
        Box::new(r.config.mode.clone()),
        Box::new(r.mode_version),
    ])
}

pub fn commit(conn: &mut Connection, writes: &[&Write]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // The highest tick per room in this batch: one rooms update per room.
    let mut last_tick: BTreeMap<&str, u64> = BTreeMap::new();
    {
        let mut room = tx.prepare_cached(
            "INSERT OR IGNORE INTO rooms (id, seed, config, private, created_at, mode, mode_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut tick = tx.prepare_cached(
            "INSERT OR IGNORE INTO ticks (room, tick, from_version, to_version, state_hash, at, input_count, inputs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut formation = tx.prepare_cached(
            "INSERT OR IGNORE INTO formations (room, user, key, name, team, member, tick, at, placements) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut audit = tx.prepare_cached(
            "INSERT OR IGNORE INTO audit (room, tick, at, actor, action, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut snapshot = tx.prepare_cached(
            // A restored room snapshots itself at the tick it came back at,
            // which may already hold its previous life's snapshot: the newer
            // epoch wins, so a second restart bumps the epoch again. The same
            // write offered twice (dead-letter replay) changes nothing.
            "INSERT INTO snapshots (room, tick, version, epoch, state_hash, size, at, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (room, tick) DO UPDATE SET version = excluded.version, epoch = excluded.epoch,
                state_hash = excluded.state_hash, size = excluded.size, at = excluded.at, bytes = excluded.bytes
             WHERE excluded.epoch > snapshots.epoch",
        )?;
        let mut archived = tx.prepare_cached(
            "UPDATE rooms SET archived_at = ?2 WHERE id = ?1 AND archived_at IS NULL",
        )?;
        let mut epoch =
            tx.prepare_cached("UPDATE rooms SET epoch = max(epoch, ?2) WHERE id = ?1")?;
        let mut seqs =
            tx.prepare_cached("UPDATE snapshots SET seqs = ?3 WHERE room = ?1 AND tick = ?2")?;
        // A purged room may still be loaded (its members leave after the
        // purge): its later writes are dropped, not left as orphan rows.
        let mut known = tx.prepare_cached("SELECT 1 FROM rooms WHERE id = ?1")?;
        for w in writes {
            match w {
                Write::CreateRoom(r) => {
                    room.execute(rusqlite::params_from_iter(room_params(r)?.iter()))?;
                }
                Write::Tick(t) if !known.exists(params![t.room])? => {}
                Write::Snapshot(s) | Write::SeatedSnapshot { snapshot: s, .. }
                    if !known.exists(params![s.room])? => {}
                Write::Tick(t) => {
                    let inputs = match t.inputs.is_empty() {
                        true => None,
                        false => Some(packed::pack(&t.inputs)?),
                    };
                    tick.execute(params![
                        t.room,
                        i64_bits(t.tick),
                        i64_bits(t.from_version),
                        i64_bits(t.to_version),
                        t.state_hash.map(i64_bits),
                        i64_bits(t.at),
                        t.inputs.len() as i64,
                        inputs
                    ])?;
                    for f in &t.formations {
                        formation.execute(params![
                            t.room,
                            f.user,
                            f.key,
                            f.name,
                            f.team,
                            f.member,
                            i64_bits(t.tick),
                            i64_bits(t.at),
                            f.placements
                        ])?;
                    }
                    for a in &t.audit {
                        audit.execute(params![
                            t.room,
                            i64_bits(t.tick),
                            i64_bits(t.at),
                            a.actor,
                            a.action,
                            a.details
                        ])?;
                    }
                    let e = last_tick.entry(t.room.as_str()).or_default();
                    *e = (*e).max(t.tick);
                }
                Write::Snapshot(s) | Write::SeatedSnapshot { snapshot: s, .. } => {
                    snapshot.execute(params![
                        s.room,
                        i64_bits(s.tick),
                        i64_bits(s.version),
                        s.epoch,
                        i64_bits(s.state_hash),
                        s.bytes.len() as i64,
                        i64_bits(s.at),
                        s.bytes
                    ])?;
                    let e = last_tick.entry(s.room.as_str()).or_default();
                    *e = (*e).max(s.tick);
                    if let Write::SeatedSnapshot { seqs: list, .. } = w {
                        let bytes = postcard::to_stdvec(list).map_err(|e| StoreError::Corrupt {
                            what: "seat sequence numbers",
                            message: e.to_string(),
                        })?;
                        seqs.execute(params![s.room, i64_bits(s.tick), bytes])?;
                    }
                }
                Write::Archived { room, at } => {
                    archived.execute(params![room, i64_bits(*at)])?;
                }
                Write::Epoch { room, epoch: e } => {
                    epoch.execute(params![room, e])?;
                }
                Write::Adopt {
                    record: r,
                    tick: at,
                } => {
                    tx.execute("DELETE FROM ticks WHERE room = ?1", params![r.room])?;
                    tx.execute("DELETE FROM snapshots WHERE room = ?1", params![r.room])?;
                    let mut fields = room_params(r)?;
                    room.execute(rusqlite::params_from_iter(fields.iter()))?;
                    fields.push(Box::new(i64_bits(*at)));
                    tx.execute(
                        "UPDATE rooms SET seed = ?2, config = ?3, private = ?4, created_at = ?5, mode = ?6,
                            mode_version = ?7, last_tick = ?8, log_from_tick = ?8, archived_at = NULL
                         WHERE id = ?1",
                        rusqlite::params_from_iter(fields.iter()),
                    )?;
                    last_tick.remove(r.room.as_str());
                }
            }
        }
        let mut rooms =
            tx.prepare_cached("UPDATE rooms SET last_tick = max(last_tick, ?2) WHERE id = ?1")?;
        for (room, tick) in last_tick {
            rooms.execute(params![room, i64_bits(tick)])?;
        }
    }
    tx.commit()?;
    Ok(())
}
