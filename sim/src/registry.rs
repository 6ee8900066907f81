//! The modes a server serves: [`ModeHandle`] is a [`Mode`] with its types
//! erased, so rooms of every mode live side by side; [`Modes`] is the list
//! a server was built with, and the one place a mode is looked up by name.

use crate::input::Input;
use crate::mode::Mode;
use crate::room::{GameRoom, Room};
use crate::snapshot::{Canonical, SnapshotError, SnapshotHeader};
use std::marker::PhantomData;
use std::sync::Arc;
use tickroom_protocol::walk::check_value;
use tickroom_protocol::{
    ErrorBody, ErrorCode, IntentTable, Limits, ModeCode, ModeCodeEntry, ModeInfo, Payload,
    RoomConfig, RoomId,
};

/// A mode with its types erased.
pub trait ModeHandle: Send + Sync + std::fmt::Debug + 'static {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    /// True when this build can run a room stored by `version` of the mode.
    fn reads(&self, version: u32) -> bool;
    fn intents(&self) -> IntentTable;
    fn error_codes(&self) -> &'static [ModeCodeEntry];
    /// The JSON names of the mode's events, in index order.
    fn event_names(&self) -> &'static [&'static str];
    /// The mode's default settings, as JSON (for docs and the API).
    fn default_config(&self) -> serde_json::Value;
    /// The config with the mode's settings decoded, checked and filled in
    /// with defaults; `mode` set to this mode's name.
    fn normalize_config(&self, config: &RoomConfig) -> Result<RoomConfig, ErrorBody>;
    /// A new room.
    fn create(&self, id: RoomId, config: RoomConfig, seed: u64) -> Result<Room, ErrorBody>;
    /// A room from a snapshot from outside (the store, a file): checked.
    fn restore(&self, bytes: &[u8]) -> Result<Room, SnapshotError>;
    /// A room from a snapshot this process made (a frozen room).
    fn restore_unchecked(&self, bytes: &[u8]) -> Result<Room, SnapshotError>;
    /// A client's intent payload as the mode's typed intent, its strings
    /// and lists checked against the decode limits first:
    /// `MALFORMED`, `FIELD_TOO_LONG` or `UNKNOWN_INTENT` when it is not.
    fn decode_intent(&self, payload: &Payload, limits: &Limits) -> Result<Payload, ErrorBody>;
    /// A logged input ([`Input::encode`]).
    fn decode_input(&self, bytes: &[u8]) -> Result<Input, String>;
    /// A scenario line's intent: the mode's own words, or else the generic
    /// form `VERB key=value…` where VERB is an intent's name (`None`: no
    /// intent of this mode is called `verb`).
    fn scenario_intent(&self, verb: &str, args: &[&str]) -> Option<Result<Payload, String>>;
    /// The words an exported intent is written with.
    fn scenario_words(&self, intent: &Payload) -> Result<String, String>;
    /// Whether a cursor at `pos` in a room with `config` is relayed.
    fn cursor_ok(&self, config: &RoomConfig, pos: tickroom_protocol::Pos) -> bool;
    fn info(&self) -> ModeInfo {
        ModeInfo {
            name: self.name().to_owned(),
            version: self.version(),
        }
    }
}

/// A shared handle on a mode.
pub type ModeRef = Arc<dyn ModeHandle>;

/// The erased form of mode `M`.
pub struct ModeEntry<M: Mode>(PhantomData<fn() -> M>);

impl<M: Mode> std::fmt::Debug for ModeEntry<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", M::NAME, M::VERSION)
    }
}

/// The handle of mode `M`.
pub fn mode<M: Mode>() -> ModeRef {
    Arc::new(ModeEntry::<M>(PhantomData))
}

fn decode_config<M: Mode>(config: &RoomConfig) -> Result<M::Config, ErrorBody> {
    if let Some(typed) = config.game.downcast_ref::<M::Config>() {
        return Ok(typed.clone());
    }
    config.game.decode::<M::Config>().map_err(|e| {
        ErrorBody::new(
            ErrorCode::InvalidConfig,
            format!("the {} mode's settings do not decode: {e}", M::NAME),
        )
        .with("mode", M::NAME)
    })
}

impl<M: Mode> ModeEntry<M> {
    fn unavailable(&self, header: &SnapshotHeader) -> SnapshotError {
        SnapshotError::ModeUnavailable {
            mode: header.mode.clone(),
            version: header.mode_version,
            served: format!("{} {}", M::NAME, M::VERSION),
        }
    }

    fn restore_with(&self, bytes: &[u8], checked: bool) -> Result<Room, SnapshotError> {
        let (header, _) = SnapshotHeader::read(bytes)?;
        if header.mode != M::NAME || !self.reads(header.mode_version) {
            return Err(self.unavailable(&header));
        }
        let (state, epoch) = if checked {
            Canonical::<M>::decode(bytes)?
        } else {
            Canonical::<M>::decode_unchecked(bytes)?
        };
        let room = GameRoom::<M>::from_state(state, epoch);
        if checked
            && !Canonical::<M>::is_canonical_snapshot(crate::room::AnyRoom::world(&room), bytes)
        {
            return Err(SnapshotError::Corrupt(
                "not in canonical form (unsorted or repeated entries)".into(),
            ));
        }
        Ok(Room::from_parts(Box::new(room), mode::<M>()))
    }
}

impl<M: Mode> ModeHandle for ModeEntry<M> {
    fn name(&self) -> &'static str {
        M::NAME
    }

    fn version(&self) -> u32 {
        M::VERSION
    }

    fn reads(&self, version: u32) -> bool {
        (M::OLDEST_READABLE..=M::VERSION).contains(&version)
    }

    fn intents(&self) -> IntentTable {
        IntentTable(M::INTENTS)
    }

    fn error_codes(&self) -> &'static [ModeCodeEntry] {
        M::ERROR_CODES
    }

    fn event_names(&self) -> &'static [&'static str] {
        tickroom_protocol::walk::variant_names::<M::Event>().unwrap_or_default()
    }

    fn default_config(&self) -> serde_json::Value {
        serde_json::to_value(M::Config::default()).unwrap_or_default()
    }

    fn normalize_config(&self, config: &RoomConfig) -> Result<RoomConfig, ErrorBody> {
        let game = decode_config::<M>(config)?;
        config.validate()?;
        M::validate_config(config, &game)?;
        Ok(RoomConfig {
            mode: M::NAME.to_owned(),
            game: Payload::of(game),
            ..config.clone()
        })
    }

    fn create(&self, id: RoomId, config: RoomConfig, seed: u64) -> Result<Room, ErrorBody> {
        let game = decode_config::<M>(&config)?;
        config.validate()?;
        M::validate_config(&config, &game)?;
        let framework = RoomConfig {
            mode: M::NAME.to_owned(),
            game: Payload::empty(),
            ..config
        };
        let state = Canonical::<M>::initial(id, framework, game, seed);
        let room = GameRoom::<M>::from_state(state, 0);
        Ok(Room::from_parts(Box::new(room), mode::<M>()))
    }

    fn restore(&self, bytes: &[u8]) -> Result<Room, SnapshotError> {
        self.restore_with(bytes, true)
    }

    fn restore_unchecked(&self, bytes: &[u8]) -> Result<Room, SnapshotError> {
        self.restore_with(bytes, false)
    }

    fn decode_intent(&self, payload: &Payload, limits: &Limits) -> Result<Payload, ErrorBody> {
        if payload.downcast_ref::<M::Intent>().is_some() {
            return Ok(payload.clone());
        }
        let unknown = || {
            ErrorBody::new(
                ErrorCode::UnknownIntent,
                format!("this room plays {}, which has no such intent", M::NAME),
            )
            .with("mode", M::NAME)
        };
        // A typed payload of another type is another mode's intent; a
        // received one names its variant (JSON by name, postcard by index:
        // postcard carries no names, so another mode's intent with an index
        // this mode has decodes or fails as this mode's).
        let known = payload
            .variant()
            .is_some_and(|v| IntentTable(M::INTENTS).find(&v).is_some());
        if payload.is_typed() || !known {
            return Err(unknown());
        }
        let intent: M::Intent = payload.decode().map_err(|e| e.to_error_body())?;
        check_value(&intent, limits).map_err(|e| e.to_error_body())?;
        Ok(Payload::of(intent))
    }

    fn decode_input(&self, bytes: &[u8]) -> Result<Input, String> {
        Input::decode::<M::Intent>(bytes).map_err(|e| e.to_string())
    }

    fn scenario_intent(&self, verb: &str, args: &[&str]) -> Option<Result<Payload, String>> {
        if let Some(own) = M::scenario_intent(verb, args) {
            return Some(own.map(Payload::of));
        }
        if !M::INTENTS.iter().any(|s| s.name == verb) {
            return None;
        }
        let json = match crate::scenario::generic_intent(verb, args) {
            Ok(json) => json,
            Err(e) => return Some(Err(e)),
        };
        let intent = Payload::from_json(&json)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                self.decode_intent(&p, &Limits::SERVER_FRAMES)
                    .map_err(|e| e.message)
            });
        Some(intent)
    }

    fn scenario_words(&self, intent: &Payload) -> Result<String, String> {
        let typed: M::Intent = intent.decode().map_err(|e| e.to_string())?;
        match M::scenario_words(&typed) {
            Some(words) => Ok(words),
            None => crate::scenario::generic_words(&typed),
        }
    }

    fn cursor_ok(&self, config: &RoomConfig, pos: tickroom_protocol::Pos) -> bool {
        config
            .game
            .downcast_ref::<M::Config>()
            .is_some_and(|c| M::cursor_ok(c, pos))
    }
}

/// The modes a server serves, the first being its default.
#[derive(Debug, Clone)]
pub struct Modes {
    list: Vec<ModeRef>,
}

/// A mode's name: 1 to 64 characters from `[a-z0-9_-]`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Modes {
    /// No modes yet; [`Modes::add`] them.
    pub fn empty() -> Modes {
        Modes { list: Vec::new() }
    }

    /// The modes built into the sim: the board.
    pub fn builtin() -> Modes {
        let mut modes = Modes::empty();
        modes
            .add(mode::<crate::board::Board>())
            .unwrap_or_else(|e| panic!("the built-in modes register: {e}"));
        modes
    }

    /// Adds a mode (and its error codes to the catalog). A second mode of
    /// the same name, a name outside `[a-z0-9_-]{1,64}`, or an error code
    /// that clashes is refused.
    pub fn add(&mut self, mode: ModeRef) -> Result<(), String> {
        if !valid_name(mode.name()) {
            return Err(format!(
                "mode name {:?} is not 1 to 64 characters from [a-z0-9_-]",
                mode.name()
            ));
        }
        if self.get(mode.name()).is_some() {
            return Err(format!("mode {} is registered twice", mode.name()));
        }
        // A mode event named like a framework event would read back, from
        // JSON, as the framework's.
        for name in mode.event_names() {
            if tickroom_protocol::DomainEvent::NAMES.contains(name) {
                return Err(format!(
                    "mode {}: event {name} has a framework event's name",
                    mode.name()
                ));
            }
        }
        ModeCode::register(mode.error_codes())?;
        self.list.push(mode);
        Ok(())
    }

    /// Makes `name` the default mode (moves it first).
    pub fn set_default(&mut self, name: &str) -> Result<(), String> {
        let i = self
            .list
            .iter()
            .position(|m| m.name() == name)
            .ok_or_else(|| format!("no mode named {name:?}; modes: {}", self.names()))?;
        let m = self.list.remove(i);
        self.list.insert(0, m);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ModeRef> {
        self.list.iter().find(|m| m.name() == name)
    }

    /// The default mode.
    pub fn default_mode(&self) -> Option<&ModeRef> {
        self.list.first()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ModeRef> {
        self.list.iter()
    }

    /// The names, comma-separated, for messages.
    pub fn names(&self) -> String {
        self.list
            .iter()
            .map(|m| format!("{} {}", m.name(), m.version()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What `welcome` lists.
    pub fn infos(&self) -> Vec<ModeInfo> {
        self.list.iter().map(|m| m.info()).collect()
    }

    /// The mode a config names; empty names the default mode.
    /// `MODE_UNAVAILABLE` when this server does not serve it.
    pub fn resolve(&self, name: &str) -> Result<&ModeRef, ErrorBody> {
        let found = if name.is_empty() {
            self.default_mode()
        } else {
            self.get(name)
        };
        found.ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::ModeUnavailable,
                format!(
                    "this server does not serve the mode {name:?}; it serves {}",
                    self.names()
                ),
            )
            .with("mode", name)
            .with("served", self.names())
        })
    }

    /// A new room of the mode its config names.
    pub fn create_room(
        &self,
        id: RoomId,
        config: RoomConfig,
        seed: u64,
    ) -> Result<Room, ErrorBody> {
        self.resolve(&config.mode)?.create(id, config, seed)
    }

    /// A room from a snapshot of any mode this server serves.
    pub fn restore(&self, bytes: &[u8]) -> Result<Room, SnapshotError> {
        let (header, _) = SnapshotHeader::read(bytes)?;
        self.for_stored(&header.mode, header.mode_version)?
            .restore(bytes)
    }

    /// The mode of a stored room, when this build serves that version of it.
    pub fn for_stored(&self, name: &str, version: u32) -> Result<&ModeRef, SnapshotError> {
        self.get(name)
            .filter(|m| m.reads(version))
            .ok_or_else(|| SnapshotError::ModeUnavailable {
                mode: name.to_owned(),
                version,
                served: self.names(),
            })
    }
}
