//! The shared wake block: per-child wakers in one allocation, and the ready
//! set they mark.
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
//! has yet to swap this word.
//!
//! A drain may stop part-way in two ways. When the gather is finishing (a
//! fail-fast error, a panic) the marks not yet visited no longer matter.
//! When it only *pauses* (its poll budget is spent, or an unordered gather
//! hands out the child that just finished), the marks it has taken and not
//! yet visited stay in its *cursor* (in the header, touched only by the
//! thread polling the gather): the bits left at each level of the path it
//! was on. The next drain goes on from the cursor and, once it is done,
//! ends there: a new drain, which swaps the top word again, starts only at
//! the poll after. So a paused round is always finished before a new one
//! begins, and a child woken again and again cannot starve those after it.
//!
//! A paused drain is a drain in progress for the invariant: the words whose
//! parent bit sits in the cursor are non-zero and will be swapped when the
//! drain goes on, so a mark in them stops there and wakes nobody; a mark in
//! a word the drain has already swapped walks up to the top, which it swapped
//! first, and wakes the task. Resuming is certain: a paused gather either
//! wakes its own task (budget) or returns an item, after which its consumer
//! polls again or drops it.
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

#[cfg(feature = "alloc")]
use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use core::mem::size_of;
#[cfg(feature = "alloc")]
use core::ptr;
use core::ptr::NonNull;
#[cfg(feature = "alloc")]
use core::task::Waker;
use core::task::{RawWaker, RawWakerVTable};

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

use super::parent::ParentWaker;

/// Bits per bitmap word. Two under loom, so that a model with a handful of
/// children already exercises several levels.
pub(super) const BITS: usize = if cfg!(loom) { 2 } else { usize::BITS as usize };
/// Levels enough for every gather whose block can be allocated: `BITS^6`
/// children, 2^36 on 64-bit targets (whose entries alone would take
/// 512 GiB) and 2^30 on 32-bit ones (past the address space). Each level
/// costs three words of the header, which is most of a small gather's
/// block. Under loom, whose words hold two bits, enough for `usize::MAX`.
const MAX_LEVELS: usize = if cfg!(loom) { usize::BITS as usize } else { 6 };
/// Where `entries` starts: right after the header, which is `usize`-aligned.
const ENTRIES_OFFSET: usize = size_of::<Header>();

/// The shared block's fixed part. `repr(C)` so that `ENTRIES_OFFSET` is exact.
#[repr(C)]
pub(super) struct Header {
    /// Counted references: one for the gather while it runs, one per live
    /// child waker.
    refs: AtomicUsize,
    pub(super) parent: ParentWaker,
    len: usize,
    levels: usize,
    /// Index in `words` of each level's first word.
    level_start: [usize; MAX_LEVELS],
    /// Byte offset of `words` from the block's base.
    words_offset: usize,
    total_words: usize,
    /// The block's layout, kept so that freeing it need not work it out again.
    #[cfg(feature = "alloc")]
    layout: Layout,
    /// Where a paused drain goes on; only the polling thread touches it.
    cursor: UnsafeCell<Cursor>,
}

/// The marks a paused drain has taken from the bitmap and not yet visited.
struct Cursor {
    /// A drain paused part-way: the next drain goes on with its path, below.
    /// When no drain is paused, the path is empty (no bits at any level).
    paused: bool,
    /// Per level: the index of the word the path is in, and its bits not yet
    /// visited.
    word: [usize; MAX_LEVELS],
    bits: [usize; MAX_LEVELS],
}

/// How many levels the bitmap of `len` children needs, where each starts,
/// and how many words they take together.
#[inline(always)]
pub(super) const fn plan(len: usize) -> (usize, [usize; MAX_LEVELS], usize) {
    let mut level_start = [0; MAX_LEVELS];
    if len <= BITS {
        // The common small gather: one word, one level.
        return (1, level_start, 1);
    }
    let mut total_words = 0;
    let mut bits = len;
    let mut levels = 0;
    loop {
        let words = bits.div_ceil(BITS);
        assert!(
            levels < MAX_LEVELS,
            "safe-gather: too many children for one gather"
        );
        level_start[levels] = total_words;
        total_words += words;
        levels += 1;
        if words == 1 {
            return (levels, level_start, total_words);
        }
        bits = words;
    }
}

#[cfg(feature = "alloc")]
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
pub(super) struct SetPtr(pub(super) NonNull<Header>);

impl Header {
    crate::sync::const_unless_loom! {
        /// The header of a caller-owned block of `len` children whose words
        /// start `words_offset` bytes from its base (`static_slots.rs`):
        /// closed, so free for a gather to claim, and counted once for
        /// good, so that it is never freed.
        pub(super) fn fixed(len: usize, words_offset: usize) -> Header {
            let (levels, level_start, total_words) = plan(len);
            Header {
                refs: AtomicUsize::new(1),
                parent: ParentWaker::closed(),
                len,
                levels,
                level_start,
                words_offset,
                total_words,
                #[cfg(feature = "alloc")]
                layout: Layout::new::<Header>(),
                cursor: UnsafeCell::new(Cursor {
                    paused: false,
                    word: [0; MAX_LEVELS],
                    bits: [0; MAX_LEVELS],
                }),
            }
        }
    }
}

impl SetPtr {
    /// Allocates a block for `len` children with one counted reference,
    /// `parent` registered and nothing marked.
    #[cfg(feature = "alloc")]
    pub(super) fn create(len: usize, parent: Option<Waker>) -> SetPtr {
        debug_assert!(len > 0, "an empty gather never needs wakers");
        #[cfg(all(feature = "std", not(loom)))]
        if len <= BITS {
            if let Some(set) = super::spare::take(len) {
                // SAFETY: a spare block is allocated, of one level, and
                // nothing else reaches it.
                unsafe { set.reopen(parent) };
                return set;
            }
        }
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
            cursor: UnsafeCell::new(Cursor {
                paused: false,
                word: [0; MAX_LEVELS],
                bits: [0; MAX_LEVELS],
            }),
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

    /// Makes a spare block (`spare.rs`) new again for a gather: one counted
    /// reference, `parent` registered, nothing marked, no drain paused. Its
    /// length, layout and entries stay: it serves any gather of up to `len`
    /// slots, all of one level.
    ///
    /// # Safety
    /// The block must be allocated, of one level, with no counted reference
    /// and no parent waker left: nothing else may reach it.
    #[cfg(all(feature = "std", not(loom)))]
    unsafe fn reopen(self, parent: Option<Waker>) {
        let base = self.0.as_ptr();
        // SAFETY: the block is this thread's alone (the caller's guarantee)
        // and initialised; its old parent waker holds no waker, so it is
        // overwritten without a drop. A one-level block's only word is
        // word 0. Of the cursor, only `paused` needs resetting: with one
        // level, a drain that is not paused sets the path (level 0's word
        // and bits) before it reads it.
        unsafe {
            debug_assert_eq!((*base).levels, 1);
            (*base).refs.store(1, Ordering::Relaxed);
            ptr::addr_of_mut!((*base).parent).write(ParentWaker::new(parent));
            (*base).cursor.with_mut(|cursor| (*cursor).paused = false);
            self.word(0).store(0, Ordering::Relaxed);
        }
    }

    /// The block's header.
    ///
    /// # Safety
    /// The block must stay alive for `'a`.
    #[inline]
    pub(super) unsafe fn header<'a>(self) -> &'a Header {
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
    pub(super) unsafe fn entry(self, child: usize) -> *const () {
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
    pub(super) unsafe fn mark(self, child: usize) {
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

    /// Visits every marked child in ascending order, unmarking it first,
    /// until `visit` stops it; returns what it stopped with. A drain paused
    /// before goes on instead, and ends where it ends (see the module docs).
    ///
    /// # Safety
    /// The block must be alive, only the thread polling the gather may drain,
    /// and the indices `visit` receives are `< len`. A panic in `visit` loses
    /// the marks not yet visited, and worse,
    /// leaves marks in lower words whose bit above is gone, so later wakes of
    /// their neighbours no longer wake the task; harmless, as the panic
    /// poisons the gather, which can then only be dropped (the fuzzer checks
    /// exactly this case).
    pub(super) unsafe fn drain<B>(self, visit: &mut impl FnMut(usize) -> Visit<B>) -> Option<B> {
        // SAFETY: the caller keeps the block alive.
        let header = unsafe { self.header() };
        // SAFETY: only the polling thread touches the cursor (the caller's
        // guarantee), and `visit` cannot reach it; the words the walk swaps
        // exist (see `next_mark`).
        header.cursor.with_mut(|cursor| unsafe {
            let cursor = &mut *cursor;
            let levels = header.levels;
            if cursor.paused {
                cursor.paused = false;
            } else {
                // A new drain, on a path empty at every level. Always a swap,
                // never a cheaper load first: a read-modify-write reads the
                // latest value, which a plain load need not. A mark turned
                // away by a registration (a failed CAS, which publishes
                // nothing) relies on this drain to see it, and if its OR
                // comes after this swap instead, it reads this swap and so
                // finds the registration over, and wakes the task itself.
                cursor.word[levels - 1] = 0;
                cursor.bits[levels - 1] = self
                    .word(header.level_start[levels - 1])
                    .swap(0, Ordering::AcqRel);
            }
            loop {
                let index = self.next_mark(header, cursor)?;
                match visit(index) {
                    Visit::Next => {}
                    Visit::PauseAfter(stop) => {
                        // Nothing left on the path: the drain is over.
                        cursor.paused = cursor.bits[..levels].iter().any(|&bits| bits != 0);
                        return Some(stop);
                    }
                    Visit::PauseBefore(stop) => {
                        cursor.bits[0] |= 1 << (index % BITS);
                        cursor.paused = true;
                        return Some(stop);
                    }
                }
            }
        })
    }

    /// Takes the next mark off the drain's path: from level 0's word while
    /// it has marks (the common case: one test), else from the lowest level
    /// that has some, walking down from there and swapping each word it
    /// reaches. `None` once every level of the path is empty.
    ///
    /// # Safety
    /// As for [`drain`](Self::drain), during a drain.
    #[inline(always)]
    unsafe fn next_mark(self, header: &Header, cursor: &mut Cursor) -> Option<usize> {
        loop {
            let bits = cursor.bits[0];
            if bits != 0 {
                cursor.bits[0] = bits & (bits - 1);
                return Some(cursor.word[0] * BITS + bits.trailing_zeros() as usize);
            }
            let mut level = 1;
            while level < header.levels && cursor.bits[level] == 0 {
                level += 1;
            }
            if level == header.levels {
                return None;
            }
            // Down to level 0 through the first mark of each level. A word
            // below is reached only through a bit just taken from its
            // parent, so it is rarely zero (only when a mark raced with
            // this drain): then the walk starts over.
            while level > 0 {
                let bits = cursor.bits[level];
                if bits == 0 {
                    break;
                }
                cursor.bits[level] = bits & (bits - 1);
                let below = level - 1;
                let word = cursor.word[level] * BITS + bits.trailing_zeros() as usize;
                cursor.word[below] = word;
                // SAFETY: the bit taken stood for this word of the level
                // below, which exists because only such bits are set; the
                // block is alive.
                cursor.bits[below] = unsafe { self.word(header.level_start[below] + word) }
                    .swap(0, Ordering::AcqRel);
                level = below;
            }
        }
    }

    /// Whether a drain paused part-way: the next one goes on from its cursor
    /// rather than taking the marks made since.
    ///
    /// # Safety
    /// The block must be alive, and only the thread polling the gather may
    /// call this.
    pub(super) unsafe fn is_paused(self) -> bool {
        // SAFETY: the caller keeps the block alive.
        let header = unsafe { self.header() };
        // SAFETY: only the polling thread touches the cursor (the caller's
        // guarantee); this reads it and keeps no reference.
        header.cursor.with(|cursor| unsafe { (*cursor).paused })
    }

    /// Adds a counted reference.
    ///
    /// # Safety
    /// The caller must already hold one (so the block is alive).
    pub(super) unsafe fn acquire(self) {
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
    #[inline]
    pub(super) unsafe fn release(self) {
        // SAFETY: the caller holds a reference until the decrement below.
        let header = unsafe { self.header() };
        if header.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // SAFETY: that was the last reference.
        unsafe { self.release_last() }
    }

    /// The end of [`release`](Self::release) for the last reference: out
    /// of line, so that every other release (a child waker's drop, most
    /// wakes) is one decrement.
    ///
    /// # Safety
    /// The caller gave up the last reference, and uses the block no more.
    #[inline(never)]
    unsafe fn release_last(self) {
        // SAFETY: the caller's last reference kept the block alive.
        let header = unsafe { self.header() };
        // Acquire: every other holder's last use of the block happens before
        // the free below (the `Arc::drop` argument). An acquire load of the
        // count, not a fence: it synchronizes with every release decrement
        // just the same, and ThreadSanitizer, which does not model fences,
        // sees it (std's `Arc` does the same under TSan).
        header.refs.load(Ordering::Acquire);
        // SAFETY: that was the last reference; nobody else can reach the block.
        #[cfg(feature = "alloc")]
        unsafe {
            self.free();
        }
        // Without `alloc` every block is caller-owned, and counts one
        // reference of its own for good (`Header::fixed`).
        #[cfg(not(feature = "alloc"))]
        unreachable!("safe-gather: a caller-owned waker block lost its own reference");
    }

    /// Claims a caller-owned block for a gather of up to `len` slots (its
    /// capacity), at that gather's first poll: the block is free (no other
    /// gather owns it, see [`ParentWaker::reopen`]), and it comes back with
    /// a fresh ready set, a counted reference for the gather, and no
    /// registered waker. Returns `false`, and touches nothing, if the block
    /// is taken.
    ///
    /// Wakers of the gathers that had the block before may still mark it:
    /// each such mark costs the new gather at most a spurious poll of the
    /// slot it names (or of none, past its slots), the same as a stale waker
    /// of a reused pool slot.
    ///
    /// # Safety
    /// The block must be alive (it is `'static`), and the caller must be the
    /// thread polling the claiming gather.
    pub(super) unsafe fn claim(self) -> bool {
        // SAFETY: the caller keeps the block alive.
        let header = unsafe { self.header() };
        if !header.parent.reopen() {
            return false;
        }
        // The last owner may have left marks, a paused cursor, or (after a
        // panic in a drain) marks below cleared parent bits. Clear every
        // word, top level first: a stale mark racing with this then either
        // lands in a word already cleared and walks up to words already
        // cleared too (so the invariant holds: it wakes the new task once),
        // or is cleared with its parent bit (nothing left behind). Cleared
        // bottom-up instead, a mark could set a low word and then lose its
        // parent bit to the clearing: a later mark in that word would stop
        // there and wake nobody.
        for level in (0..header.levels).rev() {
            let start = header.level_start[level];
            let end = if level + 1 < header.levels {
                header.level_start[level + 1]
            } else {
                header.total_words
            };
            for index in start..end {
                // SAFETY: `index < total_words`; the block is alive.
                unsafe { self.word(index) }.swap(0, Ordering::AcqRel);
            }
        }
        // SAFETY: the reopen made this thread the block's poller; the last
        // owner's uses of the cursor happened before its close, which the
        // reopen acquired. Its drains start on an empty path.
        header.cursor.with_mut(|cursor| unsafe {
            (*cursor).paused = false;
            (*cursor).bits = [0; MAX_LEVELS];
        });
        // SAFETY: the block holds its own reference for good.
        unsafe { self.acquire() };
        true
    }

    /// Whether a caller-owned block is free for a gather to claim.
    ///
    /// # Safety
    /// The block must be alive.
    pub(super) unsafe fn is_free(self) -> bool {
        // SAFETY: the caller keeps the block alive.
        unsafe { self.header() }.parent.is_free()
    }

    /// The block's capacity, in slots.
    ///
    /// # Safety
    /// The block must be alive.
    pub(super) unsafe fn len(self) -> usize {
        // SAFETY: the caller keeps the block alive.
        unsafe { self.header() }.len
    }

    /// Frees the block, or keeps it as the thread's spare (`spare.rs`) for
    /// the next gather.
    ///
    /// # Safety
    /// No reference to the block may remain.
    #[cfg(feature = "alloc")]
    unsafe fn free(self) {
        #[cfg(all(feature = "std", not(loom)))]
        {
            // SAFETY: the block is alive and no longer shared.
            let header = unsafe { self.header() };
            // A block that still holds a parent waker is freed, which drops
            // it: one never registered with a gather does (a first-poll
            // waker's block that lost the race to install itself, made with
            // a clone of the task's waker), and reusing it would leak that.
            // SAFETY: as above; nobody else reaches the cells.
            if header.levels == 1 && unsafe { header.parent.is_empty() } {
                // SAFETY: one level, no reference, no waker left.
                if let Err(set) = unsafe { super::spare::keep(self) } {
                    // SAFETY: as above, and it was not kept.
                    unsafe { set.dealloc() };
                }
                return;
            }
        }
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.dealloc() }
    }

    /// Returns the block's memory to the allocator.
    ///
    /// # Safety
    /// No reference to the block may remain.
    #[cfg(feature = "alloc")]
    pub(super) unsafe fn dealloc(self) {
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

pub(super) static CHILD_VTABLE: RawWakerVTable =
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

/// What a drain's visitor wants next.
pub(crate) enum Visit<B> {
    /// Go on to the next marked child.
    Next,
    /// Stop after this child; the marks not yet visited wait for the next
    /// drain.
    PauseAfter(B),
    /// Stop before this child: its mark, and those after it, wait for the
    /// next drain.
    PauseBefore(B),
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{plan, BITS, MAX_LEVELS};

    #[test]
    fn the_largest_gather_the_header_has_levels_for_is_planned() {
        let most = BITS.pow(MAX_LEVELS as u32);
        let (levels, level_start, total_words) = plan(most);
        assert_eq!(levels, MAX_LEVELS);
        // Level k holds most / BITS^(k + 1) words.
        let words: usize = (1..=MAX_LEVELS).map(|k| most / BITS.pow(k as u32)).sum();
        assert_eq!(total_words, words);
        assert_eq!(level_start[1], most / BITS);
    }

    #[test]
    #[should_panic(expected = "safe-gather: too many children for one gather")]
    fn a_gather_past_the_levels_of_the_header_panics_with_a_clear_message() {
        plan(BITS.pow(MAX_LEVELS as u32) + 1);
    }
}
