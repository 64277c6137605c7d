//! `TokioTimer` on real tokio runtimes (current-thread and multi-thread) and
//! on tokio's paused clock, including children that spend tokio's
//! cooperative budget in every poll, and durations too large for tokio's
//! `Instant`.
//!
//! Outcomes only: on the real clock a deadline that must fire is short and a
//! child that must succeed is ready at once; a long wait happens only on the
//! paused clock, where it costs nothing.
#![cfg(all(feature = "tokio", not(miri)))]

mod support;

use std::time::Duration;

use safe_gather::{safe_gather, safe_gather_array, GatherError, SlotError, Timer, TokioTimer};
use support::largest_duration_after;
use tokio::sync::mpsc;
use tokio::time::Instant;

const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Past the 30 years to which `tokio::time::sleep` clamps a longer
/// duration, and within what every platform's `Instant` can hold.
const FORTY_YEARS: Duration = Duration::from_secs(40 * 365 * 24 * 3600);

/// How long a real-clock test waits for a deadline that should have fired
/// after `SHORT` before it reports the deadline as starved, instead of hanging.
const STARVATION_GUARD: Duration = Duration::from_secs(20);

/// A child that never finishes and never yields of its own accord: it loops
/// on a channel that always holds a message. Each receive spends a unit of
/// tokio's cooperative budget, so in every poll it runs until the budget is
/// gone, and only then does the channel answer `Pending` (and wake it).
async fn spin_on_ready_channel() -> Result<(), ()> {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    sender.send(()).expect("the receiver is alive");
    loop {
        receiver.recv().await;
        sender.send(()).expect("the receiver is alive");
    }
}

fn stuck() -> std::future::Pending<Result<u32, ()>> {
    std::future::pending()
}

/// Sleeps with `sleep_until`, which unlike `sleep` takes a long duration at
/// its word.
async fn sleep_then(duration: Duration, value: u32) -> Result<u32, ()> {
    tokio::time::sleep_until(Instant::now() + duration).await;
    Ok(value)
}

/// On tokio's paused clock, moves time forward one second per scheduler turn
/// forever. The auto-advance of a paused clock only happens when every task
/// is idle, which never happens while a child spins on the coop budget.
fn spawn_clock_mover() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    })
}

#[tokio::test]
async fn deadline_fires_on_current_thread_runtime() {
    let result = safe_gather_array([stuck(), stuck()])
        .timeout_with(TokioTimer, SHORT)
        .await;
    assert_eq!(
        result,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        })
    );
}

#[tokio::test]
async fn ready_children_beat_a_long_deadline_on_current_thread_runtime() {
    let ready = (1..=3).map(|n| async move { Ok::<_, ()>(n * 10) });
    let result = safe_gather(ready).timeout_with(TokioTimer, LONG).await;
    assert_eq!(result, Ok(vec![10, 20, 30]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_fires_and_ready_children_win_on_multi_thread_runtime() {
    let timed_out = tokio::spawn(async {
        let quick = async { Ok::<_, ()>("quick") };
        safe_gather!(quick, stuck())
            .timeout_with(TokioTimer, SHORT)
            .await
    });
    assert_eq!(
        timed_out.await.expect("the gather task did not panic"),
        Err(GatherError::TimedOut {
            completed: 1,
            pending: 1
        })
    );

    let succeeded = tokio::spawn(async {
        let ready = (0..4).map(|n| async move { Ok::<_, ()>(n) });
        safe_gather(ready).timeout_with(TokioTimer, LONG).await
    });
    assert_eq!(
        succeeded.await.expect("the gather task did not panic"),
        Ok(vec![0, 1, 2, 3])
    );
}

#[tokio::test(start_paused = true)]
async fn paused_clock_decides_between_child_and_deadline() {
    let late = safe_gather_array([sleep_then(2 * HOUR, 1)])
        .timeout_with(TokioTimer, HOUR)
        .await;
    assert_eq!(
        late,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 1
        })
    );

    let early = safe_gather_array([sleep_then(HOUR, 1), sleep_then(HOUR / 2, 2)])
        .timeout_with(TokioTimer, 2 * HOUR)
        .await;
    assert_eq!(early, Ok([1, 2]));
}

#[tokio::test(start_paused = true)]
async fn settled_gather_on_paused_clock_keeps_finished_children() {
    let outcomes = safe_gather([sleep_then(HOUR, 1), sleep_then(3 * HOUR, 2)])
        .settled()
        .timeout_with(TokioTimer, 2 * HOUR)
        .await;
    assert_eq!(outcomes, [Ok(1), Err(SlotError::TimedOut)]);
}

#[tokio::test(start_paused = true)]
async fn deadline_starts_at_first_poll_not_at_construction() {
    let gather = safe_gather_array([sleep_then(HOUR, 7)]).timeout_with(TokioTimer, HOUR + HOUR / 2);
    // Had the deadline started here, it would pass before the child finished.
    tokio::time::advance(HOUR).await;
    assert_eq!(gather.await, Ok([7]));
}

#[tokio::test]
async fn deadline_fires_while_child_spends_coop_budget_on_current_thread_runtime() {
    let gather = safe_gather([spin_on_ready_channel()]).timeout_with(TokioTimer, SHORT);
    let result = tokio::time::timeout(STARVATION_GUARD, gather)
        .await
        .expect("the deadline was starved by tokio's cooperative budget");
    assert_eq!(
        result,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 1
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_fires_while_child_spends_coop_budget_on_multi_thread_runtime() {
    let gather_task = tokio::spawn(async {
        let quick = async { Ok::<_, ()>(()) };
        safe_gather!(quick, spin_on_ready_channel())
            .timeout_with(TokioTimer, SHORT)
            .await
    });
    let result = tokio::time::timeout(STARVATION_GUARD, gather_task)
        .await
        .expect("the deadline was starved by tokio's cooperative budget")
        .expect("the gather task did not panic");
    assert_eq!(
        result,
        Err(GatherError::TimedOut {
            completed: 1,
            pending: 1
        })
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_fires_while_child_spends_coop_budget_on_paused_clock() {
    let clock_mover = spawn_clock_mover();
    let gather = safe_gather([spin_on_ready_channel(), spin_on_ready_channel()])
        .timeout_with(TokioTimer, SHORT);
    // `tokio::time::timeout` polls its own deadline outside the budget when
    // its inner future spent it, so it ends the test if ours is starved.
    let result = tokio::time::timeout(HOUR, gather).await;
    clock_mover.abort();
    assert_eq!(
        result.expect("the deadline was starved by tokio's cooperative budget"),
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        })
    );
}

/// The control for the three tests above: the spinning child really does
/// starve a plain `tokio::time::Sleep` used as the deadline, so those tests
/// would fail without `TokioTimer`'s protection.
#[tokio::test(start_paused = true)]
async fn plain_tokio_sleep_deadline_is_starved_by_the_spinning_child() {
    let clock_mover = spawn_clock_mover();
    let gather = safe_gather([spin_on_ready_channel()]).deadline(tokio::time::sleep(SHORT));
    let result = tokio::time::timeout(HOUR, gather).await;
    clock_mover.abort();
    assert!(
        result.is_err(),
        "a plain tokio sleep fired despite the spent budget: {result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn duration_max_never_fires_even_as_the_paused_clock_jumps_decades() {
    // tokio's own `sleep(Duration::MAX)` would fire after 30 years.
    let result = safe_gather_array([sleep_then(FORTY_YEARS, 1)])
        .timeout_with(TokioTimer, Duration::MAX)
        .await;
    assert_eq!(result, Ok([1]));
}

#[tokio::test(start_paused = true)]
async fn duration_at_the_edge_of_tokio_instant_never_fires_and_never_panics() {
    let now = Instant::now();
    let edge = largest_duration_after(now.into_std());
    assert!(now.checked_add(edge).is_some());
    // Tokio itself would panic rounding a deadline this late up to its
    // next millisecond.
    let result = safe_gather_array([sleep_then(FORTY_YEARS, 2)])
        .timeout_with(TokioTimer, edge)
        .await;
    assert_eq!(result, Ok([2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_on_real_clock_lets_ready_children_finish_and_stuck_ones_wait() {
    let ready = safe_gather([async { Ok::<_, ()>(5) }])
        .timeout_with(TokioTimer, Duration::MAX)
        .await;
    assert_eq!(ready, Ok(vec![5]));

    let waiting = safe_gather_array([stuck()]).timeout_with(TokioTimer, Duration::MAX);
    assert!(tokio::time::timeout(SHORT, waiting).await.is_err());
}

#[tokio::test]
async fn sleep_completes_on_its_own() {
    TokioTimer.sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn sleep_debug_says_whether_it_will_ever_fire() {
    assert_eq!(
        format!("{:?}", TokioTimer.sleep(HOUR)),
        "TokioSleep { state: \"ticking\" }"
    );
    assert_eq!(
        format!("{:?}", TokioTimer.sleep(Duration::MAX)),
        "TokioSleep { state: \"never\" }"
    );
}
