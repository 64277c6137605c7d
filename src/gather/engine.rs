//! One gather poll: which children are polled, in which order, and when it
//! stops.
//!
//! A *round* polls the children woken since the last one, in ascending input
//! order, then starts children not yet started, in input order, while the
//! limit allows (each gets its first poll at once). Each child is polled at
//! most once per round, so a child that wakes itself while polled is polled
//! again at the next round, never in a loop inside one. A round stops early
//! when a child fails (fail-fast), when a child finishes and the gather hands
//! outputs out one at a time (`.unordered()`), or when its budget of child
//! polls is spent; a stopped round leaves the children it did not reach for
//! the next one, still in order.
//!
//! Two schedules, by storage:
//!
//! * **Direct**: slot `i` holds child `i`, so visiting the woken slots in
//!   slot order (the bitmap's drain) is input order. Arrays, tuples, and an
//!   iterator's children when each has a slot of its own.
//! * **Queued**: a pool reuses its slots, so slot order says nothing about
//!   input order. At the start of a round the woken slots are drained into
//!   the pool's queue and sorted by child index; each child that finishes
//!   hands its slot to the next child, which goes to the back of the queue
//!   (its index is the highest so far, so the queue stays sorted) and is
//!   polled in the same round. A round that stops early leaves the rest of
//!   the queue for the next, which drains the wakers again only once the
//!   queue is empty.

use core::pin::Pin;
use core::task::{Context, Waker};

use crate::storage::{Finished, Polled, Schedule, Start, Storage};
use crate::waker::{Visit, WakeMode, Wakers};

/// The child polls a gather poll may make unless
/// [`.poll_budget(n)`](super::SafeGather::poll_budget) says otherwise.
///
/// 1024 child polls of trivial children take a few tens of microseconds; of
/// children doing real work (a parse, a syscall), around a millisecond: a
/// round that long still lets an executor's other tasks run between rounds,
/// and gathers of up to 1024 children, the common size, never notice it
/// (every round of theirs fits in one poll, as if there were no budget).
pub const DEFAULT_POLL_BUDGET: usize = 1024;

/// Whether the executor's own budget says to stop: with the `tokio` feature,
/// tokio's cooperative budget for the current task, through its public
/// `task::coop::has_budget_remaining` (true outside a tokio runtime). A round
/// consults it only after its first child poll, so every poll makes
/// progress whatever tokio says.
#[inline]
fn executor_budget_spent() -> bool {
    #[cfg(feature = "tokio")]
    {
        !tokio::task::coop::has_budget_remaining()
    }
    #[cfg(not(feature = "tokio"))]
    {
        false
    }
}

/// Where a gather is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not polled yet: modifiers may still change it.
    Unpolled,
    /// Being polled, or waiting for a wake.
    Running,
    /// Resolved; must not be polled again.
    Done,
    /// A poll unwound (a child, its input, a timer or a waker panicked); must
    /// not be polled again. Set at the start of every poll, cleared when it
    /// returns.
    Poisoned,
}

/// What a round may do, by mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// The first error ends the round (and the gather).
    pub(crate) fail_fast: bool,
    /// Each finished child ends the round, to be handed out.
    pub(crate) one_at_a_time: bool,
    /// Children not yet started may start (not in a grace period).
    pub(crate) start: bool,
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoundEnd {
    /// Nothing left to poll until a wake.
    Idle,
    /// The budget ran out with children left to poll.
    Paused,
    /// Child `index` failed (fail-fast), in slot `slot`.
    Failed { index: usize, slot: usize },
    /// A child finished in `slot`, to be handed out (`one_at_a_time`).
    Landed { slot: usize },
}

/// The counters of one gather.
#[derive(Debug)]
pub(crate) struct Run {
    /// Most children in flight at once (`usize::MAX` unless limited).
    pub(crate) limit: usize,
    /// Most child polls per gather poll.
    pub(crate) budget: usize,
    /// Children `0..started` have been started (taken and first polled, or
    /// queued for their first poll).
    pub(crate) started: usize,
    /// Started and not yet finished.
    pub(crate) running: usize,
    /// Finished, successfully or not.
    pub(crate) finished: usize,
    /// The input has no more children to start.
    pub(crate) exhausted: bool,
    /// Direct schedule: the last round paused while starting children, so
    /// the next one goes on starting them before it takes new wakes (else a
    /// child that wakes itself could take every budget, and starve those
    /// not yet started).
    starting: bool,
    /// Slots in the storage's queue (queued schedule).
    queued: usize,
    /// The slot of the wakers that the input has (a stream's), if any.
    pub(crate) source_slot: Option<usize>,
    /// Of those, the last `fresh` hold children started after the round
    /// they belong to stopped (unordered): their first poll opens the next
    /// round, with the woken children.
    fresh: usize,
    pub(crate) schedule: Schedule,
    pub(crate) phase: Phase,
    /// Cancellation began (a fail-fast error, or the deadline) and a grace
    /// period runs: how the gather resolves when it ends.
    pub(crate) cancel: Option<super::Outcome>,
}

impl Run {
    pub(crate) fn new() -> Self {
        Run {
            limit: usize::MAX,
            budget: DEFAULT_POLL_BUDGET,
            started: 0,
            running: 0,
            finished: 0,
            exhausted: false,
            starting: false,
            queued: 0,
            source_slot: None,
            fresh: 0,
            schedule: Schedule::Direct,
            phase: Phase::Unpolled,
            cancel: None,
        }
    }

    /// Every child started has finished, and no more will start.
    pub(crate) fn is_complete(&self) -> bool {
        self.exhausted && self.running == 0
    }

    /// One round (see the module docs).
    #[inline(always)]
    pub(crate) fn round<S: Storage, W: WakeMode>(
        &mut self,
        storage: Pin<&mut S>,
        wakers: &mut Wakers<W>,
        cx: &mut Context<'_>,
        rules: Rules,
    ) -> RoundEnd {
        wakers.begin_poll(cx.waker());
        match self.schedule {
            Schedule::Direct => self.direct_round(storage, wakers, cx.waker(), rules),
            Schedule::Queued => self.queued_round(storage, wakers, cx.waker(), rules),
        }
    }

    /// Counts a finished child; says whether it ends the round.
    #[inline]
    fn finish(&mut self, finished: Finished, slot: usize, rules: Rules) -> Option<RoundEnd> {
        self.running -= 1;
        self.finished += 1;
        if rules.fail_fast && !finished.ok {
            Some(RoundEnd::Failed {
                index: finished.index,
                slot,
            })
        } else if rules.one_at_a_time {
            Some(RoundEnd::Landed { slot })
        } else {
            None
        }
    }

    #[inline(always)]
    fn direct_round<S: Storage, W: WakeMode>(
        &mut self,
        mut storage: Pin<&mut S>,
        wakers: &mut Wakers<W>,
        parent: &Waker,
        rules: Rules,
    ) -> RoundEnd {
        let mut budget = self.budget;
        let started = self.started;
        // A round paused (while starting children, or part-way through its
        // drain) goes on; the children woken meanwhile wait for the next
        // round, which this one then asks for: their marks woke the task
        // once already, for this poll, and will not again while they stay in
        // the bitmap.
        let starting = core::mem::take(&mut self.starting);
        let resumed = starting || wakers.drain_paused();
        let stopped = if starting {
            None
        } else {
            wakers.drain(parent, started, |slot, waker| {
                if W::CALLER_OWNED && slot >= started {
                    // A child not started yet: marked by a stale waker of
                    // caller-owned wakers' last owner (`ChildWakers`). Its
                    // start polls it. (A gather's own wakers mark only
                    // slots it has polled: a constant skips the check.)
                    return Visit::Next;
                }
                if budget == 0 {
                    return Visit::PauseBefore(RoundEnd::Paused);
                }
                match storage
                    .as_mut()
                    .poll_slot(slot, &mut Context::from_waker(waker))
                {
                    Polled::Vacant => Visit::Next,
                    Polled::Pending => {
                        budget -= 1;
                        Visit::Next
                    }
                    Polled::Finished(finished) => {
                        budget -= 1;
                        match self.finish(finished, slot, rules) {
                            None => Visit::Next,
                            // A failure keeps the marks not yet visited too:
                            // with a grace period the siblings woken with it
                            // are still polled.
                            Some(end) => Visit::PauseAfter(end),
                        }
                    }
                }
            })
        };
        if let Some(end) = stopped {
            return end;
        }
        if rules.start && !self.exhausted {
            // Slot `i` of a direct gather holds child `i` from the first poll
            // on (an array's, a tuple's, or an iterator's taken all at once):
            // starting one is polling it.
            let end = self.started + storage.in_place(self.started);
            loop {
                // As many as the limit and the budget allow now; a child that
                // finishes at its first poll makes room for one more.
                let room = self.limit.saturating_sub(self.running);
                let stop = self.started + (end - self.started).min(room).min(budget);
                if self.started == stop {
                    break;
                }
                while self.started < stop {
                    if budget < self.budget && executor_budget_spent() {
                        self.starting = true;
                        return RoundEnd::Paused;
                    }
                    let slot = self.started;
                    self.started += 1;
                    self.running += 1;
                    budget -= 1;
                    let waker = wakers.waker_for(slot, parent);
                    if let Polled::Finished(finished) = storage
                        .as_mut()
                        .poll_slot(slot, &mut Context::from_waker(&waker))
                    {
                        if let Some(end) = self.finish(finished, slot, rules) {
                            return end;
                        }
                    }
                }
            }
            if self.started < end && budget == 0 && self.running < self.limit {
                // The budget is spent with children left to start: the next
                // round goes on with them.
                self.starting = true;
                return RoundEnd::Paused;
            }
            if self.started == end {
                self.exhausted = true;
            }
        }
        if resumed {
            RoundEnd::Paused
        } else {
            RoundEnd::Idle
        }
    }

    fn queued_round<S: Storage, W: WakeMode>(
        &mut self,
        mut storage: Pin<&mut S>,
        wakers: &mut Wakers<W>,
        parent: &Waker,
        rules: Rules,
    ) -> RoundEnd {
        // A round stopped early goes on first; only then, at a later poll, do
        // the children woken since join a new one. Children queued only for
        // their first poll do not hold a round open. A round that goes on
        // ends asking for the next poll: the marks of children woken
        // meanwhile woke the task once already, for this poll, and will not
        // again while they stay in the bitmap.
        let resumed = self.queued != self.fresh;
        if !resumed {
            // The fresh ones are the last started, and queued already: a mark
            // of their slot (left by the child before) is dropped, since they
            // get their first poll anyway; so is a stale mark of a slot left
            // vacant. Each slot is then queued at most once.
            let first_fresh = self.started - self.fresh;
            self.fresh = 0;
            let queued = &mut self.queued;
            let upto = self.started;
            wakers.drain(parent, upto, |slot, _| {
                if storage.as_mut().wake_source(slot) {
                    // The stream's own waker: it may have a job now.
                } else if storage.is_running(slot) && storage.child_index(slot) < first_fresh {
                    storage.as_mut().queue_push(slot);
                    *queued += 1;
                }
                Visit::<()>::Next
            });
            if self.queued > 1 {
                storage.as_mut().queue_sort();
            }
        }
        if let (Some(slot), true) = (self.source_slot, wakers.polls_all()) {
            // Without wakes of its own, the stream is asked at every poll.
            storage.as_mut().wake_source(slot);
        }
        let mut budget = self.budget;
        let mut source_later = false;
        loop {
            let spent = rules.start
                && self.can_start(source_later)
                && self.top_up(
                    storage.as_mut(),
                    wakers,
                    parent,
                    &mut budget,
                    &mut source_later,
                );
            if self.queued == 0 {
                return if spent || resumed {
                    RoundEnd::Paused
                } else {
                    RoundEnd::Idle
                };
            }
            if budget == 0 || (budget < self.budget && executor_budget_spent()) {
                return RoundEnd::Paused;
            }
            let Some(slot) = storage.as_mut().queue_pop() else {
                unreachable!("safe-gather: the queue holds `queued` slots")
            };
            self.queued -= 1;
            self.fresh = self.fresh.min(self.queued);
            let waker = wakers.waker_for(slot, parent);
            match storage
                .as_mut()
                .poll_slot(slot, &mut Context::from_waker(&waker))
            {
                Polled::Vacant => {}
                Polled::Pending => budget -= 1,
                Polled::Finished(finished) => {
                    budget -= 1;
                    match self.finish(finished, slot, rules) {
                        None => {}
                        Some(end @ RoundEnd::Landed { .. }) => {
                            // Its slot goes to the next child now, so that
                            // `limit` stay in flight while the consumer
                            // handles this one; its first poll comes with
                            // the next round.
                            let queued = self.queued;
                            if rules.start && self.can_start(source_later) {
                                self.top_up(
                                    storage.as_mut(),
                                    wakers,
                                    parent,
                                    &mut budget,
                                    &mut source_later,
                                );
                            }
                            self.fresh += self.queued - queued;
                            return end;
                        }
                        Some(end) => return end,
                    }
                }
            }
        }
    }

    /// Whether a child may start now: the condition of
    /// [`top_up`](Self::top_up)'s loop, checked inline before calling it too,
    /// since most turns of a round have no free slot.
    #[inline]
    fn can_start(&self, source_later: bool) -> bool {
        !self.exhausted && self.running < self.limit && !source_later
    }

    /// Starts children while the limit allows, each queued behind the rest
    /// (its index is the highest so far) for its first poll. A pull from a
    /// stream counts against the budget, and once the stream has said "not
    /// now" it is not asked again in this round. Returns whether the budget
    /// stopped it with the stream perhaps holding more.
    fn top_up<S: Storage, W: WakeMode>(
        &mut self,
        mut storage: Pin<&mut S>,
        wakers: &Wakers<W>,
        parent: &Waker,
        budget: &mut usize,
        source_later: &mut bool,
    ) -> bool {
        while self.can_start(*source_later) {
            let pulls = self.source_slot.is_some();
            if pulls && *budget == 0 {
                return true;
            }
            // Only a stream uses the waker (its own); an iterator takes none.
            let source_waker = match self.source_slot {
                Some(slot) => wakers.waker_for(slot, parent),
                None => crate::waker::BorrowedWaker::Parent(parent),
            };
            let started = storage.as_mut().start_next(self.started, &source_waker);
            if pulls {
                *budget -= 1;
            }
            match started {
                Start::Slot(slot) => {
                    self.started += 1;
                    self.running += 1;
                    storage.as_mut().queue_push(slot);
                    self.queued += 1;
                }
                Start::Later => *source_later = true,
                Start::Done => self.exhausted = true,
            }
        }
        false
    }
}
