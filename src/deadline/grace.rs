//! A grace period: when a gather is cancelled (its first error in fail-fast
//! mode, or its deadline), it calls the user's `on_cancel`, starts no new
//! child, and keeps polling the children still running, as they are woken,
//! until each has finished or the grace period has passed; then it drops the
//! rest. So children can run their own async cleanup (flush, say goodbye,
//! release a lease) once told to stop, which a `Drop` cannot.
//!
//! The grace period rides on the deadline: [`Graced`] wraps the gather's
//! deadline (or its lack of one) and adds the grace timer, the duration and
//! `on_cancel`. The grace sleep comes from the gather's own timer
//! ([`Inherit`], resolved against whatever deadline the gather has when it
//! runs, so `.grace(..)` and `.timeout_with(..)` chain in any order; the
//! default timer where it has none) or from a timer given with
//! [`.grace_with`](crate::SafeGather::grace_with) ([`GraceWith`]).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::Context;
use core::time::Duration;

use pin_project_lite::pin_project;

use super::{sealed, Deadline, Expiring, NoDeadline, SleepDeadline, TimerDeadline, Unset};
use crate::timer::Timer;

/// The grace sleep comes from the gather's own timer: the one of its
/// [`.timeout_with`](crate::SafeGather::timeout_with) (or
/// [`.timeout`](crate::SafeGather::timeout)), or the default
/// [`FuturesTimer`](crate::FuturesTimer) for a gather without a timer.
/// Made by [`.grace`](crate::SafeGather::grace).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::deadline::{Graced, Inherit, TimerDeadline};
/// use safe_gather::gather::{FailFast, SafeGather};
/// use safe_gather::FuturesTimer;
///
/// type Shutdown = SafeGather<[std::future::Ready<Result<(), ()>>; 1], FailFast, Graced<TimerDeadline<FuturesTimer>, Inherit, fn()>>;
///
/// let shutdown: Shutdown = safe_gather::safe_gather_array([std::future::ready(Ok(()))])
///     .timeout(Duration::from_secs(5))
///     .grace(Duration::from_millis(200), || {});
/// # futures::executor::block_on(async { assert_eq!(shutdown.await, Ok([()])); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Inherit;

/// The grace sleep comes from this timer. Made by
/// [`.grace_with`](crate::SafeGather::grace_with).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::deadline::{GraceWith, Graced, NoDeadline};
/// use safe_gather::gather::{FailFast, SafeGather};
/// use safe_gather::FuturesTimer;
///
/// type Workers = SafeGather<[std::future::Ready<Result<(), ()>>; 1], FailFast, Graced<NoDeadline, GraceWith<FuturesTimer>, fn()>>;
///
/// let workers: Workers = safe_gather::safe_gather_array([std::future::ready(Ok(()))])
///     .grace_with(FuturesTimer, Duration::from_millis(200), || {});
/// # futures::executor::block_on(async { assert_eq!(workers.await, Ok([()])); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GraceWith<T>(pub(crate) T);

/// Where a grace period's sleep comes from, for a gather with deadline `D`:
/// [`Inherit`] or [`GraceWith`]. Sealed.
///
/// # Examples
///
/// ```
/// use safe_gather::deadline::{GraceTimer, Inherit, TimerDeadline};
/// use safe_gather::FuturesTimer;
///
/// fn has_a_grace_timer<G: GraceTimer<D>, D>() {}
/// has_a_grace_timer::<Inherit, TimerDeadline<FuturesTimer>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "this gather has no timer for its grace period",
    label = "`.grace(..)` takes the gather's own timer, and this gather has none",
    note = "use `.grace_with(timer, duration, on_cancel)`, or give the gather a `.timeout_with(timer, ..)`; the default timer needs the `futures-timer` feature"
)]
pub trait GraceTimer<D>: sealed::GraceSource {
    /// The grace period's sleep.
    type Sleep: Future;

    #[doc(hidden)]
    fn sleep(&self, deadline: &D, duration: Duration) -> Self::Sleep;
}

impl sealed::GraceSource for Inherit {}
impl<T> sealed::GraceSource for GraceWith<T> {}

impl<T: Timer> GraceTimer<TimerDeadline<T>> for Inherit {
    type Sleep = T::Sleep;

    fn sleep(&self, deadline: &TimerDeadline<T>, duration: Duration) -> T::Sleep {
        deadline.timer().sleep(duration)
    }
}

#[cfg(feature = "futures-timer")]
impl GraceTimer<NoDeadline> for Inherit {
    type Sleep = crate::timer::FuturesSleep;

    fn sleep(&self, _: &NoDeadline, duration: Duration) -> Self::Sleep {
        crate::FuturesTimer.sleep(duration)
    }
}

#[cfg(feature = "futures-timer")]
impl<S> GraceTimer<SleepDeadline<S>> for Inherit {
    type Sleep = crate::timer::FuturesSleep;

    fn sleep(&self, _: &SleepDeadline<S>, duration: Duration) -> Self::Sleep {
        crate::FuturesTimer.sleep(duration)
    }
}

impl<D, T: Timer> GraceTimer<D> for GraceWith<T> {
    type Sleep = T::Sleep;

    fn sleep(&self, _: &D, duration: Duration) -> T::Sleep {
        self.0.sleep(duration)
    }
}

pin_project! {
    /// A gather's deadline `D` with a grace period: made by
    /// [`.grace`](crate::SafeGather::grace) and
    /// [`.grace_with`](crate::SafeGather::grace_with), which say what it
    /// does. It is `Send` when `D`, the timer, its sleep and `on_cancel` are,
    /// and `Unpin` when `D` and the sleep are (the pinned-fields bound in its
    /// rendered `Unpin` impl says the same).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::deadline::{Graced, Inherit, NoDeadline};
    /// use safe_gather::gather::{FailFast, SafeGather};
    ///
    /// let gather: SafeGather<[std::future::Ready<Result<u8, ()>>; 1], FailFast, Graced<NoDeadline, Inherit, fn()>> =
    ///     safe_gather::safe_gather_array([std::future::ready(Ok(1))]).grace(Duration::from_millis(50), || {});
    /// # futures::executor::block_on(async { assert_eq!(gather.await, Ok([1])); });
    /// ```
    pub struct Graced<D, G, F>
    where
        G: GraceTimer<D>,
    {
        #[pin]
        deadline: D,
        #[pin]
        sleep: GraceSleep<G::Sleep>,
        timer: G,
        duration: Duration,
        on_cancel: Option<F>,
    }
}

pin_project! {
    #[project = GraceSleepProj]
    enum GraceSleep<S> {
        Idle,
        Sleeping { #[pin] sleep: S },
        Over,
    }
}

impl<D, G: GraceTimer<D>, F> Graced<D, G, F> {
    pub(crate) fn new(deadline: D, timer: G, duration: Duration, on_cancel: F) -> Self {
        Graced {
            deadline,
            sleep: GraceSleep::Idle,
            timer,
            duration,
            on_cancel: Some(on_cancel),
        }
    }

    /// The same grace around another deadline.
    fn around<E>(self, deadline: E) -> Graced<E, G, F>
    where
        G: GraceTimer<E>,
    {
        Graced {
            deadline,
            sleep: GraceSleep::Idle,
            timer: self.timer,
            duration: self.duration,
            on_cancel: self.on_cancel,
        }
    }
}

impl<D: fmt::Debug, G: GraceTimer<D>, F> fmt::Debug for Graced<D, G, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.sleep, self.on_cancel.is_some()) {
            (GraceSleep::Idle, true) => "not cancelled",
            (GraceSleep::Idle, false) | (GraceSleep::Over, _) => "over",
            (GraceSleep::Sleeping { .. }, _) => "in its grace period",
        };
        f.debug_struct("Graced")
            .field("deadline", &self.deadline)
            .field("grace", &self.duration)
            .field("state", &state)
            .finish()
    }
}

impl<D, G, F> sealed::Clock for Graced<D, G, F>
where
    D: Deadline,
    G: GraceTimer<D>,
    F: FnOnce(),
{
    fn start(self: Pin<&mut Self>) {
        self.project().deadline.start();
    }

    fn poll_passed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.project().deadline.poll_passed(cx)
    }

    fn finish(self: Pin<&mut Self>) {
        let mut this = self.project();
        this.deadline.finish();
        this.sleep.set(GraceSleep::Over);
    }

    fn begin_grace(self: Pin<&mut Self>) -> bool {
        let mut this = self.project();
        let Some(on_cancel) = this.on_cancel.take() else {
            return false;
        };
        // The user's signal first (a token cancelled, a channel closed), then
        // the sleep, so that both happen in the poll that saw the cause.
        on_cancel();
        if this.duration.is_zero() {
            return false;
        }
        let sleep = this.timer.sleep(&this.deadline, *this.duration);
        this.sleep.set(GraceSleep::Sleeping { sleep });
        true
    }

    fn poll_grace_over(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let mut sleep = self.project().sleep;
        match sleep.as_mut().project() {
            GraceSleepProj::Sleeping { sleep: inner } => {
                if inner.poll(cx).is_pending() {
                    return false;
                }
            }
            GraceSleepProj::Idle | GraceSleepProj::Over => return true,
        }
        sleep.set(GraceSleep::Over);
        true
    }
}

impl<D: Deadline, G: GraceTimer<D>, F: FnOnce()> Deadline for Graced<D, G, F> {}
impl<D: Expiring, G: GraceTimer<D>, F: FnOnce()> Expiring for Graced<D, G, F> {}

#[cfg(feature = "futures-timer")]
impl<F: FnOnce()> Unset for Graced<NoDeadline, Inherit, F> {
    type WithTimer<T: Timer> = Graced<TimerDeadline<T>, Inherit, F>;
    type WithSleep<S: Future> = Graced<SleepDeadline<S>, Inherit, F>;

    fn with_timer<T: Timer>(self, timer: T, duration: Duration) -> Self::WithTimer<T> {
        self.around(TimerDeadline::new(timer, duration))
    }

    fn with_sleep<S: Future>(self, sleep: S) -> Self::WithSleep<S> {
        self.around(SleepDeadline::new(sleep))
    }
}

impl<U: Timer, F: FnOnce()> Unset for Graced<NoDeadline, GraceWith<U>, F> {
    type WithTimer<T: Timer> = Graced<TimerDeadline<T>, GraceWith<U>, F>;
    type WithSleep<S: Future> = Graced<SleepDeadline<S>, GraceWith<U>, F>;

    fn with_timer<T: Timer>(self, timer: T, duration: Duration) -> Self::WithTimer<T> {
        self.around(TimerDeadline::new(timer, duration))
    }

    fn with_sleep<S: Future>(self, sleep: S) -> Self::WithSleep<S> {
        self.around(SleepDeadline::new(sleep))
    }
}
