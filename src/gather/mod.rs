//! The [`SafeGather`] future, its modifiers, and the engine that polls it.
//!
//! You rarely need this module by name: the entry points and [`SafeGather`]
//! are re-exported at the crate root. It holds the types that appear in a
//! gather's full type, `SafeGather<K, M, D>`: the kind of children `K`
//! ([`Children`]: [`Iter`], arrays, tuples), the mode `M` ([`FailFast`] or
//! [`Settled`]) and the deadline `D` (see [`deadline`](crate::deadline)); and
//! [`Unordered`], the stream that [`.unordered()`](SafeGather::unordered)
//! makes of a gather.
//!
//! Inside: `engine.rs` decides which children a poll polls and in which
//! order; `children.rs` says what each kind of children resolves to;
//! `unordered.rs` hands outcomes out as they land; `keep.rs` is
//! [`.keep_error_type()`](SafeGather::keep_error_type).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use crate::deadline::{
    Deadline, Expiring, GraceTimer, GraceWith, Graced, Inherit, NoDeadline, NoGrace, Unset,
};
use crate::error::GatherError;
use crate::storage::{Keep, Storage};
use crate::timer::Timer;
#[cfg(target_has_atomic = "ptr")]
use crate::waker::ChildWakers;
use crate::waker::Wakers;

mod children;
mod engine;
mod keep;
mod unordered;

pub use crate::waker::{CallerWakers, OwnWakers, WakeMode};
#[cfg(target_has_atomic = "ptr")]
pub use children::{AtMost, WithWakers};
pub use children::{Bounded, Children, Limited, TryChildren, Unlimited, UnorderedChildren};
#[cfg(feature = "alloc")]
pub use children::{FromStream, Iter};
pub use keep::KeepErrorType;
pub use unordered::Unordered;

pub use engine::DEFAULT_POLL_BUDGET;
use engine::{Phase, RoundEnd, Rules, Run};

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
///     workers: SafeGather<[Ready<Result<u32, String>>; 1], FailFast, NoDeadline>,
/// }
///
/// let startup = Startup { workers: safe_gather::safe_gather_array([std::future::ready(Ok(1))]) };
/// # futures::executor::block_on(async { assert_eq!(startup.workers.await, Ok([1])); });
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

/// A gather's mode before [`.settled()`](SafeGather::settled): only
/// [`FailFast`]. Sealed; it exists to say so when `.settled()` comes twice.
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{Bounded, FailFast, SafeGather, Settled, Unsettled};
///
/// fn settle<K: Bounded, M: Unsettled>(gather: SafeGather<K, M>) -> SafeGather<K, Settled> {
///     gather.settled()
/// }
///
/// # futures::executor::block_on(async {
/// let outcomes = settle(safe_gather::safe_gather_array([async { Err::<u8, _>(1) }])).await;
/// assert_eq!(outcomes, [Err(1)]);
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "this gather is already settled",
    label = "`.settled()` once is enough"
)]
pub trait Unsettled: sealed::Mode {}

impl Unsettled for FailFast {}

mod sealed {
    pub trait Mode {}
    impl Mode for super::FailFast {}
}

pin_project! {
    /// Future for [`safe_gather()`](crate::safe_gather),
    /// [`safe_gather_array()`](crate::safe_gather_array),
    /// `safe_gather_heapless()` (feature `heapless`) and
    /// [`safe_gather!`](crate::safe_gather!).
    ///
    /// `K` is what runs ([`Children`]: [`Iter`], `[F; N]`, a tuple, a
    /// `heapless::Vec`, or any of the last three given caller-owned wakers,
    /// `WithWakers<K>`), `M` the
    /// mode ([`FailFast`] or [`Settled`]), `D` the deadline
    /// ([`NoDeadline`], [`TimerDeadline`] or [`SleepDeadline`]). The modifiers
    /// [`settled`](SafeGather::settled), [`timeout`](SafeGather::timeout),
    /// [`timeout_with`](SafeGather::timeout_with),
    /// [`deadline`](SafeGather::deadline) and [`limit`](SafeGather::limit)
    /// can be chained in any order before the first poll (each panics after
    /// it: a running gather's mode, deadline and limit are fixed), and
    /// [`unordered`](SafeGather::unordered) turns it into a stream.
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
    /// A gather is `Send` when its children, their outputs and its deadline
    /// are, and `Sync` likewise. A gather of an iterator's children keeps
    /// them on the heap and is `Unpin` whenever its deadline is; an array or
    /// tuple gather is `Unpin` when its children (and deadline) are. (The
    /// bounds rustdoc renders for these say the same in private terms:
    /// `<K as Children>::Storage` is where the children and their outputs
    /// live, and pin-project-lite's `PinnedFieldsOf` stands for the pinned
    /// fields, the children and the deadline.)
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
        wakers: Wakers<K::Wakes>,
        #[pin]
        storage: K::Storage,
        #[pin]
        deadline: D,
        run: Run,
        mode: M,
    }
}

/// How a gather resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every child finished (and in fail-fast mode, succeeded).
    Complete,
    /// Child `index` failed (fail-fast mode only), in slot `slot`.
    Failed { index: usize, slot: usize },
    /// The deadline passed first, when `completed` of `total` children had
    /// finished.
    TimedOut { completed: usize, total: usize },
}

/// What one poll of the engine came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pending,
    /// A child finished in `slot`, to be handed out; the gather runs on.
    Landed {
        slot: usize,
    },
    /// The gather resolved: its wakers and deadline are let go; the caller
    /// hands over or drops what the storage holds, then marks it done.
    Resolved(Outcome),
}

impl<K: Children, M, D: Deadline> SafeGather<K, M, D> {
    #[inline]
    fn from_parts(
        storage: K::Storage,
        deadline: D,
        run: Run,
        wakers: Wakers<K::Wakes>,
        mode: M,
    ) -> Self {
        SafeGather {
            storage,
            deadline,
            run,
            wakers,
            mode,
        }
    }

    /// Polls the children and the deadline (see `engine.rs`).
    fn poll_engine(self: Pin<&mut Self>, keep: Keep, rules: Rules, cx: &mut Context<'_>) -> Step {
        let this = self.project();
        let run = this.run;
        let first = match run.phase {
            Phase::Unpolled => true,
            Phase::Running => false,
            Phase::Done => panic!("`SafeGather` polled after it completed"),
            Phase::Poisoned => panic!("`SafeGather` polled after a panic in an earlier poll"),
        };
        // Until this poll returns normally: a panic below leaves it poisoned.
        run.phase = Phase::Poisoned;
        let mut storage = this.storage;
        let mut deadline = this.deadline;
        let outcome = 'resolve: {
            if first {
                let begun = storage.as_mut().begin(keep, run.limit);
                if begun.empty {
                    // Rule 1: resolved at the first poll, whatever the deadline.
                    run.exhausted = true;
                    break 'resolve Outcome::Complete;
                }
                this.wakers.set_slots(begun.slots);
                run.schedule = begun.schedule;
                run.source_slot = storage.source_slot_of();
                deadline.as_mut().start();
            }
            // In a grace period, no child starts, and errors and outputs are
            // only collected (fail-fast hands none out); otherwise the mode's
            // rules.
            let cancelled = run.cancel;
            let rules = match cancelled {
                Some(_) => Rules {
                    fail_fast: false,
                    one_at_a_time: rules.one_at_a_time && !rules.fail_fast,
                    start: false,
                },
                None => rules,
            };
            let end = run.round(storage.as_mut(), this.wakers, cx, rules);
            let cause = match end {
                RoundEnd::Failed { index, slot } => Some(Outcome::Failed { index, slot }),
                RoundEnd::Landed { slot } => {
                    run.phase = Phase::Running;
                    return Step::Landed { slot };
                }
                _ if cancelled.is_some() => None,
                _ if run.is_complete() => break 'resolve Outcome::Complete,
                _ if deadline.as_mut().poll_passed(cx) => Some(Outcome::TimedOut {
                    completed: run.finished,
                    total: storage.len(),
                }),
                _ => None,
            };
            if let Some(cause) = cause {
                // Cancellation begins: `on_cancel`, and a grace period if the
                // gather has one.
                if !deadline.as_mut().begin_grace() {
                    break 'resolve cause;
                }
                run.cancel = Some(cause);
            }
            if let Some(cause) = run.cancel {
                if run.running == 0 || deadline.as_mut().poll_grace_over(cx) {
                    break 'resolve cause;
                }
            }
            if end == RoundEnd::Paused || matches!(end, RoundEnd::Failed { .. }) {
                // The budget is spent, or a failure began a grace period in
                // the middle of a round: the children left are polled at the
                // next poll, which this asks for.
                cx.waker().wake_by_ref();
            }
            run.phase = Phase::Running;
            return Step::Pending;
        };
        // Let go of the parent task first, so that children dropped below
        // cannot wake it; then the sleep.
        this.wakers.close();
        deadline.finish();
        Step::Resolved(outcome)
    }

    /// The poll that resolved the gather finished its work normally.
    fn mark_done(self: Pin<&mut Self>) {
        self.project().run.phase = Phase::Done;
    }

    /// Panics if the gather was polled: `modifier` comes too late.
    #[track_caller]
    fn assert_unpolled(&self, modifier: &str) {
        assert!(
            self.run.phase == Phase::Unpolled,
            "`SafeGather::{modifier}` called after the gather was first polled: \
             modifiers configure a gather before it starts"
        );
    }

    /// Limits how many children run at once: the first `n` start at the first
    /// poll, and each one that finishes starts the next, in input order.
    /// Children not yet started are not polled (nor, in fail-fast mode when a
    /// sibling fails or on timeout, ever: they are dropped unpolled, or for an
    /// iterator never taken from it). Outputs stay in input order.
    ///
    /// Over an iterator, at most `n` children exist at any moment: they live
    /// in a pool of `n` slots reused in place, so a limited gather's memory
    /// for children is O(n) however long its input (see
    /// [`safe_gather`](crate::safe_gather()#lazily)).
    ///
    /// # Panics
    ///
    /// If `n` is 0, which could never make progress; and if the gather was
    /// already polled, like every modifier.
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
    #[track_caller]
    pub fn limit(mut self, n: usize) -> SafeGather<K::Limited, M, D> {
        self.assert_unpolled("limit");
        assert!(
            n > 0,
            "`SafeGather::limit` needs at least one child in flight, got 0"
        );
        self.run.limit = n;
        SafeGather {
            storage: self.storage,
            deadline: self.deadline,
            run: self.run,
            wakers: self.wakers,
            mode: self.mode,
        }
    }

    /// At most `n` child polls in one poll of the gather (first polls
    /// included). When they are spent with children still to poll, the
    /// gather wakes its own task and returns `Pending`, and its next poll
    /// polls the children left first, still in input order, before any
    /// woken since. So one gather of a million ready children shares its
    /// executor thread with the other tasks instead of holding it for the
    /// whole round.
    ///
    /// The default is [`DEFAULT_POLL_BUDGET`] (1024, see there why); `usize::MAX` turns the budget
    /// off. With the `tokio` feature, a poll also stops once tokio's
    /// cooperative budget for the task is spent (children reading tokio
    /// channels or sockets spend it), after at least one child poll; wrap
    /// the gather in `tokio::task::coop::unconstrained` to opt out of that. Rule 3 applies to the children polled: fail-fast sees the first
    /// error among them.
    ///
    /// # Panics
    ///
    /// If `n` is 0, which could never make progress; and if the gather was
    /// already polled, like every modifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll};
    /// use safe_gather::safe_gather;
    ///
    /// let jobs = (0..10).map(|n| std::future::ready(Ok::<_, ()>(n)));
    /// let mut gather = pin!(safe_gather(jobs).poll_budget(4));
    /// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    /// // Ten ready children, four polls at a time: three gather polls.
    /// assert!(gather.as_mut().poll(&mut cx).is_pending());
    /// assert!(gather.as_mut().poll(&mut cx).is_pending());
    /// assert_eq!(gather.as_mut().poll(&mut cx), Poll::Ready(Ok((0..10).collect())));
    /// ```
    #[track_caller]
    pub fn poll_budget(mut self, n: usize) -> Self {
        self.assert_unpolled("poll_budget");
        assert!(
            n > 0,
            "`SafeGather::poll_budget` needs at least one child poll per gather poll, got 0"
        );
        self.run.budget = n;
        self
    }

    /// Gives the children per-child wakers from caller-owned storage, so
    /// that a wake re-polls only the child woken, without a heap: on
    /// `no_std` without `alloc`, an array or tuple gather otherwise polls
    /// every child still running on every wake. With `alloc`, the gather
    /// then allocates nothing for its wakers.
    ///
    /// The storage is claimed at the first poll and given back when the
    /// gather resolves or is dropped. If another gather holds it then, this
    /// one runs as if it had been given none (see [`ChildWakers`], "One
    /// gather at a time"): nothing is lost but the per-child polling.
    ///
    /// `N` is the number of children: an array of `N` or a tuple of `N`
    /// futures, or the capacity of a `heapless::Vec` ([`AtMost`]).
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
    ///
    /// # Examples
    ///
    /// A tuple of three, on a `no_std`-style `static`:
    ///
    /// ```
    /// use safe_gather::{safe_gather, ChildWakers};
    ///
    /// static WAKERS: ChildWakers<3> = ChildWakers::new();
    ///
    /// # futures::executor::block_on(async {
    /// let (a, b, c) = safe_gather!(
    ///     async { Ok::<_, ()>(1) },
    ///     async { Ok("two") },
    ///     async { Ok(3.0) },
    /// )
    /// .wakers(&WAKERS)
    /// .await
    /// .unwrap();
    /// assert_eq!((a, b, c), (1, "two", 3.0));
    /// # });
    /// ```
    #[cfg(target_has_atomic = "ptr")]
    #[track_caller]
    pub fn wakers<const N: usize>(
        self,
        wakers: &'static ChildWakers<N>,
    ) -> SafeGather<WithWakers<K>, M, D>
    where
        K: AtMost<N>,
    {
        self.assert_unpolled("wakers");
        let mut given = Wakers::new();
        given.give(wakers);
        SafeGather {
            storage: self.storage,
            deadline: self.deadline,
            run: self.run,
            wakers: given,
            mode: self.mode,
        }
    }

    /// The number of children: for an iterator, those taken from it so far
    /// plus those it still reports (its `size_hint`'s lower bound), which is
    /// exact for inputs of known length (`Vec`, arrays, ranges, and maps over
    /// them) and a lower bound otherwise.
    ///
    /// ```
    /// use std::future::ready;
    ///
    /// let gather = safe_gather::safe_gather_array([ready(Ok::<_, ()>(1)), ready(Ok(2))]);
    /// assert_eq!(gather.len(), 2);
    ///
    /// // An iterator of unknown length reports what it knows.
    /// let mut left = 3;
    /// let jobs = std::iter::from_fn(move || (left > 0).then(|| { left -= 1; ready(Ok::<_, ()>(left)) }));
    /// assert_eq!(safe_gather::safe_gather(jobs).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.storage.len()
    }

    /// Whether the gather is known to have no children (it then resolves at
    /// its first poll). An iterator of unknown length is not known to be
    /// empty until the gather's first poll asks it.
    ///
    /// ```
    /// use std::future::{ready, Ready};
    ///
    /// let gather = safe_gather::safe_gather(Vec::<Ready<Result<(), ()>>>::new());
    /// assert!(gather.is_empty());
    /// let gather = safe_gather::safe_gather([ready(Ok::<_, ()>(()))]);
    /// assert!(!gather.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.storage.is_empty()
    }
}

impl<K: Children> SafeGather<K> {
    pub(crate) fn new(children: K) -> Self {
        SafeGather::from_parts(
            children.into_storage(),
            NoDeadline,
            Run::new(),
            Wakers::new(),
            FailFast,
        )
    }
}

impl<K: Children, M: Unsettled, D: Deadline> SafeGather<K, M, D> {
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
    /// Settling changes what the gather resolves to, so a gather settled only
    /// sometimes is two gathers, one per branch: `if keep_going {
    /// g.settled().await } else { .. g.await .. }`. (Settling always and then
    /// collecting into `Result<Vec<T>, E>` gives the first error too, but
    /// only once every child has run.)
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
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
    #[track_caller]
    pub fn settled(self) -> SafeGather<K, Settled, D> {
        self.assert_unpolled("settled");
        SafeGather::from_parts(self.storage, self.deadline, self.run, self.wakers, Settled)
    }
}

impl<K: Children, M, D: Unset> SafeGather<K, M, D> {
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
    /// `duration` is a `Duration` or an `Option<Duration>`, where `None`
    /// never fires: an optional timeout from a configuration is one
    /// expression, `.timeout(config.timeout)`, with one type whatever its
    /// value.
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
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
    ///
    /// // An optional timeout: `None` never fires.
    /// let limit: Option<Duration> = None;
    /// let values = safe_gather([job(0), job(2)]).timeout(limit).await;
    /// assert_eq!(values, Ok(vec![0, 2]));
    /// # });
    /// ```
    #[cfg(feature = "futures-timer")]
    #[track_caller]
    pub fn timeout(
        self,
        duration: impl Into<Option<Duration>>,
    ) -> SafeGather<K, M, D::WithTimer<crate::FuturesTimer>> {
        self.assert_unpolled("timeout");
        let duration = duration.into().unwrap_or(Duration::MAX);
        let deadline = self.deadline.with_timer(crate::FuturesTimer, duration);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }

    /// An overall deadline `duration` after the first poll, on `timer`: as
    /// [`timeout`](SafeGather::timeout), with any [`Timer`]. `duration` is a
    /// `Duration` or an `Option<Duration>` (`None` never fires).
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
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
    #[track_caller]
    pub fn timeout_with<T: Timer>(
        self,
        timer: T,
        duration: impl Into<Option<Duration>>,
    ) -> SafeGather<K, M, D::WithTimer<T>> {
        self.assert_unpolled("timeout_with");
        let duration = duration.into().unwrap_or(Duration::MAX);
        let deadline = self.deadline.with_timer(timer, duration);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }

    /// A deadline that passes when `sleep` completes: any future, such as
    /// `tokio::time::sleep_until(instant)`, `embassy_time::Timer::at(instant)`
    /// or `smol::Timer::after(duration)` (whatever it outputs is ignored, so
    /// smol's timer, which yields an `Instant`, works directly). Otherwise as
    /// [`timeout`](SafeGather::timeout). The gather holds the sleep inline, so
    /// it is `Unpin` only if the sleep is.
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
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
    #[inline]
    #[track_caller]
    pub fn deadline<S: Future>(self, sleep: S) -> SafeGather<K, M, D::WithSleep<S>> {
        self.assert_unpolled("deadline");
        let deadline = self.deadline.with_sleep(sleep);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }
}

impl<K: Children, M, D: NoGrace> SafeGather<K, M, D> {
    /// Cancellation with grace: when the gather is cancelled (its first
    /// error in fail-fast mode, or its deadline), it calls `on_cancel()`
    /// once, inside that poll (cancel a token, close a channel, send a
    /// shutdown), starts no new child, and keeps polling the children still
    /// running, as they are woken, until every one has finished or
    /// `duration` has passed; then it drops the rest and resolves. So
    /// children get to run their own async cleanup, which a `Drop` cannot
    /// (see [cancellation](crate#cancellation)).
    ///
    /// * "Running" means taken from the input: under
    ///   [`.limit(n)`](SafeGather::limit) a slot is refilled as soon as its
    ///   child finishes, so a child taken in the round that saw the error
    ///   gets its first poll in the grace period, and sees the signal then.
    /// * Fail-fast resolves to the error that began it
    ///   ([`GatherError::Failed`], or [`GatherError::TimedOut`] counted when
    ///   the deadline passed); outputs, and errors, of children that finish
    ///   during the grace period are dropped.
    /// * Settled with a deadline: a child that finishes during the grace
    ///   period keeps its outcome; one cut off at its end is
    ///   [`SlotError::TimedOut`](crate::SlotError::TimedOut). (Settled
    ///   without a deadline is never cancelled.)
    /// * `Duration::ZERO`: `on_cancel` is called and everything dropped at
    ///   once, as without a grace period; `Duration::MAX` (or any duration
    ///   the timer cannot represent): the children get all the time they
    ///   take. If no child is running when cancellation begins, the gather
    ///   resolves at once. Dropping the gather during the grace period drops
    ///   everything at once; a panic during it propagates, as always.
    ///
    /// The grace sleep is made when cancellation begins, on the gather's own
    /// timer: that of its [`.timeout_with`](SafeGather::timeout_with) or
    /// [`.timeout`](SafeGather::timeout), whichever order they were chained
    /// in, else the default [`FuturesTimer`](crate::FuturesTimer). A gather
    /// with a [`.deadline(sleep)`](SafeGather::deadline) has no timer, so it
    /// uses the default one too; without the `futures-timer` feature such a
    /// gather (or one without any deadline) needs
    /// [`.grace_with`](SafeGather::grace_with), which the compiler says.
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier. A panic in
    /// `on_cancel` propagates out of the poll that called it, as a child's
    /// panic would.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::time::Duration;
    /// use safe_gather::{safe_gather, GatherError};
    ///
    /// static STOP: AtomicBool = AtomicBool::new(false);
    ///
    /// async fn worker(id: u32) -> Result<u32, String> {
    ///     if id == 0 {
    ///         return Err("disk full".into());
    ///     }
    ///     // Work until told to stop, then clean up (asynchronously) and end.
    ///     while !STOP.load(Ordering::SeqCst) {
    ///         futures_timer::Delay::new(Duration::from_millis(1)).await;
    ///     }
    ///     futures_timer::Delay::new(Duration::from_millis(2)).await; // flush
    ///     Ok(id)
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let result = safe_gather((0..3).map(worker))
    ///     .grace(Duration::from_secs(5), || STOP.store(true, Ordering::SeqCst))
    ///     .await;
    /// assert_eq!(result, Err(GatherError::Failed { index: 0, error: "disk full".to_string() }));
    /// assert!(STOP.load(Ordering::SeqCst), "the workers were told, and finished their cleanup");
    /// # });
    /// ```
    #[track_caller]
    pub fn grace<F: FnOnce()>(
        self,
        duration: Duration,
        on_cancel: F,
    ) -> SafeGather<K, M, Graced<D, Inherit, F>>
    where
        Inherit: GraceTimer<D>,
    {
        self.assert_unpolled("grace");
        let deadline = Graced::new(self.deadline, Inherit, duration, on_cancel);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }

    /// Cancellation with grace, on `timer`: as [`grace`](SafeGather::grace),
    /// with the grace sleep from any [`Timer`].
    ///
    /// # Panics
    ///
    /// As [`grace`](SafeGather::grace).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{safe_gather_array, FuturesTimer, GatherError};
    ///
    /// # futures::executor::block_on(async {
    /// let mut told = false;
    /// let job = |ok: bool| async move { if ok { Ok(()) } else { Err("no") } };
    /// let result = safe_gather_array([job(false), job(true)])
    ///     .grace_with(FuturesTimer, Duration::from_millis(100), || told = true)
    ///     .await;
    /// assert_eq!(result, Err(GatherError::Failed { index: 0, error: "no" }));
    /// assert!(told);
    /// # });
    /// ```
    #[track_caller]
    pub fn grace_with<T: Timer, F: FnOnce()>(
        self,
        timer: T,
        duration: Duration,
        on_cancel: F,
    ) -> SafeGather<K, M, Graced<D, GraceWith<T>, F>> {
        self.assert_unpolled("grace_with");
        let deadline = Graced::new(self.deadline, GraceWith(timer), duration, on_cancel);
        SafeGather::from_parts(self.storage, deadline, self.run, self.wakers, self.mode)
    }
}

const FAIL_FAST: Rules = Rules {
    fail_fast: true,
    one_at_a_time: false,
    start: true,
};
const SETTLED: Rules = Rules {
    fail_fast: false,
    one_at_a_time: false,
    start: true,
};

impl<K: TryChildren + Bounded, D: Deadline> Future for SafeGather<K, FailFast, D> {
    type Output = Result<K::Ok, GatherError<K::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match self.as_mut().poll_engine(Keep::Values, FAIL_FAST, cx) {
            Step::Resolved(outcome) => outcome,
            Step::Pending => return Poll::Pending,
            Step::Landed { .. } => unreachable!("safe-gather: a gather hands out nothing"),
        };
        let this = self.as_mut().project();
        let mut storage = this.storage;
        let result = match outcome {
            Outcome::Complete => Ok(K::take_ok(storage.as_mut())),
            Outcome::Failed { index, .. } => {
                let error = K::take_error(storage.as_mut(), index);
                storage.as_mut().drop_all();
                Err(GatherError::Failed { index, error })
            }
            Outcome::TimedOut { completed, total } => {
                storage.as_mut().drop_all();
                Err(GatherError::TimedOut {
                    completed,
                    pending: total - completed,
                })
            }
        };
        self.mark_done();
        Poll::Ready(result)
    }
}

impl<K: Bounded, D: Deadline> SafeGather<K, Settled, D> {
    /// Settled without a deadline: every child's own outcome.
    fn poll_settled(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Settled> {
        match self.as_mut().poll_engine(Keep::Outcomes, SETTLED, cx) {
            Step::Resolved(_) => {
                let outcomes = self.as_mut().project().storage.take_settled();
                self.mark_done();
                Poll::Ready(outcomes)
            }
            Step::Pending => Poll::Pending,
            Step::Landed { .. } => unreachable!("safe-gather: a gather hands out nothing"),
        }
    }
}

impl<K: Bounded> Future for SafeGather<K, Settled, NoDeadline> {
    type Output = K::Settled;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_settled(cx)
    }
}

/// A grace period on a settled gather without a deadline never begins (such
/// a gather is never cancelled): it resolves as without one.
impl<K: Bounded, G: GraceTimer<NoDeadline>, F: FnOnce()> Future
    for SafeGather<K, Settled, Graced<NoDeadline, G, F>>
{
    type Output = K::Settled;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_settled(cx)
    }
}

impl<K: Bounded, D: Expiring> Future for SafeGather<K, Settled, D> {
    type Output = K::SettledTimed;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.as_mut().poll_engine(Keep::Timed, SETTLED, cx) {
            Step::Resolved(_) => {
                let outcomes = self.as_mut().project().storage.take_settled_timed();
                self.mark_done();
                Poll::Ready(outcomes)
            }
            Step::Pending => Poll::Pending,
            Step::Landed { .. } => unreachable!("safe-gather: a gather hands out nothing"),
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
        matches!(self.run.phase, Phase::Done | Phase::Poisoned)
    }
}

impl<K: Children, M: fmt::Debug, D: fmt::Debug> fmt::Debug for SafeGather<K, M, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = &self.run;
        let mut out = f.debug_struct("SafeGather");
        out.field("len", &self.storage.len())
            .field("running", &run.running)
            .field("finished", &run.finished)
            .field(
                "not_started",
                &self.storage.len().saturating_sub(run.started),
            )
            .field("mode", &self.mode)
            .field("deadline", &self.deadline);
        if run.limit != usize::MAX {
            out.field("limit", &run.limit);
        }
        let state = match run.phase {
            Phase::Unpolled => "unpolled",
            Phase::Running if run.cancel.is_some() => "cancelling",
            Phase::Running => "running",
            Phase::Done => "done",
            Phase::Poisoned => "poisoned",
        };
        out.field("state", &state).finish()
    }
}
