//! The [`SafeGather`] future, its modifiers, and the engine that polls it.
//!
//! You rarely need this module by name: the entry points and [`SafeGather`]
//! are re-exported at the crate root. It holds the types that appear in a
//! gather's full type, `SafeGather<K, M, D>`: the kind of children `K`
//! ([`Children`]), the mode `M` ([`FailFast`] or [`Settled`]) and the deadline
//! `D` (see [`deadline`](crate::deadline)).

use core::fmt;
use core::future::Future;
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use futures_core::future::FusedFuture;
use futures_core::TryFuture;
use pin_project_lite::pin_project;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::deadline::{Deadline, Expiring, NoDeadline, SleepDeadline, TimerDeadline};
use crate::error::GatherError;
#[cfg(feature = "alloc")]
use crate::storage::VecStorage;
use crate::storage::{ArrayStorage, Storage, TryStorage};
use crate::timer::Timer;
#[cfg(feature = "alloc")]
use crate::waker::Wakers;

mod sealed {
    pub trait Sealed {}
}

/// What a [`SafeGather`] can run: `Vec<F>`, `[F; N]`, and tuples of 1 to 12
/// futures, each child a [`TryFuture`]. Sealed.
///
/// The associated types are what a [settled](SafeGather::settled) gather
/// resolves to.
///
/// # Examples
///
/// A helper generic over every kind of gather, settled:
///
/// ```
/// use safe_gather::gather::{Children, SafeGather};
///
/// async fn all_outcomes<K: Children>(children: SafeGather<K>) -> K::Settled {
///     children.settled().await
/// }
///
/// # futures::executor::block_on(async {
/// let outcomes = all_outcomes(safe_gather::safe_gather_array([async { Ok::<_, ()>(1) }])).await;
/// assert_eq!(outcomes, [Ok(1)]);
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be gathered",
    label = "gather a `Vec`, an array, or a tuple of 1 to 12 futures that return `Result`",
    note = "`safe_gather!` takes 1 to 12 futures; for more, use `safe_gather(iter)` or `safe_gather_array`"
)]
pub trait Children: sealed::Sealed {
    /// One `Result<T, E>` per child, in input order, e.g. `Vec<Result<T, E>>`.
    type Settled;
    /// One `Result<T, SlotError<E>>` per child, in input order.
    type SettledTimed;

    #[doc(hidden)]
    type Storage: Storage<Settled = Self::Settled, SettledTimed = Self::SettledTimed>;

    #[doc(hidden)]
    fn into_storage(self) -> Self::Storage;
}

/// [`Children`] that share one error type, so that a gather of them can fail
/// fast: every `Vec` and array, and tuples whose futures agree on `E`.
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{SafeGather, TryChildren};
/// use safe_gather::GatherError;
///
/// /// Runs any fail-fast gather and counts the values, or reports the failure.
/// async fn run_all<K: TryChildren>(gather: SafeGather<K>) -> Result<K::Ok, GatherError<K::Error>> {
///     gather.await
/// }
///
/// # futures::executor::block_on(async {
/// let values = run_all(safe_gather::safe_gather!(async { Ok::<_, ()>(1u8) }, async { Ok("two") })).await;
/// assert_eq!(values, Ok((1, "two")));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "the children of `{Self}` do not share one error type",
    label = "a fail-fast gather returns one `GatherError<E>`, so every child must fail with the same `E`",
    note = "map the errors to a common type (e.g. with `TryFutureExt::map_err`), or use `.settled()`, which keeps each child's own error"
)]
pub trait TryChildren: Children {
    /// Every child's value, in input order, e.g. `Vec<T>` or `(A, B, C)`.
    type Ok;
    /// The error type the children share.
    type Error;

    #[doc(hidden)]
    fn take_error(storage: Pin<&mut Self::Storage>, index: usize) -> Self::Error;

    #[doc(hidden)]
    fn take_ok(storage: Pin<&mut Self::Storage>) -> Self::Ok;
}

impl<K> TryChildren for K
where
    K: Children,
    K::Storage: TryStorage,
{
    type Ok = <K::Storage as TryStorage>::Ok;
    type Error = <K::Storage as TryStorage>::Error;

    fn take_error(storage: Pin<&mut Self::Storage>, index: usize) -> Self::Error {
        storage.take_error(index)
    }

    fn take_ok(storage: Pin<&mut Self::Storage>) -> Self::Ok {
        storage.take_ok()
    }
}

#[cfg(feature = "alloc")]
impl<F: TryFuture> sealed::Sealed for Vec<F> {}

#[cfg(feature = "alloc")]
impl<F: TryFuture> Children for Vec<F> {
    type Settled = <VecStorage<F> as Storage>::Settled;
    type SettledTimed = <VecStorage<F> as Storage>::SettledTimed;
    type Storage = VecStorage<F>;

    fn into_storage(self) -> VecStorage<F> {
        VecStorage::new(self)
    }
}

impl<F: TryFuture, const N: usize> sealed::Sealed for [F; N] {}

impl<F: TryFuture, const N: usize> Children for [F; N] {
    type Settled = <ArrayStorage<F, N> as Storage>::Settled;
    type SettledTimed = <ArrayStorage<F, N> as Storage>::SettledTimed;
    type Storage = ArrayStorage<F, N>;

    fn into_storage(self) -> ArrayStorage<F, N> {
        ArrayStorage::new(self)
    }
}

macro_rules! tuple_children {
    ($($storage:ident ($($F:ident)+))+) => {$(
        impl<$($F: TryFuture),+> sealed::Sealed for ($($F,)+) {}

        impl<$($F: TryFuture),+> Children for ($($F,)+) {
            type Settled = <crate::storage::$storage<$($F),+> as Storage>::Settled;
            type SettledTimed = <crate::storage::$storage<$($F),+> as Storage>::SettledTimed;
            type Storage = crate::storage::$storage<$($F),+>;

            fn into_storage(self) -> Self::Storage {
                crate::storage::$storage::new(self)
            }
        }
    )+};
}

tuple_children! {
    Tuple1(A)
    Tuple2(A B)
    Tuple3(A B C)
    Tuple4(A B C D)
    Tuple5(A B C D E)
    Tuple6(A B C D E F)
    Tuple7(A B C D E F G)
    Tuple8(A B C D E F G H)
    Tuple9(A B C D E F G H I)
    Tuple10(A B C D E F G H I J)
    Tuple11(A B C D E F G H I J K)
    Tuple12(A B C D E F G H I J K L)
}

/// Fail-fast mode, the default: the first error drops every other child and
/// becomes the gather's error.
///
/// # Examples
///
/// Naming a gather's type, to keep it in a struct:
///
/// ```
/// use std::future::Ready;
/// use safe_gather::deadline::NoDeadline;
/// use safe_gather::gather::{FailFast, SafeGather};
///
/// struct Startup {
///     workers: SafeGather<Vec<Ready<Result<u32, String>>>, FailFast, NoDeadline>,
/// }
///
/// let startup = Startup { workers: safe_gather::safe_gather(vec![std::future::ready(Ok(1))]) };
/// # futures::executor::block_on(async { assert_eq!(startup.workers.await, Ok(vec![1])); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FailFast;

/// Settled mode, from [`.settled()`](SafeGather::settled): every child runs to
/// completion (or to the deadline) and reports its own outcome.
///
/// # Examples
///
/// ```
/// use std::future::Ready;
/// use safe_gather::deadline::NoDeadline;
/// use safe_gather::gather::{SafeGather, Settled};
///
/// type Batch = SafeGather<[Ready<Result<u8, u8>>; 2], Settled, NoDeadline>;
///
/// let batch: Batch = safe_gather::safe_gather_array([std::future::ready(Ok(1)), std::future::ready(Err(2))]).settled();
/// # futures::executor::block_on(async { assert_eq!(batch.await, [Ok(1), Err(2)]); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Settled;

pin_project! {
    /// Future for [`safe_gather()`](crate::safe_gather),
    /// [`safe_gather_array()`](crate::safe_gather_array) and
    /// [`safe_gather!`](crate::safe_gather!).
    ///
    /// `K` is what runs ([`Children`]: `Vec<F>`, `[F; N]` or a tuple), `M` the
    /// mode ([`FailFast`] or [`Settled`]), `D` the deadline
    /// ([`NoDeadline`], [`TimerDeadline`] or [`SleepDeadline`]). The modifiers
    /// [`settled`](SafeGather::settled), [`timeout`](SafeGather::timeout),
    /// [`timeout_with`](SafeGather::timeout_with),
    /// [`deadline`](SafeGather::deadline) and [`limit`](SafeGather::limit)
    /// can be chained in any order before the first poll.
    ///
    /// | mode | deadline | resolves to |
    /// |---|---|---|
    /// | fail-fast | any | `Result<K::Ok, GatherError<E>>`, e.g. `Result<Vec<T>, GatherError<E>>` |
    /// | settled | none | `K::Settled`, e.g. `Vec<Result<T, E>>` |
    /// | settled | timer or sleep | `K::SettledTimed`, e.g. `Vec<Result<T, SlotError<E>>>` |
    ///
        /// Nothing runs until the first poll. Dropping the gather drops every
    /// child and every output it holds: that is how to cancel it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::future::FusedFuture;
    /// use safe_gather::{safe_gather, GatherError};
    ///
    /// # futures::executor::block_on(async {
    /// let mut gather = safe_gather((1..=3).map(|n| async move { Ok::<_, String>(n * 2) }))
    ///     .timeout(Duration::from_secs(5));
    /// assert_eq!(gather.len(), 3);
    /// assert_eq!((&mut gather).await, Ok(vec![2, 4, 6]));
    /// assert!(gather.is_terminated(), "polling it again would panic");
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct SafeGather<K: Children, M = FailFast, D = NoDeadline> {
        // Declared (so dropped) first: a dropped gather stops waking its task
        // before any child's `Drop` can wake it.
        wakers: Wakers,
        #[pin]
        storage: K::Storage,
        #[pin]
        deadline: D,
        run: Run,
        mode: M,
    }
}

/// Without `alloc` there is no shared wake block: every poll polls every
/// running child with the gather's own waker.
#[cfg(not(feature = "alloc"))]
#[derive(Debug)]
struct Wakers;

#[cfg(not(feature = "alloc"))]
impl Wakers {
    fn new(_len: usize) -> Self {
        Wakers
    }

    fn close(&mut self) {}
}

/// Where a gather is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Being polled, or waiting for a wake.
    Running,
    /// Resolved; must not be polled again.
    Done,
    /// A poll unwound (a child, timer or waker panicked); must not be polled
    /// again. Set at the start of every poll, cleared when it returns.
    Poisoned,
}

/// The counters of one gather.
#[derive(Debug)]
struct Run {
    len: usize,
    /// Most children in flight at once (`usize::MAX` unless limited).
    limit: usize,
    /// Children `0..started` have had their first poll.
    started: usize,
    /// Started and not yet finished.
    running: usize,
    /// Finished, successfully or not.
    finished: usize,
    phase: Phase,
}

/// How a poll ended, when the gather resolves.
enum Outcome {
    /// Every child finished (and in fail-fast mode, succeeded).
    Complete,
    /// Child `index` failed (fail-fast mode only).
    Failed(usize),
    /// The deadline passed first.
    TimedOut,
}

impl Run {
    fn new(len: usize) -> Self {
        Run {
            len,
            limit: usize::MAX,
            started: 0,
            running: 0,
            finished: 0,
            phase: Phase::Running,
        }
    }

    /// Polls child `index` once. Breaks with the index if it failed and the
    /// gather fails fast.
    #[inline]
    fn poll_child<S: Storage>(
        &mut self,
        storage: Pin<&mut S>,
        index: usize,
        cx: &mut Context<'_>,
        fail_fast: bool,
    ) -> ControlFlow<usize> {
        match storage.poll_child(index, cx) {
            Poll::Pending => ControlFlow::Continue(()),
            Poll::Ready(ok) => {
                self.running -= 1;
                self.finished += 1;
                if fail_fast && !ok {
                    ControlFlow::Break(index)
                } else {
                    ControlFlow::Continue(())
                }
            }
        }
    }

    /// The next child to start, if the limit allows one more in flight.
    #[inline]
    fn start_next(&mut self) -> Option<usize> {
        if self.started == self.len || self.running == self.limit {
            return None;
        }
        self.started += 1;
        self.running += 1;
        Some(self.started - 1)
    }

    /// One round: the children woken since the last round, in ascending
    /// order, then first polls of children not yet started, while the limit
    /// allows. Each child is polled at most once.
    #[cfg(feature = "alloc")]
    fn poll_round<S: Storage>(
        &mut self,
        mut storage: Pin<&mut S>,
        wakers: &Wakers,
        fail_fast: bool,
        cx: &mut Context<'_>,
    ) -> ControlFlow<usize> {
        wakers.begin_poll(cx.waker());
        wakers.drain(|index, waker| {
            self.poll_child(
                storage.as_mut(),
                index,
                &mut Context::from_waker(waker),
                fail_fast,
            )
        })?;
        while let Some(index) = self.start_next() {
            let waker = wakers.waker_for(index);
            self.poll_child(
                storage.as_mut(),
                index,
                &mut Context::from_waker(&waker),
                fail_fast,
            )?;
        }
        ControlFlow::Continue(())
    }

    /// One round without `alloc`: every started child that is still running
    /// is polled with the gather's own waker, then new children start.
    #[cfg(not(feature = "alloc"))]
    fn poll_round<S: Storage>(
        &mut self,
        mut storage: Pin<&mut S>,
        _wakers: &Wakers,
        fail_fast: bool,
        cx: &mut Context<'_>,
    ) -> ControlFlow<usize> {
        for index in 0..self.started {
            self.poll_child(storage.as_mut(), index, cx, fail_fast)?;
        }
        while let Some(index) = self.start_next() {
            self.poll_child(storage.as_mut(), index, cx, fail_fast)?;
        }
        ControlFlow::Continue(())
    }
}

impl<K: Children, M, D: Deadline> SafeGather<K, M, D> {
    fn from_parts(storage: K::Storage, deadline: D, run: Run, wakers: Wakers, mode: M) -> Self {
        SafeGather {
            storage,
            deadline,
            run,
            wakers,
            mode,
        }
    }

    /// Polls the children and the deadline; returns how the gather resolved,
    /// with the gather already marked done and its wakers and deadline let go.
    fn poll_engine(self: Pin<&mut Self>, fail_fast: bool, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.project();
        let run = this.run;
        match run.phase {
            Phase::Running => {}
            Phase::Done => panic!("`SafeGather` polled after it completed"),
            Phase::Poisoned => panic!("`SafeGather` polled after a panic in an earlier poll"),
        }
        // Until this poll returns normally: a panic below leaves it poisoned.
        run.phase = Phase::Poisoned;
        let mut deadline = this.deadline;
        let outcome = if run.len == 0 {
            Outcome::Complete
        } else {
            deadline.as_mut().start();
            match run.poll_round(this.storage, this.wakers, fail_fast, cx) {
                ControlFlow::Break(index) => Outcome::Failed(index),
                ControlFlow::Continue(()) if run.finished == run.len => Outcome::Complete,
                ControlFlow::Continue(()) if deadline.as_mut().poll_passed(cx) => Outcome::TimedOut,
                ControlFlow::Continue(()) => {
                    run.phase = Phase::Running;
                    return Poll::Pending;
                }
            }
        };
        // Let go of the parent task first, so that children dropped below
        // cannot wake it; then the sleep.
        this.wakers.close();
        deadline.finish();
        Poll::Ready(outcome)
    }

    /// The poll that resolved the gather finished its work normally.
    fn mark_done(self: Pin<&mut Self>) {
        self.project().run.phase = Phase::Done;
    }

    /// Limits how many children run at once: the first `n` start at the first
    /// poll, and each one that finishes starts the next, in input order.
    /// Children not yet started are not polled (nor, in fail-fast mode when a
    /// sibling fails or on timeout, ever: they are dropped unpolled). Outputs
    /// stay in input order.
    ///
    /// # Panics
    ///
    /// If `n` is 0, which could never make progress.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use safe_gather::safe_gather;
    ///
    /// let in_flight = AtomicUsize::new(0);
    /// let most = AtomicUsize::new(0);
    /// let fetches = (0..10).map(|n| {
    ///     let (in_flight, most) = (&in_flight, &most);
    ///     async move {
    ///         let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    ///         most.fetch_max(now, Ordering::SeqCst);
    ///         futures::future::ready(()).await;
    ///         in_flight.fetch_sub(1, Ordering::SeqCst);
    ///         Ok::<_, ()>(n * 10)
    ///     }
    /// });
    ///
    /// # futures::executor::block_on(async {
    /// let values = safe_gather(fetches).limit(3).await.unwrap();
    /// assert_eq!(values, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    /// assert!(most.load(Ordering::SeqCst) <= 3);
    /// # });
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "`SafeGather::limit` needs at least one child in flight, got 0"
        );
        self.run.limit = n;
        self
    }

    /// The number of children.
    ///
    /// ```
    /// use std::future::ready;
    ///
    /// let gather = safe_gather::safe_gather_array([ready(Ok::<_, ()>(1)), ready(Ok(2))]);
    /// assert_eq!(gather.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.run.len
    }

    /// Whether there are no children (such a gather resolves at its first
    /// poll).
    ///
    /// ```
    /// let gather = safe_gather::safe_gather(Vec::<std::future::Ready<Result<(), ()>>>::new());
    /// assert!(gather.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.run.len == 0
    }
}

impl<K: Children> SafeGather<K> {
    pub(crate) fn new(children: K) -> Self {
        SafeGather::from_storage(children.into_storage())
    }

    pub(crate) fn from_storage(storage: K::Storage) -> Self {
        let len = storage.len();
        SafeGather::from_parts(
            storage,
            NoDeadline,
            Run::new(len),
            Wakers::new(len),
            FailFast,
        )
    }
}

impl<K: Children, D: Deadline> SafeGather<K, FailFast, D> {
    /// Partial-results mode (Python's `return_exceptions=True`): no child's
    /// error stops the others; every child runs to completion and the gather
    /// resolves to one outcome per child, in input order.
    ///
    /// Without a deadline each outcome is the child's own `Result<T, E>`
    /// (`Vec<Result<T, E>>`, `[Result<T, E>; N]`, or a tuple, whose children
    /// need not share an error type). With a deadline each is a
    /// `Result<T, SlotError<E>>`, and a child still running when it passes is
    /// dropped and reported as [`SlotError::TimedOut`](crate::SlotError::TimedOut);
    /// there is no overall error.
    ///
    /// # Examples
    ///
    /// ```
    /// use safe_gather::safe_gather;
    ///
    /// # futures::executor::block_on(async {
    /// let batch = (1..=4).map(|n| async move { if n % 2 == 0 { Err(n) } else { Ok(n) } });
    /// let outcomes = safe_gather(batch).settled().await;
    /// assert_eq!(outcomes, [Ok(1), Err(2), Ok(3), Err(4)]);
    /// # });
    /// ```
    #[doc(alias = "return_exceptions")]
    pub fn settled(self) -> SafeGather<K, Settled, D> {
        SafeGather::from_parts(self.storage, self.deadline, self.run, self.wakers, Settled)
    }
}

impl<K: Children, M> SafeGather<K, M, NoDeadline> {
    /// An overall deadline `duration` after the first poll, on the default
    /// timer ([`FuturesTimer`](crate::FuturesTimer)).
    ///
    /// Children are polled first, then the deadline: a gather that completes
    /// in the poll in which the deadline passes succeeds. When it passes, a
    /// fail-fast gather drops every child and resolves to
    /// [`GatherError::TimedOut`]; a settled one drops the children still
    /// running and marks them [`SlotError::TimedOut`](crate::SlotError::TimedOut).
    /// `Duration::ZERO` polls the children once, then times out unless they
    /// are done; a duration too large for the timer never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{safe_gather, GatherError};
    ///
    /// # futures::executor::block_on(async {
    /// // Job 0 answers at once; job 1 never does.
    /// let job = |n: u32| async move {
    ///     if n == 1 { futures::future::pending().await } else { Ok::<_, ()>(n) }
    /// };
    /// let result = safe_gather([job(0), job(1)]).timeout(Duration::from_millis(5)).await;
    /// assert_eq!(result, Err(GatherError::TimedOut { completed: 1, pending: 1 }));
    /// # });
    /// ```
    #[cfg(feature = "futures-timer")]
    pub fn timeout(
        self,
        duration: Duration,
    ) -> SafeGather<K, M, TimerDeadline<crate::FuturesTimer>> {
        self.timeout_with(crate::FuturesTimer, duration)
    }

    /// An overall deadline `duration` after the first poll, on `timer`: as
    /// [`timeout`](SafeGather::timeout), with any [`Timer`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{safe_gather, FuturesTimer};
    ///
    /// # futures::executor::block_on(async {
    /// let jobs = [futures::future::ready(Ok::<_, ()>(1)), futures::future::ready(Ok(2))];
    /// let values = safe_gather(jobs).timeout_with(FuturesTimer, Duration::from_secs(1)).await;
    /// assert_eq!(values, Ok(vec![1, 2]));
    /// # });
    /// ```
    pub fn timeout_with<T: Timer>(
        self,
        timer: T,
        duration: Duration,
    ) -> SafeGather<K, M, TimerDeadline<T>> {
        let deadline = TimerDeadline::new(timer, duration);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }

    /// A deadline that passes when `sleep` completes: any future, such as
    /// `tokio::time::sleep_until(instant)`, `embassy_time::Timer::at(instant)`
    /// or `smol::Timer::after(duration)` (whatever it outputs is ignored, so
    /// smol's timer, which yields an `Instant`, works directly). Otherwise as
    /// [`timeout`](SafeGather::timeout). The gather holds the sleep inline, so
    /// it is `Unpin` only if the sleep is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::safe_gather;
    ///
    /// # futures::executor::block_on(async {
    /// let stuck = futures::future::pending::<Result<(), ()>>();
    /// let sleep = futures_timer::Delay::new(Duration::from_millis(1));
    /// let outcomes = safe_gather([stuck]).settled().deadline(sleep).await;
    /// assert!(outcomes[0].as_ref().unwrap_err().is_timeout());
    /// # });
    /// ```
    pub fn deadline<S: Future>(self, sleep: S) -> SafeGather<K, M, SleepDeadline<S>> {
        let deadline = SleepDeadline::new(sleep);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }
}

impl<K: TryChildren, D: Deadline> Future for SafeGather<K, FailFast, D> {
    type Output = Result<K::Ok, GatherError<K::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match self.as_mut().poll_engine(true, cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => return Poll::Pending,
        };
        let this = self.as_mut().project();
        let mut storage = this.storage;
        let result = match outcome {
            Outcome::Complete => Ok(K::take_ok(storage.as_mut())),
            Outcome::Failed(index) => {
                let error = K::take_error(storage.as_mut(), index);
                storage.as_mut().drop_all();
                Err(GatherError::Failed { index, error })
            }
            Outcome::TimedOut => {
                storage.as_mut().drop_all();
                let completed = this.run.finished;
                Err(GatherError::TimedOut {
                    completed,
                    pending: this.run.len - completed,
                })
            }
        };
        self.mark_done();
        Poll::Ready(result)
    }
}

impl<K: Children> Future for SafeGather<K, Settled, NoDeadline> {
    type Output = K::Settled;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.as_mut().poll_engine(false, cx) {
            Poll::Ready(_) => {
                let outcomes = self.as_mut().project().storage.take_settled();
                self.mark_done();
                Poll::Ready(outcomes)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<K: Children, D: Expiring> Future for SafeGather<K, Settled, D> {
    type Output = K::SettledTimed;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.as_mut().poll_engine(false, cx) {
            Poll::Ready(_) => {
                let outcomes = self.as_mut().project().storage.take_settled_timed();
                self.mark_done();
                Poll::Ready(outcomes)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<K: Children, M, D> FusedFuture for SafeGather<K, M, D>
where
    SafeGather<K, M, D>: Future,
{
    /// True once the gather has resolved (or a poll of it panicked): polling
    /// it again would panic.
    fn is_terminated(&self) -> bool {
        self.run.phase != Phase::Running
    }
}

impl<K: Children, M: fmt::Debug, D: fmt::Debug> fmt::Debug for SafeGather<K, M, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = &self.run;
        let mut out = f.debug_struct("SafeGather");
        out.field("len", &run.len)
            .field("running", &run.running)
            .field("finished", &run.finished)
            .field("not_started", &(run.len - run.started))
            .field("mode", &self.mode)
            .field("deadline", &self.deadline);
        if run.limit != usize::MAX {
            out.field("limit", &run.limit);
        }
        let state = match run.phase {
            Phase::Running => "running",
            Phase::Done => "done",
            Phase::Poisoned => "poisoned",
        };
        out.field("state", &state).finish()
    }
}
