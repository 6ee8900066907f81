//! Reading the store back: recovery at start, replay and export.

use crate::StoreError;
use crate::commit::i64_bits;
use crate::model::{InputRow, RoomRecord, SnapshotMeta, StoredRoom, TickRow};
use crate::packed;
use crate::schema::{self, OpenOptions};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

pub struct Reader {
    conn: Connection,
}

/// A stored formation save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFormation {
    pub user: String,
    pub key: String,
    pub name: String,
    pub team: Option<u16>,
    pub member: u32,
    pub tick: u64,
    pub placements: Vec<u8>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub tick: u64,
    pub at: u64,
    pub actor: String,
    pub action: String,
    pub details: String,
}

const ROOM_COLUMNS: &str = "id, seed, config, private, created_at, epoch, last_tick, log_from_tick, archived_at, mode, mode_version";

fn room_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredRoom, String, String)> {
    let config: String = r.get(2)?;
    let mode: String = r.get(9)?;
    Ok((
        StoredRoom {
            record: RoomRecord {
                room: r.get(0)?,
                seed: r.get::<_, i64>(1)? as u64,
                config: Default::default(),
                private: r.get(3)?,
                created_at: r.get::<_, i64>(4)? as u64,
                mode_version: r.get(10)?,
            },
            epoch: r.get(5)?,
            last_tick: r.get::<_, i64>(6)? as u64,
            log_from_tick: r.get::<_, i64>(7)? as u64,
            archived_at: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        },
        config,
        mode,
    ))
}

fn with_config(
    (mut room, config, mode): (StoredRoom, String, String),
) -> Result<StoredRoom, StoreError> {
    room.record.config = serde_json::from_str(&config).map_err(|e| StoreError::Corrupt {
        what: "room config",
        message: format!("room {}: {e}", room.record.room),
    })?;
    // The mode column is the record; a config written before modes named
    // none or the board.
    room.record.config.mode = mode;
    Ok(room)
}

/// An inclusive upper tick bound as SQLite compares it.
fn clamp(upto: u64) -> i64 {
    upto.min(i64::MAX as u64) as i64
}

impl Reader {
    /// Opens the database read-only (the server may be writing it).
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                message: "no such file".into(),
            });
        }
        let options = OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        };
        Ok(Reader {
            conn: schema::open(path, options)?,
        })
    }

    /// Opens the database read-write, migrating it: the server's recovery
    /// reads this way before its store thread starts.
    pub fn open_for_recovery(path: &Path) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: schema::open(path, OpenOptions::default())?,
        })
    }

    pub fn rooms(&self, include_archived: bool) -> Result<Vec<StoredRoom>, StoreError> {
        let sql = if include_archived {
            format!("SELECT {ROOM_COLUMNS} FROM rooms ORDER BY id")
        } else {
            format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE archived_at IS NULL ORDER BY id")
        };
        let rows: Vec<_> = self
            .conn
            .prepare(&sql)?
            .query_map([], room_row)?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(with_config).collect()
    }

    pub fn room(&self, room: &str) -> Result<StoredRoom, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?1"),
                params![room],
                room_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoRoom(room.to_owned()))?;
        with_config(row)
    }

    pub fn snapshots(&self, room: &str) -> Result<Vec<SnapshotMeta>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT tick, version, epoch, state_hash, size, at FROM snapshots WHERE room = ?1 ORDER BY tick",
            )?
            .query_map(params![room], |r| {
                Ok(SnapshotMeta {
                    tick: r.get::<_, i64>(0)? as u64,
                    version: r.get::<_, i64>(1)? as u64,
                    epoch: r.get(2)?,
                    state_hash: r.get::<_, i64>(3)? as u64,
                    size: r.get::<_, i64>(4)? as u64,
                    at: r.get::<_, i64>(5)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn snapshot_bytes(&self, room: &str, tick: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT bytes FROM snapshots WHERE room = ?1 AND tick = ?2",
                params![room, i64_bits(tick)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The last request sequence number applied per seat (member id, seq)
    /// as of the snapshot at `tick`; empty when the snapshot has none
    /// (written before they were kept).
    pub fn snapshot_seqs(&self, room: &str, tick: u64) -> Result<Vec<(u32, u64)>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT seqs FROM snapshots WHERE room = ?1 AND tick = ?2",
                params![room, i64_bits(tick)],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        match bytes {
            None => Ok(Vec::new()),
            Some(b) => postcard::from_bytes(&b).map_err(|e| StoreError::Corrupt {
                what: "seat sequence numbers",
                message: format!("room {room} snapshot at tick {tick}: {e}"),
            }),
        }
    }

    /// Logged ticks after `after`, up to `upto` inclusive.
    pub fn ticks(&self, room: &str, after: u64, upto: u64) -> Result<Vec<TickRow>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT tick, from_version, to_version, state_hash, at FROM ticks
                 WHERE room = ?1 AND tick > ?2 AND tick <= ?3 ORDER BY tick",
            )?
            .query_map(params![room, i64_bits(after), clamp(upto)], |r| {
                Ok(TickRow {
                    tick: r.get::<_, i64>(0)? as u64,
                    from_version: r.get::<_, i64>(1)? as u64,
                    to_version: r.get::<_, i64>(2)? as u64,
                    state_hash: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    at: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Calls `f` with every logged input after tick `after` up to `upto`
    /// inclusive, in (tick, order) order, streaming.
    pub fn for_each_input<E: From<StoreError>>(
        &self,
        room: &str,
        after: u64,
        upto: u64,
        mut f: impl FnMut(u64, InputRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT tick, input_count, inputs FROM ticks
                 WHERE room = ?1 AND tick > ?2 AND tick <= ?3 AND input_count > 0 ORDER BY tick",
            )
            .map_err(StoreError::from)?;
        let mut rows = stmt
            .query(params![room, i64_bits(after), clamp(upto)])
            .map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let tick = r.get::<_, i64>(0).map_err(StoreError::from)? as u64;
            let count = r.get::<_, i64>(1).map_err(StoreError::from)? as u64;
            let bytes = r
                .get_ref(2)
                .map_err(StoreError::from)?
                .as_blob()
                .map_err(|e| packed::corrupt(format!("room {room} tick {tick}: {e}")))?;
            for input in packed::unpack(bytes, count, room, tick)? {
                f(tick, input)?;
            }
        }
        Ok(())
    }

    pub fn input_count(&self, room: &str) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(input_count), 0) FROM ticks WHERE room = ?1",
            params![room],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    pub fn formations(&self, room: &str) -> Result<Vec<StoredFormation>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT user, key, name, team, member, tick, placements FROM formations
                 WHERE room = ?1 ORDER BY tick, user, key",
            )?
            .query_map(params![room], |r| {
                Ok(StoredFormation {
                    user: r.get(0)?,
                    key: r.get(1)?,
                    name: r.get(2)?,
                    team: r.get(3)?,
                    member: r.get(4)?,
                    tick: r.get::<_, i64>(5)? as u64,
                    placements: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn audit(&self, room: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT tick, at, actor, action, details FROM audit WHERE room = ?1 ORDER BY id",
            )?
            .query_map(params![room], |r| {
                Ok(AuditEntry {
                    tick: r.get::<_, i64>(0)? as u64,
                    at: r.get::<_, i64>(1)? as u64,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    details: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
