//! A client that survives its connection: an explicit state machine
//! (`disconnected → connecting → connected → reconnecting → failed`),
//! automatic resume with exponential backoff and jitter, and requests that
//! resolve exactly once.
//!
//! Exactly once: every request gets one [`Resolution`]. Its own `ack` or
//! `reject` when that arrives; if the connection breaks first, the resumed
//! `welcome` says which requests the server applied before the break
//! (`last_applied_seq`): those resolve as [`Resolution::AppliedBeforeResume`]
//! (their effect is in the fresh snapshot), the others are sent again with
//! their original seq. If the seat is gone, they resolve as
//! [`Resolution::Lost`].

use crate::client::{Client, ClientError, ConnectOptions, Joined, QuicTarget};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tickroom_protocol::{ClientMessage, Codec, ErrorBody, ServerMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    Disconnected,
    Connecting,
    Connected,
    Reconnecting {
        attempt: u32,
    },
    /// Gave up: the reason.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Each delay is scaled by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// Reconnect attempts before [`ClientState::Failed`].
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.3,
            max_attempts: 12,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (1-based), jittered by `unit`
    /// (a number in `0..1`).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base =
            self.initial.as_secs_f64() * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let capped = base.min(self.max.as_secs_f64());
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((capped * factor).max(0.0))
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Acked,
    Rejected(ErrorBody),
    /// Applied before the connection broke; its reply was lost, its effect
    /// is in the resumed snapshot.
    AppliedBeforeResume,
    /// The seat is gone; whether it was applied is unknown.
    Lost,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(ServerMessage),
    Resolved {
        seq: u64,
        resolution: Resolution,
    },
    State(ClientState),
    /// The seat came back after a reconnect, with a fresh snapshot.
    Resumed(Joined),
    /// The seat is gone (grace period over); join again to play on.
    SeatLost(ErrorBody),
    /// In a cluster, the room asked for is on another node: the client
    /// connected there (its target from now on) and sent the join again.
    Redirected {
        node: String,
    },
}

/// Moves to other nodes in a row (joins followed, seats moved) before the
/// client gives up; counted from the last join or resume that succeeded.
const MAX_REDIRECTS: u32 = 8;

/// Where to (re)connect.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    WebSocket { url: String, codec: Codec },
    Quic(QuicTarget),
}

impl Target {
    async fn connect(&self, options: ConnectOptions) -> Result<Client, ClientError> {
        match self {
            Target::WebSocket { url, codec } => Client::connect_with(url, *codec, options).await,
            Target::Quic(q) => Client::connect_quic(q, options).await,
        }
    }
}

pub struct ReconnectingClient {
    target: Target,
    options: ConnectOptions,
    pub backoff: Backoff,
    state: ClientState,
    inner: Option<Client>,
    /// Requests sent and not yet resolved, by seq.
    in_flight: BTreeMap<u64, ClientMessage>,
    events: VecDeque<Event>,
    next_seq: u64,
    rng: u64,
    /// The latest resume token the server gave this session.
    resume_token: Option<String>,
    /// A join refused with `ROOM_ELSEWHERE`, to follow to the owner.
    redirect: Option<Redirect>,
    /// Redirects followed since the last join that was not redirected.
    redirects: u32,
    /// Other nodes of a cluster, tried in turn when the target cannot be
    /// reached: any of them finds where the seat went.
    alternates: Vec<Target>,
    /// The room moved: reconnect to the new target at once.
    moved: bool,
    /// Reconnect attempts since the seat was last back.
    attempts: u32,
}

struct Redirect {
    seq: u64,
    to: Target,
    node: String,
    refusal: ErrorBody,
}

impl ReconnectingClient {
    /// Over WebSocket.
    pub async fn connect(
        url: &str,
        codec: Codec,
        options: ConnectOptions,
        backoff: Backoff,
    ) -> Result<ReconnectingClient, ClientError> {
        let target = Target::WebSocket {
            url: url.to_owned(),
            codec,
        };
        Self::connect_to(target, options, backoff).await
    }

    /// Over any transport.
    pub async fn connect_to(
        target: Target,
        options: ConnectOptions,
        backoff: Backoff,
    ) -> Result<ReconnectingClient, ClientError> {
        let mut c = ReconnectingClient {
            target,
            options,
            backoff,
            state: ClientState::Disconnected,
            inner: None,
            in_flight: BTreeMap::new(),
            events: VecDeque::new(),
            next_seq: 1,
            rng: seed(),
            resume_token: None,
            redirect: None,
            redirects: 0,
            alternates: Vec::new(),
            moved: false,
            attempts: 0,
        };
        c.set_state(ClientState::Connecting);
        match c.target.connect(c.options.clone()).await {
            Ok(client) => {
                c.resume_token = Some(client.welcome.resume_token.clone());
                c.inner = Some(client);
                c.set_state(ClientState::Connected);
                Ok(c)
            }
            Err(e) => {
                c.set_state(ClientState::Failed(e.to_string()));
                Err(e)
            }
        }
    }

    /// Cluster mode: other nodes to reconnect through when the current one
    /// cannot be reached (it died): they resume the seat, or say where it
    /// went (the client follows).
    pub fn with_alternates(mut self, alternates: Vec<Target>) -> ReconnectingClient {
        self.alternates = alternates;
        self
    }

    /// The node this client connects to now.
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn state(&self) -> &ClientState {
        &self.state
    }

    fn set_state(&mut self, state: ClientState) {
        if self.state != state {
            self.state = state.clone();
            self.events.push_back(Event::State(state));
        }
    }

    /// Sends a request carrying a fresh seq (built by `build`); it will
    /// resolve exactly once through [`Event::Resolved`] (or a `joined` /
    /// `room_created` message for joins and creates).
    pub async fn request(
        &mut self,
        build: impl FnOnce(u64) -> ClientMessage,
    ) -> Result<u64, ClientError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let msg = build(seq);
        self.in_flight.insert(seq, msg.clone());
        if let Some(inner) = self.inner.as_mut()
            && inner.send(&msg).await.is_err()
        {
            // Sent again after the reconnect.
            self.inner = None;
        }
        Ok(seq)
    }

    /// Sends something that is not a request (ping, cursor); lost if the
    /// connection is down.
    pub async fn send(&mut self, msg: &ClientMessage) {
        if let Some(inner) = self.inner.as_mut()
            && inner.send(msg).await.is_err()
        {
            self.inner = None;
        }
    }

    /// The next event, reconnecting as needed. `Err` only once failed.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            if let ClientState::Failed(why) = &self.state {
                return Err(ClientError::Protocol(format!(
                    "the client has failed: {why}"
                )));
            }
            if let Some(redirect) = self.redirect.take() {
                self.follow(redirect).await;
                continue;
            }
            let Some(inner) = self.inner.as_mut() else {
                self.reconnect().await;
                continue;
            };
            match inner.recv().await {
                Ok(msg) => self.on_message(msg),
                Err(_) => self.inner = None,
            }
        }
    }

    fn on_message(&mut self, msg: ServerMessage) {
        // Requests the delta acknowledges (their events carry their seq).
        if let (ServerMessage::Delta(d), Some(inner)) = (&msg, self.inner.as_ref()) {
            let acked: Vec<u64> = inner.acknowledged_by(d).collect();
            for seq in acked {
                if self.in_flight.remove(&seq).is_some() {
                    self.events.push_back(Event::Resolved {
                        seq,
                        resolution: Resolution::Acked,
                    });
                }
            }
        }
        let resolved = match &msg {
            ServerMessage::Ack { seq } => Some((*seq, Resolution::Acked)),
            ServerMessage::Reject {
                seq,
                code,
                message,
                details,
            } => Some((
                *seq,
                Resolution::Rejected(ErrorBody {
                    code: *code,
                    message: message.clone(),
                    details: details.clone(),
                }),
            )),
            ServerMessage::Joined { seq: Some(seq), .. }
            | ServerMessage::RoomCreated { seq, .. } => {
                self.in_flight.remove(seq);
                None
            }
            _ => None,
        };
        if let Some((seq, Resolution::Rejected(e))) = &resolved
            && let Some(redirect) = self.redirect_for(*seq, e)
        {
            self.redirect = Some(redirect);
            return;
        }
        // The room moved to another node (a handoff, or this node lost it):
        // resume there.
        if let ServerMessage::Error {
            code: tickroom_protocol::ErrorCode::RoomElsewhere,
            message,
            details,
        } = &msg
        {
            let e = ErrorBody {
                code: tickroom_protocol::ErrorCode::RoomElsewhere,
                message: message.clone(),
                details: details.clone(),
            };
            if self.move_to(&e) {
                return;
            }
        }
        if matches!(&msg, ServerMessage::Joined { .. }) {
            self.redirects = 0;
        }
        match resolved {
            Some((seq, resolution)) if self.in_flight.remove(&seq).is_some() => {
                self.events.push_back(Event::Resolved { seq, resolution });
            }
            _ => self.events.push_back(Event::Message(msg)),
        }
    }

    /// The target on the node `e` (`ROOM_ELSEWHERE`) names, reachable over
    /// this client's transport.
    fn target_of(&self, e: &ErrorBody) -> Option<(Target, String)> {
        let elsewhere = crate::client::Elsewhere::of(e)?;
        let to = match &self.target {
            Target::WebSocket { codec, .. } if !elsewhere.ws.is_empty() => Target::WebSocket {
                url: elsewhere.ws.clone(),
                codec: *codec,
            },
            Target::Quic(q) => Target::Quic(QuicTarget {
                addr: elsewhere.quic.parse().ok()?,
                ..q.clone()
            }),
            Target::WebSocket { .. } => return None,
        };
        Some((to, elsewhere.node))
    }

    /// Connects to `to` from now on; the node it replaces stays among the
    /// alternates (it may come back), `to` leaves them.
    fn retarget(&mut self, to: Target) {
        let old = std::mem::replace(&mut self.target, to);
        self.alternates.retain(|t| *t != self.target);
        if old != self.target && !self.alternates.contains(&old) {
            self.alternates.push(old);
        }
    }

    /// The seat's room moved to the node `e` names: drop this connection
    /// and resume there at once. False when `e` names no reachable node.
    fn move_to(&mut self, e: &ErrorBody) -> bool {
        let Some((to, node)) = self.target_of(e) else {
            return false;
        };
        self.retarget(to);
        self.inner = None;
        self.moved = true;
        self.events.push_back(Event::Redirected { node });
        true
    }

    /// A join refused because its room is on another node that this client
    /// can reach over its transport: where to follow it.
    fn redirect_for(&mut self, seq: u64, e: &ErrorBody) -> Option<Redirect> {
        if !matches!(
            self.in_flight.get(&seq),
            Some(ClientMessage::JoinRoom { .. } | ClientMessage::JoinReserved { .. })
        ) || self.redirects >= MAX_REDIRECTS
        {
            return None;
        }
        let (to, node) = self.target_of(e)?;
        self.redirects += 1;
        Some(Redirect {
            seq,
            to,
            node,
            refusal: e.clone(),
        })
    }

    /// Connects to the node that owns the room (a new session there) and
    /// sends the join again; if that node cannot be reached, the join
    /// resolves with the refusal and the client stays where it was.
    async fn follow(&mut self, redirect: Redirect) {
        let options = ConnectOptions {
            resume: None,
            ..self.options.clone()
        };
        let joining = self.in_flight.get(&redirect.seq).cloned();
        match (redirect.to.connect(options).await, joining) {
            (Ok(mut client), Some(join)) => {
                if client.send(&join).await.is_err() {
                    self.inner = None;
                } else {
                    self.inner = Some(client);
                }
                self.target = redirect.to;
                self.resume_token = self.inner.as_ref().map(|c| c.welcome.resume_token.clone());
                self.events.push_back(Event::Redirected {
                    node: redirect.node,
                });
            }
            _ => {
                if self.in_flight.remove(&redirect.seq).is_some() {
                    self.events.push_back(Event::Resolved {
                        seq: redirect.seq,
                        resolution: Resolution::Rejected(redirect.refusal),
                    });
                }
            }
        }
    }

    /// Drops the connection as a network failure would (for tests and for
    /// applications that detect a dead link themselves).
    pub fn drop_connection(&mut self) {
        self.inner = None;
    }

    fn jitter_unit(&mut self) -> f64 {
        // xorshift64*: jitter needs spread, not cryptographic quality.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    async fn reconnect(&mut self) {
        let resume = self.resume_token.clone();
        // Where the room went is known: no wait before the first attempt.
        let moved = std::mem::take(&mut self.moved);
        // Attempts count from the last time the seat was back, across
        // moves: two nodes pointing at each other cannot keep it forever.
        let first = self.attempts + 1;
        while self.attempts < self.backoff.max_attempts {
            self.attempts += 1;
            let attempt = self.attempts;
            self.set_state(ClientState::Reconnecting { attempt });
            let unit = self.jitter_unit();
            if !(moved && attempt == first) {
                tokio::time::sleep(self.backoff.delay(attempt, unit)).await;
            }
            let options = ConnectOptions {
                resume: resume.clone(),
                ..self.options.clone()
            };
            // The target first, then each alternate in turn.
            let turn = (attempt - first) as usize % (1 + self.alternates.len());
            let target = match turn {
                0 => self.target.clone(),
                n => self.alternates[n - 1].clone(),
            };
            match target.connect(options).await {
                Ok(client) => {
                    if turn != 0 {
                        // The alternate becomes the target; the one that
                        // failed waits among the alternates.
                        let failed = std::mem::replace(&mut self.target, target);
                        self.alternates[turn - 1] = failed;
                    }
                    return self.resumed(client).await;
                }
                Err(ClientError::Refused(e)) => {
                    self.set_state(ClientState::Failed(format!("refused: {e}")));
                    return;
                }
                Err(_) => continue,
            }
        }
        self.set_state(ClientState::Failed(format!(
            "no connection after {} attempts",
            self.backoff.max_attempts
        )));
    }

    async fn resumed(&mut self, mut client: Client) {
        // Keep our own numbering: the session continues.
        let last = client.welcome.last_applied_seq;
        match (client.resumed.take(), client.resume_error.take()) {
            (Some(joined), _) => {
                let settled: Vec<u64> = self
                    .in_flight
                    .range(..=last.unwrap_or(0))
                    .map(|(s, _)| *s)
                    .collect();
                for seq in settled {
                    self.in_flight.remove(&seq);
                    self.events.push_back(Event::Resolved {
                        seq,
                        resolution: Resolution::AppliedBeforeResume,
                    });
                }
                self.redirects = 0;
                self.attempts = 0;
                self.events.push_back(Event::Resumed(joined));
                let resend: Vec<ClientMessage> = self.in_flight.values().cloned().collect();
                for msg in &resend {
                    if client.send(msg).await.is_err() {
                        break;
                    }
                }
            }
            (None, Some(error)) if self.move_to(&error) => {
                // The seat is on another node: resume there (with this
                // session's token, not the fresh one this node gave).
                return;
            }
            (None, error) => {
                for seq in std::mem::take(&mut self.in_flight).into_keys() {
                    self.events.push_back(Event::Resolved {
                        seq,
                        resolution: Resolution::Lost,
                    });
                }
                if let Some(e) = error {
                    self.events.push_back(Event::SeatLost(e));
                }
            }
        }
        self.resume_token = Some(client.welcome.resume_token.clone());
        self.inner = Some(client);
        self.attempts = 0;
        self.set_state(ClientState::Connected);
    }
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0x9e37_79b9_7f4a_7c15;
    }
    u64::from_le_bytes(b) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_with_bounded_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.25,
            max_attempts: 5,
        };
        assert_eq!(b.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(b.delay(10, 0.5), Duration::from_secs(1));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(75));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(125));
    }
}
