//! The board's resources: piece index, locks, formations, chat.

use bevy_ecs::entity::Entity;
use std::collections::{BTreeMap, VecDeque};
use tickroom_protocol::board::{ChatLine, Placement};
use tickroom_protocol::{MemberId, PieceId, TeamId};

/// Piece id → entity; piece ids are dense and pieces are never despawned.
#[derive(Debug, Clone, Default)]
pub struct PieceIndex(pub Vec<Entity>);

impl PieceIndex {
    pub fn get(&self, id: PieceId) -> Option<Entity> {
        self.0.get(id.0 as usize).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    pub key: String,
    pub saved_by: MemberId,
    /// The saver's team; only that team may overwrite the formation.
    pub team: Option<TeamId>,
    pub placements: Vec<Placement>,
}

/// How many save keys a room remembers beyond those of its formations.
pub const REMEMBERED_KEYS: usize = 256;

/// One remembered save: who used which key for which formation name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyUse {
    pub member: MemberId,
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Formations {
    pub by_name: BTreeMap<String, Formation>,
    /// Recent saves, oldest first, bounded by [`REMEMBERED_KEYS`].
    pub recent_keys: VecDeque<KeyUse>,
}

impl Formations {
    /// The formation name `member` saved with `key`, if the room remembers it.
    /// Keys are scoped to the member, so clients may number them freely.
    pub fn key_use(&self, member: MemberId, key: &str) -> Option<&str> {
        let live = self
            .by_name
            .iter()
            .find(|(_, f)| f.saved_by == member && f.key == key)
            .map(|(name, _)| name.as_str());
        live.or_else(|| {
            self.recent_keys
                .iter()
                .find(|k| k.member == member && k.key == key)
                .map(|k| k.name.as_str())
        })
    }

    pub fn remember_key(&mut self, member: MemberId, key: &str, name: &str) {
        if self.recent_keys.len() == REMEMBERED_KEYS {
            self.recent_keys.pop_front();
        }
        self.recent_keys.push_back(KeyUse {
            member,
            key: key.to_owned(),
            name: name.to_owned(),
        });
    }
}

/// The board's piece locks.
pub type PieceLocks = crate::parts::locks::Locks<PieceId>;

/// The last `chat_history` chat lines, sent to joiners.
pub type ChatLog = crate::parts::chat::History<ChatLine>;
