//! [`FuturesTimer`]: the default timer, from the futures-timer crate.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::time::Instant;

use ::futures_timer::Delay;

use super::Timer;

/// The default timer, from the [futures-timer] crate: runtime-agnostic,
/// backed by one helper thread shared by the whole process. Used by
/// [`.timeout(duration)`](crate::SafeGather::timeout).
///
/// A duration that would overflow [`Instant`] never fires.
///
/// [futures-timer]: https://docs.rs/futures-timer
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use safe_gather::{safe_gather, FuturesTimer, GatherError};
///
/// # futures::executor::block_on(async {
/// let stuck = futures::future::pending::<Result<(), ()>>();
/// let result = safe_gather([stuck])
///     .timeout_with(FuturesTimer, Duration::from_millis(1))
///     .await;
/// assert!(result.unwrap_err().is_timeout());
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FuturesTimer;

impl Timer for FuturesTimer {
    type Sleep = FuturesSleep;

    fn sleep(&self, duration: Duration) -> FuturesSleep {
        let representable = Instant::now().checked_add(duration).is_some();
        FuturesSleep {
            delay: representable.then(|| Delay::new(duration)),
        }
    }
}

/// The sleep of a [`FuturesTimer`]: completes once its duration has
/// passed, or never for a duration too large to represent.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use safe_gather::{FuturesTimer, Timer};
///
/// # futures::executor::block_on(async {
/// FuturesTimer.sleep(Duration::from_millis(1)).await;
/// # });
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct FuturesSleep {
    /// `None`: never fires.
    delay: Option<Delay>,
}

impl Future for FuturesSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.delay {
            Some(delay) => Pin::new(delay).poll(cx),
            None => Poll::Pending,
        }
    }
}
