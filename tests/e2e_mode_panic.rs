//! End-to-end: one bad mode cannot take the process down. A server built
//! from the library (as a game developer's binary is) serves the board and
//! a mode whose intent panics; all rooms share one tick thread. The panic is
//! caught at the room: the request is answered `INTERNAL` with a trace id,
//! the room is stopped and kept, and the other rooms keep ticking.

mod support;

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParamItem;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tickroom_net::client::Client;
use tickroom_protocol::board;
use tickroom_protocol::{
    Codec, ErrorBody, ErrorCode, IntentSpec, PieceId, Pos, RateClass, RoomConfig, RoomId,
    ServerMessage,
};
use tickroom_sim::{Actor, Applied, Mode, RoomCtx, Viewer};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Settings {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Ask {
    Fine {},
    Boom {},
}

#[derive(Resource, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Count(u64);

/// A mode with a bug: `boom` panics.
struct Panicky;

impl Mode for Panicky {
    const NAME: &'static str = "panicky";
    const VERSION: u32 = 1;
    const INTENTS: &'static [IntentSpec] = &[
        IntentSpec {
            name: "fine",
            rate: RateClass::Actions,
            durable: false,
            audited: false,
        },
        IntentSpec {
            name: "boom",
            rate: RateClass::Actions,
            durable: false,
            audited: false,
        },
    ];
    type Config = Settings;
    type Intent = Ask;
    type Event = Count;
    type State = Count;
    type View = Count;
    type Param = ResMut<'static, Count>;

    fn initial_state(_: &RoomConfig, _: &Settings) -> Count {
        Count(0)
    }
    fn insert(world: &mut World, _: &Settings, state: Count) {
        world.insert_resource(state);
    }
    fn read(world: &World) -> Count {
        world.resource::<Count>().clone()
    }
    fn handle(
        count: &mut SystemParamItem<Self::Param>,
        ctx: &mut RoomCtx,
        _: Actor,
        ask: &Ask,
    ) -> Result<Applied, ErrorBody> {
        match ask {
            Ask::Fine {} => {
                count.0 += 1;
                ctx.emit(Count(count.0));
                Ok(Applied::Changed)
            }
            Ask::Boom {} => panic!("the mode's own bug"),
        }
    }
    fn view(world: &World, _: Viewer) -> Count {
        world.resource::<Count>().clone()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Starts a server with the board and the panicking mode in this process;
/// returns its WebSocket URL.
fn start() -> String {
    let dir = support::fresh_data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = dir.join("tickroom.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhttp = \"127.0.0.1:{port}\"\nquic_enabled = false\ndata_dir = \"{}\"\ntick_threads = 1\n",
            dir.display()
        ),
    )
    .unwrap();
    let path = config.to_str().unwrap().to_owned();
    std::thread::spawn(move || {
        tickroom::Server::builder()
            .mode::<tickroom_sim::board::Board>()
            .mode::<Panicky>()
            .run_with(["tickroom", "serve", "--config", path.as_str()])
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    format!("ws://127.0.0.1:{port}/ws")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_mode_stops_its_room_and_the_others_keep_ticking() {
    let ws = start();
    let mut calm = Client::connect(&ws, Codec::Json).await.unwrap();
    let joined = calm.join(&RoomId::from("calm"), "ann", None).await.unwrap();
    let piece = board_piece(&joined);
    assert!(
        calm.intent(board::Intent::TakeLock { piece })
            .await
            .unwrap()
            .is_ok()
    );

    let bad = RoomId::from("bad");
    let mut b = Client::connect(&ws, Codec::Postcard).await.unwrap();
    b.create_room(
        Some(bad.clone()),
        RoomConfig {
            mode: "panicky".into(),
            ..RoomConfig::default()
        },
        false,
    )
    .await
    .unwrap();
    b.join(&bad, "bob", None).await.unwrap();
    assert!(b.intent(Ask::Fine {}).await.unwrap().is_ok());
    let err = b.intent(Ask::Boom {}).await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    let trace = err.details.get("trace_id").cloned().expect("a trace id");
    // Its members are told, and leave the stopped room.
    loop {
        match b.recv_timeout(Duration::from_secs(5)).await.unwrap() {
            ServerMessage::Error { code, details, .. } => {
                assert_eq!(code, ErrorCode::Internal);
                assert_eq!(details.get("trace_id"), Some(&trace));
                break;
            }
            ServerMessage::Delta(_) => {}
            other => panic!("{other:?}"),
        }
    }

    // The other room on the same tick thread keeps ticking.
    for x in 1..=5 {
        let moved = calm
            .intent(board::Intent::MovePiece {
                piece,
                to: Pos::new(x * 10, 20),
            })
            .await
            .unwrap();
        assert!(moved.is_ok(), "{moved:?}");
    }
    // The stopped room is kept: it answers with the same trace id.
    let mut c = Client::connect(&ws, Codec::Json).await.unwrap();
    let refused = c.join(&bad, "carl", None).await.unwrap_err();
    assert!(
        format!("{refused:?}").contains("INTERNAL") || format!("{refused:?}").contains("Internal"),
        "{refused:?}"
    );
    // And new rooms still open on that thread.
    let mut d = Client::connect(&ws, Codec::Json).await.unwrap();
    let fresh = d.join(&RoomId::from("fresh"), "dora", None).await.unwrap();
    assert!(
        d.intent(board::Intent::TakeLock {
            piece: board_piece(&fresh)
        })
        .await
        .unwrap()
        .is_ok()
    );
}

/// A piece the joiner's team may touch.
fn board_piece(joined: &tickroom_net::client::Joined) -> PieceId {
    let me = joined
        .state
        .members
        .iter()
        .find(|m| m.id == joined.member)
        .unwrap();
    let state: board::State = joined.state.game.decode().unwrap();
    state
        .pieces
        .iter()
        .find(|p| p.team == me.team)
        .map(|p| p.id)
        .unwrap()
}
