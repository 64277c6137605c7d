//! Instruction counts from valgrind's callgrind, for the benches whose binary
//! can run one contender on its own (`<bench> --run <group>/<contender>
//! <iterations>`): the bench runs itself again under callgrind once per
//! contender, collecting only inside its `#[inline(never)]` timed function.
//!
//! Instruction counts are the same on every run whatever else the machine
//! is doing, unlike times; they do not see cache misses or branch
//! mispredictions, so they complement criterion's ratios rather than
//! replace them.

use std::path::PathBuf;
use std::process::Command;

use super::results_dir;

/// The valgrind on `PATH`, e.g. `valgrind-3.24.0`, or why there is none.
pub fn valgrind_version() -> Result<String, String> {
    let output = Command::new("valgrind")
        .arg("--version")
        .output()
        .map_err(|error| format!("cannot run valgrind: {error}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Where the callgrind profile of `contender` in `bench` goes (for
/// `callgrind_annotate`).
pub fn profile_path(bench: &str, contender: &str) -> PathBuf {
    let file: String = contender
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    results_dir()
        .join("callgrind")
        .join(format!("{bench}.{file}.out"))
}

/// Runs this binary again under callgrind as `--run <contender>
/// <iterations>`, collecting only inside functions whose name matches
/// `toggle` (callgrind's `--toggle-collect` pattern), and returns the
/// instructions collected per iteration.
pub fn instructions_per_iteration(
    bench: &str,
    toggle: &str,
    contender: &str,
    iterations: u32,
) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let profile = profile_path(bench, contender);
    if let Some(folder) = profile.parent() {
        std::fs::create_dir_all(folder).map_err(|error| error.to_string())?;
    }
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--toggle-collect={toggle}"))
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(exe)
        .args(["--run", contender, &iterations.to_string()])
        .output()
        .map_err(|error| format!("cannot run valgrind: {error}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("callgrind of {contender} failed:\n{stderr}"));
    }
    // "==1234== Collected : 5678", callgrind's total of the collected events.
    let collected = stderr
        .lines()
        .find_map(|line| line.split_once("Collected :"))
        .and_then(|(_, count)| count.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("no \"Collected\" line from callgrind:\n{stderr}"))?;
    Ok(collected / u64::from(iterations))
}
