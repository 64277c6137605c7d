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
use std::task::{Context, Poll};

use futures::StreamExt;
use safe_gather::safe_gather;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
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
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        note_freed(layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note_freed(layout.size());
        note(size);
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` counting its allocations: (allocations, peak live bytes).
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
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

#[test]
fn the_wake_block_is_freed_with_the_last_child_waker_kept_past_the_gather() {
    // A child keeps a clone of its waker, which outlives the gather: the
    // shared wake block lives as long as that clone, and goes with it.
    struct Keeper<'a>(&'a std::cell::RefCell<Option<std::task::Waker>>);
    impl Future for Keeper<'_> {
        type Output = Result<(), ()>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            *self.0.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
    let kept = std::cell::RefCell::new(None);
    let task = futures::task::noop_waker();
    counted(|| {
        let mut gather = Box::pin(safe_gather::safe_gather_array([Keeper(&kept)]));
        assert!(gather
            .as_mut()
            .poll(&mut Context::from_waker(&task))
            .is_pending());
        drop(gather);
        assert!(LIVE.with(Cell::get) > 0, "the kept waker holds the block");
        drop(kept.borrow_mut().take());
        assert_eq!(LIVE.with(Cell::get), 0, "the last waker freed the block");
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
