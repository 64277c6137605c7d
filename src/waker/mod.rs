//! Which waker each child is polled with, and which children to poll next.
//!
//! With per-child wakers (the `alloc` feature, on targets with
//! compare-and-swap atomics), every child, or rather every *slot* a child
//! occupies, has a waker of its own, and a wake marks that slot in a ready
//! set shared by all of a gather's wakers (`block.rs`, whose docs explain the
//! layout and the bitmap). A gather poll then visits only the marked slots.
//! Without them, every slot is polled with the gather's own waker, at every
//! gather poll ("poll-all"), as embassy's and futures' small joins do.
//!
//! # Slots, not children
//!
//! A waker names a slot. A gather whose children each have a slot of their
//! own (arrays, tuples, an iterator without a limit) visits slot `i` for
//! child `i`. A limited gather over an iterator reuses a pool of `n` slots,
//! so the ready set is sized for the pool, not for the input, and a waker of
//! a child that has finished names a slot another child may hold by now: a
//! late wake from it costs that child one spurious poll, never a lost wake-up
//! (the new child's own waker names the same slot) and never a wrong result
//! (a poll only ever reaches the child in the slot).
//!
//! # The parent waker
//!
//! The gather's own waker lives in the block (`ParentWaker`, in
//! `parent.rs`, which explains its protocol), because child wakers must reach
//! it after the gather has moved between polls, and from any thread.
//! Re-registering the waker already registered, the common case, costs one
//! plain load; wakers wake it by reference, so it stays registered, and a
//! poll that runs inside a wake (executors that poll inline) registers its
//! new waker without waking anything.
//!
//! # Lazily
//!
//! The block is created when a child first clones (or wakes) its waker, not
//! before: a gather whose children are all ready at their first poll
//! allocates nothing here. Until then children are polled with an *inline*
//! waker that points at the gather's [`Wakers`] and knows which slot is being
//! polled; it can only be reached through the `&Waker` of that child's poll,
//! and its `clone` creates the block and returns a real child waker.

use core::fmt;
#[cfg(target_has_atomic = "ptr")]
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::task::Waker;

#[cfg(target_has_atomic = "ptr")]
mod block;
#[cfg(all(feature = "test-util", target_has_atomic = "ptr"))]
pub(crate) mod lock;
#[cfg(target_has_atomic = "ptr")]
mod parent;
#[cfg(all(feature = "std", target_has_atomic = "ptr", not(loom)))]
mod spare;
#[cfg(target_has_atomic = "ptr")]
mod static_slots;

#[cfg(target_has_atomic = "ptr")]
pub(crate) use block::Visit;
#[cfg(target_has_atomic = "ptr")]
use block::{Header, SetPtr, CHILD_VTABLE};
#[cfg(target_has_atomic = "ptr")]
pub use static_slots::ChildWakers;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use crate::sync::AtomicUsize;
#[cfg(target_has_atomic = "ptr")]
use crate::sync::{AtomicPtr, Ordering};
#[cfg(target_has_atomic = "ptr")]
use core::ptr::{self, NonNull};
#[cfg(target_has_atomic = "ptr")]
use core::task::RawWaker;
#[cfg(feature = "alloc")]
use core::task::RawWakerVTable;

/// What a drain's visitor wants next.
#[cfg(not(target_has_atomic = "ptr"))]
pub(crate) enum Visit<B> {
    /// Go on to the next slot.
    Next,
    /// Stop after this slot; the next drain resumes after it.
    PauseAfter(B),
    /// Stop before this slot; the next drain resumes at it.
    PauseBefore(B),
}

/// Where a gather's children get their wakers, chosen by the kind of
/// children: [`OwnWakers`] for every kind, [`CallerWakers`] once
/// [`.wakers(..)`](crate::SafeGather::wakers) gave them storage. A type, not
/// a flag, so that a build without `alloc` links the per-child wake code only
/// into the gathers that use it. Sealed.
pub trait WakeMode: sealed::Sealed + 'static {
    #[doc(hidden)]
    const CALLER_OWNED: bool;
}

mod sealed {
    pub trait Sealed {}
}

/// The children's wakers are the gather's own: a heap block of per-child
/// wakers with `alloc` (on targets with compare-and-swap atomics), the task's
/// waker for every child without.
#[derive(Debug)]
pub struct OwnWakers;

/// The children's wakers are in caller-owned [`ChildWakers`], given with
/// [`.wakers(..)`](crate::SafeGather::wakers).
#[derive(Debug)]
pub struct CallerWakers;

impl sealed::Sealed for OwnWakers {}
impl sealed::Sealed for CallerWakers {}
impl WakeMode for OwnWakers {
    const CALLER_OWNED: bool = false;
}
impl WakeMode for CallerWakers {
    const CALLER_OWNED: bool = true;
}

/// The gather's side of the wake bookkeeping.
pub(crate) struct Wakers<W: WakeMode = OwnWakers> {
    mode: core::marker::PhantomData<W>,
    /// How many slots the gather polls (set at its first poll).
    slots: usize,
    /// Poll-all only: where a paused pass resumes.
    #[cfg(not(all(feature = "alloc", target_has_atomic = "ptr")))]
    resume: usize,
    /// The shared block, or null until a child first clones or wakes its
    /// waker (or, for caller-owned wakers, until they are claimed at the
    /// first poll). Holds one counted reference while non-null.
    #[cfg(target_has_atomic = "ptr")]
    set: AtomicPtr<Header>,
    /// Caller-owned wakers to claim at the first poll, or null
    /// ([`ChildWakers`]); `'static`. With `alloc` they wait in `parent`
    /// instead, which nothing reads before the first poll's `begin_poll`,
    /// after the claim: a gather is moved by value through its modifiers,
    /// and a word more makes every move of it longer.
    #[cfg(all(not(feature = "alloc"), target_has_atomic = "ptr"))]
    given: AtomicPtr<Header>,
    /// The slot being polled with the inline waker.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    first_poll: AtomicUsize,
    /// The gather's waker, valid for the duration of the current gather poll;
    /// registered in the block if a first poll creates it.
    #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
    parent: AtomicPtr<Waker>,
}

impl<W: WakeMode> fmt::Debug for Wakers<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Wakers");
        out.field("slots", &self.slots);
        #[cfg(target_has_atomic = "ptr")]
        out.field("allocated", &!self.set.load(Ordering::Relaxed).is_null());
        out.finish_non_exhaustive()
    }
}

impl<W: WakeMode> Wakers<W> {
    pub(crate) fn new() -> Self {
        Wakers {
            mode: core::marker::PhantomData,
            slots: 0,
            #[cfg(not(all(feature = "alloc", target_has_atomic = "ptr")))]
            resume: 0,
            #[cfg(target_has_atomic = "ptr")]
            set: AtomicPtr::new(ptr::null_mut()),
            #[cfg(all(not(feature = "alloc"), target_has_atomic = "ptr"))]
            given: AtomicPtr::new(ptr::null_mut()),
            #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
            first_poll: AtomicUsize::new(0),
            #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
            parent: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Hands the gather caller-owned wakers, to claim at its first poll.
    /// Before the first poll only.
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) fn give<const N: usize>(&mut self, wakers: &'static ChildWakers<N>) {
        debug_assert!(self.set.load(Ordering::Relaxed).is_null());
        let block = wakers.block().0.as_ptr();
        #[cfg(feature = "alloc")]
        self.parent.store(block.cast::<Waker>(), Ordering::Relaxed);
        #[cfg(not(feature = "alloc"))]
        self.given.store(block, Ordering::Relaxed);
    }

    /// The caller-owned wakers [`give`](Self::give) left, taken (at the
    /// first poll).
    #[cfg(target_has_atomic = "ptr")]
    fn take_given(&mut self) -> Option<SetPtr> {
        #[cfg(feature = "alloc")]
        let given = self
            .parent
            .swap(ptr::null_mut(), Ordering::Relaxed)
            .cast::<Header>();
        #[cfg(not(feature = "alloc"))]
        let given = self.given.swap(ptr::null_mut(), Ordering::Relaxed);
        NonNull::new(given).map(SetPtr)
    }

    /// Sizes the bookkeeping for `slots` slots, at the gather's first poll,
    /// before any slot is polled; claims the caller-owned wakers it was
    /// given, if they are free (else it does without them, see
    /// [`ChildWakers`]).
    pub(crate) fn set_slots(&mut self, slots: usize) {
        self.slots = slots;
        #[cfg(target_has_atomic = "ptr")]
        if !W::CALLER_OWNED {
            return;
        }
        #[cfg(target_has_atomic = "ptr")]
        if let Some(given) = self.take_given() {
            // SAFETY: given blocks are `'static`; this is the thread polling
            // the gather, at its first poll.
            unsafe {
                debug_assert!(slots <= given.len(), "checked by the types");
                if given.claim() {
                    // The claim's reference is the gather's.
                    self.set.store(given.0.as_ptr(), Ordering::Release);
                }
            }
        }
    }

    /// Whether every slot is polled at every gather poll (no per-child
    /// wakers on this build, or, without `alloc`, none given or claimed).
    #[inline]
    pub(crate) fn polls_all(&self) -> bool {
        #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
        return false;
        #[cfg(all(not(feature = "alloc"), target_has_atomic = "ptr"))]
        return self.get().is_none();
        #[cfg(not(target_has_atomic = "ptr"))]
        return true;
    }

    /// Starts a gather poll: registers the gather's waker (before the drain,
    /// so that a mark the drain misses wakes this waker).
    #[inline]
    pub(crate) fn begin_poll(&self, waker: &Waker) {
        #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
        self.parent
            .store(ptr::from_ref(waker).cast_mut(), Ordering::Relaxed);
        #[cfg(target_has_atomic = "ptr")]
        if let Some(set) = self.get() {
            // SAFETY: `self` holds a reference to the block, and this is
            // the thread polling the gather.
            unsafe { set.header().parent.register(waker) };
        }
        #[cfg(not(target_has_atomic = "ptr"))]
        let _ = waker;
    }

    /// Whether the last drain paused part-way, so that the next one goes on
    /// with it (and leaves the slots woken since for the one after).
    pub(crate) fn drain_paused(&self) -> bool {
        #[cfg(target_has_atomic = "ptr")]
        if let Some(set) = self.get() {
            // SAFETY: `self` holds a reference to the block, and this is the
            // thread polling the gather.
            return unsafe { set.is_paused() };
        }
        #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
        return false;
        #[cfg(not(all(feature = "alloc", target_has_atomic = "ptr")))]
        return self.resume != 0;
    }

    /// Visits the slots to poll, in ascending order, each with the waker to
    /// poll it with, until `visit` stops: with per-child wakers, the slots
    /// woken since the last drain; without, every slot below `upto`.
    ///
    /// With caller-owned wakers a woken slot may be one the gather has not
    /// started, or past its slots: a stale waker of the block's last owner
    /// marked it (see [`ChildWakers`]). Visitors skip slots not started. Returns
    /// what `visit` stopped with. A pause keeps the slots not yet visited for
    /// the next drain.
    #[inline]
    pub(crate) fn drain<B>(
        &mut self,
        parent: &Waker,
        upto: usize,
        mut visit: impl FnMut(usize, &Waker) -> Visit<B>,
    ) -> Option<B> {
        #[cfg(target_has_atomic = "ptr")]
        if let Some(set) = self.get() {
            // SAFETY: `self` holds a reference to the block for the whole
            // drain; the slots it yields were marked through child wakers of
            // this block, so are `< len`.
            return unsafe {
                set.drain(&mut |slot| {
                    let waker = BorrowedWaker::child(set, slot);
                    visit(slot, &waker)
                })
            };
        }
        #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
        {
            let _ = (parent, upto);
            None
        }
        #[cfg(not(all(feature = "alloc", target_has_atomic = "ptr")))]
        {
            for slot in self.resume..upto.min(self.slots) {
                match visit(slot, parent) {
                    Visit::Next => {}
                    Visit::PauseAfter(stop) => {
                        self.resume = slot + 1;
                        return Some(stop);
                    }
                    Visit::PauseBefore(stop) => {
                        self.resume = slot;
                        return Some(stop);
                    }
                }
            }
            self.resume = 0;
            None
        }
    }

    /// The waker to poll slot `slot` with: its own if the block exists, else
    /// the inline one, or the gather's waker in poll-all mode. Only for use
    /// within a gather poll (after `begin_poll`), as the `&Waker` of one
    /// child's poll.
    #[inline]
    pub(crate) fn waker_for<'a>(&'a self, slot: usize, parent: &'a Waker) -> BorrowedWaker<'a> {
        debug_assert!(slot < self.slots);
        #[cfg(all(not(feature = "alloc"), target_has_atomic = "ptr"))]
        return match self.get() {
            // SAFETY: `self` holds a reference; `slot < slots <= len`.
            Some(set) => unsafe { BorrowedWaker::child(set, slot) },
            None => BorrowedWaker::Parent(parent),
        };
        #[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
        {
            let _ = parent;
            match self.get() {
                // SAFETY: `self` holds a reference; `slot < slots <= len`.
                Some(set) => unsafe { BorrowedWaker::child(set, slot) },
                None => {
                    self.first_poll.store(slot, Ordering::Relaxed);
                    let raw = RawWaker::new(ptr::from_ref(self).cast(), &Self::INLINE_VTABLE);
                    // SAFETY: the inline vtable's contract is upheld: the
                    // gather is pinned while this waker is lent, and it is
                    // only lent as the `&Waker` of one child's poll (see
                    // `INLINE_VTABLE`).
                    BorrowedWaker::owned(unsafe { Waker::from_raw(raw) })
                }
            }
        }
        #[cfg(not(target_has_atomic = "ptr"))]
        BorrowedWaker::Parent(parent)
    }

    /// The gather has finished: stop waking its task, and let the block go
    /// once the last child waker does.
    #[inline]
    pub(crate) fn close(&mut self) {
        // Only this thread (holding `&mut self`) could have stored the block,
        // or an inline waker during one of its polls, so a plain load sees
        // it; the rest is paid only when there is a block.
        #[cfg(target_has_atomic = "ptr")]
        if self.has_block() {
            self.release_block();
        }
    }

    /// [`close`](Self::close) with a block: out of line, so that a gather
    /// that never made one pays one load.
    #[cfg(target_has_atomic = "ptr")]
    #[inline(never)]
    fn release_block(&mut self) {
        // The swap, a locked instruction, rather than `get_mut`, which
        // loom's atomics lack.
        let set = self.set.swap(ptr::null_mut(), Ordering::AcqRel);
        if let Some(set) = NonNull::new(set).map(SetPtr) {
            // SAFETY: we held a reference, given up here and never used
            // again; closing is done by the thread polling the gather.
            let wakers = unsafe {
                let wakers = set.header().parent.close();
                set.release();
                wakers
            };
            // Dropped last: a panicking waker drop must not skip the release.
            drop(wakers);
        }
    }
}

#[cfg(target_has_atomic = "ptr")]
impl<W: WakeMode> Wakers<W> {
    /// Whether this gather can have a block at all: always with `alloc`;
    /// without, only with caller-owned wakers. A constant, so that without
    /// `alloc` a gather of its own wakers links no block code.
    const MAY_HAVE_BLOCK: bool = cfg!(feature = "alloc") || W::CALLER_OWNED;

    #[inline]
    fn get(&self) -> Option<SetPtr> {
        if !Self::MAY_HAVE_BLOCK {
            return None;
        }
        // Acquire: pairs with the release of `ensure_set`'s exchange, which
        // published the block's initialisation.
        NonNull::new(self.set.load(Ordering::Acquire)).map(SetPtr)
    }

    /// Whether the block exists: a plain load, for the thread that polls
    /// (or drops) the gather, which alone stores it.
    #[inline]
    fn has_block(&self) -> bool {
        Self::MAY_HAVE_BLOCK && !self.set.load(Ordering::Relaxed).is_null()
    }

    /// The block, created now if no child has needed it yet.
    #[cfg(feature = "alloc")]
    fn ensure_set(&self) -> SetPtr {
        if let Some(set) = self.get() {
            return set;
        }
        // SAFETY: `ensure_set` runs only inside an inline waker call, that is
        // during a gather poll, which stored its live waker in `parent`.
        let parent = unsafe { &*self.parent.load(Ordering::Relaxed) }.clone();
        let fresh = SetPtr::create(self.slots, Some(parent));
        match self.set.compare_exchange(
            ptr::null_mut(),
            fresh.0.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // Another thread, cloning the same inline waker, won.
                // SAFETY: `fresh` was never shared; we hold its only reference.
                unsafe { fresh.release() };
                // SAFETY: the exchange failed, so `winner` is non-null.
                SetPtr(unsafe { NonNull::new_unchecked(winner) })
            }
        }
    }
}

impl<W: WakeMode> Drop for Wakers<W> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl<W: WakeMode> Wakers<W> {
    /// The inline waker's vtable, one per wake mode (its functions read a
    /// `Wakers<W>`).
    const INLINE_VTABLE: RawWakerVTable = RawWakerVTable::new(
        inline_clone::<W>,
        inline_wake_by_ref::<W>,
        inline_wake_by_ref::<W>,
        inline_drop,
    );
}

// The inline waker's data pointer is a `&Wakers` inside the pinned gather. It
// is lent only as the `&Waker` of one child's poll (`Wakers::waker_for`), so
// it is never owned: `wake` and `drop` by value cannot happen, and the gather
// is alive and pinned for every call.

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe fn inline_clone<W: WakeMode>(wakers: *const ()) -> RawWaker {
    // SAFETY: see above: the gather, and so its `Wakers`, is alive.
    let wakers = unsafe { &*wakers.cast::<Wakers<W>>() };
    let set = wakers.ensure_set();
    let slot = wakers.first_poll.load(Ordering::Relaxed);
    // SAFETY: `wakers` holds a reference to the block, so it is alive, and
    // `slot` is the slot being polled, below `len`.
    unsafe {
        set.acquire();
        RawWaker::new(set.entry(slot), &CHILD_VTABLE)
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe fn inline_wake_by_ref<W: WakeMode>(wakers: *const ()) {
    // SAFETY: as in `inline_clone`.
    let wakers = unsafe { &*wakers.cast::<Wakers<W>>() };
    let set = wakers.ensure_set();
    // SAFETY: as in `inline_clone`.
    unsafe { set.mark(wakers.first_poll.load(Ordering::Relaxed)) }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe fn inline_drop(_: *const ()) {}

/// A waker that does nothing, for calls that take one and never wake it
/// (an iterator's children are taken with it). `Waker::noop` needs Rust
/// 1.85, and a `static` one 1.82; this costs no allocation. Only the pool
/// (`alloc`) needs one.
#[cfg(feature = "alloc")]
pub(crate) fn noop() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RAW, |_| {}, |_| {}, |_| {});
    const RAW: RawWaker = RawWaker::new(core::ptr::null(), &VTABLE);
    // SAFETY: every function of the vtable ignores the (null) data pointer
    // and does nothing, which the `RawWaker` contract allows.
    unsafe { Waker::from_raw(RAW) }
}

/// A waker lent for one child poll, without a counted reference of its own.
pub(crate) enum BorrowedWaker<'a> {
    /// A child waker (or the inline one), never dropped through its vtable.
    #[cfg(target_has_atomic = "ptr")]
    Own(ManuallyDrop<Waker>, core::marker::PhantomData<&'a ()>),
    /// The gather's own waker (poll-all).
    #[allow(dead_code)]
    Parent(&'a Waker),
}

impl BorrowedWaker<'_> {
    #[cfg(target_has_atomic = "ptr")]
    #[inline]
    fn owned(waker: Waker) -> Self {
        BorrowedWaker::Own(ManuallyDrop::new(waker), core::marker::PhantomData)
    }

    /// # Safety
    /// The caller holds a reference to `set` for the borrow, and `slot < len`.
    #[cfg(target_has_atomic = "ptr")]
    #[inline]
    unsafe fn child(set: SetPtr, slot: usize) -> Self {
        // SAFETY: the child vtable's contract holds for `entry(slot)`; the
        // waker is never dropped through the vtable (`ManuallyDrop`), so it
        // needs no reference of its own: the caller's keeps the block alive.
        let raw = RawWaker::new(unsafe { set.entry(slot) }, &CHILD_VTABLE);
        // SAFETY: as above.
        BorrowedWaker::owned(unsafe { Waker::from_raw(raw) })
    }
}

impl Deref for BorrowedWaker<'_> {
    type Target = Waker;

    #[inline]
    fn deref(&self) -> &Waker {
        match self {
            #[cfg(target_has_atomic = "ptr")]
            BorrowedWaker::Own(waker, _) => waker,
            BorrowedWaker::Parent(waker) => waker,
        }
    }
}
