//! What `{:?}` shows of a gather's deadline through its life: the duration
//! of a timer deadline not started yet, then whether its sleep is still
//! running, then that it is over. It is what a developer looks at when a
//! gather seems stuck, so the state must be the real one at each stage.

mod support;

use std::future::pending;
use std::task::Poll;
use std::time::Duration;

use futures::channel::oneshot;
use safe_gather::{safe_gather_array, GatherError};
use support::{poll_once, Board, ManualTimer, Plan};

fn stuck() -> std::future::Pending<Result<u32, ()>> {
    pending()
}

#[test]
fn a_sleep_deadline_shows_sleeping_until_the_gather_resolves_then_finished() {
    let (fire, sleep) = oneshot::channel::<()>();
    let mut gather = safe_gather_array([stuck()]).deadline(sleep);
    assert!(format!("{gather:?}").contains("deadline: SleepDeadline { state: \"sleeping\" }"));

    assert!(poll_once(&mut gather).is_pending());
    assert!(format!("{gather:?}").contains("deadline: SleepDeadline { state: \"sleeping\" }"));

    fire.send(()).unwrap();
    assert!(poll_once(&mut gather).is_ready());
    let debug = format!("{gather:?}");
    assert!(
        debug.contains("deadline: SleepDeadline { state: \"finished\" }"),
        "{debug}"
    );
    assert!(debug.contains("state: \"done\""), "{debug}");
}

#[test]
fn a_timer_deadline_shows_its_duration_then_sleeping_then_finished() {
    let timer = ManualTimer::new();
    let mut gather =
        safe_gather_array([stuck(), stuck()]).timeout_with(timer.clone(), Duration::from_secs(5));
    assert!(format!("{gather:?}").contains("deadline: TimerDeadline { duration: 5s }"));

    assert!(poll_once(&mut gather).is_pending());
    assert!(format!("{gather:?}").contains("deadline: TimerDeadline { state: \"sleeping\" }"));

    timer.advance(Duration::from_secs(5));
    assert!(poll_once(&mut gather).is_ready());
    assert!(format!("{gather:?}").contains("deadline: TimerDeadline { state: \"finished\" }"));
}

#[test]
fn a_deadline_dropped_with_a_successful_gather_shows_finished() {
    let (_fire, sleep) = oneshot::channel::<()>();
    let mut gather = safe_gather_array([std::future::ready(Ok::<u32, ()>(1))]).deadline(sleep);
    assert!(poll_once(&mut gather).is_ready());
    assert!(format!("{gather:?}").contains("deadline: SleepDeadline { state: \"finished\" }"));
}

#[test]
fn a_gather_shows_unpolled_then_running_then_cancelling_in_its_grace_period_then_done() {
    let board = Board::new();
    let children: [_; 2] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut gather =
        safe_gather_array(children).grace_with(ManualTimer::new(), Duration::from_secs(1), || {});
    // The gather's own state, its last field (its deadline has one too).
    let state = |gather: &dyn std::fmt::Debug| {
        let debug = format!("{gather:?}");
        let start = debug.rfind("state: \"").expect("a state field") + "state: \"".len();
        debug[start..start + debug[start..].find('"').unwrap()].to_string()
    };
    assert_eq!(state(&gather), "unpolled");

    assert!(poll_once(&mut gather).is_pending());
    assert_eq!(state(&gather), "running");

    // Child 0 fails: child 1, still running, gets its grace period.
    board.open(0, Err(3));
    assert!(poll_once(&mut gather).is_pending());
    assert_eq!(state(&gather), "cancelling");
    assert_eq!(board.drops(1), 0);

    board.open(1, Ok(1));
    assert!(matches!(
        poll_once(&mut gather),
        Poll::Ready(Err(GatherError::Failed { index: 0, error: 3 }))
    ));
    assert_eq!(state(&gather), "done");
    board.assert_all_dropped();
}

#[test]
fn a_grace_deadline_shows_its_grace_then_not_cancelled_then_in_its_grace_period_then_over() {
    let board = Board::new();
    let children: [_; 2] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut gather =
        safe_gather_array(children).grace_with(ManualTimer::new(), Duration::from_secs(1), || {});
    // The grace deadline's own part of the gather's `Debug`.
    let graced = |gather: &dyn std::fmt::Debug| {
        let debug = format!("{gather:?}");
        let start = debug.find("Graced {").expect("a Graced deadline");
        let state = debug[start..].find("state: \"").unwrap() + start + "state: \"".len();
        let end = state + debug[state..].find('"').unwrap();
        debug[start..=end].to_string()
    };
    let unpolled = graced(&gather);
    assert!(unpolled.contains("grace: 1s"), "{unpolled}");
    assert!(unpolled.ends_with("state: \"not cancelled\""), "{unpolled}");

    assert!(poll_once(&mut gather).is_pending());
    assert!(graced(&gather).ends_with("state: \"not cancelled\""));

    board.open(0, Err(3));
    assert!(poll_once(&mut gather).is_pending());
    assert!(
        graced(&gather).ends_with("state: \"in its grace period\""),
        "{}",
        graced(&gather)
    );

    board.open(1, Ok(1));
    assert!(poll_once(&mut gather).is_ready());
    assert!(
        graced(&gather).ends_with("state: \"over\""),
        "{}",
        graced(&gather)
    );
}
