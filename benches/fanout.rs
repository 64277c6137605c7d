//! Fan-out at scale (issue 10): 512,000 jobs of 520 bytes, each pending once
//! (it wakes itself) and then `Ok`, at most 256 in flight, on one thread.
//! Every contender runs in the same process, so times are compared as
//! ratios within one run; peak live heap and instruction counts are
//! deterministic.
//!
//! ```text
//! cargo bench --bench fanout                      # counted run, then criterion (about a minute)
//! cargo bench --bench fanout -- --instructions    # instruction counts under callgrind (about 2 minutes)
//! python3 scripts/bench_report.py --only fanout   # the tables into BENCHMARKS.md
//! ```
//!
//! In input order, into a `Vec`:
//! `safe_gather(jobs).limit(256)` against `stream::iter(jobs).buffered(256)`
//! and futures-buffered's `buffered_ordered(256)`, each `try_collect`ed.
//! In completion order, outputs not kept (counted and summed, to check that
//! each job ran once): `safe_gather(jobs).limit(256).unordered()` against
//! futures-buffered's `FuturesUnorderedBounded` of capacity 256 refilled by
//! hand, futures' own (unbounded) `FuturesUnordered` fed by hand the same
//! way so that it never holds more than 256, `buffer_unordered(256)` and
//! futures-buffered's `buffered_unordered(256)`.
//!
//! The jobs are made one at a time from a `Range` as each contender asks
//! (`benches/harness/jobs.rs`), so the input holds no heap: the peak counts
//! only each contender's own memory and its outputs. Timed (and counted):
//! making the contender, driving it to its end on the harness's executor,
//! dropping it. Not timed: dropping the output.

mod harness;

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt, TryStreamExt};
use futures_buffered::{BufferedStreamExt, FuturesUnorderedBounded};
use safe_gather::{safe_gather, GatherError};

use harness::jobs::{jobs, Job, Outcome, Tally, JOB_SIZE};
use harness::suite::{Bench, Entry, Measured};
use harness::{count_allocations, quick_run, CountingAllocator, Executor};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILDREN: usize = 512_000;
const LIMIT: usize = 256;

const ORDERED: &str = "fanout_vec";
const UNORDERED: &str = "fanout_unordered";

const SG_LIMIT: &str = "safe_gather.limit";
const BUFFERED: &str = "buffered";
const FB_ORDERED: &str = "fb::buffered_ordered";
const SG_UNORDERED: &str = "safe_gather.limit.unordered";
const FUB: &str = "FuturesUnorderedBounded";
const FU: &str = "FuturesUnordered";
const BUFFER_UNORDERED: &str = "buffer_unordered";
const FB_UNORDERED: &str = "fb::buffered_unordered";

/// A fail-fast gather's error as the job's own.
fn job_error(error: GatherError<u32>) -> u32 {
    match error {
        GatherError::Failed { error, .. } => error,
        _ => unreachable!("no deadline here"),
    }
}

fn values(result: Result<Vec<u32>, u32>) -> Outcome {
    result.map_or_else(Outcome::Failed, Outcome::Values)
}

/// Drains `stream`, keeping only a tally of the values; ends at the first
/// error, as a fail-fast consumer does.
async fn tally<S: Stream>(
    stream: S,
    mut value: impl FnMut(S::Item) -> Result<u32, u32>,
) -> Outcome {
    let mut stream = pin!(stream);
    let mut tally = Tally::default();
    while let Some(item) = stream.next().await {
        match value(item) {
            Ok(value) => tally.add(value),
            Err(error) => return Outcome::Failed(error),
        }
    }
    Outcome::Tally(tally)
}

/// `FuturesUnorderedBounded` as its docs suggest for a bounded fan-out: the
/// first `capacity` jobs pushed, then one more each time one finishes.
async fn bounded_by_hand(jobs: impl Iterator<Item = Job>, capacity: usize) -> Outcome {
    let mut jobs = jobs;
    let mut running = FuturesUnorderedBounded::new(capacity);
    for job in jobs.by_ref().take(capacity) {
        running.push(job);
    }
    let mut tally = Tally::default();
    while let Some(result) = running.next().await {
        match result {
            Ok(value) => tally.add(value),
            Err(error) => return Outcome::Failed(error),
        }
        if let Some(job) = jobs.next() {
            running.push(job);
        }
    }
    Outcome::Tally(tally)
}

/// futures' unbounded `FuturesUnordered` fed the same way, by hand: at most
/// `limit` jobs in it at once, one more pushed each time one finishes. Each
/// push allocates a task of its own (futures-util reuses none).
async fn unbounded_by_hand(jobs: impl Iterator<Item = Job>, limit: usize) -> Outcome {
    let mut jobs = jobs;
    let mut running: FuturesUnordered<Job> = jobs.by_ref().take(limit).collect();
    let mut tally = Tally::default();
    while let Some(result) = running.next().await {
        match result {
            Ok(value) => tally.add(value),
            Err(error) => return Outcome::Failed(error),
        }
        if let Some(job) = jobs.next() {
            running.push(job);
        }
    }
    Outcome::Tally(tally)
}

fn drive<F: Future>(executor: &mut Executor, future: F) -> F::Output {
    executor
        .run_until_stalled(pin!(future))
        .expect("every job finishes")
}

/// Everything timed: make the contender over fresh jobs, drive it, drop it.
#[inline(never)]
fn timed(name: &str, executor: &mut Executor) -> Outcome {
    let jobs = jobs(CHILDREN);
    match name {
        SG_LIMIT => {
            let gather = safe_gather(jobs).limit(LIMIT);
            values(drive(executor, gather).map_err(job_error))
        }
        BUFFERED => {
            let stream = futures::stream::iter(jobs).buffered(LIMIT);
            values(drive(executor, stream.try_collect::<Vec<_>>()))
        }
        FB_ORDERED => {
            let stream = futures::stream::iter(jobs).buffered_ordered(LIMIT);
            values(drive(executor, stream.try_collect::<Vec<_>>()))
        }
        SG_UNORDERED => {
            let stream = safe_gather(jobs).limit(LIMIT).unordered();
            let consumer = tally(stream, |item| {
                item.map(|(_, value)| value).map_err(job_error)
            });
            drive(executor, consumer)
        }
        FUB => drive(executor, bounded_by_hand(jobs, LIMIT)),
        FU => drive(executor, unbounded_by_hand(jobs, LIMIT)),
        BUFFER_UNORDERED => {
            let stream = futures::stream::iter(jobs).buffer_unordered(LIMIT);
            drive(executor, tally(stream, |item| item))
        }
        FB_UNORDERED => {
            let stream = futures::stream::iter(jobs).buffered_unordered(LIMIT);
            drive(executor, tally(stream, |item| item))
        }
        _ => panic!("no contender {name}"),
    }
}

struct Fanout;

impl Bench for Fanout {
    const NAME: &'static str = "fanout";
    const TOGGLE: &'static str = "*fanout::timed*";
    const CALLGRIND_ITERATIONS: u32 = 1;

    fn contenders() -> Vec<Entry> {
        let entry = |group, name, versus, what| Entry {
            name,
            group,
            n: CHILDREN,
            versus,
            what,
        };
        vec![
            entry(ORDERED, SG_LIMIT, Some(BUFFERED), "`safe_gather(jobs).limit(256)`, into a `Vec`"),
            entry(ORDERED, BUFFERED, None, "`stream::iter(jobs).buffered(256).try_collect::<Vec<_>>()`"),
            entry(ORDERED, FB_ORDERED, None, "futures-buffered's `stream::iter(jobs).buffered_ordered(256).try_collect::<Vec<_>>()`"),
            entry(UNORDERED, SG_UNORDERED, Some(FUB), "`safe_gather(jobs).limit(256).unordered()`, drained"),
            entry(UNORDERED, FUB, None, "`FuturesUnorderedBounded::new(256)`, refilled by hand as each job lands"),
            entry(UNORDERED, FU, None, "futures' `FuturesUnordered::new()`, at most 256 in it, refilled by hand as each job lands"),
            entry(UNORDERED, BUFFER_UNORDERED, None, "`stream::iter(jobs).buffer_unordered(256)`, drained"),
            entry(UNORDERED, FB_UNORDERED, None, "futures-buffered's `stream::iter(jobs).buffered_unordered(256)`, drained"),
        ]
    }

    fn params() -> Vec<(&'static str, String)> {
        vec![
            ("children", CHILDREN.to_string()),
            ("limit", LIMIT.to_string()),
            ("job_bytes", JOB_SIZE.to_string()),
        ]
    }

    fn run(entry: &Entry, count_heap: bool) -> Measured {
        let mut executor = Executor::new();
        let (outcome, allocations) = if count_heap {
            count_allocations(|| timed(entry.name, &mut executor))
        } else {
            (timed(entry.name, &mut executor), Default::default())
        };
        Measured {
            correct: outcome.is_complete(CHILDREN),
            outcome,
            polls: executor.polls(),
            wakes: executor.wakes(),
            allocations,
        }
    }

    fn criterion(criterion: &mut Criterion) {
        let quick = quick_run();
        for group_name in [ORDERED, UNORDERED] {
            let mut group = criterion.benchmark_group(group_name);
            group
                .warm_up_time(Duration::from_secs_f64(if quick { 0.2 } else { 1.0 }))
                .measurement_time(Duration::from_secs_f64(if quick { 1.0 } else { 4.0 }))
                .sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .throughput(Throughput::Elements(CHILDREN as u64));
            for entry in Fanout::contenders()
                .into_iter()
                .filter(|entry| entry.group == group_name)
            {
                group.bench_function(BenchmarkId::new(entry.name, CHILDREN), |bencher| {
                    bencher.iter_batched(
                        Executor::new,
                        |mut executor| timed(entry.name, &mut executor),
                        BatchSize::PerIteration,
                    )
                });
            }
            group.finish();
        }
    }
}

fn main() {
    harness::suite::main::<Fanout>();
}
