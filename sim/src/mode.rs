//! The game-mode API. A room is the engine (seats, roles, grace, host
//! succession, the phase and its timers, tick and version, the generator,
//! the log, hash, snapshots, replay) plus one [`Mode`], which owns every
//! rule of the game: its config, intents, events, state, systems and views.
//!
//! A mode is shaped like a bevy plugin: [`Mode::build`] adds its systems
//! to the room's schedule, [`Mode::insert`] its resources and entities to
//! the room's world. Intents run one at a time, in arrival order, through
//! [`Mode::handle`], with the engine's [`RoomCtx`] and the mode's own
//! system param fetched once per tick.

use crate::input::Outcome;
use crate::resources::{Boxed, Member, Outbox, RoomMeta, RoomRng, Roster};
use crate::snapshot::EngineState;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::Schedule;
use bevy_ecs::system::{SystemParam, SystemParamItem};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use tickroom_protocol::{
    DomainEvent, ErrorBody, ErrorCode, IntentSpec, MemberId, ModeCodeEntry, ModeValue, Origin,
    Phase, Presence, Role, RoomConfig, TeamId,
};

/// What a mode's config, intents, events and state must be: plain data
/// that serde encodes in both codecs.
pub trait ModeData:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
}
impl<T: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static> ModeData
    for T
{
}

/// Where a mode's systems run in a tick. The engine's phase timers run
/// first in [`TickSet::Timers`]; intents run in [`TickSet::Inputs`]; the
/// state hash is taken after [`TickSet::After`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TickSet {
    /// Things due at this tick (expiries, timers), before the inputs.
    Timers,
    /// The tick's inputs, in arrival order (the engine's system).
    Inputs,
    /// After the inputs (e.g. simulation steps that act on them).
    After,
}

/// Who is viewing a room's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Everything: operators (history API, replay, exports).
    All,
    /// One seat (its role and team decide what it sees).
    Member(MemberId),
    /// Someone without a seat.
    Nobody,
}

/// A change of seats or phase the engine is about to make; the mode's
/// [`Mode::on_change`] runs first (the board releases locks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomChange {
    /// The member leaves: left, grace expired or kicked.
    Leaving(MemberId, tickroom_protocol::LeaveReason),
    /// The member's connection dropped; its seat waits out the grace.
    Disconnecting(MemberId),
    /// The member moves to another team.
    ChangingTeam(MemberId),
    /// The match ends (`live → expired`) or the room is archived.
    PhaseEnding(Phase),
}

/// Whether an intent that passed every check changed the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Changed: the engine bumps the version and stamps the staged events.
    Changed,
    /// An idempotent repeat: acknowledged, nothing changed.
    Duplicate,
}

/// A game mode. See the module docs and `docs/modes.md`.
pub trait Mode: Send + Sync + Sized + 'static {
    /// The mode's name in configs, `welcome` and the store.
    const NAME: &'static str;
    /// Bumped when the mode's rules or encodings change; stored with each
    /// room, which only a build with the same version replays.
    const VERSION: u32;
    /// The oldest version of the mode whose stored rooms this build still
    /// replays bit for bit (a mode that only appends intents, events and
    /// state keeps reading its older rooms).
    const OLDEST_READABLE: u32 = Self::VERSION;
    /// One row per variant of [`Mode::Intent`], in variant order.
    const INTENTS: &'static [IntentSpec];
    /// Error codes the mode adds to the catalog.
    const ERROR_CODES: &'static [ModeCodeEntry] = &[];

    /// The mode's settings: `#[serde(default)]`, so a partial config takes
    /// the defaults.
    type Config: ModeData + Default;
    /// What members ask: an externally tagged enum of struct variants.
    type Intent: ModeData;
    /// What happened: an enum whose tags differ from the framework's.
    type Event: ModeData;
    /// The mode's part of the canonical state: everything that decides the
    /// room's future, sorted, integers only. Snapshot, restore and hash.
    type State: ModeData;
    /// What a member is sent of the state when it joins or resumes.
    type View: Serialize + Debug + Send + Sync + 'static;
    /// What intents and hooks may touch, fetched once per tick.
    type Param: SystemParam + 'static;

    /// Checks the mode's settings against the room's (`INVALID_CONFIG`).
    fn validate_config(_room: &RoomConfig, _config: &Self::Config) -> Result<(), ErrorBody> {
        Ok(())
    }

    /// The state of a new room.
    fn initial_state(room: &RoomConfig, config: &Self::Config) -> Self::State;

    /// Consistency a damaged or hand-made snapshot could break: a state
    /// that passes must not make the room panic or grow without bound.
    fn check_state(
        _engine: &EngineState,
        _config: &Self::Config,
        _state: &Self::State,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Puts the state into a new world: resources, entities.
    fn insert(world: &mut World, config: &Self::Config, state: Self::State);

    /// Reads the state back out of the world.
    fn read(world: &World) -> Self::State;

    /// Adds the mode's systems to the room's schedule, in [`TickSet`]s.
    fn build(_schedule: &mut Schedule) {}

    /// The next tick at which a system of the mode has work without any
    /// input (a timer, an expiry); lets idle rooms skip their schedule.
    fn next_due(_world: &World) -> Option<u64> {
        None
    }

    /// Runs one intent: every check first, and on a failure the coded
    /// error with nothing changed; then the change, its events staged with
    /// [`RoomCtx::emit`].
    fn handle(
        game: &mut SystemParamItem<Self::Param>,
        ctx: &mut RoomCtx,
        actor: Actor,
        intent: &Self::Intent,
    ) -> Result<Applied, ErrorBody>;

    /// Runs before the engine changes seats or the phase.
    fn on_change(
        _game: &mut SystemParamItem<Self::Param>,
        _ctx: &mut RoomCtx,
        _change: RoomChange,
    ) {
    }

    /// Whether a member's cursor at `pos` is worth relaying (cursors are
    /// ephemeral: never logged, never acknowledged).
    fn cursor_ok(_config: &Self::Config, _pos: tickroom_protocol::Pos) -> bool {
        true
    }

    /// A scenario line's intent in the mode's own words (`alice move 3 10
    /// 20`): `None` when `verb` is none of the mode's own words, and the
    /// generic form (`alice move_token token=3 x=10`) applies. See
    /// `docs/scenarios.md`.
    fn scenario_intent(_verb: &str, _args: &[&str]) -> Option<Result<Self::Intent, String>> {
        None
    }

    /// The words an exported intent is written with, when the mode has
    /// its own (the inverse of [`Mode::scenario_intent`]).
    fn scenario_words(_intent: &Self::Intent) -> Option<String> {
        None
    }

    /// True when the mode hides anything from some members (then every
    /// delta is filtered per member by the events' audiences, and members
    /// that do not [`Mode::sees_all`] get no state hash, which would let
    /// them guess hidden state).
    const HIDES: bool = false;

    /// Whether `member` sees the whole room (the director; everyone in a
    /// mode that hides nothing).
    fn sees_all(_world: &World, _member: MemberId) -> bool {
        true
    }

    /// The state as `viewer` may see it.
    fn view(world: &World, viewer: Viewer) -> Self::View;

    /// The canonical encoding of a room: the hash is XXH3-64 of it and a
    /// snapshot carries it. The default is postcard of the three parts in
    /// order; a mode whose rooms were stored before modes existed keeps its
    /// own layout here.
    fn encode_canonical(
        engine: &EngineState,
        config: &Self::Config,
        state: &Self::State,
    ) -> Vec<u8> {
        // Plain data into a Vec: cannot fail.
        postcard::to_stdvec(&(engine, config, state)).unwrap_or_default()
    }

    /// Reads [`Mode::encode_canonical`] bytes.
    fn decode_canonical(bytes: &[u8]) -> Result<(EngineState, Self::Config, Self::State), String> {
        let (parts, rest) = postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes", rest.len()));
        }
        Ok(parts)
    }
}

/// The seat an input acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    pub id: MemberId,
    pub role: Role,
    pub team: Option<TeamId>,
    pub presence: Presence,
}

/// Who an input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Member(Who),
    /// The ops API, authorized outside the room.
    Admin,
    /// A session without a seat yet (joins).
    Newcomer,
}

impl Actor {
    /// The acting seat, or NOT_IN_ROOM.
    #[inline]
    pub fn seat(self) -> Result<Who, ErrorBody> {
        match self {
            Actor::Member(w) => Ok(w),
            Actor::Admin | Actor::Newcomer => Err(not_in_room("this request needs a seat")),
        }
    }

    /// The acting seat if it may change the game (players and the host),
    /// or FORBIDDEN for spectators.
    #[inline]
    pub fn mover(self) -> Result<Who, ErrorBody> {
        let who = self.seat()?;
        if who.role == Role::Spectator {
            return Err(
                ErrorBody::new(ErrorCode::Forbidden, "spectators cannot change the board")
                    .with("role", "spectator"),
            );
        }
        Ok(who)
    }

    /// The host or an admin, or FORBIDDEN.
    pub fn host_or_admin(self, what: &str) -> Result<(), ErrorBody> {
        match self {
            Actor::Admin => Ok(()),
            Actor::Member(w) if w.role == Role::Host => Ok(()),
            _ => Err(ErrorBody::new(
                ErrorCode::Forbidden,
                format!("only the host can {what}"),
            )),
        }
    }
}

pub(crate) fn not_in_room(message: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotInRoom, message)
}

/// The engine's part of a room as mode code sees it: clock, config, phase,
/// seats, the generator, and where events go.
#[derive(SystemParam)]
pub struct RoomCtx<'w> {
    pub(crate) meta: ResMut<'w, Boxed<RoomMeta>>,
    pub(crate) roster: ResMut<'w, Boxed<Roster>>,
    pub(crate) rng: ResMut<'w, Boxed<RoomRng>>,
    pub(crate) out: ResMut<'w, Boxed<Outbox>>,
}

impl RoomCtx<'_> {
    /// The tick being run.
    #[inline]
    pub fn tick(&self) -> u64 {
        self.meta.tick
    }

    /// The framework's settings of the room.
    pub fn config(&self) -> &RoomConfig {
        &self.meta.config
    }

    pub fn phase(&self) -> Phase {
        self.meta.phase
    }

    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.roster.members.get(&id)
    }

    /// Every seat, in member id order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.roster.members.values()
    }

    pub fn host(&self) -> Option<MemberId> {
        self.roster.host()
    }

    /// The room's only source of randomness.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng.0
    }

    /// Stages one of the mode's events for the mutation being applied:
    /// every member sees it.
    #[inline]
    pub fn emit(&mut self, event: impl ModeValue) {
        let staged = self.out.push_game(event);
        self.out.stage(staged, None);
    }

    /// Stages an event only `audience` may see (hidden information: no
    /// frame to anyone else contains it). Sorted or not, repeated or not.
    pub fn emit_to(&mut self, audience: impl IntoIterator<Item = MemberId>, event: impl ModeValue) {
        let mut members: Vec<MemberId> = audience.into_iter().collect();
        members.sort_unstable();
        members.dedup();
        let staged = self.out.push_game(event);
        self.out.stage(staged, Some(members.into()));
    }

    pub(crate) fn emit_room(&mut self, event: DomainEvent) {
        self.out
            .stage(crate::resources::Staged::Room(Box::new(event)), None);
    }

    /// WRONG_PHASE unless the room is in one of `allowed`.
    #[inline]
    pub fn require_phase(&self, allowed: &[Phase], what: &str) -> Result<(), ErrorBody> {
        if allowed.contains(&self.meta.phase) {
            return Ok(());
        }
        let allowed_names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
        Err(ErrorBody::new(
            ErrorCode::WrongPhase,
            format!(
                "cannot {what} while the room is {}",
                self.meta.phase.as_str()
            ),
        )
        .with("phase", self.meta.phase.as_str())
        .with("allowed", allowed_names.join(",")))
    }

    /// Ends a mutation made outside an intent (a timer, an expiry): bumps
    /// the version and stamps the staged events with it and `origin`.
    pub fn commit(&mut self, origin: Origin) {
        self.meta.version += 1;
        let version = self.meta.version;
        self.out.emit_staged(origin, version);
    }
}

/// Runs a mode's intent through its handler, turning the answer into the
/// input's outcome.
pub(crate) fn outcome_of(result: Result<Applied, ErrorBody>) -> Outcome {
    match result {
        Ok(Applied::Changed) => Outcome::Applied,
        Ok(Applied::Duplicate) => Outcome::Duplicate,
        Err(e) => Outcome::Rejected(e),
    }
}
