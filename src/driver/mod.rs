//! The tick driver: tick threads that own the rooms (sharded by room id),
//! fed through bounded channels, pushing encoded frames into connections'
//! queues without ever blocking.

pub mod admin;
mod body;
pub mod journal;
pub mod memory;
pub mod ownership;
mod router;
pub mod seat_seqs;
mod shard;
mod slot;
pub mod stats;
pub mod trace;
pub mod views;

pub use router::{RoomRouter, shard_index};
pub use shard::{Census, RoomSummary, ShardInit, ShardSettings, default_config, spawn_shards};
pub use slot::RoomSlot;
