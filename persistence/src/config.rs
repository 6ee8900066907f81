use crate::breaker::BreakerConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the store can be told; the server's `[store]` config section
/// maps onto it (see the README for defaults and bounds).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// `synchronous = FULL`: survives power loss, not just a process crash.
    pub full_durability: bool,
    /// How long a write waits for a lock held by another connection before
    /// it fails with SQLITE_BUSY (and is retried).
    pub busy_timeout: Duration,
    /// A cap on the database file, in bytes; writes beyond it fail as a
    /// full disk would.
    pub max_db_bytes: Option<u64>,
    /// The channel from the tick threads, in writes.
    pub queue: usize,
    /// Writes per transaction at most.
    pub batch_max_writes: usize,
    /// The longest a write waits for its group commit.
    pub commit_interval: Duration,
    /// Writes the store cannot make wait in memory only when the dead-letter
    /// file cannot take them; past this many bytes (and the file full)
    /// mutations are refused.
    pub buffer_max_bytes: u64,
    /// While the store fails, every write waits here, in order, up to
    /// `dead_letter_max_bytes`; `None`: memory only.
    pub dead_letter: Option<PathBuf>,
    pub dead_letter_max_bytes: u64,
    pub breaker: BreakerConfig,
    /// The full log of a room is kept this long.
    pub log_retention: Duration,
    /// Archived rooms are purged this long after archiving.
    pub archived_retention: Duration,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl StoreConfig {
    pub fn new(path: PathBuf) -> StoreConfig {
        StoreConfig {
            path,
            full_durability: false,
            busy_timeout: Duration::from_millis(250),
            max_db_bytes: None,
            queue: 16_384,
            batch_max_writes: 4096,
            commit_interval: Duration::from_millis(20),
            buffer_max_bytes: 256 << 20,
            dead_letter: None,
            dead_letter_max_bytes: 1 << 30,
            breaker: BreakerConfig {
                failures_to_open: 3,
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_secs(5),
            },
            log_retention: Duration::from_secs(7 * 24 * 3600),
            archived_retention: Duration::from_secs(30 * 24 * 3600),
            retention_interval: Duration::from_secs(60),
        }
    }
}
