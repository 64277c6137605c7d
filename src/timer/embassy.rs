//! [`EmbassyTimer`]: deadlines on embassy-time, for `no_std` and embedded.
//!
//! This crate only names embassy-time; it never picks a tick rate, a time
//! driver or a timer queue. Those are the application's choice, made through
//! embassy-time's features or a HAL, and cargo unifies them into the one
//! embassy-time every crate of the application shares.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use ::embassy_time::{Duration as TickDuration, Instant, TICK_HZ};

use super::Timer;

/// A timer on [embassy-time]: works in `no_std`, on whatever time driver and
/// timer queue the application links in (a HAL's, or embassy-time's `std`
/// driver on a host).
///
/// The duration is converted to embassy ticks rounding up, so the deadline
/// never passes early. A duration that does not fit embassy's 64-bit tick
/// count, or whose deadline would overflow embassy's [`Instant`], never
/// fires.
///
/// [embassy-time]: https://docs.rs/embassy-time
///
/// # Children on embassy's timer, with `alloc`
///
/// With the `alloc` feature each child is polled with a waker of its own,
/// while embassy's default timer queue (the one integrated into
/// embassy-executor) accepts only the executor's own wakers: a child that
/// awaits an `embassy_time::Timer` inside such a gather panics ("Found waker
/// not created by the Embassy executor"). Either enable one of
/// embassy-time's `generic-queue-N` features in the application, or use
/// safe-gather without `alloc`, where the children of arrays and tuples share
/// the task's waker. The gather's own deadline is always polled with the
/// task's waker, so this timer works in both.
///
/// # Examples
///
/// Calling it needs a time driver, which the application provides; this
/// example is compiled but not run.
///
/// ```no_run
/// use core::time::Duration;
/// use safe_gather::{safe_gather_array, EmbassyTimer, GatherError};
///
/// async fn read_sensor(id: u8) -> Result<u16, ()> {
///     embassy_time::Timer::after_millis(u64::from(id)).await;
///     Ok(u16::from(id) * 100)
/// }
///
/// async fn read_all() -> Result<[u16; 3], GatherError<()>> {
///     safe_gather_array([read_sensor(1), read_sensor(2), read_sensor(3)])
///         .timeout_with(EmbassyTimer, Duration::from_millis(50))
///         .await
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EmbassyTimer;

impl Timer for EmbassyTimer {
    type Sleep = EmbassySleep;

    fn sleep(&self, duration: Duration) -> EmbassySleep {
        let deadline = duration_in_ticks(duration)
            .and_then(|ticks| Instant::now().checked_add(TickDuration::from_ticks(ticks)));
        EmbassySleep {
            timer: deadline.map(::embassy_time::Timer::at),
        }
    }
}

/// `duration` in ticks of embassy's clock, rounded up; `None` if that does
/// not fit in embassy's `u64` tick count.
///
/// Computed in `u128` nanoseconds rather than with embassy's own conversion,
/// which truncates to whole microseconds (a deadline could pass early) and
/// multiplies in `u64` unchecked.
fn duration_in_ticks(duration: Duration) -> Option<u64> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let scaled = duration.as_nanos().checked_mul(u128::from(TICK_HZ))?;
    u64::try_from(scaled.div_ceil(NANOS_PER_SEC)).ok()
}

/// The sleep of an [`EmbassyTimer`]: completes once its duration has passed
/// on embassy's clock, or never for a duration too large to represent (such
/// a sleep never registers with the timer queue).
///
/// # Examples
///
/// Needs a time driver, so compiled but not run here:
///
/// ```no_run
/// use core::time::Duration;
/// use safe_gather::{EmbassyTimer, Timer};
///
/// async fn pause() {
///     EmbassyTimer.sleep(Duration::from_millis(10)).await;
/// }
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct EmbassySleep {
    /// `None`: never fires.
    timer: Option<::embassy_time::Timer>,
}

impl Future for EmbassySleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.timer {
            Some(timer) => Pin::new(timer).poll(cx),
            None => Poll::Pending,
        }
    }
}
