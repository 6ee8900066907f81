//! Writing a room's history as a scenario file that replays it exactly: every
//! logged input becomes an action with its outcome (`!CODE` for rejections),
//! so an incident in production becomes a test that `scenario run` passes.
//!
//! Clients are named by user id. The runner learns a client's seat from its
//! join outcome, as a real client does; the writer mirrors that, and writes
//! any input whose member is not some user's current seat as the seatless
//! client `-` (the room rejects both the same way, with NOT_IN_ROOM).
//! Sequence numbers are renumbered by the runner: they only label event
//! origins in deltas, never state.

use super::words::{self, NO_SEAT};
use crate::{AdminAction, Input, InputKind, Outcome, Room, TickOutput};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tickroom_protocol::{MemberId, Role, RoomConfig};

pub struct ScenarioWriter {
    out: String,
    mode: crate::ModeRef,
    /// Each user's seat as the runner will know it: set by join outcomes.
    seat_of: BTreeMap<String, MemberId>,
    start_tick: u64,
    /// The last `tick N` line written.
    written_tick: u64,
    inputs: u64,
}

impl ScenarioWriter {
    /// Starts a scenario for `room` as it is now: its creation if it has not
    /// ticked yet, otherwise a `snapshot` line it is restored from.
    pub fn new(title: &str, room: &Room) -> ScenarioWriter {
        let mut out = String::new();
        let start_tick = room.tick();
        let _ = writeln!(out, "scenario {}", title.replace(['\n', '\r'], " "));
        let _ = writeln!(out, "seed {}", room.seed());
        let _ = writeln!(out, "room-id {}", room.id());
        // Board rooms were exported before modes existed: their files stay
        // as they were (the board is the default mode of the stock server).
        if room.mode().name() != tickroom_protocol::board::MODE {
            let _ = writeln!(out, "mode {}", room.mode().name());
        }
        let overrides = config_overrides(room.mode(), room.config());
        if !overrides.is_empty() {
            let _ = writeln!(out, "room {}", overrides.join(" "));
        }
        if start_tick > 0 {
            let _ = writeln!(
                out,
                "# The log before tick {} was compacted: the room starts from its snapshot.",
                start_tick + 1
            );
            out.push_str("snapshot ");
            for b in room.snapshot() {
                let _ = write!(out, "{b:02x}");
            }
            out.push('\n');
        }
        ScenarioWriter {
            out,
            mode: room.mode().clone(),
            seat_of: room
                .seats()
                .into_iter()
                .map(|(view, user)| (user, view.id))
                .collect(),
            start_tick,
            written_tick: start_tick,
            inputs: 0,
        }
    }

    /// Appends one tick's inputs with their outcomes; ticks without inputs
    /// need no lines (the runner steps every tick).
    pub fn tick(&mut self, out: &TickOutput) {
        if out.inputs.is_empty() {
            return;
        }
        self.tick_line(out.tick);
        // Every input of a tick is resolved against the seats known before
        // it, as the runner builds a tick's inputs before stepping.
        for (input, outcome) in out.inputs.iter().zip(&out.outcomes) {
            let line = self.action(input);
            let suffix = match outcome {
                Outcome::Applied | Outcome::Joined { .. } => String::new(),
                Outcome::Duplicate => "   !DUPLICATE".into(),
                Outcome::Rejected(e) => format!("   !{}", e.code.as_str()),
            };
            let _ = writeln!(self.out, "  {line}{suffix}");
        }
        for (input, outcome) in out.inputs.iter().zip(&out.outcomes) {
            if let (InputKind::Join { user, .. }, Outcome::Joined { member }) =
                (&input.kind, outcome)
            {
                self.seat_of.insert(user.clone(), *member);
            }
        }
        self.inputs += out.inputs.len() as u64;
    }

    /// Inputs written so far.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }

    /// Ends the file at `room`'s current tick: its version, seat count and
    /// phase as expectations, and its state hash.
    pub fn finish(mut self, room: &Room) -> String {
        if room.tick() > self.start_tick {
            self.tick_line(room.tick());
            let _ = writeln!(self.out, "  expect version {}", room.version());
            let _ = writeln!(self.out, "  expect members {}", room.member_count());
            let _ = writeln!(self.out, "  expect phase {}", room.phase().as_str());
        }
        let _ = writeln!(self.out, "hash {}", room.state_hash());
        self.out
    }

    fn tick_line(&mut self, tick: u64) {
        if tick != self.written_tick {
            let _ = writeln!(self.out, "tick {tick}");
            self.written_tick = tick;
        }
    }

    /// The client whose current seat is `member`, or the seatless client.
    fn client(&self, member: Option<MemberId>) -> String {
        member
            .and_then(|m| self.seat_of.iter().find(|(_, seat)| **seat == m))
            .map_or_else(
                || NO_SEAT.to_owned(),
                |(user, _)| words::encode_client(user),
            )
    }

    fn action(&self, input: &Input) -> String {
        let client = self.client(input.member);
        match &input.kind {
            InputKind::Join {
                user,
                name,
                role,
                team,
            } => {
                let mut line = format!("{} join", words::encode_client(user));
                if let Some(t) = team {
                    let _ = write!(line, " team={}", t.0);
                }
                if let Some(r) = role {
                    let r = match r {
                        Role::Host => "host",
                        Role::Player => "player",
                        Role::Spectator => "spectator",
                    };
                    let _ = write!(line, " role={r}");
                }
                if name != user {
                    let _ = write!(line, " name={}", words::encode_display_name(name));
                }
                line
            }
            InputKind::Leave => format!("{client} leave"),
            InputKind::Disconnect => format!("{client} disconnect"),
            InputKind::Reconnect => format!("{client} reconnect"),
            InputKind::GraceExpired => format!("{client} grace-expire"),
            InputKind::ChangeTeam { team } => format!("{client} team {}", team.0),
            InputKind::Intent(intent) => match self.mode.scenario_words(intent) {
                Ok(words) => format!("{client} {words}"),
                Err(e) => format!("# {client}: an intent the mode cannot write ({e})"),
            },
            InputKind::Admin(AdminAction::Archive { by }) => {
                format!("admin archive by={}", words::encode(by))
            }
            InputKind::Admin(AdminAction::Kick { member, by }) => format!(
                "admin kick {} by={}",
                self.client(Some(*member)),
                words::encode(by)
            ),
        }
    }
}

/// `key=value` for every config field that differs from the default.
fn config_overrides(mode: &crate::ModeRef, config: &RoomConfig) -> Vec<String> {
    let defaults = super::default_config_json(mode);
    let Ok(serde_json::Value::Object(ours)) = serde_json::to_value(config) else {
        return Vec::new();
    };
    ours.into_iter()
        .filter(|(k, v)| k != "mode" && defaults.get(k) != Some(v))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect()
}
