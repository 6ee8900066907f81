//! The QUIC transport (quinn): ALPN `tickroom/1`, postcard only. The client
//! opens one bidirectional stream for control and critical messages, framed
//! as in [`crate::framing`]; cursor updates travel as datagrams (one postcard
//! message each), falling back to the stream when datagrams are unavailable
//! or too small.

use crate::config::NetConfig;
use crate::conn::{ConnHandle, ConnId, unless_closed};
use crate::framing::{FrameEnd, FrameReader, frame_bytes};
use crate::outbound::OutFrame;
use crate::session::{Reply, Router, Session};
use crate::state::ConnState;
use crate::tracker::ConnTracker;
use bytes::Bytes;
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickroom_protocol::{Codec, DecodeError, ErrorCode, ServerMessage};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

pub use quinn::{Endpoint, VarInt};

/// The ALPN protocol id of Tickroom over QUIC.
pub const ALPN: &[u8] = b"tickroom/1";

/// The QUIC transport settings: idle timeout (our heartbeat) with
/// keep-alives at half of it (as WebSocket pings), and windows bounded by
/// our own limits so a peer cannot make the server buffer more than a few
/// frames: one bidirectional stream (the protocol's only one), no
/// unidirectional ones, receive windows of a few frames, a send window of
/// the outbound queue.
pub fn transport_config(
    heartbeat: Duration,
    max_frame: usize,
    outbound_bytes: usize,
) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    if let Ok(idle) = quinn::IdleTimeout::try_from(heartbeat) {
        t.max_idle_timeout(Some(idle));
    }
    t.keep_alive_interval(Some(heartbeat / 2));
    let window = (max_frame.saturating_mul(4) + 4).clamp(64 * 1024, 16 * 1024 * 1024) as u32;
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(1));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t.stream_receive_window(quinn::VarInt::from_u32(window));
    t.receive_window(quinn::VarInt::from_u32(window.saturating_mul(2)));
    t.send_window(outbound_bytes.max(64 * 1024) as u64);
    t.datagram_receive_buffer_size(Some(64 * 1024));
    // Packets stay at QUIC's minimum size (1,200 bytes), which our frames
    // rarely fill; path MTU discovery would grow every connection's
    // transmit buffer with the MTU it found (1.2 KiB each when idle).
    t.mtu_discovery_config(None);
    t
}

/// A QUIC server endpoint with the given certificate chain and key.
pub fn server_endpoint(
    addr: SocketAddr,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    net: &NetConfig,
) -> Result<quinn::Endpoint, Box<dyn std::error::Error + Send + Sync>> {
    let (heartbeat, limits, outbound_bytes) =
        (net.heartbeat_timeout, net.limits, net.outbound_bytes);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No TLS resumption: our clients resume sessions with their resume
    // token, not TLS tickets, and each ticket sent cost every connection a
    // retransmit buffer and a cache entry (0.3 KiB per idle connection).
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    config.transport_config(Arc::new(transport_config(
        heartbeat,
        limits.max_frame_bytes,
        outbound_bytes,
    )));
    Ok(quinn::Endpoint::server(config, addr)?)
}

/// Decides whether a new connection from `ip` may come in (caps per IP,
/// total, new per second). The guard it returns holds the connection's place
/// until dropped; the error says why not.
pub trait Admit: Send + Sync {
    fn admit(&self, ip: std::net::IpAddr) -> Result<Box<dyn Send + Sync>, String>;
}

/// Everything a QUIC connection task needs.
#[derive(Clone)]
pub struct QuicServer {
    pub config: Arc<NetConfig>,
    pub router: Arc<dyn Router>,
    pub next_conn: Arc<AtomicU64>,
    pub shutdown: watch::Receiver<bool>,
    pub connections: Arc<ConnTracker>,
    /// The caps for QUIC connections (they hold no file descriptor, so the
    /// open-file cap of the TCP listener does not cover them).
    pub admission: Arc<dyn Admit>,
    /// A further check that needs to wait (a cluster-wide rate), made
    /// before the handshake.
    pub admit_async: Option<Arc<dyn AdmitAsync>>,
}

/// An admission check that waits (e.g. on Redis); refusing means the
/// connection is refused before its handshake.
pub trait AdmitAsync: Send + Sync {
    fn admit(
        &self,
        ip: std::net::IpAddr,
    ) -> futures_util::future::BoxFuture<'_, Result<(), tickroom_protocol::ErrorBody>>;
}

impl QuicServer {
    /// Accepts connections until the endpoint closes.
    pub async fn run(self, endpoint: quinn::Endpoint) {
        while let Some(incoming) = endpoint.accept().await {
            if *self.shutdown.borrow() {
                incoming.refuse();
                continue;
            }
            let place = match self.admission.admit(incoming.remote_address().ip()) {
                Ok(place) => place,
                Err(why) => {
                    tracing::warn!(peer = %incoming.remote_address(), %why, "refusing a QUIC connection");
                    incoming.refuse();
                    continue;
                }
            };
            let id = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
            let server = self.clone();
            let guards = (server.connections.enter(), place);
            tokio::spawn(accept(incoming, id, server, guards));
        }
    }
}

/// Completes one connection's handshake, then hands it to a task of its
/// own: what the handshake needed (an `Incoming` alone is 384 bytes) is
/// freed with this task rather than sized into the connection's for its
/// whole life.
async fn accept(
    incoming: quinn::Incoming,
    id: ConnId,
    server: QuicServer,
    guards: (crate::tracker::ConnGuard, Box<dyn Send + Sync>),
) {
    let peer = incoming.remote_address();
    let span = tracing::info_span!("conn", connection_id = id.0, transport = "quic", codec = Codec::Postcard.subprotocol(), %peer);
    if let Some(check) = &server.admit_async
        && let Err(e) = check.admit(peer.ip()).await
    {
        tracing::info!(parent: &span, reason = %e.message, "refusing a QUIC connection");
        incoming.refuse();
        return;
    }
    match incoming.await {
        Ok(conn) => {
            let link = Box::new(Link {
                id,
                peer,
                server,
                _guards: guards,
            });
            tokio::spawn(serve(conn, link).instrument(span));
        }
        Err(e) => tracing::debug!(parent: &span, error = %e, "QUIC handshake failed"),
    }
}

/// What a connection's task holds for its whole life besides its state:
/// boxed, because an async fn keeps its arguments for its whole life too.
struct Link {
    id: ConnId,
    peer: SocketAddr,
    server: QuicServer,
    _guards: (crate::tracker::ConnGuard, Box<dyn Send + Sync>),
}

async fn serve(conn: quinn::Connection, link: Box<Link>) {
    let (id, peer, server) = (link.id, link.peer, &link.server);
    let config = server.config.clone();
    // Writes, the stream's opening and the closing drain are boxed when
    // awaited: sized into the connection's future, the largest of them would
    // be resident for the connection's whole life.
    // The client's stream becomes visible with its first byte. A datagram
    // before that is a message before the hello, as it would be on the
    // stream; with no stream to answer on, the close's reason says why.
    let opened = Box::pin(tokio::time::timeout(config.handshake_timeout, async {
        tokio::select! {
            stream = conn.accept_bi() => Ok(stream),
            datagram = conn.read_datagram() => Err(datagram.is_ok()),
        }
    }))
    .await;
    let (mut send, mut recv) = match opened {
        Ok(Ok(Ok(stream))) => stream,
        Ok(Err(true)) => {
            tracing::debug!("a datagram before the hello");
            conn.close(
                quinn::VarInt::from_u32(1),
                ErrorCode::Unauthorized.as_str().as_bytes(),
            );
            return;
        }
        Ok(Err(false)) => return,
        Ok(Ok(Err(_))) | Err(_) => {
            conn.close(quinn::VarInt::from_u32(1), b"HANDSHAKE_TIMEOUT");
            return;
        }
    };
    let hard_limit = config
        .limits
        .max_frame_bytes
        .saturating_mul(4)
        .max(64 * 1024);
    let mut frames = FrameReader::new(hard_limit);
    let (handle, mut queue) = ConnHandle::new(
        id,
        Codec::Postcard,
        peer,
        config.outbound_frames,
        config.outbound_bytes,
        config.stall_timeout,
        crate::stats::Meter::new(config.stats.clone(), crate::stats::Transport::Quic),
    );
    let _live = handle.meter().connection(Codec::Postcard);
    let mut session = Session::new(handle.clone(), server.router.clone(), config.clone());
    // Boxed and dropped once the hello is in, not sized into the task.
    let mut handshake_alarm = Some(Box::pin(sleep_until(
        Instant::now() + config.handshake_timeout,
    )));
    let mut shutdown = server.shutdown.clone();

    loop {
        tokio::select! {
            frame = frames.next(&mut recv) => {
                let reply = match frame {
                    Ok(bytes) => session.on_frame(&bytes),
                    Err(FrameEnd::TooLarge { len, max }) => {
                        let mut reply = session.on_decode_error(&DecodeError::TooLarge { len, max });
                        reply.close.get_or_insert(crate::conn::CloseReason {
                            code: ErrorCode::MessageTooLarge,
                            reason: "frame far beyond the size limit".into(),
                        });
                        reply
                    }
                    Err(FrameEnd::Finished) => break,
                    Err(FrameEnd::Broken(e)) => {
                        tracing::debug!(error = %e, "stream broken");
                        break;
                    }
                };
                if !Box::pin(send_reply(&mut send, &handle, &reply)).await {
                    break;
                }
                if let Some(close) = reply.close {
                    handle.close_with(close.code, &close.reason);
                }
                if session.state != ConnState::Handshaking {
                    handshake_alarm = None;
                }
            }
            datagram = conn.read_datagram() => match datagram {
                Ok(bytes) => {
                    // Datagrams are unordered and lossy: only cursors may use them.
                    let reply = match Codec::Postcard.decode::<tickroom_protocol::ClientMessage>(&bytes, &config.limits) {
                        Ok(tickroom_protocol::ClientMessage::Cursor { .. }) => session.on_frame(&bytes),
                        Ok(_) => Reply {
                            messages: vec![ServerMessage::Error {
                                code: ErrorCode::Malformed,
                                message: "only cursor messages may travel as datagrams".into(),
                                details: Default::default(),
                            }],
                            close: None,
                        },
                        Err(e) => session.on_decode_error(&e),
                    };
                    if !Box::pin(send_reply(&mut send, &handle, &reply)).await {
                        break;
                    }
                    // As on the stream: a datagram before the hello, or the
                    // last strike of a flood, closes the connection.
                    if let Some(close) = reply.close {
                        handle.close_with(close.code, &close.reason);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "connection lost");
                    break;
                }
            },
            Some(frame) = queue.rx.recv() => {
                let write = async {
                    let mut ok = write_frame(&conn, &mut send, &handle, frame).await;
                    while ok {
                        match queue.rx.try_recv() {
                            Some(frame) => ok = write_frame(&conn, &mut send, &handle, frame).await,
                            None => break,
                        }
                    }
                    ok
                };
                if !Box::pin(unless_closed(&handle, write)).await {
                    break;
                }
            }
            () = handle.close_requested() => break,
            () = async {
                match handshake_alarm.as_mut() {
                    Some(alarm) => alarm.await,
                    None => std::future::pending().await,
                }
            }, if handshake_alarm.is_some() => {
                handshake_alarm = None;
                if session.state == ConnState::Handshaking {
                    handle.close_with(ErrorCode::HandshakeTimeout, "no hello in time");
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    handle.close_with(ErrorCode::ShuttingDown, "the server is shutting down");
                }
            }
        }
    }

    match session.finish() {
        Some(plan) => {
            let drain = async {
                queue.rx.close();
                while let Some(frame) = queue.rx.recv().await {
                    if plan.drop_backlog {
                        handle.sent(frame.payload.len());
                    } else if !write_frame(&conn, &mut send, &handle, frame).await {
                        return;
                    }
                }
                if let Some(frame) = plan.frame {
                    let _ = send.write_all(&frame_bytes(frame.payload.as_bytes())).await;
                }
                let _ = send.finish();
                // Wait for the peer to read it (or give up at the linger).
                let _ = send.stopped().await;
            };
            let _ = Box::pin(tokio::time::timeout(plan.linger, drain)).await;
            conn.close(
                quinn::VarInt::from_u32(0),
                plan.reason.code.as_str().as_bytes(),
            );
        }
        None => conn.close(quinn::VarInt::from_u32(0), b""),
    }
    tracing::debug!("connection closed");
}

async fn send_reply(send: &mut quinn::SendStream, conn: &ConnHandle, reply: &Reply) -> bool {
    let write = async {
        for msg in &reply.messages {
            match OutFrame::encode(Codec::Postcard, msg, true) {
                Ok(frame) => {
                    conn.meter().frame_out(frame.payload.len());
                    if send
                        .write_all(&frame_bytes(frame.payload.as_bytes()))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not encode a reply"),
            }
        }
        true
    };
    unless_closed(conn, write).await
}

/// Ephemeral frames go as datagrams when they fit; everything else (and
/// cursors when datagrams are off or too small) on the stream.
async fn write_frame(
    conn: &quinn::Connection,
    send: &mut quinn::SendStream,
    handle: &ConnHandle,
    frame: OutFrame,
) -> bool {
    let bytes = frame.payload.as_bytes();
    let len = bytes.len();
    let as_datagram = !frame.critical && conn.max_datagram_size().is_some_and(|max| len <= max);
    let ok = if as_datagram {
        conn.send_datagram(Bytes::copy_from_slice(bytes)).is_ok()
    } else {
        send.write_all(&frame_bytes(bytes)).await.is_ok()
    };
    handle.sent(len);
    ok
}
