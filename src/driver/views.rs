//! Who sees what of a tick. In a mode that hides things (a tabletop's fog,
//! private rolls) each member gets the delta with only the events it may
//! see, and the state hash only if it sees everything; members who see the
//! same share one delta, encoded once per codec. And which requests the
//! delta itself acknowledges: an applied request whose events a member sees
//! in the tick's delta (their origin carries its seq) needs no `ack` frame.

use std::collections::{BTreeMap, BTreeSet};
use tickroom_protocol::{CursorPos, Delta, MemberId, ServerMessage};
use tickroom_sim::{Audience, Room};

pub struct TickView {
    /// One delta per group of members who see the same thing; one for all
    /// in a mode that hides nothing.
    deltas: Vec<ServerMessage>,
    /// The group of each member, when there are several.
    group_of: Option<BTreeMap<MemberId, usize>>,
    /// Requests (member, seq) an event visible to their member acknowledges.
    implied: BTreeSet<(MemberId, u64)>,
}

fn visible(restricted: &BTreeMap<usize, &Audience>, event: usize, member: MemberId) -> bool {
    restricted
        .get(&event)
        .is_none_or(|a| a.binary_search(&member).is_ok())
}

impl TickView {
    /// `durable`: applied requests acknowledged only once stored; their
    /// events lose the seq of their origin, so that no client takes the
    /// delta for the ack.
    pub fn new(
        room: &Room,
        delta: Option<Delta>,
        restricted: &[(usize, Audience)],
        members: impl Iterator<Item = MemberId>,
        durable: &BTreeSet<(MemberId, u64)>,
    ) -> TickView {
        let Some(mut delta) = delta else {
            return TickView {
                deltas: Vec::new(),
                group_of: None,
                implied: BTreeSet::new(),
            };
        };
        let restricted: BTreeMap<usize, &Audience> =
            restricted.iter().map(|(i, a)| (*i, a)).collect();
        let mut implied = BTreeSet::new();
        for (i, e) in delta.events.iter_mut().enumerate() {
            let (Some(m), Some(seq)) = (e.origin.member, e.origin.seq) else {
                continue;
            };
            if durable.contains(&(m, seq)) {
                e.origin.seq = None;
            } else if visible(&restricted, i, m) {
                implied.insert((m, seq));
            }
        }
        if !room.hides() {
            return TickView {
                deltas: vec![ServerMessage::Delta(delta)],
                group_of: None,
                implied,
            };
        }
        // Members who see the same events and the same hash share a group.
        let mut groups: BTreeMap<(bool, Vec<bool>), usize> = BTreeMap::new();
        let mut group_of = BTreeMap::new();
        let mut deltas = Vec::new();
        for m in members {
            let sees_all = room.sees_all(m);
            let mask: Vec<bool> = restricted
                .values()
                .map(|a| a.binary_search(&m).is_ok())
                .collect();
            let next = deltas.len();
            let g = *groups.entry((sees_all, mask)).or_insert_with(|| {
                let events = delta
                    .events
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| visible(&restricted, *i, m))
                    .map(|(_, e)| e.clone())
                    .collect();
                deltas.push(ServerMessage::Delta(Delta {
                    events,
                    state_hash: delta.state_hash.filter(|_| sees_all),
                    ..delta.clone()
                }));
                next
            });
            group_of.insert(m, g);
        }
        TickView {
            deltas,
            group_of: Some(group_of),
            implied,
        }
    }

    /// Puts the tick's cursors into every group's delta, so that a member
    /// who gets a delta gets one frame this tick.
    pub fn carry_cursors(&mut self, cursors: &[CursorPos]) {
        for d in &mut self.deltas {
            if let ServerMessage::Delta(d) = d {
                d.cursors = cursors.to_vec();
            }
        }
    }

    /// The delta `member` gets, with its group (frames are shared by group).
    pub fn delta_for(&self, member: Option<MemberId>) -> Option<(usize, &ServerMessage)> {
        let g = match (&self.group_of, member) {
            (None, _) => 0,
            (Some(groups), Some(m)) => *groups.get(&m)?,
            (Some(_), None) => return None,
        };
        self.deltas.get(g).map(|d| (g, d))
    }

    /// How many distinct deltas the tick has.
    pub fn groups(&self) -> usize {
        self.deltas.len()
    }

    /// Whether the delta `member` gets acknowledges its request `seq`.
    pub fn acknowledges(&self, member: MemberId, seq: u64) -> bool {
        self.implied.contains(&(member, seq))
    }
}
