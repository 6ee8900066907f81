//! Per-room configuration, carried by `create_room` and `joined`.
//!
//! Durations are in ticks: the server converts wall-clock durations from its
//! own config once, so nothing inside a room ever reads a clock.

use crate::error::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};

/// The game mode a room runs. Modes are appended as they are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GameMode {
    /// The shared board: pieces, locks, formations, dice, chat, match timer.
    #[default]
    Board,
}

/// A room's rules. Missing JSON fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    pub mode: GameMode,
    /// Ticks per second.
    pub tick_rate_hz: u16,
    /// Seats (players, host and spectators together).
    pub max_players: u16,
    /// Number of teams; 0 means no teams and every piece is unowned.
    pub teams: u8,
    /// Pieces each team owns.
    pub pieces_per_team: u16,
    /// Pieces owned by nobody, movable by any player.
    pub neutral_pieces: u16,
    /// Board size in board units; positions are `0..width` × `0..height`.
    pub board_width: i32,
    pub board_height: i32,
    /// Length of the match once started.
    pub match_ticks: u32,
    /// A lock not renewed (or moved with) for this long expires.
    pub lock_ttl_ticks: u32,
    /// An expired room is archived this long after expiry.
    pub auto_archive_ticks: u32,
    /// The state hash rides on the first delta at least this many ticks
    /// after the last delta that carried it.
    pub hash_every_ticks: u32,
    pub max_formations: u16,
    /// Chat lines a joiner receives in its snapshot.
    pub chat_history: u16,
    pub max_chat_chars: u16,
    pub max_name_chars: u16,
    /// Largest dice count and number of sides in one roll.
    pub max_dice: u16,
    pub max_dice_sides: u32,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            mode: GameMode::Board,
            tick_rate_hz: 20,
            max_players: 16,
            teams: 2,
            pieces_per_team: 8,
            neutral_pieces: 4,
            board_width: 1000,
            board_height: 1000,
            match_ticks: 20 * 60 * 10,
            lock_ttl_ticks: 20 * 5,
            auto_archive_ticks: 20 * 60 * 5,
            hash_every_ticks: 20,
            max_formations: 32,
            chat_history: 50,
            max_chat_chars: 500,
            max_name_chars: 32,
            max_dice: 100,
            max_dice_sides: 1000,
        }
    }
}

/// Hard bounds on config values: what a room may ask for at most.
pub mod bounds {
    pub const TICK_RATE_HZ: (u16, u16) = (1, 120);
    pub const MAX_PLAYERS: (u16, u16) = (1, 10_000);
    pub const TEAMS: (u8, u8) = (0, 64);
    pub const TOTAL_PIECES: (u32, u32) = (0, 100_000);
    pub const BOARD_SIDE: (i32, i32) = (1, 1_000_000_000);
    pub const MATCH_TICKS: (u32, u32) = (1, 120 * 86_400);
    pub const LOCK_TTL_TICKS: (u32, u32) = (1, 120 * 3_600);
    pub const AUTO_ARCHIVE_TICKS: (u32, u32) = (0, 120 * 86_400 * 30);
    pub const HASH_EVERY_TICKS: (u32, u32) = (1, 120 * 3_600);
    pub const MAX_FORMATIONS: (u16, u16) = (0, 1_024);
    pub const CHAT_HISTORY: (u16, u16) = (0, 1_000);
    pub const MAX_CHAT_CHARS: (u16, u16) = (1, 4_000);
    pub const MAX_NAME_CHARS: (u16, u16) = (1, 256);
    pub const MAX_DICE: (u16, u16) = (1, 1_000);
    pub const MAX_DICE_SIDES: (u32, u32) = (2, 1_000_000);
    /// `max_formations × pieces`: the most piece places a room's formations
    /// may hold, which bounds their memory and their share of a snapshot.
    pub const FORMATION_PLACES: (u32, u32) = (0, 1_000_000);
}

fn check<T: PartialOrd + Copy + Into<i64>>(
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
    /// Total number of pieces on the board.
    pub fn piece_count(&self) -> u32 {
        u32::from(self.teams) * u32::from(self.pieces_per_team) + u32::from(self.neutral_pieces)
    }

    /// Checks every value against [`bounds`]; the error names the key, the
    /// value and the allowed range.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        use bounds::*;
        check("tick_rate_hz", self.tick_rate_hz, TICK_RATE_HZ)?;
        check("max_players", self.max_players, MAX_PLAYERS)?;
        check("teams", self.teams, TEAMS)?;
        check("pieces", self.piece_count(), TOTAL_PIECES)?;
        check("board_width", self.board_width, BOARD_SIDE)?;
        check("board_height", self.board_height, BOARD_SIDE)?;
        check("match_ticks", self.match_ticks, MATCH_TICKS)?;
        check("lock_ttl_ticks", self.lock_ttl_ticks, LOCK_TTL_TICKS)?;
        check(
            "auto_archive_ticks",
            self.auto_archive_ticks,
            AUTO_ARCHIVE_TICKS,
        )?;
        check("hash_every_ticks", self.hash_every_ticks, HASH_EVERY_TICKS)?;
        check("max_formations", self.max_formations, MAX_FORMATIONS)?;
        check("chat_history", self.chat_history, CHAT_HISTORY)?;
        check("max_chat_chars", self.max_chat_chars, MAX_CHAT_CHARS)?;
        check("max_name_chars", self.max_name_chars, MAX_NAME_CHARS)?;
        check("max_dice", self.max_dice, MAX_DICE)?;
        check("max_dice_sides", self.max_dice_sides, MAX_DICE_SIDES)?;
        let places = u32::from(self.max_formations).saturating_mul(self.piece_count());
        check("max_formations × pieces", places, FORMATION_PLACES)?;
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
    fn formation_memory_is_bounded_by_formations_times_pieces() {
        let cfg = RoomConfig {
            max_formations: 1_024,
            neutral_pieces: 10_000,
            ..RoomConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert!(
            err.message.contains("max_formations × pieces"),
            "{}",
            err.message
        );
    }

    #[test]
    fn partial_json_config_takes_defaults() {
        let cfg: RoomConfig = serde_json::from_str(r#"{"teams": 3}"#).unwrap();
        assert_eq!(cfg.teams, 3);
        assert_eq!(cfg.tick_rate_hz, RoomConfig::default().tick_rate_hz);
    }
}
