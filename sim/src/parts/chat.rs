//! Chat: one rule for every line ([`check_chat`]) and the last lines a room
//! keeps for joiners ([`History`]).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

pub use crate::names::check_chat;

/// The newest lines, oldest first, at most `keep` of them (the mode's
/// `chat_history` setting). Encodes as a plain list, in both codecs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History<L> {
    lines: VecDeque<L>,
}

impl<L> Default for History<L> {
    fn default() -> Self {
        History {
            lines: VecDeque::new(),
        }
    }
}

impl<L> History<L> {
    /// Appends `line`, dropping the oldest lines beyond `keep`.
    pub fn push(&mut self, line: L, keep: usize) {
        self.lines.push_back(line);
        while self.lines.len() > keep {
            self.lines.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &L> {
        self.lines.iter()
    }
}

impl<L> FromIterator<L> for History<L> {
    fn from_iter<I: IntoIterator<Item = L>>(lines: I) -> Self {
        History {
            lines: lines.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_keeps_the_newest_lines_and_encodes_as_a_list() {
        let mut h = History::default();
        for i in 0..5 {
            h.push(i, 3);
        }
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        h.push(5, 0);
        assert!(h.is_empty());
        let h: History<u8> = [1, 2].into_iter().collect();
        assert_eq!(
            postcard::to_allocvec(&h).unwrap(),
            postcard::to_allocvec(&vec![1u8, 2]).unwrap()
        );
        assert_eq!(serde_json::to_string(&h).unwrap(), "[1,2]");
    }
}
