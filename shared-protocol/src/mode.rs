//! What the framework knows of a game mode without knowing its types: its
//! name and version, and one row of metadata per intent kind.

use crate::walk::Variant;
use serde::{Deserialize, Serialize};

/// The rate-limit bucket a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateClass {
    Moves,
    Actions,
    Chat,
    Cursors,
}

/// One intent kind of a mode: read by rate limiting, the tick driver and
/// the journal, so that no other place decides what an intent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentSpec {
    /// The variant's name: its JSON tag and its name in scenario files.
    pub name: &'static str,
    pub rate: RateClass,
    /// Acknowledged only once the store has committed the tick that applied
    /// it (a formation save): the client's ack means it survives a crash.
    pub durable: bool,
    /// Written to the audit table with the user who asked.
    pub audited: bool,
}

/// A mode's intent kinds, in the order of its intent enum's variants.
#[derive(Debug, Clone, Copy)]
pub struct IntentTable(pub &'static [IntentSpec]);

impl IntentTable {
    /// The row of a payload's variant, by postcard index or JSON name.
    pub fn find(&self, variant: &Variant) -> Option<&'static IntentSpec> {
        match variant {
            Variant::Index(i) | Variant::Both { index: i, .. } => self.0.get(*i as usize),
            Variant::Name(n) => self.0.iter().find(|s| s.name == n),
        }
    }
}

/// A mode a server serves, as `welcome` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeInfo {
    pub name: String,
    pub version: u32,
}
