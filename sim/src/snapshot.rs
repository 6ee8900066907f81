//! The canonical state of a room: one struct that is the snapshot body, the
//! input of the state hash, and the seed of a new room's world.
//!
//! Canonical means: every collection sorted by a stable id, integers only,
//! encoded with postcard (fixed field order, varints). Indexes and queues
//! that can be derived (piece index, lock expiry queue) are left out and
//! rebuilt on restore.
//!
//! Snapshot bytes: `b"TRSN"`, the format version (u16 little-endian), the
//! epoch (u32 little-endian), then the postcard body. The state hash is
//! XXH3-64 (seed 0) of the postcard body; the epoch is outside it, so a
//! restored room hashes exactly like the room it was restored from.

use crate::components::{Piece, PieceLock, Position};
use crate::resources::{
    Boxed, ChatLog, Formation, Formations, HeldLocks, KeyUse, LockExpiries, Member, PieceIndex,
    RoomMeta, RoomRng, Roster,
};
use bevy_ecs::world::World;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use tickroom_protocol::{
    ChatLine, MemberId, Phase, PieceId, Placement, Pos, Presence, Role, RoomConfig, RoomId,
    StateHash, TeamId,
};

const MAGIC: &[u8; 4] = b"TRSN";
/// Bumped whenever [`CanonicalState`]'s encoding changes.
pub const SNAPSHOT_FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 4 + 2 + 4;
/// Ticks, versions and timers in a snapshot stay below 2^53: exact in JSON
/// doubles, and millions of years of ticks, so `+` on them cannot overflow.
const MAX_TICK: u64 = 1 << 53;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a Tickroom room snapshot (bad magic bytes)")]
    BadMagic,
    #[error("snapshot format {found} is not supported by this build (supports {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PieceRecord {
    team: Option<TeamId>,
    pos: Pos,
    lock: Option<(MemberId, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FormationRecord {
    name: String,
    key: String,
    saved_by: MemberId,
    team: Option<TeamId>,
    placements: Vec<Placement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CanonicalState {
    pub room: RoomId,
    pub config: RoomConfig,
    pub seed: u64,
    rng_seed: [u8; 32],
    rng_stream: u64,
    rng_word_pos: u128,
    pub tick: u64,
    pub version: u64,
    pub phase: Phase,
    pub match_ends_at: Option<u64>,
    pub archive_at: Option<u64>,
    next_member: u32,
    next_seat: u64,
    last_hash_tick: u64,
    pub members: Vec<Member>,
    /// Indexed by piece id.
    pub pieces: Vec<PieceRecord>,
    formations: Vec<FormationRecord>,
    recent_keys: Vec<KeyUse>,
    pub chat: Vec<ChatLine>,
}

/// Initial piece places: team pieces first (team 0's, team 1's, …), then the
/// neutral ones, spread over a grid that covers the board.
fn initial_pieces(config: &RoomConfig) -> Vec<PieceRecord> {
    let teams = (0..config.teams)
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

impl CanonicalState {
    /// A new room in `setup`, at tick 0 and version 0.
    pub fn initial(room: RoomId, config: RoomConfig, seed: u64) -> CanonicalState {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        CanonicalState {
            pieces: initial_pieces(&config),
            room,
            config,
            seed,
            rng_seed: rng.get_seed(),
            rng_stream: rng.get_stream(),
            rng_word_pos: rng.get_word_pos(),
            tick: 0,
            version: 0,
            phase: Phase::Setup,
            match_ends_at: None,
            archive_at: None,
            next_member: 1,
            next_seat: 1,
            last_hash_tick: 0,
            members: Vec::new(),
            formations: Vec::new(),
            recent_keys: Vec::new(),
            chat: Vec::new(),
        }
    }

    /// Reads the state out of a room's world.
    pub fn read(world: &World) -> CanonicalState {
        let meta = world.resource::<Boxed<RoomMeta>>();
        let rng = &world.resource::<Boxed<RoomRng>>().0;
        let index = world.resource::<Boxed<PieceIndex>>();
        let pieces = index
            .0
            .iter()
            .map(|&e| PieceRecord {
                team: world.get::<Piece>(e).and_then(|p| p.team),
                pos: world.get::<Position>(e).map_or(Pos::new(0, 0), |p| p.0),
                lock: world
                    .get::<PieceLock>(e)
                    .and_then(|l| l.0)
                    .map(|l| (l.holder, l.expires_at)),
            })
            .collect();
        let formations = world.resource::<Boxed<Formations>>();
        CanonicalState {
            room: meta.room.clone(),
            config: meta.config.clone(),
            seed: meta.seed,
            rng_seed: rng.get_seed(),
            rng_stream: rng.get_stream(),
            rng_word_pos: rng.get_word_pos(),
            tick: meta.tick,
            version: meta.version,
            phase: meta.phase,
            match_ends_at: meta.match_ends_at,
            archive_at: meta.archive_at,
            next_member: meta.next_member,
            next_seat: meta.next_seat,
            last_hash_tick: meta.last_hash_tick,
            members: world
                .resource::<Boxed<Roster>>()
                .members
                .values()
                .cloned()
                .collect(),
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
            chat: world
                .resource::<Boxed<ChatLog>>()
                .lines
                .iter()
                .cloned()
                .collect(),
        }
    }

    /// True when `bytes` (a whole snapshot) is exactly the encoding of the
    /// room in `world`: a snapshot that decodes but is not canonical
    /// (unsorted or repeated entries that the world would collapse) would
    /// restore into a room that hashes differently from what was stored.
    pub fn is_canonical_snapshot(world: &World, bytes: &[u8]) -> bool {
        bytes.get(HEADER_LEN..) == Some(&CanonicalState::read(world).body()[..])
    }

    fn body(&self) -> Vec<u8> {
        // Serializing plain structs into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn hash(&self) -> StateHash {
        StateHash(xxhash_rust::xxh3::xxh3_64(&self.body()))
    }

    pub fn encode(&self, epoch: u32) -> Vec<u8> {
        let body = self.body();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&epoch.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// The state hash of a whole snapshot, without decoding it: the hash is
    /// XXH3-64 of the body that follows the header.
    pub fn hash_of_snapshot(bytes: &[u8]) -> Option<StateHash> {
        bytes
            .get(HEADER_LEN..)
            .map(|body| StateHash(xxhash_rust::xxh3::xxh3_64(body)))
    }

    /// Parses snapshot bytes into the state and its epoch.
    pub fn decode(bytes: &[u8]) -> Result<(CanonicalState, u32), SnapshotError> {
        let (state, epoch) = Self::decode_unchecked(bytes)?;
        state.check()?;
        Ok((state, epoch))
    }

    /// Decodes bytes this process encoded itself ([`FrozenRoom`]): the
    /// state was a live room's a moment before, so the checks meant for
    /// snapshots from outside are skipped.
    ///
    /// [`FrozenRoom`]: crate::FrozenRoom
    pub fn decode_unchecked(bytes: &[u8]) -> Result<(CanonicalState, u32), SnapshotError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: version,
                supported: SNAPSHOT_FORMAT_VERSION,
            });
        }
        let epoch = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let (state, rest): (CanonicalState, _) = postcard::take_from_bytes(&bytes[HEADER_LEN..])
            .map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        if !rest.is_empty() {
            return Err(SnapshotError::Corrupt(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok((state, epoch))
    }

    /// Consistency a hand-edited or damaged snapshot could break; a state
    /// that passes cannot make the room panic or grow without bound.
    fn check(&self) -> Result<(), SnapshotError> {
        let corrupt = |m: &str| Err(SnapshotError::Corrupt(m.to_owned()));
        if self.config.validate().is_err() {
            return corrupt("room config out of bounds");
        }
        if self.pieces.len() != self.config.piece_count() as usize {
            return corrupt("piece count does not match the config");
        }
        let times = [
            Some(self.tick),
            Some(self.version),
            self.match_ends_at,
            self.archive_at,
        ]
        .into_iter()
        .flatten()
        .chain(self.pieces.iter().filter_map(|p| p.lock.map(|l| l.1)));
        if times.clone().any(|t| t > MAX_TICK) {
            return corrupt("tick, version or timer beyond 2^53");
        }
        if self.last_hash_tick > self.tick {
            return corrupt("last hash tick after the current tick");
        }
        if !self.members.windows(2).all(|w| w[0].id < w[1].id) {
            return corrupt("members not sorted by id");
        }
        if self.members.len() > usize::from(self.config.max_players) {
            return corrupt("more members than max_players");
        }
        if self
            .members
            .iter()
            .any(|m| m.id.0 >= self.next_member || m.seat >= self.next_seat)
            || self.next_seat > MAX_TICK
        {
            return corrupt("member id or seat beyond its counter");
        }
        let may_hold = |id: MemberId| {
            self.members
                .binary_search_by_key(&id, |m| m.id)
                .is_ok_and(|i| {
                    let m = &self.members[i];
                    m.role != Role::Spectator && m.presence == Presence::Connected
                })
        };
        if self
            .pieces
            .iter()
            .any(|p| p.lock.is_some_and(|(h, _)| !may_hold(h)))
        {
            return corrupt("a lock is held by a member who cannot hold one");
        }
        let locked = self.pieces.iter().any(|p| p.lock.is_some());
        let phase_ok = match self.phase {
            Phase::Setup => self.match_ends_at.is_none(),
            Phase::Live => self.match_ends_at.is_some(),
            Phase::Expired => self.archive_at.is_some() && !locked,
            Phase::Archived => self.archive_at.is_none() && !locked,
        };
        if !phase_ok {
            return corrupt("phase, timers and locks disagree");
        }
        if self.members.iter().filter(|m| m.role == Role::Host).count() > 1
            || self
                .members
                .iter()
                .any(|m| m.role == Role::Spectator && m.team.is_some())
        {
            return corrupt("two hosts, or a spectator on a team");
        }
        let mut users: Vec<&str> = self.members.iter().map(|m| m.user.as_str()).collect();
        users.sort_unstable();
        if users.windows(2).any(|w| w[0] == w[1]) {
            return corrupt("one user holds two seats");
        }
        let team_ok = |t: Option<TeamId>| t.is_none_or(|t| t.0 < self.config.teams);
        if !self.pieces.iter().all(|p| team_ok(p.team))
            || !self.members.iter().all(|m| team_ok(m.team))
        {
            return corrupt("team beyond the config's teams");
        }
        if self.formations.len() > usize::from(self.config.max_formations)
            || self.recent_keys.len() > crate::resources::REMEMBERED_KEYS
            || self.chat.len() > usize::from(self.config.chat_history)
        {
            return corrupt("more formations, keys or chat lines than the room keeps");
        }
        let pieces = self.pieces.len() as u32;
        if self
            .formations
            .iter()
            .any(|f| f.placements.iter().any(|p| p.piece.0 >= pieces))
        {
            return corrupt("a formation names a piece the room does not have");
        }
        Ok(())
    }

    /// Builds the world this state describes.
    pub fn into_world(self, epoch: u32) -> World {
        let mut world = World::new();
        let mut rng = ChaCha8Rng::from_seed(self.rng_seed);
        rng.set_stream(self.rng_stream);
        rng.set_word_pos(self.rng_word_pos);
        let mut expiries = LockExpiries::default();
        let mut held = HeldLocks::default();
        let index: Vec<_> = self
            .pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = PieceId(i as u32);
                let lock = p.lock.map(|(holder, expires_at)| {
                    let serial = expiries.next_serial;
                    expiries.next_serial += 1;
                    expiries.queue.push(Reverse((expires_at, id, serial)));
                    held.0.entry(holder).or_default().insert(id);
                    crate::components::LockState {
                        holder,
                        expires_at,
                        serial,
                    }
                });
                world
                    .spawn((Piece { team: p.team }, Position(p.pos), PieceLock(lock)))
                    .id()
            })
            .collect();
        world.insert_resource(Boxed::new(PieceIndex(index)));
        world.insert_resource(Boxed::new(expiries));
        world.insert_resource(Boxed::new(held));
        world.insert_resource(Boxed::new(RoomRng(rng)));
        world.insert_resource(Boxed::new(Roster {
            members: self.members.into_iter().map(|m| (m.id, m)).collect(),
        }));
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
        world.insert_resource(Boxed::new(ChatLog {
            lines: self.chat.into_iter().collect(),
        }));
        world.insert_resource(Boxed::new(RoomMeta {
            room: self.room,
            config: self.config,
            seed: self.seed,
            epoch,
            tick: self.tick,
            version: self.version,
            phase: self.phase,
            match_ends_at: self.match_ends_at,
            archive_at: self.archive_at,
            next_member: self.next_member,
            next_seat: self.next_seat,
            last_hash_tick: self.last_hash_tick,
        }));
        world
    }
}

impl PieceRecord {
    pub fn view(&self, id: PieceId) -> tickroom_protocol::PieceView {
        tickroom_protocol::PieceView {
            id,
            team: self.team,
            pos: self.pos,
            lock: self
                .lock
                .map(|(holder, expires_at)| tickroom_protocol::LockView { holder, expires_at }),
        }
    }
}

impl CanonicalState {
    pub fn formation_names(&self) -> Vec<String> {
        self.formations.iter().map(|f| f.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::busy_room;

    fn busy_state() -> CanonicalState {
        let (room, _) = busy_room(4, 1);
        CanonicalState::decode(&room.snapshot()).unwrap().0
    }

    fn refused(damage: impl FnOnce(&mut CanonicalState)) -> SnapshotError {
        let mut state = busy_state();
        damage(&mut state);
        CanonicalState::decode(&state.encode(0)).unwrap_err()
    }

    #[test]
    fn a_sound_state_round_trips() {
        let state = busy_state();
        let (back, epoch) = CanonicalState::decode(&state.encode(7)).unwrap();
        assert_eq!((back, epoch), (state, 7));
    }

    #[test]
    fn inconsistent_states_are_refused() {
        type Damage = Box<dyn FnOnce(&mut CanonicalState)>;
        let cases: Vec<Damage> = vec![
            Box::new(|s| s.tick = MAX_TICK + 1),
            Box::new(|s| s.match_ends_at = Some(u64::MAX)),
            Box::new(|s| s.pieces[0].lock = Some((MemberId(1), u64::MAX))),
            Box::new(|s| s.last_hash_tick = s.tick + 1),
            Box::new(|s| s.pieces.pop().map(drop).unwrap_or(())),
            Box::new(|s| s.members.swap(0, 1)),
            Box::new(|s| s.next_member = 1),
            Box::new(|s| s.config.max_players = 2),
            Box::new(|s| s.pieces[1].lock = Some((MemberId(99), 5))),
            Box::new(|s| s.pieces[1].team = Some(TeamId(0))),
            Box::new(|s| {
                s.recent_keys = vec![
                    KeyUse {
                        member: MemberId(1),
                        key: "k".into(),
                        name: "f".into()
                    };
                    257
                ]
            }),
            Box::new(|s| {
                s.formations.push(FormationRecord {
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
            Box::new(|s| s.config.tick_rate_hz = 0),
            Box::new(|s| s.phase = Phase::Live),
            Box::new(|s| {
                s.phase = Phase::Expired;
                s.archive_at = Some(5);
            }),
            Box::new(|s| s.members[1].role = Role::Host),
            Box::new(|s| s.members[1].role = Role::Spectator),
            Box::new(|s| s.members[1].presence = Presence::InGrace),
            Box::new(|s| s.members[2].user = s.members[1].user.clone()),
            Box::new(|s| s.next_seat = u64::MAX),
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
        state.formations = vec![formation("b"), formation("a")];
        let bytes = state.encode(0);
        assert!(CanonicalState::decode(&bytes).is_ok());
        assert!(matches!(
            crate::Room::restore(&bytes),
            Err(SnapshotError::Corrupt(_))
        ));
        state.formations.reverse();
        assert!(crate::Room::restore(&state.encode(0)).is_ok());
    }
}
