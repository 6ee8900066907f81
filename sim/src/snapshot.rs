//! The canonical state of a room: the engine's part ([`EngineState`]),
//! the mode's config and the mode's state. One description that is the
//! snapshot body, the input of the state hash, and the seed of a new room's
//! world.
//!
//! Canonical means: every collection sorted by a stable id, integers only,
//! encoded with postcard (fixed field order, varints) in the layout the
//! mode chooses ([`Mode::encode_canonical`]). Indexes and queues that can be
//! derived are left out and rebuilt on restore.
//!
//! Snapshot bytes: `b"TRSN"`, the format version (u16 little-endian), the
//! epoch (u32 little-endian); in format 2 the mode's name (one length
//! byte, then UTF-8) and version (u32 little-endian); then the body. A
//! format 1 snapshot (written before modes existed) is a board room of
//! version 1. The state hash is XXH3-64 (seed 0) of the body; the header is
//! outside it, so a restored room hashes exactly like the room it was
//! restored from.

use crate::mode::Mode;
use crate::resources::{Boxed, Member, RoomMeta, RoomRng, Roster};
use bevy_ecs::world::World;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tickroom_protocol::{MemberId, Phase, Presence, Role, RoomConfig, RoomId, StateHash};

const MAGIC: &[u8; 4] = b"TRSN";
/// Bumped whenever the snapshot header changes.
pub const SNAPSHOT_FORMAT_VERSION: u16 = 2;
/// Magic, format, epoch.
const FIXED_HEADER: usize = 4 + 2 + 4;
/// Ticks, versions and timers in a snapshot stay below 2^53: exact in JSON
/// doubles, and millions of years of ticks, so `+` on them cannot overflow.
pub const MAX_TICK: u64 = 1 << 53;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a Tickroom room snapshot (bad magic bytes)")]
    BadMagic,
    #[error("snapshot format {found} is not supported by this build (supports {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
    #[error(
        "the room plays {mode} version {version}, which this build does not serve (it serves {served})"
    )]
    ModeUnavailable {
        mode: String,
        version: u32,
        served: String,
    },
}

/// What a snapshot's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub epoch: u32,
    pub mode: String,
    pub mode_version: u32,
}

impl SnapshotHeader {
    /// Reads the header; returns it and the body.
    pub fn read(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
        if bytes.len() < FIXED_HEADER || &bytes[..4] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let format = u16::from_le_bytes([bytes[4], bytes[5]]);
        let epoch = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let rest = &bytes[FIXED_HEADER..];
        match format {
            1 => Ok((
                SnapshotHeader {
                    epoch,
                    mode: tickroom_protocol::board::MODE.to_owned(),
                    mode_version: 1,
                },
                rest,
            )),
            2 => {
                let short = || SnapshotError::Corrupt("snapshot header cut short".into());
                let len = usize::from(*rest.first().ok_or_else(short)?);
                let name = rest.get(1..1 + len).ok_or_else(short)?;
                let version = rest.get(1 + len..5 + len).ok_or_else(short)?;
                let mode = std::str::from_utf8(name)
                    .map_err(|_| SnapshotError::Corrupt("mode name is not UTF-8".into()))?;
                Ok((
                    SnapshotHeader {
                        epoch,
                        mode: mode.to_owned(),
                        mode_version: u32::from_le_bytes([
                            version[0], version[1], version[2], version[3],
                        ]),
                    },
                    &rest[5 + len..],
                ))
            }
            found => Err(SnapshotError::UnsupportedVersion {
                found,
                supported: SNAPSHOT_FORMAT_VERSION,
            }),
        }
    }
}

/// The engine's part of the canonical state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineState {
    pub room: RoomId,
    /// The framework's settings; `game` is empty (the mode's config is
    /// kept beside).
    pub config: RoomConfig,
    pub seed: u64,
    pub rng_seed: [u8; 32],
    pub rng_stream: u64,
    pub rng_word_pos: u128,
    pub tick: u64,
    pub version: u64,
    pub phase: Phase,
    pub match_ends_at: Option<u64>,
    pub archive_at: Option<u64>,
    pub next_member: u32,
    pub next_seat: u64,
    pub last_hash_tick: u64,
    /// Sorted by id.
    pub members: Vec<Member>,
}

impl EngineState {
    /// A new room in `setup`, at tick 0 and version 0.
    pub fn initial(room: RoomId, config: RoomConfig, seed: u64) -> EngineState {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        EngineState {
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
        }
    }

    pub fn read(world: &World) -> EngineState {
        let meta = world.resource::<Boxed<RoomMeta>>();
        let rng = &world.resource::<Boxed<RoomRng>>().0;
        EngineState {
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
        }
    }

    /// The seat `id`, when it may act on the game now (a connected player
    /// or host): who may hold locks, take turns, and so on.
    pub fn may_act(&self, id: MemberId) -> bool {
        self.members
            .binary_search_by_key(&id, |m| m.id)
            .is_ok_and(|i| {
                let m = &self.members[i];
                m.role != Role::Spectator && m.presence == Presence::Connected
            })
    }

    fn check(&self) -> Result<(), String> {
        if self.config.validate().is_err() {
            return Err("room config out of bounds".into());
        }
        let times = [
            Some(self.tick),
            Some(self.version),
            self.match_ends_at,
            self.archive_at,
        ];
        if times.into_iter().flatten().any(|t| t > MAX_TICK) {
            return Err("tick, version or timer beyond 2^53".into());
        }
        if self.last_hash_tick > self.tick {
            return Err("last hash tick after the current tick".into());
        }
        if !self.members.windows(2).all(|w| w[0].id < w[1].id) {
            return Err("members not sorted by id".into());
        }
        if self.members.len() > usize::from(self.config.max_players) {
            return Err("more members than max_players".into());
        }
        if self
            .members
            .iter()
            .any(|m| m.id.0 >= self.next_member || m.seat >= self.next_seat)
            || self.next_seat > MAX_TICK
        {
            return Err("member id or seat beyond its counter".into());
        }
        let phase_ok = match self.phase {
            Phase::Setup => self.match_ends_at.is_none(),
            Phase::Live => self.match_ends_at.is_some(),
            Phase::Expired => self.archive_at.is_some(),
            Phase::Archived => self.archive_at.is_none(),
        };
        if !phase_ok {
            return Err("phase, timers and locks disagree".into());
        }
        if self.members.iter().filter(|m| m.role == Role::Host).count() > 1
            || self
                .members
                .iter()
                .any(|m| m.role == Role::Spectator && m.team.is_some())
        {
            return Err("two hosts, or a spectator on a team".into());
        }
        let mut users: Vec<&str> = self.members.iter().map(|m| m.user.as_str()).collect();
        users.sort_unstable();
        if users.windows(2).any(|w| w[0] == w[1]) {
            return Err("one user holds two seats".into());
        }
        if !self
            .members
            .iter()
            .all(|m| m.team.is_none_or(|t| t.0 < self.config.teams))
        {
            return Err("team beyond the config's teams".into());
        }
        Ok(())
    }

    /// Puts the engine's resources into `world`.
    fn insert(self, world: &mut World, epoch: u32) {
        let mut rng = ChaCha8Rng::from_seed(self.rng_seed);
        rng.set_stream(self.rng_stream);
        rng.set_word_pos(self.rng_word_pos);
        world.insert_resource(Boxed::new(RoomRng(rng)));
        world.insert_resource(Boxed::new(Roster {
            members: self.members.into_iter().map(|m| (m.id, m)).collect(),
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
    }
}

/// A room's whole canonical state.
pub(crate) struct Canonical<M: Mode> {
    pub engine: EngineState,
    pub config: M::Config,
    pub state: M::State,
}

impl<M: Mode> std::fmt::Debug for Canonical<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canonical")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .field("state", &self.state)
            .finish()
    }
}

impl<M: Mode> PartialEq for Canonical<M> {
    fn eq(&self, other: &Self) -> bool {
        self.engine == other.engine && self.config == other.config && self.state == other.state
    }
}

/// The state hash of a snapshot body.
pub(crate) fn hash_body(body: &[u8]) -> StateHash {
    StateHash(xxhash_rust::xxh3::xxh3_64(body))
}

/// The state hash of a whole snapshot, without decoding it: the hash is
/// XXH3-64 of the body that follows the header.
pub fn hash_of_snapshot(bytes: &[u8]) -> Option<StateHash> {
    SnapshotHeader::read(bytes)
        .ok()
        .map(|(_, body)| hash_body(body))
}

impl<M: Mode> Canonical<M> {
    pub fn initial(room: RoomId, config: RoomConfig, game: M::Config, seed: u64) -> Self {
        let state = M::initial_state(&config, &game);
        Canonical {
            engine: EngineState::initial(room, config, seed),
            config: game,
            state,
        }
    }

    pub fn read(world: &World) -> Self {
        Canonical {
            engine: EngineState::read(world),
            config: world.resource::<Boxed<ModeConfig<M>>>().0.clone(),
            state: M::read(world),
        }
    }

    pub fn body(&self) -> Vec<u8> {
        M::encode_canonical(&self.engine, &self.config, &self.state)
    }

    pub fn hash(&self) -> StateHash {
        hash_body(&self.body())
    }

    pub fn encode(&self, epoch: u32) -> Vec<u8> {
        let body = self.body();
        let name = M::NAME.as_bytes();
        let mut out = Vec::with_capacity(FIXED_HEADER + 5 + name.len() + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&epoch.to_le_bytes());
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&M::VERSION.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// True when `bytes` (a whole snapshot) is exactly the encoding of the
    /// room in `world`: a snapshot that decodes but is not canonical
    /// (unsorted or repeated entries that the world would collapse) would
    /// restore into a room that hashes differently from what was stored.
    pub fn is_canonical_snapshot(world: &World, bytes: &[u8]) -> bool {
        SnapshotHeader::read(bytes).is_ok_and(|(_, body)| body == &Self::read(world).body()[..])
    }

    /// Parses snapshot bytes into the state and its epoch, checked.
    pub fn decode(bytes: &[u8]) -> Result<(Self, u32), SnapshotError> {
        let (state, epoch) = Self::decode_unchecked(bytes)?;
        state.check().map_err(SnapshotError::Corrupt)?;
        Ok((state, epoch))
    }

    /// Decodes bytes this process encoded itself (a frozen room): the state
    /// was a live room's a moment before, so the checks meant for snapshots
    /// from outside are skipped.
    pub fn decode_unchecked(bytes: &[u8]) -> Result<(Self, u32), SnapshotError> {
        let (header, body) = SnapshotHeader::read(bytes)?;
        let epoch = header.epoch;
        let (engine, config, state) = M::decode_canonical(body).map_err(SnapshotError::Corrupt)?;
        Ok((
            Canonical {
                engine,
                config,
                state,
            },
            epoch,
        ))
    }

    fn check(&self) -> Result<(), String> {
        self.engine.check()?;
        if M::validate_config(&self.engine.config, &self.config).is_err() {
            return Err("room config out of bounds".into());
        }
        M::check_state(&self.engine, &self.config, &self.state)
    }

    /// Builds the world this state describes.
    pub fn into_world(self, epoch: u32) -> World {
        let mut world = World::new();
        self.engine.insert(&mut world, epoch);
        world.insert_resource(Boxed::new(ModeConfig::<M>(self.config.clone())));
        M::insert(&mut world, &self.config, self.state);
        world
    }
}

/// The mode's settings of a room, as a resource of its world.
pub struct ModeConfig<M: Mode>(pub M::Config);
