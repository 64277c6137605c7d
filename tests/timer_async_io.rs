//! `AsyncIoTimer` on async-io's and smol's executors, and on an executor
//! that knows nothing of async-io (futures' `block_on`, where async-io's own
//! thread drives the timers), with real time.
//!
//! Outcomes only: a deadline that must fire is short and there is no child
//! that could finish first; a child that must succeed is ready at once and
//! its deadline is long.
#![cfg(all(feature = "async-io", not(miri)))]

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use safe_gather::{safe_gather, safe_gather_array, AsyncIoTimer, GatherError, SlotError, Timer};
use support::largest_duration_after;

const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(60);

fn stuck() -> std::future::Pending<Result<u32, ()>> {
    std::future::pending()
}

async fn ready(value: u32) -> Result<u32, ()> {
    Ok(value)
}

/// `Some(output)` if `future` finishes before a `SHORT` async-io timer,
/// `None` if it is still pending then.
async fn within_short<F: Future>(future: F) -> Option<F::Output> {
    smol::future::or(async { Some(future.await) }, async {
        smol::Timer::after(SHORT).await;
        None
    })
    .await
}

#[test]
fn deadline_fires_on_async_io_block_on() {
    let result =
        async_io::block_on(safe_gather_array([stuck(), stuck()]).timeout_with(AsyncIoTimer, SHORT));
    assert_eq!(
        result,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        })
    );
}

#[test]
fn ready_children_beat_a_long_deadline_on_async_io_block_on() {
    let result =
        async_io::block_on(safe_gather((1..=3).map(ready)).timeout_with(AsyncIoTimer, LONG));
    assert_eq!(result, Ok(vec![1, 2, 3]));
}

#[test]
fn deadline_fires_and_ready_children_win_on_smol_executor() {
    let executor = smol::Executor::new();
    smol::block_on(executor.run(async {
        let timed_out = executor.spawn(async {
            safe_gather!(ready(1), stuck())
                .timeout_with(AsyncIoTimer, SHORT)
                .await
        });
        assert_eq!(
            timed_out.await,
            Err(GatherError::TimedOut {
                completed: 1,
                pending: 1
            })
        );

        let succeeded = executor
            .spawn(safe_gather_array([ready(4), ready(5)]).timeout_with(AsyncIoTimer, LONG));
        assert_eq!(succeeded.await, Ok([4, 5]));
    }));
}

#[test]
fn settled_gather_on_smol_keeps_finished_children() {
    let outcomes = smol::block_on(
        safe_gather!(ready(1), stuck())
            .settled()
            .timeout_with(AsyncIoTimer, SHORT),
    );
    assert_eq!(outcomes, (Ok(1), Err(SlotError::TimedOut)));
}

#[test]
fn deadline_fires_on_an_executor_without_a_reactor() {
    let result =
        futures::executor::block_on(safe_gather_array([stuck()]).timeout_with(AsyncIoTimer, SHORT));
    assert_eq!(
        result,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 1
        })
    );
}

#[test]
fn duration_max_lets_ready_children_finish_and_never_fires() {
    smol::block_on(async {
        let finished = safe_gather_array([ready(9)])
            .timeout_with(AsyncIoTimer, Duration::MAX)
            .await;
        assert_eq!(finished, Ok([9]));

        let waiting = safe_gather_array([stuck()]).timeout_with(AsyncIoTimer, Duration::MAX);
        assert_eq!(within_short(waiting).await, None);
    });
}

#[test]
fn duration_just_short_of_the_instant_limit_never_fires_and_never_panics() {
    // An hour's slack, so that the deadline taken at the first poll still
    // fits: this registers a real timer with the reactor, billions of years
    // away on common platforms.
    let edge = largest_duration_after(Instant::now()) - Duration::from_secs(3600);
    smol::block_on(async {
        let waiting = safe_gather_array([stuck()]).timeout_with(AsyncIoTimer, edge);
        assert_eq!(within_short(waiting).await, None);
    });
}

#[test]
fn sleep_completes_on_its_own() {
    async_io::block_on(AsyncIoTimer.sleep(Duration::from_millis(1)));
}
