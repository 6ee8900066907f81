//! Opening the database: pragmas, and the forward-only numbered migrations
//! (rusqlite_migration, versioned by SQLite's `user_version`).

use crate::StoreError;
use rusqlite::Connection;
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};
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

/// The schema version this binary writes.
pub fn schema_version() -> usize {
    MIGRATIONS.len()
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
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

fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > schema_version() as i64 {
        return Err(StoreError::too_new(path, conn));
    }
    Ok(())
}

impl StoreError {
    fn too_new(path: &Path, conn: &Connection) -> StoreError {
        let found = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .unwrap_or(-1);
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
