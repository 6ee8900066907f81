//! Parsing scenario files.

use super::expr::{Vars, eval, substitute};
use super::words::{self, NO_SEAT};
use crate::registry::{ModeRef, Modes};
use std::collections::BTreeMap;
use std::fmt;
use tickroom_protocol::board::ReleaseReason;
use tickroom_protocol::{
    ErrorCode, Payload, Phase, PieceId, Pos, Presence, Role, RoomConfig, RoomId, StateHash, TeamId,
};

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// The room's game mode (`mode NAME`; default: the first mode served).
    pub mode: ModeRef,
    pub config: RoomConfig,
    /// The room's id (`room-id`); it is part of the state hash.
    pub room: RoomId,
    /// Snapshot bytes the room starts from instead of being created (an
    /// export of a room whose log was compacted).
    pub(crate) start: Option<Vec<u8>>,
    pub(crate) ticks: BTreeMap<u64, TickScript>,
    /// The recorded final state hash.
    pub hash: Option<StateHash>,
}

impl Scenario {
    pub fn last_tick(&self) -> u64 {
        self.ticks.keys().next_back().copied().unwrap_or(0)
    }
    pub fn input_count(&self) -> usize {
        self.ticks.values().map(|t| t.actions.len()).sum()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TickScript {
    pub actions: Vec<Action>,
    pub expects: Vec<Expect>,
    /// Snapshot and restore the room after this tick.
    pub restore: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub line: usize,
    /// The client's name (its user id); `-` for the seatless client.
    pub client: String,
    /// The seatless client `-`: its requests name no member, whatever user
    /// ids other clients have.
    pub seatless: bool,
    pub op: Op,
    pub expected: Expected,
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Join {
        team: Option<TeamId>,
        role: Option<Role>,
        name: Option<String>,
    },
    Leave,
    Disconnect,
    Reconnect,
    GraceExpire,
    Team(TeamId),
    /// One of the mode's intents, typed.
    Intent(Payload),
    AdminArchive {
        by: String,
    },
    AdminKick {
        /// `None` names no member (`admin kick -`).
        target: Option<String>,
        by: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    Applied,
    Rejected(ErrorCode),
    Duplicate,
}

#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub line: usize,
    pub check: Check,
}

#[derive(Debug, Clone)]
pub(crate) enum Check {
    PieceAt(PieceId, Pos),
    Lock(PieceId, Option<String>),
    Phase(Phase),
    Host(Option<String>),
    MemberTeam(String, Option<TeamId>),
    MemberRole(String, Role),
    MemberPresence(String, Presence),
    MemberAbsent(String),
    Members(usize),
    Version(u64),
    RollWithin(String, i64, i64),
    RollDice(String, usize),
    Released(PieceId, ReleaseReason),
    NoDelta,
    Events(usize),
    Chat(usize),
    Formations(usize),
    /// `expect state POINTER VALUE`: the value at a JSON pointer into the
    /// room's state as operators see it (`joined.state`, mode fields
    /// beside the framework's).
    State(String, serde_json::Value),
    /// `expect event NAME`: an event with this tag in this tick's delta.
    Event(String),
    /// `expect view CLIENT POINTER VALUE`: like `state`, in the room as
    /// that client's seat may see it (a mode that hides things).
    View(String, String, serde_json::Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Returns `text` with its `hash` line set to `hash` (appended if missing);
/// nothing else in the file changes, line endings and comments included.
pub fn with_hash(text: &str, hash: StateHash) -> String {
    let hex = hash.to_string();
    let mut out = String::with_capacity(text.len() + 24);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let mut words = line.split_whitespace();
        if !replaced
            && words.next() == Some("hash")
            && let Some(old) = words.next()
        {
            // `old` is a slice of `line`: splice the new hex in its place.
            let at = old.as_ptr() as usize - line.as_ptr() as usize;
            out.push_str(&line[..at]);
            out.push_str(&hex);
            out.push_str(&line[at + old.len()..]);
            replaced = true;
            continue;
        }
        out.push_str(line);
    }
    if !replaced {
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        out.push_str(&format!("hash {hex}{eol}"));
    }
    out
}

enum Stmt {
    Line(usize, String),
    For {
        line: usize,
        var: String,
        range: String,
        body: Vec<Stmt>,
    },
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn block(
    lines: &mut std::iter::Peekable<impl Iterator<Item = (usize, String)>>,
    opened: Option<usize>,
) -> Result<Vec<Stmt>, ParseError> {
    let mut out = Vec::new();
    while let Some((n, text)) = lines.next() {
        let mut words = text.split_whitespace();
        match words.next() {
            Some("end") => {
                return match opened {
                    Some(_) => Ok(out),
                    None => Err(ParseError {
                        line: n,
                        message: "`end` without `for`".into(),
                    }),
                };
            }
            Some("for") => {
                let var = words.next().unwrap_or_default().to_owned();
                let in_kw = words.next();
                let range: String = words.collect::<Vec<_>>().join(" ");
                if var.is_empty() || in_kw != Some("in") || range.is_empty() {
                    return Err(ParseError {
                        line: n,
                        message: "expected `for VAR in A..B` or `for VAR in A..=B`".into(),
                    });
                }
                let body = block(lines, Some(n))?;
                out.push(Stmt::For {
                    line: n,
                    var,
                    range,
                    body,
                });
            }
            _ => out.push(Stmt::Line(n, text)),
        }
    }
    match opened {
        Some(line) => Err(ParseError {
            line,
            message: "`for` without `end`".into(),
        }),
        None => Ok(out),
    }
}

/// Parses a scenario file of a built-in mode.
pub fn parse(text: &str) -> Result<Scenario, ParseError> {
    parse_with(text, &Modes::builtin())
}

/// Parses a scenario file whose room plays one of `modes`.
pub fn parse_with(text: &str, modes: &Modes) -> Result<Scenario, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, strip_comment(l).trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .peekable();
    let stmts = block(&mut lines, None)?;
    let mut b = Builder {
        modes,
        mode: None,
        name: None,
        seed: None,
        config: serde_json::Map::new(),
        room: None,
        start: None,
        ticks: BTreeMap::new(),
        tick: None,
        hash: None,
        expanded: 0,
    };
    b.run(&stmts, &mut Vars::new(), 0)?;
    let mode = b.mode_ref(0)?;
    let config: RoomConfig =
        serde_json::from_value(serde_json::Value::Object(b.config)).map_err(|e| ParseError {
            line: 0,
            message: format!("room config: {e}"),
        })?;
    let config = mode.normalize_config(&config).map_err(|e| ParseError {
        line: 0,
        message: e.message,
    })?;
    Ok(Scenario {
        name: b.name.ok_or(ParseError {
            line: 0,
            message: "missing `scenario NAME` line".into(),
        })?,
        seed: b.seed.ok_or(ParseError {
            line: 0,
            message: "missing `seed N` line".into(),
        })?,
        mode,
        config,
        room: b.room.unwrap_or_else(|| RoomId::from("scenario")),
        start: b.start,
        ticks: b.ticks,
        hash: b.hash,
    })
}

struct Builder<'m> {
    modes: &'m Modes,
    /// `mode NAME`, once read.
    mode: Option<String>,
    name: Option<String>,
    seed: Option<u64>,
    config: serde_json::Map<String, serde_json::Value>,
    room: Option<RoomId>,
    start: Option<Vec<u8>>,
    ticks: BTreeMap<u64, TickScript>,
    tick: Option<u64>,
    hash: Option<StateHash>,
    /// Lines produced so far, loops expanded.
    expanded: usize,
}

/// Loops may not expand into more than this many lines in all.
const MAX_EXPANDED: usize = 2_000_000;
/// The last tick a scenario may name (a week of a 60 Hz room is 36 million).
const MAX_TICK: u64 = 1_000_000_000;

impl Builder<'_> {
    /// The scenario's mode: `mode NAME`, or the default.
    fn mode_ref(&self, n: usize) -> Result<ModeRef, ParseError> {
        self.modes
            .resolve(self.mode.as_deref().unwrap_or_default())
            .cloned()
            .map_err(|e| err(n, e.message))
    }

    fn run(&mut self, stmts: &[Stmt], vars: &mut Vars, depth: usize) -> Result<(), ParseError> {
        for stmt in stmts {
            match stmt {
                Stmt::Line(n, text) => {
                    self.expanded += 1;
                    if self.expanded > MAX_EXPANDED {
                        return Err(err(
                            *n,
                            format!("the file expands to more than {MAX_EXPANDED} lines"),
                        ));
                    }
                    let text = substitute(text, vars).map_err(|m| err(*n, m))?;
                    self.line(*n, &text, depth)?;
                }
                Stmt::For {
                    line,
                    var,
                    range,
                    body,
                } => {
                    let range = substitute(range, vars).map_err(|m| err(*line, m))?;
                    let (a, b, inclusive) = match range.split_once("..=") {
                        Some((a, b)) => (a, b, true),
                        None => {
                            let (a, b) = range
                                .split_once("..")
                                .ok_or_else(|| err(*line, "expected a range A..B"))?;
                            (a, b, false)
                        }
                    };
                    let a = eval(a, vars).map_err(|m| err(*line, m))?;
                    let b = eval(b, vars).map_err(|m| err(*line, m))?;
                    let end = if inclusive { b.saturating_add(1) } else { b };
                    let count = usize::try_from(end.saturating_sub(a)).unwrap_or(0);
                    if count.saturating_mul(body.len().max(1)) > MAX_EXPANDED {
                        return Err(err(*line, "loop expands to too many lines"));
                    }
                    let saved = vars.get(var).copied();
                    for v in a..end {
                        vars.insert(var.clone(), v);
                        self.run(body, vars, depth + 1)?;
                    }
                    match saved {
                        Some(s) => vars.insert(var.clone(), s),
                        None => vars.remove(var),
                    };
                }
            }
        }
        Ok(())
    }

    fn current(&mut self, n: usize) -> Result<&mut TickScript, ParseError> {
        let tick = self
            .tick
            .ok_or_else(|| err(n, "actions and expectations need a `tick N` line first"))?;
        Ok(self.ticks.entry(tick).or_default())
    }

    fn line(&mut self, n: usize, text: &str, depth: usize) -> Result<(), ParseError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let rest_after = |k: usize| -> String { words[k..].join(" ") };
        let top_level = |what: &str| {
            if depth > 0 {
                Err(err(n, format!("`{what}` cannot be inside a loop")))
            } else {
                Ok(())
            }
        };
        match words[0] {
            "scenario" | "seed" | "hash" | "room-id" | "snapshot" | "mode"
                if match words[0] {
                    "scenario" => self.name.is_some(),
                    "mode" => self.mode.is_some(),
                    "seed" => self.seed.is_some(),
                    "room-id" => self.room.is_some(),
                    "snapshot" => self.start.is_some(),
                    _ => self.hash.is_some(),
                } =>
            {
                return Err(err(n, format!("a second `{}` line", words[0])));
            }
            "scenario" => {
                top_level("scenario")?;
                self.name = Some(rest_after(1));
            }
            "mode" => {
                top_level("mode")?;
                if !self.config.is_empty() || self.tick.is_some() {
                    return Err(err(
                        n,
                        "`mode` must come before `room` and the first `tick`",
                    ));
                }
                let name = words.get(1).copied().unwrap_or_default();
                if words.len() != 2 || self.modes.get(name).is_none() {
                    return Err(err(
                        n,
                        format!("expected `mode NAME`, one of {}", self.modes.names()),
                    ));
                }
                self.mode = Some(name.to_owned());
            }
            "seed" => {
                top_level("seed")?;
                self.seed = Some(num(n, words.get(1).copied())?);
            }
            "room" => {
                top_level("room")?;
                let defaults = super::default_config_json(&self.mode_ref(n)?);
                for kv in &words[1..] {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| err(n, format!("expected key=value, got `{kv}`")))?;
                    if defaults.get(k).is_none() {
                        return Err(err(n, format!("unknown room config key `{k}`")));
                    }
                    let value = match v.parse::<i64>() {
                        Ok(i) => serde_json::Value::from(i),
                        Err(_) => serde_json::Value::from(v),
                    };
                    self.config.insert(k.to_owned(), value);
                }
            }
            "room-id" => {
                top_level("room-id")?;
                let id = RoomId::from(words.get(1).copied().unwrap_or_default());
                if words.len() != 2 || !id.is_valid() {
                    return Err(err(n, "expected `room-id ID`: 1 to 64 of A-Z a-z 0-9 _ -"));
                }
                self.room = Some(id);
            }
            "snapshot" => {
                top_level("snapshot")?;
                if self.tick.is_some() {
                    return Err(err(n, "`snapshot` must come before the first `tick`"));
                }
                let bytes = match words.as_slice() {
                    [_, hex] => decode_hex(hex),
                    _ => None,
                };
                self.start = Some(
                    bytes.ok_or_else(|| err(n, "expected `snapshot` and the snapshot in hex"))?,
                );
            }
            "hash" => {
                top_level("hash")?;
                let h = words
                    .get(1)
                    .and_then(|h| h.parse().ok())
                    .ok_or_else(|| err(n, "expected `hash` and 16 hex digits"))?;
                self.hash = Some(h);
            }
            "tick" => {
                let t: u64 = num(n, words.get(1).copied())?;
                if t == 0 || t > MAX_TICK {
                    return Err(err(n, format!("ticks run from 1 to {MAX_TICK}")));
                }
                if let Some(prev) = self.tick
                    && t < prev
                {
                    return Err(err(n, format!("tick {t} comes after tick {prev}")));
                }
                self.tick = Some(t);
            }
            "restore" if words.len() == 1 => self.current(n)?.restore = true,
            "restore" => return Err(err(n, "`restore` takes no arguments")),
            "expect" => {
                let check = parse_check(n, &words[1..])?;
                self.current(n)?.expects.push(Expect { line: n, check });
            }
            _ => {
                let action = parse_action(n, &words, &self.mode_ref(n)?)?;
                self.current(n)?.actions.push(action);
            }
        }
        Ok(())
    }
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

fn num<T: std::str::FromStr>(n: usize, w: Option<&str>) -> Result<T, ParseError> {
    let w = w.ok_or_else(|| err(n, "expected a number"))?;
    w.parse()
        .map_err(|_| err(n, format!("`{w}` is not a valid number here")))
}

fn piece(n: usize, w: Option<&str>) -> Result<PieceId, ParseError> {
    num(n, w).map(PieceId)
}

fn phase(n: usize, w: Option<&str>) -> Result<Phase, ParseError> {
    match w {
        Some("setup") => Ok(Phase::Setup),
        Some("live") => Ok(Phase::Live),
        Some("expired") => Ok(Phase::Expired),
        Some("archived") => Ok(Phase::Archived),
        _ => Err(err(n, "expected setup, live, expired or archived")),
    }
}

fn role(n: usize, w: &str) -> Result<Role, ParseError> {
    match w {
        "host" => Ok(Role::Host),
        "player" => Ok(Role::Player),
        "spectator" => Ok(Role::Spectator),
        _ => Err(err(n, format!("unknown role `{w}`"))),
    }
}

fn reason(n: usize, w: Option<&str>) -> Result<ReleaseReason, ParseError> {
    match w {
        Some("released") => Ok(ReleaseReason::Released),
        Some("expired") => Ok(ReleaseReason::Expired),
        Some("holder-left") => Ok(ReleaseReason::HolderLeft),
        Some("holder-disconnected") => Ok(ReleaseReason::HolderDisconnected),
        Some("phase-ended") => Ok(ReleaseReason::PhaseEnded),
        _ => Err(err(
            n,
            "expected released, expired, holder-left, holder-disconnected or phase-ended",
        )),
    }
}

fn parse_action(n: usize, words: &[&str], mode: &ModeRef) -> Result<Action, ParseError> {
    let (words, expected) = match words.last() {
        Some(w) if w.starts_with('!') => {
            let code = &w[1..];
            let expected = if code == "DUPLICATE" {
                Expected::Duplicate
            } else {
                ErrorCode::ALL
                    .iter()
                    .copied()
                    .chain(
                        mode.error_codes()
                            .iter()
                            .map(|e| ErrorCode::Mode(tickroom_protocol::ModeCode(e.number))),
                    )
                    .find(|c| c.as_str() == code)
                    .map(Expected::Rejected)
                    .ok_or_else(|| err(n, format!("unknown error code `{code}`")))?
            };
            (&words[..words.len() - 1], expected)
        }
        _ => (words, Expected::Applied),
    };
    let Some(raw_client) = words.first().copied() else {
        return Err(err(n, "an expected outcome needs an action before it"));
    };
    let verb = words.get(1).copied().unwrap_or_default();
    if raw_client == "admin" {
        return parse_admin(n, words, expected);
    }
    let client = match raw_client {
        NO_SEAT if verb == "join" => {
            return Err(err(n, "the seatless client `-` cannot join"));
        }
        NO_SEAT => NO_SEAT.to_owned(),
        w => words::decode(w).map_err(|m| err(n, m))?,
    };
    let arg = |k: usize| words.get(k).copied();
    let need = |count: usize| {
        if words.len() != count + 2 {
            Err(err(n, format!("`{verb}` takes {count} argument(s)")))
        } else {
            Ok(())
        }
    };
    let op = match verb {
        "join" => {
            let (mut team, mut r, mut name) = (None, None, None);
            for kv in &words[2..] {
                match kv.split_once('=') {
                    Some(("team", v)) => team = Some(TeamId(num(n, Some(v))?)),
                    Some(("role", v)) => r = Some(role(n, v)?),
                    Some(("name", v)) => {
                        name = Some(words::decode_display_name(v).map_err(|m| err(n, m))?)
                    }
                    _ => {
                        return Err(err(
                            n,
                            format!("join takes team=, role=, name=; got `{kv}`"),
                        ));
                    }
                }
            }
            Op::Join {
                team,
                role: r,
                name,
            }
        }
        "leave" => need(0).map(|()| Op::Leave)?,
        "disconnect" => need(0).map(|()| Op::Disconnect)?,
        "reconnect" => need(0).map(|()| Op::Reconnect)?,
        "grace-expire" => need(0).map(|()| Op::GraceExpire)?,
        "team" => {
            need(1)?;
            Op::Team(TeamId(num(n, arg(2))?))
        }
        verb => match mode.scenario_intent(verb, &words[2..]) {
            Some(intent) => Op::Intent(intent.map_err(|m| err(n, m))?),
            None => return Err(err(n, format!("unknown action `{}`", words.join(" ")))),
        },
    };
    Ok(Action {
        line: n,
        seatless: client == NO_SEAT && raw_client == NO_SEAT,
        client,
        op,
        expected,
    })
}

/// `admin archive [by=NAME]`, `admin kick CLIENT [by=NAME]`.
fn parse_admin(n: usize, words: &[&str], expected: Expected) -> Result<Action, ParseError> {
    let (args, by) = match words.last() {
        Some(w) if w.starts_with("by=") && words.len() > 2 => (
            &words[1..words.len() - 1],
            words::decode(&w[3..]).map_err(|m| err(n, m))?,
        ),
        _ => (&words[1..], "admin".to_owned()),
    };
    let op = match args {
        ["archive"] => Op::AdminArchive { by },
        ["kick", target] => Op::AdminKick {
            target: match *target {
                NO_SEAT => None,
                t => Some(words::decode(t).map_err(|m| err(n, m))?),
            },
            by,
        },
        _ => {
            return Err(err(
                n,
                "expected `admin archive [by=NAME]` or `admin kick CLIENT [by=NAME]`",
            ));
        }
    };
    Ok(Action {
        line: n,
        client: "admin".into(),
        seatless: true,
        op,
        expected,
    })
}

fn parse_check(n: usize, w: &[&str]) -> Result<Check, ParseError> {
    let arg = |k: usize| w.get(k).copied();
    let name = |k: usize| {
        let w = arg(k).ok_or_else(|| err(n, "expected a client name"))?;
        words::decode(w).map_err(|m| err(n, m))
    };
    let check = match (arg(0), arg(2)) {
        (Some("piece"), Some("at")) => Check::PieceAt(
            piece(n, arg(1))?,
            Pos::new(num(n, arg(3))?, num(n, arg(4))?),
        ),
        (Some("lock"), Some("free")) => Check::Lock(piece(n, arg(1))?, None),
        (Some("lock"), Some(_)) => Check::Lock(piece(n, arg(1))?, Some(name(2)?)),
        (Some("phase"), _) => Check::Phase(phase(n, arg(1))?),
        (Some("host"), _) => match arg(1) {
            Some("none") => Check::Host(None),
            _ => Check::Host(Some(name(1)?)),
        },
        (Some("member"), Some("team")) => Check::MemberTeam(
            name(1)?,
            match arg(3) {
                Some("none") => None,
                t => Some(TeamId(num(n, t)?)),
            },
        ),
        (Some("member"), Some("role")) => {
            Check::MemberRole(name(1)?, role(n, arg(3).unwrap_or_default())?)
        }
        (Some("member"), Some("absent")) => Check::MemberAbsent(name(1)?),
        (Some("member"), Some("grace")) => Check::MemberPresence(name(1)?, Presence::InGrace),
        (Some("member"), Some("connected")) => Check::MemberPresence(name(1)?, Presence::Connected),
        (Some("members"), _) => Check::Members(num(n, arg(1))?),
        (Some("version"), _) => Check::Version(num(n, arg(1))?),
        (Some("roll"), Some("within")) => {
            Check::RollWithin(name(1)?, num(n, arg(3))?, num(n, arg(4))?)
        }
        (Some("roll"), Some("dice")) => Check::RollDice(name(1)?, num(n, arg(3))?),
        (Some("released"), _) => Check::Released(piece(n, arg(1))?, reason(n, arg(2))?),
        (Some("no-delta"), _) => Check::NoDelta,
        (Some("events"), _) => Check::Events(num(n, arg(1))?),
        (Some("chat"), _) => Check::Chat(num(n, arg(1))?),
        (Some("formations"), _) => Check::Formations(num(n, arg(1))?),
        (Some("state"), _) => {
            let pointer = arg(1).ok_or_else(|| err(n, "expected `state POINTER VALUE`"))?;
            let text = words::decode(arg(2).unwrap_or_default()).map_err(|m| err(n, m))?;
            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            Check::State(pointer.to_owned(), value)
        }
        (Some("event"), _) => Check::Event(arg(1).unwrap_or_default().to_owned()),
        (Some("view"), _) => {
            let pointer = arg(2).ok_or_else(|| err(n, "expected `view CLIENT POINTER VALUE`"))?;
            let text = words::decode(arg(3).unwrap_or_default()).map_err(|m| err(n, m))?;
            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            Check::View(name(1)?, pointer.to_owned(), value)
        }
        _ => return Err(err(n, format!("unknown expectation `{}`", w.join(" ")))),
    };
    let words = match &check {
        Check::NoDelta => 1,
        Check::Phase(_)
        | Check::Host(_)
        | Check::Members(_)
        | Check::Version(_)
        | Check::Events(_)
        | Check::Chat(_)
        | Check::Formations(_)
        | Check::Event(_) => 2,
        Check::Lock(..)
        | Check::MemberPresence(..)
        | Check::MemberAbsent(_)
        | Check::Released(..)
        | Check::State(..) => 3,
        Check::MemberTeam(..) | Check::MemberRole(..) | Check::RollDice(..) | Check::View(..) => 4,
        Check::PieceAt(..) | Check::RollWithin(..) => 5,
    };
    if w.len() != words {
        return Err(err(
            n,
            format!("`expect {}` takes {words} words, got {}", w[0], w.len()),
        ));
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "scenario t\nseed 1\nroom teams=3\ntick 1\n  a join team=1\n  b lock 0 !NOT_IN_ROOM\n  expect members 1\nhash 00000000000000ff\n";

    #[test]
    fn parses_header_actions_expectations_and_hash() {
        let s = parse(SMALL).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.seed, 1);
        assert_eq!(s.config.teams, 3);
        assert_eq!(s.ticks[&1].actions.len(), 2);
        assert_eq!(
            s.ticks[&1].actions[1].expected,
            Expected::Rejected(ErrorCode::NotInRoom)
        );
        assert_eq!(s.hash, Some(StateHash(0xff)));
    }

    #[test]
    fn loops_expand_with_substitution() {
        let text = "scenario l\nseed 1\nfor t in 1..=3\n tick {t}\n for i in 0..2\n  p{i} move {i} {t*10} 0\n end\nend\n";
        let s = parse(text).unwrap();
        assert_eq!(s.last_tick(), 3);
        assert_eq!(s.input_count(), 6);
        match &s.ticks[&3].actions[1].op {
            Op::Intent(intent) => assert_eq!(
                intent.decode::<tickroom_protocol::board::Intent>().unwrap(),
                tickroom_protocol::board::Intent::MovePiece {
                    piece: PieceId(1),
                    to: Pos::new(30, 0)
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("scenario x\nseed 1\ntick 1\n a fly\n", 4),
            ("scenario x\nseed 1\nroom nope=1\n", 3),
            ("scenario x\nseed 1\ntick 2\ntick 1\n", 4),
            ("scenario x\nseed 1\nfor i in 0..2\n", 3),
            ("scenario x\nseed 1\ntick 1\n a lock 0 !NOT_A_CODE\n", 4),
            ("scenario x\nseed 1\na join\n", 3),
            ("scenario x\nseed 1\ntick 1\n  !LOCK_HELD\n", 4),
            ("scenario x\nseed 1\nseed 2\n", 3),
            ("scenario x\nseed 1\ntick 1\n expect version 5 6\n", 4),
            ("scenario x\nseed 1\ntick 1\n expect lock 0 a b\n", 4),
            ("scenario x\nseed 1\ntick 1\n a leave now\n", 4),
            ("scenario x\nseed 1\ntick 1\n restore please\n", 4),
            ("scenario x\nseed 1\ntick 1000000001\n", 3),
            (
                "scenario x\nseed 1\nhash 0000000000000001\nhash 0000000000000002\n",
                4,
            ),
            (
                "scenario x\nseed 1\nfor i in 0..2000\nfor j in 0..2000\ntick 1\nend\nend\n",
                5,
            ),
        ] {
            assert_eq!(parse(text).unwrap_err().line, line, "{text}");
        }
    }

    #[test]
    fn with_hash_rewrites_only_the_hash_line() {
        let out = with_hash(SMALL, StateHash(0xabc));
        assert_eq!(
            out.replace("hash 0000000000000abc", "hash 00000000000000ff"),
            SMALL
        );
        let appended = with_hash("scenario x\nseed 1\n", StateHash(1));
        assert!(appended.ends_with("hash 0000000000000001\n"));
        let crlf = "scenario x\r\nseed 1\r\nhash 0000000000000002   # kept\r\n";
        assert_eq!(
            with_hash(crlf, StateHash(3)),
            "scenario x\r\nseed 1\r\nhash 0000000000000003   # kept\r\n"
        );
        assert_eq!(
            with_hash("scenario x\r\nseed 1", StateHash(4)),
            "scenario x\r\nseed 1\r\nhash 0000000000000004\r\n"
        );
    }
}
