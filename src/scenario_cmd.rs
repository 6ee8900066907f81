//! `tickroom scenario run`: runs scenario files headless, one line per
//! scenario and a summary; exits non-zero if any fails.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tickroom_sim::scenario;

/// The file extension scenario files carry.
pub const EXTENSION: &str = "scenario";

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Run scenario files, or every `*.scenario` file in a directory.
    Run {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Rewrite each file's recorded `hash` line with the hash of this run
        /// (only that line; every other expectation must still pass).
        #[arg(long)]
        update_hashes: bool,
    },
}

pub fn run(command: ScenarioCommand, modes: &tickroom_sim::Modes) -> Result<ExitCode> {
    match command {
        ScenarioCommand::Run {
            paths,
            update_hashes,
        } => run_files(&paths, update_hashes, modes),
    }
}

/// The scenario files under `paths`, sorted, directories expanded one level.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn run_files(
    paths: &[PathBuf],
    update_hashes: bool,
    modes: &tickroom_sim::Modes,
) -> Result<ExitCode> {
    let files = collect(paths)?;
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed, mut updated) = (0usize, 0usize, 0usize);
    for file in &files {
        match run_file(file, update_hashes, modes) {
            Ok(FileResult { report, rewrote }) => {
                updated += usize::from(rewrote);
                let status = if report.passed() { "PASS" } else { "FAIL" };
                writeln!(
                    out,
                    "{status} {} — {} ({} ticks, {} inputs, hash {}{})",
                    file.display(),
                    report.name,
                    report.ticks,
                    report.inputs,
                    report.hash,
                    if rewrote { ", hash updated" } else { "" }
                )?;
                for f in report.problems() {
                    writeln!(out, "    {f}")?;
                }
                if report.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            Err(e) => {
                failed += 1;
                writeln!(out, "FAIL {} — {e:#}", file.display())?;
            }
        }
    }
    writeln!(
        out,
        "{} scenarios: {passed} passed, {failed} failed{}",
        files.len(),
        if update_hashes {
            format!(", {updated} hashes updated")
        } else {
            String::new()
        }
    )?;
    Ok(if failed == 0 && !files.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct FileResult {
    report: scenario::RunReport,
    rewrote: bool,
}

fn run_file(path: &Path, update_hashes: bool, modes: &tickroom_sim::Modes) -> Result<FileResult> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = scenario::parse_with(&text, modes)?;
    let mut report = scenario::run(&parsed);
    let mut rewrote = false;
    // Only a run that passes every other check may record its hash.
    if update_hashes && report.failures.is_empty() && parsed.hash != Some(report.hash) {
        std::fs::write(path, scenario::with_hash(&text, report.hash))
            .with_context(|| format!("writing {}", path.display()))?;
        rewrote = true;
        // Only the hash is rewritten; every other failure still stands.
        report.recorded = Some(report.hash);
    }
    Ok(FileResult { report, rewrote })
}
