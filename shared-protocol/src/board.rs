//! The wire types of the built-in `board` mode: a shared board of pieces
//! under locks, formations, dice and chat. They travel as [`Payload`]s
//! inside the framework's messages; `docs/modes/board.md` documents them.
//!
//! Compatibility: these enums and structs are also the encoding of every
//! stored board room's log and snapshots, so they only grow at the end.
//!
//! [`Payload`]: crate::Payload

use crate::error::ErrorBody;
use crate::ids::{MemberId, PieceId, Pos, TeamId};
use crate::mode::{IntentSpec, RateClass};
use serde::{Deserialize, Serialize};

/// The mode's name in configs, `welcome` and the store.
pub const MODE: &str = "board";

/// What a member asks the board to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Needs the piece's lock; moving renews the lock.
    MovePiece {
        piece: PieceId,
        to: Pos,
    },
    TakeLock {
        piece: PieceId,
    },
    RenewLock {
        piece: PieceId,
    },
    ReleaseLock {
        piece: PieceId,
    },
    /// Saves the positions of the member's team's pieces under `name`;
    /// a repeated `key` is acknowledged without saving again.
    SaveFormation {
        name: String,
        key: String,
    },
    /// Moves the formation's pieces to their saved places, all or nothing.
    ApplyFormation {
        name: String,
    },
    /// Dice notation `NdS`, `NdS+M` or `NdS-M`, e.g. `2d6+1`.
    RollDice {
        notation: String,
    },
    Chat {
        text: String,
    },
    StartMatch {},
    ArchiveRoom {},
}

const fn spec(name: &'static str, rate: RateClass) -> IntentSpec {
    IntentSpec {
        name,
        rate,
        durable: false,
        audited: false,
    }
}

/// One row per [`Intent`] variant, in variant order.
pub const INTENTS: &[IntentSpec] = &[
    spec("move_piece", RateClass::Moves),
    spec("take_lock", RateClass::Moves),
    spec("renew_lock", RateClass::Moves),
    spec("release_lock", RateClass::Moves),
    IntentSpec {
        durable: true,
        audited: true,
        ..spec("save_formation", RateClass::Actions)
    },
    spec("apply_formation", RateClass::Actions),
    spec("roll_dice", RateClass::Actions),
    spec("chat", RateClass::Chat),
    IntentSpec {
        audited: true,
        ..spec("start_match", RateClass::Actions)
    },
    IntentSpec {
        audited: true,
        ..spec("archive_room", RateClass::Actions)
    },
];

impl Intent {
    /// A short stable name, for logs, metrics and scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::MovePiece { .. } => "move_piece",
            Intent::TakeLock { .. } => "take_lock",
            Intent::RenewLock { .. } => "renew_lock",
            Intent::ReleaseLock { .. } => "release_lock",
            Intent::SaveFormation { .. } => "save_formation",
            Intent::ApplyFormation { .. } => "apply_formation",
            Intent::RollDice { .. } => "roll_dice",
            Intent::Chat { .. } => "chat",
            Intent::StartMatch {} => "start_match",
            Intent::ArchiveRoom {} => "archive_room",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    Released,
    Expired,
    HolderLeft,
    HolderDisconnected,
    /// The match ended or the room was archived.
    PhaseEnded,
    /// The holder changed team.
    TeamChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockView {
    pub holder: MemberId,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceView {
    pub id: PieceId,
    pub team: Option<TeamId>,
    pub pos: Pos,
    pub lock: Option<LockView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub piece: PieceId,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub tick: u64,
    pub member: MemberId,
    pub text: String,
}

/// The board as a joiner sees it; in JSON its fields sit beside the
/// framework's in `joined.state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub pieces: Vec<PieceView>,
    pub formations: Vec<String>,
    pub chat: Vec<ChatLine>,
}

/// One thing that happened on the board. Appended, never reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    PieceMoved {
        piece: PieceId,
        to: Pos,
    },
    LockTaken {
        piece: PieceId,
        holder: MemberId,
        expires_at: u64,
    },
    LockRenewed {
        piece: PieceId,
        holder: MemberId,
        expires_at: u64,
    },
    LockReleased {
        piece: PieceId,
        holder: MemberId,
        reason: ReleaseReason,
    },
    FormationSaved {
        name: String,
        by: MemberId,
        pieces: u32,
    },
    FormationApplied {
        name: String,
        placements: Vec<Placement>,
    },
    DiceRolled {
        member: MemberId,
        notation: String,
        rolls: Vec<u32>,
        modifier: i32,
        total: i64,
    },
    ChatPosted {
        member: MemberId,
        text: String,
    },
}

/// The board's settings; in JSON they sit beside the framework's in a
/// room config. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Pieces each team owns.
    pub pieces_per_team: u16,
    /// Pieces owned by nobody, movable by any player.
    pub neutral_pieces: u16,
    /// Board size in board units; positions are `0..width` × `0..height`.
    pub board_width: i32,
    pub board_height: i32,
    /// A lock not renewed (or moved with) for this long expires.
    pub lock_ttl_ticks: u32,
    pub max_formations: u16,
    /// Chat lines a joiner receives in its snapshot.
    pub chat_history: u16,
    pub max_chat_chars: u16,
    /// Largest dice count and number of sides in one roll.
    pub max_dice: u16,
    pub max_dice_sides: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pieces_per_team: 8,
            neutral_pieces: 4,
            board_width: 1000,
            board_height: 1000,
            lock_ttl_ticks: 20 * 5,
            max_formations: 32,
            chat_history: 50,
            max_chat_chars: 500,
            max_dice: 100,
            max_dice_sides: 1000,
        }
    }
}

/// Hard bounds on the board's config values.
pub mod bounds {
    pub const TOTAL_PIECES: (u32, u32) = (0, 100_000);
    pub const BOARD_SIDE: (i32, i32) = (1, 1_000_000_000);
    pub const LOCK_TTL_TICKS: (u32, u32) = (1, 120 * 3_600);
    pub const MAX_FORMATIONS: (u16, u16) = (0, 1_024);
    pub const CHAT_HISTORY: (u16, u16) = (0, 1_000);
    pub const MAX_CHAT_CHARS: (u16, u16) = (1, 4_000);
    pub const MAX_DICE: (u16, u16) = (1, 1_000);
    pub const MAX_DICE_SIDES: (u32, u32) = (2, 1_000_000);
    /// `max_formations × pieces`: the most piece places a room's formations
    /// may hold, which bounds their memory and their share of a snapshot.
    pub const FORMATION_PLACES: (u32, u32) = (0, 1_000_000);
}

impl Config {
    /// Total number of pieces on the board, for `teams` teams.
    pub fn piece_count(&self, teams: u8) -> u32 {
        u32::from(teams) * u32::from(self.pieces_per_team) + u32::from(self.neutral_pieces)
    }

    /// Checks every value against [`bounds`]; `teams` is the room's.
    pub fn validate(&self, teams: u8) -> Result<(), ErrorBody> {
        use crate::config::check;
        use bounds::*;
        check("pieces", self.piece_count(teams), TOTAL_PIECES)?;
        check("board_width", self.board_width, BOARD_SIDE)?;
        check("board_height", self.board_height, BOARD_SIDE)?;
        check("lock_ttl_ticks", self.lock_ttl_ticks, LOCK_TTL_TICKS)?;
        check("max_formations", self.max_formations, MAX_FORMATIONS)?;
        check("chat_history", self.chat_history, CHAT_HISTORY)?;
        check("max_chat_chars", self.max_chat_chars, MAX_CHAT_CHARS)?;
        check("max_dice", self.max_dice, MAX_DICE)?;
        check("max_dice_sides", self.max_dice_sides, MAX_DICE_SIDES)?;
        let places = u32::from(self.max_formations).saturating_mul(self.piece_count(teams));
        check("max_formations × pieces", places, FORMATION_PLACES)?;
        Ok(())
    }
}
