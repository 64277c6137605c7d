//! Jobs for the benches of bounded concurrency (`fanout`, `streams`): futures
//! that need no [`Board`](super::Board). Each wakes itself at its first poll
//! and is ready at its second, as a request whose answer is already in the
//! socket's buffer would be; each carries a ballast payload, so that it is as
//! big as a real request's future and moving it costs what moving one costs.
//!
//! Jobs are made one at a time, by an iterator or a channel's producer, so an
//! input of any length holds no heap: what a run's peak heap counts is the
//! combinator's own memory (slots, wakers, queues) and its outputs.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The ballast of every [`Job`], in bytes.
pub const PAYLOAD: usize = 512;

/// A job: pending once (after waking itself), then `Ok` with its index.
#[derive(Debug)]
pub struct Job {
    payload: [u8; PAYLOAD],
    index: u32,
    polled: bool,
}

/// The size of a [`Job`]: the payload, the index and the flag, padded.
pub const JOB_SIZE: usize = std::mem::size_of::<Job>();

const _: () = assert!(JOB_SIZE == 520, "the issue's children are ~520 bytes");

impl Job {
    pub fn new(index: u32) -> Job {
        Job {
            payload: [0; PAYLOAD],
            index,
            polled: false,
        }
    }
}

impl Future for Job {
    type Output = Result<u32, u32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polled {
            return Poll::Ready(Ok(self.index));
        }
        // The payload is real memory that every contender moves, not
        // something the optimiser may leave out.
        black_box(&self.payload);
        self.polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `n` jobs, made as they are taken.
pub fn jobs(n: usize) -> impl Iterator<Item = Job> {
    (0..n as u32).map(Job::new)
}

/// What a stream of outputs came to when the outputs are not kept: how many
/// there were and the sum of their values, enough to check that every job
/// ran exactly once (in whatever order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub sum: u64,
}

impl Tally {
    pub fn add(&mut self, value: u32) {
        self.count += 1;
        self.sum += u64::from(value);
    }

    /// The tally of `n` jobs that all succeeded.
    pub fn of_all(n: usize) -> Tally {
        let n = n as u64;
        Tally {
            count: n,
            sum: n * n.saturating_sub(1) / 2,
        }
    }
}

/// What a contender's run came to: every value in order, or a tally of
/// values not kept. Returned out of the timed region, so that dropping the
/// values is not timed.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Values(Vec<u32>),
    Tally(Tally),
    Failed(u32),
}

impl Outcome {
    /// Whether this is what a run of `n` jobs, all succeeding, must give.
    pub fn is_complete(&self, n: usize) -> bool {
        match self {
            Outcome::Values(values) => values.iter().copied().eq(0..n as u32),
            Outcome::Tally(tally) => *tally == Tally::of_all(n),
            Outcome::Failed(_) => false,
        }
    }
}
