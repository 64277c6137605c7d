//! Instruments for the checks: counters of drops, polls and wakes, and a
//! gate that a child waits on and another task opens.
//!
//! With them a check can say how much work a gather did: how many times
//! its children were polled for the wakes they were sent (the figure that
//! per-child wakers bring down to one), and whether every child it gave up
//! on was dropped.

use core::cell::RefCell;
use core::future::poll_fn;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;

/// A count of events, usable from a `static` and from interrupts.
#[derive(Debug)]
pub struct Counter(AtomicUsize);

impl Counter {
    /// Starts at zero.
    pub const fn new() -> Self {
        Counter(AtomicUsize::new(0))
    }

    /// Counts one more.
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// How many so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Back to zero, for the next check.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// Counts one on its counter when it is dropped.
///
/// Pass one to a child as an argument: an `async fn` keeps its arguments in
/// its future from the moment it is called, so the count goes up however the
/// child ends: finished, dropped while pending, or dropped before its first
/// poll.
#[derive(Debug)]
pub struct DropToken(&'static Counter);

impl DropToken {
    /// A token that counts on `drops`.
    pub fn new(drops: &'static Counter) -> Self {
        DropToken(drops)
    }
}

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.add();
    }
}

#[derive(Debug)]
struct GateState {
    open: bool,
    waiter: Option<Waker>,
}

/// A one-shot signal: a child waits until another task opens it.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<RefCell<GateState>>,
}

impl Gate {
    /// A closed gate.
    pub const fn new() -> Self {
        Gate {
            state: Mutex::new(RefCell::new(GateState {
                open: false,
                waiter: None,
            })),
        }
    }

    /// Closes the gate again and forgets its waiter, for the next check.
    pub fn reset(&self) {
        critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            state.open = false;
            state.waiter = None;
        });
    }

    /// Ready once the gate is open; until then keeps the waker of the last
    /// poll, to wake it when the gate opens.
    pub fn poll_open(&self, cx: &mut Context<'_>) -> Poll<()> {
        critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            if state.open {
                return Poll::Ready(());
            }
            match &mut state.waiter {
                Some(waiter) if waiter.will_wake(cx.waker()) => {}
                waiter => *waiter = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }

    /// Opens the gate and wakes its waiter, if one is waiting, counting that
    /// wake on `wakes`.
    pub fn open(&self, wakes: &Counter) {
        let waiter = critical_section::with(|cs| {
            let mut state = self.state.borrow_ref_mut(cs);
            state.open = true;
            state.waiter.take()
        });
        if let Some(waiter) = waiter {
            wakes.add();
            waiter.wake();
        }
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

/// A child that waits for `gate` and then returns `index`, counting every
/// poll it receives on `polls`. It never fails.
pub async fn gated_child(
    index: usize,
    gate: &'static Gate,
    polls: &'static Counter,
) -> Result<usize, core::convert::Infallible> {
    poll_fn(|cx| {
        polls.add();
        gate.poll_open(cx)
    })
    .await;
    Ok(index)
}
