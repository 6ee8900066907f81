//! The board's part of the canonical state, and the layout every board
//! room has been hashed and snapshotted with since before modes existed:
//! the engine's fields and the board's interleaved as they were in one
//! struct, and the board's settings inside the room config. Changing it
//! would change every stored board room's hash.

use super::components::{Piece, Position};
use super::resources::{
    ChatLog, Formation, Formations, KeyUse, PieceIndex, PieceLocks, REMEMBERED_KEYS,
};
use crate::parts::locks::Lock;
use crate::resources::{Boxed, Member};
use crate::snapshot::{EngineState, MAX_TICK};
use bevy_ecs::world::World;
use serde::{Deserialize, Serialize};
use tickroom_protocol::board::{ChatLine, Config, Placement};
use tickroom_protocol::{MemberId, Payload, Phase, PieceId, Pos, RoomConfig, RoomId, TeamId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceRecord {
    pub team: Option<TeamId>,
    pub pos: Pos,
    pub lock: Option<(MemberId, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormationRecord {
    pub name: String,
    pub key: String,
    pub saved_by: MemberId,
    pub team: Option<TeamId>,
    pub placements: Vec<Placement>,
}

/// The board's canonical state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardState {
    /// Indexed by piece id.
    pub pieces: Vec<PieceRecord>,
    /// Sorted by name.
    pub formations: Vec<FormationRecord>,
    pub recent_keys: Vec<KeyUse>,
    pub chat: Vec<ChatLine>,
}

/// Initial piece places: team pieces first (team 0's, team 1's, …), then the
/// neutral ones, spread over a grid that covers the board.
fn initial_pieces(room: &RoomConfig, config: &Config) -> Vec<PieceRecord> {
    let teams = (0..room.teams)
        .flat_map(|t| std::iter::repeat_n(Some(TeamId(t)), usize::from(config.pieces_per_team)));
    let owners: Vec<Option<TeamId>> = teams
        .chain(std::iter::repeat_n(
            None,
            usize::from(config.neutral_pieces),
        ))
        .collect();
    let n = owners.len().max(1) as u64;
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(n);
    let rows = n.div_ceil(cols);
    let cell = |side: i32, cells: u64, i: u64| {
        let side = i64::from(side);
        ((2 * i as i64 + 1) * side / (2 * cells as i64)) as i32
    };
    owners
        .into_iter()
        .enumerate()
        .map(|(i, team)| {
            let i = i as u64;
            PieceRecord {
                team,
                pos: Pos::new(
                    cell(config.board_width, cols, i % cols),
                    cell(config.board_height, rows, i / cols),
                ),
                lock: None,
            }
        })
        .collect()
}

impl BoardState {
    pub fn initial(room: &RoomConfig, config: &Config) -> BoardState {
        BoardState {
            pieces: initial_pieces(room, config),
            formations: Vec::new(),
            recent_keys: Vec::new(),
            chat: Vec::new(),
        }
    }

    pub fn read(world: &World) -> BoardState {
        let index = world.resource::<Boxed<PieceIndex>>();
        let locks = world.resource::<Boxed<PieceLocks>>();
        let pieces = index
            .0
            .iter()
            .enumerate()
            .map(|(i, &e)| PieceRecord {
                team: world.get::<Piece>(e).and_then(|p| p.team),
                pos: world.get::<Position>(e).map_or(Pos::new(0, 0), |p| p.0),
                lock: locks
                    .get(PieceId(i as u32))
                    .map(|l| (l.holder, l.expires_at)),
            })
            .collect();
        let formations = world.resource::<Boxed<Formations>>();
        BoardState {
            pieces,
            formations: formations
                .by_name
                .iter()
                .map(|(name, f)| FormationRecord {
                    name: name.clone(),
                    key: f.key.clone(),
                    saved_by: f.saved_by,
                    team: f.team,
                    placements: f.placements.clone(),
                })
                .collect(),
            recent_keys: formations.recent_keys.iter().cloned().collect(),
            chat: world.resource::<Boxed<ChatLog>>().iter().cloned().collect(),
        }
    }

    /// Consistency a hand-edited or damaged snapshot could break.
    pub fn check(&self, engine: &EngineState, config: &Config) -> Result<(), String> {
        if self.pieces.len() != config.piece_count(engine.config.teams) as usize {
            return Err("piece count does not match the config".into());
        }
        if self
            .pieces
            .iter()
            .filter_map(|p| p.lock.map(|l| l.1))
            .any(|t| t > MAX_TICK)
        {
            return Err("tick, version or timer beyond 2^53".into());
        }
        if self
            .pieces
            .iter()
            .any(|p| p.lock.is_some_and(|(h, _)| !engine.may_act(h)))
        {
            return Err("a lock is held by a member who cannot hold one".into());
        }
        let locked = self.pieces.iter().any(|p| p.lock.is_some());
        if locked && matches!(engine.phase, Phase::Expired | Phase::Archived) {
            return Err("phase, timers and locks disagree".into());
        }
        if !self
            .pieces
            .iter()
            .all(|p| p.team.is_none_or(|t| t.0 < engine.config.teams))
        {
            return Err("team beyond the config's teams".into());
        }
        if self.formations.len() > usize::from(config.max_formations)
            || self.recent_keys.len() > REMEMBERED_KEYS
            || self.chat.len() > usize::from(config.chat_history)
        {
            return Err("more formations, keys or chat lines than the room keeps".into());
        }
        let pieces = self.pieces.len() as u32;
        if self
            .formations
            .iter()
            .any(|f| f.placements.iter().any(|p| p.piece.0 >= pieces))
        {
            return Err("a formation names a piece the room does not have".into());
        }
        Ok(())
    }

    /// Spawns the pieces and inserts the board's resources.
    pub fn insert(self, world: &mut World) {
        let locks = PieceLocks::restore(
            "piece",
            self.pieces.iter().enumerate().filter_map(|(i, p)| {
                let (holder, expires_at) = p.lock?;
                Some((PieceId(i as u32), Lock { holder, expires_at }))
            }),
        );
        let index: Vec<_> = self
            .pieces
            .iter()
            .map(|p| world.spawn((Piece { team: p.team }, Position(p.pos))).id())
            .collect();
        world.insert_resource(Boxed::new(PieceIndex(index)));
        world.insert_resource(Boxed::new(locks));
        world.insert_resource(Boxed::new(Formations {
            by_name: self
                .formations
                .into_iter()
                .map(|f| {
                    (
                        f.name,
                        Formation {
                            key: f.key,
                            saved_by: f.saved_by,
                            team: f.team,
                            placements: f.placements,
                        },
                    )
                })
                .collect(),
            recent_keys: self.recent_keys.into_iter().collect(),
        }));
        world.insert_resource(Boxed::new(self.chat.into_iter().collect::<ChatLog>()));
    }
}

/// The room config as it was one struct: `mode` was an enum whose only
/// variant was the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum LegacyMode {
    Board,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LegacyConfig {
    mode: LegacyMode,
    tick_rate_hz: u16,
    max_players: u16,
    teams: u8,
    pieces_per_team: u16,
    neutral_pieces: u16,
    board_width: i32,
    board_height: i32,
    match_ticks: u32,
    lock_ttl_ticks: u32,
    auto_archive_ticks: u32,
    hash_every_ticks: u32,
    max_formations: u16,
    chat_history: u16,
    max_chat_chars: u16,
    max_name_chars: u16,
    max_dice: u16,
    max_dice_sides: u32,
}

impl LegacyConfig {
    fn of(room: &RoomConfig, c: &Config) -> LegacyConfig {
        LegacyConfig {
            mode: LegacyMode::Board,
            tick_rate_hz: room.tick_rate_hz,
            max_players: room.max_players,
            teams: room.teams,
            pieces_per_team: c.pieces_per_team,
            neutral_pieces: c.neutral_pieces,
            board_width: c.board_width,
            board_height: c.board_height,
            match_ticks: room.match_ticks,
            lock_ttl_ticks: c.lock_ttl_ticks,
            auto_archive_ticks: room.auto_archive_ticks,
            hash_every_ticks: room.hash_every_ticks,
            max_formations: c.max_formations,
            chat_history: c.chat_history,
            max_chat_chars: c.max_chat_chars,
            max_name_chars: room.max_name_chars,
            max_dice: c.max_dice,
            max_dice_sides: c.max_dice_sides,
        }
    }

    fn split(self) -> (RoomConfig, Config) {
        let room = RoomConfig {
            mode: tickroom_protocol::board::MODE.to_owned(),
            tick_rate_hz: self.tick_rate_hz,
            max_players: self.max_players,
            teams: self.teams,
            match_ticks: self.match_ticks,
            auto_archive_ticks: self.auto_archive_ticks,
            hash_every_ticks: self.hash_every_ticks,
            max_name_chars: self.max_name_chars,
            game: Payload::empty(),
        };
        let config = Config {
            pieces_per_team: self.pieces_per_team,
            neutral_pieces: self.neutral_pieces,
            board_width: self.board_width,
            board_height: self.board_height,
            lock_ttl_ticks: self.lock_ttl_ticks,
            max_formations: self.max_formations,
            chat_history: self.chat_history,
            max_chat_chars: self.max_chat_chars,
            max_dice: self.max_dice,
            max_dice_sides: self.max_dice_sides,
        };
        (room, config)
    }
}

#[derive(Serialize)]
struct LegacyRef<'a> {
    room: &'a RoomId,
    config: LegacyConfig,
    seed: u64,
    rng_seed: [u8; 32],
    rng_stream: u64,
    rng_word_pos: u128,
    tick: u64,
    version: u64,
    phase: Phase,
    match_ends_at: Option<u64>,
    archive_at: Option<u64>,
    next_member: u32,
    next_seat: u64,
    last_hash_tick: u64,
    members: &'a [Member],
    pieces: &'a [PieceRecord],
    formations: &'a [FormationRecord],
    recent_keys: &'a [KeyUse],
    chat: &'a [ChatLine],
}

#[derive(Deserialize)]
struct LegacyOwned {
    room: RoomId,
    config: LegacyConfig,
    seed: u64,
    rng_seed: [u8; 32],
    rng_stream: u64,
    rng_word_pos: u128,
    tick: u64,
    version: u64,
    phase: Phase,
    match_ends_at: Option<u64>,
    archive_at: Option<u64>,
    next_member: u32,
    next_seat: u64,
    last_hash_tick: u64,
    members: Vec<Member>,
    pieces: Vec<PieceRecord>,
    formations: Vec<FormationRecord>,
    recent_keys: Vec<KeyUse>,
    chat: Vec<ChatLine>,
}

pub fn encode(e: &EngineState, config: &Config, s: &BoardState) -> Vec<u8> {
    let legacy = LegacyRef {
        room: &e.room,
        config: LegacyConfig::of(&e.config, config),
        seed: e.seed,
        rng_seed: e.rng_seed,
        rng_stream: e.rng_stream,
        rng_word_pos: e.rng_word_pos,
        tick: e.tick,
        version: e.version,
        phase: e.phase,
        match_ends_at: e.match_ends_at,
        archive_at: e.archive_at,
        next_member: e.next_member,
        next_seat: e.next_seat,
        last_hash_tick: e.last_hash_tick,
        members: &e.members,
        pieces: &s.pieces,
        formations: &s.formations,
        recent_keys: &s.recent_keys,
        chat: &s.chat,
    };
    // Plain data into a Vec: cannot fail.
    postcard::to_stdvec(&legacy).unwrap_or_default()
}

pub fn decode(bytes: &[u8]) -> Result<(EngineState, Config, BoardState), String> {
    let (l, rest): (LegacyOwned, _) =
        postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    let (room, config) = l.config.split();
    let engine = EngineState {
        room: l.room,
        config: room,
        seed: l.seed,
        rng_seed: l.rng_seed,
        rng_stream: l.rng_stream,
        rng_word_pos: l.rng_word_pos,
        tick: l.tick,
        version: l.version,
        phase: l.phase,
        match_ends_at: l.match_ends_at,
        archive_at: l.archive_at,
        next_member: l.next_member,
        next_seat: l.next_seat,
        last_hash_tick: l.last_hash_tick,
        members: l.members,
    };
    let state = BoardState {
        pieces: l.pieces,
        formations: l.formations,
        recent_keys: l.recent_keys,
        chat: l.chat,
    };
    Ok((engine, config, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Board;
    use crate::fixtures::busy_room;
    use crate::snapshot::{Canonical, SnapshotError};
    use tickroom_protocol::{Presence, Role};

    type Canon = Canonical<Board>;

    fn busy_state() -> Canon {
        let (room, _) = busy_room(4, 1);
        Canon::decode(&room.snapshot()).unwrap().0
    }

    fn refused(damage: impl FnOnce(&mut Canon)) -> SnapshotError {
        let mut state = busy_state();
        damage(&mut state);
        Canon::decode(&state.encode(0)).unwrap_err()
    }

    #[test]
    fn a_sound_state_round_trips() {
        let state = busy_state();
        let (back, epoch) = Canon::decode(&state.encode(7)).unwrap();
        assert_eq!((back, epoch), (state, 7));
    }

    #[test]
    fn inconsistent_states_are_refused() {
        type Damage = Box<dyn FnOnce(&mut Canon)>;
        let cases: Vec<Damage> = vec![
            Box::new(|s| s.engine.tick = MAX_TICK + 1),
            Box::new(|s| s.engine.match_ends_at = Some(u64::MAX)),
            Box::new(|s| s.state.pieces[0].lock = Some((MemberId(1), u64::MAX))),
            Box::new(|s| s.engine.last_hash_tick = s.engine.tick + 1),
            Box::new(|s| s.state.pieces.pop().map(drop).unwrap_or(())),
            Box::new(|s| s.engine.members.swap(0, 1)),
            Box::new(|s| s.engine.next_member = 1),
            Box::new(|s| s.engine.config.max_players = 2),
            Box::new(|s| s.state.pieces[1].lock = Some((MemberId(99), 5))),
            Box::new(|s| s.state.pieces[1].team = Some(TeamId(0))),
            Box::new(|s| {
                s.state.recent_keys = vec![
                    KeyUse {
                        member: MemberId(1),
                        key: "k".into(),
                        name: "f".into()
                    };
                    257
                ]
            }),
            Box::new(|s| {
                s.state.formations.push(FormationRecord {
                    name: "f".into(),
                    key: "k".into(),
                    saved_by: MemberId(1),
                    team: None,
                    placements: vec![Placement {
                        piece: PieceId(4),
                        pos: Pos::new(0, 0),
                    }],
                })
            }),
            Box::new(|s| s.engine.config.tick_rate_hz = 0),
            Box::new(|s| s.engine.phase = Phase::Live),
            Box::new(|s| {
                s.engine.phase = Phase::Expired;
                s.engine.archive_at = Some(5);
            }),
            Box::new(|s| s.engine.members[1].role = Role::Host),
            Box::new(|s| s.engine.members[1].role = Role::Spectator),
            Box::new(|s| s.engine.members[1].presence = Presence::InGrace),
            Box::new(|s| s.engine.members[2].user = s.engine.members[1].user.clone()),
            Box::new(|s| s.engine.next_seat = u64::MAX),
        ];
        for (i, damage) in cases.into_iter().enumerate() {
            assert!(
                matches!(refused(damage), SnapshotError::Corrupt(_)),
                "case {i} was accepted"
            );
        }
    }

    #[test]
    fn a_snapshot_that_is_not_canonical_is_refused() {
        let mut state = busy_state();
        let formation = |name: &str| FormationRecord {
            name: name.into(),
            key: name.into(),
            saved_by: MemberId(1),
            team: None,
            placements: Vec::new(),
        };
        // Formations out of name order would be re-sorted by the world.
        state.state.formations = vec![formation("b"), formation("a")];
        let bytes = state.encode(0);
        assert!(Canon::decode(&bytes).is_ok());
        assert!(matches!(
            crate::Room::restore(&bytes),
            Err(SnapshotError::Corrupt(_))
        ));
        state.state.formations.reverse();
        assert!(crate::Room::restore(&state.encode(0)).is_ok());
    }
}
