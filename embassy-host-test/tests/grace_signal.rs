//! Cancellation with grace (SPEC §8) on a real embassy executor, with
//! embassy-sync's `Signal` as the stop signal: `on_cancel` signals, the
//! children waiting on it clean up (on embassy's timer, or by sending on an
//! embassy-sync `Channel`), and a child that ignores it is dropped when the
//! grace period ends. The grace sleep is an `EmbassyTimer`'s, given with
//! `.grace_with(EmbassyTimer, ..)` or taken from `.timeout_with(EmbassyTimer,
//! ..)`.
//!
//! A `Signal` has room for one waiter (a second one with another waker
//! takes its place and wakes it, and with `alloc` every child has a waker of
//! its own), so each child waits on a `Signal` of its own and `on_cancel`
//! signals them all; a `Watch` or a `PubSubChannel` reaches many at once.
//!
//! Outcomes only: which children cleaned up, what the gather returned, how
//! often each child was dropped and which was dropped last. A grace period
//! that must not run out is a minute, far longer than any cleanup here; in
//! the one test whose grace period has to run out, the children clean up in
//! the first poll after the signal (a send with room in the channel), which
//! the gather gives them before it looks at its grace sleep.

use std::cell::RefCell;
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use embassy_executor::Executor;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Timer as EmbassyClock};
use safe_gather::{safe_gather_array, EmbassyTimer, GatherError};

/// A grace period no correct run comes near.
const LONG_GRACE: Duration = Duration::from_secs(60);
/// A grace period that runs out, for the test with a stuck child.
const SHORT_GRACE: Duration = Duration::from_millis(50);

/// How long a test waits for its gather before failing, so that a grace
/// period that never ends (or a child never told to stop) fails the test
/// instead of hanging it.
const GIVE_UP: embassy_time::Duration = embassy_time::Duration::from_secs(10);

/// Every signal here lives in the one task that runs the gather, so it
/// needs no lock.
type StopSignal = Signal<NoopRawMutex, ()>;

/// The outcome of `gather`, which must resolve within `GIVE_UP`.
async fn bounded<F: Future>(gather: F) -> F::Output {
    with_timeout(GIVE_UP, gather)
        .await
        .expect("the gather resolved within 10 s")
}

type Scenario = Pin<Box<dyn Future<Output = ()>>>;

/// Runs one test's scenario as an embassy task (as in `embassy_timer.rs`).
/// Enough slots for every test of this file running at once, each on its
/// own thread and executor.
#[embassy_executor::task(pool_size = 8)]
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

/// What happened to the children of one gather, by input index.
#[derive(Debug, Default)]
struct Ledger {
    cleaned_up: RefCell<Vec<usize>>,
    /// In the order the children were dropped.
    dropped: RefCell<Vec<usize>>,
}

impl Ledger {
    /// Held by child `index` for as long as it exists.
    fn guard(&self, index: usize) -> DropGuard<'_> {
        DropGuard {
            index,
            ledger: self,
        }
    }

    /// In index order: the order in which they did it is the executor's.
    fn cleaned_up(&self) -> Vec<usize> {
        let mut cleaned_up = self.cleaned_up.borrow().clone();
        cleaned_up.sort_unstable();
        cleaned_up
    }

    /// How often each of the first `children` was dropped.
    fn drops(&self, children: usize) -> Vec<usize> {
        let dropped = self.dropped.borrow();
        (0..children)
            .map(|index| dropped.iter().filter(|&&d| d == index).count())
            .collect()
    }

    fn last_dropped(&self) -> Option<usize> {
        self.dropped.borrow().last().copied()
    }
}

struct DropGuard<'a> {
    index: usize,
    ledger: &'a Ledger,
}

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        self.ledger.dropped.borrow_mut().push(self.index);
    }
}

/// A sensor task: child 2 fails; every other one samples until told to
/// stop, then powers its sensor down, which takes a moment on embassy's
/// timer.
async fn sensor(index: usize, stop: &StopSignal, ledger: &Ledger) -> Result<usize, &'static str> {
    let _guard = ledger.guard(index);
    if index == 2 {
        EmbassyClock::after_millis(1).await;
        return Err("sensor 2: no response");
    }
    stop.wait().await;
    EmbassyClock::after_millis(1).await;
    ledger.cleaned_up.borrow_mut().push(index);
    Ok(index)
}

#[test]
fn signalling_in_on_cancel_lets_every_waiting_child_clean_up() {
    run_on_embassy(async {
        let ledger = Ledger::default();
        let stops: [StopSignal; 4] = core::array::from_fn(|_| Signal::new());
        let cancels = core::cell::Cell::new(0);
        let children: [_; 4] = core::array::from_fn(|index| sensor(index, &stops[index], &ledger));
        let gather = safe_gather_array(children).grace_with(EmbassyTimer, LONG_GRACE, || {
            cancels.set(cancels.get() + 1);
            for stop in &stops {
                stop.signal(());
            }
        });
        let result = bounded(gather).await;
        assert_eq!(
            result,
            Err(GatherError::Failed {
                index: 2,
                error: "sensor 2: no response"
            }),
            "the error that began the cancellation"
        );
        assert_eq!(cancels.get(), 1, "on_cancel was called once");
        assert_eq!(
            ledger.cleaned_up(),
            [0, 1, 3],
            "every child that waited on its signal cleaned up"
        );
        assert_eq!(ledger.drops(4), [1; 4], "each child dropped once");
    });
}

/// Waits for its signal, then says goodbye on `goodbyes`, which has room
/// for it: that send completes at its first poll.
async fn polite(
    index: usize,
    stop: &StopSignal,
    goodbyes: &Channel<NoopRawMutex, usize, 4>,
    ledger: &Ledger,
) -> Result<usize, &'static str> {
    let _guard = ledger.guard(index);
    stop.wait().await;
    goodbyes.send(index).await;
    ledger.cleaned_up.borrow_mut().push(index);
    Ok(index)
}

/// Ignores its signal and never finishes.
async fn stuck(index: usize, ledger: &Ledger) -> Result<usize, &'static str> {
    let _guard = ledger.guard(index);
    pending().await
}

#[test]
fn a_deadline_signals_the_children_and_the_one_that_ignores_it_is_dropped_when_the_grace_ends() {
    run_on_embassy(async {
        let ledger = Ledger::default();
        let stops: [StopSignal; 3] = core::array::from_fn(|_| Signal::new());
        let goodbyes = Channel::<NoopRawMutex, usize, 4>::new();
        let result = bounded(
            safe_gather::safe_gather!(
                polite(0, &stops[0], &goodbyes, &ledger),
                stuck(1, &ledger),
                polite(2, &stops[2], &goodbyes, &ledger),
            )
            .timeout_with(EmbassyTimer, Duration::from_millis(10))
            // The grace sleep comes from the gather's own timer: embassy's.
            .grace(SHORT_GRACE, || {
                for stop in &stops {
                    stop.signal(());
                }
            }),
        )
        .await;
        assert_eq!(
            result,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 3
            }),
            "counted when the deadline passed"
        );
        assert_eq!(ledger.cleaned_up(), [0, 2]);
        let mut said_goodbye: Vec<usize> =
            std::iter::from_fn(|| goodbyes.try_receive().ok()).collect();
        said_goodbye.sort_unstable();
        assert_eq!(said_goodbye, [0, 2]);
        assert_eq!(ledger.drops(3), [1; 3]);
        assert_eq!(
            ledger.last_dropped(),
            Some(1),
            "the child that ignored its signal was dropped at the end"
        );
    });
}
