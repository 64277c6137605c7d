//! Replays every input kept in `fuzz/corpus/schedule/` (and `rounds/`) through the model
//! interpreter (`tests/model/mod.rs`), so that the schedules the fuzzer
//! found interesting stay regression tests under plain `cargo test`.
//!
//! To keep a new input (a crash the fuzzer found, once fixed, or a script
//! printed by the proptest as hex), save its bytes as a file in that folder.
//!
//! Not in the published package: the corpus (6 MB) stays in the repository,
//! and so does this test (see `exclude` in Cargo.toml).

// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

// A plain `mod model;` would be ambiguous with `tests/model.rs`.
#[path = "model/mod.rs"]
mod model;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use model::{Report, Resolution, Script, SlotOutcome};

fn corpus() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/schedule");
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("reading {}: {error}", folder.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one corpus file; a failure names the file and prints its script.
fn replay(path: &Path) -> Report {
    let bytes = fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let script = Script::from_bytes(&bytes);
    match panic::catch_unwind(AssertUnwindSafe(|| model::run(&script))) {
        Ok(report) => report,
        Err(payload) => {
            eprintln!("{} fails; its script:\n{script:#?}", path.display());
            panic::resume_unwind(payload)
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "reads files, which Miri's isolation forbids")]
fn every_schedule_in_the_fuzz_corpus_matches_the_model() {
    let files = corpus();
    assert!(
        !files.is_empty(),
        "the corpus in fuzz/corpus/schedule/ is empty"
    );
    let reports: Vec<Report> = files.iter().map(|path| replay(path)).collect();

    // The corpus is only worth replaying while it still reaches every way
    // a gather ends; a pruned corpus that lost one should get it back.
    let resolved = |wanted: &dyn Fn(&Resolution) -> bool| {
        reports
            .iter()
            .filter_map(|report| report.resolution.as_ref())
            .any(wanted)
    };
    let panicked = |wanted: &str| {
        reports
            .iter()
            .flat_map(|report| &report.panics)
            .any(|message| message.contains(wanted))
    };
    assert!(resolved(
        &|resolution| matches!(resolution, Resolution::Values(values) if !values.is_empty())
    ));
    assert!(resolved(&|resolution| matches!(
        resolution,
        Resolution::Failed { .. }
    )));
    assert!(resolved(&|resolution| matches!(
        resolution,
        Resolution::TimedOut { .. }
    )));
    assert!(resolved(&|resolution| matches!(
        resolution,
        Resolution::Settled { timed: true, slots } if slots.contains(&SlotOutcome::TimedOut)
    )));
    assert!(resolved(&|resolution| matches!(
        resolution,
        Resolution::Settled { timed: false, .. }
    )));
    assert!(panicked("panics on purpose"), "no child panicked");
    assert!(panicked("panics in drop"), "no child's drop panicked");
    assert!(
        panicked("polled after"),
        "no gather was polled after it ended"
    );
    assert!(
        reports.iter().any(|report| report.child_polls > 256),
        "no schedule crossed 256 child polls"
    );
}

// Both models bring the shared test support in by path; it is the same
// file twice, on purpose (each model stands alone in its fuzz target).
#[allow(clippy::duplicate_mod)]
#[path = "rounds/mod.rs"]
mod rounds;

#[test]
#[cfg_attr(miri, ignore = "reads files, which Miri's isolation forbids")]
fn every_script_in_the_rounds_corpus_matches_the_round_model() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rounds");
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("reading {}: {error}", folder.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the corpus in fuzz/corpus/rounds/ is empty"
    );
    let mut paused = 0;
    for path in &files {
        let bytes = fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let script = rounds::Script::from_bytes(&bytes);
        match panic::catch_unwind(AssertUnwindSafe(|| rounds::run(&script))) {
            Ok(report) => paused += report.paused_polls,
            Err(payload) => {
                eprintln!("{} fails; its script:\n{script:#?}", path.display());
                panic::resume_unwind(payload)
            }
        }
    }
    assert!(paused > 0, "no script of the corpus paused a round");
}
