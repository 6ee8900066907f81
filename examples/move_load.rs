//! A small load driver for persistence figures: `rooms` rooms of `players`
//! players, each player holding the lock of its own piece and moving it
//! `moves_per_s` times a second over WebSocket (postcard), fire-and-forget,
//! counting acks and rejections. Prints one JSON line with what it sent, what
//! came back, and its own CPU use (it shares the machine with the server).
//!
//! ```sh
//! cargo run --release --example move_load -- --ws ws://127.0.0.1:7700/ws \
//!     --rooms 4 --players 30 --moves-per-s 20 --seconds 30
//! ```

use clap::Parser;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickroom_net::client::{Client, ClientError};
use tickroom_protocol::board::Intent;
use tickroom_protocol::{ClientMessage, Codec, PieceId, Pos, RoomConfig, RoomId, ServerMessage};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    ws: String,
    #[arg(long, default_value_t = 1)]
    rooms: u32,
    #[arg(long, default_value_t = 30)]
    players: u16,
    #[arg(long, default_value_t = 20.0)]
    moves_per_s: f64,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Room ids are `<prefix>-<n>`.
    #[arg(long, default_value = "load")]
    prefix: String,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    rejected: BTreeMap<String, u64>,
}

fn cpu_seconds() -> (f64, f64) {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(u.ru_utime), t(u.ru_stime))
}

async fn player(
    args: Arc<Args>,
    room: RoomId,
    i: u16,
    until: Instant,
    tally: Arc<Mutex<Tally>>,
) -> Result<(), ClientError> {
    let mut c = Client::connect(&args.ws, Codec::Postcard).await?;
    c.join(&room, &format!("p{i}"), None).await?;
    let piece = PieceId(u32::from(i));
    if let Err(e) = c.intent(Intent::TakeLock { piece }).await? {
        return Err(ClientError::Protocol(format!("lock: {}", e.message)));
    }
    let period = Duration::from_secs_f64(1.0 / args.moves_per_s);
    // Spread the players over one period so the sends do not all coincide.
    let mut next = Instant::now() + period.mul_f64(f64::from(i) / f64::from(args.players));
    let mut local = Tally::default();
    let mut n: i32 = 0;
    while Instant::now() < until {
        let now = Instant::now();
        if now >= next {
            next += period;
            n += 1;
            let to = Pos::new((n * 37 + i32::from(i)) % 9000 + 10, (n * 13) % 9000 + 10);
            let seq = c.next_seq();
            c.send(&ClientMessage::intent(seq, Intent::MovePiece { piece, to }))
                .await?;
            local.sent += 1;
        }
        let wait = next.saturating_duration_since(Instant::now());
        match c.recv_timeout(wait.max(Duration::from_micros(100))).await {
            Ok(ServerMessage::Ack { .. }) => local.acked += 1,
            Ok(ServerMessage::Reject { code, .. }) => {
                *local.rejected.entry(code.as_str().to_owned()).or_default() += 1
            }
            Ok(_) | Err(ClientError::Timeout(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // Collect the answers still in flight.
    while let Ok(m) = c.recv_timeout(Duration::from_millis(300)).await {
        match m {
            ServerMessage::Ack { .. } => local.acked += 1,
            ServerMessage::Reject { code, .. } => {
                *local.rejected.entry(code.as_str().to_owned()).or_default() += 1
            }
            _ => {}
        }
    }
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.sent += local.sent;
    t.acked += local.acked;
    for (k, v) in local.rejected {
        *t.rejected.entry(k).or_default() += v;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Arc::new(Args::parse());
    let config = RoomConfig {
        max_players: args.players + 1,
        teams: 0,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: args.players,
            board_width: 10_000,
            board_height: 10_000,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    let mut admin = Client::connect(&args.ws, Codec::Postcard).await?;
    let mut rooms = Vec::new();
    for r in 0..args.rooms {
        let id = RoomId::from(format!("{}-{r}", args.prefix));
        admin
            .create_room(Some(id.clone()), config.clone(), false)
            .await?;
        rooms.push(id);
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let until = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for room in &rooms {
        for i in 0..args.players {
            tasks.push(tokio::spawn(player(
                args.clone(),
                room.clone(),
                i,
                until,
                tally.clone(),
            )));
        }
    }
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds();
    let cpu_used = (cpu.0 - cpu_before.0) + (cpu.1 - cpu_before.1);
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "{}",
        serde_json::json!({"load": {
            "rooms": args.rooms,
            "players_per_room": args.players,
            "moves_per_s_per_player": args.moves_per_s,
            "seconds": wall,
            "sent": t.sent,
            "acked": t.acked,
            "rejected": t.rejected,
            "failed_players": failed,
            "acked_per_s": t.acked as f64 / args.seconds,
            "generator_cpu_s": cpu_used,
            "generator_cpu_pct_of_one_core": 100.0 * cpu_used / wall,
        }})
    );
    Ok(())
}
