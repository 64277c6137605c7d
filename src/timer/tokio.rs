//! [`TokioTimer`]: deadlines on tokio's timer wheel, immune to tokio's
//! cooperative budget.
//!
//! Tokio gives each task a budget of operations per poll. Every operation on
//! a tokio resource (a channel receive, a socket read, a sleep) spends one
//! unit, and once the budget is spent each of them reports `Pending` until
//! the task yields. A gather polls its children before its deadline, so
//! children busy on always-ready resources can spend the whole budget in
//! every poll, and a plain `tokio::time::Sleep` polled after them would stay
//! `Pending` forever, however late it is. [`TokioSleep`] therefore polls its
//! sleep outside the budget, as `tokio::time::timeout` does for its own
//! deadline when its inner future spent the budget.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use ::tokio::time::{Instant, Sleep};
use pin_project_lite::pin_project;

// `tokio::task::coop::Unconstrained` is the current name, but it appeared
// only in tokio 1.44 and the dependency accepts 1.40. The old path is the
// same type, deprecated but kept for all of tokio 1.x.
#[allow(deprecated)]
use ::tokio::task::{unconstrained, Unconstrained};

use super::Timer;

/// Tokio rounds every deadline up to its next millisecond by adding to the
/// [`Instant`] unchecked, so a deadline this close to the largest `Instant`
/// would panic inside tokio. A sleep that long never fires in practice; it is
/// treated as "never" like one past the largest `Instant`.
const TOKIO_ROUNDING_HEADROOM: Duration = Duration::from_millis(1);

/// A timer on tokio's timer wheel, which keeps firing when the gather's
/// children spend tokio's cooperative budget.
///
/// Tokio's budget makes every tokio resource, sleeps included, report
/// `Pending` once a task has done enough work in one poll. Children that
/// spend it in every poll (say, draining a channel that is never empty)
/// would keep a plain `tokio::time::Sleep` from ever completing; the sleep
/// of this timer is polled outside the budget, so the deadline still passes.
///
/// The sleep is made at the gather's first poll, which must therefore run
/// inside a tokio runtime with time enabled (`enable_time`, `enable_all`, or
/// `#[tokio::main]`/`#[tokio::test]`); paused time
/// ([`tokio::time::pause`](https://docs.rs/tokio/1/tokio/time/fn.pause.html))
/// is honoured. A duration whose deadline tokio's [`Instant`] cannot
/// represent never fires.
///
/// # Panics
///
/// The gather's first poll panics if it runs outside a tokio runtime, or in
/// one whose time driver is disabled (tokio's own panic).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::{safe_gather, GatherError, TokioTimer};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let quick = async { Ok::<_, ()>(1) };
/// let stuck = std::future::pending::<Result<&str, ()>>();
/// let result = safe_gather!(quick, stuck)
///     .timeout_with(TokioTimer, Duration::from_millis(5))
///     .await;
/// assert_eq!(result, Err(GatherError::TimedOut { completed: 1, pending: 1 }));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    type Sleep = TokioSleep;

    fn sleep(&self, duration: Duration) -> TokioSleep {
        let deadline = Instant::now()
            .checked_add(duration)
            .filter(|deadline| deadline.checked_add(TOKIO_ROUNDING_HEADROOM).is_some());
        let state = match deadline {
            Some(deadline) => SleepState::Ticking {
                sleep: unconstrained(::tokio::time::sleep_until(deadline)),
            },
            None => SleepState::Never,
        };
        TokioSleep { state }
    }
}

pin_project! {
    /// The sleep of a [`TokioTimer`]: completes once its duration has passed
    /// (on tokio's clock, so paused time counts), or never for a duration too
    /// large to represent. Polled outside tokio's cooperative budget.
    ///
    /// Holds a `tokio::time::Sleep` inline, so it is not `Unpin`: pin it to
    /// poll it by hand.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{TokioTimer, Timer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// TokioTimer.sleep(Duration::from_millis(1)).await;
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct TokioSleep {
        #[pin]
        state: SleepState,
    }
}

pin_project! {
    #[project = SleepStateProj]
    enum SleepState {
        Ticking { #[pin] sleep: Unconstrained<Sleep> },
        Never,
    }
}

// By hand: tokio's `Unconstrained` is not `Debug`.
impl fmt::Debug for TokioSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SleepState::Ticking { .. } => "ticking",
            SleepState::Never => "never",
        };
        f.debug_struct("TokioSleep").field("state", &state).finish()
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().state.project() {
            SleepStateProj::Ticking { sleep } => sleep.poll(cx),
            SleepStateProj::Never => Poll::Pending,
        }
    }
}
