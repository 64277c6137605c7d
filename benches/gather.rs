//! The timing benchmark of SPEC §6: `safe_gather` against `try_join_all`,
//! `join_all`, `FuturesUnordered`, futures-concurrency's `TryJoin`,
//! futures-buffered's `try_join_all` and a hand-written floor, on the same
//! children and the same counting executor (see `benches/harness/`), in five
//! scenarios (ready, trickle, burst, fail-mid, timeout) at N in 8, 64, 1024
//! and 16384, plus a heterogeneous 3-tuple against `try_join!` and
//! futures-concurrency's tuple `TryJoin`.
//!
//! ```text
//! cargo bench --bench gather                              # full, < 15 min on 2 cores
//! SAFE_GATHER_BENCH_QUICK=1 cargo bench --bench gather    # smoke run, < 2 min
//! cargo bench --bench gather -- trickle/                  # one scenario (criterion filter)
//! python3 scripts/bench_report.py                         # tables and chart into BENCHMARKS.md
//! ```
//!
//! Timed: making the gather from the children, every poll until it resolves
//! (with the wakes the scenario sends), and dropping it. Not timed: making
//! the children, the wake order, the executor, the floor's wakers, and
//! dropping the output (criterion's `iter_batched`).

mod harness;

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};

use harness::contenders::{each_tuple_contender, each_vec_contender, Visit};
use harness::{run, shuffled, write_result, Contender, Scenario, Trial, SIZES, TUPLE_LEN};

/// How long and how often to measure, by run length and N.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
}

impl Plan {
    fn from_env() -> Plan {
        Plan {
            quick: harness::quick_run(),
        }
    }

    fn sizes(self) -> &'static [usize] {
        if self.quick {
            &SIZES[..3]
        } else {
            &SIZES
        }
    }

    /// Tunes `group` for gathers of `n` children. Large N get fewer, flat
    /// samples: one trickle of 16384 children through futures-concurrency
    /// takes a good fraction of a second (it scans every child per wake).
    fn configure(self, group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
        let (warm_up, measurement, samples) = match (self.quick, n) {
            (true, _) => (0.1, 0.3, 10),
            (false, 0..=64) => (0.5, 2.0, 60),
            (false, 65..=1024) => (0.5, 1.5, 20),
            (false, _) => (0.3, 2.0, 10),
        };
        group
            .warm_up_time(Duration::from_secs_f64(warm_up))
            .measurement_time(Duration::from_secs_f64(measurement))
            .sample_size(samples)
            .sampling_mode(if n > 64 {
                SamplingMode::Flat
            } else {
                SamplingMode::Auto
            })
            .throughput(Throughput::Elements(n as u64));
    }
}

/// Small inputs are made in batches (so the clock is read once per batch);
/// large ones one at a time, where a batch would cost memory and reading
/// the clock costs nothing next to the run.
fn batch_size(n: usize) -> BatchSize {
    if n <= 64 {
        BatchSize::SmallInput
    } else {
        BatchSize::PerIteration
    }
}

/// Times every contender that supports `order.len()` children in one
/// scenario.
struct TimeEach<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    scenario: Scenario,
    order: Rc<[usize]>,
}

impl Visit for TimeEach<'_, '_> {
    fn visit<C: Contender>(&mut self) {
        let (scenario, n) = (self.scenario, self.order.len());
        if !C::supports(n) {
            return;
        }
        // A wrong result would make the timing meaningless: check it once.
        let verdict = run(Trial::<C>::new(scenario, self.order.clone())).verdict();
        assert_eq!(
            verdict,
            scenario.expected_verdict(n),
            "{} in {scenario} with {n} children resolved wrongly",
            C::NAME
        );
        let order = &self.order;
        self.group
            .bench_with_input(BenchmarkId::new(C::NAME, n), &n, |bencher, _| {
                bencher.iter_batched(
                    || Trial::<C>::new(scenario, Rc::clone(order)),
                    run::<C>,
                    batch_size(n),
                )
            });
    }
}

fn bench_vec_scenarios(criterion: &mut Criterion, plan: Plan) {
    for scenario in Scenario::ALL {
        let mut group = criterion.benchmark_group(scenario.name());
        for &n in plan.sizes() {
            plan.configure(&mut group, n);
            each_vec_contender(&mut TimeEach {
                group: &mut group,
                scenario,
                order: shuffled(n).into(),
            });
        }
        group.finish();
    }
}

fn bench_tuple_scenarios(criterion: &mut Criterion, plan: Plan) {
    for scenario in Scenario::ALL {
        let mut group = criterion.benchmark_group(format!("tuple3_{}", scenario.name()));
        plan.configure(&mut group, TUPLE_LEN);
        each_tuple_contender(&mut TimeEach {
            group: &mut group,
            scenario,
            order: shuffled(TUPLE_LEN).into(),
        });
        group.finish();
    }
}

/// Seconds since the Unix epoch.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// What the report needs to know about this run: its mode, its sizes, and
/// when it started (results older than that are from another run).
fn run_record(plan: Plan, started: SystemTime, wall: Duration) -> String {
    let sizes: Vec<String> = plan.sizes().iter().map(usize::to_string).collect();
    format!(
        "{{\"mode\": \"{}\", \"sizes\": [{}], \"started_unix\": {:.3}, \"wall_seconds\": {:.1}, \"cores\": {}}}\n",
        if plan.quick { "quick" } else { "full" },
        sizes.join(", "),
        unix_seconds(started),
        wall.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from),
    )
}

fn main() {
    let started = SystemTime::now();
    let clock = Instant::now();
    let plan = Plan::from_env();
    // Plots would take longer than the measurements; the report script draws
    // its own chart.
    let mut criterion = Criterion::default()
        .without_plots()
        .nresamples(20_000)
        .configure_from_args();
    bench_vec_scenarios(&mut criterion, plan);
    bench_tuple_scenarios(&mut criterion, plan);
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once: no run to record.
    if !std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        write_result("run.json", &run_record(plan, started, clock.elapsed()));
    }
}
