//! `tickroom replay`: rebuilds a room from its seed and log (from creation,
//! or from its oldest kept snapshot once the log was compacted), checks the
//! state hash against every stored snapshot and published hash and every
//! outcome against the logged one, and prints the first divergence.

use crate::rebuild::{Divergence, RebuildError, Start, rebuild};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tickroom_persistence::{Reader, StoredRoom};

/// A room in a store, up to a tick: what `replay` and `export` read.
#[derive(clap::Args)]
pub struct StoredRoomArgs {
    /// The store's database file.
    #[arg(long)]
    pub db: PathBuf,
    /// The room id.
    #[arg(long)]
    pub room: String,
    /// Stop after this tick (default: the room's last logged tick).
    #[arg(long)]
    pub to_tick: Option<u64>,
}

impl StoredRoomArgs {
    pub fn open(&self) -> Result<(Reader, StoredRoom)> {
        let reader = Reader::open(&self.db)?;
        let stored = reader.room(&self.room)?;
        Ok((reader, stored))
    }
}

/// Prints where a rebuild diverged (text, then one JSON line); exit code 1.
pub fn report_divergence(d: &Divergence, note: &str) -> ExitCode {
    println!(
        "DIVERGED at tick {}: {} expected {}, actual {}{note}",
        d.tick, d.what, d.expected, d.actual
    );
    println!("{}", serde_json::json!({ "divergence": d }));
    ExitCode::from(1)
}

pub fn run(args: StoredRoomArgs, modes: &tickroom_sim::Modes) -> Result<ExitCode> {
    let (reader, stored) = args.open()?;
    let started = Instant::now();
    let mut ticks = 0u64;
    let result = rebuild(
        modes,
        &reader,
        &stored,
        Start::Oldest,
        args.to_tick,
        |_, _| ticks += 1,
    );
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            println!(
                "replayed room {} from tick {} to tick {}: {} inputs, {} stored hashes checked, final state hash {}",
                args.room,
                r.from_tick,
                r.room.tick(),
                r.inputs,
                r.hashes_checked,
                r.room.state_hash()
            );
            println!(
                "{}",
                serde_json::json!({"replay": {
                    "room": args.room,
                    "from_tick": r.from_tick,
                    "to_tick": r.room.tick(),
                    "inputs": r.inputs,
                    "hashes_checked": r.hashes_checked,
                    "state_hash": r.room.state_hash().to_string(),
                    "seconds": secs,
                    "ticks_per_s": if secs > 0.0 { ticks as f64 / secs } else { 0.0 },
                }})
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(RebuildError::Diverged(d)) => Ok(report_divergence(&d, "")),
        Err(e) => Err(e.into()),
    }
}
