//! Running scenarios.

use super::parse::{Action, Check, Expected, Op, Scenario};
use crate::{AdminAction, Input, InputKind, Outcome, Room, TickOutput};
use std::collections::BTreeMap;
use tickroom_protocol::board;
use tickroom_protocol::{Delta, MemberId, Presence, RoomState, StateHash};
use xxhash_rust::xxh3::Xxh3;

/// The result of running one scenario.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub name: String,
    pub ticks: u64,
    pub inputs: usize,
    /// The final state hash of the run.
    pub hash: StateHash,
    /// The hash recorded in the file.
    pub recorded: Option<StateHash>,
    /// Failed outcomes and expectations, determinism and restore checks.
    pub failures: Vec<String>,
}

impl RunReport {
    /// Every check passed and the final hash matches the recorded one.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.recorded == Some(self.hash)
    }

    /// Every problem, the hash mismatch included, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut all = self.failures.clone();
        match self.recorded {
            None => all.push(format!(
                "no recorded `hash` line (this run ended with {}; record it with --update-hashes)",
                self.hash
            )),
            Some(h) if h != self.hash => all.push(format!(
                "final state hash {} differs from the recorded {h}",
                self.hash
            )),
            Some(_) => {}
        }
        all
    }
}

/// Reports stop collecting after this many failures.
const MAX_FAILURES: usize = 20;

struct Execution {
    hash: StateHash,
    /// Digest of every tick's delta and outcomes, to compare whole runs.
    trace: u64,
    failures: Vec<String>,
}

/// Runs `s` and checks it: every outcome and expectation, the recorded hash,
/// that a second run is identical (determinism), and that a run without its
/// `restore` points is identical too (snapshot/restore keeps the future).
pub fn run(s: &Scenario) -> RunReport {
    let first = execute(s, true);
    let mut failures = first.failures;
    // Keep room for the whole-run checks below.
    failures.truncate(MAX_FAILURES);
    let again = execute(s, true);
    if (again.hash, again.trace) != (first.hash, first.trace) {
        failures.push(format!(
            "not deterministic: a second run ended with hash {} (first {})",
            again.hash, first.hash
        ));
    }
    if s.ticks.values().any(|t| t.restore) {
        let plain = execute(s, false);
        if (plain.hash, plain.trace) != (first.hash, first.trace) {
            failures.push(format!(
                "snapshot/restore changed the outcome: without restores the run ends with hash {}, with them {}",
                plain.hash, first.hash
            ));
        }
    }
    RunReport {
        name: s.name.clone(),
        ticks: s.last_tick(),
        inputs: s.input_count(),
        hash: first.hash,
        recorded: s.hash,
        failures,
    }
}

struct Clients {
    members: BTreeMap<String, MemberId>,
    seqs: BTreeMap<String, u64>,
}

impl Clients {
    fn member(&self, client: &str) -> Option<MemberId> {
        self.members.get(client).copied()
    }

    fn input(&mut self, a: &Action) -> Input {
        let (member, seq) = match a.seatless {
            true => (None, None),
            false => {
                let seq = self.seqs.entry(a.client.clone()).or_default();
                *seq += 1;
                let seq = Some(*seq);
                (self.member(&a.client), seq)
            }
        };
        let kind = match &a.op {
            Op::Join { team, role, name } => {
                return Input {
                    member: None,
                    seq,
                    kind: InputKind::Join {
                        user: a.client.clone(),
                        name: name.clone().unwrap_or_else(|| a.client.clone()),
                        role: *role,
                        team: *team,
                    },
                };
            }
            Op::AdminArchive { by } => {
                return Input {
                    member: None,
                    seq: None,
                    kind: InputKind::Admin(AdminAction::Archive { by: by.clone() }),
                };
            }
            Op::AdminKick { target, by } => {
                return Input {
                    member: None,
                    seq: None,
                    kind: InputKind::Admin(AdminAction::Kick {
                        // A client that never joined names nobody.
                        member: target
                            .as_deref()
                            .and_then(|t| self.member(t))
                            .unwrap_or(MemberId(u32::MAX)),
                        by: by.clone(),
                    }),
                };
            }
            Op::Leave => InputKind::Leave,
            Op::Disconnect => InputKind::Disconnect,
            Op::Reconnect => InputKind::Reconnect,
            Op::GraceExpire => InputKind::GraceExpired,
            Op::Team(team) => InputKind::ChangeTeam { team: *team },
            Op::Intent(i) => InputKind::Intent(i.clone()),
        };
        Input { member, seq, kind }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Applied => "applied".into(),
        Outcome::Joined { member } => format!("joined as member {}", member.0),
        Outcome::Duplicate => "a duplicate".into(),
        Outcome::Rejected(e) => format!("rejected {} ({})", e.code, e.message),
    }
}

fn outcome_matches(expected: Expected, o: &Outcome) -> bool {
    match (expected, o) {
        (Expected::Applied, Outcome::Applied | Outcome::Joined { .. }) => true,
        (Expected::Duplicate, Outcome::Duplicate) => true,
        (Expected::Rejected(code), Outcome::Rejected(e)) => e.code == code,
        _ => false,
    }
}

fn fold_trace(trace: &mut Xxh3, out: &TickOutput) {
    let bytes = postcard::to_stdvec(&(&out.delta, &out.outcomes)).unwrap_or_default();
    trace.update(&out.tick.to_le_bytes());
    trace.update(&bytes);
}

/// The room a run starts with: created from the header, or restored from the
/// `snapshot` line, which must agree with the header.
fn starting_room(s: &Scenario) -> Result<Room, String> {
    let Some(bytes) = &s.start else {
        return s
            .mode
            .create(s.room.clone(), s.config.clone(), s.seed)
            .map_err(|e| format!("room config: {e}"));
    };
    let room = s
        .mode
        .restore(bytes)
        .map_err(|e| format!("the snapshot does not restore: {e}"))?;
    let mut differs = Vec::new();
    if *room.id() != s.room {
        differs.push(format!("room-id {} (the file says {})", room.id(), s.room));
    }
    if room.seed() != s.seed {
        differs.push(format!("seed {} (the file says {})", room.seed(), s.seed));
    }
    if *room.config() != s.config {
        differs.push("a room config different from the `room` line".to_owned());
    }
    if let Some(first) = s.ticks.keys().next()
        && *first <= room.tick()
    {
        differs.push(format!(
            "tick {} (the file scripts tick {first}, which is not after it)",
            room.tick()
        ));
    }
    match differs.is_empty() {
        true => Ok(room),
        false => Err(format!("the snapshot has {}", differs.join(", "))),
    }
}

fn execute(s: &Scenario, with_restores: bool) -> Execution {
    let mut failures = Vec::new();
    let mut room = match starting_room(s) {
        Ok(r) => r,
        Err(e) => {
            return Execution {
                hash: StateHash::default(),
                trace: 0,
                failures: vec![e],
            };
        }
    };
    // Seats already in a starting snapshot belong to their users' clients.
    let mut clients = Clients {
        members: room
            .seats()
            .into_iter()
            .map(|(view, user)| (user, view.id))
            .collect(),
        seqs: BTreeMap::new(),
    };
    let mut trace = Xxh3::new();
    for tick in room.tick() + 1..=s.last_tick() {
        let script = s.ticks.get(&tick);
        let actions = script.map_or(&[][..], |t| &t.actions[..]);
        let inputs = actions.iter().map(|a| clients.input(a)).collect();
        let out = room.step(inputs);
        assert_eq!(out.outcomes.len(), actions.len(), "one outcome per input");
        fold_trace(&mut trace, &out);
        for (a, o) in actions.iter().zip(&out.outcomes) {
            if let Outcome::Joined { member } = o {
                clients.members.insert(a.client.clone(), *member);
            }
            if !outcome_matches(a.expected, o) {
                let want = match a.expected {
                    Expected::Applied => "applied".to_owned(),
                    Expected::Duplicate => "a duplicate".to_owned(),
                    Expected::Rejected(c) => format!("rejected {c}"),
                };
                failures.push(format!(
                    "line {} (tick {tick}): expected {} to be {want}, it was {}",
                    a.line,
                    a.client,
                    describe(o)
                ));
            }
        }
        let Some(script) = script else { continue };
        if !script.expects.is_empty() {
            let state = room.state();
            let view = |m: MemberId| room.state_for(crate::Viewer::Member(m));
            for e in &script.expects {
                if let Err(m) = check(&e.check, &state, out.delta.as_ref(), &clients, &view) {
                    failures.push(format!("line {} (tick {tick}): {m}", e.line));
                }
            }
        }
        if script.restore && with_restores {
            let before = room.state_hash();
            match s.mode.restore(&room.snapshot()) {
                Ok(restored) => {
                    if restored.state_hash() != before {
                        failures.push(format!("tick {tick}: restored room hashes differently"));
                    }
                    room = restored;
                }
                Err(e) => failures.push(format!("tick {tick}: restore failed: {e}")),
            }
        }
    }
    Execution {
        hash: room.state_hash(),
        trace: trace.digest(),
        failures,
    }
}

fn check(
    c: &Check,
    state: &RoomState,
    delta: Option<&Delta>,
    clients: &Clients,
    view: &dyn Fn(MemberId) -> RoomState,
) -> Result<(), String> {
    let who = |name: &str| -> Result<MemberId, String> {
        clients
            .member(name)
            .ok_or_else(|| format!("{name} never joined"))
    };
    let name_of = |id: MemberId| -> String {
        clients
            .members
            .iter()
            .find(|(_, m)| **m == id)
            .map_or_else(|| format!("member {}", id.0), |(n, _)| n.clone())
    };
    let member = |name: &str| {
        let id = who(name)?;
        state
            .members
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| format!("{name} has no seat"))
    };
    let events = || delta.map_or(&[][..], |d| &d.events[..]);
    let board_events = || {
        events()
            .iter()
            .filter_map(|e| e.event.decode_game::<board::Event>())
    };
    let board = || -> Result<board::State, String> {
        state
            .game
            .decode()
            .map_err(|e| format!("this expectation is the board's; the room is no board: {e}"))
    };
    let last_roll = |name: &str| -> Result<(usize, i64), String> {
        let id = who(name)?;
        board_events()
            .rev()
            .find_map(|e| match e {
                board::Event::DiceRolled {
                    member,
                    rolls,
                    total,
                    ..
                } if member == id => Some((rolls.len(), total)),
                _ => None,
            })
            .ok_or_else(|| format!("{name} rolled no dice this tick"))
    };
    let expect = |ok: bool, want: String, got: String| {
        if ok {
            Ok(())
        } else {
            Err(format!("expected {want}, got {got}"))
        }
    };
    match c {
        Check::PieceAt(p, pos) => {
            let game = board()?;
            let piece = game
                .pieces
                .get(p.0 as usize)
                .ok_or_else(|| format!("no piece {}", p.0))?;
            expect(
                piece.pos == *pos,
                format!("piece {} at {} {}", p.0, pos.x, pos.y),
                format!("{} {}", piece.pos.x, piece.pos.y),
            )
        }
        Check::Lock(p, holder) => {
            let game = board()?;
            let piece = game
                .pieces
                .get(p.0 as usize)
                .ok_or_else(|| format!("no piece {}", p.0))?;
            let want = holder.as_deref().map(who).transpose()?;
            let got = piece.lock.map(|l| l.holder);
            expect(
                got == want,
                format!("lock {} {}", p.0, holder.as_deref().unwrap_or("free")),
                got.map_or("free".into(), name_of),
            )
        }
        Check::Phase(p) => expect(
            state.phase == *p,
            format!("phase {}", p.as_str()),
            state.phase.as_str().into(),
        ),
        Check::Host(h) => {
            let want = h.as_deref().map(who).transpose()?;
            expect(
                state.host == want,
                format!("host {}", h.as_deref().unwrap_or("none")),
                state.host.map_or("none".into(), name_of),
            )
        }
        Check::MemberTeam(n, t) => {
            let m = member(n)?;
            expect(
                m.team == *t,
                format!("{n} on team {t:?}"),
                format!("{:?}", m.team),
            )
        }
        Check::MemberRole(n, r) => {
            let m = member(n)?;
            expect(
                m.role == *r,
                format!("{n} as {r:?}"),
                format!("{:?}", m.role),
            )
        }
        Check::MemberPresence(n, p) => {
            let m = member(n)?;
            expect(
                m.presence == *p,
                format!(
                    "{n} {}",
                    if *p == Presence::InGrace {
                        "in grace"
                    } else {
                        "connected"
                    }
                ),
                format!("{:?}", m.presence),
            )
        }
        Check::MemberAbsent(n) => {
            let id = who(n)?;
            match state.members.iter().any(|m| m.id == id) {
                true => Err(format!("expected {n} to have no seat, but it has one")),
                false => Ok(()),
            }
        }
        Check::Members(count) => expect(
            state.members.len() == *count,
            format!("{count} members"),
            state.members.len().to_string(),
        ),
        Check::Version(v) => expect(
            state.version == *v,
            format!("version {v}"),
            state.version.to_string(),
        ),
        Check::RollWithin(n, lo, hi) => {
            let (_, total) = last_roll(n)?;
            expect(
                (*lo..=*hi).contains(&total),
                format!("{n}'s roll within {lo}..={hi}"),
                total.to_string(),
            )
        }
        Check::RollDice(n, count) => {
            let (dice, _) = last_roll(n)?;
            expect(*count == dice, format!("{count} dice"), dice.to_string())
        }
        Check::Released(p, reason) => {
            let found = board_events().any(|e| {
                matches!(e, board::Event::LockReleased { piece, reason: r, .. } if piece == *p && r == *reason)
            });
            expect(
                found,
                format!("lock {} released ({reason:?}) this tick", p.0),
                "no such event".into(),
            )
        }
        Check::NoDelta => expect(
            delta.is_none(),
            "no delta".into(),
            format!("{} events", events().len()),
        ),
        Check::Events(n) => expect(
            events().len() == *n,
            format!("{n} events"),
            events().len().to_string(),
        ),
        Check::Chat(n) => {
            let lines = board()?.chat.len();
            expect(lines == *n, format!("{n} chat lines"), lines.to_string())
        }
        Check::Formations(n) => {
            let kept = board()?.formations.len();
            expect(kept == *n, format!("{n} formations"), kept.to_string())
        }
        Check::State(pointer, want) => {
            let json = serde_json::to_value(state).map_err(|e| e.to_string())?;
            let got = json
                .pointer(pointer)
                .ok_or_else(|| format!("the state has nothing at {pointer}"))?;
            expect(got == want, format!("{pointer} = {want}"), got.to_string())
        }
        Check::View(name, pointer, want) => {
            let seen = view(who(name)?);
            let json = serde_json::to_value(&seen).map_err(|e| e.to_string())?;
            let got = json
                .pointer(pointer)
                .ok_or_else(|| format!("{name} sees nothing at {pointer}"))?;
            expect(
                got == want,
                format!("{name} sees {pointer} = {want}"),
                got.to_string(),
            )
        }
        Check::Event(name) => {
            let tags: Vec<String> = events()
                .iter()
                .filter_map(|e| serde_json::to_value(&e.event).ok())
                .filter_map(|v| v.as_object()?.keys().next().cloned())
                .collect();
            expect(
                tags.iter().any(|t| t == name),
                format!("a {name} event this tick"),
                format!("{tags:?}"),
            )
        }
    }
}
