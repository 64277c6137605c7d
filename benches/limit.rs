//! `.limit(64)` on 16384 children against the usual way to bound
//! concurrency with futures: `stream::iter(..).buffered(64)` and
//! `.buffer_unordered(64)`, each collected into a `Vec` (with `try_collect`,
//! so the first error would end it, as in a fail-fast gather).
//!
//! ```text
//! cargo bench --bench limit
//! ```
//!
//! Every child needs one round trip: its first poll wakes itself and pends,
//! its second is ready. So every contender polls every child exactly twice,
//! and the executor (the one of the other benchmarks, which polls only when
//! woken) drives them the same way. `buffer_unordered` returns values in
//! completion order, a weaker promise than the other two keep.

mod harness;

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use futures::{StreamExt, TryStreamExt};

use harness::Executor;
use safe_gather::GatherError;

const CHILDREN: usize = 16384;
const LIMIT: usize = 64;

/// Pending once (after waking itself), then ready with its index.
struct RoundTrip {
    index: u32,
    polled: bool,
}

impl Future for RoundTrip {
    type Output = Result<u32, u32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polled {
            return Poll::Ready(Ok(self.index));
        }
        self.polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn children() -> Vec<RoundTrip> {
    (0..CHILDREN as u32)
        .map(|index| RoundTrip {
            index,
            polled: false,
        })
        .collect()
}

/// Drives `gather` to completion on the counting executor.
fn drive<F: Future>(gather: F) -> F::Output {
    let mut executor = Executor::new();
    let gather = pin!(gather);
    executor
        .run_until_stalled(gather)
        .expect("every child finishes")
}

/// `.limit(LIMIT)`, in input order.
fn limited(children: Vec<RoundTrip>) -> impl Future<Output = Result<Vec<u32>, GatherError<u32>>> {
    safe_gather::safe_gather(children).limit(LIMIT)
}

/// `buffered(LIMIT)`, in input order.
fn buffered(children: Vec<RoundTrip>) -> impl Future<Output = Result<Vec<u32>, u32>> {
    futures::stream::iter(children)
        .buffered(LIMIT)
        .try_collect::<Vec<_>>()
}

/// `buffer_unordered(LIMIT)`, in completion order.
fn buffer_unordered(children: Vec<RoundTrip>) -> impl Future<Output = Result<Vec<u32>, u32>> {
    futures::stream::iter(children)
        .buffer_unordered(LIMIT)
        .try_collect::<Vec<_>>()
}

/// Times `gather` over fresh children, made outside the timed region.
fn bench<F: Future>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    gather: impl Fn(Vec<RoundTrip>) -> F,
) {
    group.bench_with_input(BenchmarkId::new(name, CHILDREN), &CHILDREN, |bencher, _| {
        bencher.iter_batched(
            children,
            |input| drive(gather(input)),
            BatchSize::PerIteration,
        )
    });
}

fn bench_limit(criterion: &mut Criterion) {
    let quick = harness::quick_run();
    let mut group = criterion.benchmark_group(format!("limit{LIMIT}"));
    group
        .warm_up_time(Duration::from_secs_f64(if quick { 0.1 } else { 0.5 }))
        .measurement_time(Duration::from_secs_f64(if quick { 0.5 } else { 3.0 }))
        .sample_size(10)
        .throughput(Throughput::Elements(CHILDREN as u64));

    let expected: Vec<u32> = (0..CHILDREN as u32).collect();
    assert_eq!(drive(limited(children())), Ok(expected.clone()));
    assert_eq!(drive(buffered(children())), Ok(expected.clone()));
    let mut unordered = drive(buffer_unordered(children())).expect("no child fails");
    unordered.sort_unstable();
    assert_eq!(unordered, expected);

    bench(&mut group, "safe_gather.limit", limited);
    bench(&mut group, "buffered", buffered);
    bench(&mut group, "buffer_unordered", buffer_unordered);
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().without_plots().configure_from_args();
    bench_limit(&mut criterion);
    criterion.final_summary();
}
