//! The shape the benches of bounded concurrency share (`fanout`, `streams`,
//! `budget`): a few named contenders, each run three ways by one binary.
//!
//! * `cargo bench --bench <name>`: first one counted run of every contender
//!   (peak live heap, allocations, gather polls and wakes: deterministic),
//!   then criterion's timings; writes `<name>.json` to
//!   [`results_dir`](super::results_dir) for `scripts/bench_report.py`.
//! * `cargo bench --bench <name> -- --instructions`: runs itself again under
//!   callgrind once per contender and writes `<name>-instructions.json`
//!   (instructions per run, inside the timed function only).
//! * `<binary> --run <group>/<contender> <iterations>`: what callgrind runs.
//!
//! Every contender of a bench runs in the same process, one after the other,
//! so that times can be compared as ratios within one run.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;

use super::callgrind::{instructions_per_iteration, profile_path, valgrind_version};
use super::jobs::Outcome;
use super::{write_result, Allocations};

/// One contender: its criterion id is `group/name/n`.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    /// The criterion group, and the table it is shown in.
    pub group: &'static str,
    /// The criterion parameter: the number of children.
    pub n: usize,
    /// For safe-gather's contenders, the peer its ratios are taken to.
    pub versus: Option<&'static str>,
    /// What it is, in a few words (Markdown).
    pub what: &'static str,
}

/// One run of a contender.
#[derive(Debug)]
pub struct Measured {
    pub outcome: Outcome,
    /// Whether the outcome is the right one.
    pub correct: bool,
    /// Polls of the top-level future, and wakes of its waker.
    pub polls: u64,
    pub wakes: u64,
    /// Counted inside the timed region only (zero unless asked for).
    pub allocations: Allocations,
}

/// A bench of the kind this module runs.
pub trait Bench {
    /// The bench's name: its file in `benches/`, its results' file names.
    const NAME: &'static str;
    /// Callgrind's `--toggle-collect` pattern for the timed function.
    const TOGGLE: &'static str;
    /// Runs of a contender under callgrind (each a whole run: one is enough
    /// for large inputs, since the counts repeat).
    const CALLGRIND_ITERATIONS: u32;

    fn contenders() -> Vec<Entry>;

    /// The run's parameters, for the report (`children`, `limit`, ...).
    fn params() -> Vec<(&'static str, String)>;

    /// One run of `entry` through the bench's timed function, with the heap
    /// counted inside the timed region if `count_heap`.
    fn run(entry: &Entry, count_heap: bool) -> Measured;

    /// Criterion's timings of every contender.
    fn criterion(criterion: &mut Criterion);
}

impl Entry {
    /// `group/name`, as `--run` takes it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
}

enum Mode {
    Run { id: String, iterations: u32 },
    Instructions,
    Bench,
}

fn mode() -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--run") {
        let usage = "--run <group>/<contender> <iterations>";
        let id = args.get(at + 1).cloned().expect(usage);
        let iterations = args
            .get(at + 2)
            .and_then(|count| count.parse().ok())
            .expect(usage);
        return Mode::Run { id, iterations };
    }
    if args.iter().any(|arg| arg == "--instructions") {
        return Mode::Instructions;
    }
    Mode::Bench
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// A JSON string (the names here hold no control characters).
fn json_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn json_params<B: Bench>() -> String {
    let fields: Vec<String> = B::params()
        .iter()
        .map(|(key, value)| format!("{}: {}", json_string(key), json_string(value)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// The bench's `main`.
pub fn main<B: Bench>() {
    match mode() {
        Mode::Run { id, iterations } => {
            let entry = B::contenders()
                .into_iter()
                .find(|entry| entry.id() == id)
                .unwrap_or_else(|| panic!("no contender {id}"));
            for _ in 0..iterations {
                let measured = B::run(&entry, false);
                assert!(
                    measured.correct,
                    "{id}: wrong outcome {:?}",
                    measured.outcome
                );
                std::hint::black_box(measured);
            }
        }
        Mode::Instructions => instructions::<B>(),
        Mode::Bench => bench::<B>(),
    }
}

fn bench<B: Bench>() {
    let started = unix_now();
    let mut table = String::from(
        "| group | contender | peak heap (B) | allocations | bytes allocated | gather polls | wakes |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut rows = Vec::new();
    for entry in B::contenders() {
        let measured = B::run(&entry, true);
        assert!(
            measured.correct,
            "{}: wrong outcome {:?}",
            entry.id(),
            measured.outcome
        );
        let heap = measured.allocations;
        let _ = writeln!(
            table,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            entry.group,
            entry.name,
            heap.peak,
            heap.count,
            heap.bytes,
            measured.polls,
            measured.wakes
        );
        let versus = entry.versus.map_or("null".to_string(), json_string);
        rows.push(format!(
            "    {{\"name\": {}, \"group\": {}, \"n\": {}, \"versus\": {versus}, \"what\": {}, \
             \"peak\": {}, \"allocations\": {}, \"bytes\": {}, \"polls\": {}, \"wakes\": {}}}",
            json_string(entry.name),
            json_string(entry.group),
            entry.n,
            json_string(entry.what),
            heap.peak,
            heap.count,
            heap.bytes,
            measured.polls,
            measured.wakes,
        ));
    }
    println!("{} (counted: one run each)\n\n{table}", B::NAME);

    let mut criterion = Criterion::default().without_plots().configure_from_args();
    let timing = Instant::now();
    B::criterion(&mut criterion);
    criterion.final_summary();
    let quick = super::quick_run();
    let json = format!(
        "{{\n  \"bench\": {},\n  \"mode\": {},\n  \"started_unix\": {started:.0},\n  \
         \"wall_seconds\": {:.1},\n  \"params\": {},\n  \"contenders\": [\n{}\n  ]\n}}\n",
        json_string(B::NAME),
        json_string(if quick { "quick" } else { "full" }),
        timing.elapsed().as_secs_f64(),
        json_params::<B>(),
        rows.join(",\n"),
    );
    write_result(&format!("{}.json", B::NAME), &json);
}

fn instructions<B: Bench>() {
    let valgrind = match valgrind_version() {
        Ok(version) => version,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let iterations = B::CALLGRIND_ITERATIONS;
    println!(
        "{}: instructions per run under callgrind ({valgrind}, {iterations} run(s) each)\n",
        B::NAME
    );
    println!("| group | contender | instructions |\n|---|---|---:|");
    let mut counts = Vec::new();
    for entry in B::contenders() {
        match instructions_per_iteration(B::NAME, B::TOGGLE, &entry.id(), iterations) {
            Ok(count) => {
                println!("| {} | `{}` | {count} |", entry.group, entry.name);
                counts.push(format!("    {}: {count}", json_string(&entry.id())));
            }
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "\nprofiles in {} (callgrind_annotate <file>)",
        profile_path(B::NAME, "x").parent().unwrap().display()
    );
    let json = format!(
        "{{\n  \"bench\": {},\n  \"measured_unix\": {:.0},\n  \"valgrind\": {},\n  \
         \"iterations\": {iterations},\n  \"params\": {},\n  \"instructions\": {{\n{}\n  }}\n}}\n",
        json_string(B::NAME),
        unix_now(),
        json_string(&valgrind),
        json_params::<B>(),
        counts.join(",\n"),
    );
    write_result(&format!("{}-instructions.json", B::NAME), &json);
}
