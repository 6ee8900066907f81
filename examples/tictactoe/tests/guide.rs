//! `docs/modes.md` builds this crate: every code block it quotes from
//! `src/lib.rs` must still be in `src/lib.rs`, line for line.

use std::path::Path;

#[test]
fn the_guide_quotes_the_code_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("../../docs/modes.md")).unwrap();
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let lib_lines: Vec<&str> = lib.lines().collect();
    let mut quoted = 0;
    let mut blocks = guide.split("```rust\n").skip(1);
    for block in blocks.by_ref() {
        let body = block.split("```").next().unwrap();
        let mut lines = body.lines();
        if lines.next() != Some("// examples/tictactoe/src/lib.rs") {
            continue;
        }
        let want: Vec<&str> = lines.collect();
        let found = lib_lines.windows(want.len()).any(|w| w == want.as_slice());
        assert!(
            found,
            "docs/modes.md quotes lines src/lib.rs no longer has:\n{}",
            want.join("\n")
        );
        quoted += 1;
    }
    assert!(quoted >= 5, "the guide quotes the crate ({quoted} blocks)");
    // The scenario the guide shows is the start of the crate's scenario.
    let file = std::fs::read_to_string(root.join("scenarios/a_game_to_the_end.scenario")).unwrap();
    let shown = guide
        .split("```text\nscenario ")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let shown_lines: Vec<&str> = shown.lines().collect();
    let file_lines: Vec<&str> = file.lines().collect();
    for line in shown_lines.iter().skip(1) {
        assert!(
            file_lines.contains(line),
            "the scenario file has no line {line:?}"
        );
    }
}
