//! Limits and timings of connections, filled from the server config.

use crate::rate::RateLimits;
use std::time::Duration;
use tickroom_protocol::Limits;

#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Join and resume tokens.
    pub tokens: std::sync::Arc<crate::tokens::Tokens>,
    /// Decode limits for client frames (frame bytes, JSON depth, strings, lists).
    pub limits: Limits,
    /// tungstenite's read and write buffers per connection, in bytes.
    pub ws_read_buffer: usize,
    pub ws_write_buffer: usize,
    /// Outbound queue bounds per connection.
    pub outbound_frames: usize,
    pub outbound_bytes: usize,
    /// A connection must send a valid hello within this time.
    pub handshake_timeout: Duration,
    /// A connection from which nothing arrives for this long has dropped.
    pub heartbeat_timeout: Duration,
    /// Anonymous (token-less) play is allowed on this connection.
    pub allow_anonymous: bool,
    pub rates: RateLimits,
    /// Rate-limited requests in a row after which the connection is closed.
    pub abuse_limit: u32,
    /// A connection whose queue has not drained for this long is a slow consumer.
    pub stall_timeout: Duration,
    /// How long a connection the server closes may take to drain its queue,
    /// deliver `closing` and complete the close before its socket is
    /// dropped regardless (a slow consumer's backlog is dropped, so this is
    /// its time to read `closing`). A peer that stopped reading never
    /// completes the close: until this runs out it holds a connection and
    /// its place under the caps.
    pub close_linger: Duration,
    /// The game modes the server serves, as `welcome` lists them.
    pub modes: std::sync::Arc<[tickroom_protocol::ModeInfo]>,
    /// Counters for the ops side (metrics).
    pub stats: std::sync::Arc<crate::stats::NetStats>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tokens: std::sync::Arc::new(crate::tokens::Tokens::new(
                None,
                &crate::tokens::random_secret(32).unwrap_or_else(|_| vec![7; 32]),
                Duration::from_secs(86_400),
            )),
            limits: Limits::CLIENT_FRAMES,
            // Client frames are small (an intent is tens of bytes); a larger
            // frame grows the buffer for as long as it needs. Idle, this is
            // most of what a connection costs.
            ws_read_buffer: 256,
            ws_write_buffer: 4 * 1024,
            outbound_frames: 256,
            outbound_bytes: 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            allow_anonymous: true,
            rates: RateLimits::default(),
            abuse_limit: 100,
            stall_timeout: Duration::from_secs(5),
            close_linger: Duration::from_secs(2),
            modes: std::sync::Arc::from(Vec::new()),
            stats: Default::default(),
        }
    }
}

impl NetConfig {
    /// Server pings go out when the connection has been quiet this long, so a
    /// live client always answers before the heartbeat timeout. A client that
    /// sends something (its own heartbeat) more often is never pinged.
    pub fn ping_interval(&self) -> Duration {
        self.heartbeat_timeout / 2
    }
}
