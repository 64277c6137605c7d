//! The gather's own waker, shared with the child wakers: who may read it,
//! who may replace it, and how a wake that finds another under way is not
//! lost.
//!
//! # The protocol
//!
//! One thread polls the gather (the *poller*); any thread may wake. The
//! task's waker sits in a cell, `current`, that a waking thread reads while
//! it holds `WAKING`, calling `wake_by_ref` on it: the waker stays
//! registered, so a wake clones nothing. The poller replaces it while it
//! holds `REGISTERING`, which it takes only from a state without `WAKING`
//! (and wakers take `WAKING` only from a state without `REGISTERING`), so a
//! write never overlaps a read.
//!
//! When the poller must replace the waker while a wake holds `WAKING`, it
//! does not wait and does not wake anything: it leaves the new waker in a
//! second cell, `next`, and sets `PENDING`. Whoever holds `WAKING` installs
//! it (under `INSTALLING`, a short window with no foreign code in it) before
//! it wakes, and before it lets go. That is what keeps an executor that
//! polls the task from inside `wake` (and hands it a new waker each poll)
//! from livelocking: the poll that runs inside the wake registers its waker
//! by leaving it in `next`, returns, and the wake installs it on its way
//! out. An earlier version woke the new waker at once instead, which asked
//! such an executor for another poll, which registered yet another waker,
//! and so on forever inside one `wake` call.
//!
//! A wake turned away because another holds `WAKING` leaves a note,
//! `AGAIN`, and the holder wakes the task once more (with the newest waker)
//! if it finds the note when it lets go. So every mark is followed by a wake
//! of the task's newest registered waker.
//!
//! # Who owns which cell
//!
//! * `current`: written by the poller holding `REGISTERING`, or by a waking
//!   thread holding `WAKING | INSTALLING`; read by a waking thread holding
//!   `WAKING`, and by the poller when it sees neither `PENDING` nor
//!   `INSTALLING` (no install is under way then, and none can start, since
//!   only the poller sets `PENDING`).
//! * `next`: the poller's while `PENDING` is clear and no install is under
//!   way; once it sets `PENDING`, it belongs to whoever clears `PENDING`
//!   first: a waking thread (which sets `INSTALLING` in the same step) or the
//!   poller taking it back.

use core::task::Waker;

use crate::sync::{spin_loop, AtomicUsize, Ordering, UnsafeCell};

/// Nobody holds a cell.
const WAITING: usize = 0;
/// The poller is replacing `current`; its drain of the ready set comes next.
const REGISTERING: usize = 1 << 0;
/// A thread is waking the task through `current`.
const WAKING: usize = 1 << 1;
/// The gather has finished: wakes do nothing.
const CLOSED: usize = 1 << 2;
/// A wake arrived while another was under way: wake the task again.
const AGAIN: usize = 1 << 3;
/// `next` holds a waker the poller registered while a wake was under way.
const PENDING: usize = 1 << 4;
/// The `WAKING` holder is moving `next` into `current`.
const INSTALLING: usize = 1 << 5;

pub(super) struct ParentWaker {
    state: AtomicUsize,
    current: UnsafeCell<Option<Waker>>,
    next: UnsafeCell<Option<Waker>>,
}

impl ParentWaker {
    #[cfg(feature = "alloc")]
    pub(super) fn new(waker: Option<Waker>) -> Self {
        ParentWaker {
            state: AtomicUsize::new(WAITING),
            current: UnsafeCell::new(waker),
            next: UnsafeCell::new(None),
        }
    }

    crate::sync::const_unless_loom! {
        /// A parent waker that no gather owns yet: closed, as a finished
        /// gather leaves it, until [`reopen`](Self::reopen) claims it (the
        /// state of caller-owned, reusable wakers, `static_slots.rs`).
        pub(super) fn closed() -> Self {
            ParentWaker {
                state: AtomicUsize::new(CLOSED),
                current: UnsafeCell::new(None),
                next: UnsafeCell::new(None),
            }
        }
    }

    /// Claims a closed parent waker for a new gather, which then registers
    /// its waker as usual. Fails if it is open (another gather owns it) or a
    /// wake that began before the close is still under way (it may yet drop
    /// the old gather's waker, see `LetGo`): the caller then does without.
    ///
    /// Never waits: a wake under way may be the very frame that polls the
    /// claiming gather (an executor that polls inside `wake`).
    ///
    /// Acquire on success: the last owner's close (a release) happens
    /// before, and with it every use it made of the block's cells.
    pub(super) fn reopen(&self) -> bool {
        let state = self.state.load(Ordering::Acquire);
        if !free(state) {
            return false;
        }
        self.state
            .compare_exchange(state, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether no gather owns this parent waker (closed, and no wake under
    /// way that began before).
    pub(super) fn is_free(&self) -> bool {
        free(self.state.load(Ordering::Acquire))
    }

    /// Makes `new` the waker to wake; costs no atomic read-modify-write if it
    /// already is.
    ///
    /// # Safety
    /// Only the thread polling the gather may call this.
    #[inline]
    pub(super) unsafe fn register(&self, new: &Waker) {
        let state = self.state.load(Ordering::Acquire);
        if state & (PENDING | INSTALLING) == 0 {
            // SAFETY: no install is under way and none can start (only this
            // thread sets PENDING), so nobody writes `current` now.
            let registered = self
                .current
                .with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(new)) });
            if registered {
                return;
            }
        }
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.replace(new, state) }
    }

    /// [`register`](Self::register) of a waker that is not the one
    /// registered, with the `state` it read: out of line, so that the common
    /// case (the same waker again) is a load and a compare.
    ///
    /// # Safety
    /// As `register`.
    #[inline(never)]
    unsafe fn replace(&self, new: &Waker, state: usize) {
        let candidate = if state & (PENDING | INSTALLING) == 0 {
            new.clone()
        } else {
            match self.take_back_next() {
                Some(pending) if pending.will_wake(new) => pending,
                _ => new.clone(),
            }
        };
        // SAFETY: the caller is the polling thread.
        let stale = unsafe { self.publish(candidate) };
        drop(stale);
    }

    /// Takes a waker left in `next` back, if no waking thread took it first
    /// (then `None`, and it is in `current`, or about to be).
    fn take_back_next(&self) -> Option<Waker> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & PENDING == 0 {
                // A waking thread took it; wait for it to land in `current`.
                while self.state.load(Ordering::Acquire) & INSTALLING != 0 {
                    spin_loop();
                }
                return None;
            }
            // A waking thread may be taking it at this very moment: only
            // the step that clears PENDING gets it.
            match self.state.compare_exchange(
                state,
                state & !PENDING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                // SAFETY: clearing PENDING gave `next` back to this thread.
                Ok(_) => return self.next.with_mut(|slot| unsafe { (*slot).take() }),
                Err(actual) => state = actual,
            }
        }
    }

    /// Makes `waker` the one to wake: in `current` if no wake is under way,
    /// else in `next` for the waking thread to install. Returns the waker it
    /// replaced, for the caller to drop.
    ///
    /// # Safety
    /// Only the polling thread may call this, with `PENDING` clear.
    unsafe fn publish(&self, waker: Waker) -> Option<Waker> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            // An install needs PENDING, which only this thread sets, and
            // `take_back_next` waited for any install it raced with.
            debug_assert_eq!(state & (PENDING | INSTALLING | REGISTERING | CLOSED), 0);
            if state & WAKING != 0 {
                // SAFETY: PENDING is clear and no install is under way, so
                // `next` is this thread's (see the module docs).
                let stale = self.next.with_mut(|slot| unsafe { (*slot).replace(waker) });
                // AcqRel: releases `next` to whoever clears PENDING.
                self.state.fetch_or(PENDING, Ordering::AcqRel);
                return stale;
            }
            match self.state.compare_exchange(
                state,
                state | REGISTERING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: REGISTERING keeps wakers out of `current`.
                    let stale = self
                        .current
                        .with_mut(|slot| unsafe { (*slot).replace(waker) });
                    // AcqRel: releases the new waker to the next waking
                    // thread. A wake turned away meanwhile, or a note left
                    // before, needs no answer: its mark came before this
                    // state change, and the drain that follows every
                    // registration finds it.
                    self.state.swap(WAITING, Ordering::AcqRel);
                    return stale;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Wakes the task (see the module docs), unless the gather is
    /// registering (its drain comes next) or has closed.
    pub(super) fn wake(&self) {
        // Take WAKING, or leave a note for the thread that holds it.
        let mut seen = WAITING;
        loop {
            match self.state.compare_exchange(
                seen,
                seen | WAKING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) if actual & (REGISTERING | CLOSED) != 0 => return,
                Err(actual) if actual & WAKING != 0 => {
                    let before = self.state.fetch_or(AGAIN, Ordering::AcqRel);
                    if before & (WAKING | REGISTERING | CLOSED) != 0 {
                        // The holder (or the registration's drain) sees to it.
                        return;
                    }
                    // The holder let go in between: take WAKING ourselves.
                    seen = before | AGAIN;
                }
                // Notes only (AGAIN, PENDING): try again from what is there.
                Err(actual) => seen = actual,
            }
        }
        let mut guard = LetGo {
            parent: self,
            stale: None,
        };
        if seen & AGAIN != 0 {
            // This wake answers the note already.
            self.state.fetch_and(!AGAIN, Ordering::AcqRel);
        }
        'wake: loop {
            guard.install_next();
            // SAFETY: WAKING keeps the poller from writing `current`.
            self.current
                .with(|slot| unsafe { (*slot).as_ref().map(Waker::wake_by_ref) });
            loop {
                match self.state.compare_exchange(
                    WAKING,
                    WAITING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break 'wake,
                    // Closed meanwhile: `LetGo` drops the waker on its behalf.
                    Err(actual) if actual & CLOSED != 0 => return,
                    // A wake arrived while this one was under way, maybe after
                    // the task already ran: wake it again, with the newest waker.
                    Err(actual) if actual & AGAIN != 0 => {
                        self.state.fetch_and(!AGAIN, Ordering::AcqRel);
                        continue 'wake;
                    }
                    // Only a new waker (from a poll that ran while this wake
                    // was under way, perhaps inside it): install it and let
                    // go without waking it, since that poll's drain saw every
                    // mark made before it, and a later one would have left
                    // AGAIN.
                    Err(_) => guard.install_next(),
                }
            }
        }
        let stale = guard.stale.take();
        core::mem::forget(guard);
        // Dropped last, with nothing held: a waker's drop may run any code.
        drop(stale);
    }

    /// Whether both cells are empty, as they are once the block's last
    /// counted reference is gone: the gather's close took its wakers, or
    /// left them to the wake under way, which took them before letting go.
    ///
    /// # Safety
    /// No other thread may use this parent waker.
    #[cfg(all(feature = "std", not(loom)))]
    pub(super) unsafe fn is_empty(&self) -> bool {
        // SAFETY: nobody else uses the cells (the caller's guarantee).
        unsafe {
            self.current.with(|slot| (*slot).is_none()) && self.next.with(|slot| (*slot).is_none())
        }
    }

    /// The gather has finished: no wake reaches its task any more. Returns
    /// the wakers for the caller to drop, unless a wake in progress will.
    ///
    /// # Safety
    /// Only the thread polling the gather may call this.
    #[inline]
    pub(super) unsafe fn close(&self) -> (Option<Waker>, Option<Waker>) {
        let pending = self.take_back_next();
        if self.state.fetch_or(CLOSED, Ordering::AcqRel) & WAKING == 0 {
            // SAFETY: no wake holds `current`, and none will take it now.
            let current = self.current.with_mut(|slot| unsafe { (*slot).take() });
            (current, pending)
        } else {
            (None, pending)
        }
    }
}

/// Whether `state` is a closed parent waker that a new gather may reopen:
/// closed, nothing held, nothing pending. Only a note may remain: an AGAIN
/// left by a wake turned away after the close, which concerns the old
/// gather alone.
fn free(state: usize) -> bool {
    state & !AGAIN == CLOSED
}

/// A wake in progress: installs registered wakers, and lets go of WAKING
/// when the wake ends early (the task's waker panicked, or the gather closed
/// while the wake was under way, in which case it drops the waker on the
/// gather's behalf).
struct LetGo<'a> {
    parent: &'a ParentWaker,
    /// The waker an install replaced, dropped once nothing is held.
    stale: Option<Waker>,
}

impl LetGo<'_> {
    /// Moves a waker left in `next` into `current`, if there is one.
    fn install_next(&mut self) {
        let parent = self.parent;
        let mut state = parent.state.load(Ordering::Acquire);
        while state & PENDING != 0 {
            match parent.state.compare_exchange(
                state,
                (state & !PENDING) | INSTALLING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: clearing PENDING gave `next` to this thread.
                    let fresh = parent.next.with_mut(|slot| unsafe { (*slot).take() });
                    // SAFETY: WAKING keeps the poller out of `current`, and
                    // INSTALLING keeps it from reading it.
                    let old = parent
                        .current
                        .with_mut(|slot| unsafe { core::mem::replace(&mut *slot, fresh) });
                    // Release: the poller reads `current` once it sees this.
                    parent.state.fetch_and(!INSTALLING, Ordering::AcqRel);
                    // Keep only the newest replaced waker for later; an older
                    // one is dropped now, which is safe but runs foreign code.
                    drop(core::mem::replace(&mut self.stale, old));
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }
}

impl Drop for LetGo<'_> {
    fn drop(&mut self) {
        let parent = self.parent;
        let mut state = parent.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                // SAFETY: `close` saw WAKING and left `current` to us; no
                // other wake takes WAKING once CLOSED is set, `close` took
                // `next`, and no new gather can reopen the block while we
                // hold WAKING. So the waker is taken *before* WAKING goes:
                // once it does, a reopened block's `current` is the new
                // gather's, and taking it then would lose its wake-ups.
                let stale = parent.current.with_mut(|slot| unsafe { (*slot).take() });
                parent.state.fetch_and(!(WAKING | AGAIN), Ordering::AcqRel);
                drop(stale);
                return;
            }
            // Not closed: let go, unless the gather closes meanwhile (then
            // the exchange fails and the waker is ours to drop, above).
            match parent.state.compare_exchange(
                state,
                state & !(WAKING | AGAIN),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }
}

// SAFETY: the parent waker is shared between the gather and child wakers on
// any thread; every mutable part is an atomic or one of the two cells, whose
// protocol (see the module docs) gives one thread at a time access to each
// (`Send + Sync`) waker.
unsafe impl Send for ParentWaker {}
// SAFETY: as above.
unsafe impl Sync for ParentWaker {}
