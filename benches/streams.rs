//! Jobs from a stream (issue 12): `safe_gather_stream(jobs).limit(64)`
//! against `try_buffered(64)`, `try_buffer_unordered(64)` and futures-buffered's
//! `FuturesUnorderedBounded` fed from the stream by hand, on 65,536 jobs of
//! 520 bytes that each pend once (waking themselves) and then succeed. Two
//! sources, in one run:
//!
//! * `iter`: `futures::stream::iter(jobs)`, always ready;
//! * `channel`: a bounded `futures::channel::mpsc` channel of 64, filled by a
//!   producer that runs beside the consumer (`future::join`), so the stream
//!   is pending whenever the producer is behind, as a job queue is.
//!
//! ```text
//! cargo bench --bench streams                      # counted run, then criterion (about a minute)
//! cargo bench --bench streams -- --instructions    # instruction counts under callgrind
//! python3 scripts/bench_report.py --only streams   # the tables into BENCHMARKS.md
//! ```
//!
//! The `try_` peers need a stream of `Result`s, so their jobs come through
//! `.map(Ok)`, which is part of what they cost. Unordered contenders keep no
//! outputs (a count and a sum check that each job ran once). Timed and
//! counted: the producer (for `channel`), making the contender, driving both
//! to their end, dropping them; not the outputs' drop.

mod harness;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt, TryStreamExt};
use futures_buffered::FuturesUnorderedBounded;
use safe_gather::{safe_gather_stream, GatherError};

use harness::jobs::{jobs, Job, Outcome, Tally, JOB_SIZE};
use harness::suite::{Bench, Entry, Measured};
use harness::{count_allocations, quick_run, CountingAllocator, Executor};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const JOBS: usize = 65_536;
const LIMIT: usize = 64;
/// The channel's buffer (futures' `mpsc` adds one slot per sender).
const QUEUE: usize = 64;

/// The criterion groups: by source, then ordered (into a `Vec`) or not.
const ITER_VEC: &str = "stream_iter_vec";
const ITER_UNORDERED: &str = "stream_iter_unordered";
const CHANNEL_VEC: &str = "stream_channel_vec";
const CHANNEL_UNORDERED: &str = "stream_channel_unordered";
const GROUPS: [&str; 4] = [ITER_VEC, ITER_UNORDERED, CHANNEL_VEC, CHANNEL_UNORDERED];

const SG: &str = "safe_gather_stream.limit";
const TRY_BUFFERED: &str = "try_buffered";
const SG_UNORDERED: &str = "safe_gather_stream.limit.unordered";
const TRY_BUFFER_UNORDERED: &str = "try_buffer_unordered";
const FUB: &str = "FuturesUnorderedBounded";

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
/// error.
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

/// `FuturesUnorderedBounded` fed from `jobs` by hand: take jobs while there
/// is room and the stream has one, then hand out the next output.
async fn bounded_from_stream(jobs: impl Stream<Item = Job>, capacity: usize) -> Outcome {
    let mut jobs = pin!(jobs);
    let mut jobs_ended = false;
    let mut running = FuturesUnorderedBounded::new(capacity);
    let mut tally = Tally::default();
    std::future::poll_fn(|cx| loop {
        while !jobs_ended && running.len() < capacity {
            match jobs.as_mut().poll_next(cx) {
                Poll::Ready(Some(job)) => running.push(job),
                Poll::Ready(None) => jobs_ended = true,
                Poll::Pending => break,
            }
        }
        match running.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(value))) => tally.add(value),
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Outcome::Failed(error)),
            Poll::Ready(None) if jobs_ended => return Poll::Ready(Outcome::Tally(tally)),
            // Nothing running, and the stream will wake us with a job.
            Poll::Ready(None) | Poll::Pending => return Poll::Pending,
        }
    })
    .await
}

/// The consumer `name` over `jobs`.
async fn consume(name: &str, jobs: impl Stream<Item = Job>) -> Outcome {
    match name {
        SG => values(
            safe_gather_stream(jobs)
                .limit(LIMIT)
                .await
                .map_err(job_error),
        ),
        TRY_BUFFERED => values(
            jobs.map(Ok)
                .try_buffered(LIMIT)
                .try_collect::<Vec<_>>()
                .await,
        ),
        SG_UNORDERED => {
            let stream = safe_gather_stream(jobs).limit(LIMIT).unordered();
            tally(stream, |item| {
                item.map(|(_, value)| value).map_err(job_error)
            })
            .await
        }
        TRY_BUFFER_UNORDERED => tally(jobs.map(Ok).try_buffer_unordered(LIMIT), |item| item).await,
        FUB => bounded_from_stream(jobs, LIMIT).await,
        _ => panic!("no contender {name}"),
    }
}

/// Sends every job down `queue`, waiting whenever it is full.
async fn produce(mut queue: mpsc::Sender<Job>) {
    for job in jobs(JOBS) {
        queue
            .send(job)
            .await
            .expect("the consumer reads until the queue ends");
    }
}

fn drive<F: Future>(executor: &mut Executor, future: F) -> F::Output {
    executor
        .run_until_stalled(pin!(future))
        .expect("every job finishes")
}

/// Everything timed: the source, the contender, driven to the end, dropped.
#[inline(never)]
fn timed(entry: &Entry, executor: &mut Executor) -> Outcome {
    match entry.group {
        ITER_VEC | ITER_UNORDERED => drive(
            executor,
            consume(entry.name, futures::stream::iter(jobs(JOBS))),
        ),
        CHANNEL_VEC | CHANNEL_UNORDERED => {
            let (queue, jobs) = mpsc::channel(QUEUE);
            let both = futures::future::join(produce(queue), consume(entry.name, jobs));
            drive(executor, both).1
        }
        group => panic!("no group {group}"),
    }
}

struct Streams;

impl Bench for Streams {
    const NAME: &'static str = "streams";
    const TOGGLE: &'static str = "*streams::timed*";
    const CALLGRIND_ITERATIONS: u32 = 1;

    fn contenders() -> Vec<Entry> {
        let entry = |group, name, versus, what| Entry {
            name,
            group,
            n: JOBS,
            versus,
            what,
        };
        let mut entries = Vec::new();
        for (ordered, unordered) in [(ITER_VEC, ITER_UNORDERED), (CHANNEL_VEC, CHANNEL_UNORDERED)] {
            entries.extend([
                entry(
                    ordered,
                    SG,
                    Some(TRY_BUFFERED),
                    "`safe_gather_stream(jobs).limit(64)`, into a `Vec`",
                ),
                entry(
                    ordered,
                    TRY_BUFFERED,
                    None,
                    "`jobs.map(Ok).try_buffered(64).try_collect::<Vec<_>>()`",
                ),
                entry(
                    unordered,
                    SG_UNORDERED,
                    Some(FUB),
                    "`safe_gather_stream(jobs).limit(64).unordered()`, drained",
                ),
                entry(
                    unordered,
                    FUB,
                    None,
                    "`FuturesUnorderedBounded::new(64)`, fed from the stream by hand",
                ),
                entry(
                    unordered,
                    TRY_BUFFER_UNORDERED,
                    None,
                    "`jobs.map(Ok).try_buffer_unordered(64)`, drained",
                ),
            ]);
        }
        entries
    }

    fn params() -> Vec<(&'static str, String)> {
        vec![
            ("jobs", JOBS.to_string()),
            ("limit", LIMIT.to_string()),
            ("channel_buffer", QUEUE.to_string()),
            ("job_bytes", JOB_SIZE.to_string()),
        ]
    }

    fn run(entry: &Entry, count_heap: bool) -> Measured {
        let mut executor = Executor::new();
        let (outcome, allocations) = if count_heap {
            count_allocations(|| timed(entry, &mut executor))
        } else {
            (timed(entry, &mut executor), Default::default())
        };
        Measured {
            correct: outcome.is_complete(JOBS),
            outcome,
            polls: executor.polls(),
            wakes: executor.wakes(),
            allocations,
        }
    }

    fn criterion(criterion: &mut Criterion) {
        let quick = quick_run();
        for group_name in GROUPS {
            let mut group = criterion.benchmark_group(group_name);
            group
                .warm_up_time(Duration::from_secs_f64(if quick { 0.2 } else { 1.0 }))
                .measurement_time(Duration::from_secs_f64(if quick { 0.5 } else { 3.0 }))
                .sample_size(if quick { 10 } else { 20 })
                .sampling_mode(SamplingMode::Flat)
                .throughput(Throughput::Elements(JOBS as u64));
            for entry in Streams::contenders()
                .into_iter()
                .filter(|entry| entry.group == group_name)
            {
                group.bench_function(BenchmarkId::new(entry.name, JOBS), |bencher| {
                    bencher.iter_batched(
                        Executor::new,
                        |mut executor| timed(&entry, &mut executor),
                        BatchSize::PerIteration,
                    )
                });
            }
            group.finish();
        }
    }
}

fn main() {
    harness::suite::main::<Streams>();
}
