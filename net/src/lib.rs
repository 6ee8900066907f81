//! The network layer: WebSocket and QUIC listeners, sessions, rate limits,
//! backpressure and fan-out. Filled by the "serve rooms" issue; it depends on
//! the protocol crate only and never on `sim`.
