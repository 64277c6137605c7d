//! Timers: where a gather's deadline comes from.
//!
//! A gather knows nothing about clocks. [`.timeout(duration)`](crate::SafeGather::timeout)
//! asks the default [`FuturesTimer`]; [`.timeout_with(timer, duration)`](crate::SafeGather::timeout_with)
//! asks any [`Timer`] for a sleep when the gather is first polled; and
//! [`.deadline(sleep)`](crate::SafeGather::deadline) takes a sleep you made
//! yourself (`tokio::time::sleep_until`, `embassy_time::Timer::at`, …).
//!
//! Adapters, each behind the feature of the same name, each treating a
//! duration it cannot represent as "never":
//!
//! | timer | feature | clock |
//! |---|---|---|
//! | `FuturesTimer` | `futures-timer` (default) | futures-timer's helper thread; any executor |
//! | `TokioTimer` | `tokio` | tokio's timer wheel (paused time too); immune to tokio's cooperative budget |
//! | `AsyncIoTimer` | `async-io` | async-io's reactor, as smol's `Timer`; any executor |
//! | `EmbassyTimer` | `embassy-time` | embassy-time, `no_std`, on the application's driver |
//! | `ManualTimer` | `test-util` | a clock that moves only when a test calls `advance`; `no_std` with `alloc` |

use core::future::Future;
use core::time::Duration;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;
#[cfg(feature = "alloc")]
use alloc::{boxed::Box, rc::Rc};

/// A source of sleeps: the one thing a gather needs from a runtime to time out.
///
/// [`sleep`](Timer::sleep) is called once, at the gather's first poll, and the
/// sleep is dropped as soon as the gather resolves. An implementation must
/// treat a duration it cannot represent as "never" (a sleep that stays
/// pending), not panic, so that `Duration::MAX` means no deadline.
///
/// Implemented for `&T`, and with the `alloc` feature for `Box<T>`, `Rc<T>`
/// and `Arc<T>`, so one timer can serve many gathers.
///
/// # Examples
///
/// A timer over any sleep function, here futures-timer's:
///
/// ```
/// use core::time::Duration;
/// use safe_gather::{safe_gather, GatherError, Timer};
///
/// struct MyTimer;
///
/// impl Timer for MyTimer {
///     type Sleep = futures_timer::Delay;
///
///     fn sleep(&self, duration: Duration) -> Self::Sleep {
///         futures_timer::Delay::new(duration)
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let stuck = futures::future::pending::<Result<(), ()>>();
/// let result = safe_gather([stuck]).timeout_with(MyTimer, Duration::from_millis(1)).await;
/// assert_eq!(result, Err(GatherError::TimedOut { completed: 0, pending: 1 }));
/// # });
/// ```
pub trait Timer {
    /// The future [`sleep`](Timer::sleep) returns.
    type Sleep: Future<Output = ()>;

    /// A future that completes `duration` after this call (or never, if
    /// `duration` is too large for this timer).
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<T: Timer + ?Sized> Timer for &T {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

#[cfg(feature = "alloc")]
impl<T: Timer + ?Sized> Timer for Box<T> {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<T: Timer + ?Sized> Timer for Arc<T> {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

#[cfg(feature = "alloc")]
impl<T: Timer + ?Sized> Timer for Rc<T> {
    type Sleep = T::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

#[cfg(feature = "futures-timer")]
mod futures_timer;
#[cfg(feature = "futures-timer")]
pub use self::futures_timer::{FuturesSleep, FuturesTimer};

#[cfg(feature = "tokio")]
mod tokio;
#[cfg(feature = "tokio")]
pub use self::tokio::{TokioSleep, TokioTimer};

#[cfg(feature = "async-io")]
mod async_io;
#[cfg(feature = "async-io")]
pub use self::async_io::{AsyncIoSleep, AsyncIoTimer};

#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "embassy-time")]
pub use self::embassy::{EmbassySleep, EmbassyTimer};

#[cfg(feature = "test-util")]
mod manual;
#[cfg(feature = "test-util")]
pub use self::manual::{ManualSleep, ManualTimer};
