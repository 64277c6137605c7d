//! Per-child wakers that share one allocation, and the ready set they mark.
//!
//! # Why
//!
//! A gather of N children must know *which* children were woken, or every
//! wake costs a poll of all N (the quadratic behaviour of
//! `futures::future::join_all` for small inputs and of futures-concurrency's
//! scan). So each child gets a waker of its own. Giving each child its own
//! `Arc` would cost N allocations; instead every child waker points into one
//! shared block, counted once, that outlives the gather for as long as any
//! waker clone is alive.
//!
//! # Layout of the shared block
//!
//! ```text
//!  base ─► ┌──────────────────────────────┐
//!          │ Header                       │  refs, parent waker,
//!          │                              │  len, levels, level_start[]
//!          ├──────────────────────────────┤ ◄─ base + size_of::<Header>()
//!          │ entries: [usize; len]        │  entries[i] == i
//!          ├──────────────────────────────┤ ◄─ base + words_offset
//!          │ words: [AtomicUsize; total]  │  the ready bitmap, all levels
//!          └──────────────────────────────┘
//! ```
//!
//! A child waker's data pointer is `&entries[i]`, derived from `base` so that
//! it carries the provenance of the whole block. The entry holds `i`, and
//! because the entries start at a fixed offset, `base = entry - offset - i`:
//! one load and one subtraction lead from any waker back to its header. The
//! entry costs a word per child; it is the price of an O(1) way home that
//! works for every `len`.
//!
//! # The ready bitmap
//!
//! Level 0 holds one bit per child. Each level above holds one bit per word of
//! the level below, until a level fits in one word. With 64-bit words that is
//! one level up to 64 children, two up to 4096, three up to 262 144. Marking
//! child `i` sets its bit, and walks up only while the word it changed was
//! zero before: a non-zero word has already been announced to its parent (or
//! the poller is about to read it). A wake therefore costs one to `levels`
//! atomic ORs, never a scan. Draining walks down from the top word,
//! swapping each word it visits to zero, and so yields the marked children in
//! ascending index order, touching only words that hold marks.
//!
//! Invariant (what makes the early stop in [`SetPtr::mark`] safe): a word is
//! non-zero only if its parent bit is set, or the marker that made it
//! non-zero has yet to set that bit, or a drain has taken the parent bit and
//! has yet to swap this word. A drain that stops part-way breaks this, so it
//! may only stop when the gather is finished (a fail-fast error or a panic).
//!
//! The same walk decides when to wake the gather's task: only the mark that
//! turns the *top* word from zero to non-zero does. A drain starts by
//! swapping the top word to zero, so that is the first mark since the last
//! drain began; every later mark either reaches a word that is already
//! announced (and a wake or a drain in progress will find it) or turns the
//! top word non-zero again and wakes the task itself. A burst of wakes
//! between two polls thus costs one wake of the task, with no flag of its
//! own to keep.
//!
//! # The parent waker
//!
//! The gather's own waker lives in the header ([`ParentWaker`], in
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
//! waker that points at the gather's [`Wakers`] and knows which child is being
//! polled; it can only be reached through the `&Waker` of that child's poll,
//! and its `clone` creates the block and returns a real child waker.

use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop};
use core::ops::{ControlFlow, Deref};
use core::ptr::{self, NonNull};
use core::task::{RawWaker, RawWakerVTable, Waker};

use crate::sync::{fence, AtomicPtr, AtomicUsize, Ordering};

mod parent;
use parent::ParentWaker;

/// Bits per bitmap word. Two under loom, so that a model with a handful of
/// children already exercises several levels.
const BITS: usize = if cfg!(loom) { 2 } else { usize::BITS as usize };
/// Enough levels for `usize::MAX` children.
const MAX_LEVELS: usize = usize::BITS.div_ceil(BITS.trailing_zeros()) as usize;
/// Where `entries` starts: right after the header, which is `usize`-aligned.
const ENTRIES_OFFSET: usize = size_of::<Header>();

/// The shared block's fixed part. `repr(C)` so that `ENTRIES_OFFSET` is exact.
#[repr(C)]
struct Header {
    /// Counted references: one for the gather while it runs, one per live
    /// child waker.
    refs: AtomicUsize,
    parent: ParentWaker,
    len: usize,
    levels: usize,
    /// Index in `words` of each level's first word.
    level_start: [usize; MAX_LEVELS],
    /// Byte offset of `words` from the block's base.
    words_offset: usize,
    total_words: usize,
    /// The block's layout, kept so that freeing it need not work it out again.
    layout: Layout,
}

/// How many levels the bitmap of `len` children needs, where each starts,
/// and how many words they take together.
fn plan(len: usize) -> (usize, [usize; MAX_LEVELS], usize) {
    let mut level_start = [0; MAX_LEVELS];
    if len <= BITS {
        // The common small gather: one word, one level.
        return (1, level_start, 1);
    }
    let mut total_words = 0;
    let mut bits = len.max(1);
    let mut levels = 0;
    loop {
        let words = bits.div_ceil(BITS);
        level_start[levels] = total_words;
        total_words += words;
        levels += 1;
        if words == 1 {
            return (levels, level_start, total_words);
        }
        bits = words;
    }
}

fn block_layout(len: usize, total_words: usize) -> (Layout, usize) {
    let too_many = "safe-gather: too many children for one gather";
    let entries = Layout::array::<usize>(len).expect(too_many);
    let words = Layout::array::<AtomicUsize>(total_words).expect(too_many);
    let (layout, entries_offset) = Layout::new::<Header>().extend(entries).expect(too_many);
    debug_assert_eq!(entries_offset, ENTRIES_OFFSET);
    let (layout, words_offset) = layout.extend(words).expect(too_many);
    (layout.pad_to_align(), words_offset)
}

/// A pointer to a live shared block. Copyable and uncounted: whoever uses
/// one must hold a counted reference for as long as they do.
#[derive(Clone, Copy)]
struct SetPtr(NonNull<Header>);

impl SetPtr {
    /// Allocates a block for `len` children with one counted reference,
    /// `parent` registered and nothing marked.
    fn create(len: usize, parent: Option<Waker>) -> SetPtr {
        debug_assert!(len > 0, "an empty gather never needs wakers");
        let (levels, level_start, total_words) = plan(len);
        let (layout, words_offset) = block_layout(len, total_words);
        // SAFETY: the layout is never zero-sized: it holds a `Header`.
        let base = unsafe { alloc(layout) };
        let Some(base) = NonNull::new(base) else {
            handle_alloc_error(layout)
        };
        let header = Header {
            refs: AtomicUsize::new(1),

            parent: ParentWaker::new(parent),
            len,
            levels,
            level_start,
            words_offset,
            total_words,
            layout,
        };
        // SAFETY: `base` is a fresh allocation of `layout`, which holds a
        // `Header` at 0, `len` entries at `ENTRIES_OFFSET` and `total_words`
        // words at `words_offset` (from `block_layout`), each suitably
        // aligned. Nothing reads the block before these writes finish.
        unsafe {
            base.cast::<Header>().as_ptr().write(header);
            let entries = base.as_ptr().add(ENTRIES_OFFSET).cast::<usize>();
            for child in 0..len {
                entries.add(child).write(child);
            }
            let words = base.as_ptr().add(words_offset).cast::<AtomicUsize>();
            for word in 0..total_words {
                words.add(word).write(AtomicUsize::new(0));
            }
        }
        SetPtr(base.cast())
    }

    /// The block's header.
    ///
    /// # Safety
    /// The block must stay alive for `'a`.
    #[inline]
    unsafe fn header<'a>(self) -> &'a Header {
        // SAFETY: the caller keeps the block alive; the header was
        // initialised in `create` and is only mutated through atomics and the
        // `ParentWaker` protocol.
        unsafe { self.0.as_ref() }
    }

    /// Word `index` of the bitmap (all levels, level 0 first).
    ///
    /// # Safety
    /// The block must stay alive for `'a`, and `index < total_words`.
    #[inline]
    unsafe fn word<'a>(self, index: usize) -> &'a AtomicUsize {
        // SAFETY: the caller keeps the block alive for `'a`.
        let header = unsafe { self.header() };
        debug_assert!(index < header.total_words);
        // SAFETY: `self.0` carries the provenance of the whole block (it came
        // from `alloc`, or from an entry pointer derived from it); the words
        // start at `words_offset` and `index` is in bounds, so the pointer is
        // in the block, aligned and initialised.
        unsafe {
            &*self
                .0
                .as_ptr()
                .cast::<u8>()
                .add(header.words_offset)
                .cast::<AtomicUsize>()
                .add(index)
        }
    }

    /// The data pointer of child `child`'s waker.
    ///
    /// # Safety
    /// The block must be alive and `child < len`.
    #[inline]
    unsafe fn entry(self, child: usize) -> *const () {
        // SAFETY: entries start at `ENTRIES_OFFSET` and there are `len` of
        // them; the caller guarantees `child < len`.
        unsafe {
            self.0
                .as_ptr()
                .cast::<u8>()
                .add(ENTRIES_OFFSET)
                .cast::<usize>()
                .add(child)
                .cast()
        }
    }

    /// The block and child index behind a child waker's data pointer.
    ///
    /// # Safety
    /// `entry` must come from [`SetPtr::entry`] of a block that is still alive.
    #[inline]
    unsafe fn from_entry(entry: *const ()) -> (SetPtr, usize) {
        // SAFETY: `entry` points at an initialised entry of a live block, and
        // entry `i` holds `i`.
        let child = unsafe { entry.cast::<usize>().read() };
        // SAFETY: entry `child` sits `ENTRIES_OFFSET + child * size_of::<usize>()`
        // bytes after the base, and `entry` carries the provenance of the
        // whole block, so stepping back stays inside it.
        let base = unsafe {
            entry
                .cast::<u8>()
                .sub(ENTRIES_OFFSET + child * size_of::<usize>())
        };
        // SAFETY: `base` is the non-null address the block was allocated at.
        (
            SetPtr(unsafe { NonNull::new_unchecked(base.cast_mut()) }.cast()),
            child,
        )
    }

    /// Marks child `child` ready, and wakes the parent if this is the first
    /// mark since the last drain began (see the module docs).
    ///
    /// # Safety
    /// The block must be alive and `child < len`.
    unsafe fn mark(self, child: usize) {
        // SAFETY: the caller keeps the block alive for this call.
        let header = unsafe { self.header() };
        let mut index = child;
        for level in 0..header.levels {
            let bit = 1usize << (index % BITS);
            // SAFETY: `index / BITS` is within this level, whose words start
            // at `level_start[level]` (see `plan`).
            let word = unsafe { self.word(header.level_start[level] + index / BITS) };
            // AcqRel: pairs with the drain's swap, so that a mark whose word
            // was just emptied by a drain is ordered after that drain's swap of
            // the parent word (see the invariant in the module docs).
            if word.fetch_or(bit, Ordering::AcqRel) != 0 {
                // Already announced upwards, so already notified.
                return;
            }
            index /= BITS;
        }
        // The top word was empty: the first mark since the last drain began.
        header.parent.wake();
    }

    /// Visits every marked child in ascending order, unmarking it first.
    ///
    /// # Safety
    /// The block must be alive. Breaking out early loses the marks not yet
    /// visited: only do so when the gather is finished. A panic in `visit`
    /// loses them too, and worse, leaves marks in lower words whose bit
    /// above is gone, so later wakes of their neighbours no longer wake the
    /// task; harmless, as the panic poisons the gather, which can then only
    /// be dropped (the fuzzer checks exactly this case).
    unsafe fn drain<B>(self, visit: &mut impl FnMut(usize) -> ControlFlow<B>) -> ControlFlow<B> {
        // SAFETY: the caller keeps the block alive.
        let header = unsafe { self.header() };
        // SAFETY: the top level is one word, at index `level_start[levels - 1]`.
        unsafe { self.drain_word(header, header.levels - 1, 0, visit) }
    }

    /// # Safety
    /// As [`SetPtr::drain`], and `word_index` must be within `level`.
    unsafe fn drain_word<B>(
        self,
        header: &Header,
        level: usize,
        word_index: usize,
        visit: &mut impl FnMut(usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        // SAFETY: the caller guarantees `word_index` is within `level`.
        let word = unsafe { self.word(header.level_start[level] + word_index) };
        // Always a swap, never a cheaper load first: a read-modify-write
        // reads the latest value, which a plain load need not. At the top
        // level that matters: a mark turned away by a registration (a failed
        // CAS, which publishes nothing) relies on this drain to see it, and
        // if its OR comes after this swap instead, it reads this swap and so
        // finds the registration over, and wakes the task itself. Lower
        // levels are only visited through a bit just taken from their
        // parent, so they are rarely zero anyway.
        let mut bits = word.swap(0, Ordering::AcqRel);
        while bits != 0 {
            let bit = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let index = word_index * BITS + bit;
            if level == 0 {
                visit(index)?;
            } else {
                // SAFETY: bit `bit` of this word stands for word `index` of
                // the level below, which exists because only such bits are set.
                unsafe { self.drain_word(header, level - 1, index, visit)? };
            }
        }
        ControlFlow::Continue(())
    }

    /// Adds a counted reference.
    ///
    /// # Safety
    /// The caller must already hold one (so the block is alive).
    unsafe fn acquire(self) {
        // SAFETY: the caller holds a reference.
        let header = unsafe { self.header() };
        // Relaxed, as in `Arc::clone`: a new reference is made from an
        // existing one, which already orders everything before it.
        let old = header.refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            abort_on_overflow();
        }
    }

    /// Gives up a counted reference, freeing the block with the last one.
    ///
    /// # Safety
    /// The caller must hold a reference, and not use the block afterwards.
    unsafe fn release(self) {
        // SAFETY: the caller holds a reference until the decrement below.
        let header = unsafe { self.header() };
        if header.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: every other holder's last use of the block happens before
        // the free below (the `Arc::drop` argument).
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference; nobody else can reach the block.
        unsafe { self.free() }
    }

    /// # Safety
    /// No reference to the block may remain.
    unsafe fn free(self) {
        let base = self.0.as_ptr();
        // SAFETY: the block is initialised and no longer shared; the header is
        // read out (not dropped in place) so that a panicking parent waker
        // drop happens after the memory is returned, and cannot leak it.
        unsafe {
            let header = base.read();
            let words = base
                .cast::<u8>()
                .add(header.words_offset)
                .cast::<AtomicUsize>();
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(words, header.total_words));
            dealloc(base.cast(), header.layout);
            drop(header);
        }
    }
}

#[cold]
fn abort_on_overflow() -> ! {
    // A panic while panicking aborts, without `std`.
    struct Abort;
    impl Drop for Abort {
        fn drop(&mut self) {
            panic!("safe-gather: waker reference count overflow");
        }
    }
    let _abort = Abort;
    panic!("safe-gather: waker reference count overflow");
}

static CHILD_VTABLE: RawWakerVTable =
    RawWakerVTable::new(child_clone, child_wake, child_wake_by_ref, child_drop);

// The four functions below are only ever called by `Waker` with a data pointer
// that `SetPtr::entry` produced, either for a waker that owns a counted
// reference (made by `child_clone` or `inline_clone`) or for a borrowed one
// lent by `Wakers::waker_for` while the gather holds its own reference.

unsafe fn child_clone(entry: *const ()) -> RawWaker {
    // SAFETY: `entry` is a live child waker's, so its block is alive.
    unsafe {
        let (set, _) = SetPtr::from_entry(entry);
        set.acquire();
    }
    RawWaker::new(entry, &CHILD_VTABLE)
}

unsafe fn child_wake(entry: *const ()) {
    /// Gives up the consumed waker's reference even if waking the parent
    /// panics: `Waker::wake` has already forgotten the waker, so nothing
    /// else would.
    struct Release(*const ());
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: `self.0` is the entry of the owned waker being consumed.
            unsafe { child_drop(self.0) }
        }
    }
    let _release = Release(entry);
    // SAFETY: an owned waker holds a reference, given up by `_release`
    // after the mark.
    unsafe { child_wake_by_ref(entry) }
}

unsafe fn child_wake_by_ref(entry: *const ()) {
    // SAFETY: the waker keeps the block alive; its child index is in range.
    unsafe {
        let (set, child) = SetPtr::from_entry(entry);
        set.mark(child);
    }
}

unsafe fn child_drop(entry: *const ()) {
    // SAFETY: only owned wakers are dropped through the vtable (borrowed
    // ones are `ManuallyDrop`), and each owns one reference.
    unsafe {
        let (set, _) = SetPtr::from_entry(entry);
        set.release();
    }
}

static INLINE_VTABLE: RawWakerVTable = RawWakerVTable::new(
    inline_clone,
    inline_wake_by_ref,
    inline_wake_by_ref,
    inline_drop,
);

// The inline waker's data pointer is a `&Wakers` inside the pinned gather. It
// is lent only as the `&Waker` of one child's first poll (`Wakers::waker_for`),
// so it is never owned: `wake` and `drop` by value cannot happen, and the
// gather is alive and pinned for every call.

unsafe fn inline_clone(wakers: *const ()) -> RawWaker {
    // SAFETY: see above: the gather, and so its `Wakers`, is alive.
    let wakers = unsafe { &*wakers.cast::<Wakers>() };
    let set = wakers.ensure_set();
    let child = wakers.first_poll.load(Ordering::Relaxed);
    // SAFETY: `wakers` holds a reference to the block, so it is alive, and
    // `child` is the index of the child being polled, below `len`.
    unsafe {
        set.acquire();
        RawWaker::new(set.entry(child), &CHILD_VTABLE)
    }
}

unsafe fn inline_wake_by_ref(wakers: *const ()) {
    // SAFETY: as in `inline_clone`.
    let wakers = unsafe { &*wakers.cast::<Wakers>() };
    let set = wakers.ensure_set();
    // SAFETY: as in `inline_clone`.
    unsafe { set.mark(wakers.first_poll.load(Ordering::Relaxed)) }
}

unsafe fn inline_drop(_: *const ()) {}

/// The gather's side of the wake bookkeeping: the shared block once some
/// child needed it, and what the inline waker needs until then.
pub(crate) struct Wakers {
    /// The shared block, or null until a child first clones or wakes its
    /// waker. Holds one counted reference while non-null.
    set: AtomicPtr<Header>,
    len: usize,
    /// The child being polled with the inline waker.
    first_poll: AtomicUsize,
    /// The gather's waker, valid for the duration of the current gather poll;
    /// registered in the block if a first poll creates it.
    parent: AtomicPtr<Waker>,
}

// The raw pointers are only read during a gather poll, whose `&mut` access
// to the gather makes them valid; the block itself is `Sync` by construction.
impl fmt::Debug for Wakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wakers")
            .field("allocated", &!self.set.load(Ordering::Relaxed).is_null())
            .finish_non_exhaustive()
    }
}

impl Wakers {
    pub(crate) fn new(len: usize) -> Self {
        Wakers {
            set: AtomicPtr::new(ptr::null_mut()),
            len,
            first_poll: AtomicUsize::new(0),
            parent: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    fn get(&self) -> Option<SetPtr> {
        // Acquire: pairs with the release of `ensure_set`'s exchange, which
        // published the block's initialisation.
        NonNull::new(self.set.load(Ordering::Acquire)).map(SetPtr)
    }

    /// The block, created now if no child has needed it yet.
    fn ensure_set(&self) -> SetPtr {
        if let Some(set) = self.get() {
            return set;
        }
        // SAFETY: `ensure_set` runs only inside an inline waker call, that is
        // during a gather poll, which stored its live waker in `parent`.
        let parent = unsafe { &*self.parent.load(Ordering::Relaxed) }.clone();
        let fresh = SetPtr::create(self.len, Some(parent));
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

    /// Starts a gather poll: registers the gather's waker (before the drain,
    /// so that a mark the drain misses wakes this waker).
    pub(crate) fn begin_poll(&self, waker: &Waker) {
        self.parent
            .store(ptr::from_ref(waker).cast_mut(), Ordering::Relaxed);
        if let Some(set) = self.get() {
            // SAFETY: `self` holds a reference to the block, and this is the
            // thread polling the gather.
            unsafe { set.header().parent.register(waker) };
        }
    }

    /// Visits each child woken since the last drain, in ascending order,
    /// with the waker to poll it with. Breaking out is only allowed when the
    /// gather is finished (see `SetPtr::drain`).
    pub(crate) fn drain<B>(
        &self,
        mut visit: impl FnMut(usize, &Waker) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let Some(set) = self.get() else {
            return ControlFlow::Continue(());
        };
        // SAFETY: `self` holds a reference to the block for the whole drain;
        // the indices it yields were marked through child wakers, so are `< len`.
        unsafe {
            set.drain(&mut |child| {
                let waker = BorrowedWaker::child(set, child);
                visit(child, &waker)
            })
        }
    }

    /// The waker to poll child `child` with: its own if the block exists,
    /// else the inline one. Only for use within a gather poll (after
    /// `begin_poll`), as the `&Waker` of one child poll.
    #[inline]
    pub(crate) fn waker_for(&self, child: usize) -> BorrowedWaker<'_> {
        debug_assert!(child < self.len);
        match self.get() {
            // SAFETY: `self` holds a reference; `child < len`.
            Some(set) => unsafe { BorrowedWaker::child(set, child) },
            None => {
                self.first_poll.store(child, Ordering::Relaxed);
                let raw = RawWaker::new(ptr::from_ref(self).cast(), &INLINE_VTABLE);
                // SAFETY: the inline vtable's contract is upheld: the gather
                // is pinned while this waker is lent, and it is only lent as
                // the `&Waker` of one child's poll (see `INLINE_VTABLE`).
                BorrowedWaker::new(unsafe { Waker::from_raw(raw) })
            }
        }
    }

    /// The gather has finished: stop waking its task, and let the block go
    /// once the last child waker does.
    pub(crate) fn close(&mut self) {
        // Only this thread (holding `&mut self`) could have stored the block,
        // or an inline waker during one of its polls, so a plain load sees it;
        // the swap, a locked instruction, is paid only when there is a block.
        // (A swap rather than `get_mut`, which loom's atomics lack.)
        if self.set.load(Ordering::Relaxed).is_null() {
            return;
        }
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

impl Drop for Wakers {
    fn drop(&mut self) {
        self.close();
    }
}

/// A child waker lent for one poll, without a counted reference of its own.
pub(crate) struct BorrowedWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _wakers: PhantomData<&'a Wakers>,
}

impl BorrowedWaker<'_> {
    #[inline]
    fn new(waker: Waker) -> Self {
        BorrowedWaker {
            waker: ManuallyDrop::new(waker),
            _wakers: PhantomData,
        }
    }

    /// # Safety
    /// The caller holds a reference to `set` for the borrow, and `child < len`.
    #[inline]
    unsafe fn child(set: SetPtr, child: usize) -> Self {
        // SAFETY: the child vtable's contract holds for `entry(child)`; the
        // waker is never dropped through the vtable (`ManuallyDrop`), so it
        // needs no reference of its own: the caller's keeps the block alive.
        let raw = RawWaker::new(unsafe { set.entry(child) }, &CHILD_VTABLE);
        // SAFETY: as above.
        BorrowedWaker::new(unsafe { Waker::from_raw(raw) })
    }
}

impl Deref for BorrowedWaker<'_> {
    type Target = Waker;

    fn deref(&self) -> &Waker {
        &self.waker
    }
}
