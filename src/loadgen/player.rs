//! One simulated client: connects, joins its room, and either drags a piece
//! under a lock (moving its cursor and chatting now and then) or idles with
//! heartbeats. It times each request from send to the receipt of the delta
//! (or pong, or cursor frame) that carries it, and checks that the room's
//! versions arrive without a gap.

use super::tally::{Class, RoomSpan, Tally};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickroom_net::client::{Client, ClientError, ConnectOptions, QuicTarget};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, MemberId, PieceId, Pos, RoomId, ServerMessage};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// Hold a lock and drag a piece; move the cursor; chat now and then.
    Drag,
    /// Sit in the room and send heartbeats (pings) only.
    Idle,
}

/// How one client reaches the server.
#[derive(Debug, Clone)]
pub enum Route {
    Ws { url: String, codec: Codec },
    Quic { target: QuicTarget },
}

/// What every client of one process shares.
#[derive(Debug)]
pub struct Plan {
    pub behavior: Behavior,
    pub move_rate: f64,
    pub cursor_rate: f64,
    pub chat_every: Option<Duration>,
    /// `None`: no pings of its own; the connection lives on the server's
    /// WebSocket pings (or QUIC keep-alives), which the client answers.
    pub heartbeat: Option<Duration>,
    pub renew_every: Duration,
    pub drain: Duration,
    pub rooms: Vec<RoomId>,
    pub per_room: u32,
    /// Cluster mode: nodes' HTTP addresses to matchmake on, in turn; empty:
    /// clients join `rooms` by id.
    pub matchmake: Vec<String>,
}

/// The run's phase, as the process's coordinator sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Setup,
    /// Measure until this instant, then drain and stop.
    Run(Instant),
    /// Give up (setup failed elsewhere): close without measuring.
    Abort,
    /// Every client of the process has drained: close. Nobody leaves
    /// before then, so a departure never shows as a version some client
    /// could not see.
    Close,
}

/// One client's place in the run.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The client's index over the whole run (all processes).
    pub index: u32,
    pub route: Route,
    pub local_ip: Option<IpAddr>,
    pub quic_endpoint: Option<quinn::Endpoint>,
}

/// Runs one client to the end; `ready` is told once it sits in its room
/// (or failed to).
pub async fn play(
    plan: Arc<Plan>,
    seat: Seat,
    mut phase: watch::Receiver<Phase>,
    ready: tokio::sync::mpsc::UnboundedSender<bool>,
    drained: tokio::sync::mpsc::UnboundedSender<()>,
) -> Tally {
    let mut tally = Tally::default();
    tally.clients = 1;
    let room = plan.rooms[(seat.index / plan.per_room) as usize % plan.rooms.len()].clone();
    let piece = PieceId(seat.index % plan.per_room);
    let setup = match plan.matchmake.is_empty() {
        true => setup(&plan, &seat, &room, piece).await,
        false => matchmade(&plan, &seat).await,
    };
    let _ = ready.send(setup.is_ok());
    let (client, member, version, room) = match setup {
        Ok(s) => s,
        Err(e) => {
            tally.connect_failures += 1;
            tally.error(&error_code(&e));
            return tally;
        }
    };
    tally.connected = 1;
    let mut p = Player {
        plan: &plan,
        client,
        member,
        piece,
        index: seat.index,
        room: room.to_string(),
        tally,
        pending: HashMap::new(),
        cursors: VecDeque::new(),
        joined_version: version,
        last_version: version,
        received_versions: 0,
        last_heard: Instant::now(),
        moves: 0,
        ended: false,
    };
    if let Some(until) = p.wait_for_start(&mut phase).await {
        p.run(until).await;
        let _ = drained.send(());
        let _ = phase
            .wait_for(|p| matches!(p, Phase::Close | Phase::Abort))
            .await;
    }
    p.finish().await
}

type Setup = (Client, MemberId, u64, RoomId);

async fn setup(
    plan: &Plan,
    seat: &Seat,
    room: &RoomId,
    piece: PieceId,
) -> Result<Setup, ClientError> {
    let options = ConnectOptions {
        local_ip: seat.local_ip,
        quic_endpoint: seat.quic_endpoint.clone(),
        ..ConnectOptions::default()
    };
    let mut client = match &seat.route {
        Route::Ws { url, codec } => Client::connect_with(url, *codec, options).await?,
        Route::Quic { target } => Client::connect_quic(target, options).await?,
    };
    client.reply_timeout = Duration::from_secs(30);
    let joined = client
        .join(room, &format!("lg{}", seat.index), None)
        .await?;
    if plan.behavior == Behavior::Drag
        && let Err(body) = client.intent(Intent::TakeLock { piece }).await?
    {
        return Err(ClientError::Refused(body));
    }
    Ok((client, joined.member, joined.state.version, joined.room))
}

/// Cluster mode: a seat by matchmaking (one of the plan's nodes, in turn),
/// taken on the node that owns the room.
async fn matchmade(plan: &Plan, seat: &Seat) -> Result<Setup, ClientError> {
    let node = &plan.matchmake[seat.index as usize % plan.matchmake.len()];
    let answer = http_post(node, seat.local_ip, "/api/v1/matchmake", "{}").await?;
    let field = |k: &str| {
        answer[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Protocol(format!("matchmaking answered {answer}")))
    };
    let (ws, reservation) = (field("ws")?, field("reservation")?);
    let options = ConnectOptions {
        local_ip: seat.local_ip,
        ..ConnectOptions::default()
    };
    let codec = match &seat.route {
        Route::Ws { codec, .. } => *codec,
        Route::Quic { .. } => Codec::Postcard,
    };
    let mut client = Client::connect_with(&ws, codec, options).await?;
    client.reply_timeout = Duration::from_secs(30);
    let joined = client
        .join_reserved(&reservation, &format!("lg{}", seat.index), None)
        .await?;
    Ok((client, joined.member, joined.state.version, joined.room))
}

/// A JSON POST over plain HTTP/1.1 (loopback), from `local_ip`.
async fn http_post(
    addr: &str,
    local_ip: Option<IpAddr>,
    path: &str,
    body: &str,
) -> Result<serde_json::Value, ClientError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target: std::net::SocketAddr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| ClientError::Protocol(format!("{addr} resolves to nothing")))?;
    let socket = match target {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(ip) = local_ip {
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    let mut s = socket.connect(target).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| ClientError::Timeout(Duration::from_secs(30)))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol("a truncated HTTP answer".into()))?;
    if !head.starts_with("HTTP/1.1 200") {
        let code = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| head.lines().next().unwrap_or_default().to_owned());
        return Err(ClientError::Protocol(format!(
            "matchmaking refused: {code}"
        )));
    }
    serde_json::from_str(body)
        .map_err(|e| ClientError::Protocol(format!("matchmaking answered {body}: {e}")))
}

fn error_code(e: &ClientError) -> String {
    match e {
        ClientError::Refused(body) => body.code.as_str().to_owned(),
        ClientError::Timeout(_) => "CONNECT_TIMEOUT".into(),
        ClientError::Closed => "CONNECTION_CLOSED".into(),
        _ => "CONNECT_FAILED".into(),
    }
}

struct Player<'a> {
    plan: &'a Plan,
    client: Client,
    member: MemberId,
    piece: PieceId,
    index: u32,
    room: String,
    tally: Tally,
    /// Requests awaiting the delta (or pong) that carries them, by seq.
    pending: HashMap<u64, (Class, Instant)>,
    /// Cursor positions sent and not yet seen, oldest first.
    cursors: VecDeque<(Pos, Instant)>,
    joined_version: u64,
    last_version: u64,
    received_versions: u64,
    last_heard: Instant,
    moves: u64,
    /// The connection ended (closed by the server, or an I/O error).
    ended: bool,
}

/// The client time of setup pings, which are not measured (`ping` keys its
/// pending pongs at `u64::MAX - client_time`, and 0 is never a seq).
const KEEPALIVE: u64 = u64::MAX;

/// After the run, the drain ends once nothing is awaited and nothing arrived
/// for this long (the room's last deltas are in by then).
const QUIET: Duration = Duration::from_millis(500);

/// A timer firing `every` (or never), its phase spread over the period by
/// the client's index so clients' sends do not coincide with each other or
/// with the tick.
fn interval(every: Option<Duration>, index: u32) -> tokio::time::Interval {
    let now = tokio::time::Instant::now();
    let Some(every) = every else {
        let never = Duration::from_secs(86_400 * 365);
        return tokio::time::interval_at(now + never, never);
    };
    // Fibonacci hashing: evenly spread fractions for consecutive indexes.
    let fraction = f64::from(index.wrapping_mul(2_654_435_769)) / 4_294_967_296.0;
    let mut i = tokio::time::interval_at(now + every.mul_f64(fraction), every);
    // A loaded generator sends less rather than in bursts; the report shows
    // the rate actually sent.
    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
    i
}

fn every(rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate))
}

impl Player<'_> {
    /// Keeps reading (the room goes on while other clients set up) until
    /// the coordinator starts the run; `None` if it aborts.
    async fn wait_for_start(&mut self, phase: &mut watch::Receiver<Phase>) -> Option<Instant> {
        // Setting up thousands of clients can outlast the server's heartbeat
        // timeout: keep the connection alive with unmeasured pings.
        let mut keepalive = interval(self.plan.heartbeat, self.index);
        loop {
            match *phase.borrow_and_update() {
                Phase::Run(until) => return Some(until),
                Phase::Abort | Phase::Close => return None,
                Phase::Setup => {}
            }
            tokio::select! {
                changed = phase.changed() => if changed.is_err() { return None },
                msg = self.client.recv(), if !self.ended => self.receive(msg),
                _ = keepalive.tick(), if !self.ended => {
                    // Its pong matches no pending request and is ignored.
                    self.send(ClientMessage::Ping { client_time: KEEPALIVE }).await;
                }
            }
        }
    }

    async fn run(&mut self, until: Instant) {
        let drag = self.plan.behavior == Behavior::Drag;
        let when = |d: Option<Duration>, on: bool| d.filter(|_| on);
        let mut moves = interval(when(every(self.plan.move_rate), drag), self.index);
        let mut cursors = interval(when(every(self.plan.cursor_rate), drag), self.index);
        let mut chats = interval(when(self.plan.chat_every, drag), self.index);
        let mut renews = interval(when(Some(self.plan.renew_every), drag), self.index);
        let mut pings = interval(when(self.plan.heartbeat, !drag), self.index);
        let deadline = tokio::time::Instant::from_std(until);
        while !self.ended {
            tokio::select! {
                msg = self.client.recv() => self.receive(msg),
                () = tokio::time::sleep_until(deadline) => break,
                _ = moves.tick() => {
                    self.moves += 1;
                    let n = self.moves as i32;
                    let to = Pos::new(
                        (n * 37 + self.index as i32 * 11) % 980 + 10,
                        (n * 13 + self.index as i32 * 7) % 980 + 10,
                    );
                    self.intent(Class::Move, Intent::MovePiece { piece: self.piece, to }).await;
                }
                _ = cursors.tick() => self.cursor().await,
                _ = chats.tick() => {
                    let text = format!("hello from lg{} #{}", self.index, self.moves);
                    self.intent(Class::Chat, Intent::Chat { text }).await;
                }
                _ = renews.tick() => {
                    self.intent(Class::Lock, Intent::RenewLock { piece: self.piece }).await;
                }
                _ = pings.tick() => self.ping().await,
            }
        }
        // Drain: stop sending, take in what is still on its way.
        let hard_stop = Instant::now() + self.plan.drain;
        while !self.ended && Instant::now() < hard_stop {
            let quiet_for = self.last_heard.elapsed();
            let waiting = !self.pending.is_empty();
            if !waiting && quiet_for >= QUIET {
                break;
            }
            let left = hard_stop.saturating_duration_since(Instant::now());
            let wait = if waiting {
                left
            } else {
                (QUIET - quiet_for).min(left)
            };
            match self.client.recv_timeout(wait).await {
                Err(ClientError::Timeout(_)) => {}
                other => self.receive(other),
            }
        }
    }

    async fn send(&mut self, msg: ClientMessage) {
        if self.client.send(&msg).await.is_err() {
            self.ended = true;
        }
    }

    async fn intent(&mut self, class: Class, intent: Intent) {
        let seq = self.client.next_seq();
        self.tally.sent(class);
        self.pending.insert(seq, (class, Instant::now()));
        self.send(ClientMessage::intent(seq, intent)).await;
    }

    async fn cursor(&mut self) {
        // Every position is new, so the one that comes back says which
        // send it was.
        let n = (self.tally.sent.get("cursor").copied().unwrap_or(0) % 900_000) as i32;
        let pos = Pos::new(n % 1000, n / 1000);
        self.tally.sent(Class::Cursor);
        self.cursors.push_back((pos, Instant::now()));
        if self.cursors.len() > 64 {
            self.cursors.pop_front();
        }
        self.send(ClientMessage::Cursor { pos }).await;
    }

    async fn ping(&mut self) {
        // The n-th ping carries n: distinct per client, so its pong says
        // which ping it answers.
        let client_time = self.tally.sent.get("ping").copied().unwrap_or(0);
        self.tally.sent(Class::Ping);
        // Pongs carry no seq; the client time is the key (offset past any
        // real seq space).
        self.pending
            .insert(u64::MAX - client_time, (Class::Ping, Instant::now()));
        self.send(ClientMessage::Ping { client_time }).await;
    }

    /// Its own cursor among those relayed (in a delta or a `cursors`
    /// frame) answers the cursor sent at that position.
    fn cursors_seen(&mut self, cursors: &[tickroom_protocol::CursorPos], now: Instant) {
        let Some(mine) = cursors.iter().find(|c| c.member == self.member) else {
            return;
        };
        if let Some(at) = self.cursors.iter().position(|(p, _)| *p == mine.pos) {
            let (_, sent) = self.cursors[at];
            self.tally.echoed(Class::Cursor);
            self.tally.record(Class::Cursor, micros(now - sent));
            // Older positions were overtaken (coalesced), not lost.
            self.cursors.drain(..=at);
        }
    }

    fn receive(&mut self, msg: Result<ServerMessage, ClientError>) {
        let now = Instant::now();
        self.last_heard = now;
        let msg = match msg {
            Ok(m) => m,
            Err(_) => {
                self.ended = true;
                return;
            }
        };
        self.tally.frames += 1;
        match msg {
            ServerMessage::Delta(d) => {
                self.tally.deltas += 1;
                self.cursors_seen(&d.cursors, now);
                self.tally.events += d.events.len() as u64;
                if d.from_version > self.last_version {
                    self.tally.gaps += 1;
                    self.tally.gap_versions += d.from_version - self.last_version;
                }
                if d.to_version > self.last_version {
                    self.received_versions += d.to_version - d.from_version.max(self.last_version);
                    self.last_version = d.to_version;
                }
                for e in &d.events {
                    if e.origin.member != Some(self.member) {
                        continue;
                    }
                    let Some(seq) = e.origin.seq else { continue };
                    // The echo of one of its own moves, locks or chat lines:
                    // a game event, not a seat's.
                    if !matches!(e.event, tickroom_protocol::Event::Game(_)) {
                        continue;
                    }
                    if let Some((class, sent)) = self.pending.remove(&seq) {
                        // The echo acknowledges the request (protocol 2).
                        self.tally.acks += 1;
                        self.tally.echoed(class);
                        self.tally.record(class, micros(now - sent));
                    }
                }
            }
            ServerMessage::Ack { .. } => {
                self.tally.acks += 1;
                self.tally.ack_frames += 1;
            }
            ServerMessage::Reject { seq, code, .. } => {
                self.pending.remove(&seq);
                self.tally.reject(code.as_str());
            }
            ServerMessage::Cursors { cursors, .. } => self.cursors_seen(&cursors, now),
            ServerMessage::Pong { client_time, .. } => {
                if let Some((class, sent)) = self.pending.remove(&(u64::MAX - client_time)) {
                    self.tally.echoed(class);
                    self.tally.record(class, micros(now - sent));
                }
            }
            ServerMessage::Error { code, .. } => self.tally.error(code.as_str()),
            ServerMessage::Closing { code, .. } => {
                if code == tickroom_protocol::ErrorCode::SlowConsumer {
                    self.tally.slow_consumers += 1;
                }
                self.tally.error(code.as_str());
            }
            _ => {}
        }
    }

    async fn finish(mut self) -> Tally {
        if self.ended {
            self.tally.dropped += 1;
        }
        self.tally.unresolved += self
            .pending
            .values()
            .filter(|(class, _)| class.critical())
            .count() as u64;
        self.tally.rooms.insert(
            self.room.clone(),
            RoomSpan {
                clients: 1,
                joined_versions: self.joined_version,
                received_versions: self.received_versions,
                final_version: self.last_version,
            },
        );
        if !self.ended {
            let _ = self.client.close().await;
        }
        self.tally
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}
