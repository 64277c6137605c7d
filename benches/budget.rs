//! What the poll budget costs (issue 12): 16,384 children that all pend at
//! their first poll and are then woken at once (the harness's burst, in its
//! fixed shuffled order), gathered by `safe_gather(children)` with the
//! default budget (1024 child polls per gather poll, so the round after the
//! burst takes 16 gather polls, each ending with a wake of its own task)
//! and with `.poll_budget(usize::MAX)` (the whole round in one poll).
//!
//! ```text
//! cargo bench --bench budget                      # counted run, then criterion (under a minute)
//! cargo bench --bench budget -- --instructions    # instruction counts under callgrind
//! python3 scripts/bench_report.py --only budget   # the tables into BENCHMARKS.md
//! ```
//!
//! Two measures of each:
//!
//! * `budget_round`: only the round after the burst: the gather polls from
//!   the first after the wakes until it resolves. Making the gather, its
//!   first polls and the wakes themselves are done before the clock starts,
//!   and dropping it after it stops.
//! * `budget_trial`: the whole gather, as in `benches/gather.rs`: making it,
//!   its first polls (also split by the budget), the wakes, the round, the
//!   drop.

mod harness;

use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use safe_gather::gather::DEFAULT_POLL_BUDGET;
use safe_gather::{safe_gather, GatherError};

use harness::jobs::Outcome;
use harness::suite::{Bench, Entry, Measured};
use harness::{
    count_allocations, quick_run, shuffled, Allocations, Board, Child, CountingAllocator, Executor,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILDREN: usize = 16_384;

const ROUND: &str = "budget_round";
const TRIAL: &str = "budget_trial";

const DEFAULT: &str = "default_budget";
const UNBUDGETED: &str = "unbudgeted";

fn budget_of(name: &str) -> usize {
    match name {
        DEFAULT => DEFAULT_POLL_BUDGET,
        UNBUDGETED => usize::MAX,
        _ => panic!("no contender {name}"),
    }
}

fn outcome(result: Result<Vec<u32>, GatherError<u32>>) -> Outcome {
    match result {
        Ok(values) => Outcome::Values(values),
        Err(GatherError::Failed { error, .. }) => Outcome::Failed(error),
        Err(_) => unreachable!("no deadline here"),
    }
}

fn gather(
    children: Vec<Child>,
    budget: usize,
) -> impl Future<Output = Result<Vec<u32>, GatherError<u32>>> {
    safe_gather(children).poll_budget(budget)
}

/// The round after the burst: every gather poll until it resolves.
#[inline(never)]
fn timed_round<F: Future>(executor: &mut Executor, gather: Pin<&mut F>) -> Option<F::Output> {
    executor.run_until_stalled(gather)
}

/// The whole gather: made, first polled, every child woken, polled to its
/// end, dropped.
#[inline(never)]
fn timed_trial(
    board: &Board,
    order: &[usize],
    executor: &mut Executor,
    children: Vec<Child>,
    budget: usize,
) -> Outcome {
    let mut gather = pin!(gather(children, budget));
    assert!(executor.run_until_stalled(gather.as_mut()).is_none());
    for &index in order {
        board.open(index);
    }
    outcome(
        executor
            .run_until_stalled(gather)
            .expect("every child finishes"),
    )
}

/// What one round came to: its outcome, the gather polls and wakes it took,
/// and its allocations (if counted).
struct Round {
    outcome: Outcome,
    polls: u64,
    wakes: u64,
    allocations: Allocations,
}

/// One round after a burst, timed by `clock`: making the gather, its first
/// polls, the wakes and the drop are outside.
fn one_round(order: &[usize], budget: usize, count_heap: bool, clock: &mut Duration) -> Round {
    let board = Board::new(CHILDREN, false, None);
    let mut executor = Executor::new();
    let mut gather = pin!(gather(board.children(), budget));
    assert!(executor.run_until_stalled(gather.as_mut()).is_none());
    for &index in order {
        board.open(index);
    }
    let (polls, wakes) = (executor.polls(), executor.wakes());
    let start = Instant::now();
    let (resolved, allocations) = if count_heap {
        count_allocations(|| timed_round(&mut executor, gather.as_mut()))
    } else {
        let resolved = timed_round(&mut executor, gather.as_mut());
        (resolved, Allocations::default())
    };
    *clock += start.elapsed();
    Round {
        outcome: outcome(resolved.expect("every child finishes")),
        polls: executor.polls() - polls,
        wakes: executor.wakes() - wakes,
        allocations,
    }
}

struct Budget;

impl Bench for Budget {
    const NAME: &'static str = "budget";
    const TOGGLE: &'static str = "*budget::timed_*";
    const CALLGRIND_ITERATIONS: u32 = 5;

    fn contenders() -> Vec<Entry> {
        let mut entries = Vec::new();
        for group in [ROUND, TRIAL] {
            entries.push(Entry {
                name: DEFAULT,
                group,
                n: CHILDREN,
                versus: Some(UNBUDGETED),
                what:
                    "`safe_gather(children)`: the default budget, 1024 child polls per gather poll",
            });
            entries.push(Entry {
                name: UNBUDGETED,
                group,
                n: CHILDREN,
                versus: None,
                what: "`safe_gather(children).poll_budget(usize::MAX)`",
            });
        }
        entries
    }

    fn params() -> Vec<(&'static str, String)> {
        vec![
            ("children", CHILDREN.to_string()),
            ("default_budget", DEFAULT_POLL_BUDGET.to_string()),
        ]
    }

    fn run(entry: &Entry, count_heap: bool) -> Measured {
        let order = shuffled(CHILDREN);
        let budget = budget_of(entry.name);
        let (outcome, polls, wakes, allocations) = match entry.group {
            ROUND => {
                let mut unused_clock = Duration::ZERO;
                let round = one_round(&order, budget, count_heap, &mut unused_clock);
                (round.outcome, round.polls, round.wakes, round.allocations)
            }
            TRIAL => {
                let board = Board::new(CHILDREN, false, None);
                let children = board.children();
                let mut executor = Executor::new();
                let (outcome, allocations) = if count_heap {
                    count_allocations(|| {
                        timed_trial(&board, &order, &mut executor, children, budget)
                    })
                } else {
                    (
                        timed_trial(&board, &order, &mut executor, children, budget),
                        Default::default(),
                    )
                };
                (outcome, executor.polls(), executor.wakes(), allocations)
            }
            group => panic!("no group {group}"),
        };
        Measured {
            correct: outcome.is_complete(CHILDREN),
            outcome,
            polls,
            wakes,
            allocations,
        }
    }

    fn criterion(criterion: &mut Criterion) {
        let quick = quick_run();
        let order: Rc<[usize]> = shuffled(CHILDREN).into();
        let configure = |group: &mut criterion::BenchmarkGroup<'_, _>| {
            group
                .warm_up_time(Duration::from_secs_f64(if quick { 0.2 } else { 1.0 }))
                .measurement_time(Duration::from_secs_f64(if quick { 0.5 } else { 4.0 }))
                .sample_size(if quick { 10 } else { 40 })
                .sampling_mode(SamplingMode::Flat)
                .throughput(Throughput::Elements(CHILDREN as u64));
        };

        let mut group = criterion.benchmark_group(ROUND);
        configure(&mut group);
        for name in [DEFAULT, UNBUDGETED] {
            let budget = budget_of(name);
            group.bench_function(BenchmarkId::new(name, CHILDREN), |bencher| {
                bencher.iter_custom(|iterations| {
                    let mut clock = Duration::ZERO;
                    for _ in 0..iterations {
                        let round = one_round(&order, budget, false, &mut clock);
                        std::hint::black_box(round.outcome);
                    }
                    clock
                })
            });
        }
        group.finish();

        let mut group = criterion.benchmark_group(TRIAL);
        configure(&mut group);
        for name in [DEFAULT, UNBUDGETED] {
            let budget = budget_of(name);
            group.bench_function(BenchmarkId::new(name, CHILDREN), |bencher| {
                bencher.iter_batched(
                    || {
                        let board = Board::new(CHILDREN, false, None);
                        let children = board.children();
                        (board, children, Executor::new())
                    },
                    |(board, children, mut executor)| {
                        let outcome = timed_trial(&board, &order, &mut executor, children, budget);
                        (outcome, board, executor)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

fn main() {
    harness::suite::main::<Budget>();
}
