//! The deterministic counters beside the timings: for every implementation,
//! scenario and N, one run on the counting executor under a counting
//! allocator, giving child polls, gather polls, gather wakes, heap
//! allocations and bytes per gather, and how many children were still alive
//! when it resolved. No clock: the numbers are the same on every machine.
//!
//! ```text
//! cargo bench --bench counters
//! ```
//!
//! Prints one Markdown table per scenario, and writes the same numbers as
//! JSON to `$CARGO_TARGET_DIR/safe-gather-bench/counters.json` (default
//! `target/`) for `scripts/bench_report.py`. A wrong result is marked in the
//! table, and makes the run fail.

mod harness;

use std::fmt::Write as _;
use std::rc::Rc;

use harness::contenders::{each_tuple_contender, each_vec_contender, Visit};
use harness::{
    measure, shuffled, write_result, Contender, Counters, CountingAllocator, Scenario, SIZES,
    TUPLE_LEN,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One row of the table.
struct Row {
    table: &'static str,
    scenario: Scenario,
    n: usize,
    implementation: &'static str,
    role: &'static str,
    counters: Counters,
    correct: bool,
}

/// Measures every contender that supports `order.len()` children.
struct CountEach<'r> {
    rows: &'r mut Vec<Row>,
    table: &'static str,
    scenario: Scenario,
    order: Rc<[usize]>,
}

impl Visit for CountEach<'_> {
    fn visit<C: Contender>(&mut self) {
        let n = self.order.len();
        if !C::supports(n) {
            return;
        }
        let counters = measure::<C>(self.scenario, Rc::clone(&self.order));
        let correct = counters.verdict == self.scenario.expected_verdict(n);
        self.rows.push(Row {
            table: self.table,
            scenario: self.scenario,
            n,
            implementation: C::NAME,
            role: C::ROLE.name(),
            counters,
            correct,
        });
    }
}

fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut current = None;
    for row in rows {
        if current != Some((row.table, row.scenario)) {
            current = Some((row.table, row.scenario));
            let _ = write!(
                out,
                "\n### {} {}\n\n\
                 | N | implementation | child polls | gather polls | gather wakes | allocations | bytes | children alive at resolution |\n\
                 |---:|---|---:|---:|---:|---:|---:|---:|\n",
                row.table, row.scenario
            );
        }
        let counters = &row.counters;
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} | {} | {} | {} | {} |",
            row.n,
            row.implementation,
            if row.correct { "" } else { " (WRONG RESULT)" },
            counters.child_polls,
            counters.gather_polls,
            counters.gather_wakes,
            counters.allocations,
            counters.bytes,
            counters.children_alive_at_resolution,
        );
    }
    out
}

fn json(rows: &[Row]) -> String {
    let records: Vec<String> = rows
        .iter()
        .map(|row| {
            let counters = &row.counters;
            format!(
                "  {{\"table\": \"{}\", \"scenario\": \"{}\", \"n\": {}, \"implementation\": \"{}\", \
                 \"role\": \"{}\", \"child_polls\": {}, \"gather_polls\": {}, \"gather_wakes\": {}, \
                 \"allocations\": {}, \"bytes\": {}, \"children_alive_at_resolution\": {}, \"correct\": {}}}",
                row.table,
                row.scenario,
                row.n,
                row.implementation,
                row.role,
                counters.child_polls,
                counters.gather_polls,
                counters.gather_wakes,
                counters.allocations,
                counters.bytes,
                counters.children_alive_at_resolution,
                row.correct,
            )
        })
        .collect();
    format!("[\n{}\n]\n", records.join(",\n"))
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--test`: the counters
    // are cheap enough to run in full then too.
    let mut rows = Vec::new();
    for scenario in Scenario::ALL {
        for n in SIZES {
            each_vec_contender(&mut CountEach {
                rows: &mut rows,
                table: "Vec",
                scenario,
                order: shuffled(n).into(),
            });
        }
    }
    for scenario in Scenario::ALL {
        each_tuple_contender(&mut CountEach {
            rows: &mut rows,
            table: "3-tuple",
            scenario,
            order: shuffled(TUPLE_LEN).into(),
        });
    }
    print!("{}", markdown(&rows));

    println!();
    write_result("counters.json", &json(&rows));

    let wrong: Vec<String> = rows
        .iter()
        .filter(|row| !row.correct)
        .map(|row| {
            format!(
                "{} {} n={} {}",
                row.table, row.scenario, row.n, row.implementation
            )
        })
        .collect();
    assert!(wrong.is_empty(), "wrong results: {wrong:?}");
}
