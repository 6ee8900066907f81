//! The mode's scenario files pass, with their recorded hashes.

use tickroom_sim::{Modes, mode, scenario};

#[test]
fn every_scenario_passes() {
    let mut modes = Modes::builtin();
    modes.add(mode::<tickroom_tabletop::Tabletop>()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = scenario::parse_with(&text, &modes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(parsed.mode.name(), "tabletop");
        let report = scenario::run(&parsed);
        assert!(
            report.passed(),
            "{}: {:?}",
            path.display(),
            report.problems()
        );
        assert!(parsed.hash.is_some(), "{} records its hash", path.display());
        ran += 1;
    }
    assert!(ran > 0);
}
