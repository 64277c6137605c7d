//! The checks CI runs on QEMU's `lm3s6965evb` (`scripts/qemu-test`):
//! safe-gather without `alloc`, on embassy's thread executor, with
//! `EmbassyTimer` and children that sleep on embassy's timer, driven by the
//! SysTick interrupt.
//!
//! Each check prints one line over semihosting, `ok` or `FAIL`, with what it
//! saw; the last line counts them, and the exit status is 0 only if every
//! check passed. A panic prints itself and exits 1; a hang is the script's
//! timeout.
//!
//! Times are embassy's clock (1 ms ticks). Under `scripts/qemu-test` that
//! clock is QEMU's instruction-counted virtual time, so runs are repeatable
//! and the bounds below hold on a loaded machine too.

#![no_std]
#![no_main]

use core::convert::Infallible;
use core::fmt;
use core::future::{pending, poll_fn, Future};
use core::ops::RangeInclusive;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use cortex_m_semihosting::hprintln;
use embassy_executor::Spawner;
use embassy_time::{Instant, Timer};
use safe_gather::heapless;
use safe_gather::safe_gather_heapless;
use safe_gather::{
    safe_gather, safe_gather_array, ChildWakers, EmbassyTimer, GatherError, SlotError,
};
use safe_gather_firmware::board;
use safe_gather_firmware::probe::{gated_child, Counter, DropToken, Gate};

type Fault = &'static str;

static PASSED: Counter = Counter::new();
static FAILED: Counter = Counter::new();

/// Children dropped, whether they finished or not (each child holds a
/// [`DropToken`] on it).
static DROPPED: Counter = Counter::new();
/// Children that ran to their end.
static FINISHED: Counter = Counter::new();

/// Prints one check's line and counts it.
fn verdict(name: &str, passed: bool, saw: fmt::Arguments<'_>) {
    let (mark, counter) = if passed {
        ("ok  ", &PASSED)
    } else {
        ("FAIL", &FAILED)
    };
    counter.add();
    hprintln!("{} {}: {}", mark, name, saw);
}

fn ms_since(start: Instant) -> u64 {
    start.elapsed().as_millis()
}

/// Counters back to zero before a check.
fn fresh() {
    DROPPED.reset();
    FINISHED.reset();
}

/// A child: after `ms` on embassy's timer, `outcome`.
async fn sensor<T>(ms: u64, outcome: Result<T, Fault>, _token: DropToken) -> Result<T, Fault> {
    Timer::after_millis(ms).await;
    FINISHED.add();
    outcome
}

/// A child that never finishes.
async fn stuck<T>(_token: DropToken) -> Result<T, Fault> {
    pending().await
}

fn token() -> DropToken {
    DropToken::new(&DROPPED)
}

async fn tuple_with_a_timeout_that_passes() {
    fresh();
    let start = Instant::now();
    let outcome = safe_gather!(
        sensor(5, Ok(21_u16), token()),
        sensor(10, Ok("ready"), token()),
        sensor(15, Ok(true), token()),
    )
    .timeout_with(EmbassyTimer, Duration::from_millis(100))
    .await;
    let took = ms_since(start);
    verdict(
        "safe_gather! of 3, 100 ms timeout, children of 5/10/15 ms",
        outcome == Ok((21, "ready", true)) && (15..20).contains(&took) && DROPPED.get() == 3,
        format_args!("{outcome:?} after {took} ms"),
    );
}

async fn tuple_with_a_timeout_that_fires() {
    fresh();
    let start = Instant::now();
    let mut gather = pin!(safe_gather!(
        sensor(5, Ok(21_u16), token()),
        sensor(10, Ok("ready"), token()),
        stuck::<bool>(token()),
    )
    .timeout_with(EmbassyTimer, Duration::from_millis(30)));
    let outcome = gather.as_mut().await;
    let took = ms_since(start);
    // Counted while the gather still exists: it dropped the stuck child
    // itself, in the poll that timed out.
    let dropped = DROPPED.get();
    verdict(
        "safe_gather! of 3, 30 ms timeout, one child stuck",
        outcome
            == Err(GatherError::TimedOut {
                completed: 2,
                pending: 1,
            })
            && (30..35).contains(&took)
            && dropped == 3,
        format_args!("{outcome:?} after {took} ms, {dropped} of 3 children dropped on return"),
    );
}

async fn array_fails_fast_and_drops_siblings() {
    fresh();
    let start = Instant::now();
    // Children 3 and 4 fail in the same tick: the lower index wins. The
    // others would answer after a second, or fail later.
    let mut gather = pin!(safe_gather_array([
        sensor(1000, Ok(0_u32), token()),
        sensor(20, Err("late failure"), token()),
        sensor(1000, Ok(2), token()),
        sensor(10, Err("unplugged"), token()),
        sensor(10, Err("also unplugged"), token()),
        sensor(1000, Ok(5), token()),
    ]));
    let outcome = gather.as_mut().await;
    let took = ms_since(start);
    // Counted while the gather still exists: the siblings were dropped in
    // the poll that returned the error, not when the gather went away.
    let (dropped, finished) = (DROPPED.get(), FINISHED.get());
    verdict(
        "safe_gather_array of 6, children 3 and 4 fail at 10 ms",
        outcome
            == Err(GatherError::Failed {
                index: 3,
                error: "unplugged",
            })
            && (10..15).contains(&took)
            && dropped == 6
            && finished <= 2,
        format_args!(
            "{outcome:?} after {took} ms, {dropped} of 6 dropped on return \
             ({} unfinished)",
            dropped - finished
        ),
    );
}

async fn settled_array_cut_off_at_a_deadline() {
    fresh();
    let start = Instant::now();
    let deadline = start + embassy_time::Duration::from_millis(40);
    let mut gather = pin!(safe_gather_array([
        sensor(5, Ok(50_u32), token()),
        sensor(10, Err("overheated"), token()),
        sensor(200, Ok(7), token()),
    ])
    .settled()
    .deadline(Timer::at(deadline)));
    let outcomes = gather.as_mut().await;
    let took = ms_since(start);
    // The cut-off child was dropped by the gather, which still exists.
    let dropped = DROPPED.get();
    verdict(
        "safe_gather_array of 3 .settled().deadline(Timer::at(+40 ms))",
        outcomes
            == [
                Ok(50),
                Err(SlotError::Failed("overheated")),
                Err(SlotError::TimedOut),
            ]
            && (40..45).contains(&took)
            && dropped == 3,
        format_args!("{outcomes:?} after {took} ms, {dropped} of 3 dropped on return"),
    );
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MOST_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static STARTS: Counter = Counter::new();
/// Which child started `n`th, at index `n`.
static START_ORDER: [AtomicUsize; 6] = [const { AtomicUsize::new(usize::MAX) }; 6];

/// A child that records when it starts and how many run with it, then
/// works for 10 ms.
async fn worker(index: usize) -> Result<usize, Fault> {
    let running = IN_FLIGHT.fetch_add(1, Ordering::Relaxed) + 1;
    MOST_IN_FLIGHT.fetch_max(running, Ordering::Relaxed);
    START_ORDER[STARTS.get()].store(index, Ordering::Relaxed);
    STARTS.add();
    Timer::after_millis(10).await;
    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    Ok(index * 10)
}

async fn limit_keeps_two_in_flight() {
    let start = Instant::now();
    let outcome = safe_gather_array([0, 1, 2, 3, 4, 5].map(worker))
        .limit(2)
        .await;
    let took = ms_since(start);
    let most = MOST_IN_FLIGHT.load(Ordering::Relaxed);
    let order = START_ORDER
        .each_ref()
        .map(|slot| slot.load(Ordering::Relaxed));
    verdict(
        "safe_gather_array of 6 .limit(2), each child 10 ms",
        outcome == Ok([0, 10, 20, 30, 40, 50])
            && most == 2
            && order == [0, 1, 2, 3, 4, 5]
            && (30..35).contains(&took),
        format_args!(
            "{outcome:?} after {took} ms, at most {most} in flight, started in order {order:?}"
        ),
    );
}

static FINISH_ORDER: [AtomicUsize; 5] = [const { AtomicUsize::new(usize::MAX) }; 5];

/// A child that sleeps `ms` on embassy's timer and records when it ended.
async fn sleeper(index: usize, ms: u64) -> Result<u64, Fault> {
    Timer::after_millis(ms).await;
    FINISH_ORDER[FINISHED.get()].store(index, Ordering::Relaxed);
    FINISHED.add();
    Ok(ms)
}

async fn children_sleep_on_embassy_timers_at_once() {
    fresh();
    let start = Instant::now();
    let outcome = safe_gather_array([
        sleeper(0, 50),
        sleeper(1, 10),
        sleeper(2, 40),
        sleeper(3, 20),
        sleeper(4, 30),
    ])
    .timeout_with(EmbassyTimer, Duration::from_secs(1))
    .await;
    let took = ms_since(start);
    let order = FINISH_ORDER
        .each_ref()
        .map(|slot| slot.load(Ordering::Relaxed));
    verdict(
        "safe_gather_array of 5 children sleeping 50/10/40/20/30 ms on embassy Timers",
        outcome == Ok([50, 10, 40, 20, 30]) && order == [1, 3, 4, 2, 0] && (50..55).contains(&took),
        format_args!(
            "{outcome:?} after {took} ms (not 150: concurrent), finished in order {order:?}"
        ),
    );
}

/// `safe_gather_heapless`: as many children as a `heapless::Vec` holds,
/// their number known only at run time, without a heap; outputs in input
/// order, fail-fast with its siblings dropped before the error is returned,
/// settled cut off at a deadline, and an empty `Vec`.
async fn heapless_vec_gathers_a_run_time_number_of_children() {
    // Outputs in input order although the children finish out of order.
    fresh();
    let start = Instant::now();
    let delays: &[u64] = &[30, 10, 20, 5];
    let reads: heapless::Vec<_, 8> = delays
        .iter()
        .map(|&ms| sensor(ms, Ok(ms as u32 * 10), token()))
        .collect();
    let outcome = safe_gather_heapless(reads)
        .timeout_with(EmbassyTimer, Duration::from_millis(100))
        .await;
    let took = ms_since(start);
    verdict(
        "safe_gather_heapless of 4 in a Vec of 8, children of 30/10/20/5 ms",
        outcome.as_deref() == Ok(&[300, 100, 200, 50][..])
            && (30..35).contains(&took)
            && DROPPED.get() == 4,
        format_args!("{outcome:?} after {took} ms"),
    );

    // Fail-fast: children 2 and 3 fail in the same tick, the lower wins.
    fresh();
    let start = Instant::now();
    let plans: [(u64, Result<u32, Fault>); 5] = [
        (1000, Ok(0)),
        (1000, Ok(1)),
        (10, Err("unplugged")),
        (10, Err("also unplugged")),
        (1000, Ok(4)),
    ];
    let reads: heapless::Vec<_, 8> = plans
        .into_iter()
        .map(|(ms, outcome)| sensor(ms, outcome, token()))
        .collect();
    let mut gather = pin!(safe_gather_heapless(reads));
    let outcome = gather.as_mut().await;
    let took = ms_since(start);
    // Counted while the gather still exists: the siblings were dropped in
    // the poll that returned the error.
    let (dropped, finished) = (DROPPED.get(), FINISHED.get());
    verdict(
        "safe_gather_heapless of 5, children 2 and 3 fail at 10 ms",
        outcome
            == Err(GatherError::Failed {
                index: 2,
                error: "unplugged",
            })
            && (10..15).contains(&took)
            && dropped == 5
            && finished <= 2,
        format_args!(
            "{outcome:?} after {took} ms, {dropped} of 5 dropped on return ({} unfinished)",
            dropped - finished
        ),
    );

    // Settled, cut off at a deadline.
    fresh();
    let start = Instant::now();
    let deadline = start + embassy_time::Duration::from_millis(40);
    let plans: [(u64, Result<u32, Fault>); 3] =
        [(5, Ok(50)), (10, Err("overheated")), (200, Ok(7))];
    let reads: heapless::Vec<_, 4> = plans
        .into_iter()
        .map(|(ms, outcome)| sensor(ms, outcome, token()))
        .collect();
    let mut gather = pin!(safe_gather_heapless(reads)
        .settled()
        .deadline(Timer::at(deadline)));
    let outcomes = gather.as_mut().await;
    let took = ms_since(start);
    let dropped = DROPPED.get();
    verdict(
        "safe_gather_heapless of 3 .settled().deadline(Timer::at(+40 ms))",
        outcomes[..]
            == [
                Ok(50),
                Err(SlotError::Failed("overheated")),
                Err(SlotError::TimedOut),
            ]
            && (40..45).contains(&took)
            && dropped == 3,
        format_args!("{outcomes:?} after {took} ms, {dropped} of 3 dropped on return"),
    );

    // An empty `Vec` resolves at once, whatever the deadline.
    let start = Instant::now();
    let none: heapless::Vec<_, 8> = delays
        .iter()
        .filter(|&&ms| ms > 1000)
        .map(|&ms| sensor(ms, Ok(0_u32), token()))
        .collect();
    let outcome = safe_gather_heapless(none)
        .timeout_with(EmbassyTimer, Duration::from_millis(100))
        .await;
    let took = ms_since(start);
    verdict(
        "safe_gather_heapless of 0",
        outcome.as_deref() == Ok(&[][..]) && took == 0,
        format_args!("{outcome:?} after {took} ms"),
    );
}

// Child polls per wake: eight children wait on gates that another task opens
// one at a time, so each wake reaches exactly one child, and each child
// counts the polls it receives.

const GATED: usize = 8;
/// The order the gates open in: a fixed shuffle.
const OPEN_ORDER: [usize; GATED] = [5, 2, 7, 0, 3, 6, 1, 4];

static GATES: [Gate; GATED] = [const { Gate::new() }; GATED];
/// Polls of the gated children, first polls included.
static GATED_POLLS: Counter = Counter::new();
/// Wakes the gates sent to a waiting child.
static WAKES_SENT: Counter = Counter::new();

/// Opens the gates in [`OPEN_ORDER`], 1 ms apart, so that the gather's task
/// runs after each wake before the next one.
#[embassy_executor::task]
async fn open_gates() {
    for index in OPEN_ORDER {
        Timer::after_millis(1).await;
        GATES[index].open(&WAKES_SENT);
    }
}

/// How a gather of the gated children is built: one implementation per way
/// of giving children their wakers.
trait BuildGather {
    fn build<C>(
        children: [C; GATED],
    ) -> impl Future<Output = Result<[usize; GATED], GatherError<Infallible>>>
    where
        C: Future<Output = Result<usize, Infallible>>;
}

/// Without `alloc` the children share the task's waker.
struct SharedTaskWaker;

impl BuildGather for SharedTaskWaker {
    fn build<C>(
        children: [C; GATED],
    ) -> impl Future<Output = Result<[usize; GATED], GatherError<Infallible>>>
    where
        C: Future<Output = Result<usize, Infallible>>,
    {
        safe_gather_array(children)
    }
}

/// Runs the gated children in a gather built by `G` and reports child polls
/// per wake. `polls_after_first`: how many polls the children may receive
/// in all after their first, for [`GATED`] wakes: fewer than one per wake
/// means a lost wake.
async fn polls_per_wake<G: BuildGather>(
    spawner: Spawner,
    wakers: &str,
    polls_after_first: RangeInclusive<usize>,
) {
    GATES.iter().for_each(Gate::reset);
    GATED_POLLS.reset();
    WAKES_SENT.reset();
    let children: [_; GATED] =
        core::array::from_fn(|index| gated_child(index, &GATES[index], &GATED_POLLS));
    spawner.spawn(open_gates().expect("the gate opener is not running"));
    let outcome = G::build(children).await;
    let (polls, wakes) = (GATED_POLLS.get(), WAKES_SENT.get());
    let after_first = polls.saturating_sub(GATED);
    let per_wake_hundredths = (after_first * 100).checked_div(wakes).unwrap_or(0);
    verdict(
        "child polls per wake",
        outcome == Ok([0, 1, 2, 3, 4, 5, 6, 7])
            && wakes == GATED
            && polls_after_first.contains(&after_first),
        format_args!(
            "{wakers}, {GATED} children woken one at a time: {after_first} polls after the \
             first for {wakes} wakes = {}.{:02} per wake",
            per_wake_hundredths / 100,
            per_wake_hundredths % 100
        ),
    );
}

/// With caller-owned per-child wakers, no heap: each wake polls the one
/// child it names.
struct PerChildWakers;

static GATED_WAKERS: ChildWakers<GATED> = ChildWakers::new();

impl BuildGather for PerChildWakers {
    fn build<C>(
        children: [C; GATED],
    ) -> impl Future<Output = Result<[usize; GATED], GatherError<Infallible>>>
    where
        C: Future<Output = Result<usize, Infallible>>,
    {
        safe_gather_array(children).wakers(&GATED_WAKERS)
    }
}

// Fail-fast, timeouts and deadlines with per-child wakers. Their children
// wait on gates, not on embassy timers: embassy's integrated timer queue
// takes only the executor's own wakers (see `ChildWakers`, "On embassy").
// The gates open from another task, on embassy's timer.

static SIGNALS: [Gate; 4] = [const { Gate::new() }; 4];
static SIGNAL_WAKES: Counter = Counter::new();
static FOUR_WAKERS: ChildWakers<4> = ChildWakers::new();
static THREE_WAKERS: ChildWakers<3> = ChildWakers::new();

/// A child: once `gate` opens, `outcome`.
async fn signalled<T>(
    gate: usize,
    outcome: Result<T, Fault>,
    _token: DropToken,
) -> Result<T, Fault> {
    poll_fn(|cx| SIGNALS[gate].poll_open(cx)).await;
    FINISHED.add();
    outcome
}

/// Opens `SIGNALS[gate]` after each `ms`, in turn.
#[embassy_executor::task(pool_size = 2)]
async fn open_signals(plan: &'static [(usize, u64)]) {
    for &(gate, ms) in plan {
        Timer::after_millis(ms).await;
        SIGNALS[gate].open(&SIGNAL_WAKES);
    }
}

fn fresh_signals(spawner: Spawner, plan: &'static [(usize, u64)]) {
    fresh();
    SIGNALS.iter().for_each(Gate::reset);
    SIGNAL_WAKES.reset();
    spawner.spawn(open_signals(plan).expect("a signal opener is free"));
}

async fn per_child_wakers_fail_fast_within_a_timeout(spawner: Spawner) {
    // Child 0 answers at 5 ms, child 1 fails at 10 ms; 2 and 3 never answer.
    fresh_signals(spawner, &[(0, 5), (1, 5)]);
    let start = Instant::now();
    let mut gather = pin!(safe_gather_array([
        signalled(0, Ok(0_u32), token()),
        signalled(1, Err("unplugged"), token()),
        signalled(2, Ok(2), token()),
        signalled(3, Ok(3), token()),
    ])
    .wakers(&FOUR_WAKERS)
    .timeout_with(EmbassyTimer, Duration::from_millis(50)));
    let outcome = gather.as_mut().await;
    let took = ms_since(start);
    let (dropped, in_use) = (DROPPED.get(), FOUR_WAKERS.in_use());
    verdict(
        "safe_gather_array of 4 .wakers(&ChildWakers<4>) .timeout(50 ms), child 1 fails at 10 ms",
        outcome
            == Err(GatherError::Failed {
                index: 1,
                error: "unplugged",
            })
            && (10..15).contains(&took)
            && dropped == 4
            && !in_use,
        format_args!(
            "{outcome:?} after {took} ms, {dropped} of 4 dropped on return, wakers in use: {in_use}"
        ),
    );
}

async fn per_child_wakers_time_out() {
    // Nothing opens: the timeout fires with every child pending.
    fresh();
    SIGNALS.iter().for_each(Gate::reset);
    let start = Instant::now();
    let mut gather = pin!(safe_gather_array([
        signalled(0, Ok(0_u32), token()),
        signalled(1, Ok(1), token()),
        signalled(2, Ok(2), token()),
        signalled(3, Ok(3), token()),
    ])
    .wakers(&FOUR_WAKERS)
    .timeout_with(EmbassyTimer, Duration::from_millis(20)));
    let outcome = gather.as_mut().await;
    let took = ms_since(start);
    let (dropped, in_use) = (DROPPED.get(), FOUR_WAKERS.in_use());
    verdict(
        "safe_gather_array of 4 .wakers(&ChildWakers<4>) .timeout(20 ms), none answers",
        outcome
            == Err(GatherError::TimedOut {
                completed: 0,
                pending: 4,
            })
            && (20..25).contains(&took)
            && dropped == 4
            && !in_use,
        format_args!(
            "{outcome:?} after {took} ms, {dropped} of 4 dropped on return, wakers in use: {in_use}"
        ),
    );
}

async fn per_child_wakers_settled_tuple_cut_off_at_a_deadline(spawner: Spawner) {
    // Child 0 answers at 5 ms, child 1 fails at 10 ms, child 2 never.
    fresh_signals(spawner, &[(0, 5), (1, 5)]);
    let start = Instant::now();
    let deadline = start + embassy_time::Duration::from_millis(30);
    let mut gather = pin!(safe_gather!(
        signalled(0, Ok(1_u8), token()),
        signalled(1, Err::<u16, _>("overheated"), token()),
        signalled(2, Ok("late"), token()),
    )
    .wakers(&THREE_WAKERS)
    .settled()
    .deadline(Timer::at(deadline)));
    let outcomes = gather.as_mut().await;
    let took = ms_since(start);
    let (dropped, in_use) = (DROPPED.get(), THREE_WAKERS.in_use());
    verdict(
        "safe_gather!(3) .wakers(&ChildWakers<3>) .settled().deadline(Timer::at(+30 ms))",
        outcomes
            == (
                Ok(1),
                Err(SlotError::Failed("overheated")),
                Err(SlotError::TimedOut),
            )
            && (30..35).contains(&took)
            && dropped == 3
            && !in_use,
        format_args!(
            "{outcomes:?} after {took} ms, {dropped} of 3 dropped on return, wakers in use: {in_use}"
        ),
    );
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    board::init();
    hprintln!(
        "safe-gather firmware checks: embassy thread executor, SysTick time driver at {} Hz, core clock {} Hz",
        embassy_time::TICK_HZ,
        safe_gather_firmware::CORE_CLOCK_HZ
    );

    tuple_with_a_timeout_that_passes().await;
    tuple_with_a_timeout_that_fires().await;
    array_fails_fast_and_drops_siblings().await;
    settled_array_cut_off_at_a_deadline().await;
    limit_keeps_two_in_flight().await;
    children_sleep_on_embassy_timers_at_once().await;
    // A shared waker cannot say which child it woke: each wake may poll
    // every child still running once, 8 + 7 + ... + 1 = 36 polls at most.
    let at_most_every_running_child = GATED * (GATED + 1) / 2;
    polls_per_wake::<SharedTaskWaker>(
        spawner,
        "shared task waker",
        GATED..=at_most_every_running_child,
    )
    .await;
    heapless_vec_gathers_a_run_time_number_of_children().await;

    // Caller-owned per-child wakers: exactly one poll per wake.
    polls_per_wake::<PerChildWakers>(
        spawner,
        "per-child wakers (ChildWakers<8>, no heap)",
        GATED..=GATED,
    )
    .await;
    per_child_wakers_fail_fast_within_a_timeout(spawner).await;
    per_child_wakers_time_out().await;
    per_child_wakers_settled_tuple_cut_off_at_a_deadline(spawner).await;

    let (passed, failed) = (PASSED.get(), FAILED.get());
    hprintln!("firmware: {} passed, {} failed", passed, failed);
    board::exit(failed == 0 && passed > 0)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    board::report_panic(info)
}
