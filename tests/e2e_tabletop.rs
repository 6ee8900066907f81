//! End-to-end: the tabletop mode (built in `examples/`, outside the core)
//! through the stock binary, with a director over WebSocket JSON and
//! players over postcard and QUIC. What fog hides never reaches a player:
//! every frame a player receives (re-encoded in its own codec, which gives
//! back the bytes it was sent) is searched for the hidden token's name.

mod support;

use std::time::Duration;
use support::Server;
use tickroom_net::client::{Client, ConnectOptions};
use tickroom_protocol::{Codec, ErrorCode, ModeCode, RoomConfig, RoomId, ServerMessage};
use tickroom_tabletop::{Cell, Event, Intent, Rect, State};

const SECRET: &str = "Sleeping-Dragon";

fn tabletop() -> RoomConfig {
    RoomConfig {
        mode: "tabletop".into(),
        ..RoomConfig::default()
    }
}

/// Everything a client receives, kept with the bytes it came as.
struct Seen {
    frames: Vec<(ServerMessage, Vec<u8>)>,
}

impl Seen {
    fn new() -> Seen {
        Seen { frames: Vec::new() }
    }

    /// Reads what arrives within `for_`.
    async fn take(&mut self, c: &mut Client, for_: Duration) {
        let until = tokio::time::Instant::now() + for_;
        while let Ok(Ok(m)) = tokio::time::timeout_at(until, c.recv()).await {
            let bytes = c.codec().encode(&m).unwrap();
            self.frames.push((m, bytes));
        }
    }

    fn contains(&self, needle: &str) -> bool {
        self.frames
            .iter()
            .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
    }

    fn events(&self) -> Vec<Event> {
        self.frames
            .iter()
            .filter_map(|(m, _)| match m {
                ServerMessage::Delta(d) => Some(d),
                _ => None,
            })
            .flat_map(|d| {
                d.events
                    .iter()
                    .filter_map(|e| e.event.decode_game::<Event>())
            })
            .collect()
    }

    fn hashes(&self) -> usize {
        self.frames
            .iter()
            .filter(|(m, _)| matches!(m, ServerMessage::Delta(d) if d.state_hash.is_some()))
            .count()
    }
}

async fn ok(c: &mut Client, intent: Intent) {
    let r = c.intent(intent.clone()).await.unwrap();
    assert!(r.is_ok(), "{intent:?}: {r:?}");
}

#[tokio::test]
async fn fog_hides_tokens_from_players_at_the_wire_in_every_codec() {
    ModeCode::register(<tickroom_tabletop::Tabletop as tickroom_sim::Mode>::ERROR_CODES).unwrap();
    let mut server = Server::start(&[("TICKROOM_NET_RATE_ACTIONS_PER_10S", "1000")]);
    let room = RoomId::from("table");
    let mut dm = Client::connect(&server.ws, Codec::Json).await.unwrap();
    dm.create_room(Some(room.clone()), tabletop(), false)
        .await
        .unwrap();
    let d = dm.join(&room, "dana", None).await.unwrap();
    let dm_state: State = d.state.game.decode().unwrap();
    assert!(dm_state.sees_all, "the host directs");

    let mut p1 = Client::connect(&server.ws, Codec::Postcard).await.unwrap();
    let j1 = p1.join(&room, "pia", None).await.unwrap();
    let target = server.quic.as_ref().expect("QUIC is on");
    let mut p2 = Client::connect_quic(target, ConnectOptions::default())
        .await
        .unwrap();
    let j2 = p2.join(&room, "paul", None).await.unwrap();
    let (mut seen1, mut seen2, mut seen_dm) = (Seen::new(), Seen::new(), Seen::new());

    // Fog over the east half, the secret token under it, the players'
    // tokens in the open.
    ok(
        &mut dm,
        Intent::AddFog {
            area: Rect {
                x: 20,
                y: 0,
                w: 20,
                h: 30,
            },
        },
    )
    .await;
    ok(
        &mut dm,
        Intent::PlaceToken {
            name: SECRET.into(),
            at: Cell { x: 30, y: 10 },
            owner: None,
        },
    )
    .await;
    ok(
        &mut dm,
        Intent::PlaceToken {
            name: "Pia".into(),
            at: Cell { x: 2, y: 2 },
            owner: Some(j1.member),
        },
    )
    .await;
    ok(
        &mut dm,
        Intent::PlaceToken {
            name: "Paul".into(),
            at: Cell { x: 3, y: 3 },
            owner: Some(j2.member),
        },
    )
    .await;
    // The secret moves inside the fog; a player cannot move it (for a
    // player it does not exist) nor another player's token.
    ok(
        &mut dm,
        Intent::MoveToken {
            token: 1,
            to: Cell { x: 31, y: 11 },
        },
    )
    .await;
    let hidden = p1
        .intent(Intent::MoveToken {
            token: 1,
            to: Cell { x: 0, y: 0 },
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(hidden.code, ErrorCode::InvalidArgument);
    assert!(!hidden.message.contains(SECRET));
    let not_yours = p1
        .intent(Intent::MoveToken {
            token: 3,
            to: Cell { x: 0, y: 0 },
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(not_yours.code, ErrorCode::Forbidden);
    // Where the director points is not relayed (it would show the fog's
    // contents); a player's cursor is.
    dm.send(&tickroom_protocol::ClientMessage::Cursor {
        pos: tickroom_protocol::Pos::new(31, 11),
    })
    .await
    .unwrap();
    p2.send(&tickroom_protocol::ClientMessage::Cursor {
        pos: tickroom_protocol::Pos::new(3, 3),
    })
    .await
    .unwrap();
    // A private roll reaches its roller and the director only.
    ok(
        &mut p1,
        Intent::Roll {
            notation: "3d6".into(),
            private: true,
        },
    )
    .await;
    seen1.take(&mut p1, Duration::from_millis(300)).await;
    seen2.take(&mut p2, Duration::from_millis(300)).await;
    seen_dm.take(&mut dm, Duration::from_millis(300)).await;

    for (who, seen) in [("postcard player", &seen1), ("QUIC player", &seen2)] {
        assert!(!seen.contains(SECRET), "{who} received the hidden token");
        assert!(
            !seen
                .events()
                .iter()
                .any(|e| matches!(e, Event::TokenMoved { token: 1, .. })),
            "{who} saw the hidden token move"
        );
        assert_eq!(
            seen.hashes(),
            0,
            "{who} got a state hash, which would let it guess"
        );
    }
    let cursors_of = |seen: &Seen, who: tickroom_protocol::MemberId| {
        seen.frames
            .iter()
            .any(|(m, _)| m.cursors().iter().any(|c| c.member == who))
    };
    assert!(
        !cursors_of(&seen1, d.member),
        "the director's cursor reached a player"
    );
    assert!(
        cursors_of(&seen1, j2.member),
        "a player's cursor is relayed"
    );
    let private_roll = |e: &Event| matches!(e, Event::DiceRolled { private: true, .. });
    assert!(
        seen1.events().iter().any(private_roll),
        "the roller sees its roll"
    );
    assert!(
        !seen2.events().iter().any(private_roll),
        "another player does not"
    );
    assert!(
        seen_dm.events().iter().any(private_roll),
        "the director does"
    );
    assert!(
        seen_dm
            .events()
            .iter()
            .any(|e| matches!(e, Event::TokenMoved { token: 1, .. })),
        "the director sees everything"
    );

    // A player joining now gets a snapshot without it, over JSON.
    let mut late = Client::connect(&server.ws, Codec::Json).await.unwrap();
    let jl = late.join(&room, "lena", None).await.unwrap();
    let bytes = Codec::Json
        .encode(&ServerMessage::Joined {
            seq: None,
            room: room.clone(),
            member: jl.member,
            config: jl.config.clone(),
            epoch: jl.epoch,
            state: jl.state.clone(),
        })
        .unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
    let view: State = jl.state.game.decode().unwrap();
    assert_eq!(view.tokens.len(), 2);
    assert_eq!(jl.state.state_hash.0, 0, "no hash for a player");

    // Initiative: out of turn is refused with the mode's code.
    let order = format!("[{},{}]", j2.member.0, j1.member.0);
    let order: Vec<tickroom_protocol::MemberId> = serde_json::from_str(&order).unwrap();
    ok(&mut dm, Intent::SetInitiative { order }).await;
    let err = p1
        .intent(Intent::MoveToken {
            token: 2,
            to: Cell { x: 4, y: 4 },
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code.as_str(), "OUT_OF_TURN_ACTION");
    ok(
        &mut p2,
        Intent::MoveToken {
            token: 3,
            to: Cell { x: 5, y: 5 },
        },
    )
    .await;
    ok(&mut p2, Intent::EndTurn {}).await;
    ok(
        &mut p1,
        Intent::MoveToken {
            token: 2,
            to: Cell { x: 4, y: 4 },
        },
    )
    .await;

    // Revealed, it appears for everyone.
    ok(&mut dm, Intent::Reveal { region: 1 }).await;
    let mut after = Seen::new();
    after.take(&mut p2, Duration::from_millis(300)).await;
    assert!(after.contains(SECRET), "revealed: the QUIC player sees it");
    assert!(
        after
            .events()
            .iter()
            .any(|e| matches!(e, Event::TokenAppeared { token } if token.name == SECRET))
    );

    // The history API is for operators: it shows everything.
    let (status, text) = support::http(&server.http, "GET", "/api/v1/history/table", &[], "").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(SECRET));

    // The room replays from its log with every stored hash checked, and
    // exports to a scenario file that the stock binary runs.
    drop((dm, p1, p2, late));
    server.terminate(Duration::from_secs(10));
    let out = support::replay(&server.db_path(), "table");
    assert!(out.contains("\"hashes_checked\""), "{out}");
    let scenario = support::export_and_run(&server.db_path(), "table");
    assert!(scenario.contains("\nmode tabletop\n"), "{scenario}");
    assert!(scenario.contains("set_initiative order="), "{scenario}");
}
