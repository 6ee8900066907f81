//! `tickroom export`: turns a stored room's history into a scenario file —
//! every logged input with its outcome, rejections and their codes included —
//! that `tickroom scenario run` passes, so an incident becomes a test. The
//! room is rebuilt exactly as `tickroom replay` does (every outcome and stored
//! hash checked); the file written is then run once to prove it passes.

use crate::rebuild::{RebuildError, Start, base, replay};
use crate::replay_cmd::{StoredRoomArgs, report_divergence};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use tickroom_sim::scenario::{self, ScenarioWriter};

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    source: StoredRoomArgs,
    /// The scenario file to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(
    ExportArgs { source: args, out }: ExportArgs,
    modes: &tickroom_sim::Modes,
) -> Result<ExitCode> {
    let (reader, stored) = args.open()?;
    let room = base(modes, &reader, &stored, Start::Oldest, args.to_tick)?;
    let from_tick = room.tick();
    let mut writer = ScenarioWriter::new(&format!("Room {} as logged", args.room), &room);
    let rebuilt = match replay(&reader, &stored, room, args.to_tick, |_, out| {
        writer.tick(out)
    }) {
        Ok(r) => r,
        Err(RebuildError::Diverged(d)) => {
            return Ok(report_divergence(&d, "; no scenario written"));
        }
        Err(e) => return Err(e.into()),
    };
    let inputs = writer.inputs();
    let text = writer.finish(&rebuilt.room);
    let parsed =
        scenario::parse_with(&text, modes).context("the exported scenario does not parse")?;
    let report = scenario::run(&parsed);
    if !report.passed() {
        bail!(
            "the exported scenario does not pass, so it was not written: {}",
            report.problems().join("; ")
        );
    }
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "exported room {} ticks {}..={} ({} inputs) to {}; it passes with state hash {}",
        args.room,
        from_tick + 1,
        rebuilt.room.tick(),
        inputs,
        out.display(),
        report.hash
    );
    println!(
        "{}",
        serde_json::json!({"export": {
            "room": args.room,
            "from_tick": from_tick,
            "to_tick": rebuilt.room.tick(),
            "inputs": inputs,
            "out": out.display().to_string(),
            "state_hash": report.hash.to_string(),
        }})
    );
    Ok(ExitCode::SUCCESS)
}
