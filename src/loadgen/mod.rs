//! `tickroom loadgen`: N clients over WebSocket and/or QUIC across R rooms,
//! behaving like players (or idling), measuring send-to-delta latency per
//! message class, delivery of critical events, errors by code, and the
//! server's CPU and memory from /proc. Clients may be spread over several
//! processes (the open-file limit is per process) and loopback source
//! addresses; the processes' results are merged exactly.

mod player;
mod procfs;
mod report;
mod tally;

use anyhow::{Context, Result, bail};
use player::{Behavior, Phase, Plan, Route, Seat};
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::Tally;
use tickroom_net::client::{Client, QuicTarget};
use tickroom_protocol::{Codec, RoomConfig, RoomId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportChoice {
    Ws,
    Quic,
    /// Every other client over QUIC.
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodecChoice {
    Postcard,
    Json,
}

#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct LoadArgs {
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:7700/ws (loopback only).
    #[arg(long)]
    pub ws: Option<String>,
    /// The server's QUIC address, e.g. 127.0.0.1:7701 (loopback only).
    #[arg(long)]
    pub quic: Option<SocketAddr>,
    /// The server's certificate (DER), to pin for QUIC: `cert_der` in the
    /// server's `listening` line.
    #[arg(long)]
    pub quic_cert: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TransportChoice::Ws)]
    pub transport: TransportChoice,
    /// The WebSocket codec (QUIC always uses postcard).
    #[arg(long, value_enum, default_value_t = CodecChoice::Postcard)]
    pub codec: CodecChoice,
    #[arg(long, default_value_t = 20)]
    pub clients: u32,
    #[arg(long, default_value_t = 2)]
    pub rooms: u32,
    #[arg(long, value_enum, default_value_t = Behavior::Drag)]
    pub behavior: Behavior,
    /// Moves per second per dragging client.
    #[arg(long, default_value_t = 20.0)]
    pub move_rate: f64,
    /// Cursor updates per second per dragging client (0: none).
    #[arg(long, default_value_t = 10.0)]
    pub cursor_rate: f64,
    /// Seconds between a dragging client's chat lines (0: never).
    #[arg(long, default_value_t = 10.0)]
    pub chat_every_s: f64,
    /// Seconds between an idle client's heartbeats (pings); 0: none, the
    /// connection lives on the server's WebSocket pings (or QUIC
    /// keep-alives), which the client answers, as a browser would.
    #[arg(long, default_value_t = 10.0)]
    pub heartbeat_s: f64,
    /// The rooms' tick rate.
    #[arg(long, default_value_t = 20)]
    pub tick_rate: u16,
    /// How long the measured run lasts, after every client has joined.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// After the run, how long clients wait at most for what is in flight.
    #[arg(long, default_value_t = 5.0)]
    pub drain_s: f64,
    /// Spread the clients over this many processes (each holds fewer than
    /// the 20,000 open files a process may have).
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Loopback addresses to connect from, round-robin: a list
    /// (127.0.0.1,127.0.0.2) or a range (127.0.0.2-127.0.0.41).
    #[arg(long, default_value = "127.0.0.1")]
    pub source_ips: String,
    /// New connections per second per source address (the server admits
    /// 256 per address per second by default).
    #[arg(long, default_value_t = 200)]
    pub connect_rate: u32,
    /// The server's process id, for its CPU and memory; found from the
    /// port it listens on when not given.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Room ids are `<prefix>-<n>`; default: unique per run.
    #[arg(long)]
    pub room_prefix: Option<String>,
    /// Seconds between samples of the server (CPU, RSS, queue gauges).
    #[arg(long, default_value_t = 1.0)]
    pub sample_every_s: f64,
    /// Cluster mode: place each client by matchmaking instead of a room
    /// id — `POST /api/v1/matchmake` on these nodes' HTTP addresses in
    /// turn (a comma list of host:port), then `join_reserved` on the node
    /// it names. Needs `--behavior idle` (rooms are shared with clients of
    /// other processes).
    #[arg(long)]
    pub matchmake: Option<String>,
    /// Internal: run as worker N of `--processes`, talking JSON lines on
    /// stdin/stdout with the coordinator.
    #[arg(long, hide = true)]
    pub worker: Option<u32>,
}

/// The HTTP addresses `--matchmake` lists.
fn matchmake_addrs(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The WebSocket URL's host and port.
fn ws_host_port(url: &str) -> Result<(String, u16)> {
    let rest = url
        .strip_prefix("ws://")
        .context("--ws must be a ws:// URL (loopback, no TLS)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority
        .rsplit_once(':')
        .context("--ws needs an explicit port")?;
    Ok((host.to_owned(), port.parse().context("--ws port")?))
}

fn parse_source_ips(spec: &str) -> Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: std::net::Ipv4Addr = a.trim().parse().context("--source-ips range start")?;
            let b: std::net::Ipv4Addr = b.trim().parse().context("--source-ips range end")?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 65_535 {
                bail!("--source-ips range {part} is empty or too long");
            }
            out.extend((a..=b).map(|n| IpAddr::V4(n.into())));
        } else {
            out.push(part.parse().context("--source-ips address")?);
        }
    }
    if out.is_empty() {
        bail!("--source-ips names no address");
    }
    if let Some(ip) = out.iter().find(|ip| !ip.is_loopback()) {
        bail!("--source-ips {ip} is not a loopback address: loadgen only runs on loopback");
    }
    Ok(out)
}

impl LoadArgs {
    fn validate(&self) -> Result<()> {
        if self.clients == 0 || self.rooms == 0 || self.processes == 0 {
            bail!("--clients, --rooms and --processes must be at least 1");
        }
        if self.rooms > self.clients {
            bail!(
                "--rooms ({}) exceeds --clients ({})",
                self.rooms,
                self.clients
            );
        }
        if self.processes > self.rooms {
            bail!(
                "--processes ({}) exceeds --rooms ({}): a room's clients stay in one process",
                self.processes,
                self.rooms
            );
        }
        if self.duration_s <= 0.0 || self.duration_s > 86_400.0 {
            bail!("--duration-s must be in (0, 86400]");
        }
        if self.move_rate < 0.0 || self.cursor_rate < 0.0 || self.chat_every_s < 0.0 {
            bail!("rates must not be negative");
        }
        if self.heartbeat_s < 0.0 || !self.heartbeat_s.is_finite() {
            bail!("--heartbeat-s must be 0 (none) or positive");
        }
        if self.sample_every_s <= 0.0 || self.connect_rate == 0 {
            bail!("--sample-every-s and --connect-rate must be positive");
        }
        let needs_ws = self.transport != TransportChoice::Quic;
        let needs_quic = self.transport != TransportChoice::Ws;
        match &self.ws {
            Some(url) => {
                let (host, _) = ws_host_port(url)?;
                if !is_loopback_host(&host) {
                    bail!("--ws {url} is not a loopback address: loadgen only runs on loopback");
                }
            }
            None if needs_ws => bail!("--transport {:?} needs --ws", self.transport),
            None => {}
        }
        match self.quic {
            Some(addr) if !addr.ip().is_loopback() => {
                bail!("--quic {addr} is not a loopback address: loadgen only runs on loopback")
            }
            None if needs_quic => bail!("--transport {:?} needs --quic", self.transport),
            _ => {}
        }
        if needs_quic && self.quic_cert.is_none() {
            bail!("QUIC needs --quic-cert (the server's cert_der file)");
        }
        parse_source_ips(&self.source_ips)?;
        if let Some(list) = &self.matchmake {
            if self.behavior != Behavior::Idle {
                bail!("--matchmake needs --behavior idle");
            }
            for addr in matchmake_addrs(list) {
                let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                if !is_loopback_host(host) {
                    bail!(
                        "--matchmake {addr} is not a loopback address: loadgen only runs on loopback"
                    );
                }
            }
        }
        Ok(())
    }

    /// The clients worker `index` runs: whole rooms, so that its clients'
    /// closing at the end is never seen by another process's clients still
    /// counting versions.
    fn share(&self, index: u32) -> (u32, u32) {
        let rooms =
            |i: u32| (u64::from(self.rooms) * u64::from(i) / u64::from(self.processes)) as u32;
        let clients = |room: u32| room.saturating_mul(self.per_room()).min(self.clients);
        (clients(rooms(index)), clients(rooms(index + 1)))
    }

    fn per_room(&self) -> u32 {
        self.clients.div_ceil(self.rooms)
    }

    fn room_config(&self) -> RoomConfig {
        let per_room = self.per_room() as u16;
        let tick = self.tick_rate.max(1);
        RoomConfig {
            tick_rate_hz: tick,
            max_players: per_room,
            teams: 0,
            // Long runs (the soak) must not end the match or archive rooms.
            match_ticks: u32::from(tick) * 3600 * 24,
            game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
                pieces_per_team: 0,
                neutral_pieces: per_room,
                // Locks outlive a few missed renewals (renewed every ~3 s).
                lock_ttl_ticks: u32::from(tick) * 10,
                ..tickroom_protocol::board::Config::default()
            }),
            ..RoomConfig::default()
        }
    }
}

pub fn run(args: LoadArgs) -> Result<std::process::ExitCode> {
    args.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.worker {
        Some(index) => runtime.block_on(child_worker(args, index)),
        None => runtime.block_on(coordinate(args)),
    }
}

/// What one worker reports back.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct WorkerReport {
    tally: Tally,
    /// The worker's own CPU seconds during the measured run.
    cpu_s: f64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum WorkerLine {
    Ready { connected: u64, failed: u64 },
    Done(Box<WorkerReport>),
}

async fn child_worker(args: LoadArgs, index: u32) -> Result<std::process::ExitCode> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    // The coordinator says `go` (or closes stdin to abort) on stdin.
    std::thread::spawn(move || {
        let mut line = String::new();
        let go = std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "go";
        let _ = go_tx.send(go);
    });
    let say = |line: &WorkerLine| -> Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, line)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    };
    let work = tokio::spawn(worker(args, index, ready_tx, go_rx));
    if let Ok((connected, failed)) = ready_rx.await {
        say(&WorkerLine::Ready { connected, failed })?;
    }
    let report = work.await??;
    say(&WorkerLine::Done(Box::new(report)))?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs this process's share of the clients: connects and seats them,
/// reports readiness, waits for `go`, runs, drains, and returns the tally.
async fn worker(
    args: LoadArgs,
    index: u32,
    ready: tokio::sync::oneshot::Sender<(u64, u64)>,
    go: tokio::sync::oneshot::Receiver<bool>,
) -> Result<WorkerReport> {
    let prefix = args
        .room_prefix
        .clone()
        .context("a worker needs --room-prefix")?;
    let ips = parse_source_ips(&args.source_ips)?;
    let plan = Arc::new(Plan {
        behavior: args.behavior,
        move_rate: args.move_rate,
        cursor_rate: args.cursor_rate,
        chat_every: (args.chat_every_s > 0.0).then(|| Duration::from_secs_f64(args.chat_every_s)),
        heartbeat: (args.heartbeat_s > 0.0).then(|| Duration::from_secs_f64(args.heartbeat_s)),
        renew_every: Duration::from_secs(3),
        drain: Duration::from_secs_f64(args.drain_s),
        rooms: (0..args.rooms)
            .map(|r| RoomId::from(format!("{prefix}-{r}")))
            .collect(),
        per_room: args.per_room(),
        matchmake: args
            .matchmake
            .as_deref()
            .map(matchmake_addrs)
            .unwrap_or_default(),
    });
    let quic_target = match (&args.quic, &args.quic_cert) {
        (Some(addr), Some(cert)) => Some(QuicTarget {
            addr: *addr,
            server_name: "localhost".into(),
            cert_der: std::fs::read(cert)
                .with_context(|| format!("reading --quic-cert {}", cert.display()))?,
        }),
        _ => None,
    };
    let codec = match args.codec {
        CodecChoice::Postcard => Codec::Postcard,
        CodecChoice::Json => Codec::Json,
    };
    // One QUIC endpoint (one UDP socket) per source address.
    let mut endpoints = std::collections::BTreeMap::new();
    let (lo, hi) = args.share(index);
    let (phase_tx, phase_rx) = tokio::sync::watch::channel(Phase::Setup);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let (drained_tx, mut drained_rx) = tokio::sync::mpsc::unbounded_channel();
    // Connections are paced per source address so the server's per-address
    // admission rate is respected.
    let pace = Duration::from_secs_f64(
        f64::from(args.processes) / (f64::from(args.connect_rate) * ips.len() as f64),
    );
    let mut tasks = Vec::with_capacity((hi - lo) as usize);
    let mut next = tokio::time::Instant::now();
    for g in lo..hi {
        let ip = ips[g as usize % ips.len()];
        let quic = match args.transport {
            TransportChoice::Ws => false,
            TransportChoice::Quic => true,
            TransportChoice::Mixed => g % 2 == 1,
        };
        let (route, endpoint) = match (quic, &quic_target, &args.ws) {
            (true, Some(target), _) => {
                let endpoint = match endpoints.get(&ip) {
                    Some(e) => Clone::clone(e),
                    None => {
                        let e = quinn::Endpoint::client(SocketAddr::new(ip, 0))
                            .with_context(|| format!("a QUIC endpoint on {ip}"))?;
                        endpoints.insert(ip, e.clone());
                        e
                    }
                };
                (
                    Route::Quic {
                        target: target.clone(),
                    },
                    Some(endpoint),
                )
            }
            (false, _, Some(url)) => (
                Route::Ws {
                    url: url.clone(),
                    codec,
                },
                None,
            ),
            _ => bail!("no route for client {g}"),
        };
        let seat = Seat {
            index: g,
            route,
            local_ip: Some(ip),
            quic_endpoint: endpoint,
        };
        tasks.push(tokio::spawn(player::play(
            plan.clone(),
            seat,
            phase_rx.clone(),
            ready_tx.clone(),
            drained_tx.clone(),
        )));
        // Behind schedule (a busy machine), the next connect waits a full
        // pace from now rather than catching up in a burst that would
        // exceed the server's per-address admission rate.
        next = (next + pace).max(tokio::time::Instant::now());
        tokio::time::sleep_until(next).await;
    }
    drop(ready_tx);
    let (mut connected, mut failed) = (0u64, 0u64);
    while connected + failed < u64::from(hi - lo) {
        match ready_rx.recv().await {
            Some(true) => connected += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    let _ = ready.send((connected, failed));
    let go = go.await.unwrap_or(false);
    let cpu_at_go = procfs::own_cpu_s().0;
    let run = Duration::from_secs_f64(args.duration_s);
    let _ = phase_tx.send(if go {
        Phase::Run(Instant::now() + run)
    } else {
        Phase::Abort
    });
    drop(drained_tx);
    if go {
        for _ in 0..connected {
            if drained_rx.recv().await.is_none() {
                break;
            }
        }
        let _ = phase_tx.send(Phase::Close);
    }
    let mut tally = Tally::default();
    for t in tasks {
        match t.await {
            Ok(one) => tally.merge(&one),
            Err(e) => bail!("a client task failed: {e}"),
        }
    }
    for e in endpoints.values() {
        e.close(0u32.into(), b"done");
    }
    Ok(WorkerReport {
        tally,
        cpu_s: procfs::own_cpu_s().0 - cpu_at_go,
    })
}

/// Opens a control connection (for creating rooms).
async fn control_client(args: &LoadArgs) -> Result<Client> {
    Ok(match (&args.ws, &args.quic, &args.quic_cert) {
        (Some(url), _, _) => Client::connect(url, Codec::Postcard).await?,
        (None, Some(addr), Some(cert)) => {
            let target = QuicTarget {
                addr: *addr,
                server_name: "localhost".into(),
                cert_der: std::fs::read(cert)?,
            };
            Client::connect_quic(&target, Default::default()).await?
        }
        _ => bail!("no server address"),
    })
}

/// Rooms one control connection creates: under the server's default
/// per-connection action rate (60 per 10 s).
const ROOMS_PER_CONTROL: u32 = 50;

/// Creates the rooms, a fresh control connection per batch.
async fn create_rooms(args: &LoadArgs, prefix: &str) -> Result<()> {
    let mut control = None;
    for r in 0..args.rooms {
        if r % ROOMS_PER_CONTROL == 0 {
            if let Some(c) = control.take() {
                let _ = Client::close(c).await;
            }
            control = Some(control_client(args).await?);
        }
        let Some(c) = control.as_mut() else {
            bail!("no control connection");
        };
        let id = RoomId::from(format!("{prefix}-{r}"));
        c.create_room(Some(id.clone()), args.room_config(), true)
            .await
            .with_context(|| format!("creating room {id}"))?;
    }
    if let Some(c) = control {
        let _ = c.close().await;
    }
    Ok(())
}

async fn coordinate(mut args: LoadArgs) -> Result<std::process::ExitCode> {
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let prefix = args
        .room_prefix
        .clone()
        .unwrap_or_else(|| format!("lg-{started_unix}-{}", std::process::id()));
    args.room_prefix = Some(prefix.clone());
    let pid = match args.server_pid {
        Some(pid) => pid,
        None => match (&args.ws, args.quic) {
            (Some(url), _) => procfs::listener_pid(ws_host_port(url)?.1, false)?,
            (None, Some(addr)) => procfs::listener_pid(addr.port(), true)?,
            _ => bail!("no server address"),
        },
    };
    let metrics_url = args.ws.as_deref().map(ws_host_port).transpose()?;
    let before = procfs::sample(pid)?;
    // Placed by matchmaking, the clients find (or make) their rooms.
    if args.matchmake.is_none() {
        create_rooms(&args, &prefix).await?;
    }

    let mut workers = Workers::start(&args).await?;
    let (connected, failed) = workers.ready().await?;
    eprintln!(
        "loadgen: {connected} clients seated ({failed} failed) in {} rooms; running {} s",
        args.rooms, args.duration_s
    );
    let seated = procfs::sample(pid)?;
    let own_before = procfs::own_cpu_s();
    workers.go().await?;
    let window = Duration::from_secs_f64(args.duration_s);
    let sampler = report::Sampler::new(pid, metrics_url);
    let samples = sampler
        .run(window, Duration::from_secs_f64(args.sample_every_s))
        .await;
    let end = procfs::sample(pid)?;
    let reports = workers.finish().await?;
    let after = procfs::sample(pid)?;
    let own_after = procfs::own_cpu_s();

    let mut tally = Tally::default();
    let mut loadgen_cpu = 0.0;
    for r in &reports {
        tally.merge(&r.tally);
        loadgen_cpu += r.cpu_s;
    }
    if args.processes > 1 {
        // The coordinator's own share (sampling, merging).
        loadgen_cpu += own_after.0 - own_before.0;
    }
    let report = report::Report::build(report::Inputs {
        args: &args,
        started_unix,
        tally: &tally,
        server_pid: pid,
        before,
        seated,
        end,
        after,
        samples,
        loadgen_cpu_s: loadgen_cpu,
    });
    println!("{}", report.table());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The worker processes (or, with one process, a worker task in this one).
enum Workers {
    Local {
        ready: Option<tokio::sync::oneshot::Receiver<(u64, u64)>>,
        go: Option<tokio::sync::oneshot::Sender<bool>>,
        task: tokio::task::JoinHandle<Result<WorkerReport>>,
    },
    Children(Vec<Child>),
}

struct Child {
    process: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    stdin: Option<tokio::process::ChildStdin>,
}

impl Child {
    async fn next_line(&mut self) -> Result<WorkerLine> {
        let line = self
            .lines
            .next_line()
            .await?
            .context("a loadgen worker ended without reporting (see its stderr)")?;
        serde_json::from_str(&line).with_context(|| format!("a worker said {line:?}"))
    }
}

impl Workers {
    async fn start(args: &LoadArgs) -> Result<Workers> {
        if args.processes == 1 {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(worker(args.clone(), 0, ready_tx, go_rx));
            return Ok(Workers::Local {
                ready: Some(ready_rx),
                go: Some(go_tx),
                task,
            });
        }
        let exe = std::env::current_exe()?;
        let mut children = Vec::new();
        for i in 0..args.processes {
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.arg("loadgen")
                .args(worker_args(args, i))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true);
            let mut process = cmd.spawn().context("starting a loadgen worker")?;
            let stdout = process.stdout.take().context("worker stdout")?;
            let stdin = process.stdin.take();
            use tokio::io::AsyncBufReadExt;
            children.push(Child {
                process,
                lines: tokio::io::BufReader::new(stdout).lines(),
                stdin,
            });
        }
        Ok(Workers::Children(children))
    }

    async fn ready(&mut self) -> Result<(u64, u64)> {
        match self {
            Workers::Local { ready, .. } => {
                let rx = ready.take().context("ready twice")?;
                rx.await
                    .context("the worker stopped before its clients were seated")
            }
            Workers::Children(children) => {
                let (mut connected, mut failed) = (0, 0);
                for c in children.iter_mut() {
                    match c.next_line().await? {
                        WorkerLine::Ready {
                            connected: n,
                            failed: f,
                        } => {
                            connected += n;
                            failed += f;
                        }
                        WorkerLine::Done(_) => bail!("a worker finished before it was ready"),
                    }
                }
                Ok((connected, failed))
            }
        }
    }

    async fn go(&mut self) -> Result<()> {
        match self {
            Workers::Local { go, .. } => {
                if let Some(tx) = go.take() {
                    let _ = tx.send(true);
                }
            }
            Workers::Children(children) => {
                for c in children.iter_mut() {
                    if let Some(stdin) = c.stdin.as_mut() {
                        use tokio::io::AsyncWriteExt;
                        stdin
                            .write_all(b"go\n")
                            .await
                            .context("telling a worker to go")?;
                        stdin.flush().await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn finish(self) -> Result<Vec<WorkerReport>> {
        match self {
            Workers::Local { task, .. } => Ok(vec![task.await??]),
            Workers::Children(children) => {
                let mut out = Vec::new();
                for mut c in children {
                    match c.next_line().await? {
                        WorkerLine::Done(r) => out.push(*r),
                        WorkerLine::Ready { .. } => bail!("a worker reported ready twice"),
                    }
                    let status = c.process.wait().await?;
                    if !status.success() {
                        bail!("a loadgen worker exited with {status}");
                    }
                }
                Ok(out)
            }
        }
    }
}

/// The command line a worker process gets: the coordinator's, plus its
/// index and the room prefix.
fn worker_args(args: &LoadArgs, index: u32) -> Vec<String> {
    let mut v = vec![
        "--clients".to_owned(),
        args.clients.to_string(),
        "--rooms".into(),
        args.rooms.to_string(),
        "--transport".into(),
        format!("{:?}", args.transport).to_lowercase(),
        "--codec".into(),
        format!("{:?}", args.codec).to_lowercase(),
        "--behavior".into(),
        format!("{:?}", args.behavior).to_lowercase(),
        "--move-rate".into(),
        args.move_rate.to_string(),
        "--cursor-rate".into(),
        args.cursor_rate.to_string(),
        "--chat-every-s".into(),
        args.chat_every_s.to_string(),
        "--heartbeat-s".into(),
        args.heartbeat_s.to_string(),
        "--tick-rate".into(),
        args.tick_rate.to_string(),
        "--duration-s".into(),
        args.duration_s.to_string(),
        "--drain-s".into(),
        args.drain_s.to_string(),
        "--processes".into(),
        args.processes.to_string(),
        "--source-ips".into(),
        args.source_ips.clone(),
        "--connect-rate".into(),
        args.connect_rate.to_string(),
        "--worker".into(),
        index.to_string(),
    ];
    if let Some(p) = &args.room_prefix {
        v.extend(["--room-prefix".into(), p.clone()]);
    }
    if let Some(ws) = &args.ws {
        v.extend(["--ws".into(), ws.clone()]);
    }
    if let Some(m) = &args.matchmake {
        v.extend(["--matchmake".into(), m.clone()]);
    }
    if let Some(q) = args.quic {
        v.extend(["--quic".into(), q.to_string()]);
    }
    if let Some(c) = &args.quic_cert {
        v.extend(["--quic-cert".into(), c.display().to_string()]);
    }
    // Workers never look for the server; give them a pid so they do not try.
    v.extend(["--server-pid".into(), "0".into()]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadArgs,
    }

    fn parse(extra: &[&str]) -> Result<LoadArgs> {
        let mut argv = vec!["loadgen"];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv)?;
        cli.args.validate()?;
        Ok(cli.args)
    }

    #[test]
    fn only_loopback_targets_and_sources_are_accepted() {
        assert!(parse(&["--ws", "ws://127.0.0.1:7700/ws"]).is_ok());
        assert!(parse(&["--ws", "ws://localhost:7700/ws"]).is_ok());
        assert!(parse(&["--ws", "ws://10.0.0.5:7700/ws"]).is_err());
        assert!(parse(&["--ws", "ws://example.com:7700/ws"]).is_err());
        assert!(parse(&["--ws", "wss://127.0.0.1:7700/ws"]).is_err());
        assert!(
            parse(&[
                "--transport",
                "quic",
                "--quic",
                "192.168.1.2:7701",
                "--quic-cert",
                "c.der"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "--ws",
                "ws://127.0.0.1:7700/ws",
                "--source-ips",
                "127.0.0.2-127.0.0.9,8.8.8.8"
            ])
            .is_err()
        );
    }

    #[test]
    fn source_ranges_expand_and_worker_command_lines_parse_back() {
        let ips = parse_source_ips("127.0.0.2-127.0.0.4,127.0.0.9").unwrap();
        assert_eq!(ips.len(), 4);
        let args = parse(&[
            "--ws",
            "ws://127.0.0.1:7700/ws",
            "--clients",
            "40",
            "--rooms",
            "4",
            "--processes",
            "2",
            "--transport",
            "mixed",
            "--quic",
            "127.0.0.1:7701",
            "--quic-cert",
            "c.der",
            "--codec",
            "json",
            "--room-prefix",
            "p",
        ])
        .unwrap();
        let mut argv: Vec<String> = vec!["loadgen".into()];
        argv.extend(worker_args(&args, 1));
        let back = Cli::try_parse_from(argv).unwrap().args;
        assert_eq!(back.worker, Some(1));
        assert_eq!(back.transport, TransportChoice::Mixed);
        assert_eq!(back.codec, CodecChoice::Json);
        assert_eq!(back.clients, 40);
        assert_eq!(back.room_prefix.as_deref(), Some("p"));
    }

    #[test]
    fn workers_share_out_whole_rooms_and_every_client_once() {
        let args = parse(&[
            "--ws",
            "ws://127.0.0.1:7700/ws",
            "--clients",
            "95",
            "--rooms",
            "10",
            "--processes",
            "3",
        ])
        .unwrap();
        let shares: Vec<_> = (0..3).map(|i| args.share(i)).collect();
        assert_eq!(shares, vec![(0, 30), (30, 60), (60, 95)]);
        assert!(shares.iter().all(|(lo, _)| lo % args.per_room() == 0));
        assert!(
            parse(&[
                "--ws",
                "ws://127.0.0.1:7700/ws",
                "--rooms",
                "2",
                "--processes",
                "3"
            ])
            .is_err()
        );
    }
}
