//! `EmbassyTimer` on a real embassy executor (the std platform) with
//! embassy-time's std driver: arrays and tuples, fail-fast and settled, a
//! deadline that fires and one that does not, and durations too large for
//! embassy's 64-bit tick count.
//!
//! Outcomes only: a deadline that must fire is short and no child could
//! finish first; a child that must succeed finishes within milliseconds
//! under a deadline of a minute.

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use embassy_executor::Executor;
use embassy_time::{with_timeout, Timer as EmbassyClock, TICK_HZ};
#[cfg(feature = "alloc")]
use safe_gather::safe_gather;
use safe_gather::{safe_gather_array, EmbassyTimer, GatherError, SlotError};

const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(60);

/// How long a test waits for a gather that must never time out, on
/// embassy's clock, before concluding that it did not.
const OBSERVATION: embassy_time::Duration = embassy_time::Duration::from_millis(20);

/// How long a test waits for a `SHORT` deadline to fire before failing, so
/// that a deadline that never fires fails the test instead of hanging it.
const GIVE_UP: embassy_time::Duration = embassy_time::Duration::from_secs(10);

/// The outcome of `gather`, whose `SHORT` deadline must fire within `GIVE_UP`.
async fn bounded<F: Future>(gather: F) -> F::Output {
    with_timeout(GIVE_UP, gather)
        .await
        .expect("a 10 ms deadline fired within 10 s")
}

type Scenario = Pin<Box<dyn Future<Output = ()>>>;

/// Runs one test's scenario as an embassy task. Enough slots for every test
/// of this file running at once, each on its own thread and executor.
#[embassy_executor::task(pool_size = 16)]
async fn drive(scenario: Scenario, finished: &'static AtomicBool) {
    scenario.await;
    finished.store(true, Ordering::SeqCst);
}

/// Runs `scenario` to completion on a new embassy executor on this thread.
/// A failed assertion inside it unwinds out of the executor and fails the
/// test.
fn run_on_embassy(scenario: impl Future<Output = ()> + 'static) {
    // Embassy executors and their flags live forever by design; one leak of
    // each per test is the price.
    let finished: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    executor.run_until(
        |spawner| spawner.spawn(drive(Box::pin(scenario), finished).expect("a free task slot")),
        || finished.load(Ordering::SeqCst),
    );
}

/// A child that finishes after a short sleep on embassy's own timer.
async fn measure(sensor: u8) -> Result<u16, &'static str> {
    EmbassyClock::after_millis(u64::from(sensor)).await;
    Ok(u16::from(sensor) * 100)
}

/// A child that never finishes.
async fn unplugged() -> Result<u16, &'static str> {
    pending().await
}

#[test]
fn array_gather_finishes_before_a_long_deadline() {
    run_on_embassy(async {
        let readings = safe_gather_array([measure(1), measure(3), measure(2)])
            .timeout_with(EmbassyTimer, LONG)
            .await;
        assert_eq!(readings, Ok([100, 300, 200]));
    });
}

#[test]
fn array_gather_times_out_and_drops_every_child() {
    run_on_embassy(async {
        let readings = bounded(
            safe_gather_array([unplugged(), unplugged()]).timeout_with(EmbassyTimer, SHORT),
        )
        .await;
        assert_eq!(
            readings,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 2
            })
        );
    });
}

#[test]
fn tuple_gather_finishes_before_a_long_deadline() {
    run_on_embassy(async {
        let status = async { Ok::<_, &str>("calibrated") };
        let readings = safe_gather::safe_gather!(measure(2), status)
            .timeout_with(EmbassyTimer, LONG)
            .await;
        assert_eq!(readings, Ok((200, "calibrated")));
    });
}

#[test]
fn tuple_gather_times_out_with_one_child_done() {
    run_on_embassy(async {
        let readings = bounded(
            safe_gather::safe_gather!(measure(1), unplugged()).timeout_with(EmbassyTimer, SHORT),
        )
        .await;
        assert_eq!(
            readings,
            Err(GatherError::TimedOut {
                completed: 1,
                pending: 1
            })
        );
    });
}

#[test]
fn settled_tuple_keeps_the_finished_child_at_the_deadline() {
    run_on_embassy(async {
        let outcomes = bounded(
            safe_gather::safe_gather!(measure(1), unplugged())
                .settled()
                .timeout_with(EmbassyTimer, SHORT),
        )
        .await;
        assert_eq!(outcomes, (Ok(100), Err(SlotError::TimedOut)));
    });
}

#[test]
fn duration_max_lets_children_finish_and_never_fires() {
    run_on_embassy(async {
        let readings = safe_gather_array([measure(1)])
            .timeout_with(EmbassyTimer, Duration::MAX)
            .await;
        assert_eq!(readings, Ok([100]));

        let waiting = safe_gather_array([unplugged()]).timeout_with(EmbassyTimer, Duration::MAX);
        assert!(with_timeout(OBSERVATION, waiting).await.is_err());
    });
}

#[test]
fn durations_at_the_limit_of_embassy_ticks_never_fire_and_never_panic() {
    let most_ticks = Duration::from_secs(u64::MAX / TICK_HZ);
    // Half the tick range is a real deadline, registered with the driver
    // (some 290,000 years away at the std driver's 1 MHz); the whole range
    // overflows embassy's `Instant` once the clock has run a moment; one
    // second more does not fit in the tick count at all.
    let durations = [
        most_ticks / 2,
        most_ticks,
        most_ticks + Duration::from_secs(1),
    ];
    run_on_embassy(async move {
        for duration in durations {
            let waiting = safe_gather_array([unplugged()]).timeout_with(EmbassyTimer, duration);
            assert!(with_timeout(OBSERVATION, waiting).await.is_err());
        }
    });
}

/// With `alloc` every child has a waker of its own, which embassy's
/// integrated timer queue would reject; on the generic queue, children that
/// sleep on embassy's timer work in a `Vec` gather too.
#[cfg(feature = "alloc")]
#[test]
fn vec_gather_with_per_child_wakers_on_the_generic_queue() {
    run_on_embassy(async {
        let readings = safe_gather((1..=4).map(measure))
            .timeout_with(EmbassyTimer, LONG)
            .await;
        assert_eq!(readings, Ok(vec![100, 200, 300, 400]));

        let stuck = bounded(
            safe_gather([unplugged(), unplugged(), unplugged()]).timeout_with(EmbassyTimer, SHORT),
        )
        .await;
        assert_eq!(
            stuck,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 3
            })
        );
    });
}
