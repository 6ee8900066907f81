//! A Rust client for Tickroom over WebSocket, with either codec.
//!
//! Requests carry sequence numbers and resolve exactly once, by `ack`,
//! `reject`, `joined` or `room_created`; messages that arrive while waiting
//! (deltas, other replies) are kept in order for [`Client::recv`].

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::time::Duration;
use tickroom_protocol::{
    ClientMessage, Codec, DecodeError, Delta, ErrorBody, Limits, MemberId, ModeValue,
    PROTOCOL_VERSION, RoomConfig, RoomId, RoomState, ServerMessage, TeamId,
};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    #[error("undecodable message from the server: {0}")]
    Decode(#[from] DecodeError),
    #[error("the server refused: {0}")]
    Refused(ErrorBody),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("the connection closed")]
    Closed,
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

/// What `welcome` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub session: String,
    pub resume_token: String,
    pub last_applied_seq: Option<u64>,
    /// The game modes the server serves.
    pub modes: Vec<tickroom_protocol::ModeInfo>,
}

/// What `joined` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: RoomId,
    pub member: MemberId,
    pub config: RoomConfig,
    pub epoch: u32,
    pub state: RoomState,
}

/// How long a request waits for its reply by default.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection under a [`Client`].
enum Transport {
    Ws(Ws),
    Quic(QuicTransport),
}

struct QuicTransport {
    // Kept alive for the connection's lifetime.
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    /// Frames read off the stream by a reader task (reads are not cancel-safe).
    frames: tokio::sync::mpsc::Receiver<Result<Vec<u8>, crate::framing::FrameEnd>>,
    /// False once the connection stopped delivering datagrams; the stream
    /// may still hold frames (the server's `closing`) to read.
    datagrams_open: bool,
}

/// Where a QUIC server is and how to trust it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuicTarget {
    pub addr: std::net::SocketAddr,
    /// The name in the server's certificate (`localhost` for the default
    /// self-signed one).
    pub server_name: String,
    /// The server's certificate (DER), trusted as its own root: how a client
    /// pins a self-signed server.
    pub cert_der: Vec<u8>,
}

pub struct Client {
    /// After a resume: the seat, as the room's `joined` gave it back.
    pub resumed: Option<Joined>,
    /// The seat this client holds (from its last `joined`).
    pub member: Option<MemberId>,
    /// Why a requested resume failed (the session started afresh instead).
    pub resume_error: Option<ErrorBody>,
    codec: Codec,
    transport: Transport,
    next_seq: u64,
    inbox: VecDeque<ServerMessage>,
    limits: Limits,
    pub welcome: Welcome,
    pub reply_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("codec", &self.codec)
            .field("session", &self.welcome.session)
            .finish()
    }
}

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The TCP receive buffer, in bytes (`SO_RCVBUF`); `None` keeps the
    /// system's. A small one makes a client that stops reading stall fast.
    pub recv_buffer: Option<u32>,
    /// A join token from the game's backend.
    pub token: Option<String>,
    /// A resume token from an earlier `welcome`: get the seat back.
    pub resume: Option<String>,
    /// For `wss://`: the server certificate (DER) to trust as its own root
    /// (pinning a self-signed server). Required for `wss://` URLs.
    pub tls_root_der: Option<Vec<u8>>,
    /// The protocol version to claim in `hello` (default: this build's);
    /// for testing servers.
    pub protocol_version: Option<u16>,
    /// The local address to connect from (a load generator spreads its
    /// clients over 127.0.0.x); `None` lets the system pick.
    pub local_ip: Option<std::net::IpAddr>,
    /// A QUIC endpoint to open the connection on, shared by many clients
    /// (one UDP socket instead of one each); `None` opens one for this client.
    pub quic_endpoint: Option<quinn::Endpoint>,
}

/// The byte stream under a WebSocket: plain TCP or TLS.
pub trait WsIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> WsIo for T {}

/// A WebSocket over either.
pub type Ws = WebSocketStream<Box<dyn WsIo>>;

/// The WebSocket read buffer: frames from the server are small deltas.
const CLIENT_READ_BUFFER: usize = 8 * 1024;

/// Opens a WebSocket to `url` (`ws://host:port/ws`) offering `protocols`.
/// Returns the socket and the subprotocol the server picked.
pub async fn open_websocket(
    url: &str,
    protocols: &[&str],
) -> Result<(Ws, Option<String>), ClientError> {
    open_websocket_with(url, protocols, ConnectOptions::default()).await
}

/// [`open_websocket`] with socket options.
pub async fn open_websocket_with(
    url: &str,
    protocols: &[&str],
    options: ConnectOptions,
) -> Result<(Ws, Option<String>), ClientError> {
    let mut request = url.into_client_request()?;
    if !protocols.is_empty() {
        let value = HeaderValue::from_str(&protocols.join(", "))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", value);
    }
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| ClientError::Protocol(format!("no host in {url}")))?;
    let addr = tokio::net::lookup_host(&host)
        .await?
        .next()
        .ok_or_else(|| ClientError::Protocol(format!("{host} resolves to nothing")))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(ip) = options.local_ip {
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let io: Box<dyn WsIo> = if request.uri().scheme_str() == Some("wss") {
        let der = options.tls_root_der.clone().ok_or_else(|| {
            ClientError::Protocol("wss:// needs ConnectOptions::tls_root_der".into())
        })?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host_name = request.uri().host().unwrap_or("localhost").to_owned();
        let name = rustls::pki_types::ServerName::try_from(host_name)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
        Box::new(connector.connect(name, tcp).await?)
    } else {
        Box::new(tcp)
    };
    // tungstenite's default 128 KiB read buffer is zeroed on every read: a
    // client receiving small frames spent a third of its CPU in memset.
    let config = tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(CLIENT_READ_BUFFER)
        .write_buffer_size(0);
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    let picked = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((ws, picked))
}

impl Client {
    /// Connects, negotiates `codec`, says hello and waits for `welcome`.
    pub async fn connect(url: &str, codec: Codec) -> Result<Client, ClientError> {
        Self::connect_with(url, codec, ConnectOptions::default()).await
    }

    /// [`Client::connect`] with socket options.
    pub async fn connect_with(
        url: &str,
        codec: Codec,
        options: ConnectOptions,
    ) -> Result<Client, ClientError> {
        let (ws, picked) =
            open_websocket_with(url, &[codec.subprotocol()], options.clone()).await?;
        if picked.as_deref() != Some(codec.subprotocol()) {
            return Err(ClientError::Protocol(format!(
                "the server picked subprotocol {picked:?}"
            )));
        }
        Self::handshake(Transport::Ws(ws), codec, options).await
    }

    /// Connects over QUIC (postcard), says hello and waits for `welcome`.
    pub async fn connect_quic(
        target: &QuicTarget,
        options: ConnectOptions,
    ) -> Result<Client, ClientError> {
        let protocol = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                target.cert_der.clone(),
            ))
            .map_err(|e| protocol(&e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| protocol(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![crate::quic::ALPN.to_vec()];
        let crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| protocol(&e))?;
        let mut config = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
        config.transport_config(std::sync::Arc::new(crate::quic::transport_config(
            Duration::from_secs(15),
            Limits::SERVER_FRAMES.max_frame_bytes,
            1024 * 1024,
        )));
        let endpoint = match options.quic_endpoint.clone() {
            Some(shared) => shared,
            None => {
                let bind = match options.local_ip {
                    Some(ip) => std::net::SocketAddr::new(ip, 0),
                    None if target.addr.is_ipv4() => ([0, 0, 0, 0], 0).into(),
                    None => ([0u16; 8], 0).into(),
                };
                quinn::Endpoint::client(bind)?
            }
        };
        let conn = endpoint
            .connect_with(config, target.addr, &target.server_name)
            .map_err(|e| protocol(&e))?
            .await
            .map_err(|e| protocol(&e))?;
        let (send, mut recv) = conn.open_bi().await.map_err(|e| protocol(&e))?;
        let (tx, frames) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut reader =
                crate::framing::FrameReader::new(Limits::SERVER_FRAMES.max_frame_bytes);
            loop {
                let frame = reader.next(&mut recv).await;
                let end = frame.is_err();
                if tx.send(frame).await.is_err() || end {
                    return;
                }
            }
        });
        let transport = Transport::Quic(QuicTransport {
            _endpoint: endpoint,
            conn,
            send,
            frames,
            datagrams_open: true,
        });
        Self::handshake(transport, Codec::Postcard, options).await
    }

    async fn handshake(
        transport: Transport,
        codec: Codec,
        options: ConnectOptions,
    ) -> Result<Client, ClientError> {
        let resuming = options.resume.is_some();
        let mut client = Client {
            resumed: None,
            member: None,
            resume_error: None,
            codec,
            transport,
            next_seq: 1,
            inbox: VecDeque::new(),
            limits: Limits::SERVER_FRAMES,
            welcome: Welcome {
                session: String::new(),
                resume_token: String::new(),
                last_applied_seq: None,
                modes: Vec::new(),
            },
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        };
        client
            .send(&ClientMessage::Hello {
                version: options.protocol_version.unwrap_or(PROTOCOL_VERSION),
                token: options.token,
                resume: options.resume,
            })
            .await?;
        loop {
            match client.read().await? {
                ServerMessage::Welcome {
                    session,
                    resume_token,
                    last_applied_seq,
                    modes,
                    ..
                } => {
                    client.welcome = Welcome {
                        session,
                        resume_token,
                        last_applied_seq,
                        modes,
                    };
                    client.next_seq = last_applied_seq.map_or(1, |s| s + 1);
                    if resuming && client.resume_error.is_none() {
                        client.resumed = Some(client.await_resumed_seat().await?);
                    }
                    return Ok(client);
                }
                // The seat is not here (gone, or in cluster mode on another
                // node, or not locatable now): a fresh session follows.
                ServerMessage::Error {
                    code:
                        code @ (tickroom_protocol::ErrorCode::ResumeFailed
                        | tickroom_protocol::ErrorCode::RoomElsewhere
                        | tickroom_protocol::ErrorCode::ClusterUnavailable),
                    message,
                    details,
                } if resuming => {
                    client.resume_error = Some(ErrorBody {
                        code,
                        message,
                        details,
                    });
                }
                ServerMessage::Error {
                    code,
                    message,
                    details,
                } => {
                    return Err(ClientError::Refused(ErrorBody {
                        code,
                        message,
                        details,
                    }));
                }
                other => client.inbox.push_back(other),
            }
        }
    }

    /// After a resumed `welcome`, the room's `joined` (with no seq).
    async fn await_resumed_seat(&mut self) -> Result<Joined, ClientError> {
        let limit = self.reply_timeout;
        let wait = async {
            loop {
                match self.read().await? {
                    ServerMessage::Joined {
                        seq: None,
                        room,
                        member,
                        config,
                        epoch,
                        state,
                    } => {
                        return Ok(Joined {
                            room,
                            member,
                            config,
                            epoch,
                            state,
                        });
                    }
                    other => self.inbox.push_back(other),
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The sequence number the next request will carry.
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), ClientError> {
        let bytes = self
            .codec
            .encode(msg)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        match &mut self.transport {
            Transport::Ws(ws) => {
                let frame = match self.codec {
                    Codec::Postcard => Message::Binary(bytes.into()),
                    Codec::Json => Message::Text(
                        String::from_utf8(bytes)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?
                            .into(),
                    ),
                };
                ws.send(frame).await?;
            }
            Transport::Quic(q) => {
                let datagram = matches!(msg, ClientMessage::Cursor { .. })
                    && q.conn
                        .max_datagram_size()
                        .is_some_and(|max| bytes.len() <= max);
                if datagram {
                    q.conn
                        .send_datagram(bytes.into())
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                } else {
                    q.send
                        .write_all(&crate::framing::frame_bytes(&bytes))
                        .await
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// Writes raw bytes as one QUIC stream frame (for testing the server).
    pub async fn send_quic_frame(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        match &mut self.transport {
            Transport::Quic(q) => q
                .send
                .write_all(&crate::framing::frame_bytes(payload))
                .await
                .map_err(|e| ClientError::Protocol(e.to_string())),
            Transport::Ws(_) => Err(ClientError::Protocol("not a QUIC client".into())),
        }
    }

    /// Sends a raw WebSocket message (for testing the server's defences).
    pub async fn send_raw(&mut self, msg: Message) -> Result<(), ClientError> {
        match &mut self.transport {
            Transport::Ws(ws) => Ok(ws.send(msg).await?),
            Transport::Quic(_) => Err(ClientError::Protocol("not a WebSocket client".into())),
        }
    }

    /// Reads the next server message off the socket (not the inbox).
    async fn read(&mut self) -> Result<ServerMessage, ClientError> {
        let msg = self.read_frame().await?;
        match &msg {
            ServerMessage::Joined { member, .. } => self.member = Some(*member),
            ServerMessage::Welcome { .. } => self.member = None,
            _ => {}
        }
        Ok(msg)
    }

    /// The requests of this client a delta acknowledges: an applied
    /// request's events carry its member and seq in their origin, and no
    /// `ack` frame comes for it (protocol 2: one frame per tick).
    pub fn acknowledged_by<'a>(&self, delta: &'a Delta) -> impl Iterator<Item = u64> + 'a {
        let me = self.member;
        delta
            .events
            .iter()
            .filter(move |e| me.is_some() && e.origin.member == me)
            .filter_map(|e| e.origin.seq)
    }

    async fn read_frame(&mut self) -> Result<ServerMessage, ClientError> {
        let codec = self.codec;
        let limits = self.limits;
        match &mut self.transport {
            Transport::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => return Ok(codec.decode(&b, &limits)?),
                    Some(Ok(Message::Text(t))) => return Ok(codec.decode(t.as_bytes(), &limits)?),
                    Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                }
            },
            Transport::Quic(q) => loop {
                tokio::select! {
                    // Stream frames first: when the connection closes, its
                    // last frames (`closing`) must not lose to the datagram
                    // error that arrives at the same moment.
                    biased;
                    frame = q.frames.recv() => return match frame {
                        Some(Ok(bytes)) => Ok(codec.decode(&bytes, &limits)?),
                        _ => Err(ClientError::Closed),
                    },
                    datagram = q.conn.read_datagram(), if q.datagrams_open => match datagram {
                        Ok(bytes) => return Ok(codec.decode(&bytes, &limits)?),
                        Err(_) => q.datagrams_open = false,
                    },
                }
            },
        }
    }

    /// The next message: buffered ones first, then the socket.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        match self.inbox.pop_front() {
            Some(m) => Ok(m),
            None => self.read().await,
        }
    }

    /// [`Client::recv`] with a time limit.
    pub async fn recv_timeout(&mut self, limit: Duration) -> Result<ServerMessage, ClientError> {
        tokio::time::timeout(limit, self.recv())
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    /// Sends `msg` (which must carry `seq`) and waits for the one reply with
    /// that seq; everything else that arrives meanwhile stays queued.
    pub async fn request(
        &mut self,
        seq: u64,
        msg: &ClientMessage,
    ) -> Result<ServerMessage, ClientError> {
        self.send(msg).await?;
        self.reply_to(seq).await
    }

    /// Waits for the answer to request `seq`: its `ack`, `reject`,
    /// `room_created` or `joined`, or the delta that acknowledges it (then
    /// an `ack` is returned and the delta stays queued for [`Client::recv`]).
    /// Everything else that arrives meanwhile stays queued too.
    pub async fn reply_to(&mut self, seq: u64) -> Result<ServerMessage, ClientError> {
        let limit = self.reply_timeout;
        let wait = async {
            let mut held = VecDeque::new();
            // What arrived before this call and is still queued counts too.
            let mut queued = std::mem::take(&mut self.inbox);
            let reply = loop {
                let m = match queued.pop_front() {
                    Some(m) => m,
                    None => self.read().await?,
                };
                let matches = match &m {
                    ServerMessage::Ack { seq: s }
                    | ServerMessage::Reject { seq: s, .. }
                    | ServerMessage::RoomCreated { seq: s, .. } => *s == seq,
                    ServerMessage::Joined { seq: s, .. } => *s == Some(seq),
                    // Acknowledged by the delta: the caller gets an ack and
                    // the delta stays in the inbox for `recv`.
                    ServerMessage::Delta(d) if self.acknowledged_by(d).any(|s| s == seq) => {
                        held.push_back(m);
                        break ServerMessage::Ack { seq };
                    }
                    _ => false,
                };
                if matches {
                    break m;
                }
                held.push_back(m);
            };
            held.extend(queued);
            self.inbox.extend(held);
            Ok(reply)
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    pub async fn create_room(
        &mut self,
        room: Option<RoomId>,
        config: RoomConfig,
        private: bool,
    ) -> Result<RoomId, ClientError> {
        let seq = self.next_seq();
        let msg = ClientMessage::CreateRoom {
            seq,
            room,
            config,
            private,
        };
        match self.request(seq, &msg).await? {
            ServerMessage::RoomCreated { room, .. } => Ok(room),
            other => Err(refusal(other)),
        }
    }

    pub async fn join(
        &mut self,
        room: &RoomId,
        name: &str,
        team: Option<TeamId>,
    ) -> Result<Joined, ClientError> {
        let seq = self.next_seq();
        let msg = ClientMessage::JoinRoom {
            seq,
            room: room.clone(),
            name: name.to_owned(),
            team,
        };
        self.seated(seq, &msg).await
    }

    /// Sends a join (`seq` its number) and waits for the seat.
    async fn seated(&mut self, seq: u64, msg: &ClientMessage) -> Result<Joined, ClientError> {
        match self.request(seq, msg).await? {
            ServerMessage::Joined {
                room,
                member,
                config,
                epoch,
                state,
                ..
            } => Ok(Joined {
                room,
                member,
                config,
                epoch,
                state,
            }),
            other => Err(refusal(other)),
        }
    }

    /// Takes the seat a matchmaking reservation holds (cluster mode), on
    /// the node that owns the room.
    pub async fn join_reserved(
        &mut self,
        reservation: &str,
        name: &str,
        team: Option<TeamId>,
    ) -> Result<Joined, ClientError> {
        let seq = self.next_seq();
        let msg = ClientMessage::JoinReserved {
            seq,
            reservation: reservation.to_owned(),
            name: name.to_owned(),
            team,
        };
        self.seated(seq, &msg).await
    }

    /// Sends an intent and waits for its ack (`Ok`) or reject (`Err` with
    /// the coded error).
    pub async fn intent(
        &mut self,
        intent: impl ModeValue,
    ) -> Result<Result<u64, ErrorBody>, ClientError> {
        let seq = self.next_seq();
        match self
            .request(seq, &ClientMessage::intent(seq, intent))
            .await?
        {
            ServerMessage::Ack { seq } => Ok(Ok(seq)),
            ServerMessage::Reject {
                code,
                message,
                details,
                ..
            } => Ok(Err(ErrorBody {
                code,
                message,
                details,
            })),
            other => Err(ClientError::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), ClientError> {
        match self.transport {
            Transport::Ws(mut ws) => ws.close(None).await?,
            Transport::Quic(mut q) => {
                let _ = q.send.finish();
                q.conn.close(quinn::VarInt::from_u32(0), b"bye");
            }
        }
        Ok(())
    }
}

/// Where a `ROOM_ELSEWHERE` refusal says the room is: the owner node's
/// WebSocket URL and QUIC address (either may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    pub node: String,
    pub ws: String,
    pub quic: String,
}

impl Elsewhere {
    /// The owner named by `e`, when `e` is a `ROOM_ELSEWHERE`.
    pub fn of(e: &ErrorBody) -> Option<Elsewhere> {
        if e.code != tickroom_protocol::ErrorCode::RoomElsewhere {
            return None;
        }
        let text = |key: &str| match e.details.get(key) {
            Some(tickroom_protocol::DetailValue::Text(t)) => t.clone(),
            _ => String::new(),
        };
        Some(Elsewhere {
            node: text("node"),
            ws: text("ws"),
            quic: text("quic"),
        })
    }
}

fn refusal(msg: ServerMessage) -> ClientError {
    match msg {
        ServerMessage::Reject {
            code,
            message,
            details,
            ..
        } => ClientError::Refused(ErrorBody {
            code,
            message,
            details,
        }),
        other => ClientError::Protocol(format!("unexpected reply {other:?}")),
    }
}
