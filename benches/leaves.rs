//! Real leaf futures and two floors (issue 11): N children (8, 64, 1024,
//! 16384) of one of three leaf models, gathered and driven to completion on
//! the harness's executor (which polls only when woken), completed by the
//! benchmark in a trickle: one child per executor turn, in a fixed shuffled
//! order. Timed: one whole gather, from making it to dropping its output.
//!
//! ```text
//! cargo bench --bench leaves -- --instructions   # instructions per gather under callgrind (deterministic)
//! cargo bench --bench leaves                     # heap counted once each, then criterion's times
//! SAFE_GATHER_BENCH_QUICK=1 cargo bench --bench leaves   # the same, with short measurements
//! cargo bench --bench leaves -- --heap           # only the heap, counted once each
//! cargo bench --bench leaves -- --report-times   # the time tables again, from criterion's last medians
//! ```
//!
//! Each mode prints Markdown tables, with every contender's ratio to the
//! fastest peer and to both floors, and writes them (and JSON) to
//! `target/safe-gather-bench/leaves*.{md,json}`.
//!
//! The leaf models, one table each:
//!
//! * `oneshot`: `futures::channel::oneshot::Receiver<u32>`, its `Canceled`
//!   mapped to `()`. The benchmark keeps the `Sender`s and completes a child
//!   by sending its index.
//! * `rc_refcell`: an I/O-style leaf, its state (value, waker) behind an
//!   `Rc<RefCell<..>>` shared with the benchmark (the "reactor"); the leaf
//!   keeps its waker and clones a new one only when `will_wake` says it
//!   changed; completing a child sets its value and wakes the waker taken
//!   out of the state.
//! * `sleep`: a timer sleep on a hand-made manual clock: child `i` is due at
//!   tick `rank(i) + 1` (its place in the shuffled order), and completing a
//!   child is `clock.advance(1)`, which wakes the sleepers due then. Not
//!   safe-gather's `ManualTimer`: its sleeps live in one `Vec` behind a spin
//!   lock that `poll`, `advance` and `drop` each search from the start, and
//!   `advance` collects the due wakers into a fresh `Vec`, so a trickle of
//!   16384 sleeps costs it O(N²) and the table would measure the test timer,
//!   not the gathers. This clock is a wheel of one-tick slots: O(1) a sleep.
//!
//! The contenders: `safe_gather(vec)`, futures' `try_join_all` and
//! `join_all` (its `Vec<Result<..>>` checked as it is), a `FuturesUnordered`
//! of index-tagged children drained with `?` and put back in order,
//! futures-buffered's `try_join_all`, futures-concurrency's `TryJoin` on a
//! `Vec`; and two floors:
//!
//! * `floor:noop` (the no-op-waker floor): the benchmark polls every child
//!   once with `futures::task::noop_waker_ref()`, then after completing each
//!   child polls that child, and no other, keeping the outputs in order. No
//!   executor, no waking: what polling the leaves costs.
//! * `floor:wakers` (the real-waker floor): a gather on the executor with
//!   one waker per child (one `Arc` each, made before the timed region, as
//!   the harness's `floor` does) whose wake sets the child's bit in a
//!   two-level atomic bitmap (one `fetch_or`, a second only when its word
//!   was empty), then, if no wake has since the last poll, wakes the parent
//!   (one `swap`, then a spin-locked `wake_by_ref` of the registered
//!   parent waker, which is replaced only when `will_wake` says it
//!   changed). A poll clears the note, then takes the woken words with one
//!   `swap` each and polls their children in index order. Sound with wakes
//!   from any thread; the fewest atomics a per-child-waker design needs
//!   here. Unlike safe-gather it cuts the corners the harness's `floor`
//!   does (no dropping of the other children on an error, no budget, no
//!   guard against a child that panics).
//!
//! Outside the timed region: making the leaves and their senders, states or
//! clock, the executor, and the waker floor's wakers; dropping the senders'
//! side (the states, the clock) afterwards. Inside: making the gather,
//! every executor turn (completing one child, then polling the gather if it
//! was woken), checking the output (a branch-free pass over it, the same for
//! every contender) and dropping it.
//!
//! Peak heap counts the most bytes live at once inside the timed region.
//! For `oneshot`, each finished child frees its channel (allocated before
//! the region) inside it, which lowers the live count; the `rc_refcell` and
//! `sleep` leaves free nothing of their own there, so their peak is exactly
//! each contender's own memory and outputs. (Every contender's peak comes at
//! its first poll, before any child finishes, so `oneshot`'s equal
//! `rc_refcell`'s.)

mod harness;

use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion};
use futures::channel::oneshot;
use futures_concurrency::future::TryJoin as _;
use safe_gather::safe_gather;

use harness::callgrind::{instructions_per_iteration, profile_path, valgrind_version};
use harness::{
    count_allocations, on_a_fresh_thread, quick_run, results_dir, shuffled, write_result,
    Allocations, CountingAllocator, Executor, SIZES,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const BENCH: &str = "leaves";
/// Callgrind collects inside [`timed`] only.
const TOGGLE: &str = "*leaves::timed*";

// ---------------------------------------------------------------------------
// Leaf models

/// A kind of leaf future, and how the benchmark completes one.
trait Model {
    const NAME: &'static str;
    /// What the leaf is, in a few words (Markdown).
    const WHAT: &'static str;
    type Leaf: Future<Output = Result<u32, ()>> + Unpin;
    /// The benchmark's side of the leaves: what completes them.
    type Driver;

    /// `order.len()` leaves, in index order, child `i` resolving to `Ok(i)`;
    /// `order` is the order they will be completed in.
    fn make(order: &[usize]) -> (Vec<Self::Leaf>, Self::Driver);

    /// Completes child `index` (the next one in the order) and wakes it.
    fn complete(driver: &mut Self::Driver, index: usize);
}

/// A oneshot receiver, its `Canceled` mapped to `()`.
struct OneshotLeaf(oneshot::Receiver<u32>);

impl Future for OneshotLeaf {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, ()>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|received| received.map_err(|_canceled| ()))
    }
}

struct Oneshot;

impl Model for Oneshot {
    const NAME: &'static str = "oneshot";
    const WHAT: &'static str =
        "`futures::channel::oneshot::Receiver<u32>` mapped to `Result<u32, ()>`; the benchmark sends";
    type Leaf = OneshotLeaf;
    type Driver = Vec<Option<oneshot::Sender<u32>>>;

    fn make(order: &[usize]) -> (Vec<OneshotLeaf>, Self::Driver) {
        (0..order.len())
            .map(|_| {
                let (sender, receiver) = oneshot::channel();
                (OneshotLeaf(receiver), Some(sender))
            })
            .unzip()
    }

    fn complete(senders: &mut Self::Driver, index: usize) {
        let sender = senders[index].take().expect("each child completes once");
        sender.send(index as u32).expect("the child is still there");
    }
}

/// What an I/O leaf and its reactor share.
#[derive(Default)]
struct IoState {
    value: Option<u32>,
    waker: Option<Waker>,
}

/// An I/O-style leaf: state behind `Rc<RefCell<..>>`, the waker kept and
/// cloned again only when it changed.
struct IoLeaf {
    state: Rc<RefCell<IoState>>,
}

impl Future for IoLeaf {
    type Output = Result<u32, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, ()>> {
        let mut state = self.state.borrow_mut();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        match &state.waker {
            Some(kept) if kept.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

struct RcRefCell;

impl Model for RcRefCell {
    const NAME: &'static str = "rc_refcell";
    const WHAT: &'static str = "state behind `Rc<RefCell<..>>`, waker re-cloned only when `will_wake` says it changed; the benchmark sets the value and wakes";
    type Leaf = IoLeaf;
    type Driver = Vec<Rc<RefCell<IoState>>>;

    fn make(order: &[usize]) -> (Vec<IoLeaf>, Self::Driver) {
        (0..order.len())
            .map(|_| {
                let state = Rc::new(RefCell::new(IoState::default()));
                let leaf = IoLeaf {
                    state: Rc::clone(&state),
                };
                (leaf, state)
            })
            .unzip()
    }

    fn complete(states: &mut Self::Driver, index: usize) {
        let waker = {
            let mut state = states[index].borrow_mut();
            state.value = Some(index as u32);
            state.waker.take()
        };
        // A reactor wakes outside its own borrow, and lets the waker go.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A manual clock: a wheel of one-tick slots, slot `t - 1` holding the
/// waker of the sleep due at tick `t` (every sleep here has a tick of its
/// own).
struct ManualClock {
    now: Cell<u32>,
    sleepers: RefCell<Vec<Option<Waker>>>,
}

impl ManualClock {
    /// Moves the clock one tick on and wakes the sleep due then.
    fn advance(&self) {
        let now = self.now.get() + 1;
        self.now.set(now);
        let due = self.sleepers.borrow_mut()[now as usize - 1].take();
        if let Some(waker) = due {
            waker.wake();
        }
    }
}

/// A sleep until tick `due` of a [`ManualClock`], then `Ok(index)`.
struct Sleep {
    clock: Rc<ManualClock>,
    due: u32,
    index: u32,
}

impl Future for Sleep {
    type Output = Result<u32, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, ()>> {
        if self.clock.now.get() >= self.due {
            return Poll::Ready(Ok(self.index));
        }
        let mut sleepers = self.clock.sleepers.borrow_mut();
        let slot = &mut sleepers[self.due as usize - 1];
        match slot {
            Some(kept) if kept.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // A sleep dropped before it is due takes its waker off the wheel.
        let waker = self.clock.sleepers.borrow_mut()[self.due as usize - 1].take();
        drop(waker);
    }
}

struct Sleeps;

impl Model for Sleeps {
    const NAME: &'static str = "sleep";
    const WHAT: &'static str = "a sleep on a manual clock (a wheel of one-tick slots), child `i` due at its turn; the benchmark advances the clock one tick";
    type Leaf = Sleep;
    type Driver = Rc<ManualClock>;

    fn make(order: &[usize]) -> (Vec<Sleep>, Rc<ManualClock>) {
        let n = order.len();
        let clock = Rc::new(ManualClock {
            now: Cell::new(0),
            sleepers: RefCell::new((0..n).map(|_| None).collect()),
        });
        let mut due = vec![0; n];
        for (rank, &index) in order.iter().enumerate() {
            due[index] = rank as u32 + 1;
        }
        let sleeps = (0..n)
            .map(|index| Sleep {
                clock: Rc::clone(&clock),
                due: due[index],
                index: index as u32,
            })
            .collect();
        (sleeps, clock)
    }

    fn complete(clock: &mut Rc<ManualClock>, _index: usize) {
        clock.advance();
    }
}

// ---------------------------------------------------------------------------
// The real-waker floor

/// Which children were woken since the gather's last poll: one bit per
/// child, and one summary bit per word of them.
struct WokenSet {
    words: Box<[AtomicU64]>,
    summary: Box<[AtomicU64]>,
    /// Set by the first wake since the last poll: a burst of wakes costs
    /// one parent wake.
    notified: AtomicBool,
    parent: ParentCell,
}

impl WokenSet {
    fn new(n: usize) -> Self {
        let words = n.div_ceil(64);
        WokenSet {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            summary: (0..words.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            notified: AtomicBool::new(false),
            parent: ParentCell::default(),
        }
    }

    fn wake(&self, index: usize) {
        let word = index / 64;
        let before = self.words[word].fetch_or(1 << (index % 64), Ordering::AcqRel);
        if before == 0 {
            // A word with bits set has its summary bit set, or is about to
            // be taken whole by the poll that cleared it.
            self.summary[word / 64].fetch_or(1 << (word % 64), Ordering::AcqRel);
        }
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.parent.wake();
        }
    }
}

/// The parent's waker: read by wakers under a spin lock, replaced by the
/// poller (under the lock) only when `will_wake` says it changed.
#[derive(Default)]
struct ParentCell {
    locked: AtomicBool,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: `waker` is written only by the poller while it holds `locked`,
// and read by wakers only while they hold it (the poller also reads it
// without the lock, but it is the only writer), so no access races.
unsafe impl Sync for ParentCell {}

impl ParentCell {
    fn lock(&self) {
        while self.locked.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }

    /// Called by the gather's poller only.
    fn register(&self, new: &Waker) {
        // SAFETY: only the poller writes `waker`, and this is the poller.
        let same = unsafe { &*self.waker.get() }
            .as_ref()
            .is_some_and(|kept| kept.will_wake(new));
        if same {
            return;
        }
        self.lock();
        // SAFETY: the lock is held, so no waker reads `waker` now.
        let old = unsafe { (*self.waker.get()).replace(new.clone()) };
        self.locked.store(false, Ordering::Release);
        drop(old);
    }

    fn wake(&self) {
        self.lock();
        // SAFETY: the lock is held, so the poller does not write `waker`.
        if let Some(waker) = unsafe { &*self.waker.get() } {
            waker.wake_by_ref();
        }
        self.locked.store(false, Ordering::Release);
    }
}

struct ChildWake {
    index: usize,
    set: Arc<WokenSet>,
}

impl Wake for ChildWake {
    fn wake(self: Arc<Self>) {
        self.set.wake(self.index);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set.wake(self.index);
    }
}

/// The waker floor's wakers, made before the timed region.
struct FloorWakers {
    set: Arc<WokenSet>,
    child_wakers: Vec<Waker>,
}

impl FloorWakers {
    fn new(n: usize) -> Self {
        let set = Arc::new(WokenSet::new(n));
        let child_wakers = (0..n)
            .map(|index| {
                Waker::from(Arc::new(ChildWake {
                    index,
                    set: Arc::clone(&set),
                }))
            })
            .collect();
        FloorWakers { set, child_wakers }
    }
}

/// Polls `slot`'s child if it still runs, keeping its value; its error if it
/// failed. Shared by both floors.
fn poll_slot<F: Future<Output = Result<u32, ()>> + Unpin>(
    slot: &mut Option<F>,
    value: &mut u32,
    remaining: &mut usize,
    cx: &mut Context<'_>,
) -> Result<(), ()> {
    let Some(child) = slot else {
        return Ok(());
    };
    match Pin::new(child).poll(cx) {
        Poll::Pending => Ok(()),
        Poll::Ready(Ok(output)) => {
            *value = output;
            *slot = None;
            *remaining -= 1;
            Ok(())
        }
        Poll::Ready(Err(error)) => Err(error),
    }
}

/// The real-waker floor's gather.
struct WakerFloor<'k, F> {
    children: Vec<Option<F>>,
    values: Vec<u32>,
    remaining: usize,
    started: bool,
    wakers: &'k FloorWakers,
}

impl<F: Future<Output = Result<u32, ()>> + Unpin> WakerFloor<'_, F> {
    fn poll_child(&mut self, index: usize) -> Result<(), ()> {
        let mut cx = Context::from_waker(&self.wakers.child_wakers[index]);
        poll_slot(
            &mut self.children[index],
            &mut self.values[index],
            &mut self.remaining,
            &mut cx,
        )
    }

    fn poll_woken(&mut self) -> Result<(), ()> {
        if !self.started {
            self.started = true;
            return (0..self.children.len()).try_for_each(|index| self.poll_child(index));
        }
        let set = &*self.wakers.set;
        set.notified.store(false, Ordering::SeqCst);
        for (at, summary) in set.summary.iter().enumerate() {
            if summary.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut words = summary.swap(0, Ordering::AcqRel);
            while words != 0 {
                let word = at * 64 + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut bits = set.words[word].swap(0, Ordering::AcqRel);
                while bits != 0 {
                    let index = word * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    self.poll_child(index)?;
                }
            }
        }
        Ok(())
    }
}

impl<F: Future<Output = Result<u32, ()>> + Unpin> Future for WakerFloor<'_, F> {
    type Output = Result<Vec<u32>, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.wakers.set.parent.register(cx.waker());
        this.poll_woken()?;
        if this.remaining == 0 {
            return Poll::Ready(Ok(std::mem::take(&mut this.values)));
        }
        Poll::Pending
    }
}

fn waker_floor<F: Future<Output = Result<u32, ()>> + Unpin>(
    leaves: Vec<F>,
    wakers: &FloorWakers,
) -> WakerFloor<'_, F> {
    let n = leaves.len();
    WakerFloor {
        // `Option<F>` has `F`'s layout for these leaves: the buffer is reused.
        children: leaves.into_iter().map(Some).collect(),
        values: vec![0; n],
        remaining: n,
        started: false,
        wakers,
    }
}

// ---------------------------------------------------------------------------
// The no-op-waker floor and the peers

/// Every child polled once with a no-op waker, then, after each completion,
/// only the completed child: no executor and no wake.
fn noop_floor<M: Model>(
    leaves: Vec<M::Leaf>,
    driver: &mut M::Driver,
    order: &[usize],
) -> Result<Vec<u32>, ()> {
    let n = leaves.len();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut children: Vec<Option<M::Leaf>> = leaves.into_iter().map(Some).collect();
    let mut values = vec![0; n];
    let mut remaining = n;
    for (slot, value) in children.iter_mut().zip(&mut values) {
        poll_slot(slot, value, &mut remaining, &mut cx)?;
    }
    for &index in order {
        M::complete(driver, index);
        poll_slot(
            &mut children[index],
            &mut values[index],
            &mut remaining,
            &mut cx,
        )?;
    }
    assert_eq!(remaining, 0, "every child finished");
    Ok(values)
}

// ---------------------------------------------------------------------------
// The timed region

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    SafeGather,
    TryJoinAll,
    JoinAll,
    Unordered,
    FbTryJoinAll,
    FcTryJoin,
    NoopFloor,
    WakerFloor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Subject,
    Peer,
    Floor,
}

impl Contender {
    const ALL: [Contender; 8] = [
        Contender::SafeGather,
        Contender::TryJoinAll,
        Contender::JoinAll,
        Contender::Unordered,
        Contender::FbTryJoinAll,
        Contender::FcTryJoin,
        Contender::NoopFloor,
        Contender::WakerFloor,
    ];

    fn name(self) -> &'static str {
        match self {
            Contender::SafeGather => "safe_gather",
            Contender::TryJoinAll => "try_join_all",
            Contender::JoinAll => "join_all",
            Contender::Unordered => "FuturesUnordered",
            Contender::FbTryJoinAll => "fb::try_join_all",
            Contender::FcTryJoin => "fc::TryJoin",
            Contender::NoopFloor => "floor:noop",
            Contender::WakerFloor => "floor:wakers",
        }
    }

    fn role(self) -> Role {
        match self {
            Contender::SafeGather => Role::Subject,
            Contender::NoopFloor | Contender::WakerFloor => Role::Floor,
            _ => Role::Peer,
        }
    }

    fn from_name(name: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Whether `values` are `0..n` in order: a branch-free pass, the same
/// cost for every contender.
fn in_order(values: &[u32], n: usize) -> bool {
    values.len() == n
        && values
            .iter()
            .zip(0u32..)
            .fold(0, |diff, (&value, index)| diff | (value ^ index))
            == 0
}

fn ok_in_order(output: &Result<Vec<u32>, impl Sized>, n: usize) -> bool {
    matches!(output, Ok(values) if in_order(values, n))
}

/// Plays the trickle against a gather on the executor: a first poll, then
/// one child completed per turn, the gather polled if it was woken.
fn drive<M: Model, F: Future>(
    executor: &mut Executor,
    driver: &mut M::Driver,
    order: &[usize],
    gather: F,
) -> F::Output {
    let mut gather = pin!(gather);
    if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
        return output;
    }
    for &index in order {
        M::complete(driver, index);
        if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
            return output;
        }
    }
    panic!("the gather did not resolve");
}

/// One whole gather: made, driven through the trickle, its output checked
/// and dropped. Whether the output was right.
#[inline(never)]
fn timed<M: Model>(
    contender: Contender,
    leaves: Vec<M::Leaf>,
    driver: &mut M::Driver,
    order: &[usize],
    executor: &mut Executor,
    wakers: Option<&FloorWakers>,
) -> bool {
    let n = leaves.len();
    match contender {
        Contender::SafeGather => {
            let output = drive::<M, _>(executor, driver, order, safe_gather(leaves));
            ok_in_order(&output, n)
        }
        Contender::TryJoinAll => {
            let gather = futures::future::try_join_all(leaves);
            ok_in_order(&drive::<M, _>(executor, driver, order, gather), n)
        }
        Contender::JoinAll => {
            let gather = futures::future::join_all(leaves);
            let outcomes = drive::<M, _>(executor, driver, order, gather);
            outcomes.len() == n
                && outcomes
                    .iter()
                    .zip(0u32..)
                    .fold(0, |diff, (outcome, index)| {
                        diff | outcome.map_or(1, |value| value ^ index)
                    })
                    == 0
        }
        Contender::Unordered => {
            let gather = harness::contenders::collect_unordered(leaves);
            ok_in_order(&drive::<M, _>(executor, driver, order, gather), n)
        }
        Contender::FbTryJoinAll => {
            let gather = futures_buffered::try_join_all(leaves);
            ok_in_order(&drive::<M, _>(executor, driver, order, gather), n)
        }
        Contender::FcTryJoin => {
            let gather = leaves.try_join();
            ok_in_order(&drive::<M, _>(executor, driver, order, gather), n)
        }
        Contender::NoopFloor => ok_in_order(&noop_floor::<M>(leaves, driver, order), n),
        Contender::WakerFloor => {
            let wakers = wakers.expect("the waker floor's wakers");
            let gather = waker_floor(leaves, wakers);
            ok_in_order(&drive::<M, _>(executor, driver, order, gather), n)
        }
    }
}

/// Everything one gather needs, made before the timed region; what is left
/// of it afterwards is dropped outside it.
struct Setup<M: Model> {
    leaves: Vec<M::Leaf>,
    rest: Rest<M>,
}

struct Rest<M: Model> {
    driver: M::Driver,
    executor: Executor,
    wakers: Option<FloorWakers>,
}

fn setup<M: Model>(contender: Contender, order: &[usize]) -> Setup<M> {
    let (leaves, driver) = M::make(order);
    Setup {
        leaves,
        rest: Rest {
            driver,
            executor: Executor::new(),
            wakers: (contender == Contender::WakerFloor).then(|| FloorWakers::new(order.len())),
        },
    }
}

/// Runs one set-up gather through [`timed`]; whether it was right, and what
/// is left to drop.
fn run<M: Model>(contender: Contender, order: &[usize], setup: Setup<M>) -> (bool, Rest<M>) {
    let Setup { leaves, mut rest } = setup;
    let correct = timed::<M>(
        contender,
        leaves,
        &mut rest.driver,
        order,
        &mut rest.executor,
        rest.wakers.as_ref(),
    );
    (correct, rest)
}

// ---------------------------------------------------------------------------
// Modes

/// Something to do with each model, whatever its type.
trait Visit {
    fn visit<M: Model>(&mut self);
}

fn each_model(visitor: &mut impl Visit) {
    visitor.visit::<Oneshot>();
    visitor.visit::<RcRefCell>();
    visitor.visit::<Sleeps>();
}

/// `model/contender/n`, as `--run` takes it.
fn id(model: &str, contender: Contender, n: usize) -> String {
    format!("{model}/{}/{n}", contender.name())
}

/// Runs of one gather under callgrind: enough that one-off costs (the
/// allocator's first growth) are spread thin.
fn callgrind_iterations(n: usize) -> u32 {
    if n >= 16384 {
        2
    } else {
        10
    }
}

/// A contender's measured number per N.
type Row = (Contender, Vec<f64>);

/// One measured number per model, contender and N.
struct Table {
    /// `(model, what, rows)`.
    models: Vec<(&'static str, &'static str, Vec<Row>)>,
}

impl Table {
    fn new() -> Self {
        Table { models: Vec::new() }
    }

    fn value(&self, model: &str, contender: Contender, column: usize) -> f64 {
        self.models
            .iter()
            .find(|(name, _, _)| *name == model)
            .and_then(|(_, _, rows)| rows.iter().find(|(c, _)| *c == contender))
            .map_or(f64::NAN, |(_, values)| values[column])
    }

    /// Markdown: per model, the values and, per N, the ratio to the best
    /// peer and to each floor.
    fn markdown(&self, what: &str, unit: &str, format: impl Fn(f64) -> String) -> String {
        let mut out = String::new();
        for (model, model_what, rows) in &self.models {
            let _ = writeln!(out, "#### {what}: `{model}` ({model_what})\n");
            let mut header = String::from("| contender |");
            let mut rule = String::from("|---|");
            for n in SIZES {
                let _ = write!(header, " {unit}, N = {n} | ÷ peer · ÷ noop · ÷ wakers |");
                rule.push_str("---:|---:|");
            }
            let _ = writeln!(out, "{header}\n{rule}");
            for (contender, values) in rows {
                let mut line = format!("| `{}` |", contender.name());
                for (column, &value) in values.iter().enumerate() {
                    let best_peer = rows
                        .iter()
                        .filter(|(c, _)| c.role() == Role::Peer)
                        .map(|(_, v)| v[column])
                        .fold(f64::INFINITY, f64::min);
                    let noop = self.value(model, Contender::NoopFloor, column);
                    let wakers = self.value(model, Contender::WakerFloor, column);
                    let _ = write!(
                        line,
                        " {} | {} · {} · {} |",
                        format(value),
                        ratio(value, best_peer),
                        ratio(value, noop),
                        ratio(value, wakers)
                    );
                }
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
        out
    }

    /// Markdown: `safe_gather`'s ratios alone, one row per model.
    fn summary(&self, what: &str) -> String {
        let mut out = format!(
            "#### {what}: `safe_gather` ÷ the fastest peer (named) · ÷ `floor:noop` · ÷ `floor:wakers`\n\n| model |"
        );
        for n in SIZES {
            let _ = write!(out, " N = {n} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(SIZES.len()));
        out.push('\n');
        for (model, _, rows) in &self.models {
            let _ = write!(out, "| `{model}` |");
            for column in 0..SIZES.len() {
                let value = self.value(model, Contender::SafeGather, column);
                let (best, best_value) = rows
                    .iter()
                    .filter(|(c, _)| c.role() == Role::Peer)
                    .map(|(c, v)| (c.name(), v[column]))
                    .fold(("–", f64::INFINITY), |best, peer| {
                        if peer.1 < best.1 {
                            peer
                        } else {
                            best
                        }
                    });
                let _ = write!(
                    out,
                    " {} (`{best}`) · {} · {} |",
                    ratio(value, best_value),
                    ratio(value, self.value(model, Contender::NoopFloor, column)),
                    ratio(value, self.value(model, Contender::WakerFloor, column))
                );
            }
            out.push('\n');
        }
        out.push('\n');
        out
    }

    fn json(&self) -> String {
        let mut rows = Vec::new();
        for (model, _, entries) in &self.models {
            for (contender, values) in entries {
                for (n, value) in SIZES.iter().zip(values) {
                    rows.push(format!(
                        "    \"{}\": {value}",
                        id(model, *contender, *n).replace('"', "")
                    ));
                }
            }
        }
        format!("{{\n{}\n}}\n", rows.join(",\n"))
    }
}

fn ratio(value: f64, to: f64) -> String {
    if to > 0.0 && to.is_finite() && value.is_finite() {
        format!("{:.2}×", value / to)
    } else {
        "–".to_string()
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Runs `measure` for every model, contender and N.
struct Collect<F: FnMut(&'static str, Contender, &[usize]) -> f64> {
    measure: F,
    table: Table,
}

impl<F: FnMut(&'static str, Contender, &[usize]) -> f64> Visit for Collect<F> {
    fn visit<M: Model>(&mut self) {
        let orders: Vec<Vec<usize>> = SIZES.iter().map(|&n| shuffled(n)).collect();
        let rows = Contender::ALL
            .into_iter()
            .map(|contender| {
                let values = orders
                    .iter()
                    .map(|order| (self.measure)(M::NAME, contender, order))
                    .collect();
                (contender, values)
            })
            .collect();
        self.table.models.push((M::NAME, M::WHAT, rows));
    }
}

/// Runs one contender once (with its heap counted), by model name.
struct CountOne<'a> {
    model: &'a str,
    contender: Contender,
    order: &'a [usize],
    counted: Option<Allocations>,
}

impl Visit for CountOne<'_> {
    fn visit<M: Model>(&mut self) {
        if M::NAME != self.model {
            return;
        }
        let (contender, order) = (self.contender, self.order);
        // Cold: on a thread with no spare wake block (`on_a_fresh_thread`).
        let (correct, allocations) = on_a_fresh_thread(|| {
            let setup = setup::<M>(contender, order);
            let ((correct, rest), allocations) =
                count_allocations(|| run::<M>(contender, order, setup));
            drop(rest);
            (correct, allocations)
        });
        assert!(
            correct,
            "{}: wrong output",
            id(self.model, self.contender, self.order.len())
        );
        self.counted = Some(allocations);
    }
}

fn counted(model: &str, contender: Contender, order: &[usize]) -> Allocations {
    let mut one = CountOne {
        model,
        contender,
        order,
        counted: None,
    };
    each_model(&mut one);
    one.counted.expect("a model of that name")
}

/// `--run model/contender/n iterations`: what callgrind runs.
struct RunOne<'a> {
    model: &'a str,
    contender: Contender,
    order: &'a [usize],
    iterations: u32,
    found: bool,
}

impl Visit for RunOne<'_> {
    fn visit<M: Model>(&mut self) {
        if M::NAME != self.model {
            return;
        }
        self.found = true;
        for _ in 0..self.iterations {
            let setup = setup::<M>(self.contender, self.order);
            let (correct, rest) = run::<M>(self.contender, self.order, setup);
            assert!(correct, "wrong output");
            black_box(rest);
        }
    }
}

fn run_mode(id: &str, iterations: u32) {
    let mut parts = id.split('/');
    let usage = "--run <model>/<contender>/<n> <iterations>";
    let model = parts.next().expect(usage);
    let contender = parts.next().and_then(Contender::from_name).expect(usage);
    let n: usize = parts.next().and_then(|n| n.parse().ok()).expect(usage);
    let order = shuffled(n);
    let mut one = RunOne {
        model,
        contender,
        order: &order,
        iterations,
        found: false,
    };
    each_model(&mut one);
    assert!(one.found, "no model {model}");
}

fn instructions_mode() {
    let valgrind = valgrind_version().unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1);
    });
    println!("{BENCH}: instructions per gather under callgrind ({valgrind})\n");
    let mut collect = Collect {
        measure: |model: &'static str, contender: Contender, order: &[usize]| {
            let n = order.len();
            let id = id(model, contender, n);
            match instructions_per_iteration(BENCH, TOGGLE, &id, callgrind_iterations(n)) {
                Ok(count) => {
                    eprintln!("{id}: {count}");
                    count as f64
                }
                Err(error) => {
                    eprintln!("{error}");
                    std::process::exit(1);
                }
            }
        },
        table: Table::new(),
    };
    each_model(&mut collect);
    let table = collect.table;
    let mut markdown = table.summary("Instructions per gather");
    markdown.push_str(&table.markdown("Instructions per gather", "instructions", thousands));
    println!("{markdown}");
    println!(
        "profiles in {} (callgrind_annotate <file>)",
        profile_path(BENCH, "x").parent().unwrap().display()
    );
    write_result("leaves-instructions.md", &markdown);
    write_result("leaves-instructions.json", &table.json());
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(
        || {
            results_dir()
                .parent()
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("criterion")
        },
        PathBuf::from,
    )
}

/// Criterion's median (in ns) of `group/function/n`, if written since
/// `since`.
fn median(group: &str, function: &str, n: usize, since: SystemTime) -> Option<f64> {
    let safe = |name: &str| name.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_");
    let path = criterion_dir()
        .join(safe(group))
        .join(safe(function))
        .join(n.to_string())
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.find("\"median\"")?..];
    let after = &after[after.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = after.find([',', '}'])?;
    after[..end].trim().parse().ok()
}

struct Criterions<'a> {
    criterion: &'a mut Criterion,
}

impl Visit for Criterions<'_> {
    fn visit<M: Model>(&mut self) {
        let quick = quick_run();
        let mut group = self
            .criterion
            .benchmark_group(format!("{BENCH}_{}", M::NAME));
        if quick {
            group
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1))
                .sample_size(10);
        }
        for n in SIZES {
            let order = shuffled(n);
            let size = if n <= 64 {
                BatchSize::SmallInput
            } else {
                BatchSize::LargeInput
            };
            for contender in Contender::ALL {
                group.bench_function(BenchmarkId::new(contender.name(), n), |bencher| {
                    bencher.iter_batched(
                        || setup::<M>(contender, &order),
                        |setup| run::<M>(contender, &order, setup),
                        size,
                    )
                });
            }
        }
        group.finish();
    }
}

/// The heap tables: every contender counted once (deterministic).
fn heap_markdown() -> String {
    // Peak, then allocations (deterministic): peak, then allocations.
    let mut peaks = Collect {
        measure: |model: &'static str, contender: Contender, order: &[usize]| {
            counted(model, contender, order).peak as f64
        },
        table: Table::new(),
    };
    each_model(&mut peaks);
    let mut counts = Collect {
        measure: |model: &'static str, contender: Contender, order: &[usize]| {
            counted(model, contender, order).count as f64
        },
        table: Table::new(),
    };
    each_model(&mut counts);
    let mut markdown = peaks.table.summary("Peak heap");
    markdown.push_str(&counts.table.summary("Allocations"));
    markdown.push_str(
        &peaks
            .table
            .markdown("Peak heap in the timed region", "bytes", thousands),
    );
    markdown.push_str(&counts.table.markdown(
        "Allocations in the timed region",
        "allocations",
        thousands,
    ));
    markdown
}

/// The time tables, from criterion's medians written since `since`.
fn time_markdown(since: SystemTime) -> String {
    let mut times = Collect {
        measure: |model: &'static str, contender: Contender, order: &[usize]| {
            let group = format!("{BENCH}_{model}");
            median(&group, contender.name(), order.len(), since).map_or(f64::NAN, |ns| ns / 1000.0)
        },
        table: Table::new(),
    };
    each_model(&mut times);
    let mut markdown = times.table.summary("Median time per gather");
    markdown += &times.table.markdown("Median time per gather", "µs", |us| {
        if us.is_finite() {
            format!("{us:.2}")
        } else {
            "–".into()
        }
    });
    write_result("leaves-times.json", &times.table.json());
    markdown
}

fn bench_mode() {
    let mut markdown = heap_markdown();
    println!("{markdown}");

    // Criterion's times.
    let since = SystemTime::now();
    let mut criterion = Criterion::default().without_plots().configure_from_args();
    each_model(&mut Criterions {
        criterion: &mut criterion,
    });
    criterion.final_summary();
    let time_markdown = time_markdown(since);
    println!("{time_markdown}");
    markdown.push_str(&time_markdown);
    write_result("leaves.md", &markdown);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--run") {
        let usage = "--run <model>/<contender>/<n> <iterations>";
        let id = args.get(at + 1).expect(usage);
        let iterations = args.get(at + 2).and_then(|i| i.parse().ok()).expect(usage);
        run_mode(id, iterations);
    } else if args.iter().any(|arg| arg == "--instructions") {
        instructions_mode();
    } else if args.iter().any(|arg| arg == "--report-times") {
        let markdown = time_markdown(SystemTime::UNIX_EPOCH);
        println!("{markdown}");
        write_result("leaves-times.md", &markdown);
    } else if args.iter().any(|arg| arg == "--heap") {
        let markdown = heap_markdown();
        println!("{markdown}");
        write_result("leaves-heap.md", &markdown);
    } else {
        bench_mode();
    }
}
