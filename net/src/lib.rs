//! The network layer: connections, sessions, outbound queues and the
//! WebSocket transport, plus a Rust client. It knows the wire protocol and
//! nothing of rooms: it hands decoded messages to a [`Router`] (implemented by
//! the binary, which owns the tick threads) and receives pre-encoded frames
//! through each connection's bounded queue.

pub mod client;
mod config;
mod conn;
pub mod framing;
mod heartbeat;
mod out_queue;
mod outbound;
pub mod quic;
mod rate;
pub mod reconnecting;
mod room_clock;
mod session;
mod state;
pub mod stats;
pub mod tokens;
pub mod tracker;
pub mod ws;
mod ws_writer;

pub use config::NetConfig;
pub use conn::{ConnHandle, ConnId, Identity};
pub use outbound::{OutFrame, Payload, PushOutcome};
pub use rate::{Rate, RateClass, RateLimits, class_of};
pub use room_clock::RoomClock;
pub use session::Router;
pub use state::ConnState;
