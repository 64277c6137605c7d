//! What a limited gather holds, counted by an allocator that counts this
//! thread's allocations (deterministic; nothing here reads a clock): O(1)
//! allocations for inputs of exact length, and under `.unordered()` a peak
//! heap that does not grow with the input's length (SPEC §7).
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use safe_gather::safe_gather;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Its allocations are noted in [`EXITING_BLOCKS`] too: the one thread
    /// whose heap is looked at after it has exited.
    static EXITING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Notes an allocation made while [`EXITING`] is set, or the free of one.
fn note_exiting(pointer: *mut u8, allocated: bool) {
    let pointer = pointer as usize;
    if allocated {
        if EXITING.try_with(Cell::get).unwrap_or(false) {
            let free = EXITING_BLOCKS.iter().find(|slot| {
                slot.compare_exchange(0, pointer, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            });
            free.expect("room for every allocation of the exiting thread");
        }
    } else {
        for slot in &EXITING_BLOCKS {
            let _ = slot.compare_exchange(pointer, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

fn note(grown: usize) {
    // `try_with`: thread-local destructors may still allocate.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            LIVE.with(|live| {
                live.set(live.get() + grown);
                PEAK.with(|peak| peak.set(peak.get().max(live.get())));
            });
            ALLOCATIONS.with(|count| count.set(count.get() + 1));
        }
    });
}

fn note_freed(freed: usize) {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            LIVE.with(|live| live.set(live.get().saturating_sub(freed)));
        }
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting only reads and writes thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        let pointer = unsafe { System.alloc(layout) };
        note_exiting(pointer, true);
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        note_freed(layout.size());
        note_exiting(pointer, false);
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note_freed(layout.size());
        note(size);
        note_exiting(pointer, false);
        // SAFETY: as above.
        let moved = unsafe { System.realloc(pointer, layout, size) };
        note_exiting(moved, true);
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` counting its allocations: (allocations, peak live bytes). On a
/// thread of its own, so that no gather run before has left it a spare wake
/// block (each thread keeps the last small one it freed): the count is the
/// cold one, every block allocated.
fn counted<T: Send>(f: impl FnOnce() -> T + Send) -> (T, usize, usize) {
    std::thread::scope(|scope| scope.spawn(|| counted_here(f)).join().unwrap())
}

/// [`counted`], on this thread, whatever it keeps.
fn counted_here<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    let out = f();
    COUNTING.with(|counting| counting.set(false));
    (out, ALLOCATIONS.with(Cell::get), PEAK.with(Cell::get))
}

/// A child of about 520 bytes that pends once, waking itself.
struct Big {
    payload: [u8; 512],
    id: u32,
    polled: bool,
}

impl Future for Big {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polled {
            return Poll::Ready(Ok(self.id + u32::from(self.payload[3])));
        }
        self.polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn big(id: u32) -> Big {
    Big {
        payload: [0; 512],
        id,
        polled: false,
    }
}

/// Polls `future` to completion with a no-op waker (its children wake
/// themselves, so every poll makes progress).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn sizes() -> [u32; 2] {
    if cfg!(miri) {
        [40, 400]
    } else {
        [1_000, 100_000]
    }
}

#[test]
fn unordered_under_a_limit_holds_the_same_peak_whatever_the_input_length() {
    let peaks = sizes().map(|n| {
        let (sum, allocations, peak) = counted(|| {
            block_on(safe_gather((0..n).map(big)).limit(16).unordered().fold(
                0u64,
                |sum, item| async move { sum + u64::from(item.unwrap().1) },
            ))
        });
        assert_eq!(sum, u64::from(n) * u64::from(n - 1) / 2);
        assert!(allocations <= 4, "n = {n}: {allocations} allocations");
        peak
    });
    assert_eq!(peaks[0], peaks[1], "peak heap grew with the input");
    // The pool: 16 slots of a 520-byte child and its bookkeeping, and the
    // wakers' block; nothing per child of the input.
    assert!(peaks[0] < 16 * 600 + 2048, "peak {} bytes", peaks[0]);
}

#[test]
fn a_limited_gather_into_a_vec_allocates_o1_and_holds_its_pool_and_outputs() {
    for n in sizes() {
        let (values, allocations, peak) = counted(|| {
            block_on(safe_gather((0..n).map(big)).limit(16))
                .unwrap()
                .len()
        });
        assert_eq!(values, n as usize);
        assert!(allocations <= 5, "n = {n}: {allocations} allocations");
        let outputs = n as usize * std::mem::size_of::<u32>();
        assert!(
            peak < outputs + 16 * 600 + 2048,
            "n = {n}: peak {peak} bytes"
        );
    }
}

#[test]
fn a_gather_without_a_limit_allocates_at_most_three_times() {
    let (values, allocations, _) =
        counted(|| block_on(safe_gather((0..1000).map(big))).unwrap().len());
    assert_eq!(values, 1000);
    assert!(allocations <= 3, "{allocations} allocations");
}

/// A child that keeps a clone of its waker, which can outlive the gather.
struct Keeper<'a>(&'a std::cell::RefCell<Option<Waker>>);

impl Future for Keeper<'_> {
    type Output = Result<(), ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        *self.0.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Polls a gather of `n` keepers once and drops it; returns their wakers,
/// which hold the wake block.
fn keep_wakers(n: usize) -> Vec<Waker> {
    let kept: Vec<_> = (0..n).map(|_| std::cell::RefCell::new(None)).collect();
    let mut gather = Box::pin(safe_gather(kept.iter().map(Keeper)));
    assert!(gather
        .as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
        .is_pending());
    drop(gather);
    kept.into_iter()
        .map(|waker| waker.into_inner().expect("every keeper was polled"))
        .collect()
}

#[test]
fn the_wake_block_lives_as_long_as_the_last_child_waker_kept_past_the_gather() {
    // A block of more than 64 children (two bitmap levels) is never kept as
    // a spare: the last waker frees it.
    counted(|| {
        let wakers = keep_wakers(65);
        assert!(LIVE.with(Cell::get) > 0, "the kept wakers hold the block");
        drop(wakers);
        assert_eq!(LIVE.with(Cell::get), 0, "the last waker freed the block");
    });
}

// The spare is a thread-local: `std` only.
#[cfg(feature = "std")]
#[test]
fn the_last_small_wake_block_freed_on_a_thread_serves_its_next_gather() {
    // The allocations of a gather of `n` keepers on a fresh thread: with no
    // spare to take.
    let [cold_3, cold_8, cold_40] = [3, 8, 40].map(|n| counted(|| drop(keep_wakers(n))).1);
    // The bytes a thread holds once a gather of 40 has left it its spare:
    // that block alone.
    let block_40 = counted(|| {
        drop(keep_wakers(40));
        LIVE.with(Cell::get)
    })
    .0;
    let cold = |n| match n {
        3 => cold_3,
        8 => cold_8,
        _ => cold_40,
    };
    counted(|| {
        let live = || LIVE.with(Cell::get);
        // The allocations of a gather of `n` keepers, its wakers dropped.
        let allocations = |n| {
            let before = ALLOCATIONS.with(Cell::get);
            drop(keep_wakers(n));
            ALLOCATIONS.with(Cell::get) - before
        };
        assert_eq!(
            allocations(8),
            cold(8),
            "the first gather allocates its block"
        );
        let spare = live();
        assert!(spare > 0, "the freed block is kept as the thread's spare");
        // A gather of as many children, or fewer, takes it: one allocation
        // fewer, and it is kept again, with nothing new held.
        assert_eq!(
            allocations(8),
            cold(8) - 1,
            "the spare served a gather of 8"
        );
        assert_eq!(live(), spare, "one spare, never two");
        assert_eq!(
            allocations(3),
            cold(3) - 1,
            "the spare served a gather of 3"
        );
        assert_eq!(live(), spare);
        // A gather it is too small for frees it, and its own block is kept
        // instead, which then serves the smaller gathers.
        assert_eq!(allocations(40), cold(40), "a spare too small is not used");
        let larger = live();
        assert!(larger > spare, "the larger block is the spare now");
        assert_eq!(larger, block_40, "the smaller spare was freed");
        assert_eq!(
            allocations(8),
            cold(8) - 1,
            "the larger spare served a gather of 8"
        );
        assert_eq!(live(), larger);
    });
}

// The spare is a thread-local: `std` only.
#[cfg(feature = "std")]
#[test]
fn of_two_small_blocks_freed_one_after_the_other_the_thread_keeps_one() {
    let one_block = counted(|| {
        drop(keep_wakers(8));
        LIVE.with(Cell::get)
    })
    .0;
    counted(|| {
        // Two gathers' blocks alive at once, held by their wakers.
        let first = keep_wakers(8);
        let second = keep_wakers(8);
        // The first is kept as the spare, the second then freed.
        drop(first);
        drop(second);
        assert_eq!(
            LIVE.with(Cell::get),
            one_block,
            "the second block was freed"
        );
    });
}

/// The blocks allocated on the thread marked [`EXITING`], until freed.
static EXITING_BLOCKS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

// The spare is a thread-local: `std` only.
#[cfg(feature = "std")]
#[test]
fn a_spare_wake_block_is_freed_when_its_thread_exits() {
    std::thread::spawn(|| {
        EXITING.with(|exiting| exiting.set(true));
        drop(keep_wakers(8));
        EXITING.with(|exiting| exiting.set(false));
        let held = EXITING_BLOCKS
            .iter()
            .filter(|block| block.load(Ordering::Relaxed) != 0)
            .count();
        assert_eq!(held, 1, "the thread keeps one block: its spare");
    })
    .join()
    .unwrap();
    let held = EXITING_BLOCKS
        .iter()
        .filter(|block| block.load(Ordering::Relaxed) != 0)
        .count();
    assert_eq!(held, 0, "the spare went with its thread");
}

#[cfg(not(feature = "std"))]
#[test]
fn without_std_every_small_wake_block_goes_back_to_the_allocator() {
    // No thread-local, no spare: each gather allocates its block and the
    // last waker frees it.
    let cold = counted(|| drop(keep_wakers(8))).1;
    counted(|| {
        for _ in 0..3 {
            let before = ALLOCATIONS.with(Cell::get);
            let wakers = keep_wakers(8);
            assert!(LIVE.with(Cell::get) > 0, "the kept wakers hold the block");
            drop(wakers);
            assert_eq!(
                ALLOCATIONS.with(Cell::get) - before,
                cold,
                "a block each time"
            );
            assert_eq!(LIVE.with(Cell::get), 0, "the last waker freed the block");
        }
    });
}

#[test]
fn an_iterator_of_unknown_length_that_ends_within_its_limit_gets_no_pool() {
    // Its `next` ends before the limit is reached, though its size hint never
    // says it will: every child gets a slot of its own, as without a limit,
    // and no pool's index and slot lists (two allocations more) are made.
    // Three allocations: the slots (grown once, then shrunk to fit), and the
    // outputs; the children are ready at once, so there is no wake block.
    let (values, allocations, _) = counted(|| {
        let mut left = 3u32;
        let jobs = std::iter::from_fn(move || {
            (left > 0).then(|| {
                left -= 1;
                std::future::ready(Ok::<u32, ()>(left))
            })
        });
        block_on(safe_gather(jobs).limit(1000)).unwrap()
    });
    assert_eq!(values, [2, 1, 0]);
    assert!(allocations <= 3, "{allocations} allocations");
}
