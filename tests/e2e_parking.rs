//! End-to-end: a room with nothing to do parks (its ticks are skipped, not
//! run), while its clock, its timers and its log stay what they would have
//! been had it ticked: pongs keep counting, a lock expires at its tick, the
//! next request lands at the tick the time says, a grace period ends on
//! time, and the stored history replays and exports. The same holds when
//! the parked room is frozen (its world dropped, its state kept) and thawed
//! by its timers and requests.

mod support;

use std::time::{Duration, Instant};
use support::Server;
use support::{Ev, ev};
use tickroom_net::client::Client;
use tickroom_protocol::board::Event as BoardEvent;
use tickroom_protocol::board::{Intent, ReleaseReason};
use tickroom_protocol::{
    ClientMessage, Codec, DomainEvent, LeaveReason, PieceId, RoomConfig, RoomId, ServerMessage,
};

async fn metric(server: &Server, name: &str) -> f64 {
    *support::scrape_metrics(server)
        .await
        .get(name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Waits until `name` reads `want`.
async fn until_metric(server: &Server, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if metric(server, name).await == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never reached {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whole 50 ms ticks (the default 20 Hz) in `d`.
fn ticks_in(d: Duration) -> u64 {
    d.as_millis() as u64 / 50
}

/// The room's tick as a pong reports it.
async fn pong_tick(c: &mut Client) -> u64 {
    c.send(&ClientMessage::Ping { client_time: 7 })
        .await
        .unwrap();
    loop {
        match c.recv_timeout(Duration::from_secs(5)).await.unwrap() {
            ServerMessage::Pong { server_tick, .. } => return server_tick,
            _ => continue,
        }
    }
}

/// The next delta event matching `pick`, with the delta's tick.
async fn next_event<T>(c: &mut Client, pick: impl Fn(&Ev) -> Option<T>) -> (u64, T) {
    loop {
        if let ServerMessage::Delta(d) = c.recv_timeout(Duration::from_secs(10)).await.unwrap()
            && let Some(found) = d.events.iter().find_map(|e| pick(&ev(&e.event)))
        {
            return (d.tick, found);
        }
    }
}

/// Waits until the one room is parked and, when rooms freeze, frozen.
async fn until_quiet(server: &Server, frozen: bool) {
    until_metric(server, "tickroom_rooms_parked", 1.0).await;
    if frozen {
        until_metric(server, "tickroom_rooms_frozen", 1.0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_room_parks_and_keeps_its_clock_timers_and_log() {
    quiet_room_keeps_its_clock_timers_and_log(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_room_thaws_on_time_for_its_timers_and_requests() {
    quiet_room_keeps_its_clock_timers_and_log(true).await;
}

/// With `frozen`, rooms freeze 100 ms after parking (else after an hour).
async fn quiet_room_keeps_its_clock_timers_and_log(frozen: bool) {
    let freeze_after = if frozen { "100" } else { "3600000" };
    let mut server = Server::start(&[
        ("TICKROOM_ROOMS_GRACE_MS", "1500"),
        ("TICKROOM_ROOMS_FREEZE_AFTER_MS", freeze_after),
    ]);
    let room = RoomId::from("parked");
    let config = RoomConfig {
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            lock_ttl_ticks: 60,
            ..tickroom_protocol::board::Config::default()
        }),
        ..support::small_room()
    };
    let mut a = Client::connect(&server.ws, Codec::Json).await.unwrap();
    a.create_room(Some(room.clone()), config, false)
        .await
        .unwrap();
    a.join(&room, "a", None).await.unwrap();
    let mut b = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    b.join(&room, "b", None).await.unwrap();

    // A lock that expires 3 s from now, while the room is parked.
    let sent = Instant::now();
    assert!(
        a.intent(Intent::TakeLock { piece: PieceId(0) })
            .await
            .unwrap()
            .is_ok()
    );
    let (taken_at, expires_at) = next_event(&mut b, |e| match e {
        Ev::Board(BoardEvent::LockTaken { expires_at, .. }) => Some(*expires_at),
        _ => None,
    })
    .await;
    let parked_since = Instant::now();
    until_quiet(&server, frozen).await;

    // Parked: no tick runs, but the clock the pongs read goes on.
    let ticks_before = metric(&server, "tickroom_tick_duration_seconds_count").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let ticks_after = metric(&server, "tickroom_tick_duration_seconds_count").await;
    assert_eq!(ticks_after, ticks_before, "a parked room runs no ticks");
    // Ticks of 50 ms: at least those since the lock's delta arrived, at
    // most those since its request was sent.
    let at_least = ticks_in(parked_since.elapsed());
    let pong = pong_tick(&mut a).await;
    let at_most = ticks_in(sent.elapsed()) + 2;
    assert!(
        (taken_at + at_least..=taken_at + at_most).contains(&pong),
        "pong tick {pong}: {at_least}..={at_most} ticks after tick {taken_at}"
    );

    // The lock expires at its own tick, not at some later wake-up.
    let (released_at, reason) = next_event(&mut b, |e| match e {
        Ev::Board(BoardEvent::LockReleased { reason, .. }) => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, ReleaseReason::Expired);
    assert_eq!(released_at, expires_at);

    // After parking again, a request lands at the tick the time says.
    until_quiet(&server, frozen).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let before = pong_tick(&mut a).await;
    assert!(
        a.intent(Intent::Chat {
            text: "still here".into()
        })
        .await
        .unwrap()
        .is_ok()
    );
    let (chat_at, _) = next_event(&mut b, |e| match e {
        Ev::Board(BoardEvent::ChatPosted { .. }) => Some(()),
        _ => None,
    })
    .await;
    let at_most = before + ticks_in(asked.elapsed()) + 2;
    assert!(
        (before + 1..=at_most).contains(&chat_at),
        "chat at tick {chat_at}, the clock said {before} (at most {at_most})"
    );

    // A dropped connection's seat goes when its grace ends (30 ticks), parked
    // or not.
    until_quiet(&server, frozen).await;
    drop(a);
    let (left_at, left) = next_event(&mut b, |e| match e {
        Ev::Room(DomainEvent::MemberLeft { reason, .. }) => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(left, LeaveReason::GraceExpired);
    assert!(left_at >= chat_at + 30, "left at {left_at}");

    // Someone joining the quiet room gets its whole state.
    until_quiet(&server, frozen).await;
    let mut c = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let joined = c.join(&room, "c", None).await.unwrap();
    assert!(
        support::board(&joined.state)
            .chat
            .iter()
            .any(|line| line.text == "still here"),
        "{:?}",
        support::board(&joined.state).chat
    );
    assert_eq!(joined.state.members.len(), 2, "b and c: a's seat is gone");

    // The stored history of a room that parked replays and exports.
    until_quiet(&server, frozen).await;
    drop(b);
    drop(c);
    server.keep_data = true;
    assert!(server.terminate(Duration::from_secs(10)).is_some());
    let db = server.db_path();
    support::replay(&db, room.as_str());
    let scenario = support::export_and_run(&db, room.as_str());
    assert!(scenario.contains("still here"), "{scenario}");
    let _ = std::fs::remove_dir_all(&server.data_dir);
}
