//! The tick driver: tick threads that own the rooms (sharded by room id),
//! fed through bounded channels, pushing encoded frames into connections'
//! queues without ever blocking.

mod router;
mod shard;
mod slot;
pub mod stats;

pub use router::RoomRouter;
pub use shard::{ShardSettings, spawn_shards};
