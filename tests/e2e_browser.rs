//! End-to-end in a real browser: two headless Chromium pages on the console
//! share a room, drawn by the room's mode. On the board, a piece dragged in
//! one moves in the other; a lock held by one is shown in the other and
//! refused there with its reason; then the replay page steps through the
//! room's history. In tic-tac-toe (a room made in the lobby) each page sees
//! the other's marks and a click out of turn is refused with NOT_YOUR_TURN.
//! On the tabletop the director sees a token under fog that the player sees
//! only once the director reveals it. In cluster mode the lobby lists the
//! live nodes and their load. Screenshots of each page are saved
//! under `target/tmp/console-screenshots/` for a person to look at.
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
    join_here(page, name).await;
}

/// Joins the room of the room page the browser shows.
async fn join_here(page: &Session<'_>, name: &str) {
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
    let mode = bob
        .wait_for(
            "the rooms list",
            "return document.querySelector(\"#rooms tr[data-room='board'] td[data-mode]\")?.textContent",
            json!([]),
        )
        .await;
    assert_eq!(mode, "board", "the rooms list shows each room's mode");
    bob.screenshot(&shots.join("rooms.png")).await;
    alice.close().await;
    bob.close().await;
    let _ = std::fs::remove_dir_all(&profiles);
}

/// The mark (`"x"`, `"o"` or `""`) the page's grid shows in `cell`.
async fn mark(page: &Session<'_>, grid: &str, cell: u32) -> Value {
    page.eval(
        "return document.querySelector(`#${arguments[0]} [data-cell='${arguments[1]}']`)?.dataset.mark ?? null",
        json!([grid, cell]),
    )
    .await
}

async fn wait_mark(page: &Session<'_>, who: &str, cell: u32, want: &str) {
    page.wait_for(
        &format!("{want:?} in cell {cell} on {who}'s page"),
        "return document.querySelector(`#ttt [data-cell='${arguments[0]}']`)?.dataset.mark === arguments[1]",
        json!([cell, want]),
    )
    .await;
}

/// Places a mark by clicking the cell, and waits until the page shows it
/// (the server applied it).
async fn play(page: &Session<'_>, who: &str, cell: u32, want: &str) {
    page.click(&format!("#ttt [data-cell='{cell}']")).await;
    wait_mark(page, who, cell, want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_play_tictactoe_in_a_room_made_in_the_lobby_and_replay_it() {
    let server = Server::start(&[]);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start();
    let profiles = support::fresh_data_dir();
    let xena = driver.session(&profiles.join("xena")).await;
    let otto = driver.session(&profiles.join("otto")).await;

    // Xena makes a tic-tac-toe room in the lobby (the modes come from the
    // server's welcome) and joins it; Otto joins it by its id.
    xena.goto(&format!("http://{}/#/", server.http)).await;
    xena.wait_for(
        "the served modes in the lobby",
        "return document.querySelector(\"#new-mode option[value='tictactoe']\") && !document.getElementById('create').disabled",
        json!([]),
    )
    .await;
    xena.set_text("#new-room", "ttt").await;
    xena.click("#new-mode option[value='tictactoe']").await;
    xena.click("#create").await;
    xena.wait_for(
        "the room page",
        "return document.getElementById('create-note')",
        json!([]),
    )
    .await;
    join_here(&xena, "xena").await;
    join(&otto, &format!("http://{}/#/room/ttt", server.http), "otto").await;
    for page in [&xena, &otto] {
        let mode = page
            .eval(
                "return document.getElementById('room-mode')?.textContent",
                json!([]),
            )
            .await;
        assert_eq!(mode, "tictactoe", "the room is drawn as its mode");
        assert_eq!(
            page.eval(
                "return document.querySelectorAll('#ttt [data-cell]').length",
                json!([])
            )
            .await,
            9
        );
    }

    // They take turns and see each other's marks.
    play(&xena, "xena", 4, "x").await;
    wait_mark(&otto, "otto", 4, "x").await;
    play(&otto, "otto", 0, "o").await;
    wait_mark(&xena, "xena", 0, "o").await;

    // Out of turn: refused, with the mode's code, and the cell stays empty.
    otto.click("#ttt [data-cell='8']").await;
    let refusal = otto
        .wait_for(
            "the refusal on Otto's page",
            "const s = document.getElementById('status'); return s.className === 'error' && s.textContent.includes('NOT_YOUR_TURN') ? s.textContent : null;",
            json!([]),
        )
        .await;
    eprintln!("Otto was told: {refusal}");
    assert_eq!(mark(&otto, "ttt", 8).await, "");

    play(&xena, "xena", 3, "x").await;
    wait_mark(&otto, "otto", 3, "x").await;
    play(&otto, "otto", 1, "o").await;
    wait_mark(&xena, "xena", 1, "o").await;
    play(&xena, "xena", 5, "x").await;
    for (page, who) in [(&xena, "xena"), (&otto, "otto")] {
        let status = page
            .wait_for(
                &format!("the win on {who}'s page"),
                "const s = document.getElementById('ttt-status'); return s.dataset.over === 'x' ? s.textContent : null;",
                json!([]),
            )
            .await;
        eprintln!("{who} sees: {status}");
        assert!(status.as_str().unwrap().contains("X wins"), "{status}");
    }
    xena.screenshot(&shots.join("tictactoe-xena.png")).await;
    otto.screenshot(&shots.join("tictactoe-otto.png")).await;

    // The lobby lists the room with its mode.
    xena.goto(&format!("http://{}/#/", server.http)).await;
    let mode = xena
        .wait_for(
            "the room in the lobby",
            "return document.querySelector(\"#rooms tr[data-room='ttt'] td[data-mode]\")?.textContent",
            json!([]),
        )
        .await;
    assert_eq!(mode, "tictactoe");

    // The replay draws the stored room with the mode's renderer.
    xena.goto(&format!("http://{}/#/replay", server.http)).await;
    let stored = xena
        .wait_for(
            "the room in the history list",
            "return document.querySelector(\"#history tr[data-room='ttt'] td[data-mode]\")?.dataset.mode",
            json!([]),
        )
        .await;
    assert_eq!(stored, "tictactoe");
    xena.goto(&format!("http://{}/#/replay/ttt", server.http))
        .await;
    xena.wait_for(
        "the replay at tick 0",
        "return document.getElementById('tick')?.dataset.tick === '0' && document.querySelectorAll('#replay-ttt [data-cell]').length === 9",
        json!([]),
    )
    .await;
    assert_eq!(
        xena.eval(
            "return document.getElementById('replay-mode').textContent",
            json!([])
        )
        .await,
        "tictactoe"
    );
    // The store may still be writing the last ticks: ask for the last one
    // until it shows the win.
    xena.wait_for(
        "the win at the replay's last tick",
        "if (document.getElementById('replay-ttt-status')?.textContent.includes('X wins')) return true;
         const s = document.getElementById('tick-slider'); s.value = s.max; s.dispatchEvent(new Event('change')); return null;",
        json!([]),
    )
    .await;
    for (cell, want) in [(0, "o"), (1, "o"), (3, "x"), (4, "x"), (5, "x"), (8, "")] {
        assert_eq!(
            mark(&xena, "replay-ttt", cell).await,
            want,
            "cell {cell} at the last tick"
        );
    }
    let shown = xena
        .eval(
            "return document.getElementById('replay-ttt-status').textContent",
            json!([]),
        )
        .await;
    assert!(shown.as_str().unwrap().contains("X wins"), "{shown}");
    // Step back to the tick of a move: its input and delta are listed.
    let mut found = false;
    for _ in 0..200 {
        let listed = xena
            .eval(
                "return [...document.querySelectorAll('#tick-events li')].map((li) => li.textContent).join('\\n')",
                json!([]),
            )
            .await;
        if listed.as_str().unwrap().contains("placed X on cell 5") {
            let inputs = xena
                .eval(
                    "return document.getElementById('tick-inputs').textContent",
                    json!([]),
                )
                .await;
            assert!(inputs.as_str().unwrap().contains("place"), "{inputs}");
            found = true;
            break;
        }
        let tick = xena
            .eval(
                "return document.getElementById('tick').dataset.tick",
                json!([]),
            )
            .await;
        if tick == "0" {
            break;
        }
        xena.click("#prev").await;
        xena.wait_for(
            "one tick back",
            "return document.getElementById('tick').dataset.tick !== arguments[0]",
            json!([tick]),
        )
        .await;
    }
    assert!(found, "the replay shows the tick of the winning move");
    xena.screenshot(&shots.join("replay-tictactoe.png")).await;

    // The game is over: anyone may start a new one.
    otto.click("#reset").await;
    otto.wait_for(
        "the empty grid after the reset",
        "return [...document.querySelectorAll('#ttt [data-cell]')].every((c) => c.dataset.mark === '') && document.getElementById('ttt-status').dataset.over === ''",
        json!([]),
    )
    .await;
    xena.close().await;
    otto.close().await;
    let _ = std::fs::remove_dir_all(&profiles);
}

/// The token named `name` on the page's map: its cell, owner and whether
/// the page draws it under fog; null when the page does not have it.
async fn token(page: &Session<'_>, map: &str, name: &str) -> Value {
    page.eval(
        "const g = document.querySelector(`#${arguments[0]} g.token[data-name='${arguments[1]}']`);
         return g ? {x: Number(g.dataset.x), y: Number(g.dataset.y), owner: g.dataset.owner, fogged: g.dataset.fogged === '1'} : null;",
        json!([map, name]),
    )
    .await
}

/// Viewport coordinates of the middle of map cell (x, y) (20 units a cell).
async fn cell_on_screen(page: &Session<'_>, x: u32, y: u32) -> (i64, i64) {
    on_screen(
        page,
        "map",
        f64::from(x) * 20.0 + 10.0,
        f64::from(y) * 20.0 + 10.0,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_director_sees_a_token_under_fog_the_player_only_once_revealed() {
    let server = Server::start(&[]);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start();
    let profiles = support::fresh_data_dir();
    let dora = driver.session(&profiles.join("dora")).await;
    let pete = driver.session(&profiles.join("pete")).await;

    // Dora makes the table (so she hosts it: the director); Pete plays.
    dora.goto(&format!(
        "http://{}/#/room/table?mode=tabletop",
        server.http
    ))
    .await;
    join_here(&dora, "dora").await;
    join(
        &pete,
        &format!("http://{}/#/room/table", server.http),
        "pete",
    )
    .await;
    let view = "return document.getElementById('view-kind')?.dataset.view";
    assert_eq!(dora.eval(view, json!([])).await, "director");
    assert_eq!(pete.eval(view, json!([])).await, "player");
    let controls = "return document.getElementById('director').hidden";
    assert_eq!(dora.eval(controls, json!([])).await, false);
    assert_eq!(
        pete.eval(controls, json!([])).await,
        true,
        "only the director has the director's controls"
    );

    // Fog over (10, 10)–(14, 14), a goblin under it, and Pete's hero.
    for (field, value) in [
        ("#fog-x", "10"),
        ("#fog-y", "10"),
        ("#fog-w", "5"),
        ("#fog-h", "5"),
    ] {
        dora.set_text(field, value).await;
    }
    dora.click("#add-fog").await;
    for (page, who) in [(&dora, "dora"), (&pete, "pete")] {
        page.wait_for(
            &format!("the fog on {who}'s page"),
            "return document.querySelector(\"#map g.region.fog[data-region='1']\")",
            json!([]),
        )
        .await;
    }
    dora.set_text("#token-name", "goblin").await;
    dora.set_text("#token-x", "12").await;
    dora.set_text("#token-y", "12").await;
    dora.click("#place-token").await;
    dora.wait_for(
        "the goblin on Dora's page",
        "return document.querySelector(\"#map g.token[data-name='goblin']\")",
        json!([]),
    )
    .await;
    let pete_id = dora
        .eval(
            "const s = document.getElementById('token-owner'); const o = [...s.options].find((o) => o.textContent === 'pete');
             s.value = o.value; return o.value;",
            json!([]),
        )
        .await;
    dora.set_text("#token-name", "hero").await;
    dora.set_text("#token-x", "2").await;
    dora.set_text("#token-y", "2").await;
    dora.click("#place-token").await;
    pete.wait_for(
        "the hero on Pete's page",
        "return document.querySelector(\"#map g.token.mine.movable[data-name='hero']\")",
        json!([]),
    )
    .await;
    let goblin = token(&dora, "map", "goblin").await;
    assert_eq!(
        goblin["fogged"], true,
        "the director sees the goblin, under fog: {goblin}"
    );
    assert_eq!(
        token(&pete, "map", "goblin").await,
        Value::Null,
        "the player does not see the goblin under fog"
    );
    assert_eq!(token(&pete, "map", "hero").await["owner"], pete_id);

    // Pete drags his hero; Dora sees it where he dropped it.
    let (fx, fy) = cell_on_screen(&pete, 2, 2).await;
    let (tx, ty) = cell_on_screen(&pete, 5, 3).await;
    pete.pointer(json!([
        move_to(fx, fy, 0),
        {"type": "pointerDown", "button": 0},
        {"type": "pause", "duration": 100},
        move_to(tx, ty, 300),
        {"type": "pointerUp", "button": 0},
    ]))
    .await;
    dora.wait_for(
        "the hero's move on Dora's page",
        "const g = document.querySelector(\"#map g.token[data-name='hero']\"); return g && g.dataset.x === '5' && g.dataset.y === '3';",
        json!([]),
    )
    .await;

    // A private roll reaches the director, labelled.
    pete.click("#roll-private").await;
    pete.click("#roll").await;
    dora.wait_for(
        "Pete's private roll on Dora's page",
        "return /pete rolled 1d20.*\\(private\\)/.test(document.getElementById('chat').textContent)",
        json!([]),
    )
    .await;

    // Initiative: Pete's turn is highlighted on his page, and he ends it.
    dora.click("#set-initiative").await;
    pete.wait_for(
        "Pete's turn on Pete's page",
        "return document.querySelector('#initiative li.current')?.dataset.member === arguments[0] && !document.getElementById('end-turn').disabled",
        json!([pete_id]),
    )
    .await;
    pete.click("#end-turn").await;
    dora.wait_for(
        "round 2 on Dora's page",
        "return document.getElementById('round').textContent === 'round 2'",
        json!([]),
    )
    .await;
    dora.screenshot(&shots.join("tabletop-director.png")).await;
    pete.screenshot(&shots.join("tabletop-player.png")).await;

    // The director lifts the fog: now the player sees the goblin.
    dora.click("#regions [data-reveal='1']").await;
    let appeared = pete
        .wait_for(
            "the goblin on Pete's page",
            "const g = document.querySelector(\"#map g.token[data-name='goblin']\"); return g ? g.dataset.x + ',' + g.dataset.y : null;",
            json!([]),
        )
        .await;
    assert_eq!(appeared, "12,12");
    assert_eq!(token(&pete, "map", "goblin").await["fogged"], false);
    pete.screenshot(&shots.join("tabletop-player-revealed.png"))
        .await;

    // The replay shows the table as operators see it.
    dora.goto(&format!("http://{}/#/replay/table", server.http))
        .await;
    dora.wait_for(
        "the replay",
        "return document.getElementById('tick')?.dataset.tick && document.getElementById('replay-mode').textContent === 'tabletop'",
        json!([]),
    )
    .await;
    dora.eval(
        "const s = document.getElementById('tick-slider'); s.value = s.max; s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    dora.wait_for(
        "the hero where Pete dropped it on the last tick's map",
        "const g = document.querySelector(\"#replay-map g.token[data-name='hero']\");
         return g && g.dataset.x === '5' && g.dataset.y === '3';",
        json!([]),
    )
    .await;
    assert!(token(&dora, "replay-map", "goblin").await.is_object());
    dora.screenshot(&shots.join("replay-tabletop.png")).await;
    dora.close().await;
    pete.close().await;
    let _ = std::fs::remove_dir_all(&profiles);
}

/// Cluster mode: the lobby of any node lists the live nodes with their
/// load, and a room opened on another node shows up in that node's row.
#[tokio::test]
async fn the_lobby_lists_the_cluster_nodes_with_their_load() {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("e2e-browser-{}", std::process::id());
    let env = support::cluster::node_env(&redis, &prefix);
    let a = Server::start(&env);
    let b = Server::start(&env);
    let id = |s: &Server| {
        std::fs::read_to_string(s.data_dir.join("node.id"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (id_a, id_b) = (id(&a), id(&b));
    let driver = Driver::start();
    let profiles = support::fresh_data_dir();
    let page = driver.session(&profiles.join("ops")).await;
    page.goto(&format!("http://{}/#/", a.http)).await;
    page.wait_for(
        "both nodes in the lobby",
        "return !document.getElementById('cluster').hidden && document.querySelectorAll('#nodes tbody tr').length === 2",
        json!([]),
    )
    .await;
    for id in [&id_a, &id_b] {
        let row = page
            .eval(
                "return document.querySelector(`#nodes tr[data-node='${arguments[0]}']`)?.textContent",
                json!([id]),
            )
            .await;
        assert!(
            row.as_str().is_some_and(|t| t.contains(id.as_str())),
            "{row}"
        );
    }
    let own = page
        .eval(
            "return document.querySelector('#nodes tr.self')?.dataset.node",
            json!([]),
        )
        .await;
    assert_eq!(own, json!(id_a), "the serving node is marked");

    let _player = support::first_player(&b.ws, "on-b", "bea").await;
    page.wait_for(
        "b's room count",
        "return document.querySelector(`#nodes tr[data-node='${arguments[0]}'] td[data-rooms]`)?.dataset.rooms === '1'",
        json!([id_b]),
    )
    .await;
    // a's console lists b's room, on b.
    page.wait_for(
        "b's room in a's room list, on b",
        "return document.querySelector(\"#rooms tr[data-room='on-b'] td[data-node]\")?.dataset.node === arguments[0]",
        json!([id_b]),
    )
    .await;
    page.close().await;
}
