//! Runs every scenario file in `scenarios/` through the scenario runner.

use std::path::Path;
use tickroom_sim::scenario;

#[test]
fn every_scenario_file_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "scenario"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "expected at least 12 scenarios, found {}",
        files.len()
    );
    let mut failed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let parsed = scenario::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let report = scenario::run(&parsed);
        if !report.passed() {
            failed.push(format!("{}: {:#?}", file.display(), report.problems()));
        }
    }
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
}
