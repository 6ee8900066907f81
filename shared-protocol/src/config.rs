//! Per-room configuration, carried by `create_room` and `joined`.
//!
//! Durations are in ticks: the server converts wall-clock durations from its
//! own config once, so nothing inside a room ever reads a clock.

use crate::error::{ErrorBody, ErrorCode};
use crate::payload::{Payload, merged_json, split_json};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A room's rules: the framework's settings, then its mode's. In JSON the
/// mode's settings sit beside the framework's in one object
/// (`{"mode": "board", "tick_rate_hz": 20, "pieces_per_team": 8}`);
/// missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomConfig {
    /// The room's game mode; empty means the server's default mode.
    pub mode: String,
    /// Ticks per second.
    pub tick_rate_hz: u16,
    /// Seats (players, host and spectators together).
    pub max_players: u16,
    /// Number of teams; 0 means no teams.
    pub teams: u8,
    /// Length of the match once started.
    pub match_ticks: u32,
    /// An expired room is archived this long after expiry.
    pub auto_archive_ticks: u32,
    /// The state hash rides on the first delta at least this many ticks
    /// after the last delta that carried it.
    pub hash_every_ticks: u32,
    pub max_name_chars: u16,
    /// The mode's own settings (see `docs/modes/`).
    pub game: Payload,
}

/// The framework's fields of [`RoomConfig`], as they are encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Fields {
    mode: String,
    tick_rate_hz: u16,
    max_players: u16,
    teams: u8,
    match_ticks: u32,
    auto_archive_ticks: u32,
    hash_every_ticks: u32,
    max_name_chars: u16,
}

/// The JSON keys the framework owns; every other key is the mode's.
pub const FRAMEWORK_KEYS: &[&str] = &[
    "mode",
    "tick_rate_hz",
    "max_players",
    "teams",
    "match_ticks",
    "auto_archive_ticks",
    "hash_every_ticks",
    "max_name_chars",
];

impl Default for Fields {
    fn default() -> Self {
        let c = RoomConfig::default();
        Fields {
            mode: c.mode,
            tick_rate_hz: c.tick_rate_hz,
            max_players: c.max_players,
            teams: c.teams,
            match_ticks: c.match_ticks,
            auto_archive_ticks: c.auto_archive_ticks,
            hash_every_ticks: c.hash_every_ticks,
            max_name_chars: c.max_name_chars,
        }
    }
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            mode: String::new(),
            tick_rate_hz: 20,
            max_players: 16,
            teams: 2,
            match_ticks: 20 * 60 * 10,
            auto_archive_ticks: 20 * 60 * 5,
            hash_every_ticks: 20,
            max_name_chars: 32,
            game: Payload::empty(),
        }
    }
}

impl RoomConfig {
    fn fields(&self) -> Fields {
        Fields {
            mode: self.mode.clone(),
            tick_rate_hz: self.tick_rate_hz,
            max_players: self.max_players,
            teams: self.teams,
            match_ticks: self.match_ticks,
            auto_archive_ticks: self.auto_archive_ticks,
            hash_every_ticks: self.hash_every_ticks,
            max_name_chars: self.max_name_chars,
        }
    }

    fn from_fields(f: Fields, game: Payload) -> RoomConfig {
        RoomConfig {
            mode: f.mode,
            tick_rate_hz: f.tick_rate_hz,
            max_players: f.max_players,
            teams: f.teams,
            match_ticks: f.match_ticks,
            auto_archive_ticks: f.auto_archive_ticks,
            hash_every_ticks: f.hash_every_ticks,
            max_name_chars: f.max_name_chars,
            game,
        }
    }
}

impl Serialize for RoomConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            merged_json(self.fields(), &self.game, s)
        } else {
            (self.fields(), &self.game).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for RoomConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (fields, game) = if d.is_human_readable() {
            split_json(d, FRAMEWORK_KEYS)?
        } else {
            <(Fields, Payload)>::deserialize(d)?
        };
        Ok(RoomConfig::from_fields(fields, game))
    }
}

/// Hard bounds on the framework's config values: what a room may ask for
/// at most.
pub mod bounds {
    pub const TICK_RATE_HZ: (u16, u16) = (1, 120);
    pub const MAX_PLAYERS: (u16, u16) = (1, 10_000);
    pub const TEAMS: (u8, u8) = (0, 64);
    pub const MATCH_TICKS: (u32, u32) = (1, 120 * 86_400);
    pub const AUTO_ARCHIVE_TICKS: (u32, u32) = (0, 120 * 86_400 * 30);
    pub const HASH_EVERY_TICKS: (u32, u32) = (1, 120 * 3_600);
    pub const MAX_NAME_CHARS: (u16, u16) = (1, 256);
}

/// INVALID_CONFIG unless `min <= value <= max`; the error names the key,
/// the value and the allowed range. Modes use it for their own settings.
pub fn check<T: PartialOrd + Copy + Into<i64>>(
    key: &str,
    value: T,
    (min, max): (T, T),
) -> Result<(), ErrorBody> {
    if value < min || value > max {
        return Err(ErrorBody::new(
            ErrorCode::InvalidConfig,
            format!(
                "room config `{key}` = {} is outside {}..={}",
                value.into(),
                min.into(),
                max.into()
            ),
        )
        .with("key", key)
        .with("value", value.into())
        .with("min", min.into())
        .with("max", max.into()));
    }
    Ok(())
}

impl RoomConfig {
    /// Checks the framework's values against [`bounds`]; the mode checks
    /// its own.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        use bounds::*;
        check("tick_rate_hz", self.tick_rate_hz, TICK_RATE_HZ)?;
        check("max_players", self.max_players, MAX_PLAYERS)?;
        check("teams", self.teams, TEAMS)?;
        check("match_ticks", self.match_ticks, MATCH_TICKS)?;
        check(
            "auto_archive_ticks",
            self.auto_archive_ticks,
            AUTO_ARCHIVE_TICKS,
        )?;
        check("hash_every_ticks", self.hash_every_ticks, HASH_EVERY_TICKS)?;
        check("max_name_chars", self.max_name_chars, MAX_NAME_CHARS)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(RoomConfig::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_value_names_key_value_and_range() {
        let cfg = RoomConfig {
            tick_rate_hz: 0,
            ..RoomConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert!(err.message.contains("tick_rate_hz"), "{}", err.message);
        assert_eq!(err.details["value"], crate::DetailValue::Int(0));
        assert_eq!(err.details["min"], crate::DetailValue::Int(1));
    }

    #[test]
    fn partial_json_config_takes_defaults() {
        let cfg: RoomConfig =
            serde_json::from_str(r#"{"teams": 3, "pieces_per_team": 2}"#).unwrap();
        assert_eq!(cfg.teams, 3);
        assert_eq!(cfg.tick_rate_hz, RoomConfig::default().tick_rate_hz);
        assert_eq!(
            cfg.game.to_json_value().unwrap(),
            serde_json::json!({"pieces_per_team": 2})
        );
        let back = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["pieces_per_team"], 2);
        assert_eq!(back["teams"], 3);
        let bytes = postcard::to_stdvec(&RoomConfig::default()).unwrap();
        assert_eq!(
            postcard::from_bytes::<RoomConfig>(&bytes).unwrap(),
            RoomConfig::default()
        );
    }
}
