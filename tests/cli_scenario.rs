//! `tickroom scenario run` as a user runs it: the real binary, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tickroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickroom"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickroom-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PASSING: &str = "scenario small
seed 5
room teams=1 pieces_per_team=1 neutral_pieces=0
tick 1
  a join
tick 2
  a lock 0
  a move 0 3 4
  expect piece 0 at 3 4
";

#[test]
fn runs_the_scenario_directory_one_line_each_and_a_summary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = tickroom(&["scenario", "run", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let count = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "scenario")
        })
        .count();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("PASS ")).count(),
        count,
        "{text}"
    );
    assert!(
        text.contains(&format!("{count} scenarios: {count} passed, 0 failed")),
        "{text}"
    );
}

#[test]
fn a_failing_expectation_fails_the_run_and_names_the_line() {
    let dir = temp_dir("fail");
    let file = dir.join("bad.scenario");
    std::fs::write(&file, PASSING.replace("at 3 4", "at 9 9")).unwrap();
    let out = tickroom(&["scenario", "run", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("FAIL "), "{text}");
    assert!(
        text.contains("line 9 (tick 2): expected piece 0 at 9 9, got 3 4"),
        "{text}"
    );
    assert!(text.contains("1 scenarios: 0 passed, 1 failed"), "{text}");
}

#[test]
fn update_hashes_rewrites_only_the_hash_line_and_never_other_expectations() {
    let dir = temp_dir("update");
    let file = dir.join("s.scenario");
    std::fs::write(&file, format!("{PASSING}hash 0000000000000000\n")).unwrap();
    let path = file.to_str().unwrap();

    let out = tickroom(&["scenario", "run", path]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a wrong hash fails: {}",
        stdout(&out)
    );

    let out = tickroom(&["scenario", "run", "--update-hashes", path]);
    assert!(out.status.success(), "{}", stdout(&out));
    let updated = std::fs::read_to_string(&file).unwrap();
    let (body, hash_line) = updated.trim_end().rsplit_once('\n').unwrap();
    assert_eq!(format!("{body}\n"), PASSING);
    assert!(hash_line.starts_with("hash ") && hash_line != "hash 0000000000000000");
    assert!(tickroom(&["scenario", "run", path]).status.success());

    // A broken expectation is not "fixed" by updating hashes.
    std::fs::write(&file, updated.replace("at 3 4", "at 9 9")).unwrap();
    let out = tickroom(&["scenario", "run", "--update-hashes", path]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(std::fs::read_to_string(&file).unwrap().contains("at 9 9"));
}

#[test]
fn a_parse_error_names_the_file_and_line() {
    let dir = temp_dir("parse");
    let file = dir.join("p.scenario");
    std::fs::write(&file, "scenario p\nseed 1\ntick 1\n  a dance\n").unwrap();
    let out = tickroom(&["scenario", "run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("line 4: unknown action `a dance`"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["scenario", "--help"],
        &["scenario", "run", "--help"],
    ] {
        let out = tickroom(args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}
