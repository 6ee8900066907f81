use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "the store {path} has schema version {found}, newer than this binary's {supported}; run a newer tickroom or restore a backup"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: usize,
    },
    #[error(
        "the store {path} has schema version {found}, older than this binary's {supported}; a read-only open does not migrate it: start `tickroom serve` on it once (or read it with the older tickroom)"
    )]
    TooOld {
        path: String,
        found: i64,
        supported: usize,
    },
    #[error("migrating the store: {0}")]
    Migration(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the stored {what} is damaged: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("no room {0} in the store")]
    NoRoom(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("dead-letter file {path}: {message}")]
    DeadLetter { path: String, message: String },
}

impl StoreError {
    /// Errors that clear by themselves (a lock held elsewhere, a full or
    /// failing disk): retried with backoff. Others are bugs or damage.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::OutOfMemory
            ),
            StoreError::Unavailable(_) | StoreError::Open { .. } => true,
            _ => false,
        }
    }
}
