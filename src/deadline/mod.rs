//! The deadline a gather carries: none, a [`Timer`]'s sleep, or a sleep of
//! your own. These are the third type parameter of [`SafeGather`]; you name
//! them only when you write a gather's type out.
//!
//! [`SafeGather`]: crate::SafeGather

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Context;
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::timer::Timer;

pub(crate) mod sealed {
    use core::pin::Pin;
    use core::task::Context;

    /// The deadline's side of a gather poll.
    pub trait Clock {
        /// Called at the start of every gather poll: a timer deadline not yet
        /// started asks its timer for a sleep now.
        fn start(self: Pin<&mut Self>);

        /// Whether the deadline has passed, registering for a wake-up if not.
        fn poll_passed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;

        /// The gather resolved: drop the sleep.
        fn finish(self: Pin<&mut Self>);

        /// Cancellation began (a fail-fast error, or the deadline): calls
        /// the user's `on_cancel` and starts a grace period, if the gather
        /// has one; says whether a grace period now runs.
        fn begin_grace(self: Pin<&mut Self>) -> bool {
            false
        }

        /// Whether the grace period is over, registering for a wake-up if
        /// not.
        fn poll_grace_over(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> bool {
            true
        }
    }

    /// Implemented by the deadlines that are not [`Graced`](super::Graced).
    pub trait Ungraced {}

    /// Implemented by [`Inherit`](super::Inherit) and [`GraceWith`](super::GraceWith).
    pub trait GraceSource {}
}

mod grace;
pub use grace::{GraceTimer, GraceWith, Graced, Inherit};

/// A gather's deadline that can still be set: it has none yet (perhaps a
/// grace period, which takes the timer of the deadline set later). What
/// [`.timeout`](crate::SafeGather::timeout),
/// [`.timeout_with`](crate::SafeGather::timeout_with) and
/// [`.deadline`](crate::SafeGather::deadline) need. Sealed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::deadline::Unset;
/// use safe_gather::gather::{Bounded, SafeGather};
/// use safe_gather::FuturesTimer;
///
/// /// Adds a five-second deadline to any gather that has none yet.
/// fn within_five_seconds<K: Bounded, M, D: Unset>(gather: SafeGather<K, M, D>) -> SafeGather<K, M, D::WithTimer<FuturesTimer>> {
///     gather.timeout_with(FuturesTimer, Duration::from_secs(5))
/// }
///
/// # futures::executor::block_on(async {
/// let gather = within_five_seconds(safe_gather::safe_gather_array([std::future::ready(Ok::<_, ()>(1))]));
/// assert_eq!(gather.await, Ok([1]));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "this gather already has a deadline",
    label = "a gather has one deadline: `.timeout`, `.timeout_with` or `.deadline`, once",
    note = "to combine two, make the later of them the deadline, or race the gather against the other yourself"
)]
pub trait Unset: Deadline {
    /// The deadline with a [`Timer`]'s sleep as its end.
    type WithTimer<T: Timer>: Deadline;
    /// The deadline with a sleep of your own as its end.
    type WithSleep<S: Future>: Deadline;

    #[doc(hidden)]
    fn with_timer<T: Timer>(self, timer: T, duration: Duration) -> Self::WithTimer<T>;

    #[doc(hidden)]
    fn with_sleep<S: Future>(self, sleep: S) -> Self::WithSleep<S>;
}

impl Unset for NoDeadline {
    type WithTimer<T: Timer> = TimerDeadline<T>;
    type WithSleep<S: Future> = SleepDeadline<S>;

    fn with_timer<T: Timer>(self, timer: T, duration: Duration) -> TimerDeadline<T> {
        TimerDeadline::new(timer, duration)
    }

    fn with_sleep<S: Future>(self, sleep: S) -> SleepDeadline<S> {
        SleepDeadline::new(sleep)
    }
}

impl sealed::Ungraced for NoDeadline {}
impl<T: Timer> sealed::Ungraced for TimerDeadline<T> {}
impl<S> sealed::Ungraced for SleepDeadline<S> {}

/// A gather's deadline without a grace period yet: what
/// [`.grace`](crate::SafeGather::grace) and
/// [`.grace_with`](crate::SafeGather::grace_with) need. Sealed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::deadline::{GraceWith, Graced, NoGrace};
/// use safe_gather::gather::{Bounded, SafeGather};
/// use safe_gather::FuturesTimer;
///
/// /// Gives any gather one second of grace on the default timer.
/// fn with_a_second_of_grace<K: Bounded, M, D: NoGrace>(
///     gather: SafeGather<K, M, D>,
/// ) -> SafeGather<K, M, Graced<D, GraceWith<FuturesTimer>, fn()>> {
///     gather.grace_with(FuturesTimer, Duration::from_secs(1), || {})
/// }
///
/// # futures::executor::block_on(async {
/// let gather = with_a_second_of_grace(safe_gather::safe_gather_array([std::future::ready(Ok::<_, ()>(1))]));
/// assert_eq!(gather.await, Ok([1]));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "this gather already has a grace period",
    label = "`.grace` or `.grace_with`, once"
)]
pub trait NoGrace: Deadline + sealed::Ungraced {}

impl<D: Deadline + sealed::Ungraced> NoGrace for D {}

/// A gather's deadline: [`NoDeadline`], [`TimerDeadline`] or [`SleepDeadline`].
/// Sealed.
///
/// # Examples
///
/// A helper that accepts a gather with or without a deadline:
///
/// ```
/// use safe_gather::deadline::Deadline;
/// use safe_gather::gather::{FailFast, Iter, SafeGather};
/// use safe_gather::GatherError;
///
/// async fn count<F, D: Deadline>(
///     gather: SafeGather<Iter<std::vec::IntoIter<F>>, FailFast, D>,
/// ) -> Result<usize, GatherError<F::Error>>
/// where
///     F: futures_core::TryFuture,
/// {
///     gather.await.map(|values| values.len())
/// }
///
/// # futures::executor::block_on(async {
/// let jobs = || vec![std::future::ready(Ok::<_, ()>(1)), std::future::ready(Ok(2))];
/// assert_eq!(count(safe_gather::safe_gather(jobs())).await, Ok(2));
/// assert_eq!(count(safe_gather::safe_gather(jobs()).timeout(std::time::Duration::from_secs(1))).await, Ok(2));
/// # });
/// ```
pub trait Deadline: sealed::Clock {}

/// A deadline that can pass: [`TimerDeadline`] and [`SleepDeadline`]. A
/// settled gather with one reports each child as `Result<T, SlotError<E>>`.
/// Sealed.
///
/// # Examples
///
/// ```
/// use safe_gather::deadline::Expiring;
/// use safe_gather::gather::{Bounded, SafeGather, Settled};
///
/// /// Shuts services down, giving up on those still running at the deadline.
/// async fn shut_down<K: Bounded, D: Expiring>(gather: SafeGather<K, Settled, D>) -> K::SettledTimed {
///     gather.await
/// }
///
/// # futures::executor::block_on(async {
/// let stuck = futures::future::pending::<Result<(), ()>>();
/// let gather = safe_gather::safe_gather_array([stuck]).settled().timeout(std::time::Duration::from_millis(1));
/// assert!(shut_down(gather).await[0].as_ref().unwrap_err().is_timeout());
/// # });
/// ```
pub trait Expiring: Deadline {}

/// No deadline that can pass: [`NoDeadline`], with or without a grace period
/// (which such a gather only begins on a failure). A fail-fast gather with
/// one can only fail with [`GatherError::Failed`](crate::GatherError::Failed),
/// which [`.keep_error_type()`](crate::SafeGather::keep_error_type) relies
/// on. Sealed.
///
/// # Examples
///
/// ```
/// use safe_gather::deadline::Untimed;
/// use safe_gather::gather::{FailFast, SafeGather, TryChildren, Bounded};
///
/// async fn first_error<K: TryChildren + Bounded, D: Untimed>(
///     gather: SafeGather<K, FailFast, D>,
/// ) -> Result<K::Ok, K::Error> {
///     gather.keep_error_type().await
/// }
///
/// # futures::executor::block_on(async {
/// let gather = safe_gather::safe_gather_array([std::future::ready(Err::<u8, _>("no"))]);
/// assert_eq!(first_error(gather).await, Err("no"));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "this gather has a deadline, so it can also time out",
    label = "`.keep_error_type()` is for gathers without a deadline",
    note = "map `GatherError::TimedOut` to your error type with `.await.map_err(..)` instead"
)]
pub trait Untimed: Deadline {}

impl Untimed for NoDeadline {}
impl<G: GraceTimer<NoDeadline>, F: FnOnce()> Untimed for Graced<NoDeadline, G, F> {}

/// No deadline: the gather waits as long as its children take. The default.
///
/// # Examples
///
/// ```
/// use safe_gather::deadline::NoDeadline;
/// use safe_gather::gather::{FailFast, SafeGather};
///
/// let gather: SafeGather<[std::future::Ready<Result<(), ()>>; 1], FailFast, NoDeadline> =
///     safe_gather::safe_gather_array([std::future::ready(Ok(()))]);
/// # futures::executor::block_on(async { assert_eq!(gather.await, Ok([()])); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoDeadline;

impl sealed::Clock for NoDeadline {
    fn start(self: Pin<&mut Self>) {}

    fn poll_passed(self: Pin<&mut Self>, _: &mut Context<'_>) -> bool {
        false
    }

    fn finish(self: Pin<&mut Self>) {}
}

impl Deadline for NoDeadline {}

pin_project! {
    /// A deadline `duration` after the gather's first poll, from a [`Timer`];
    /// made by [`.timeout`](crate::SafeGather::timeout) and
    /// [`.timeout_with`](crate::SafeGather::timeout_with).
    ///
        /// The timer is asked for its sleep at the first poll, and the sleep is
    /// dropped as soon as the gather resolves. `Duration::ZERO` needs no
    /// sleep: the children are polled once, then the gather times out unless
    /// it is done. It is `Send` when the timer and its sleep are, and
    /// `Unpin` when the sleep is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::deadline::TimerDeadline;
    /// use safe_gather::gather::{FailFast, Iter, SafeGather};
    /// use safe_gather::{FuturesTimer, GatherError};
    ///
    /// type Pending = futures::future::Pending<Result<u8, ()>>;
    /// type Fetches = SafeGather<Iter<std::vec::IntoIter<Pending>>, FailFast, TimerDeadline<FuturesTimer>>;
    ///
    /// let fetches: Fetches = safe_gather::safe_gather(vec![futures::future::pending()]).timeout(Duration::ZERO);
    /// # futures::executor::block_on(async {
    /// assert_eq!(fetches.await, Err(GatherError::TimedOut { completed: 0, pending: 1 }));
    /// # });
    /// ```
    pub struct TimerDeadline<T: Timer> {
        // Kept after the sleep is made: a grace period's sleep comes from it.
        timer: T,
        #[pin]
        state: TimerState<T>,
    }
}

pin_project! {
    #[project = TimerStateProj]
    #[project_replace = TimerStateOwned]
    enum TimerState<T: Timer> {
        Unstarted { duration: Duration },
        Sleeping { #[pin] sleep: T::Sleep },
        Passed,
        Finished,
    }
}

impl<T: Timer> TimerDeadline<T> {
    pub(crate) fn new(timer: T, duration: Duration) -> Self {
        TimerDeadline {
            timer,
            state: TimerState::Unstarted { duration },
        }
    }

    /// The gather's timer.
    pub(crate) fn timer(&self) -> &T {
        &self.timer
    }
}

impl<T: Timer> fmt::Debug for TimerDeadline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            TimerState::Unstarted { duration, .. } => {
                return f
                    .debug_struct("TimerDeadline")
                    .field("duration", duration)
                    .finish()
            }
            TimerState::Sleeping { .. } => "sleeping",
            TimerState::Passed => "passed",
            TimerState::Finished => "finished",
        };
        f.debug_struct("TimerDeadline")
            .field("state", &state)
            .finish()
    }
}

impl<T: Timer> sealed::Clock for TimerDeadline<T> {
    fn start(self: Pin<&mut Self>) {
        let this = self.project();
        let mut state = this.state;
        if !matches!(*state, TimerState::Unstarted { .. }) {
            return;
        }
        let timer = &*this.timer;
        // Take the duration out first (`Finished` stands in meanwhile), so
        // that a panicking `Timer::sleep` leaves no half-made state behind.
        if let TimerStateOwned::Unstarted { duration } =
            state.as_mut().project_replace(TimerState::Finished)
        {
            state.set(if duration.is_zero() {
                TimerState::Passed
            } else {
                TimerState::Sleeping {
                    sleep: timer.sleep(duration),
                }
            });
        }
    }

    fn poll_passed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let mut state = self.project().state;
        match state.as_mut().project() {
            TimerStateProj::Sleeping { sleep } => {
                if sleep.poll(cx).is_pending() {
                    return false;
                }
            }
            TimerStateProj::Passed => return true,
            TimerStateProj::Unstarted { .. } | TimerStateProj::Finished => return false,
        }
        state.set(TimerState::Passed);
        true
    }

    fn finish(self: Pin<&mut Self>) {
        self.project().state.set(TimerState::Finished);
    }
}

impl<T: Timer> Deadline for TimerDeadline<T> {}
impl<T: Timer> Expiring for TimerDeadline<T> {}

pin_project! {
        /// A deadline that passes when a sleep of your own completes (its output,
    /// if any, is ignored); made by [`.deadline(sleep)`](crate::SafeGather::deadline).
    /// The sleep is dropped as soon as the gather resolves. It is `Send` and
    /// `Unpin` when the sleep is.
    ///
    /// # Examples
    ///
    /// ```
    /// use safe_gather::deadline::SleepDeadline;
    /// use safe_gather::gather::{FailFast, SafeGather};
    ///
    /// // Any future works as the deadline; here one that is already over.
    /// let gather: SafeGather<[futures::future::Pending<Result<(), ()>>; 1], FailFast, SleepDeadline<std::future::Ready<()>>> =
    ///     safe_gather::safe_gather_array([futures::future::pending()]).deadline(std::future::ready(()));
    /// # futures::executor::block_on(async { assert!(gather.await.unwrap_err().is_timeout()); });
    /// ```
    pub struct SleepDeadline<S> {
        #[pin]
        state: SleepState<S>,
    }
}

pin_project! {
    #[project = SleepStateProj]
    enum SleepState<S> {
        Sleeping { #[pin] sleep: S },
        Passed,
        Finished,
    }
}

impl<S> SleepDeadline<S> {
    pub(crate) fn new(sleep: S) -> Self {
        SleepDeadline {
            state: SleepState::Sleeping { sleep },
        }
    }
}

impl<S> fmt::Debug for SleepDeadline<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SleepState::Sleeping { .. } => "sleeping",
            SleepState::Passed => "passed",
            SleepState::Finished => "finished",
        };
        f.debug_struct("SleepDeadline")
            .field("state", &state)
            .finish()
    }
}

impl<S: Future> sealed::Clock for SleepDeadline<S> {
    fn start(self: Pin<&mut Self>) {}

    fn poll_passed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let mut state = self.project().state;
        match state.as_mut().project() {
            SleepStateProj::Sleeping { sleep } => {
                if sleep.poll(cx).is_pending() {
                    return false;
                }
            }
            SleepStateProj::Passed => return true,
            SleepStateProj::Finished => return false,
        }
        state.set(SleepState::Passed);
        true
    }

    fn finish(self: Pin<&mut Self>) {
        self.project().state.set(SleepState::Finished);
    }
}

impl<S: Future> Deadline for SleepDeadline<S> {}
impl<S: Future> Expiring for SleepDeadline<S> {}
