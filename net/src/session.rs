//! What a connection does with each decoded frame, whatever the transport:
//! the hello handshake, pings, and routing everything else to the rooms.

use crate::config::NetConfig;
use crate::conn::{CloseReason, ConnHandle, Identity};
use crate::rate::{RateClass, RateLimiter};
use crate::state::ConnState;
use std::sync::Arc;
use tickroom_protocol::{
    CheckLimits, ClientMessage, DecodeError, ErrorBody, ErrorCode, PROTOCOL_VERSION, ServerMessage,
    supported_versions,
};

/// Where a session sends what it cannot answer itself. Implemented by the
/// binary, which routes to the tick thread owning the room; must not block.
pub trait Router: Send + Sync + 'static {
    /// A room request from a welcomed connection. An `Err` is sent back to
    /// the client (as a reject when the message has a seq) and nothing is applied.
    fn submit(&self, conn: &Arc<ConnHandle>, msg: ClientMessage) -> Result<(), ErrorBody>;
    /// The connection is gone (its seat, if any, enters its grace period).
    fn closed(&self, conn: &Arc<ConnHandle>);
    /// A hello with a valid resume token: find the session's seat and give
    /// it to this connection. On success the room sends `welcome` and
    /// `joined`; an `Err` means the seat is gone (RESUME_FAILED).
    fn resume(&self, conn: &Arc<ConnHandle>) -> Result<(), ErrorBody>;
}

/// The reply to a frame: messages to send now, and whether to close after.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub messages: Vec<ServerMessage>,
    pub close: Option<CloseReason>,
}

impl Reply {
    fn send(msg: ServerMessage) -> Reply {
        Reply {
            messages: vec![msg],
            close: None,
        }
    }

    fn error(body: ErrorBody) -> Reply {
        Reply::send(error_message(body))
    }

    fn fatal(body: ErrorBody) -> Reply {
        let close = CloseReason {
            code: body.code,
            reason: body.message.clone(),
        };
        Reply {
            messages: vec![error_message(body)],
            close: Some(close),
        }
    }
}

fn reject(seq: u64, body: ErrorBody) -> ServerMessage {
    ServerMessage::Reject {
        seq,
        code: body.code,
        message: body.message,
        details: body.details,
    }
}

fn error_message(body: ErrorBody) -> ServerMessage {
    ServerMessage::Error {
        code: body.code,
        message: body.message,
        details: body.details,
    }
}

/// How a server-initiated close drains.
pub(crate) struct ClosePlan {
    pub reason: CloseReason,
    /// Drop what is queued instead of sending it.
    pub drop_backlog: bool,
    /// How long draining may take.
    pub linger: std::time::Duration,
    /// The encoded `closing` message.
    pub frame: Option<crate::outbound::OutFrame>,
}

pub(crate) struct Session {
    pub conn: Arc<ConnHandle>,
    pub state: ConnState,
    router: Arc<dyn Router>,
    config: Arc<NetConfig>,
    limiter: RateLimiter,
    /// Rate-limited requests since the last one that passed.
    strikes: u32,
}

impl Session {
    pub fn new(conn: Arc<ConnHandle>, router: Arc<dyn Router>, config: Arc<NetConfig>) -> Session {
        tracing::debug!(state = %ConnState::Handshaking, "connection opened");
        Session {
            conn,
            state: ConnState::Handshaking,
            router,
            limiter: RateLimiter::new(&config.rates, std::time::Instant::now()),
            config,
            strikes: 0,
        }
    }

    pub fn transition(&mut self, next: ConnState) {
        if self.state == next {
            return;
        }
        if !self.state.may_become(next) {
            tracing::warn!(from = %self.state, to = %next, "unexpected connection state transition");
        }
        tracing::debug!(from = %self.state, to = %next, "connection state");
        self.state = next;
    }

    /// Handles one inbound frame.
    pub fn on_frame(&mut self, frame: &[u8]) -> Reply {
        self.conn.meter().frame_in(frame.len());
        let limits = &self.config.limits;
        let msg = match self
            .conn
            .codec
            .decode_unchecked::<ClientMessage>(frame, limits)
        {
            Ok(msg) => msg,
            Err(e) => return self.on_decode_error(&e),
        };
        // Before the hello everything is refused alike (on_message).
        let seq = msg.seq().filter(|_| self.state != ConnState::Handshaking);
        if let Some(seq) = seq
            && let Err(last) = self.conn.take_seq(seq)
        {
            tracing::debug!(seq, last, "request seq does not increase");
            return Reply::send(reject(
                seq,
                ErrorBody::new(
                    ErrorCode::SeqNotIncreasing,
                    format!(
                        "request seq {seq} is not greater than {last}, the last one of this session"
                    ),
                )
                .with("seq", seq)
                .with("last", last),
            ));
        }
        if let Err(e) = msg.check_limits(limits) {
            // The message decoded: a request gets its one reply, with its seq.
            return match seq {
                Some(seq) => {
                    tracing::debug!(error = %e, seq, "request over a decode limit");
                    Reply::send(reject(seq, e.to_error_body()))
                }
                None => self.on_decode_error(&e),
            };
        }
        self.on_message(msg)
    }

    pub fn on_decode_error(&mut self, e: &DecodeError) -> Reply {
        tracing::debug!(error = %e, "undecodable frame");
        if self.state == ConnState::Handshaking {
            Reply::fatal(e.to_error_body())
        } else {
            Reply::error(e.to_error_body())
        }
    }

    fn on_message(&mut self, msg: ClientMessage) -> Reply {
        match (self.state, msg) {
            (
                ConnState::Handshaking,
                ClientMessage::Hello {
                    version,
                    token,
                    resume,
                },
            ) => self.hello(version, token, resume),
            (ConnState::Handshaking, _) => Reply::fatal(ErrorBody::new(
                ErrorCode::Unauthorized,
                "the first message must be hello",
            )),
            (_, ClientMessage::Hello { .. }) => Reply::error(ErrorBody::new(
                ErrorCode::InvalidArgument,
                "hello was already received on this connection",
            )),
            (_, ClientMessage::Ping { client_time }) => Reply::send(ServerMessage::Pong {
                client_time,
                server_tick: self.conn.room_tick(),
            }),
            (_, msg) => self.route(msg),
        }
    }

    fn hello(&mut self, version: u16, token: Option<String>, resume: Option<String>) -> Reply {
        let versions = supported_versions();
        if !(versions.min..=versions.max).contains(&version) {
            let stats = self.conn.meter().stats();
            stats
                .version_mismatches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Reply::fatal(
                ErrorBody::new(
                    ErrorCode::VersionMismatch,
                    format!(
                        "protocol version {version} is not supported; this server speaks {}..={}",
                        versions.min, versions.max
                    ),
                )
                .with("min", u32::from(versions.min))
                .with("max", u32::from(versions.max))
                .with("version", u32::from(version)),
            );
        }
        let mut reply = Reply::default();
        if let Some(resume) = resume {
            match self.config.tokens.verify_resume(&resume) {
                Ok(identity) => {
                    self.conn.set_identity(identity);
                    self.transition(ConnState::Connected);
                    match self.router.resume(&self.conn) {
                        // The room answers with welcome and joined.
                        Ok(()) => {
                            self.transition(ConnState::InRoom);
                            tracing::info!("session resuming");
                            return reply;
                        }
                        Err(e) => reply.messages.push(error_message(e)),
                    }
                }
                Err(e) if e.code == ErrorCode::ResumeFailed => {
                    reply.messages.push(error_message(e))
                }
                Err(e) => return Reply::fatal(e),
            }
        }
        // A new session: from a join token, or anonymous where allowed.
        let session = crate::tokens::new_session_id();
        let identity = match token {
            Some(token) => match self.config.tokens.verify_join(&token) {
                Ok(claims) => Identity {
                    user: claims.sub,
                    name: claims.name,
                    role: claims.role,
                    session: session.clone(),
                    not_after: Some(claims.exp),
                },
                Err(e) => return Reply::fatal(e),
            },
            None if self.config.allow_anonymous => Identity {
                user: format!("anon-{session}"),
                name: None,
                role: None,
                session: session.clone(),
                not_after: None,
            },
            None => {
                return Reply::fatal(ErrorBody::new(
                    ErrorCode::Unauthorized,
                    "this server requires a join token",
                ));
            }
        };
        let resume_token = self.config.tokens.issue_resume(&identity);
        self.conn.set_identity(identity);
        self.conn.set_room(None);
        self.transition(ConnState::Connected);
        reply.messages.push(ServerMessage::Welcome {
            session,
            resume_token,
            versions,
            last_applied_seq: None,
            modes: self.config.modes.to_vec(),
        });
        tracing::info!(protocol = PROTOCOL_VERSION, "session started");
        reply
    }

    fn route(&mut self, msg: ClientMessage) -> Reply {
        let seq = msg.seq();
        if let Some(class) = crate::rate::class_of(&msg, self.conn.intents())
            && let Err(wait) = self.limiter.take(class, std::time::Instant::now())
        {
            return self.rate_limited(class, seq, wait);
        }
        self.strikes = 0;
        let next = match &msg {
            ClientMessage::JoinRoom { .. } | ClientMessage::JoinReserved { .. } => {
                Some(ConnState::InRoom)
            }
            ClientMessage::Leave { .. } => Some(ConnState::Connected),
            _ => None,
        };
        match self.router.submit(&self.conn, msg) {
            Ok(()) => {
                if let Some(next) = next {
                    self.transition(next);
                }
                Reply::default()
            }
            Err(body) => match seq {
                Some(seq) => Reply::send(ServerMessage::Reject {
                    seq,
                    code: body.code,
                    message: body.message,
                    details: body.details,
                }),
                None => Reply::error(body),
            },
        }
    }

    /// Refuses a request over its rate; cursors are dropped quietly, being
    /// ephemeral. Persistent abuse closes the connection.
    fn rate_limited(
        &mut self,
        class: RateClass,
        seq: Option<u64>,
        wait: std::time::Duration,
    ) -> Reply {
        self.strikes += 1;
        let stats = self.conn.meter().stats();
        stats
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let retry_after_ms = wait.as_millis().max(1) as u64;
        let body = ErrorBody::new(
            ErrorCode::RateLimited,
            format!("too many {class:?} requests; retry in {retry_after_ms} ms"),
        )
        .with("retry_after_ms", retry_after_ms)
        .with("class", format!("{class:?}").to_lowercase());
        if self.strikes >= self.config.abuse_limit {
            tracing::info!(strikes = self.strikes, "closing an abusive connection");
            let body = body.with("disconnected", true);
            // Still one reply per seq: the reject, then the close.
            return match seq {
                Some(seq) => Reply {
                    messages: vec![ServerMessage::Reject {
                        seq,
                        code: body.code,
                        message: body.message.clone(),
                        details: body.details.clone(),
                    }],
                    close: Some(crate::conn::CloseReason {
                        code: body.code,
                        reason: body.message,
                    }),
                },
                None => Reply::fatal(body),
            };
        }
        match (class, seq) {
            (RateClass::Cursors, _) => Reply::default(),
            (_, Some(seq)) => Reply::send(ServerMessage::Reject {
                seq,
                code: body.code,
                message: body.message,
                details: body.details,
            }),
            (_, None) => Reply::error(body),
        }
    }

    /// Ends the session: the rooms learn of the close at once (the seat's
    /// locks go now, not after the closing frame has drained). Returns how
    /// to drain when the server is the one closing.
    pub fn finish(&mut self) -> Option<ClosePlan> {
        let reason = self.conn.closing();
        if reason.is_some() {
            self.transition(ConnState::Draining);
        }
        self.closed();
        let reason = reason?;
        tracing::info!(code = %reason.code, reason = %reason.reason, "closing connection");
        // A slow consumer must resume from a fresh snapshot anyway: its
        // backlog is dropped so that `closing` reaches it as soon as it
        // reads again. It gets the same short linger as any close, not a
        // heartbeat's time: one that stopped reading for good would
        // otherwise hold its socket, and its place under the connection
        // caps, for that long.
        let drop_backlog = reason.code == ErrorCode::SlowConsumer;
        let linger = self.config.close_linger;
        let closing = ServerMessage::Closing {
            code: reason.code,
            reason: reason.reason.clone(),
        };
        let frame = crate::outbound::OutFrame::encode(self.conn.codec, &closing, true).ok();
        Some(ClosePlan {
            drop_backlog,
            linger,
            frame,
            reason,
        })
    }

    /// The connection is done: tell the rooms at once (its seat's locks go
    /// now, not after the closing frame has drained).
    pub fn closed(&mut self) {
        self.conn.mark_gone();
        if matches!(
            self.state,
            ConnState::Connected | ConnState::InRoom | ConnState::Draining
        ) {
            self.router.closed(&self.conn);
        }
        self.transition(ConnState::Closed);
    }
}
