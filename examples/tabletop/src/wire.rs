//! The tabletop's wire types: its settings, intents, events and state, as
//! clients see them (`docs/modes/tabletop.md`).

use serde::{Deserialize, Serialize};
use tickroom_protocol::MemberId;

/// The mode's name.
pub const MODE: &str = "tabletop";

/// A map cell: `0..map_width` × `0..map_height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    pub x: u32,
    pub y: u32,
}

/// A rectangle of cells: `x..x+w` × `y..y+h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn contains(&self, c: Cell) -> bool {
        c.x >= self.x
            && c.y >= self.y
            && u64::from(c.x) < u64::from(self.x) + u64::from(self.w)
            && u64::from(c.y) < u64::from(self.y) + u64::from(self.h)
    }
}

/// The mode's settings; missing keys take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The map is `map_width` × `map_height` cells.
    pub map_width: u32,
    pub map_height: u32,
    /// Tokens on the map at most.
    pub max_tokens: u16,
    /// Fog regions at most.
    pub max_regions: u16,
    pub max_token_name_chars: u16,
    /// Chat lines a joiner receives.
    pub chat_history: u16,
    pub max_chat_chars: u16,
    /// Largest dice count and number of sides in one roll.
    pub max_dice: u16,
    pub max_dice_sides: u32,
    /// Ticks a token lock lasts unless renewed (by moving the token or
    /// locking it again).
    pub lock_ttl_ticks: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            map_width: 40,
            map_height: 30,
            max_tokens: 200,
            max_regions: 32,
            max_token_name_chars: 32,
            chat_history: 50,
            max_chat_chars: 500,
            max_dice: 100,
            max_dice_sides: 1000,
            lock_ttl_ticks: 100,
        }
    }
}

/// What members ask. The director (the room's host) runs the table; a
/// player moves the tokens assigned to it, in its turn while initiative
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Director: a new token; `owner` is the player who may move it.
    PlaceToken {
        name: String,
        at: Cell,
        owner: Option<MemberId>,
    },
    /// The director, or the token's owner (in its turn while initiative runs).
    MoveToken {
        token: u32,
        to: Cell,
    },
    /// Director.
    RemoveToken {
        token: u32,
    },
    /// Director: who may move the token (`None`: only the director).
    AssignToken {
        token: u32,
        owner: Option<MemberId>,
    },
    /// Director: a fog region; the tokens in it vanish for players.
    AddFog {
        area: Rect,
    },
    /// Director: lifts a region's fog; players see what it hid.
    Reveal {
        region: u32,
    },
    /// Director: covers a region again.
    Cover {
        region: u32,
    },
    /// Director: starts initiative, or reorders it, with this turn order
    /// (members; the first one's turn).
    SetInitiative {
        order: Vec<MemberId>,
    },
    /// Director: the next member's turn (a new round after the last).
    NextTurn {},
    /// The member whose turn it is hands the turn on.
    EndTurn {},
    /// Director: back to free play.
    EndInitiative {},
    /// Dice notation `NdS`, `NdS+M`, `NdS-M`; a private roll reaches only
    /// the roller and the director.
    Roll {
        notation: String,
        private: bool,
    },
    Chat {
        text: String,
    },
    /// Who may move the token locks it while dragging it: nobody else
    /// moves it until it is unlocked or the lock expires. Locking one's own
    /// locked token renews the lock.
    LockToken {
        token: u32,
    },
    /// The lock's holder lets go.
    UnlockToken {
        token: u32,
    },
}

/// A token as a member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: u32,
    pub name: String,
    pub at: Cell,
    pub owner: Option<MemberId>,
}

/// A held token lock.
pub type TokenLock = tickroom_sim::parts::locks::Entry<u32>;

/// Why a token lock ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlockReason {
    Released,
    Expired,
    HolderLeft,
    HolderDisconnected,
    TokenRemoved,
}

/// A fog region: its area, and whether it is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionView {
    pub id: u32,
    pub area: Rect,
    pub revealed: bool,
}

/// Turn order while initiative runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Initiative {
    pub order: Vec<MemberId>,
    /// Index into `order` of whose turn it is.
    pub current: u32,
    /// Starts at 1.
    pub round: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub tick: u64,
    pub member: MemberId,
    pub text: String,
}

/// What happened. Players never get an event about a token they cannot
/// see: a token moving inside fog is the director's alone, one leaving
/// the fog `appears` for them, one entering it `vanishes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    TokenPlaced {
        token: TokenView,
    },
    TokenMoved {
        token: u32,
        to: Cell,
    },
    TokenRemoved {
        token: u32,
    },
    TokenAssigned {
        token: u32,
        owner: Option<MemberId>,
    },
    /// A token came into view (moved out of fog, or its region revealed).
    TokenAppeared {
        token: TokenView,
    },
    /// A token went out of view (moved into fog, or its region covered).
    TokenVanished {
        token: u32,
    },
    FogAdded {
        region: RegionView,
    },
    RegionRevealed {
        region: u32,
    },
    RegionCovered {
        region: u32,
    },
    /// Initiative started or was reordered.
    TurnOrder {
        initiative: Initiative,
    },
    TurnChanged {
        member: MemberId,
        round: u32,
    },
    InitiativeEnded {},
    DiceRolled {
        member: MemberId,
        notation: String,
        rolls: Vec<u32>,
        modifier: i32,
        total: i64,
        private: bool,
    },
    ChatPosted {
        member: MemberId,
        text: String,
    },
    /// A token was locked, or its lock renewed by its holder.
    TokenLocked {
        lock: TokenLock,
    },
    /// A token's lock ended.
    TokenUnlocked {
        token: u32,
        holder: MemberId,
        reason: UnlockReason,
    },
}

/// The table as a member sees it: a player gets no token under fog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub map_width: u32,
    pub map_height: u32,
    pub tokens: Vec<TokenView>,
    pub regions: Vec<RegionView>,
    pub initiative: Option<Initiative>,
    pub chat: Vec<ChatLine>,
    /// True for the director's view (everything).
    pub sees_all: bool,
    /// Locks of the tokens in this view, by token.
    pub locks: Vec<TokenLock>,
}
