//! End-to-end in a real browser: two headless Chromium pages on the console
//! share a room. A piece dragged in one moves in the other; a lock held by
//! one is shown in the other and refused there with its reason; then the
//! replay page steps through the room's history. Screenshots of each page
//! are saved under `target/tmp/console-screenshots/` for a person to look at.
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

mod support;
mod webdriver;

use serde_json::{Value, json};
use support::Server;
use tickroom_net::client::Client;
use tickroom_protocol::{Codec, RoomConfig, RoomId};
use webdriver::{Driver, Session};

/// Viewport coordinates of board point (x, y) on the page's board.
async fn on_screen(page: &Session<'_>, board: &str, x: f64, y: f64) -> (i64, i64) {
    let v = page
        .eval(
            "const svg = document.getElementById(arguments[0]); const pt = svg.createSVGPoint();
             pt.x = arguments[1]; pt.y = arguments[2]; const p = pt.matrixTransform(svg.getScreenCTM());
             return [Math.round(p.x), Math.round(p.y)];",
            json!([board, x, y]),
        )
        .await;
    (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
}

async fn piece(page: &Session<'_>, id: u32) -> Value {
    page.eval(
        "const g = document.querySelector(`#board g[data-piece='${arguments[0]}']`);
         return g ? {x: Number(g.dataset.x), y: Number(g.dataset.y), lock: g.dataset.lock} : null;",
        json!([id]),
    )
    .await
}

async fn join(page: &Session<'_>, url: &str, name: &str) {
    page.goto(url).await;
    page.set_text("#name", name).await;
    page.click("#join").await;
    page.wait_for(
        "the join",
        "return document.getElementById('status')?.textContent.includes('joined')",
        json!([]),
    )
    .await;
}

fn move_to(x: i64, y: i64, ms: u64) -> Value {
    json!({"type": "pointerMove", "duration": ms, "x": x, "y": y, "origin": "viewport"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_share_a_room_see_drags_and_locks_and_replay_it() {
    let server = Server::start(&[]);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let room = RoomId::from("board");
    let config = RoomConfig {
        teams: 0,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: 4,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    };
    let mut admin = Client::connect(&server.ws, Codec::Json).await.unwrap();
    admin.create_room(Some(room), config, false).await.unwrap();

    let driver = Driver::start();
    let profiles = support::fresh_data_dir();
    let alice = driver.session(&profiles.join("alice")).await;
    let bob = driver.session(&profiles.join("bob")).await;
    let url = format!("http://{}/#/room/board", server.http);
    join(&alice, &url, "alice").await;
    join(&bob, &url, "bob").await;

    // Alice drags piece 0; Bob's page shows it where she dropped it.
    let start = piece(&alice, 0).await;
    let (sx, sy) = (start["x"].as_f64().unwrap(), start["y"].as_f64().unwrap());
    let (from_x, from_y) = on_screen(&alice, "board", sx, sy).await;
    let (to_x, to_y) = on_screen(&alice, "board", 700.0, 640.0).await;
    alice
        .pointer(json!([
            move_to(from_x, from_y, 0),
            {"type": "pointerDown", "button": 0},
            {"type": "pause", "duration": 150},
            move_to(to_x, to_y, 300),
            {"type": "pointerUp", "button": 0},
        ]))
        .await;
    let moved = bob
        .wait_for(
            "piece 0 to move on Bob's page",
            "const g = document.querySelector(\"#board g[data-piece='0']\");
             return g && Math.abs(g.dataset.x - 700) <= 3 && Math.abs(g.dataset.y - 640) <= 3 && g.dataset.lock === '' ? g.dataset.x + ',' + g.dataset.y : null;",
            json!([]),
        )
        .await;
    eprintln!("piece 0 on Bob's page at {moved}");

    // Alice holds piece 1: Bob sees her lock and is refused with the reason.
    let p1 = piece(&alice, 1).await;
    let (x1, y1) = on_screen(
        &alice,
        "board",
        p1["x"].as_f64().unwrap(),
        p1["y"].as_f64().unwrap(),
    )
    .await;
    alice
        .pointer(json!([move_to(x1, y1, 0), {"type": "pointerDown", "button": 0}]))
        .await;
    bob.wait_for(
        "Alice's lock on Bob's page",
        "return document.querySelector(\"#board g[data-piece='1']\")?.dataset.lock === 'alice'",
        json!([]),
    )
    .await;
    let (bx1, by1) = on_screen(
        &bob,
        "board",
        p1["x"].as_f64().unwrap(),
        p1["y"].as_f64().unwrap(),
    )
    .await;
    bob.pointer(json!([
        move_to(bx1, by1, 0),
        {"type": "pointerDown", "button": 0},
        move_to(bx1 + 40, by1 + 40, 100),
        {"type": "pointerUp", "button": 0},
    ]))
    .await;
    let refusal = bob
        .wait_for(
            "the refusal on Bob's page",
            "const s = document.getElementById('status'); return s.className === 'error' && s.textContent.includes('LOCK_HELD') ? s.textContent : null;",
            json!([]),
        )
        .await;
    eprintln!("Bob was told: {refusal}");
    assert_eq!(
        piece(&bob, 1).await["lock"],
        "alice",
        "the piece stays Alice's"
    );
    alice.screenshot(&shots.join("room-alice.png")).await;
    bob.screenshot(&shots.join("room-bob.png")).await;
    alice
        .pointer(json!([move_to(x1 + 60, y1, 100), {"type": "pointerUp", "button": 0}]))
        .await;
    bob.wait_for(
        "Alice's release on Bob's page",
        "return document.querySelector(\"#board g[data-piece='1']\")?.dataset.lock === ''",
        json!([]),
    )
    .await;

    // Chat, dice and the host's match controls reach the other page.
    bob.set_text("#chat-text", "hello from bob").await;
    bob.click("#chat-send").await;
    alice
        .wait_for(
            "Bob's chat on Alice's page",
            "return document.getElementById('chat').textContent.includes('bob: hello from bob')",
            json!([]),
        )
        .await;
    alice.click("#roll").await;
    bob.wait_for(
        "Alice's roll on Bob's page",
        "return document.getElementById('events').textContent.includes('alice rolled 2d6')",
        json!([]),
    )
    .await;
    alice.click("#start").await;
    let timer = bob
        .wait_for(
            "the live match and its timer on Bob's page",
            "const p = document.getElementById('phase'); return p.dataset.phase === 'live' && p.textContent.includes('left') ? p.textContent : null;",
            json!([]),
        )
        .await;
    eprintln!("Bob sees: {timer}");
    let bob_may_start = bob
        .eval(
            "return !document.getElementById('start').disabled",
            json!([]),
        )
        .await;
    assert_eq!(
        bob_may_start,
        json!(false),
        "only the host has match controls"
    );

    // The replay page rebuilds the room and steps through its ticks.
    alice
        .goto(&format!("http://{}/#/replay/board", server.http))
        .await;
    alice
        .wait_for(
            "the replay at tick 0",
            "return document.getElementById('tick')?.dataset.tick === '0'",
            json!([]),
        )
        .await;
    let last = alice
        .eval(
            "const s = document.getElementById('tick-slider'); return Number(s.max);",
            json!([]),
        )
        .await
        .as_u64()
        .unwrap();
    assert!(last > 2, "the history has ticks: {last}");
    alice
        .eval(
            "const s = document.getElementById('tick-slider'); s.value = s.max; s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    alice
        .wait_for(
            "the last tick",
            "return document.getElementById('tick').dataset.tick === arguments[0]",
            json!([last.to_string()]),
        )
        .await;
    let shown = alice
        .eval(
            "return document.querySelectorAll('#tick-events li, #tick-inputs li').length",
            json!([]),
        )
        .await;
    assert!(
        shown.as_u64().unwrap() > 0,
        "the last tick lists what happened"
    );
    alice.click("#prev").await;
    alice
        .wait_for(
            "one tick back",
            "return document.getElementById('tick').dataset.tick === arguments[0]",
            json!([(last - 1).to_string()]),
        )
        .await;
    let hash = alice
        .eval(
            "return document.getElementById('state-hash').textContent",
            json!([]),
        )
        .await;
    assert!(
        hash.as_str()
            .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit())),
        "{hash}"
    );
    alice.screenshot(&shots.join("replay.png")).await;
    bob.goto(&format!("http://{}/#/", server.http)).await;
    bob.wait_for(
        "the rooms list",
        "return document.querySelector(\"#rooms tr[data-room='board']\")?.textContent",
        json!([]),
    )
    .await;
    bob.screenshot(&shots.join("rooms.png")).await;
    alice.close().await;
    bob.close().await;
    let _ = std::fs::remove_dir_all(&profiles);
}
