//! A room's history written by `ScenarioWriter` is a scenario that
//! `scenario::run` passes with the room's own final hash: awkward user ids
//! and texts, rejections, stale and missing seats, admin actions, rejoins,
//! and rooms whose history starts from a snapshot.

use tickroom_protocol::board::Intent;
use tickroom_protocol::{MemberId, PieceId, Pos, Role, RoomConfig, RoomId, TeamId};
use tickroom_sim::scenario::{self, ScenarioWriter};
use tickroom_sim::{AdminAction, Input, InputKind, Outcome, Room, TickOutput};

/// User ids a real server accepts that collide with the scenario syntax.
const USERS: &[&str] = &[
    "alice",
    "admin",
    "tick",
    "-",
    "two words",
    "!bang",
    "#hash",
    "{x}",
    "100%",
    "",
    "日本",
];

fn config() -> RoomConfig {
    RoomConfig {
        max_players: 8,
        teams: 2,
        match_ticks: 150,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 3,
            neutral_pieces: 2,
            board_width: 200,
            board_height: 200,
            lock_ttl_ticks: 7,
            max_formations: 3,
            chat_history: 4,
            max_chat_chars: 40,
            ..tickroom_protocol::board::Config::default()
        }),
        ..RoomConfig::default()
    }
}

/// A tiny deterministic generator, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const TEXTS: &[&str] = &[
    "hi",
    "  {1+1} #not-a-comment !LOCK_HELD  ",
    "a  b",
    "100% sure_",
    "",
    "tab\tand\nnewline",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

/// Members ever seated, so inputs can come from stale seats too.
struct History {
    seen: Vec<MemberId>,
}

fn random_input(rng: &mut Rng, room: &Room, h: &History) -> Input {
    let seated: Vec<MemberId> = room.seats().iter().map(|(v, _)| v.id).collect();
    let member = match rng.below(10) {
        0 => None,
        1 => Some(MemberId(900 + rng.below(3) as u32)),
        2 if !h.seen.is_empty() => Some(*rng.pick(&h.seen)),
        _ if seated.is_empty() => None,
        _ => Some(*rng.pick(&seated)),
    };
    let piece = PieceId(rng.below(9) as u32);
    let kind = match rng.below(22) {
        0..=2 => {
            let user = *rng.pick(USERS);
            let name = *rng.pick(&["", "Big_Al", "Big Al", "two  spaces", user]);
            return Input {
                member: None,
                seq: None,
                kind: InputKind::Join {
                    user: user.to_owned(),
                    name: if name.is_empty() {
                        user.to_owned()
                    } else {
                        name.to_owned()
                    },
                    role: *rng.pick(&[None, Some(Role::Host), Some(Role::Spectator)]),
                    team: *rng.pick(&[None, Some(TeamId(0)), Some(TeamId(1)), Some(TeamId(5))]),
                },
            };
        }
        3 => InputKind::Leave,
        4 => InputKind::Disconnect,
        5 => InputKind::Reconnect,
        6 => InputKind::GraceExpired,
        7 => InputKind::ChangeTeam {
            team: TeamId(rng.below(3) as u8),
        },
        8..=9 => InputKind::intent(Intent::TakeLock { piece }),
        10..=12 => InputKind::intent(Intent::MovePiece {
            piece,
            to: Pos::new(rng.below(260) as i32 - 30, rng.below(220) as i32),
        }),
        13 => InputKind::intent(Intent::RenewLock { piece }),
        14 => InputKind::intent(Intent::ReleaseLock { piece }),
        15 => InputKind::intent(Intent::SaveFormation {
            name: (*rng.pick(&["f 1", "#f", "", "{f}"])).to_owned(),
            key: (*rng.pick(&["k", "k%", "!k"])).to_owned(),
        }),
        16 => InputKind::intent(Intent::ApplyFormation {
            name: (*rng.pick(&["f 1", "#f", "nope"])).to_owned(),
        }),
        17 => InputKind::intent(Intent::RollDice {
            notation: (*rng.pick(&["2d6+1", "d20", "1d0", "9 9", ""])).to_owned(),
        }),
        18 => InputKind::intent(Intent::Chat {
            text: (*rng.pick(TEXTS)).to_owned(),
        }),
        19 => InputKind::intent(Intent::StartMatch {}),
        20 => {
            return Input {
                member: None,
                seq: None,
                kind: InputKind::Admin(AdminAction::Kick {
                    member: member.unwrap_or(MemberId(7)),
                    by: (*rng.pick(&["ops team", "admin", "#1"])).to_owned(),
                }),
            };
        }
        _ => InputKind::Leave,
    };
    Input {
        member,
        seq: Some(rng.below(1000)),
        kind,
    }
}

fn step(room: &mut Room, rng: &mut Rng, h: &mut History, writer: &mut ScenarioWriter) {
    let count = rng.below(6) as usize;
    let inputs = (0..count).map(|_| random_input(rng, room, h)).collect();
    let out: TickOutput = room.step(inputs);
    for o in &out.outcomes {
        if let Outcome::Joined { member } = o {
            h.seen.push(*member);
        }
    }
    writer.tick(&out);
}

fn assert_passes(text: &str, room: &Room) {
    let parsed = scenario::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let report = scenario::run(&parsed);
    assert!(
        report.passed(),
        "{:?}\n{}",
        report.problems(),
        text.lines().take(80).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(report.hash, room.state_hash());
}

#[test]
fn a_random_history_exports_to_a_scenario_that_passes() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut room = Room::new(RoomId::from("export-me"), config(), seed).unwrap();
        let mut writer = ScenarioWriter::new("random history", &room);
        let mut h = History { seen: Vec::new() };
        for _ in 0..300 {
            step(&mut room, &mut rng, &mut h, &mut writer);
        }
        // Archiving ends a room's history: once by a host, once by an admin.
        let archive = match seed % 2 {
            0 => Input {
                member: None,
                seq: None,
                kind: InputKind::Admin(AdminAction::Archive {
                    by: "ops desk".into(),
                }),
            },
            _ => Input {
                member: room.seats().first().map(|(v, _)| v.id),
                seq: Some(1),
                kind: InputKind::intent(Intent::ArchiveRoom {}),
            },
        };
        writer.tick(&room.step(vec![archive]));
        for _ in 0..5 {
            step(&mut room, &mut rng, &mut h, &mut writer);
        }
        let joined = h.seen.len();
        let inputs = writer.inputs();
        let text = writer.finish(&room);
        assert!(joined > 3 && inputs > 500, "the history is too tame");
        assert!(text.contains("room-id export-me"));
        let applied = text
            .lines()
            .filter(|l| l.starts_with("  ") && !l.contains(" !") && !l.contains("expect"))
            .count();
        let codes: std::collections::BTreeSet<&str> = text
            .split_whitespace()
            .filter(|w| w.starts_with('!'))
            .collect();
        assert!(
            applied > 100 && codes.len() >= 6,
            "the history is too tame: {applied} applied, codes {codes:?}"
        );
        assert_passes(&text, &room);
    }
}

#[test]
fn a_changed_export_fails() {
    let mut rng = Rng(99);
    let mut room = Room::new(RoomId::from("r"), config(), 5).unwrap();
    let mut writer = ScenarioWriter::new("to be tampered with", &room);
    let mut h = History { seen: Vec::new() };
    for _ in 0..200 {
        step(&mut room, &mut rng, &mut h, &mut writer);
    }
    let text = writer.finish(&room);
    // Another room id changes the hash; dropping an applied move changes the
    // state or a later outcome.
    let other_room = text.replace("room-id r", "room-id s");
    let report = scenario::run(&scenario::parse(&other_room).unwrap());
    assert!(!report.passed());
    let first_move = text
        .lines()
        .find(|l| l.contains(" move ") && !l.contains('!'))
        .unwrap();
    let without_move = text.replacen(&format!("{first_move}\n"), "", 1);
    let report = scenario::run(&scenario::parse(&without_move).unwrap());
    assert!(!report.passed(), "dropping `{first_move}` went unnoticed");
}

#[test]
fn a_history_that_starts_from_a_snapshot_exports_too() {
    let mut rng = Rng(7);
    let mut room = Room::new(RoomId::from("compacted"), config(), 3).unwrap();
    let mut ignored = ScenarioWriter::new("before", &room);
    let mut h = History { seen: Vec::new() };
    for _ in 0..80 {
        step(&mut room, &mut rng, &mut h, &mut ignored);
    }
    let joins = (0..4)
        .map(|i| Input::join(USERS[i], "n", None, Some(TeamId((i % 2) as u8))))
        .collect();
    let out = room.step(joins);
    for o in &out.outcomes {
        if let Outcome::Joined { member } = o {
            h.seen.push(*member);
        }
    }
    assert!(room.member_count() > 0, "seats carry over the snapshot");
    let mut writer = ScenarioWriter::new("after compaction", &room);
    for _ in 0..120 {
        step(&mut room, &mut rng, &mut h, &mut writer);
    }
    let text = writer.finish(&room);
    assert!(text.contains("\nsnapshot "));
    assert!(!text.contains("\ntick 80\n"));
    assert_passes(&text, &room);
    // The snapshot must belong to the header it sits under.
    let report = scenario::run(&scenario::parse(&text.replace("seed 3", "seed 4")).unwrap());
    assert!(
        report.problems().iter().any(|p| p.contains("seed 3")),
        "{:?}",
        report.problems()
    );
}
