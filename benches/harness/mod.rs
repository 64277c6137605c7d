//! The benchmark harness shared by `benches/gather.rs` (times),
//! `benches/counters.rs` (the counters table) and `benches/tests/counters.rs`
//! (the counters as assertions): children that pend until the benchmark
//! opens them, a single-threaded counting executor, a deadline the benchmark
//! fires by hand, a counting allocator (allocations, bytes and peak live
//! heap), and the five scenarios of SPEC §6; and for the benches of bounded
//! concurrency, self-waking jobs (`jobs.rs`) and instruction counts from
//! callgrind (`callgrind.rs`).
//!
//! Everything here is deterministic: no clock, no thread, no randomness but a
//! fixed-seed xorshift. So a scenario costs every implementation exactly the
//! same child work, and the counters are the same on every run and machine.
//!
//! The bench and test binaries each use a different part of this module.
#![allow(dead_code)]

pub mod callgrind;
pub mod contenders;
pub mod jobs;
pub mod suite;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

pub use contenders::{Contender, Verdict};

/// Set to `1` for a smoke run of the timing benches: short warm-up and
/// measurement (and, for `gather`, N up to 1024).
pub const QUICK_VAR: &str = "SAFE_GATHER_BENCH_QUICK";

/// Whether [`QUICK_VAR`] asks for a smoke run.
pub fn quick_run() -> bool {
    std::env::var(QUICK_VAR).is_ok_and(|value| !value.is_empty() && value != "0")
}

/// Where the bench binaries leave what `scripts/bench_report.py` reads
/// besides criterion's own output: `$CARGO_TARGET_DIR/safe-gather-bench`,
/// or the workspace's `target/safe-gather-bench`, where criterion writes too.
/// Cargo runs benches from this crate's folder (`benches/`), so a relative
/// `target` would land in `benches/target`, where the report never looks.
pub fn results_dir() -> PathBuf {
    let workspace_target = || {
        let benches = Path::new(env!("CARGO_MANIFEST_DIR"));
        benches.parent().unwrap_or(benches).join("target")
    };
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(workspace_target, PathBuf::from)
        .join("safe-gather-bench")
}

/// Writes `contents` to `name` in [`results_dir`]; says where, or why not.
pub fn write_result(name: &str, contents: &str) {
    let path = results_dir().join(name);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, contents));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => eprintln!("could not write {}: {error}", path.display()),
    }
}

/// The child counts of SPEC §6.
pub const SIZES: [usize; 4] = [8, 64, 1024, 16384];

/// The number of children of the heterogeneous tuple scenarios.
pub const TUPLE_LEN: usize = 3;

/// What happens to the children between the gather's first poll and its
/// resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every child is ready at its first poll.
    Ready,
    /// Every child pends once, then they are opened one at a time in a
    /// fixed pseudo-random order; the executor polls the gather after each
    /// opening, if it was woken.
    Trickle,
    /// Every child pends once, then all are opened at once, and the gather
    /// is polled.
    Burst,
    /// Every child pends once, then child `n / 2` fails. A gather that does
    /// not fail fast (`join_all`) is then let finish: the rest are opened at
    /// once.
    FailMid,
    /// Every child pends once, then the deadline fires.
    Timeout,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Ready,
        Scenario::Trickle,
        Scenario::Burst,
        Scenario::FailMid,
        Scenario::Timeout,
    ];

    /// The name used in criterion ids and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ready => "ready",
            Scenario::Trickle => "trickle",
            Scenario::Burst => "burst",
            Scenario::FailMid => "fail_mid",
            Scenario::Timeout => "timeout",
        }
    }

    /// The child that fails in this scenario, among `n`.
    pub fn failing_child(self, n: usize) -> Option<usize> {
        (self == Scenario::FailMid).then_some(n / 2)
    }

    /// What a correct gather of `n` children resolves to in this scenario.
    pub fn expected_verdict(self, n: usize) -> Verdict {
        match self {
            Scenario::Ready | Scenario::Trickle | Scenario::Burst => {
                Verdict::Completed((0..n as u64).collect())
            }
            Scenario::FailMid => Verdict::Failed(n as u64 / 2),
            Scenario::Timeout => Verdict::TimedOut,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fixed pseudo-random permutation of `0..n`: Fisher–Yates driven by a
/// xorshift64 seeded from `n`, so every run wakes the children in the same
/// order without a `rand` dependency.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ n as u64;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// The shared state of one trial's children: which are open, the waker each
/// last registered, and counts of their polls and drops.
///
/// Single-threaded (`Cell`s behind an `Rc`), because the benchmark runs on one
/// thread and a `Mutex` here would cost every implementation more than the
/// gathers themselves do.
pub struct Board {
    /// Every child is ready at its first poll (the ready scenario).
    ready_at_once: bool,
    /// The child that fails when opened, if any.
    failing: Option<usize>,
    opened: Box<[Cell<bool>]>,
    wakers: Box<[Cell<Option<Waker>>]>,
    child_polls: Cell<u64>,
    child_drops: Cell<u64>,
}

impl Board {
    pub fn new(n: usize, ready_at_once: bool, failing: Option<usize>) -> Rc<Board> {
        Rc::new(Board {
            ready_at_once,
            failing,
            opened: (0..n).map(|_| Cell::new(false)).collect(),
            wakers: (0..n).map(|_| Cell::new(None)).collect(),
            child_polls: Cell::new(0),
            child_drops: Cell::new(0),
        })
    }

    /// Child futures, one per slot of the board, in index order.
    pub fn children(self: &Rc<Board>) -> Vec<Child> {
        (0..self.len()).map(|index| self.child(index)).collect()
    }

    /// The child of slot `index`, resolving to its index as a `T`.
    pub fn child<T>(self: &Rc<Board>, index: usize) -> Child<T> {
        Child {
            board: Rc::clone(self),
            index,
            output: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.opened.len()
    }

    /// Lets child `index` finish, and wakes it if it is waiting, as a reactor
    /// would when its event arrives.
    pub fn open(&self, index: usize) {
        self.opened[index].set(true);
        if let Some(waker) = self.wakers[index].take() {
            waker.wake();
        }
    }

    pub fn child_polls(&self) -> u64 {
        self.child_polls.get()
    }

    /// Children not yet dropped.
    pub fn children_alive(&self) -> usize {
        self.len() - self.child_drops.get() as usize
    }
}

/// A child future: pending until its slot on the [`Board`] is opened, then
/// ready with its own index (converted to `T`, so that tuples can mix
/// types), or failing with its index if it is the board's failing child.
pub struct Child<T = u32> {
    board: Rc<Board>,
    index: usize,
    output: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Child<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("index", &self.index).finish()
    }
}

impl<T: From<u32>> Future for Child<T> {
    type Output = Result<T, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, u32>> {
        let board = &*self.board;
        board.child_polls.set(board.child_polls.get() + 1);
        if board.ready_at_once || board.opened[self.index].get() {
            let value = self.index as u32;
            return Poll::Ready(if board.failing == Some(self.index) {
                Err(value)
            } else {
                Ok(T::from(value))
            });
        }
        // Keep the latest waker, as a leaf future must, without cloning again
        // when the one it has already wakes the same task.
        let slot = &board.wakers[self.index];
        let waker = match slot.take() {
            Some(kept) if kept.will_wake(cx.waker()) => kept,
            _ => cx.waker().clone(),
        };
        slot.set(Some(waker));
        Poll::Pending
    }
}

impl<T> Drop for Child<T> {
    fn drop(&mut self) {
        let board = &*self.board;
        board.child_drops.set(board.child_drops.get() + 1);
        // A dropped child no longer wants its wake.
        drop(board.wakers[self.index].take());
    }
}

/// A deadline the benchmark fires by hand: a `Future<Output = ()>` that
/// pends until [`Alarm::fire`], like a timer's sleep whose instant has come.
#[derive(Clone, Default)]
pub struct Alarm {
    state: Rc<AlarmState>,
}

#[derive(Default)]
struct AlarmState {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Alarm {
    pub fn fire(&self) {
        self.state.fired.set(true);
        if let Some(waker) = self.state.waker.take() {
            waker.wake();
        }
    }
}

impl Future for Alarm {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.fired.get() {
            return Poll::Ready(());
        }
        let waker = match self.state.waker.take() {
            Some(kept) if kept.will_wake(cx.waker()) => kept,
            _ => cx.waker().clone(),
        };
        self.state.waker.set(Some(waker));
        Poll::Pending
    }
}

/// The executor's side of the top-level waker: a "scheduled" flag and a
/// count of wakes.
#[derive(Debug)]
struct Schedule {
    woken: AtomicBool,
    wakes: AtomicU64,
}

impl Wake for Schedule {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // One thread only: the counts need atomicity for `Waker`'s `Sync`
        // bound, not ordering.
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.woken.store(true, Ordering::Relaxed);
    }
}

/// A single-threaded executor for one future, which, like a real executor,
/// polls it only when it was woken since its last poll (or never polled), and
/// counts those polls and wakes.
#[derive(Debug)]
pub struct Executor {
    schedule: Arc<Schedule>,
    waker: Waker,
    polls: u64,
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl Executor {
    pub fn new() -> Self {
        let schedule = Arc::new(Schedule {
            // A freshly spawned task is scheduled.
            woken: AtomicBool::new(true),
            wakes: AtomicU64::new(0),
        });
        Executor {
            waker: Waker::from(Arc::clone(&schedule)),
            schedule,
            polls: 0,
        }
    }

    /// Polls `future` for as long as it keeps being woken; its output if it
    /// resolved. A future that wakes itself (to yield) is polled again.
    pub fn run_until_stalled<F: Future + ?Sized>(
        &mut self,
        mut future: Pin<&mut F>,
    ) -> Option<F::Output> {
        while self.schedule.woken.swap(false, Ordering::Relaxed) {
            self.polls += 1;
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&self.waker))
            {
                return Some(output);
            }
        }
        None
    }

    /// Polls of the top-level future.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Wakes of the top-level future's waker (every call, not only the ones
    /// that scheduled a poll).
    pub fn wakes(&self) -> u64 {
        self.schedule.wakes.load(Ordering::Relaxed)
    }
}

/// Everything one run of a scenario needs, built before the timed region.
pub struct Trial<C: Contender> {
    pub scenario: Scenario,
    pub board: Rc<Board>,
    /// The order in which children are opened (trickle, burst, and the rest
    /// after a failure).
    pub order: Rc<[usize]>,
    pub alarm: Alarm,
    pub executor: Executor,
    /// The children, in whatever form the contender takes them.
    pub input: C::Input,
    /// What the contender made ahead and lends its gather.
    pub kept: C::Kept,
}

impl<C: Contender> Trial<C> {
    /// A trial of `scenario` with `order.len()` children.
    pub fn new(scenario: Scenario, order: Rc<[usize]>) -> Self {
        let n = order.len();
        let board = Board::new(n, scenario == Scenario::Ready, scenario.failing_child(n));
        let (input, kept) = C::prepare(&board);
        Trial {
            scenario,
            board,
            order,
            alarm: Alarm::default(),
            executor: Executor::new(),
            input,
            kept,
        }
    }
}

/// How a trial ended: the gather's output and what is left to inspect. It is
/// returned out of the timed region so that dropping it is not timed.
pub struct Finished<C: Contender> {
    pub output: Output<C>,
    /// Children not yet dropped at the moment the gather resolved.
    pub children_alive_at_resolution: usize,
    pub board: Rc<Board>,
    pub executor: Executor,
    pub kept: C::Kept,
}

/// A gather's output: plain, or from the deadline variant.
pub enum Output<C: Contender> {
    Plain(C::Output),
    Timed(C::TimedOutput),
}

impl<C: Contender> Finished<C> {
    pub fn verdict(&self) -> Verdict {
        match &self.output {
            Output::Plain(output) => C::verdict(output),
            Output::Timed(output) => C::timed_verdict(output),
        }
    }
}

/// Runs one trial: builds the gather (timed: making it is part of its cost),
/// drives the scenario to resolution, and drops the gather (also timed: a
/// gather that defers dropping its children pays for it here).
pub fn run<C: Contender>(trial: Trial<C>) -> Finished<C> {
    let Trial {
        scenario,
        board,
        order,
        alarm,
        mut executor,
        input,
        kept,
    } = trial;
    let (output, children_alive_at_resolution) = if scenario == Scenario::Timeout {
        let gather = pin!(C::gather_until(input, &kept, alarm.clone()));
        let (output, alive) = drive(scenario, &board, &order, &alarm, &mut executor, gather);
        (Output::Timed(output), alive)
    } else {
        let gather = pin!(C::gather(input, &kept));
        let (output, alive) = drive(scenario, &board, &order, &alarm, &mut executor, gather);
        (Output::Plain(output), alive)
    };
    Finished {
        output,
        children_alive_at_resolution,
        board,
        executor,
        kept,
    }
}

/// Plays `scenario` against a pinned gather until it resolves; returns its
/// output and how many children were still alive when it did.
fn drive<F: Future>(
    scenario: Scenario,
    board: &Board,
    order: &[usize],
    alarm: &Alarm,
    executor: &mut Executor,
    mut gather: Pin<&mut F>,
) -> (F::Output, usize) {
    let resolved = |output| (output, board.children_alive());
    if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
        return resolved(output);
    }
    match scenario {
        Scenario::Ready => {}
        Scenario::Trickle => {
            for &index in order {
                board.open(index);
                if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
                    return resolved(output);
                }
            }
        }
        Scenario::Burst => {
            for &index in order {
                board.open(index);
            }
            if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
                return resolved(output);
            }
        }
        Scenario::FailMid => {
            let failing = board.len() / 2;
            board.open(failing);
            if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
                return resolved(output);
            }
            for &index in order.iter().filter(|&&index| index != failing) {
                board.open(index);
            }
            if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
                return resolved(output);
            }
        }
        Scenario::Timeout => {
            alarm.fire();
            if let Some(output) = executor.run_until_stalled(gather.as_mut()) {
                return resolved(output);
            }
        }
    }
    panic!(
        "{scenario} with {} children: the gather did not resolve",
        board.len()
    );
}

/// Heap allocations counted on one thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocations {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc` (a `realloc` may move,
    /// so it counts as an allocation).
    pub count: u64,
    /// Bytes asked for by those calls.
    pub bytes: u64,
    /// The most bytes live at once: allocated inside the count and not yet
    /// freed, at any moment of it (a `realloc` counts as its new size in
    /// place of its old one). Memory from before the count that is freed
    /// inside it lowers the figure, so a measured run should make its input
    /// inside the count, or take an input that holds no heap.
    pub peak: u64,
}

/// Bytes live (allocated minus freed) since the count began, and the most
/// there have been; signed, since the count may free memory from before it.
#[derive(Debug, Clone, Copy)]
struct Live {
    now: i64,
    peak: i64,
}

thread_local! {
    /// Whether allocations on this thread are being counted. Thread-local so
    /// that other threads (the test harness's, criterion's) never count.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNTED: Cell<Allocations> =
        const { Cell::new(Allocations { count: 0, bytes: 0, peak: 0 }) };
    static LIVE: Cell<Live> = const { Cell::new(Live { now: 0, peak: 0 }) };
}

/// A global allocator that forwards to the system allocator and counts the
/// allocations of the current thread inside [`count_allocations`]. A binary
/// opts in with `#[global_allocator] static A: CountingAllocator = CountingAllocator;`.
#[derive(Debug)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// An allocation of `bytes` (`freed` of them replacing an old block, for
    /// a `realloc`).
    fn note(bytes: usize, freed: usize) {
        // `try_with`: allocations can happen while a thread's locals are being
        // torn down. These locals are `const`-initialised without a
        // destructor, so reading them never allocates.
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                COUNTED.with(|counted| {
                    let so_far = counted.get();
                    counted.set(Allocations {
                        count: so_far.count + 1,
                        bytes: so_far.bytes + bytes as u64,
                        ..so_far
                    });
                });
                CountingAllocator::live_change(bytes as i64 - freed as i64);
            }
        });
    }

    /// A block of `bytes` freed.
    fn note_free(bytes: usize) {
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                CountingAllocator::live_change(-(bytes as i64));
            }
        });
    }

    fn live_change(delta: i64) {
        LIVE.with(|live| {
            let mut now = live.get();
            now.now += delta;
            now.peak = now.peak.max(now.now);
            live.set(now);
        });
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; counting touches no heap memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CountingAllocator::note(layout.size(), 0);
        // SAFETY: forwarded with the caller's layout, per `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        CountingAllocator::note(layout.size(), 0);
        // SAFETY: forwarded with the caller's layout, per `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CountingAllocator::note(new_size, layout.size());
        // SAFETY: `ptr` was allocated by `System` (every allocation goes
        // through this forwarder) with `layout`, per the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CountingAllocator::note_free(layout.size());
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f`, counting the heap allocations it makes on this thread (only if
/// the binary installed [`CountingAllocator`]; zero otherwise).
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, Allocations) {
    COUNTED.with(|counted| counted.set(Allocations::default()));
    LIVE.with(|live| live.set(Live { now: 0, peak: 0 }));
    COUNTING.with(|counting| counting.set(true));
    let result = f();
    COUNTING.with(|counting| counting.set(false));
    let peak = LIVE.with(|live| live.get().peak);
    let counted = COUNTED.with(Cell::get);
    (
        result,
        Allocations {
            peak: peak.max(0) as u64,
            ..counted
        },
    )
}

/// Runs `f` on a thread of its own, which has run no gather before: so
/// that a count made inside it is the cold one. (A thread keeps the last
/// small wake block a gather freed on it, for its next gather; counted on a
/// thread that has one, a gather would allocate one block fewer, and its
/// peak would leave out the block it still uses.)
pub fn on_a_fresh_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The deterministic cost of one gather in one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub child_polls: u64,
    pub gather_polls: u64,
    pub gather_wakes: u64,
    pub allocations: u64,
    pub bytes: u64,
    pub children_alive_at_resolution: usize,
    pub verdict: Verdict,
}

/// Runs one trial of contender `C` and counts what it cost. The allocation
/// count covers making the gather, every poll, and dropping the gather; not
/// making the children, nor dropping the output.
/// Counted on a fresh thread (see [`on_a_fresh_thread`]).
pub fn measure<C: Contender>(scenario: Scenario, order: Rc<[usize]>) -> Counters {
    let order: Vec<usize> = order.to_vec();
    on_a_fresh_thread(move || measure_here::<C>(scenario, order.into()))
}

fn measure_here<C: Contender>(scenario: Scenario, order: Rc<[usize]>) -> Counters {
    let trial = Trial::<C>::new(scenario, order);
    let (finished, allocations) = count_allocations(|| run::<C>(trial));
    Counters {
        child_polls: finished.board.child_polls(),
        gather_polls: finished.executor.polls(),
        gather_wakes: finished.executor.wakes(),
        allocations: allocations.count,
        bytes: allocations.bytes,
        children_alive_at_resolution: finished.children_alive_at_resolution,
        verdict: finished.verdict(),
    }
}
