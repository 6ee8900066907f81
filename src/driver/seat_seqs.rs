//! The last request sequence number applied (acked or rejected) for each
//! seat: what `welcome.last_applied_seq` tells a resumed session, so its
//! client knows which in-flight requests landed and sends only the others.
//! It follows from the log alone — every input carries its member and seq —
//! so the tick driver and recovery keep it with the same code, and each
//! stored snapshot carries it for the rooms whose log starts there.

use std::collections::BTreeMap;
use tickroom_protocol::{DomainEvent, MemberId};
use tickroom_sim::{Outcome, TickOutput};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeatSeqs(BTreeMap<MemberId, u64>);

impl SeatSeqs {
    /// As stored beside a snapshot: (member id, seq).
    pub fn from_stored(stored: &[(u32, u64)]) -> SeatSeqs {
        SeatSeqs(stored.iter().map(|(m, s)| (MemberId(*m), *s)).collect())
    }

    pub fn to_stored(&self) -> Vec<(u32, u64)> {
        self.0.iter().map(|(m, s)| (m.0, *s)).collect()
    }

    pub fn get(&self, member: MemberId) -> Option<u64> {
        self.0.get(&member).copied()
    }

    /// Takes one tick in: every input with a seq raises its member's (a
    /// join's is the member it seated), and a seat that is gone is dropped.
    pub fn note_tick(&mut self, out: &TickOutput) {
        for (input, outcome) in out.inputs.iter().zip(&out.outcomes) {
            let member = match outcome {
                Outcome::Joined { member } => Some(*member),
                _ => input.member,
            };
            if let (Some(m), Some(seq)) = (member, input.seq) {
                let last = self.0.entry(m).or_default();
                *last = (*last).max(seq);
            }
        }
        if let Some(d) = &out.delta {
            for e in &d.events {
                if let tickroom_protocol::Event::Room(DomainEvent::MemberLeft { member, .. }) =
                    e.event
                {
                    self.0.remove(&member);
                }
            }
        }
    }
}
