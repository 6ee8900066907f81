//! Ready-made rooms for benchmarks, tests and load generation.

use crate::{Input, Outcome, Room};
use tickroom_protocol::board::{Config, Intent};
use tickroom_protocol::{MemberId, Payload, PieceId, Pos, RoomConfig, RoomId};

/// The config of [`busy_room`]: no teams, one neutral piece per player.
pub fn busy_config(players: u16) -> RoomConfig {
    RoomConfig {
        max_players: players.max(1),
        teams: 0,
        game: Payload::of(Config {
            pieces_per_team: 0,
            neutral_pieces: players,
            board_width: 10_000,
            board_height: 10_000,
            ..Config::default()
        }),
        ..RoomConfig::default()
    }
}

/// A room in which `players` members have joined and each holds the lock of
/// its own piece (member `i` holds piece `i`). Returns the room and the
/// members in piece order.
pub fn busy_room(players: u16, seed: u64) -> (Room, Vec<MemberId>) {
    let mut room = Room::new(RoomId::from("busy"), busy_config(players), seed)
        .unwrap_or_else(|e| panic!("fixture config is valid: {e}"));
    let joins = (0..players)
        .map(|i| Input::join(&format!("user{i}"), &format!("p{i}"), None, None))
        .collect();
    let members: Vec<MemberId> = room
        .step(joins)
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Joined { member } => *member,
            other => panic!("fixture join failed: {other:?}"),
        })
        .collect();
    let locks = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Input::intent(
                *m,
                1,
                Intent::TakeLock {
                    piece: PieceId(i as u32),
                },
            )
        })
        .collect();
    room.step(locks);
    (room, members)
}

/// One tick's worth of moves: every member moves its own piece somewhere
/// that depends on `round`.
pub fn move_inputs(members: &[MemberId], round: u64) -> Vec<Input> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let v = (i as u64 * 31 + round * 7) % 10_000;
            Input::intent(
                *m,
                round + 2,
                Intent::MovePiece {
                    piece: PieceId(i as u32),
                    to: Pos::new(v as i32, ((v * 3) % 10_000) as i32),
                },
            )
        })
        .collect()
}
