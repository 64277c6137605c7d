//! Cancellation with grace (SPEC §8): on the first error (fail-fast) or the
//! deadline, `on_cancel` is called once in that poll, no new child starts,
//! the children still running are polled as they are woken until they finish
//! or the grace period passes, and then the gather resolves to what began
//! the cancellation.
// Most of these gather iterators, which need `alloc`; arrays and tuples
// without it are covered by embassy-host-test's grace tests.
#![cfg(feature = "alloc")]

mod support;

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::Stream;
use safe_gather::{safe_gather, safe_gather_array, GatherError, SlotError};
use support::{panic_message, Board, Child, ManualTimer, Output, Parent, Plan};

const GRACE: Duration = Duration::from_secs(2);

/// Counts `on_cancel` calls.
fn counter() -> (Rc<Cell<usize>>, impl FnOnce()) {
    let calls = Rc::new(Cell::new(0));
    let counting = calls.clone();
    (calls, move || counting.set(counting.get() + 1))
}

#[test]
fn a_failure_calls_on_cancel_once_and_the_rest_finish_before_it_resolves() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let (calls, on_cancel) = counter();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait)).grace_with(
        timer.clone(),
        GRACE,
        on_cancel
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(11));
    assert!(
        parent.poll(gather.as_mut()).is_pending(),
        "the others are given time"
    );
    assert_eq!(
        calls.get(),
        1,
        "on_cancel ran in the poll that saw the error"
    );
    assert_eq!(timer.sleeps_made(), 1, "the grace sleep was made then");
    assert_eq!(
        board.all_drops(),
        [0, 1, 0, 0],
        "only the child that failed is dropped yet"
    );
    board.open(0, Ok(0));
    board.open(3, Ok(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.output_drops(0), 0);
    board.open(2, Ok(2));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished")
    };
    assert_eq!(
        result.unwrap_err(),
        GatherError::Failed {
            index: 1,
            error: 11
        }
    );
    assert_eq!(calls.get(), 1);
    assert_eq!(
        timer.sleeps_alive(),
        0,
        "the grace sleep is dropped with the gather's resolution"
    );
    // The outputs of children that finished during the grace period are dropped.
    assert_eq!(
        (0..4).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1, 0, 1, 1]
    );
    board.assert_all_dropped();
}

#[test]
fn the_children_still_running_when_the_grace_period_ends_are_dropped() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(3, Plan::Wait)).grace_with(timer.clone(), GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(GRACE);
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("the grace period is over")
    };
    assert_eq!(
        result.unwrap_err(),
        GatherError::Failed { index: 0, error: 1 }
    );
    assert_eq!(
        board.polls(2),
        1,
        "the stuck child was only polled when woken"
    );
    board.assert_all_dropped();
}

/// Six waiting children under `.limit(2)` with a grace period: child 0
/// fails; neither its slot nor any later poll starts another child, and the
/// gather resolves to that failure once child 1 ends.
fn assert_no_child_starts_in_grace<T>(
    board: &Board,
    mut gather: Pin<&mut impl Future<Output = Result<T, GatherError<u32>>>>,
) {
    let parent = Parent::new();
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [2, 1, 0, 0, 0, 0],
        "child 0's slot went to nobody"
    );
    board.open(1, Ok(1));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 0, .. }))
    ));
    assert_eq!(board.all_polls(), [2, 2, 0, 0, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn no_child_starts_in_a_grace_period() {
    let board = Board::new();
    let gather = pin!(safe_gather(board.children(6, Plan::Wait))
        .limit(2)
        .grace_with(ManualTimer::new(), GRACE, || {}));
    assert_no_child_starts_in_grace(&board, gather);
}

#[test]
fn no_child_of_a_limited_array_starts_in_a_grace_period() {
    // An array's children are all in their slots from the first poll: the
    // limit still holds back those not started, and a grace period keeps
    // them back for good.
    let board = Board::new();
    let children: [Child; 6] = std::array::from_fn(|_| board.child(Plan::Wait));
    let gather =
        pin!(safe_gather_array(children)
            .limit(2)
            .grace_with(ManualTimer::new(), GRACE, || {}));
    assert_no_child_starts_in_grace(&board, gather);
}

#[test]
fn children_woken_in_the_poll_that_failed_are_still_polled() {
    // Child 2 is woken with child 1 (which fails); it must not lose that wake.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(3, Plan::Wait)).grace_with(timer, GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(1));
    board.open(2, Ok(2));
    let _ = parent.poll(gather.as_mut());
    if board.polls(2) == 1 {
        // Not reached in the failing round: the next poll polls it.
        let _ = parent.poll(gather.as_mut());
    }
    assert_eq!(
        board.polls(2),
        2,
        "child 2 finished during the grace period"
    );
    assert_eq!(
        board.output_drops(2),
        0,
        "its output is kept until the gather resolves"
    );
    board.open(0, Ok(0));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 1, error: 1 }))
    ));
    assert_eq!(board.all_polls(), [2, 2, 2]);
    assert_eq!(
        (0..3).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1, 0, 1]
    );
    board.assert_all_dropped();
}

#[test]
fn an_error_during_the_grace_period_is_dropped_and_the_first_one_wins() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(3, Plan::Wait)).grace_with(timer, GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(2, Err(22));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    board.open(1, Err(11));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished")
    };
    assert_eq!(
        result.unwrap_err(),
        GatherError::Failed {
            index: 2,
            error: 22
        }
    );
    board.assert_all_dropped();
}

#[test]
fn later_errors_and_outputs_in_a_limited_grace_period_are_each_dropped_once() {
    // Slots reused: the outputs written, the later errors (never written)
    // and the children still running are told apart when the gather ends.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(8, Plan::Wait))
        .limit(4)
        .grace_with(timer.clone(), GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(1));
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [2, 2, 1, 1, 1, 1, 0, 0],
        "children 4 and 5 took their slots"
    );
    board.open(4, Err(4));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(5, Err(5));
    board.open(3, Ok(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(GRACE);
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 4, error: 4 }))
    ));
    assert_eq!(
        (0..8).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1, 1, 0, 1, 0, 0, 0, 0]
    );
    assert_eq!(board.all_polls(), [2, 2, 1, 2, 2, 2, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn a_deadline_with_grace_times_out_counted_when_it_passed() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let (calls, on_cancel) = counter();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait))
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .grace(GRACE, on_cancel));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(calls.get(), 1);
    assert_eq!(
        timer.sleeps_made(),
        2,
        "the grace sleep came from the gather's own timer"
    );
    assert_eq!(timer.requested(), [Duration::from_secs(1), GRACE]);
    board.open(1, Ok(1));
    board.open(2, Ok(2));
    board.open(3, Ok(3));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished")
    };
    assert_eq!(
        result.unwrap_err(),
        GatherError::TimedOut {
            completed: 1,
            pending: 3
        }
    );
    board.assert_all_dropped();
}

#[test]
#[cfg(feature = "futures-timer")]
fn grace_before_timeout_takes_the_timer_given_later() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(2, Plan::Wait))
        .grace(GRACE, || {})
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(timer.requested(), [Duration::from_secs(1), GRACE]);
    timer.advance(GRACE);
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        }))
    ));
}

#[test]
fn settled_with_a_deadline_keeps_outcomes_that_arrive_in_the_grace_period() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait))
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .grace(GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    timer.advance(Duration::from_secs(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(1));
    board.open(2, Ok(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(GRACE);
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("the grace period is over")
    };
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.map(|output| output.value))
        .collect();
    assert_eq!(
        outcomes,
        [
            Ok(0),
            Err(SlotError::Failed(1)),
            Ok(2),
            Err(SlotError::TimedOut)
        ]
    );
    board.assert_all_dropped();
}

#[test]
fn a_panic_in_on_cancel_propagates_and_every_child_is_dropped_once() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(3, Plan::Wait)).grace_with(
        timer,
        GRACE,
        || panic!("on_cancel broke"),
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "on_cancel broke");
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert!(message.contains("polled after a panic"), "{message}");
    drop(gather);
    board.assert_all_dropped();
}

/// Pends until woken, then panics.
struct PanicsWhenWoken {
    woken: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<std::task::Waker>>>,
}

impl Future for PanicsWhenWoken {
    type Output = Result<Output, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.woken.get() {
            panic!("panics in its cleanup");
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

#[test]
fn a_child_panic_during_the_grace_period_propagates_and_every_child_is_dropped_once() {
    // A child whose poll panics once woken during the grace period.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let woken = Rc::new(Cell::new(false));
    let waker = Rc::new(Cell::new(None));
    let panicking = PanicsWhenWoken {
        woken: woken.clone(),
        waker: waker.clone(),
    };
    let children: Vec<futures::future::Either<Child, PanicsWhenWoken>> = vec![
        futures::future::Either::Left(board.child(Plan::Wait)),
        futures::future::Either::Right(panicking),
    ];
    let mut gather = Box::pin(safe_gather(children).grace_with(timer.clone(), GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    woken.set(true);
    waker.take().expect("it pended").wake();
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "panics in its cleanup");
    drop(gather);
    board.assert_all_dropped();
    assert_eq!(timer.sleeps_alive(), 0);
    // A child whose drop panics, when it finishes during the grace period.
    let board = Board::new();
    let timer = ManualTimer::new();
    let mut gather =
        Box::pin(safe_gather(board.children(2, Plan::Wait)).grace_with(timer, GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.set_quietly(1, Ok(1));
    board.make_drop_panic(1);
    board.wake(1);
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "child 1 panics in drop on purpose");
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn dropping_the_gather_during_its_grace_period_drops_everything_at_once() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(4, Plan::Wait)).grace_with(
        timer.clone(),
        GRACE,
        || {},
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(3, Err(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    drop(gather);
    board.assert_all_dropped();
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn a_zero_grace_calls_on_cancel_and_drops_everything_in_that_poll() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let (calls, on_cancel) = counter();
    let mut gather = pin!(safe_gather(board.children(3, Plan::Wait)).grace_with(
        timer.clone(),
        Duration::ZERO,
        on_cancel
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(1));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 1, .. }))
    ));
    assert_eq!(calls.get(), 1);
    assert_eq!(timer.sleeps_made(), 0, "no sleep for a zero grace period");
    board.assert_all_dropped();
}

#[test]
fn a_grace_of_duration_max_waits_for_every_child() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(2, Plan::Wait)).grace_with(
        timer.clone(),
        Duration::MAX,
        || {}
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1_000_000));
    assert!(parent.poll(gather.as_mut()).is_pending(), "never over");
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_ready());
}

#[test]
fn with_no_child_running_when_cancellation_begins_it_resolves_at_once() {
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let (calls, on_cancel) = counter();
    let jobs = [
        std::future::ready(Err::<u8, _>(7)),
        std::future::ready(Ok(1)),
    ];
    let mut gather = pin!(safe_gather_array(jobs).grace_with(timer, GRACE, on_cancel));
    assert_eq!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 0, error: 7 }))
    );
    assert_eq!(calls.get(), 1, "on_cancel is still called");
}

#[test]
#[cfg(feature = "futures-timer")]
fn a_sleep_deadline_takes_the_default_timer_for_its_grace() {
    // `.deadline(sleep)` has no timer; the grace period uses FuturesTimer.
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(2, Plan::Wait))
        .deadline(std::future::ready(()))
        .grace(Duration::MAX, || {}));
    assert!(
        parent.poll(gather.as_mut()).is_pending(),
        "the deadline passed, grace began"
    );
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        }))
    ));
}

#[test]
fn tuples_take_a_grace_period_too() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let (a, b) = (board.child(Plan::Wait), board.child(Plan::Wait));
    let mut gather = pin!(safe_gather::safe_gather!(a, b).grace_with(timer, GRACE, || {}));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(9));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { index: 1, error: 9 }))
    ));
    board.assert_all_dropped();
}

fn next<S: Stream + ?Sized>(parent: &Parent, stream: Pin<&mut S>) -> Poll<Option<S::Item>> {
    stream.poll_next(&mut Context::from_waker(parent.waker()))
}

#[test]
fn unordered_fail_fast_yields_the_error_when_the_grace_period_ends() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(board.children(3, Plan::Wait))
        .grace_with(timer, GRACE, || {})
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(
        next(&parent, stream.as_mut()).is_pending(),
        "nothing is handed out during grace"
    );
    board.open(1, Ok(1));
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(2, Ok(2));
    let Poll::Ready(Some(Err(error))) = next(&parent, stream.as_mut()) else {
        panic!("every child finished")
    };
    assert_eq!(error, GatherError::Failed { index: 0, error: 0 });
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    board.assert_all_dropped();
}

#[test]
fn unordered_settled_hands_out_outcomes_of_the_grace_period_then_the_cut_offs() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(board.children(3, Plan::Wait))
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .grace(GRACE, || {})
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some((1, Ok(_))))
    ));
    timer.advance(GRACE);
    let mut cut = Vec::new();
    while let Poll::Ready(Some((index, outcome))) = next(&parent, stream.as_mut()) {
        assert!(matches!(outcome, Err(SlotError::TimedOut)));
        cut.push(index);
    }
    assert_eq!(cut, [0, 2]);
    board.assert_all_dropped();
}

/// A child that, once told to stop, needs one more poll to clean up: the
/// shape of a worker that flushes and says goodbye.
struct Worker {
    stop: Rc<Cell<bool>>,
    cleaned_up: Rc<Cell<usize>>,
    waker: Rc<Cell<Option<std::task::Waker>>>,
    flushing: bool,
}

impl Future for Worker {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.flushing {
            self.cleaned_up.set(self.cleaned_up.get() + 1);
            return Poll::Ready(Ok(()));
        }
        if self.stop.get() {
            // Start the asynchronous cleanup; it completes at the next poll.
            self.flushing = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

#[test]
fn on_cancel_signals_the_children_and_they_clean_up_before_the_gather_resolves() {
    let stop = Rc::new(Cell::new(false));
    let cleaned_up = Rc::new(Cell::new(0));
    let wakers: Vec<_> = (0..3).map(|_| Rc::new(Cell::new(None))).collect();
    let workers: Vec<_> = wakers
        .iter()
        .map(|waker| Worker {
            stop: stop.clone(),
            cleaned_up: cleaned_up.clone(),
            waker: waker.clone(),
            flushing: false,
        })
        .collect();
    let failing = futures::future::ready(Err::<(), _>("bad input".to_string()));
    let mut all: Vec<futures::future::Either<Worker, futures::future::Ready<Result<(), String>>>> =
        workers
            .into_iter()
            .map(futures::future::Either::Left)
            .collect();
    all.push(futures::future::Either::Right(failing));
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let signal = stop.clone();
    let wake_all = wakers.clone();
    let mut gather = pin!(safe_gather(all).grace_with(timer, GRACE, move || {
        signal.set(true);
        for waker in &wake_all {
            if let Some(waker) = waker.take() {
                waker.wake();
            }
        }
    }));
    let mut result = None;
    for _ in 0..4 {
        if let Poll::Ready(output) = parent.poll(gather.as_mut()) {
            result = Some(output);
            break;
        }
    }
    assert_eq!(
        result,
        Some(Err(GatherError::Failed {
            index: 3,
            error: "bad input".to_string()
        }))
    );
    assert_eq!(cleaned_up.get(), 3, "every worker finished its cleanup");
}

#[test]
fn a_stream_of_jobs_is_dropped_when_its_grace_period_ends() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let jobs = futures::stream::iter(board.children(5, Plan::Wait));
    let mut gather = pin!(safe_gather::safe_gather_stream(jobs).limit(2).grace_with(
        timer.clone(),
        GRACE,
        || {}
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [2, 1, 0, 0, 0],
        "no job was taken after the failure"
    );
    timer.advance(GRACE);
    assert!(parent.poll(gather.as_mut()).is_ready());
    board.assert_all_dropped();
}
