//! The mode's scenario files pass, with their recorded hashes.

use std::fs;
use tickroom_sim::{Modes, mode, scenario};

#[test]
fn every_scenario_passes() {
    let mut modes = Modes::builtin();
    modes.add(mode::<tickroom_tabletop::Tabletop>()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let paths = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path());
    let files = paths.map(|p| (p.display().to_string(), fs::read_to_string(&p).unwrap()));
    let reports = scenario::run_files(files, &modes);
    assert!(!reports.is_empty(), "no scenario in {}", dir.display());
    for r in reports {
        assert_eq!(r.mode, Some("tabletop"), "{}: {:?}", r.name, r.problems());
        assert!(r.passed(), "{}: {:?}", r.name, r.problems());
    }
}
