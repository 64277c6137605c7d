//! Caller-owned wake blocks: per-child wakers without an allocator.
//!
//! [`ChildWakers<N>`] is the shared wake block of `block.rs` laid out in a
//! struct the caller owns, normally a `static`: the same header, the same
//! entries and the same ready bitmap, so the same child wakers, the same
//! drain and the same parent-waker protocol run on it, and nothing here
//! wakes or drains by itself. What differs is who owns it:
//!
//! * It is never freed. Its header counts one reference of its own for
//!   good, so the count of gathers and child wakers never reaches zero;
//!   a waker that outlives its gather marks a live block, harmlessly.
//! * It is reused. A gather *claims* it at its first poll, which succeeds
//!   only if no other gather owns it: its parent waker is closed, as every
//!   gather leaves it when it finishes or is dropped, and no wake that
//!   began before that close is still running (`ParentWaker::reopen`). The
//!   claim clears the ready set. A gather that cannot claim it does
//!   without: a heap block with `alloc`, poll-all without, exactly as if it
//!   had been given none; the owner is never touched.
//! * It has a capacity, `N`: a gather of `n <= N` slots uses the first `n`,
//!   and the bitmap is planned for `N` (its shape must not change while old
//!   wakers may still mark it), so a stale mark past `n` is skipped.
//!
//! The words array is sized `N` because its real length (one word per
//! `usize::BITS` slots, plus the levels above) cannot be written as a type
//! on stable Rust; a word per slot is always enough (checked when the block
//! is made), and costs one word per slot beyond what the heap block uses.

use core::fmt;
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;

use crate::sync::AtomicUsize;

use super::block::{plan, Header, SetPtr};

/// Per-child wakers for one array or tuple gather at a time, without a heap:
/// storage for the wake bookkeeping that the caller owns, normally as a
/// `static` (it is made in a constant).
///
/// Hand it to a gather of at most `N` children with
/// [`SafeGather::wakers`](crate::SafeGather::wakers), and each child gets a
/// waker of its own: a wake then re-polls only that child, on `no_std`
/// without an allocator, instead of every child still running (what an
/// array or tuple gather does without `alloc`, like embassy's `join`).
/// Every guarantee of the heap-allocated wakers holds: O(1) per wake, a
/// burst of wakes between two polls wakes the task once, wakes from any
/// thread or interrupt handler, and wakers that outlive their gather stay
/// harmless (they mark a block no gather reads, or cost the next gather to
/// use it one spurious poll of one child).
///
/// # One gather at a time
///
/// A gather claims the storage at its first poll and gives it back when it
/// resolves or is dropped. While it is claimed, a second gather given the
/// same storage cannot claim it and runs as if it had been given none:
/// with `alloc` it allocates its wakers as usual, without `alloc` it polls
/// every child on every wake. Either way both gathers resolve correctly and
/// no wake-up of either is lost; only the second loses the per-child
/// polling. The same holds for the rare claim made while a wake from the
/// previous gather's wakers is still running on another thread or in an
/// interrupt handler. [`in_use`](Self::in_use) tells whether a gather holds
/// it. A gather leaked with `mem::forget` keeps it for good.
///
/// # Size
///
/// `2 * N` words and a fixed header of 32 words (33 with `alloc`): one word
/// per slot to find the block from a waker, and one word per slot for the
/// ready bitmap, of which only `N / usize::BITS`, rounded up, plus one word
/// per level above, are used. On a 32-bit target without `alloc`,
/// `ChildWakers<8>` is 192 bytes.
///
/// # On embassy
///
/// Embassy's timer queue integrated into its executor (embassy's default)
/// accepts only the executor's own task wakers: a child that awaits an
/// `embassy_time::Timer` itself, polled with a per-child waker, makes
/// embassy panic. Enable one of embassy-time's `generic-queue-N` features
/// in the application to use per-child wakers with such children. A
/// gather's own deadline (`.timeout_with(EmbassyTimer, ..)`,
/// `.deadline(Timer::at(..))`) is polled with the task's waker and works
/// either way.
///
/// # Targets
///
/// It needs compare-and-swap atomics (`target_has_atomic = "ptr"`): on a
/// target without them, such as `thumbv6m-none-eabi`, `ChildWakers` does
/// not exist, and array and tuple gathers poll every child on every wake.
///
/// # Examples
///
/// Eight children, each woken on its own; the gather re-polls only the one
/// woken:
///
/// ```
/// use std::cell::Cell;
/// use std::future::poll_fn;
/// use std::task::Poll;
/// use safe_gather::{safe_gather_array, ChildWakers};
///
/// static WAKERS: ChildWakers<8> = ChildWakers::new();
///
/// let polls = [const { Cell::new(0) }; 8];
/// let children = core::array::from_fn::<_, 8, _>(|i| {
///     let polls = &polls[i];
///     let mut woke = false;
///     poll_fn(move |cx| {
///         polls.set(polls.get() + 1);
///         if woke {
///             return Poll::Ready(Ok::<_, ()>(i));
///         }
///         woke = true;
///         cx.waker().wake_by_ref();
///         Poll::Pending
///     })
/// });
/// # futures::executor::block_on(async {
/// let values = safe_gather_array(children).wakers(&WAKERS).await;
/// assert_eq!(values, Ok([0, 1, 2, 3, 4, 5, 6, 7]));
/// // Each child: its first poll, and one poll for its one wake.
/// assert!(polls.iter().all(|polls| polls.get() == 2));
/// assert!(!WAKERS.in_use(), "given back when the gather resolved");
/// # });
/// ```
#[repr(C)]
pub struct ChildWakers<const N: usize> {
    // `repr(C)`, with the header first and the entries right after it, is
    // the heap block's layout (`block.rs`), so its code runs on this
    // unchanged.
    header: Header,
    entries: [usize; N],
    words: [AtomicUsize; N],
}

// SAFETY: every part of the block that is ever written after `new` is an
// atomic, a cell of the parent-waker protocol (whose wakers are `Send +
// Sync`, handed between threads only as that protocol allows), or the drain
// cursor, which only the thread polling the gather that claimed the block
// touches, between its claim (acquire) and its close (release). The rest
// is read-only after `new`.
unsafe impl<const N: usize> Sync for ChildWakers<N> {}

impl<const N: usize> ChildWakers<N> {
    crate::sync::const_unless_loom! {
        /// Storage for the wakers of up to `N` children, free for a gather to
        /// claim.
        ///
        /// # Panics
        ///
        /// If `N` is 0 (in a `static`, that is a compile error).
        ///
        /// # Examples
        ///
        /// ```
        /// use safe_gather::ChildWakers;
        ///
        /// static WAKERS: ChildWakers<3> = ChildWakers::new();
        /// assert!(!WAKERS.in_use());
        /// ```
        #[must_use]
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            assert!(N > 0, "`ChildWakers` needs room for at least one child");
            let (_, _, total_words) = plan(N);
            assert!(total_words <= N, "safe-gather: the ready bitmap does not fit");
            let mut entries = [0; N];
            let mut child = 0;
            while child < N {
                entries[child] = child;
                child += 1;
            }
            ChildWakers {
                header: Header::fixed(N, offset_of!(Self, words)),
                entries,
                words: new_words(),
            }
        }
    }

    /// Whether a gather holds this storage now (from its first poll until it
    /// resolves or is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll};
    /// use safe_gather::{safe_gather_array, ChildWakers};
    ///
    /// static WAKERS: ChildWakers<2> = ChildWakers::new();
    ///
    /// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    /// let mut never = pin!(
    ///     safe_gather_array([(), ()].map(|()| std::future::pending::<Result<(), ()>>())).wakers(&WAKERS)
    /// );
    /// assert!(!WAKERS.in_use(), "claimed at the first poll, not before");
    /// assert!(never.as_mut().poll(&mut cx).is_pending());
    /// assert!(WAKERS.in_use());
    /// ```
    pub fn in_use(&self) -> bool {
        // SAFETY: `self` is alive for this call.
        !unsafe { self.block().is_free() }
    }

    /// The block, for the gather that is given it.
    pub(super) fn block(&self) -> SetPtr {
        debug_assert_eq!(offset_of!(Self, entries), size_of::<Header>());
        // From the reference to the whole struct, so that the pointer's
        // provenance covers the entries and words after the header.
        SetPtr(NonNull::from(self).cast::<Header>())
    }
}

#[cfg(not(loom))]
const fn new_words<const N: usize>() -> [AtomicUsize; N] {
    [const { AtomicUsize::new(0) }; N]
}

#[cfg(loom)]
fn new_words<const N: usize>() -> [AtomicUsize; N] {
    core::array::from_fn(|_| AtomicUsize::new(0))
}

impl<const N: usize> fmt::Debug for ChildWakers<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildWakers")
            .field("capacity", &N)
            .field("in_use", &self.in_use())
            .finish()
    }
}
