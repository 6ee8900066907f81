//! The WebSocket transport. The HTTP server owns the listener and completes
//! the upgrade; it hands the upgraded connection here as plain async IO.

use crate::config::NetConfig;
use crate::conn::{ConnHandle, ConnId, unless_closed};
use crate::heartbeat::{Due, Heartbeat};
use crate::outbound::{OutFrame, Payload};
use crate::session::{Reply, Router, Session};
use crate::state::ConnState;
use crate::ws_writer::{FrameWriter, Opcode, ReadSide};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tickroom_protocol::{Codec, DecodeError, ErrorCode, ServerMessage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;

/// The `Sec-WebSocket-Accept` value for a client's key, for the HTTP side
/// that completes the upgrade.
pub use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Frames written per flush, so one busy connection cannot hog its task.
const MAX_BATCH: usize = 64;

/// The subprotocol to answer for the offered ones, or `None`.
pub fn negotiate(offered: &str) -> Option<Codec> {
    offered
        .split(',')
        .map(str::trim)
        .find_map(Codec::from_subprotocol)
}

pub fn ws_config(config: &NetConfig) -> WebSocketConfig {
    // tungstenite refuses frames past its own limit without a coded error, so
    // it gets headroom: frames between our limit and its limit are read and
    // answered with MESSAGE_TOO_LARGE; beyond it the connection just closes.
    let hard_limit = config
        .limits
        .max_frame_bytes
        .saturating_mul(4)
        .max(64 * 1024);
    // tungstenite only reads: what it writes (automatic pongs, close
    // replies) goes nowhere (see `ws_writer`), so it need not buffer it.
    WebSocketConfig::default()
        .read_buffer_size(config.ws_read_buffer)
        .write_buffer_size(0)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit))
}

fn opcode(payload: &Payload) -> Opcode {
    match payload {
        Payload::Binary(_) => Opcode::Binary,
        Payload::Text(_) => Opcode::Text,
    }
}

/// Where every connection's heartbeat grid starts.
fn heartbeat_grid() -> Instant {
    static ANCHOR: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

/// Serves one upgraded WebSocket connection until it closes.
pub async fn serve<S>(
    io: S,
    id: ConnId,
    codec: Codec,
    peer: SocketAddr,
    config: Arc<NetConfig>,
    router: Arc<dyn Router>,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::info_span!("conn", connection_id = id.0, transport = "ws", codec = codec.subprotocol(), %peer);
    run(io, id, codec, peer, config, router, shutdown)
        .instrument(span)
        .await
}

async fn run<S>(
    io: S,
    id: ConnId,
    codec: Codec,
    peer: SocketAddr,
    config: Arc<NetConfig>,
    router: Arc<dyn Router>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let mut stream =
        WebSocketStream::from_raw_socket(ReadSide(read), Role::Server, Some(ws_config(&config)))
            .await;
    let mut sink = FrameWriter::new(write, config.ws_write_buffer);
    let (conn, mut queue) = ConnHandle::new(
        id,
        codec,
        peer,
        config.outbound_frames,
        config.outbound_bytes,
        config.stall_timeout,
        crate::stats::Meter::new(config.stats.clone(), crate::stats::Transport::Ws),
    );
    let _live = conn.meter().connection(codec);
    let mut session = Session::new(conn.clone(), router, config.clone());
    let mut beat = Heartbeat::new(
        Instant::now(),
        (
            heartbeat_grid(),
            Heartbeat::step_for(config.handshake_timeout, config.ping_interval()),
        ),
        config.handshake_timeout,
        config.heartbeat_timeout,
        config.ping_interval(),
    );
    let alarm = sleep_until(beat.next_check(true));
    tokio::pin!(alarm);

    // Writes and the closing drain are boxed when awaited: sized into the
    // connection's future, the largest of them would be resident for the
    // connection's whole life.
    loop {
        tokio::select! {
            inbound = stream.next() => {
                beat.heard(Instant::now());
                let mut answer = None;
                let reply = match inbound {
                    Some(Ok(Message::Binary(b))) if codec.is_binary() => session.on_frame(&b),
                    Some(Ok(Message::Text(t))) if !codec.is_binary() => session.on_frame(t.as_bytes()),
                    Some(Ok(Message::Binary(_) | Message::Text(_))) => Reply {
                        messages: vec![ServerMessage::Error {
                            code: ErrorCode::UnsupportedCodec,
                            message: format!(
                                "this connection speaks {}: send {} frames",
                                codec.subprotocol(),
                                if codec.is_binary() { "binary" } else { "text" }
                            ),
                            details: Default::default(),
                        }],
                        close: None,
                    },
                    Some(Ok(Message::Ping(p))) => {
                        answer = Some((Opcode::Pong, p));
                        Reply::default()
                    }
                    Some(Ok(Message::Pong(_) | Message::Frame(_))) => Reply::default(),
                    Some(Ok(Message::Close(_))) => {
                        // The closing handshake's answer; the connection ends either way.
                        Box::pin(unless_closed(&conn, async { sink.send(Opcode::Close, &[]).await.is_ok() })).await;
                        break;
                    }
                    None => break,
                    Some(Err(WsError::Capacity(e))) => {
                        // The frame header declares the frame's length (for a
                        // fragmented message: the size it reached at the cap).
                        let len = match e {
                            CapacityError::MessageTooLong { size, .. } => size,
                            CapacityError::TooManyHeaders => 0,
                        };
                        let err = DecodeError::TooLarge { len, max: config.limits.max_frame_bytes };
                        tracing::debug!(error = %e, "frame beyond the hard limit");
                        let mut reply = session.on_decode_error(&err);
                        reply.close.get_or_insert(crate::conn::CloseReason {
                            code: ErrorCode::MessageTooLarge,
                            reason: "frame far beyond the size limit".into(),
                        });
                        reply
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket error");
                        break;
                    }
                };
                let send = async {
                    if let Some((op, payload)) = &answer
                        && sink.feed(*op, payload).await.is_err()
                    {
                        return false;
                    }
                    for msg in &reply.messages {
                        match OutFrame::encode(codec, msg, true) {
                            Ok(frame) => {
                                conn.meter().frame_out(frame.payload.len());
                                let op = opcode(&frame.payload);
                                if sink.feed(op, frame.payload.as_bytes()).await.is_err() {
                                    return false;
                                }
                            }
                            Err(e) => tracing::error!(error = %e, "could not encode a reply"),
                        }
                    }
                    sink.flush().await.is_ok()
                };
                if !Box::pin(unless_closed(&conn, send)).await {
                    break;
                }
                if let Some(close) = reply.close {
                    conn.close_with(close.code, &close.reason);
                }
            }
            Some(frame) = queue.rx.recv() => {
                // A client that stops reading blocks these writes; a close
                // request (SLOW_CONSUMER) must still get through.
                let write = async {
                    let mut ok = write_frame(&mut sink, &conn, frame).await;
                    for _ in 1..MAX_BATCH {
                        match queue.rx.try_recv() {
                            Some(frame) if ok => ok = write_frame(&mut sink, &conn, frame).await,
                            _ => break,
                        }
                    }
                    ok && sink.flush().await.is_ok()
                };
                if !Box::pin(unless_closed(&conn, write)).await {
                    break;
                }
            }
            () = conn.close_requested() => break,
            () = &mut alarm => {
                let now = Instant::now();
                let handshaking = session.state == ConnState::Handshaking;
                // The alarm rings at most about once a ping interval: give
                // back what the queue kept for a burst if it holds nothing
                // now (idle connections are most connections, and one that
                // sends its own heartbeats is never pinged).
                queue.rx.release_if_empty();
                let mut next = None;
                match beat.due(now, handshaking) {
                    Due::Nothing => {}
                    Due::HandshakeTimeout => {
                        conn.close_with(ErrorCode::HandshakeTimeout, "no hello in time");
                        // The close is under way; the alarm must not ring
                        // again meanwhile.
                        next = Some(now + config.heartbeat_timeout);
                    }
                    Due::HeartbeatTimeout => {
                        conn.close_with(ErrorCode::HeartbeatTimeout, "nothing heard from the client in time");
                        next = Some(now + config.heartbeat_timeout);
                    }
                    Due::Ping => {
                        let ping = async { sink.send(Opcode::Ping, &[]).await.is_ok() };
                        if !Box::pin(unless_closed(&conn, ping)).await {
                            break;
                        }
                    }
                }
                let next = next.unwrap_or_else(|| beat.next_check(session.state == ConnState::Handshaking));
                alarm.as_mut().reset(next);
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    conn.close_with(ErrorCode::ShuttingDown, "the server is shutting down");
                }
            }
        }
    }

    if let Some(plan) = session.finish() {
        let drain = async {
            queue.rx.close();
            while let Some(frame) = queue.rx.recv().await {
                if plan.drop_backlog {
                    conn.sent(frame.payload.len());
                } else if !write_frame(&mut sink, &conn, frame).await {
                    return;
                }
            }
            if let Some(frame) = plan.frame {
                let _ = sink
                    .feed(opcode(&frame.payload), frame.payload.as_bytes())
                    .await;
            }
            if sink.send(Opcode::Close, &[]).await.is_err() {
                return;
            }
            // Read until the client's close: closing a socket that still has
            // unread input makes the kernel send a reset, which can destroy
            // the `closing` frame before the client reads it.
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = Box::pin(tokio::time::timeout(plan.linger, drain)).await;
    }
    tracing::debug!("connection closed");
}

async fn write_frame<W: AsyncWrite + Unpin>(
    sink: &mut FrameWriter<W>,
    conn: &ConnHandle,
    frame: OutFrame,
) -> bool {
    let len = frame.payload.len();
    let ok = sink
        .feed(opcode(&frame.payload), frame.payload.as_bytes())
        .await
        .is_ok();
    conn.sent(len);
    ok
}
