//! What `{:?}` shows of a gather's deadline through its life: the duration
//! of a timer deadline not started yet, then whether its sleep is still
//! running, then that it is over. It is what a developer looks at when a
//! gather seems stuck, so the state must be the real one at each stage.

mod support;

use std::future::pending;
use std::time::Duration;

use futures::channel::oneshot;
use safe_gather::safe_gather_array;
use support::{poll_once, ManualTimer};

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
