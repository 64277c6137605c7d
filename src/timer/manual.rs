//! [`ManualTimer`]: a clock that moves only when a test moves it (feature
//! `test-util`).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::Timer;
use crate::waker::lock::SpinLock;

/// A [`Timer`] for tests: its clock starts at zero and moves only when the
/// test calls [`advance`](ManualTimer::advance), so a test can make a gather
/// time out, or finish just before its deadline, without sleeping and
/// whatever the speed of the machine.
///
/// Clones share one clock: keep one in the test and give a clone, or a
/// reference (`&ManualTimer` is a [`Timer`] too), to the gather and to the
/// code under test. Write that code over `impl Timer`, and it takes a real
/// timer (see [`timer`](crate::timer)) in production and this one in tests.
///
/// A sleep of `d` made at clock time `t` completes at the first poll once
/// the clock has reached `t + d` (at once for `Duration::ZERO`); a `t + d`
/// past `Duration::MAX` never comes, as the [`Timer`] contract asks.
/// [`advance`](ManualTimer::advance) wakes exactly the sleeps that became
/// due, after it has moved the clock. The counts
/// ([`sleeps_made`](ManualTimer::sleeps_made),
/// [`sleeps_alive`](ManualTimer::sleeps_alive),
/// [`next_deadline`](ManualTimer::next_deadline)) let a test check that a
/// gather asked for its deadline and let go of it.
///
/// `no_std`: it needs `alloc`, not `std`. `Send` and `Sync`, so a test may
/// advance it from another thread; its state sits behind a small spin lock
/// held for a few instructions at a time, never while a waker runs.
///
/// # Examples
///
/// Testing timeouts without waiting: `fetch` is the code under test, which
/// sleeps on whatever timer it is given.
///
/// ```
/// use std::pin::pin;
/// use std::time::Duration;
///
/// use futures::poll;
/// use safe_gather::{safe_gather, GatherError, ManualTimer, Timer};
///
/// async fn fetch(timer: &impl Timer, seconds: u64) -> Result<u64, String> {
///     timer.sleep(Duration::from_secs(seconds)).await;
///     Ok(seconds)
/// }
///
/// # futures::executor::block_on(async {
/// let timer = ManualTimer::new();
/// let deadline = Duration::from_secs(5);
///
/// // Fetches of 1 s and 2 s finish before a 5 s deadline.
/// let mut gather = pin!(safe_gather([fetch(&timer, 1), fetch(&timer, 2)]).timeout_with(&timer, deadline));
/// assert!(poll!(gather.as_mut()).is_pending()); // the first poll starts them, and the deadline
/// timer.advance(Duration::from_secs(2));
/// assert_eq!(gather.await, Ok(vec![1, 2]));
///
/// // A fetch of 10 s does not: at 5 s the gather gives up on it.
/// let mut gather = pin!(safe_gather([fetch(&timer, 1), fetch(&timer, 10)]).timeout_with(&timer, deadline));
/// assert!(poll!(gather.as_mut()).is_pending());
/// timer.advance(Duration::from_secs(4));
/// assert!(poll!(gather.as_mut()).is_pending()); // 4 s: not yet
/// timer.advance(Duration::from_secs(1));
/// assert_eq!(gather.await, Err(GatherError::TimedOut { completed: 1, pending: 1 }));
///
/// // The gather dropped the cut-off fetch and its own deadline.
/// assert_eq!(timer.now(), Duration::from_secs(7));
/// assert_eq!((timer.sleeps_made(), timer.sleeps_alive()), (6, 0));
/// # });
/// ```
#[doc(alias("MockTimer", "FakeTimer", "TestTimer", "test_util"))]
#[derive(Clone, Default)]
pub struct ManualTimer {
    clock: Arc<SpinLock<Clock>>,
}

/// The state every clone of a [`ManualTimer`] and every sleep shares.
#[derive(Default)]
struct Clock {
    now: Duration,
    sleeps_made: usize,
    /// One entry per live sleep, in the order they were made.
    sleeps: Vec<SleepEntry>,
}

struct SleepEntry {
    id: usize,
    /// `None`: never due.
    due: Option<Duration>,
    /// The waker of its last pending poll, until an advance wakes it.
    waker: Option<Waker>,
}

impl Clock {
    fn entry(&mut self, id: usize) -> &mut SleepEntry {
        self.sleeps
            .iter_mut()
            .find(|entry| entry.id == id)
            .expect("a live sleep has an entry")
    }
}

impl ManualTimer {
    /// A timer whose clock reads zero and moves only by
    /// [`advance`](ManualTimer::advance).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::ManualTimer;
    ///
    /// assert_eq!(ManualTimer::new().now(), Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        ManualTimer::default()
    }

    /// The time on this clock: the sum of every
    /// [`advance`](ManualTimer::advance) so far, on any clone (at most
    /// `Duration::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::ManualTimer;
    ///
    /// let timer = ManualTimer::new();
    /// let handle = timer.clone();
    /// handle.advance(Duration::from_millis(1500));
    /// assert_eq!(timer.now(), Duration::from_millis(1500));
    /// ```
    pub fn now(&self) -> Duration {
        self.clock.lock().now
    }

    /// Moves the clock forward by `duration` (stopping at `Duration::MAX`),
    /// then wakes, in the order they were made, the sleeps that are due now
    /// and were polled since they last woke. It wakes nothing else, and runs
    /// no task: the woken gathers see the new time at their next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::Duration;
    ///
    /// use futures::poll;
    /// use safe_gather::{ManualTimer, Timer};
    ///
    /// # futures::executor::block_on(async {
    /// let timer = ManualTimer::new();
    /// let mut sleep = pin!(timer.sleep(Duration::from_secs(3)));
    /// assert!(poll!(sleep.as_mut()).is_pending());
    /// timer.advance(Duration::from_secs(2));
    /// assert!(poll!(sleep.as_mut()).is_pending());
    /// timer.advance(Duration::from_secs(1));
    /// assert!(poll!(sleep.as_mut()).is_ready());
    /// # });
    /// ```
    pub fn advance(&self, duration: Duration) {
        let due_wakers: Vec<Waker> = {
            let mut clock = self.clock.lock();
            clock.now = clock.now.saturating_add(duration);
            let now = clock.now;
            clock
                .sleeps
                .iter_mut()
                .filter(|entry| entry.due.is_some_and(|due| due <= now))
                .filter_map(|entry| entry.waker.take())
                .collect()
        };
        // Outside the lock: a waker may do anything, polling a sleep of
        // this clock included.
        due_wakers.into_iter().for_each(Waker::wake);
    }

    /// How many sleeps this clock has made, on any clone: one per gather
    /// with a deadline that has been polled, plus any your code made.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{safe_gather, ManualTimer};
    ///
    /// # futures::executor::block_on(async {
    /// let timer = ManualTimer::new();
    /// let gather = safe_gather([async { Ok::<_, ()>(1) }]).timeout_with(&timer, Duration::from_secs(1));
    /// assert_eq!(timer.sleeps_made(), 0); // the deadline starts at the first poll
    /// assert_eq!(gather.await, Ok(vec![1]));
    /// assert_eq!(timer.sleeps_made(), 1);
    /// # });
    /// ```
    pub fn sleeps_made(&self) -> usize {
        self.clock.lock().sleeps_made
    }

    /// How many sleeps of this clock exist now (made and not dropped),
    /// whether they are due or not: zero once every gather has resolved or
    /// been dropped shows that they let go of their deadlines.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use safe_gather::{ManualTimer, Timer};
    ///
    /// let timer = ManualTimer::new();
    /// let sleep = timer.sleep(Duration::from_secs(1));
    /// assert_eq!(timer.sleeps_alive(), 1);
    /// drop(sleep);
    /// assert_eq!(timer.sleeps_alive(), 0);
    /// ```
    pub fn sleeps_alive(&self) -> usize {
        self.clock.lock().sleeps.len()
    }

    /// The earliest time, on this clock, at which a sleep that exists now
    /// becomes due, if one is not due yet: how far a test must
    /// [`advance`](ManualTimer::advance) for something to happen, and a
    /// check of the deadline a gather asked for. Sleeps that are never due
    /// do not count.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::time::Duration;
    ///
    /// use futures::poll;
    /// use safe_gather::{safe_gather, ManualTimer};
    ///
    /// # futures::executor::block_on(async {
    /// let timer = ManualTimer::new();
    /// timer.advance(Duration::from_secs(10));
    /// let stuck = futures::future::pending::<Result<(), ()>>();
    /// let mut gather = pin!(safe_gather([stuck]).timeout_with(&timer, Duration::from_secs(30)));
    /// assert_eq!(timer.next_deadline(), None);
    /// assert!(poll!(gather.as_mut()).is_pending());
    /// assert_eq!(timer.next_deadline(), Some(Duration::from_secs(40)));
    /// # });
    /// ```
    pub fn next_deadline(&self) -> Option<Duration> {
        let clock = self.clock.lock();
        clock
            .sleeps
            .iter()
            .filter_map(|entry| entry.due)
            .filter(|&due| due > clock.now)
            .min()
    }
}

impl Timer for ManualTimer {
    type Sleep = ManualSleep;

    fn sleep(&self, duration: Duration) -> ManualSleep {
        let mut clock = self.clock.lock();
        let id = clock.sleeps_made;
        clock.sleeps_made += 1;
        let due = clock.now.checked_add(duration);
        clock.sleeps.push(SleepEntry {
            id,
            due,
            waker: None,
        });
        ManualSleep {
            clock: Arc::clone(&self.clock),
            id,
        }
    }
}

impl fmt::Debug for ManualTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (now, sleeps_made, sleeps_alive) = {
            let clock = self.clock.lock();
            (clock.now, clock.sleeps_made, clock.sleeps.len())
        };
        f.debug_struct("ManualTimer")
            .field("now", &now)
            .field("sleeps_made", &sleeps_made)
            .field("sleeps_alive", &sleeps_alive)
            .finish()
    }
}

/// The sleep of a [`ManualTimer`]: completes at its first poll once the
/// timer's clock has reached its deadline, or never for a deadline past
/// `Duration::MAX`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use safe_gather::{ManualTimer, Timer};
///
/// # futures::executor::block_on(async {
/// let timer = ManualTimer::new();
/// let sleep = timer.sleep(Duration::from_secs(60));
/// timer.advance(Duration::from_secs(60));
/// sleep.await; // due: completes without waiting
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ManualSleep {
    clock: Arc<SpinLock<Clock>>,
    id: usize,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Cloned, and the wakers not kept dropped, outside the lock: waker
        // code never runs while it is held.
        let fresh = cx.waker().clone();
        let (due, not_kept) = {
            let mut clock = self.clock.lock();
            let now = clock.now;
            let entry = clock.entry(self.id);
            let due = entry.due.is_some_and(|due| due <= now);
            let same_waker = matches!(&entry.waker, Some(kept) if kept.will_wake(&fresh));
            if due {
                (true, [Some(fresh), entry.waker.take()])
            } else if same_waker {
                (false, [Some(fresh), None])
            } else {
                (false, [entry.waker.replace(fresh), None])
            }
        };
        drop(not_kept);
        if due {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        let entry = {
            let mut clock = self.clock.lock();
            let index = clock.sleeps.iter().position(|entry| entry.id == self.id);
            index.map(|index| clock.sleeps.remove(index))
        };
        // Its waker, if any, is dropped here, outside the lock.
        drop(entry);
    }
}

impl fmt::Debug for ManualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let due = self.clock.lock().entry(self.id).due;
        f.debug_struct("ManualSleep").field("due", &due).finish()
    }
}
