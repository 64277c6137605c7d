//! Run many fallible futures at once, inside one future, on any executor:
//! fail fast, time out with cleanup, cancel by dropping, or collect partial
//! results. Outputs always come back in input order.
//!
//! # Which call
//!
//! | you have | you want | call | resolves to |
//! |---|---|---|---|
//! | any number of same-typed futures | all values, or the first error | [`safe_gather(iter)`](safe_gather()) | `Result<Vec<T>, GatherError<E>>` |
//! | a fixed number, same type, no heap | all values, or the first error | [`safe_gather_array([a, b, c])`](safe_gather_array) | `Result<[T; N], GatherError<E>>` |
//! | a number known only at run time, same type, no heap (feature `heapless`) | all values, or the first error | `safe_gather_heapless(vec)` | `Result<heapless::Vec<T, N>, GatherError<E>>` |
//! | 1 to 12 futures of different types | all values, or the first error | [`safe_gather!(a, b, c)`](safe_gather!) | `Result<(A, B, C), GatherError<E>>` |
//! | any of the above | the same, with a deadline | `.timeout(d)`, `.timeout_with(timer, d)` (`d` may be an `Option<Duration>`), `.deadline(sleep)` | `Err(GatherError::TimedOut { .. })` when it passes |
//! | any of the above | every outcome, errors included | [`.settled()`](SafeGather::settled) | `Vec<Result<T, E>>`, `[Result<T, E>; N]`, `(Result<A, Ea>, …)` |
//! | any of the above | every outcome, cut off at a deadline | `.settled().timeout(d)` | `Vec<Result<T, SlotError<E>>>`, … |
//! | many futures, or an endless iterator | at most `n` running at once, in O(n) memory | [`.limit(n)`](SafeGather::limit) | unchanged |
//! | an iterator or array | each outcome as it lands | [`.unordered()`](SafeGather::unordered) | a `Stream` of `Result<(usize, T), GatherError<E>>`, or `(usize, Result<T, E>)` settled |
//! | a gather of thousands of ready children beside other tasks | no poll longer than `n` child polls | [`.poll_budget(n)`](SafeGather::poll_budget) (1024 by default) | unchanged |
//! | children with async cleanup (flush, say goodbye) | on the first error or the deadline, tell them and give them time | [`.grace(d, on_cancel)`](SafeGather::grace), [`.grace_with(timer, d, on_cancel)`](SafeGather::grace_with) | unchanged: the error or timeout that began it |
//!
//! ```
//! use std::time::Duration;
//! use safe_gather::{safe_gather, safe_gather_array, GatherError};
//!
//! # async fn fetch(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
//! # futures::executor::block_on(async {
//! // All must succeed; the first error drops the rest.
//! let users = safe_gather((1..=3).map(fetch)).await?;
//! assert_eq!(users, ["user 1", "user 2", "user 3"]);
//!
//! // The same, with an overall deadline.
//! let users = safe_gather_array([fetch(1), fetch(2)]).timeout(Duration::from_secs(30)).await?;
//!
//! // Heterogeneous children, one shared error type.
//! let (name, age) = safe_gather::safe_gather!(fetch(1), async { Ok::<u8, String>(42) }).await?;
//!
//! // Partial results: every child runs, each reports its own outcome.
//! let outcomes = safe_gather((1..=3).map(fetch)).settled().await;
//! assert!(outcomes.iter().all(Result::is_ok));
//! # Ok::<(), GatherError<String>>(())
//! # }).unwrap();
//! ```
//!
//! # Coming from elsewhere
//!
//! | you wrote | write | what changes |
//! |---|---|---|
//! | `futures::future::join_all(futs)` over `Result`s | `safe_gather(futs).settled()` | the same outcomes; each wake polls only the child it woke |
//! | `futures::future::try_join_all(futs)` | `safe_gather(futs)` | the error says which child failed; siblings and collected outputs are dropped before it is returned |
//! | the same, keeping `Result<_, E>` and `?` | `safe_gather(futs).keep_error_type()` | the first error as it is, without its index ([`keep_error_type`](SafeGather::keep_error_type)) |
//! | `futures::try_join!(a, b)` / `tokio::try_join!(a, b)` | `safe_gather!(a, b)`, or `safe_gather!(a, b).keep_error_type()` to keep `E` | a future you can store, time out, or make settled |
//! | `stream::iter(futs).buffered(n).try_collect()` | `safe_gather(futs).limit(n)` | children start in order, as slots free, but the first error ends it at once, with its index; no allocation per child |
//! | `stream::iter(futs).buffer_unordered(n)` / `FuturesUnordered` | `safe_gather(futs).limit(n).unordered()` | each item carries its input index; the first error drops the rest and ends the stream; a deadline and settled mode are built in |
//! | Python `asyncio.as_completed(aws)` | `safe_gather(futs).unordered()` | the same, with the index of each |
//! | `tokio::task::JoinSet` to wait for everything | `safe_gather(futs)` | no spawning, no `'static` or `Send` needed; input order, not completion order; everything runs in the one task that awaits the gather, so never in parallel on several cores. Gathering spawned tasks' `JoinHandle`s instead neither fails fast on the tasks' errors (a handle is `Ok(the task's result)` unless it panicked or was aborted) nor cancels the tasks when the gather is dropped (a dropped `JoinHandle` detaches its task) |
//! | Python `asyncio.gather(*aws)` / `safe_gather(*aws)` | `safe_gather(futs)` | cancellation is dropping the gather, and [`.grace`](SafeGather::grace) gives the children time to clean up first; exceptions are `Err`; panics propagate; the deadline starts at the first poll |
//! | `safe_gather(*aws, return_exceptions=True, timeout=10)` | `safe_gather(futs).settled().timeout(Duration::from_secs(10))` | a child cut off by the deadline reports `SlotError::TimedOut` |
//!
//! # Semantics
//!
//! * **Lazy.** Nothing runs until the first poll; a deadline starts then
//!   too. An iterator's children are taken from it only as the gather needs
//!   them: all at the first poll without a limit; under `.limit(n)` the
//!   first `n`, then one each time a child finishes, so at most `n` exist at
//!   any moment (see [`safe_gather`](safe_gather()#lazily)).
//! * **Input order.** Outputs are in input order, never completion order.
//! * **Fail fast.** The first error seen wins: within one poll children are
//!   polled in ascending index order, so the lowest failing index among
//!   those polled wins. Before the gather returns
//!   [`GatherError::Failed`], every other child still running is dropped in
//!   place, and so is every output already collected.
//! * **Timeouts.** Children are polled before the deadline, so a gather that
//!   completes in the same poll the deadline passes succeeds. When it times
//!   out every child is dropped; [`GatherError::TimedOut`] counts how many
//!   had finished. A duration too large for the timer means never.
//! * **Cancellation is drop.** Dropping the gather drops every child and
//!   output. A child's `Drop` runs synchronously, so async cleanup cannot run
//!   on drop; [`.grace`](SafeGather::grace) gives it time (see
//!   [Cancellation](#cancellation)).
//! * **Panics propagate.** A child's panic unwinds out of the gather's
//!   `poll`; every sibling is still dropped exactly once when the gather is.
//!   Polling a gather again after that, or after it completed, panics with a
//!   message saying so; [`is_terminated`](futures_core::future::FusedFuture::is_terminated)
//!   tells you first.
//! * **Each child finishes once.** A child is dropped in place as soon as it
//!   completes, and is never polled again.
//!
//! # Cancellation
//!
//! **What drop does.** Whenever a gather ends early (fail-fast on the
//! first error, or its deadline) and whenever it is dropped, each child still
//! running is dropped in place, at once, and never polled again. Dropping
//! runs the child's `Drop`, and the `Drop` of everything its `async` block
//! holds: sockets close, guards unlock, buffers are freed. It cannot await,
//! so a child cannot send a goodbye, flush over the network, or release a
//! remote lease on drop. Python's `safe_gather` cancels its tasks and then
//! awaits them, so their `except CancelledError:` and `finally:` blocks can
//! await; in Rust a future that is dropped simply stops.
//!
//! **What `.grace` adds.** With [`.grace(duration, on_cancel)`](SafeGather::grace)
//! or [`.grace_with(timer, duration, on_cancel)`](SafeGather::grace_with), a
//! gather that ends early first calls `on_cancel()`, once, inside the poll
//! that saw the error or the deadline: that is where you cancel a token,
//! close a channel, or set a flag the children watch. It then starts no new
//! child (children are started in input order, so one that fails at its
//! first poll cancels those after it before they start), and keeps polling
//! the children still running (only as they are woken) until each has
//! finished or `duration` has passed. Then it drops
//! the rest and resolves to what began the cancellation:
//!
//! * fail-fast: the first error, [`GatherError::Failed`] (later errors and
//!   the outputs of children that finish in the grace period are dropped),
//!   or [`GatherError::TimedOut`], counted when the deadline passed;
//! * settled with a deadline: each child's own outcome when it finished in
//!   time, including during the grace period, and
//!   [`SlotError::TimedOut`] for those cut off at its end.
//!
//! The grace sleep starts when cancellation begins, on the gather's own
//! timer when it has one, else on the default timer or the one given to
//! `.grace_with` (on tokio with a paused clock, give it `TokioTimer`: the
//! default timer runs on real time). Children woken before a poll are polled
//! before that poll looks at the grace sleep, so a cleanup that was signalled
//! and woken in time is never cut off by the same poll. Dropping a gather
//! during its grace period still drops everything at once.
//!
//! The signal must reach every child: a token or a channel closed in
//! `on_cancel` does; embassy-sync's `Signal` holds one waiter, so give each
//! child its own (or use its `Watch`).
//!
//! **When to use which.** Drop alone when the children's cleanup is
//! synchronous, or when there is none: it is immediate and costs nothing.
//! Use `.grace` when children hold something that needs an async goodbye, and
//! can observe a signal that `on_cancel` sends: a child that ignores the
//! signal only holds up the gather until the grace period ends, and is then
//! dropped as without one. To shut down from outside with grace, make the
//! shutdown signal the gather's deadline: `.deadline(shutdown)` is any
//! future, so when it resolves, `.grace` begins.
//!
//! ```
//! use std::cell::RefCell;
//! use std::time::Duration;
//! use futures::channel::oneshot;
//! use futures::future::FutureExt;
//! use safe_gather::{safe_gather, GatherError};
//!
//! # futures::executor::block_on(async {
//! let log = RefCell::new(Vec::new());
//! let (stop, stopped) = oneshot::channel::<()>();
//! let stopped = stopped.shared();
//! let worker = |id: u32| {
//!     let (log, stopped) = (&log, stopped.clone());
//!     async move {
//!         if id == 2 {
//!             return Err("disk full");
//!         }
//!         let _ = stopped.await; // work until told to stop
//!         log.borrow_mut().push(format!("worker {id} flushed"));
//!         Ok(id)
//!     }
//! };
//! let result = safe_gather((0..3).map(worker))
//!     .grace(Duration::from_secs(5), move || drop(stop))
//!     .await;
//! assert_eq!(result, Err(GatherError::Failed { index: 2, error: "disk full" }));
//! assert_eq!(*log.borrow(), ["worker 0 flushed", "worker 1 flushed"]);
//! # });
//! ```
//!
//! # How it polls
//!
//! With the `alloc` feature every child gets a waker of its own, and a wake
//! re-polls only that child, whatever the number of children: per wake the
//! cost is a few atomic operations, never a scan. The wakers share one
//! allocation, made only when some child first keeps its waker (so children
//! that are all ready at once allocate nothing). With `std`, the last such
//! block of up to 64 children freed on a thread is kept for the next gather
//! there, so a program that gathers a few children again and again makes no
//! allocation for their wakers after the first (one block, a few hundred
//! bytes, held per thread until it exits). Wakes coalesce: however
//! often a child is woken before the gather's next poll, it is polled once,
//! and the gather's own task is woken once. A child that wakes itself while
//! polled is polled again at the gather's next poll, never in a loop inside
//! one. A gather of a `Vec` (or any input of exact length) without a limit
//! makes at most three allocations in all: its children's slots, the shared
//! wakers (none when the thread's spare serves), and the output; under a
//! limit, five whatever the input's length.
//! A `Vec`'s children become their slots in the `Vec`'s own buffer, with no
//! allocation, when a slot is no larger than a child: when the child type
//! has a spare bit pattern (a niche), as boxed futures and `Ready` do
//! (`async fn` futures do not, today).
//!
//! Within one poll, the children woken since the last are polled in input
//! order, then children not yet started. A poll makes at most
//! [`poll_budget`](SafeGather::poll_budget) child polls (1024 by default);
//! a round that stops there, or at an item of
//! [`.unordered()`](SafeGather::unordered), is finished by the next poll
//! before children woken since are polled, so no child can starve another.
//!
//! Without `alloc` (arrays and tuples in `no_std`), children share the
//! gather's waker and every poll polls every child still running.
//!
//! # Features
//!
//! * `std` (default): implies `alloc`.
//! * `alloc`: [`safe_gather(iter)`](safe_gather()) and per-child wakers.
//! * `futures-timer` (default): [`FuturesTimer`], behind [`.timeout(d)`](SafeGather::timeout).
//! * `tokio`: `TokioTimer`, on tokio's timer wheel; its deadline still fires
//!   when children spend tokio's cooperative budget.
//! * `async-io`: `AsyncIoTimer`, on async-io's reactor (smol's timer).
//! * `embassy-time`: `EmbassyTimer`, on embassy-time; `no_std`, on the time
//!   driver and tick rate the application picks.
//! * `heapless`: `safe_gather_heapless(vec)`, a gather of as many children
//!   as a `heapless::Vec<F, N>` holds, without a heap, resolving to a
//!   `heapless::Vec<T, N>`; `no_std`. heapless 0.9 needs Rust 1.88.
//! * `test-util`: `ManualTimer`, a timer whose clock moves only when a test
//!   calls `advance`, to test timeouts without sleeping; needs `alloc`, not
//!   `std`.
//!
//! Without default features the crate is `no_std` and allocation-free; bring a
//! deadline with [`.deadline(sleep)`](SafeGather::deadline) or a [`Timer`].

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks,
    rust_2018_idioms,
    unreachable_pub
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod deadline;
mod error;
pub mod gather;
#[allow(unsafe_code)]
mod storage;
#[cfg(target_has_atomic = "ptr")]
mod sync;
pub mod timer;
#[allow(unsafe_code)]
mod waker;

pub use error::{GatherError, SlotError};
pub use gather::SafeGather;
/// The `heapless` crate that [`safe_gather_heapless`] takes and returns
/// `Vec`s of, re-exported so that the versions always match.
#[cfg(feature = "heapless")]
pub use heapless;
#[cfg(feature = "async-io")]
pub use timer::AsyncIoTimer;
#[cfg(feature = "embassy-time")]
pub use timer::EmbassyTimer;
#[cfg(feature = "futures-timer")]
pub use timer::FuturesTimer;
#[cfg(feature = "test-util")]
pub use timer::ManualTimer;
pub use timer::Timer;
#[cfg(feature = "tokio")]
pub use timer::TokioTimer;
#[cfg(target_has_atomic = "ptr")]
pub use waker::ChildWakers;

use core::future::IntoFuture;

use futures_core::TryFuture;

/// Runs every future of `iter` at once, and resolves to all their values in
/// input order, or to the first error.
///
/// Nothing runs until the gather is first polled. On the first error every
/// other child is dropped and the gather resolves to
/// [`GatherError::Failed`] with the failing child's index. Empty input
/// resolves to `Ok(vec![])`. Chain [`.settled()`](SafeGather::settled),
/// [`.timeout(d)`](SafeGather::timeout) or [`.limit(n)`](SafeGather::limit)
/// to change that.
///
/// Items may be futures or anything that converts into one
/// ([`IntoFuture`]).
///
/// # Lazily
///
/// The gather takes children from `iter` only when it needs them, inside
/// its poll (a panic in the iterator's `next` is handled as a child's
/// panic): without a limit, all of them at the first poll (so the iterator
/// must end); under [`.limit(n)`](SafeGather::limit), the first `n` at the
/// first poll and the next one each time a child finishes, into a pool of
/// `n` slots reused in place. At most `n` children exist at any moment, so
/// the memory held for them is O(n) whatever the length of `iter`, and it
/// may be endless; the outputs (one per child) are the only memory that
/// grows. A failure or a deadline drops the iterator with the children, and
/// an exhausted iterator is dropped at once.
///
/// For an iterator that does not know its length (`size_hint` of `(0,
/// None)`), "every child" means every child taken from it: `len()`, the
/// `pending` count of [`GatherError::TimedOut`] and a settled gather's
/// outcomes after a deadline count the children taken and those the
/// iterator still reports (its `size_hint`'s lower bound), never the ones it
/// was not asked for.
///
/// Allocates at most three times without a limit, whatever the number of
/// children (for an `iter` that knows its exact length, as `Vec` and ranges
/// do), and five under a limit.
///
/// # Examples
///
/// ```
/// use safe_gather::{safe_gather, GatherError};
///
/// async fn double(n: u32) -> Result<u32, String> {
///     if n > 100 { Err(format!("{n} is too big")) } else { Ok(n * 2) }
/// }
///
/// # futures::executor::block_on(async {
/// assert_eq!(safe_gather([1, 2, 3].map(double)).await, Ok(vec![2, 4, 6]));
///
/// let error = safe_gather([1, 200, 3].map(double)).await.unwrap_err();
/// assert_eq!(error, GatherError::Failed { index: 1, error: "200 is too big".to_string() });
/// # });
/// ```
#[cfg(feature = "alloc")]
pub fn safe_gather<I>(iter: I) -> SafeGather<gather::Iter<I::IntoIter>>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::IntoFuture: TryFuture,
{
    SafeGather::new(gather::Iter(iter.into_iter()))
}

/// Runs the jobs of a stream, at most `n` at once as
/// [`.limit(n)`](SafeGather::limit) says, and resolves to all their values in
/// the stream's order once the stream has ended and every job finished, or
/// to the first error. A job queue: a channel's receiver, a listener's
/// connections, anything that is a [`Stream`](futures_core::Stream) of
/// futures.
///
/// The gather polls the stream with a waker of its own, so a new job wakes
/// only the stream, never a scan of the children; it takes jobs while fewer
/// than `n` run, and each pull counts against the
/// [poll budget](SafeGather::poll_budget), so a stream that is always ready
/// never keeps one poll going. A failure, a deadline or dropping the gather
/// drops the stream with the jobs; a panic in the stream is a child's panic.
/// Everything else is as for [`safe_gather`](safe_gather()): modifiers in any
/// order, [`.settled()`](SafeGather::settled), deadlines, and
/// [`.unordered()`](SafeGather::unordered) to handle each result as it
/// lands.
///
/// A stream may never end, so the gather runs only once it has a limit: it
/// keeps a slot for each job in flight, allocated at its first poll
/// (`.limit(n)` allocates `n`), the way `buffer_unordered(n)` needs its `n`.
/// Without one, awaiting it is a compile error that says so:
///
/// ```compile_fail
/// # futures::executor::block_on(async {
/// let jobs = futures::stream::iter([async { Ok::<_, ()>(1) }]);
/// // error: a gather of a stream needs `.limit(n)` before it can run
/// let values = safe_gather::safe_gather_stream(jobs).await;
/// # });
/// ```
///
/// # Examples
///
/// ```
/// use futures::{channel::mpsc, SinkExt, StreamExt};
/// use safe_gather::safe_gather_stream;
///
/// # futures::executor::block_on(async {
/// let (mut queue, jobs) = mpsc::channel(16);
/// for n in 0..5u32 {
///     queue.send(async move { Ok::<_, String>(n * n) }).await.unwrap();
/// }
/// drop(queue); // the stream ends once the queue is empty
/// let squares = safe_gather_stream(jobs).limit(2).await?;
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # Ok::<(), safe_gather::GatherError<String>>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "alloc")]
pub fn safe_gather_stream<S>(jobs: S) -> SafeGather<gather::FromStream<S>>
where
    S: futures_core::Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
    SafeGather::new(gather::FromStream(jobs, core::marker::PhantomData))
}

/// Runs an array of futures at once, and resolves to an array of their values
/// in input order, or to the first error. Needs no allocator.
///
/// As [`safe_gather`](safe_gather()) otherwise. Without the `alloc` feature
/// its children share the gather's waker, and every poll polls every child
/// still running; with it, each child has its own waker (allocated only if a
/// child keeps its waker).
///
/// # Examples
///
/// ```
/// use safe_gather::safe_gather_array;
///
/// async fn square(n: u32) -> Result<u32, ()> {
///     Ok(n * n)
/// }
///
/// # futures::executor::block_on(async {
/// let squares = safe_gather_array([square(1), square(2), square(3)]).await;
/// assert_eq!(squares, Ok([1, 4, 9]));
/// # });
/// ```
pub fn safe_gather_array<F, const N: usize>(futures: [F; N]) -> SafeGather<[F::IntoFuture; N]>
where
    F: IntoFuture,
    F::IntoFuture: TryFuture,
{
    SafeGather::new(futures.map(IntoFuture::into_future))
}

/// Runs a `heapless::Vec` of futures at once, as many as it holds (up to
/// its capacity `N`), and resolves to a `heapless::Vec` of their values in
/// input order, or to the first error. Needs no allocator (feature
/// `heapless`).
///
/// This is [`safe_gather_array`] for a number of children known only at run
/// time: one job per connected sensor, per configured peer, per queued
/// request. The children live inline in the gather, in `N` slots of which
/// the first `len` are used, and every mode gives its outputs back in a
/// `heapless::Vec` of the same capacity:
///
/// | gather | resolves to |
/// |---|---|
/// | fail-fast | `Result<heapless::Vec<T, N>, GatherError<E>>` |
/// | [`.settled()`](SafeGather::settled) | `heapless::Vec<Result<T, E>, N>` |
/// | `.settled()` with a deadline | `heapless::Vec<Result<T, SlotError<E>>, N>` |
///
/// Everything else is as for an array: [`.limit(n)`](SafeGather::limit),
/// [`.timeout_with(timer, d)`](SafeGather::timeout_with),
/// [`.deadline(sleep)`](SafeGather::deadline), [`.grace`](SafeGather::grace),
/// [`.unordered()`](SafeGather::unordered), fail-fast on the lowest failing
/// index polled with every sibling dropped before the error is returned. An
/// empty `Vec` resolves to `Ok` of an empty `Vec` at the first poll. Items
/// may be futures or anything that converts into one ([`IntoFuture`]).
/// Without the `alloc` feature the children share the gather's waker, and
/// every poll polls every child still running; with it, each child has its
/// own waker, and a wake re-polls only that child.
///
/// # Why a `heapless::Vec`
///
/// A `heapless::Vec` in and out is what a firmware without a heap already
/// has at hand, and it keeps the gather an ordinary owned future: it can be
/// built in one function and returned, stored or moved into an embassy task
/// before its first poll, with no lifetime to thread through the task's
/// signature, and its capacity is in its type, so the static RAM a task
/// needs for it is known at link time. A borrowed pinned slice, as
/// embassy-futures' `select_slice` takes, would borrow the children from
/// the caller for the gather's whole life, and would still need somewhere
/// to put each child's output until all are in: a second buffer the caller
/// provides, or outputs inside the children.
///
/// # Minimum Rust
///
/// heapless 0.9 needs Rust 1.88, so the `heapless` feature does too; the
/// rest of the crate keeps its Rust 1.81 (which is all that CI's minimum
/// Rust check builds).
///
/// # Examples
///
/// ```
/// use safe_gather::{safe_gather_heapless, GatherError};
///
/// async fn read_sensor(id: u8) -> Result<u16, &'static str> {
///     if id == 3 { Err("unplugged") } else { Ok(u16::from(id) * 100) }
/// }
///
/// # futures::executor::block_on(async {
/// // However many sensors are connected, up to 8, without a heap.
/// let connected = [1, 2, 4];
/// let reads: heapless::Vec<_, 8> = connected.iter().map(|&id| read_sensor(id)).collect();
/// let values = safe_gather_heapless(reads).await?;
/// assert_eq!(values, [100, 200, 400]);
///
/// let reads: heapless::Vec<_, 8> = (1..=4).map(read_sensor).collect();
/// let error = safe_gather_heapless(reads).await.unwrap_err();
/// assert_eq!(error, GatherError::Failed { index: 2, error: "unplugged" });
///
/// // Settled: every outcome, in input order.
/// let reads: heapless::Vec<_, 8> = (2..=3).map(read_sensor).collect();
/// let outcomes = safe_gather_heapless(reads).settled().await;
/// assert_eq!(outcomes, [Ok(200), Err("unplugged")]);
/// # Ok::<(), GatherError<&str>>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "heapless")]
pub fn safe_gather_heapless<F, const N: usize>(
    children: heapless::Vec<F, N>,
) -> SafeGather<heapless::Vec<F::IntoFuture, N>>
where
    F: IntoFuture,
    F::IntoFuture: TryFuture,
{
    // At most `N` items from a `Vec` of capacity `N`: `collect` cannot
    // overflow.
    SafeGather::new(children.into_iter().map(IntoFuture::into_future).collect())
}

/// Runs 1 to 12 futures of different types at once, and resolves to a tuple
/// of their values, or to the first error.
///
/// Every future must be a `TryFuture` (a future of a `Result`), and in the
/// default fail-fast mode they must share one error type. After
/// [`.settled()`](SafeGather::settled) each keeps its own error type. The
/// result is a [`SafeGather`] like any other: it can be stored, timed out or
/// limited before it is awaited. Needs no allocator.
///
/// # Examples
///
/// ```
/// use safe_gather::safe_gather;
///
/// async fn channel_info(id: u32) -> Result<String, String> { Ok(format!("#{id}")) }
/// async fn front_row(id: u32) -> Result<Vec<u32>, String> { Ok(vec![1, 2]) }
/// async fn participants(id: u32) -> Result<usize, String> { Ok(40) }
///
/// # futures::executor::block_on(async {
/// let (info, front, count) = safe_gather!(channel_info(7), front_row(7), participants(7)).await?;
/// assert_eq!((info.as_str(), front.len(), count), ("#7", 2, 40));
///
/// // Settled: each child keeps its own error type.
/// let (a, b) = safe_gather!(async { Err::<u8, _>("no") }, async { Ok::<_, u64>(1) }).settled().await;
/// assert_eq!((a, b), (Err("no"), Ok(1)));
/// # Ok::<(), safe_gather::GatherError<String>>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! safe_gather {
    () => {
        ::core::compile_error!("`safe_gather!` needs at least one future")
    };
    ($($future:expr),+ $(,)?) => {
        $crate::__private::gather_tuple(($(::core::future::IntoFuture::into_future($future),)+))
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::gather::{Children, SafeGather};

    /// What `safe_gather!` expands to.
    pub fn gather_tuple<K: Children>(children: K) -> SafeGather<K> {
        SafeGather::new(children)
    }

    /// Implemented by nothing: what `safe_gather(iter)` asks of its input
    /// without the `alloc` feature, so that the compiler says what is
    /// missing rather than "expected function, found crate".
    #[diagnostic::on_unimplemented(
        message = "`safe_gather(iter)` needs safe-gather's `alloc` feature",
        label = "a gather of an iterator keeps its children and outputs on the heap",
        note = "enable the `alloc` (or `std`) feature, or gather a fixed number without a heap: \
                `safe_gather_array([a, b, c])` or `safe_gather!(a, b, c)`"
    )]
    pub trait NeedsAlloc {}
}

/// Without `alloc`, only a diagnostic: see [`__private::NeedsAlloc`].
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
pub fn safe_gather<I: __private::NeedsAlloc>(_iter: I) -> ! {
    unreachable!("no type implements `NeedsAlloc`")
}
