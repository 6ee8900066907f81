//! Opening the database: pragmas, and the forward-only numbered migrations
//! (rusqlite_migration, versioned by SQLite's `user_version`).

use crate::StoreError;
use crate::model::InputRow;
use crate::packed;
use rusqlite::{Connection, Transaction, params};
use rusqlite_migration::{HookError, HookResult, M, MigrationDefinitionError, Migrations};
use std::path::Path;
use std::time::Duration;

/// Migration 1: the whole first schema. Append new migrations; never edit
/// a released one. u64 values (seeds, hashes) are stored as their i64 bits.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    private INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    last_tick INTEGER NOT NULL DEFAULT 0,
    log_from_tick INTEGER NOT NULL DEFAULT 0,
    archived_at INTEGER
) STRICT;

CREATE TABLE ticks (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    state_hash INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (room, tick)
) STRICT, WITHOUT ROWID;

CREATE TABLE inputs (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    member INTEGER,
    seq INTEGER,
    kind TEXT NOT NULL,
    code TEXT,
    input BLOB NOT NULL,
    outcome BLOB NOT NULL,
    PRIMARY KEY (room, tick, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE snapshots (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    version INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    state_hash INTEGER NOT NULL,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (room, tick)
) STRICT;

CREATE TABLE formations (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    team INTEGER,
    member INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    at INTEGER NOT NULL,
    placements BLOB NOT NULL,
    PRIMARY KEY (room, user, key)
) STRICT;

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX audit_once ON audit (room, tick, action, actor, details);
"#,
    // Migration 2: the trace id of the request behind each logged input.
    r#"
ALTER TABLE inputs ADD COLUMN trace_id INTEGER;
"#,
];

/// Migration 4: where recovery moves the part of a room's history it found
/// damaged (see `damage`), kept for examination instead of deleted; and
/// beside each snapshot the last request sequence number applied for each
/// seat (not room state: the driver's, for `welcome.last_applied_seq` after
/// a restart).
const RECOVERY: &str = r#"
ALTER TABLE snapshots ADD COLUMN seqs BLOB;
CREATE TABLE damaged_ticks (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    state_hash INTEGER,
    at INTEGER NOT NULL,
    input_count INTEGER NOT NULL,
    inputs BLOB,
    cut_at INTEGER NOT NULL,
    PRIMARY KEY (room, cut_at, tick)
) STRICT;
CREATE TABLE damaged_snapshots (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    version INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    state_hash INTEGER NOT NULL,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    seqs BLOB,
    cut_at INTEGER NOT NULL,
    PRIMARY KEY (room, cut_at, tick)
) STRICT;
CREATE TABLE damaged_formations (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    team INTEGER,
    member INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    at INTEGER NOT NULL,
    placements BLOB NOT NULL,
    cut_at INTEGER NOT NULL,
    PRIMARY KEY (room, cut_at, user, key)
) STRICT;
CREATE TABLE damaged_audit (
    room TEXT NOT NULL,
    tick INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    cut_at INTEGER NOT NULL
) STRICT;
CREATE TABLE damage (
    room TEXT NOT NULL,
    cut_at INTEGER NOT NULL,
    kept_to_tick INTEGER NOT NULL,
    ticks_moved INTEGER NOT NULL,
    snapshots_moved INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (room, cut_at)
) STRICT;
"#;

/// Migration 3: each tick's inputs packed into its `ticks` row (see
/// `packed`); the hook moves the rows of `inputs` there and drops the table.
const PACK_INPUTS: &str = r#"
ALTER TABLE ticks ADD COLUMN input_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticks ADD COLUMN inputs BLOB;
"#;

/// Migration 5: each room records its game mode and the mode's version
/// (every room stored before modes existed is a board room of version 1;
/// the mode's name is also in the config, as it always was).
const MODES: &str = r#"
ALTER TABLE rooms ADD COLUMN mode TEXT NOT NULL DEFAULT 'board';
ALTER TABLE rooms ADD COLUMN mode_version INTEGER NOT NULL DEFAULT 1;
"#;

/// The schema version this binary writes.
pub fn schema_version() -> usize {
    all_migrations().len()
}

fn all_migrations() -> Vec<M<'static>> {
    let mut all: Vec<M<'static>> = MIGRATIONS.iter().map(|sql| M::up(sql)).collect();
    all.push(M::up_with_hook(PACK_INPUTS, pack_logged_inputs));
    all.push(M::up(RECOVERY));
    all.push(M::up(MODES));
    all
}

fn migrations() -> Migrations<'static> {
    Migrations::new(all_migrations())
}

/// Moves every row of the per-input table into its tick's row, in
/// (tick, idx) order, then drops the table. Runs inside the migration's
/// transaction: a database is either wholly upgraded or untouched.
fn pack_logged_inputs(tx: &Transaction) -> HookResult {
    {
        let mut select = tx.prepare(
            "SELECT room, tick, idx, member, seq, kind, code, input, outcome, trace_id
             FROM inputs ORDER BY room, tick, idx",
        )?;
        let mut update = tx.prepare(
            "UPDATE ticks SET input_count = ?3, inputs = ?4 WHERE room = ?1 AND tick = ?2",
        )?;
        let mut store = |room: &str, tick: i64, inputs: &[InputRow]| -> HookResult {
            let packed = packed::pack(inputs).map_err(|e| HookError::Hook(e.to_string()))?;
            let n = inputs.len() as i64;
            if update.execute(params![room, tick, n, packed])? != 1 {
                // The old writer put a tick's row and its inputs in one
                // transaction: inputs without their tick are damage.
                return Err(HookError::Hook(format!(
                    "room {room} has {n} logged inputs at tick {tick} but no row for that tick \
                     (the log is damaged there; nothing was changed: drop those inputs with \
                     `DELETE FROM inputs WHERE room = '{room}' AND tick = {tick}` and start again, \
                     or keep running the previous build)"
                )));
            }
            Ok(())
        };
        let mut rows = select.query([])?;
        let mut tick_of: Option<(String, i64)> = None;
        let mut inputs: Vec<InputRow> = Vec::new();
        while let Some(r) = rows.next()? {
            let (room, tick): (String, i64) = (r.get(0)?, r.get(1)?);
            if tick_of
                .as_ref()
                .is_some_and(|(ro, t)| (ro.as_str(), *t) != (room.as_str(), tick))
            {
                if let Some((ro, t)) = tick_of.take() {
                    store(&ro, t, &inputs)?;
                }
                inputs.clear();
            }
            tick_of = Some((room, tick));
            inputs.push(InputRow {
                index: r.get(2)?,
                member: r.get(3)?,
                seq: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                kind: r.get(5)?,
                code: r.get(6)?,
                input: r.get(7)?,
                outcome: r.get(8)?,
                trace_id: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
            });
        }
        if let Some((ro, t)) = tick_of {
            store(&ro, t, &inputs)?;
        }
    }
    tx.execute_batch("DROP TABLE inputs")?;
    Ok(())
}

/// How the connection is tuned; see the store config for each knob.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// `synchronous = FULL` instead of NORMAL.
    pub full_durability: bool,
    pub busy_timeout: Duration,
    /// A cap on the database size in pages (SQLITE_FULL beyond it).
    pub max_pages: Option<u64>,
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            full_durability: false,
            busy_timeout: Duration::from_millis(250),
            max_pages: None,
            read_only: false,
        }
    }
}

/// Opens (creating if needed) the database at `path` in WAL mode and brings
/// its schema up to date. A database written by a newer binary is refused.
pub fn open(path: &Path, options: OpenOptions) -> Result<Connection, StoreError> {
    let flags = if options.read_only {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::open(path, e.to_string()))?;
    conn.busy_timeout(options.busy_timeout)?;
    if options.read_only {
        check_version(&conn, path)?;
        // Reads of an older layout would fail on a missing column, halfway.
        let version = user_version(&conn)?;
        if version < schema_version() as i64 {
            return Err(StoreError::TooOld {
                path: path.display().to_string(),
                found: version,
                supported: schema_version(),
            });
        }
        return Ok(conn);
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = if options.full_durability {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if let Some(pages) = options.max_pages {
        conn.pragma_update(None, "max_page_count", pages as i64)?;
    }
    check_version(&conn, path)?;
    migrations().to_latest(&mut conn).map_err(|e| match e {
        rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        ) => StoreError::too_new(path, &conn),
        other => StoreError::Migration(other.to_string()),
    })?;
    Ok(conn)
}

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    if user_version(conn)? > schema_version() as i64 {
        return Err(StoreError::too_new(path, conn));
    }
    Ok(())
}

impl StoreError {
    fn too_new(path: &Path, conn: &Connection) -> StoreError {
        let found = user_version(conn).unwrap_or(-1);
        StoreError::TooNew {
            path: path.display().to_string(),
            found,
            supported: schema_version(),
        }
    }

    fn open(path: &Path, message: String) -> StoreError {
        StoreError::Open {
            path: path.display().to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reader;
    use std::path::PathBuf;

    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> TempDb {
            let dir =
                std::env::temp_dir().join(format!("tickroom-schema-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDb(dir)
        }
        fn path(&self) -> PathBuf {
            self.0.join("store.db")
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn input(tick: u64, index: u32) -> InputRow {
        InputRow {
            index,
            member: (index != 0).then_some(index + 1),
            seq: Some(tick * 100 + u64::from(index)),
            kind: if index == 0 { "join" } else { "move_piece" }.into(),
            code: (index == 2).then(|| "LOCK_HELD".into()),
            input: vec![tick as u8, index as u8, 9],
            outcome: vec![index as u8; index as usize],
            trace_id: (index != 1).then_some(u64::MAX - tick),
        }
    }

    /// A database as the build before migration 3 left it: the tick rows,
    /// and each input in a row of its own, inserted out of order.
    fn legacy_db(path: &Path, ticks: &[(&str, u64, u32)], orphan: Option<(&str, u64)>) {
        let mut conn = Connection::open(path).unwrap();
        migrations().to_version(&mut conn, 2).unwrap();
        let mut inputs = Vec::new();
        for &(room, tick, n) in ticks {
            conn.execute(
                "INSERT OR IGNORE INTO rooms (id, seed, config, private, created_at) VALUES (?1, 1, '{}', 0, 1)",
                params![room],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO ticks (room, tick, from_version, to_version, state_hash, at) VALUES (?1, ?2, ?2, ?2 + 1, NULL, 5)",
                params![room, tick as i64],
            )
            .unwrap();
            inputs.extend((0..n).map(|i| (room, tick, input(tick, i))));
        }
        if let Some((room, tick)) = orphan {
            inputs.push((room, tick, input(tick, 0)));
        }
        inputs.reverse();
        for (room, tick, i) in inputs {
            conn.execute(
                "INSERT INTO inputs (room, tick, idx, member, seq, kind, code, input, outcome, trace_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    room,
                    tick as i64,
                    i.index,
                    i.member,
                    i.seq.map(|s| s as i64),
                    i.kind,
                    i.code,
                    i.input,
                    i.outcome,
                    i.trace_id.map(|t| t as i64)
                ],
            )
            .unwrap();
        }
    }

    fn logged(reader: &Reader, room: &str) -> Vec<(u64, InputRow)> {
        let mut out = Vec::new();
        reader
            .for_each_input::<StoreError>(room, 0, u64::MAX, |tick, row| {
                out.push((tick, row));
                Ok(())
            })
            .unwrap();
        out
    }

    fn has_table(path: &Path, name: &str) -> bool {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 1
    }

    #[test]
    fn upgrading_packs_every_logged_input_into_its_tick_row() {
        let db = TempDb::new("upgrade");
        let ticks = [
            ("a", 1, 3),
            ("a", 2, 0),
            ("a", 7, 4),
            ("b", 1, 1),
            ("b", 3, 2),
        ];
        legacy_db(&db.path(), &ticks, None);
        drop(open(&db.path(), OpenOptions::default()).unwrap());
        assert!(
            !has_table(&db.path(), "inputs"),
            "the per-input table is dropped"
        );

        let reader = Reader::open(&db.path()).unwrap();
        for room in ["a", "b"] {
            let expected: Vec<(u64, InputRow)> = ticks
                .iter()
                .filter(|t| t.0 == room)
                .flat_map(|&(_, tick, n)| (0..n).map(move |i| (tick, input(tick, i))))
                .collect();
            assert!(!expected.is_empty());
            assert_eq!(logged(&reader, room), expected, "room {room}");
            assert_eq!(reader.input_count(room).unwrap(), expected.len() as u64);
        }
        let ticks_kept: Vec<u64> = reader
            .ticks("a", 0, u64::MAX)
            .unwrap()
            .iter()
            .map(|t| t.tick)
            .collect();
        assert_eq!(ticks_kept, [1, 2, 7], "tick rows are kept, inputs or not");
    }

    /// The refusal says `why`, and the old per-input table is still there.
    fn refused_and_untouched(path: &Path, err: &StoreError, why: &str) {
        assert!(err.to_string().contains(why), "{err}");
        assert!(has_table(path, "inputs"), "the database was left as it was");
    }

    #[test]
    fn a_read_only_open_of_an_older_database_says_to_upgrade_it_first() {
        let db = TempDb::new("old-read");
        legacy_db(&db.path(), &[("a", 1, 2)], None);
        let err = Reader::open(&db.path()).err().expect("refused");
        assert!(
            matches!(err, StoreError::TooOld { found: 2, supported, .. } if supported == schema_version()),
            "{err}"
        );
        refused_and_untouched(&db.path(), &err, "start `tickroom serve` on it once");
        drop(open(&db.path(), OpenOptions::default()).unwrap());
        assert_eq!(
            Reader::open(&db.path()).unwrap().input_count("a").unwrap(),
            2
        );
    }

    #[test]
    fn inputs_without_their_tick_row_stop_the_upgrade_and_change_nothing() {
        let db = TempDb::new("orphan");
        legacy_db(&db.path(), &[("a", 1, 2)], Some(("a", 5)));
        let err = open(&db.path(), OpenOptions::default()).unwrap_err();
        refused_and_untouched(
            &db.path(),
            &err,
            "room a has 1 logged inputs at tick 5 but no row",
        );
        assert_eq!(
            user_version(&Connection::open(db.path()).unwrap()).unwrap(),
            2
        );
    }
}
