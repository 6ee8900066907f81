//! The SQLite store: forward-only migrations, the input log of every room,
//! snapshots, formations and the audit log, written by its own thread (see
//! [`Store`]) and read back by [`Reader`] for recovery, replay and export.
//!
//! The store knows nothing of the simulation: inputs, outcomes and
//! snapshots arrive encoded. Durability: WAL with `synchronous = NORMAL`
//! survives a process crash (kill -9) but not a power loss; `full_durability`
//! (`synchronous = FULL`) survives both.

pub mod breaker;
mod commit;
mod config;
mod damage;
mod dead_letter;
mod error;
mod health;
mod model;
pub mod packed;
mod reader;
pub mod retention;
mod schema;
mod writer;

pub use config::StoreConfig;
pub use damage::{Cut, cut_after};
pub use error::StoreError;
pub use health::{BreakerState, RoomProgress, StoreHealth};
pub use model::{
    AuditRow, FormationRow, InputRow, RoomRecord, SnapshotMeta, SnapshotRow, StoredRoom, TickBatch,
    TickRow, Write, unix_ms,
};
pub use reader::{AuditEntry, Reader, StoredFormation};
pub use schema::schema_version;
pub use writer::{OnCommit, Pending, Store};
