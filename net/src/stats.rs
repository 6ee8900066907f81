//! Counters the network layer keeps for the ops side: plain atomics bumped
//! on the I/O paths, read (and exported as metrics) by the binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tickroom_protocol::Codec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Quic,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Ws, Transport::Quic];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Quic => "quic",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn codec_index(codec: Codec) -> usize {
    match codec {
        Codec::Postcard => 0,
        Codec::Json => 1,
    }
}

#[derive(Debug, Default)]
pub struct NetStats {
    /// Live connections by transport and codec.
    connections: [[AtomicI64; 2]; 2],
    frames_in: [AtomicU64; 2],
    bytes_in: [AtomicU64; 2],
    frames_out: [AtomicU64; 2],
    bytes_out: [AtomicU64; 2],
    /// Requests refused with RATE_LIMITED.
    pub rate_limited: AtomicU64,
    /// `hello`s with a protocol version this server does not speak.
    pub version_mismatches: AtomicU64,
    /// Connections closed with SLOW_CONSUMER.
    pub slow_consumers: AtomicU64,
    /// Bytes queued for sending, over all connections.
    queued_bytes: AtomicI64,
}

impl NetStats {
    pub fn connections(&self, t: Transport, codec: Codec) -> i64 {
        self.connections[t.index()][codec_index(codec)].load(Ordering::Relaxed)
    }
    pub fn frames_in(&self, t: Transport) -> u64 {
        self.frames_in[t.index()].load(Ordering::Relaxed)
    }
    pub fn bytes_in(&self, t: Transport) -> u64 {
        self.bytes_in[t.index()].load(Ordering::Relaxed)
    }
    pub fn frames_out(&self, t: Transport) -> u64 {
        self.frames_out[t.index()].load(Ordering::Relaxed)
    }
    pub fn bytes_out(&self, t: Transport) -> u64 {
        self.bytes_out[t.index()].load(Ordering::Relaxed)
    }
    /// Bytes waiting in connections' outbound queues right now.
    pub fn queued_bytes(&self) -> i64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }
}

/// One connection's view of the counters.
#[derive(Debug, Clone)]
pub struct Meter {
    stats: Arc<NetStats>,
    transport: Transport,
}

impl Meter {
    pub fn new(stats: Arc<NetStats>, transport: Transport) -> Meter {
        Meter { stats, transport }
    }

    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    pub(crate) fn frame_in(&self, len: usize) {
        let t = self.transport.index();
        self.stats.frames_in[t].fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_in[t].fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn queued(&self, delta: i64) {
        self.stats.queued_bytes.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn frame_out(&self, len: usize) {
        let t = self.transport.index();
        self.stats.frames_out[t].fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_out[t].fetch_add(len as u64, Ordering::Relaxed);
    }

    /// Counts a live connection until the guard is dropped.
    pub(crate) fn connection(&self, codec: Codec) -> LiveConnection {
        let slot = (self.transport.index(), codec_index(codec));
        self.stats.connections[slot.0][slot.1].fetch_add(1, Ordering::Relaxed);
        LiveConnection {
            stats: self.stats.clone(),
            slot,
        }
    }
}

pub(crate) struct LiveConnection {
    stats: Arc<NetStats>,
    slot: (usize, usize),
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.stats.connections[self.slot.0][self.slot.1].fetch_sub(1, Ordering::Relaxed);
    }
}
