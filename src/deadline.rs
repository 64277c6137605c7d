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
    }
}

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
    /// it is done.
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
        #[pin]
        state: TimerState<T>,
    }
}

pin_project! {
    #[project = TimerStateProj]
    #[project_replace = TimerStateOwned]
    enum TimerState<T: Timer> {
        Unstarted { timer: T, duration: Duration },
        Sleeping { #[pin] sleep: T::Sleep },
        Passed,
        Finished,
    }
}

impl<T: Timer> TimerDeadline<T> {
    pub(crate) fn new(timer: T, duration: Duration) -> Self {
        TimerDeadline {
            state: TimerState::Unstarted { timer, duration },
        }
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
        let mut state = self.project().state;
        if !matches!(*state, TimerState::Unstarted { .. }) {
            return;
        }
        // Take the timer out first (`Finished` stands in meanwhile), so that a
        // panicking `Timer::sleep` leaves no half-made state behind.
        if let TimerStateOwned::Unstarted { timer, duration } =
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
    /// The sleep is dropped as soon as the gather resolves.
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
