//! Deterministic test children, wakers and timers: everything a test needs to
//! count polls, drops and wakes without sleeping or reading a clock.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use safe_gather::Timer;

/// What one child does when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Pending until opened with [`Board::open`].
    Wait,
    /// Ready at its first poll.
    Ready(Result<u32, u32>),
    /// Wakes itself and pends, every poll, forever.
    SelfWake,
    /// Panics when polled.
    Panic,
}

#[derive(Debug, Default)]
struct ChildState {
    plan: Option<Plan>,
    /// Set by `open`: what the next poll returns.
    outcome: Option<Result<u32, u32>>,
    polls: usize,
    /// Polls after the child returned `Ready`.
    polls_after_ready: usize,
    ready: bool,
    drops: usize,
    output_drops: usize,
    panic_on_drop: bool,
    waker: Option<Waker>,
    /// The child's address at its first poll: pinned children never move.
    address: Option<usize>,
    moved: bool,
}

/// A set of children whose every poll, drop and output drop is counted, and
/// which finish when the test says so.
#[derive(Clone, Debug, Default)]
pub struct Board {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    children: Vec<ChildState>,
    /// Ids of the children polled, in order.
    log: Vec<usize>,
}

impl std::ops::Deref for Inner {
    type Target = Vec<ChildState>;

    fn deref(&self) -> &Vec<ChildState> {
        &self.children
    }
}

impl std::ops::DerefMut for Inner {
    fn deref_mut(&mut self) -> &mut Vec<ChildState> {
        &mut self.children
    }
}

impl Board {
    pub fn new() -> Self {
        Board::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A child may panic on purpose while the test holds no lock, but a
        // poisoned lock must not hide the counts.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ids of the children polled so far, in order; clears the log.
    pub fn take_log(&self) -> Vec<usize> {
        std::mem::take(&mut self.lock().log)
    }

    /// A new child following `plan`; its id is its position on the board.
    pub fn child(&self, plan: Plan) -> Child {
        let mut children = self.lock();
        children.push(ChildState {
            plan: Some(plan),
            ..ChildState::default()
        });
        Child {
            board: self.clone(),
            id: children.len() - 1,
        }
    }

    /// `n` children that all follow `plan`.
    pub fn children(&self, n: usize, plan: Plan) -> Vec<Child> {
        (0..n).map(|_| self.child(plan)).collect()
    }

    /// Finishes waiting child `id` with `outcome`, and wakes it.
    pub fn open(&self, id: usize, outcome: Result<u32, u32>) {
        let waker = {
            let mut children = self.lock();
            children[id].outcome = Some(outcome);
            children[id].waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Sets child `id`'s outcome without waking it.
    pub fn set_quietly(&self, id: usize, outcome: Result<u32, u32>) {
        self.lock()[id].outcome = Some(outcome);
    }

    /// Wakes child `id` with the waker it last registered, keeping it.
    pub fn wake(&self, id: usize) {
        let waker = self.lock()[id].waker.clone();
        waker.expect("child has not registered a waker").wake();
    }

    /// The waker child `id` last registered.
    pub fn waker(&self, id: usize) -> Waker {
        self.lock()[id]
            .waker
            .clone()
            .expect("child has not registered a waker")
    }

    pub fn make_drop_panic(&self, id: usize) {
        self.lock()[id].panic_on_drop = true;
    }

    pub fn polls(&self, id: usize) -> usize {
        self.lock()[id].polls
    }

    pub fn drops(&self, id: usize) -> usize {
        self.lock()[id].drops
    }

    pub fn output_drops(&self, id: usize) -> usize {
        self.lock()[id].output_drops
    }

    /// Children polled at least once that have neither finished nor been
    /// dropped: the ones in flight.
    pub fn in_flight(&self) -> usize {
        self.lock()
            .iter()
            .filter(|child| child.polls > 0 && !child.ready && child.drops == 0)
            .count()
    }

    /// Whether child `id` is in flight (see [`Board::in_flight`]).
    pub fn in_flight_child(&self, id: usize) -> bool {
        let children = self.lock();
        let child = &children[id];
        child.polls > 0 && !child.ready && child.drops == 0
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn all_polls(&self) -> Vec<usize> {
        self.lock().iter().map(|child| child.polls).collect()
    }

    pub fn all_drops(&self) -> Vec<usize> {
        self.lock().iter().map(|child| child.drops).collect()
    }

    pub fn total_polls(&self) -> usize {
        self.lock().iter().map(|child| child.polls).sum()
    }

    /// Checks the invariants every test wants: no child polled after it
    /// finished, none moved after its first poll.
    pub fn assert_sound(&self) {
        for (id, child) in self.lock().iter().enumerate() {
            assert_eq!(
                child.polls_after_ready, 0,
                "child {id} was polled after it finished"
            );
            assert!(!child.moved, "child {id} moved after its first poll");
            assert!(child.drops <= 1, "child {id} dropped {} times", child.drops);
            assert!(
                child.output_drops <= 1,
                "child {id}'s output dropped {} times",
                child.output_drops
            );
        }
    }

    /// Every child dropped exactly once.
    pub fn assert_all_dropped(&self) {
        self.assert_sound();
        assert_eq!(
            self.all_drops(),
            vec![1; self.len()],
            "drop count per child"
        );
    }
}

/// A child future of a [`Board`].
#[derive(Debug)]
pub struct Child {
    board: Board,
    id: usize,
}

/// A child's value: counts its own drop on the board.
#[derive(Debug)]
pub struct Output {
    board: Board,
    pub id: usize,
    pub value: u32,
}

impl PartialEq for Output {
    fn eq(&self, other: &Output) -> bool {
        (self.id, self.value) == (other.id, other.value)
    }
}

impl PartialEq<u32> for Output {
    fn eq(&self, other: &u32) -> bool {
        self.value == *other
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.board.lock()[self.id].output_drops += 1;
    }
}

impl Future for Child {
    type Output = Result<Output, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let address = &*self as *const Child as usize;
        let mut children = self.board.lock();
        children.log.push(self.id);
        let state = &mut children[self.id];
        state.polls += 1;
        if state.ready {
            state.polls_after_ready += 1;
        }
        match state.address {
            None => state.address = Some(address),
            Some(first) if first != address => state.moved = true,
            Some(_) => {}
        }
        let outcome = match (state.plan.expect("plan"), state.outcome.take()) {
            (_, Some(outcome)) | (Plan::Ready(outcome), None) => outcome,
            (Plan::Wait, None) => {
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            (Plan::SelfWake, None) => {
                drop(children);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            (Plan::Panic, None) => {
                drop(children);
                panic!("child {} panics on purpose", self.id);
            }
        };
        state.ready = true;
        state.waker = None;
        drop(children);
        Poll::Ready(outcome.map(|value| Output {
            board: self.board.clone(),
            id: self.id,
            value,
        }))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let address = self as *const Child as usize;
        let panic = {
            let mut children = self.board.lock();
            let state = &mut children[self.id];
            state.drops += 1;
            // Pin's drop guarantee: a polled child is dropped where it was polled.
            if state.address.is_some_and(|first| first != address) {
                state.moved = true;
            }
            state.waker = None;
            state.panic_on_drop
        };
        if panic && !std::thread::panicking() {
            panic!("child {} panics in drop on purpose", self.id);
        }
    }
}

/// Values of a successful gather, as plain numbers.
pub fn values<'a>(outputs: impl IntoIterator<Item = &'a Output>) -> Vec<u32> {
    outputs.into_iter().map(|output| output.value).collect()
}

/// A waker that counts its wakes.
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The parent side of a hand-driven gather: a counting waker to poll with.
#[derive(Debug, Clone)]
pub struct Parent {
    counter: Arc<CountingWaker>,
    waker: Waker,
}

impl Default for Parent {
    fn default() -> Self {
        Parent::new()
    }
}

impl Parent {
    pub fn new() -> Self {
        let counter = Arc::new(CountingWaker::default());
        Parent {
            waker: Waker::from(counter.clone()),
            counter,
        }
    }

    /// Times the parent was woken.
    pub fn wakes(&self) -> usize {
        self.counter.wakes.load(Ordering::SeqCst)
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Clones of this parent's waker alive, besides its own.
    pub fn waker_clones(&self) -> usize {
        Arc::strong_count(&self.counter) - 2
    }

    /// Polls `future` once with this parent's waker.
    pub fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(&self.waker))
    }
}

/// Polls an `Unpin` future once with a waker that counts nothing.
pub fn poll_once<F: Future + Unpin + ?Sized>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

#[derive(Debug, Default)]
struct Clock {
    now: Duration,
    sleeps_made: usize,
    sleeps_dropped: usize,
    requested: Vec<Duration>,
    wakers: Vec<Waker>,
}

/// A timer on a virtual clock that moves only when the test says so.
#[derive(Debug, Clone, Default)]
pub struct ManualTimer {
    clock: Arc<Mutex<Clock>>,
}

impl ManualTimer {
    pub fn new() -> Self {
        ManualTimer::default()
    }

    /// Moves the clock on, waking sleeps that are now due.
    pub fn advance(&self, by: Duration) {
        let wakers = {
            let mut clock = self.clock.lock().unwrap();
            clock.now = clock.now.saturating_add(by);
            std::mem::take(&mut clock.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn sleeps_made(&self) -> usize {
        self.clock.lock().unwrap().sleeps_made
    }

    /// Sleeps made and not yet dropped.
    pub fn sleeps_alive(&self) -> usize {
        let clock = self.clock.lock().unwrap();
        clock.sleeps_made - clock.sleeps_dropped
    }

    pub fn requested(&self) -> Vec<Duration> {
        self.clock.lock().unwrap().requested.clone()
    }
}

impl Timer for ManualTimer {
    type Sleep = ManualSleep;

    fn sleep(&self, duration: Duration) -> ManualSleep {
        let mut clock = self.clock.lock().unwrap();
        clock.sleeps_made += 1;
        clock.requested.push(duration);
        // Saturating to "never", as the `Timer` contract asks.
        let due = clock.now.checked_add(duration);
        ManualSleep {
            clock: self.clock.clone(),
            due,
        }
    }
}

/// A sleep of a [`ManualTimer`].
#[derive(Debug)]
pub struct ManualSleep {
    clock: Arc<Mutex<Clock>>,
    due: Option<Duration>,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = self.clock.lock().unwrap();
        match self.due {
            Some(due) if clock.now >= due => Poll::Ready(()),
            _ => {
                clock.wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        self.clock.lock().unwrap().sleeps_dropped += 1;
    }
}

/// Runs `f` and returns its panic message, failing the test if it does not
/// panic.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(message) = payload.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        String::from("<non-string panic>")
    }
}

/// The largest duration that `now` can be moved forward by, to the
/// nanosecond: a binary search, since the limit depends on the platform's
/// clock.
pub fn largest_duration_after(now: std::time::Instant) -> Duration {
    let fits = |nanos: u128| {
        let seconds = u64::try_from(nanos / 1_000_000_000).expect("at most Duration::MAX");
        let duration = Duration::new(seconds, (nanos % 1_000_000_000) as u32);
        now.checked_add(duration).map(|_| duration)
    };
    let (mut fitting, mut overflowing) = (0u128, Duration::MAX.as_nanos() + 1);
    while overflowing - fitting > 1 {
        let middle = fitting + (overflowing - fitting) / 2;
        if fits(middle).is_some() {
            fitting = middle;
        } else {
            overflowing = middle;
        }
    }
    fits(fitting).expect("zero always fits")
}
