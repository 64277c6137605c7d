//! `ManualTimer` (feature `test-util`), the timer users test their own
//! timeouts with: its clock, the sleeps it wakes, its counts, and gathers'
//! deadlines on it. Nothing here reads a real clock or sleeps.
#![cfg(feature = "test-util")]

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures::future::{pending, ready};
use safe_gather::{safe_gather, safe_gather_array, GatherError, ManualTimer, SlotError, Timer};
use support::{CountingWaker, Parent};

const SECOND: Duration = Duration::from_secs(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A child that sleeps `seconds` on `timer`, then answers them.
async fn sleeper(timer: &ManualTimer, seconds: u64) -> Result<u64, String> {
    timer.sleep(secs(seconds)).await;
    Ok(seconds)
}

#[test]
fn the_clock_starts_at_zero_and_moves_only_by_advance() {
    let timer = ManualTimer::new();
    assert_eq!(timer.now(), Duration::ZERO);
    timer.advance(Duration::from_millis(250));
    timer.advance(Duration::from_millis(750));
    assert_eq!(timer.now(), SECOND);
    timer.advance(Duration::ZERO);
    assert_eq!(timer.now(), SECOND);
}

#[test]
fn clones_share_one_clock_and_one_set_of_counts() {
    let timer = ManualTimer::new();
    let clone = timer.clone();
    clone.advance(secs(3));
    let _sleep = clone.sleep(SECOND);
    assert_eq!(timer.now(), secs(3));
    assert_eq!((timer.sleeps_made(), timer.sleeps_alive()), (1, 1));
    assert_eq!(timer.next_deadline(), Some(secs(4)));
}

#[test]
fn the_clock_stops_at_duration_max_without_panicking() {
    let timer = ManualTimer::new();
    timer.advance(Duration::MAX);
    timer.advance(Duration::MAX);
    assert_eq!(timer.now(), Duration::MAX);
}

#[test]
fn a_sleep_is_due_once_the_clock_reaches_its_deadline_and_not_before() {
    let timer = ManualTimer::new();
    timer.advance(secs(10));
    let parent = Parent::new();
    let mut sleep = pin!(timer.sleep(secs(5)));
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Pending);
    timer.advance(secs(5) - Duration::from_nanos(1));
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Pending);
    assert_eq!(parent.wakes(), 0, "not due: not woken");
    timer.advance(Duration::from_nanos(1));
    assert_eq!(parent.wakes(), 1);
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Ready(()));
}

#[test]
fn a_zero_sleep_is_due_at_its_first_poll() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut sleep = pin!(timer.sleep(Duration::ZERO));
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Ready(()));
}

#[test]
fn a_sleep_past_duration_max_is_never_due() {
    let timer = ManualTimer::new();
    timer.advance(SECOND);
    let parent = Parent::new();
    let mut sleep = pin!(timer.sleep(Duration::MAX));
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Pending);
    assert_eq!(timer.next_deadline(), None, "never due: no deadline");
    timer.advance(Duration::MAX);
    assert_eq!(parent.poll(sleep.as_mut()), Poll::Pending);
    assert_eq!(parent.wakes(), 0);
    assert_eq!(timer.sleeps_alive(), 1);
}

#[test]
fn advance_wakes_exactly_the_sleeps_that_became_due_once_each() {
    let timer = ManualTimer::new();
    let parents: Vec<Parent> = (0..3).map(|_| Parent::new()).collect();
    let mut sleeps: Vec<_> = [1, 2, 3].map(|n| Box::pin(timer.sleep(secs(n)))).into();
    for (parent, sleep) in parents.iter().zip(&mut sleeps) {
        assert_eq!(parent.poll(sleep.as_mut()), Poll::Pending);
    }
    let wakes = || parents.iter().map(Parent::wakes).collect::<Vec<_>>();

    timer.advance(secs(2));
    assert_eq!(wakes(), [1, 1, 0]);
    timer.advance(Duration::ZERO);
    assert_eq!(wakes(), [1, 1, 0], "a woken sleep is not woken again");
    timer.advance(secs(5));
    assert_eq!(wakes(), [1, 1, 1]);
}

#[test]
fn a_sleep_polled_again_with_another_waker_wakes_only_the_latest() {
    let timer = ManualTimer::new();
    let (first, second) = (Parent::new(), Parent::new());
    let mut sleep = pin!(timer.sleep(SECOND));
    assert_eq!(first.poll(sleep.as_mut()), Poll::Pending);
    assert_eq!(first.poll(sleep.as_mut()), Poll::Pending);
    assert_eq!(second.poll(sleep.as_mut()), Poll::Pending);
    timer.advance(SECOND);
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
}

#[test]
fn a_sleep_never_polled_is_not_woken_but_is_due_at_its_first_poll() {
    let timer = ManualTimer::new();
    let sleep = timer.sleep(SECOND);
    timer.advance(secs(2));
    let parent = Parent::new();
    assert_eq!(parent.poll(pin!(sleep)), Poll::Ready(()));
    assert_eq!(parent.wakes(), 0);
}

#[test]
fn dropping_a_sleep_forgets_it_and_its_waker() {
    let timer = ManualTimer::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut sleep = Box::pin(timer.sleep(SECOND));
    let poll = sleep.as_mut().poll(&mut Context::from_waker(&waker));
    assert_eq!(poll, Poll::Pending);
    assert_eq!(Arc::strong_count(&counter), 3, "the sleep keeps a clone");
    drop(sleep);
    assert_eq!(Arc::strong_count(&counter), 2, "dropped with the sleep");
    assert_eq!((timer.sleeps_made(), timer.sleeps_alive()), (1, 0));
    assert_eq!(timer.next_deadline(), None);
}

#[test]
fn next_deadline_is_the_earliest_sleep_not_yet_due() {
    let timer = ManualTimer::new();
    assert_eq!(timer.next_deadline(), None);
    let later = timer.sleep(secs(9));
    let sooner = timer.sleep(secs(4));
    assert_eq!(timer.next_deadline(), Some(secs(4)));
    timer.advance(secs(4));
    assert_eq!(
        timer.next_deadline(),
        Some(secs(9)),
        "a due sleep no longer counts"
    );
    drop(later);
    assert_eq!(timer.next_deadline(), None);
    drop(sooner);
}

#[test]
fn a_gather_times_out_when_the_clock_reaches_its_deadline_and_not_before() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let children = [sleeper(&timer, 1), sleeper(&timer, 60)];
    let mut gather = pin!(safe_gather(children).timeout_with(&timer, secs(5)));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    assert_eq!(timer.next_deadline(), Some(SECOND));

    timer.advance(secs(5) - Duration::from_nanos(1));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    timer.advance(Duration::from_nanos(1));
    assert_eq!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 1,
            pending: 1
        }))
    );
    assert_eq!(
        (timer.sleeps_made(), timer.sleeps_alive()),
        (3, 0),
        "two children's sleeps and the deadline's, all dropped"
    );
}

#[test]
fn a_gather_that_finishes_before_its_deadline_succeeds() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array([sleeper(&timer, 2), sleeper(&timer, 1)])
        .timeout_with(timer.clone(), secs(5)));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    timer.advance(SECOND);
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    timer.advance(SECOND);
    assert_eq!(parent.poll(gather.as_mut()), Poll::Ready(Ok([2, 1])));
    assert_eq!(timer.sleeps_alive(), 0, "the deadline's sleep was dropped");
    assert_eq!(timer.next_deadline(), None);
}

#[test]
fn a_gather_that_completes_in_the_poll_its_deadline_passes_succeeds() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather([sleeper(&timer, 5)]).timeout_with(&timer, secs(5)));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    timer.advance(secs(5));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Ready(Ok(vec![5])));
}

#[test]
fn a_gathers_deadline_starts_at_its_first_poll() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather([pending::<Result<(), ()>>()]).timeout_with(&timer, secs(3)));
    timer.advance(secs(10));
    assert_eq!(timer.sleeps_made(), 0, "no sleep before the first poll");
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    assert_eq!(timer.sleeps_made(), 1);
    assert_eq!(timer.next_deadline(), Some(secs(13)));
    timer.advance(secs(3));
    assert_eq!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 0,
            pending: 1
        }))
    );
}

#[test]
fn a_zero_timeout_polls_the_children_once_then_times_out() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let children = safe_gather((0..3).map(|n| sleeper(&timer, n)));
    let mut gather = pin!(children.timeout_with(&timer, Duration::ZERO));
    assert_eq!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 1,
            pending: 2
        }))
    );
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn settled_with_a_deadline_keeps_what_finished_and_cuts_off_the_rest() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let failing = async { Err::<u64, _>(String::from("refused")) };
    let mut gather = pin!(
        safe_gather!(sleeper(&timer, 1), failing, sleeper(&timer, 9))
            .settled()
            .timeout_with(&timer, secs(4))
    );
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    timer.advance(secs(4));
    assert_eq!(
        parent.poll(gather.as_mut()),
        Poll::Ready((
            Ok(1),
            Err(SlotError::Failed(String::from("refused"))),
            Err(SlotError::TimedOut)
        ))
    );
}

#[test]
fn dropping_a_gather_drops_its_deadline_and_its_childrens_sleeps() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = Box::pin(
        safe_gather([sleeper(&timer, 7), sleeper(&timer, 8)]).timeout_with(&timer, secs(30)),
    );
    assert_eq!(parent.poll(gather.as_mut()), Poll::Pending);
    assert_eq!(timer.sleeps_alive(), 3);
    drop(gather);
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn a_gather_on_a_manual_timer_runs_on_an_executor() {
    let timer = ManualTimer::new();
    let ready_one = ready(Ok::<u64, String>(1));
    let (outcome, ()) = futures::executor::block_on(async {
        let gather = safe_gather!(ready_one, sleeper(&timer, 2)).timeout_with(&timer, secs(5));
        // `join!` polls the gather first, so the advance comes after the
        // gather's first poll made its sleeps, and wakes the sleeping child.
        let advance = async { timer.advance(secs(2)) };
        futures::join!(gather, advance)
    });
    assert_eq!(outcome, Ok((1, 2)));
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn a_sleep_wakes_on_an_advance_from_another_thread() {
    let timer = ManualTimer::new();
    let sleep = timer.sleep(secs(5));
    let waiting = thread::spawn(move || futures::executor::block_on(sleep));
    timer.advance(secs(5));
    waiting.join().expect("the sleeping thread finished");
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn the_timer_and_its_sleep_are_send_sync_unpin_and_debug() {
    fn assert_traits<T: Send + Sync + Unpin + std::fmt::Debug>() {}
    assert_traits::<ManualTimer>();
    assert_traits::<safe_gather::timer::ManualSleep>();

    let timer = ManualTimer::new();
    timer.advance(SECOND);
    let _sleep = timer.sleep(SECOND);
    assert_eq!(
        format!("{timer:?}"),
        "ManualTimer { now: 1s, sleeps_made: 1, sleeps_alive: 1 }"
    );
    assert_eq!(format!("{_sleep:?}"), "ManualSleep { due: Some(2s) }");
}
