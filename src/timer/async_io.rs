//! [`AsyncIoTimer`]: deadlines on async-io's reactor, the timer smol uses.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::time::Instant;

use ::async_io::Timer as ReactorTimer;

use super::Timer;

/// A timer on [async-io]'s reactor: the one behind `smol::Timer`, driven by
/// whichever thread runs the reactor (smol's executors, `async_io::block_on`,
/// or async-io's own fallback thread). Works on any executor.
///
/// A duration that would overflow [`Instant`] never fires.
///
/// [async-io]: https://docs.rs/async-io
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::{safe_gather, AsyncIoTimer, GatherError};
///
/// # async_io::block_on(async {
/// let quick = async { Ok::<_, ()>(1) };
/// let stuck = std::future::pending::<Result<&str, ()>>();
/// let result = safe_gather!(quick, stuck)
///     .timeout_with(AsyncIoTimer, Duration::from_millis(5))
///     .await;
/// assert_eq!(result, Err(GatherError::TimedOut { completed: 1, pending: 1 }));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AsyncIoTimer;

impl Timer for AsyncIoTimer {
    type Sleep = AsyncIoSleep;

    fn sleep(&self, duration: Duration) -> AsyncIoSleep {
        // Checked here, so that "never" for a deadline past the largest
        // `Instant` is this crate's promise rather than a detail of
        // `async_io::Timer::after`.
        let timer = match Instant::now().checked_add(duration) {
            Some(deadline) => ReactorTimer::at(deadline),
            None => ReactorTimer::never(),
        };
        AsyncIoSleep { timer }
    }
}

/// The sleep of an [`AsyncIoTimer`]: completes once its duration has passed,
/// or never for a duration too large to represent.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::{AsyncIoTimer, Timer};
///
/// # async_io::block_on(async {
/// AsyncIoTimer.sleep(Duration::from_millis(1)).await;
/// # });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AsyncIoSleep {
    timer: ReactorTimer,
}

impl Future for AsyncIoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The timer resolves to the instant it fired at; a deadline only
        // needs to know that it did.
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}
