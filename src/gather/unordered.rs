//! [`Unordered`]: a gather as a stream of outcomes in completion order.

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::engine::Rules;
use super::{Bounded, Children, FailFast, Outcome, SafeGather, Settled, Step, UnorderedChildren};
use crate::deadline::{Deadline, Expiring, GraceTimer, Graced, NoDeadline};
use crate::error::{GatherError, SlotError};
use crate::storage::{Keep, Storage, UnorderedStorage};

pin_project! {
    /// Stream for [`SafeGather::unordered`]: each child's outcome, with its
    /// input index, as it lands.
    ///
    /// | mode | item |
    /// |---|---|
    /// | fail-fast | `Result<(usize, T), GatherError<E>>`; the stream ends after an `Err` |
    /// | settled | `(usize, Result<T, E>)` |
    /// | settled with a deadline | `(usize, Result<T, SlotError<E>>)` |
    ///
    /// It keeps no outputs of its own: under [`.limit(n)`](SafeGather::limit)
    /// over an iterator, a run of any length holds memory for `n` children
    /// and nothing more. Dropping it drops every child still running: that
    /// is how to cancel it (a `take(k)` or a `break` out of a loop over it
    /// cancels the rest). It is `Send` and `Unpin` when its gather is (see
    /// [`SafeGather`]: the bounds rustdoc shows name the gather's private
    /// storage, which holds the children and their outputs).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use safe_gather::safe_gather;
    ///
    /// # futures::executor::block_on(async {
    /// let jobs = (0..4).map(|n| async move { Ok::<_, String>(n * 10) });
    /// let mut landed = safe_gather(jobs).limit(2).unordered();
    /// let mut values = Vec::new();
    /// while let Some(item) = landed.next().await {
    ///     let (index, value) = item?;
    ///     values.push((index, value));
    /// }
    /// values.sort();
    /// assert_eq!(values, [(0, 0), (1, 10), (2, 20), (3, 30)]);
    /// # Ok::<(), safe_gather::GatherError<String>>(())
    /// # }).unwrap();
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Unordered<K: Children, M = FailFast, D = NoDeadline> {
        #[pin]
        gather: SafeGather<K, M, D>,
        state: State,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// The deadline passed (settled): `left` children cut off are still to
    /// be reported.
    CuttingOff {
        left: usize,
    },
    Ended,
}

const ONE_AT_A_TIME: Rules = Rules {
    fail_fast: true,
    one_at_a_time: true,
    start: true,
};
const SETTLED_ONE_AT_A_TIME: Rules = Rules {
    fail_fast: false,
    one_at_a_time: true,
    start: true,
};

impl<K: UnorderedChildren, M, D: Deadline> SafeGather<K, M, D> {
    /// Turns the gather into a stream of outcomes in completion order, each
    /// with its child's input index: Python's `asyncio.as_completed`, and
    /// `buffer_unordered` with every guarantee of a gather kept.
    ///
    /// The last call of a chain, on children of one type (an iterator's or
    /// an array's). Within one poll children are polled in input order, as
    /// in a gather, and the first to finish is the next item.
    ///
    /// * Fail-fast: items are `Result<(usize, T), GatherError<E>>`. The first
    ///   `Err` item comes after every other child was dropped, and the stream
    ///   ends after it; a deadline that passes yields
    ///   `Err(GatherError::TimedOut { .. })` (counting the children that had
    ///   finished) and ends it.
    /// * [Settled](SafeGather::settled): items are `(usize, Result<T, E>)`,
    ///   or with a deadline `(usize, Result<T, SlotError<E>>)`: when it
    ///   passes, every child still running is dropped, and one
    ///   [`SlotError::TimedOut`] item follows for each child cut off (those
    ///   running, then those never started), in input order.
    ///
    /// The stream keeps no outputs (see [`Unordered`]), implements
    /// [`FusedStream`], and its `size_hint` is exact where the input's length
    /// is known.
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
    ///
    /// # Examples
    ///
    /// Quorum: the first two successes, then the rest dropped.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use safe_gather::safe_gather;
    ///
    /// async fn ask(replica: u32) -> Result<u32, String> {
    ///     if replica == 1 { Err("replica 1 is down".into()) } else { Ok(replica * 100) }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let answers: Vec<u32> = safe_gather((0..5).map(ask))
    ///     .settled()
    ///     .unordered()
    ///     .filter_map(|(_, outcome)| async move { outcome.ok() })
    ///     .take(2)
    ///     .collect()
    ///     .await;
    /// assert_eq!(answers, [0, 200]);
    /// # });
    /// ```
    ///
    /// Every error, with its index, and every value, in one pass:
    ///
    /// ```
    /// use futures::StreamExt;
    /// use safe_gather::safe_gather;
    ///
    /// # futures::executor::block_on(async {
    /// let jobs = (0..6).map(|n| async move { if n % 3 == 0 { Err(format!("job {n} failed")) } else { Ok(n) } });
    /// let (mut values, mut errors) = (Vec::new(), Vec::new());
    /// let mut landed = safe_gather(jobs).settled().unordered();
    /// while let Some((index, outcome)) = landed.next().await {
    ///     match outcome {
    ///         Ok(value) => values.push(value),
    ///         Err(error) => errors.push((index, error)),
    ///     }
    /// }
    /// assert_eq!(values, [1, 2, 4, 5]);
    /// assert_eq!(errors, [(0, "job 0 failed".to_string()), (3, "job 3 failed".to_string())]);
    /// # });
    /// ```
    ///
    /// Progress while a fan-out runs: at most 16 jobs at once, and a report
    /// every 250 that land (a log line, a progress bar), out of the total.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use safe_gather::safe_gather;
    ///
    /// # futures::executor::block_on(async {
    /// let total = 1000;
    /// let jobs = (0..total).map(|n| async move { Ok::<_, String>(n * 2) });
    /// let mut landed = safe_gather(jobs).limit(16).unordered();
    /// let (mut done, mut sum, mut reports) = (0, 0, Vec::new());
    /// while let Some(item) = landed.next().await {
    ///     let (_index, value) = item?;
    ///     sum += value;
    ///     done += 1;
    ///     if done % 250 == 0 {
    ///         reports.push(format!("{done}/{total} done"));
    ///     }
    /// }
    /// assert_eq!(reports, ["250/1000 done", "500/1000 done", "750/1000 done", "1000/1000 done"]);
    /// assert_eq!(sum, 999 * 1000);
    /// # Ok::<(), safe_gather::GatherError<String>>(())
    /// # }).unwrap();
    /// ```
    #[doc(alias = "as_completed")]
    #[doc(alias = "buffer_unordered")]
    #[track_caller]
    pub fn unordered(self) -> Unordered<K, M, D> {
        self.assert_unpolled("unordered");
        Unordered {
            gather: self,
            state: State::Running,
        }
    }
}

impl<K: UnorderedChildren, M, D: Deadline> Unordered<K, M, D> {
    /// The outcome of the child that just landed in `slot`.
    fn take_landed(self: Pin<&mut Self>, slot: usize) -> (usize, Result<K::Ok, K::Error>) {
        self.project().gather.project().storage.take_finished(slot)
    }

    /// How many children have yet to report, at least and at most.
    fn remaining(&self) -> (usize, Option<usize>) {
        let (low, high) = self.gather.storage.size_hint();
        let reported = self.gather.run.finished;
        (
            low.saturating_sub(reported),
            high.map(|high| high.saturating_sub(reported)),
        )
    }

    /// The gather resolved: it is done.
    fn end(self: Pin<&mut Self>) {
        let this = self.project();
        *this.state = State::Ended;
        this.gather.mark_done();
    }
}

impl<K: UnorderedChildren + Bounded, D: Deadline> Stream for Unordered<K, FailFast, D> {
    type Item = Result<(usize, K::Ok), GatherError<K::Error>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.state == State::Ended {
            return Poll::Ready(None);
        }
        let step = self
            .as_mut()
            .project()
            .gather
            .poll_engine(Keep::Nothing, ONE_AT_A_TIME, cx);
        let item = match step {
            Step::Pending => return Poll::Pending,
            Step::Landed { slot } => match self.as_mut().take_landed(slot) {
                (index, Ok(value)) => return Poll::Ready(Some(Ok((index, value)))),
                (_, Err(_)) => unreachable!("safe-gather: a failure ends the round"),
            },
            Step::Resolved(Outcome::Complete) => None,
            Step::Resolved(Outcome::Failed { index, slot }) => {
                let (_, outcome) = self.as_mut().take_landed(slot);
                let Err(error) = outcome else {
                    unreachable!("safe-gather: the failing child holds its error")
                };
                self.as_mut().project().gather.project().storage.drop_all();
                Some(Err(GatherError::Failed { index, error }))
            }
            Step::Resolved(Outcome::TimedOut { completed, total }) => {
                let gather = self.as_mut().project().gather.project();
                gather.storage.drop_all();
                Some(Err(GatherError::TimedOut {
                    completed,
                    pending: total - completed,
                }))
            }
        };
        self.end();
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Ended => (0, Some(0)),
            // At least one item while any child is left: its value or an
            // error; at most one per child.
            _ => {
                let (low, high) = self.remaining();
                (low.min(1), high)
            }
        }
    }
}

impl<K: UnorderedChildren + Bounded, D: Deadline> Unordered<K, Settled, D> {
    /// Settled without a deadline: each child's own outcome, as it lands.
    #[allow(clippy::type_complexity)]
    fn poll_settled(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(usize, Result<K::Ok, K::Error>)>> {
        if self.state == State::Ended {
            return Poll::Ready(None);
        }
        let step =
            self.as_mut()
                .project()
                .gather
                .poll_engine(Keep::Nothing, SETTLED_ONE_AT_A_TIME, cx);
        match step {
            Step::Pending => Poll::Pending,
            Step::Landed { slot } => Poll::Ready(Some(self.take_landed(slot))),
            Step::Resolved(_) => {
                self.end();
                Poll::Ready(None)
            }
        }
    }

    fn settled_size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Ended => (0, Some(0)),
            _ => self.remaining(),
        }
    }
}

impl<K: UnorderedChildren + Bounded> Stream for Unordered<K, Settled, NoDeadline> {
    type Item = (usize, Result<K::Ok, K::Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_settled(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.settled_size_hint()
    }
}

/// A grace period on a settled gather without a deadline never begins: it
/// streams as without one.
impl<K: UnorderedChildren + Bounded, G: GraceTimer<NoDeadline>, F: FnOnce()> Stream
    for Unordered<K, Settled, Graced<NoDeadline, G, F>>
{
    type Item = (usize, Result<K::Ok, K::Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_settled(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.settled_size_hint()
    }
}

impl<K: UnorderedChildren + Bounded, D: Expiring> Stream for Unordered<K, Settled, D> {
    type Item = (usize, Result<K::Ok, SlotError<K::Error>>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.state {
            State::Ended => return Poll::Ready(None),
            State::CuttingOff { left } => {
                let this = self.as_mut().project();
                let next = this.gather.project().storage.next_cut_off();
                return Poll::Ready(match next {
                    Some(index) => {
                        *this.state = State::CuttingOff { left: left - 1 };
                        Some((index, Err(SlotError::TimedOut)))
                    }
                    None => {
                        *this.state = State::Ended;
                        None
                    }
                });
            }
            State::Running => {}
        }
        let step =
            self.as_mut()
                .project()
                .gather
                .poll_engine(Keep::Nothing, SETTLED_ONE_AT_A_TIME, cx);
        match step {
            Step::Pending => Poll::Pending,
            Step::Landed { slot } => {
                let (index, outcome) = self.take_landed(slot);
                Poll::Ready(Some((index, outcome.map_err(SlotError::Failed))))
            }
            Step::Resolved(Outcome::TimedOut { .. }) => {
                let this = self.as_mut().project();
                let mut gather = this.gather;
                let started = gather.run.started;
                let left = gather.as_mut().project().storage.cut_off(started);
                gather.mark_done();
                *this.state = State::CuttingOff { left };
                // The first child cut off, if any, at once.
                self.poll_next(cx)
            }
            Step::Resolved(_) => {
                self.end();
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Ended => (0, Some(0)),
            State::CuttingOff { left } => (left, Some(left)),
            // One item per child: its outcome, or its cut-off.
            State::Running => self.remaining(),
        }
    }
}

impl<K: Children, M, D> FusedStream for Unordered<K, M, D>
where
    Unordered<K, M, D>: Stream,
{
    fn is_terminated(&self) -> bool {
        self.state == State::Ended
    }
}

impl<K: Children, M: fmt::Debug, D: fmt::Debug> fmt::Debug for Unordered<K, M, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unordered")
            .field("gather", &self.gather)
            .field("ended", &(self.state == State::Ended))
            .finish()
    }
}
