//! The TCP listener in front of the HTTP server: connection caps (total,
//! per IP, new connections per IP per second), socket options, and an accept
//! loop that backs off instead of spinning when file descriptors run out.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// File descriptors kept free for everything that is not a connection
/// (the store, logs, the listener itself, certificates).
pub const FD_RESERVE: u64 = 64;

#[derive(Debug, Clone)]
pub struct ListenerLimits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    /// New connections per IP per second (burst of the same size).
    pub new_per_ip_per_s: u32,
    /// `SO_SNDBUF` / `SO_RCVBUF` for accepted sockets; 0 keeps the system's.
    pub send_buffer: usize,
    pub recv_buffer: usize,
}

/// The soft open-file limit of this process.
pub fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_cur)
}

/// The connection cap: the configured one (0 = no own cap), never more than
/// the open-file limit minus [`FD_RESERVE`].
pub fn connection_cap(configured: usize) -> usize {
    let by_files = open_file_limit()
        .map_or(usize::MAX, |n| n.saturating_sub(FD_RESERVE) as usize)
        .max(1);
    match configured {
        0 => by_files,
        n => n.min(by_files),
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Token buckets for new connections: (tokens, last refill).
    arrivals: HashMap<IpAddr, (f64, Instant)>,
    last_prune: Option<Instant>,
}

/// Admits connections against the caps (total, per IP, new per IP per
/// second). The TCP listener and the QUIC endpoint each have one.
#[derive(Clone)]
pub struct Admission {
    limits: ListenerLimits,
    counts: Arc<Mutex<Counts>>,
}

pub struct GuardedListener {
    inner: TcpListener,
    admission: Admission,
    /// TLS handshake and request headers must be done within this.
    handshake_timeout: Duration,
    last_refusal_log: Option<Instant>,
    /// With TLS (wss://): handshakes run in their own tasks, so a slow
    /// client cannot stall the accept loop; finished ones arrive here.
    tls: Option<TlsAccept>,
}

struct TlsAccept {
    acceptor: tokio_rustls::TlsAcceptor,
    done_tx: tokio::sync::mpsc::Sender<(TrackedStream, SocketAddr)>,
    done_rx: tokio::sync::mpsc::Receiver<(TrackedStream, SocketAddr)>,
}

/// Why a connection was turned away.
enum Refusal {
    Total(usize),
    PerIp(usize),
    Rate(u32),
}

impl Admission {
    pub fn new(limits: ListenerLimits) -> Admission {
        Admission {
            limits,
            counts: Arc::default(),
        }
    }

    fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.limits.max_connections {
            return Err(Refusal::Total(self.limits.max_connections));
        }
        if c.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_ip {
            return Err(Refusal::PerIp(self.limits.max_per_ip));
        }
        let rate = f64::from(self.limits.new_per_ip_per_s.max(1));
        let now = Instant::now();
        if c.arrivals.len() > 10_000
            && c.last_prune
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            // Forget IPs whose bucket has refilled: they are as new. At most
            // once a second, so a flood of addresses cannot make every
            // accept walk the map.
            c.arrivals
                .retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(1));
            c.last_prune = Some(now);
        }
        let (tokens, last) = c.arrivals.entry(ip).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens < 1.0 {
            return Err(Refusal::Rate(self.limits.new_per_ip_per_s));
        }
        *tokens -= 1.0;
        c.total += 1;
        *c.per_ip.entry(ip).or_default() += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }
}

impl tickroom_net::quic::Admit for Admission {
    fn admit(&self, ip: IpAddr) -> Result<Box<dyn Send + Sync>, String> {
        Admission::admit(self, ip)
            .map(|slot| Box::new(slot) as Box<dyn Send + Sync>)
            .map_err(|why| why.message())
    }
}

impl Refusal {
    fn message(&self) -> String {
        match *self {
            Refusal::Total(n) => format!("the server holds its maximum of {n} connections"),
            Refusal::PerIp(n) => format!("this address holds its maximum of {n} connections"),
            Refusal::Rate(n) => format!("this address opens more than {n} connections per second"),
        }
    }
}

impl GuardedListener {
    pub fn new(
        inner: TcpListener,
        limits: ListenerLimits,
        handshake_timeout: Duration,
    ) -> GuardedListener {
        GuardedListener {
            inner,
            admission: Admission::new(limits),
            handshake_timeout,
            last_refusal_log: None,
            tls: None,
        }
    }

    /// Serves TLS (wss://) with `config`; handshakes must finish within
    /// `handshake_timeout`.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> GuardedListener {
        let (done_tx, done_rx) = tokio::sync::mpsc::channel(1024);
        self.tls = Some(TlsAccept {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            done_tx,
            done_rx,
        });
        self
    }

    fn configure(&self, stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
        let sock = socket2::SockRef::from(stream);
        let limits = &self.admission.limits;
        if limits.send_buffer > 0 {
            let _ = sock.set_send_buffer_size(limits.send_buffer);
        }
        if limits.recv_buffer > 0 {
            let _ = sock.set_recv_buffer_size(limits.recv_buffer);
        }
    }

    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, why: Refusal) {
        let message = why.message();
        let body =
            serde_json::json!({"code": "TOO_MANY_CONNECTIONS", "message": message, "details": {}})
                .to_string();
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        // In its own task: write the refusal, stop writing, and read until the
        // client closes, so that the kernel does not answer the client's
        // unread request with a reset that destroys the 503 (bounded to 1 s).
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = stream;
            let linger = async {
                stream.write_all(response.as_bytes()).await?;
                stream.shutdown().await?;
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<(), io::Error>(())
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), linger).await;
        });
        let now = Instant::now();
        if self
            .last_refusal_log
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(1))
        {
            tracing::warn!(%peer, %message, "refusing connections");
            self.last_refusal_log = Some(now);
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = TrackedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TrackedStream, SocketAddr) {
        loop {
            let accepted = match &mut self.tls {
                Some(tls) => tokio::select! {
                    done = tls.done_rx.recv() => match done {
                        Some(ready) => return ready,
                        None => continue,
                    },
                    accepted = self.inner.accept() => accepted,
                },
                None => self.inner.accept().await,
            };
            match accepted {
                Ok((stream, peer)) => match self.admission.admit(peer.ip()) {
                    Ok(slot) => {
                        self.configure(&stream);
                        let headers = Some(HeaderDeadline::new(self.handshake_timeout));
                        let Some(tls) = &self.tls else {
                            let stream = TrackedStream {
                                io: Io::Plain(stream),
                                _slot: slot,
                                headers,
                            };
                            return (stream, peer);
                        };
                        let (acceptor, limit, done) = (
                            tls.acceptor.clone(),
                            self.handshake_timeout,
                            tls.done_tx.clone(),
                        );
                        tokio::spawn(async move {
                            match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => {
                                    let io = Io::Tls(Box::new(tls));
                                    let stream = TrackedStream {
                                        io,
                                        _slot: slot,
                                        headers,
                                    };
                                    let _ = done.send((stream, peer)).await;
                                }
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed")
                                }
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        });
                    }
                    Err(why) => self.refuse(stream, peer, why),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // EMFILE/ENFILE and the like: wait for descriptors to free
                    // up rather than spin on a listener that stays readable.
                    tracing::error!(error = %e, "accept failed; pausing accepts");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Holds a connection's place in the counts until the connection is gone
/// (after an upgrade too: the upgraded IO owns this stream).
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

pub struct TrackedStream {
    io: Io,
    _slot: Slot,
    /// Until the first request's headers are in, reads must finish by this
    /// deadline: a client that connects and dawdles (slowloris) cannot hold
    /// its place past the handshake timeout.
    headers: Option<HeaderDeadline>,
}

struct HeaderDeadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    matched: usize,
}

impl HeaderDeadline {
    fn new(limit: Duration) -> HeaderDeadline {
        HeaderDeadline {
            sleep: Box::pin(tokio::time::sleep(limit)),
            matched: 0,
        }
    }

    /// Feeds bytes read; true once the end of the headers went by.
    fn saw(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8] = b"\r\n\r\n";
        for &b in bytes {
            self.matched = if b == END[self.matched] {
                self.matched + 1
            } else if b == END[0] {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            Io::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Io::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let Some(deadline) = this.headers.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                if deadline.saw(&buf.filled()[before..]) {
                    this.headers = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match deadline.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request headers did not arrive within the handshake timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The peer address of a connection accepted by [`GuardedListener`], for
/// axum's `ConnectInfo`.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, GuardedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, GuardedListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}
