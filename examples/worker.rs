//! A worker that takes jobs from a queue, runs at most eight at once,
//! handles each result as it lands, and stops at the first failure, on
//! tokio with an `async-channel` queue.
//!
//! ```sh
//! cargo run --example worker
//! ```
//!
//! A producer queues 20 thumbnail jobs on a bounded channel (at most 4 wait
//! in it; `send` waits while it is full). The worker is one stream:
//!
//! ```text
//! safe_gather_stream(jobs).limit(8).unordered()
//! ```
//!
//! It takes a job from the channel whenever fewer than 8 run, and yields
//! `Ok((index, thumbnail))` as each job finishes, in completion order, with
//! the job's place in the queue. Job 6's image is corrupt: its `Err` is the
//! last item. Before the stream hands it out it has dropped every job still
//! running (each says so as it is dropped) and the channel's receiver; the
//! jobs still waiting in the channel are never started, and the producer's
//! next `send` fails, since no one is left to receive.
//!
//! The clock is tokio's paused test clock (`start_paused`), which jumps to
//! the next timer whenever every task is waiting: the jobs "take" 20 to 100
//! ms each, yet the example prints the same lines, with the same times, on
//! every run and takes a few milliseconds. Delete `start_paused = true` to
//! run it in real time (about 60 ms).

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use futures_lite::StreamExt;
use safe_gather::{safe_gather_stream, GatherError};
use tokio::time::Instant;

/// How many jobs the producer has.
const JOBS: u32 = 20;
/// How many jobs may wait in the channel.
const QUEUED: usize = 4;
/// How many jobs run at once.
const LIMIT: usize = 8;
/// The job whose image is corrupt.
const CORRUPT: u32 = 6;

/// What happened to each job, for the summary.
#[derive(Default)]
struct Record {
    sent: Vec<u32>,
    started: Vec<u32>,
    cancelled: Vec<u32>,
}

/// A job's failure.
#[derive(Debug)]
struct CorruptImage;

impl fmt::Display for CorruptImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("corrupt image")
    }
}

/// The time since `start`, as the log shows it.
struct Since(Instant);

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>4} ms]", self.0.elapsed().as_millis())
    }
}

/// Says so if a running job is dropped before it finishes.
struct Running<'a> {
    id: u32,
    record: &'a RefCell<Record>,
    start: Instant,
    done: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.done {
            println!(
                "{} job {} cancelled while running",
                Since(self.start),
                self.id
            );
            self.record.borrow_mut().cancelled.push(self.id);
        }
    }
}

/// A thumbnail job: its body runs only once the worker polls it.
async fn thumbnail(
    id: u32,
    record: &RefCell<Record>,
    start: Instant,
) -> Result<usize, CorruptImage> {
    record.borrow_mut().started.push(id);
    let mut running = Running {
        id,
        record,
        start,
        done: false,
    };
    // Each job takes its own time, so that they finish out of order.
    let work = Duration::from_millis(20 + u64::from(id * 7 % 5) * 20);
    tokio::time::sleep(work).await;
    running.done = true;
    if id == CORRUPT {
        return Err(CorruptImage);
    }
    Ok(1024 + id as usize * 64)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let start = Instant::now();
    let record = RefCell::new(Record::default());
    let (queue, jobs) = async_channel::bounded(QUEUED);
    println!(
        "{JOBS} jobs through a channel of {QUEUED}; the worker runs \
         safe_gather_stream(jobs).limit({LIMIT}).unordered()"
    );

    let record = &record;
    let producer = async move {
        // Owned here, so that the channel goes, with the jobs still in it,
        // as soon as the producer stops.
        let queue = queue;
        for id in 0..JOBS {
            let job = thumbnail(id, record, start);
            if queue.send(job).await.is_err() {
                println!(
                    "{} producer: the queue is closed, the worker is gone: job {id} not sent",
                    Since(start)
                );
                return;
            }
            record.borrow_mut().sent.push(id);
        }
        println!("{} producer: all {JOBS} jobs sent", Since(start));
    };

    let worker = async {
        let mut results = safe_gather_stream(jobs).limit(LIMIT).unordered();
        let mut thumbnails = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok((index, bytes)) => {
                    thumbnails += 1;
                    println!("{} job {index} done: {bytes} bytes", Since(start));
                }
                Err(GatherError::Failed { index, error }) => {
                    println!(
                        "{} job {index} failed: {error}; the worker stops",
                        Since(start)
                    );
                    break;
                }
                Err(other) => unreachable!("no deadline here: {other}"),
            }
        }
        thumbnails
    };

    let ((), thumbnails) = tokio::join!(producer, worker);

    let mut record = record.borrow_mut();
    record.cancelled.sort_unstable();
    let never_started: Vec<u32> = record
        .sent
        .iter()
        .copied()
        .filter(|id| !record.started.contains(id))
        .collect();
    let never_sent: Vec<u32> = (record.sent.len() as u32..JOBS).collect();
    println!();
    println!(
        "{thumbnails} thumbnails made; jobs started: {:?}",
        record.started
    );
    println!("cancelled while running: {:?}", record.cancelled);
    println!("queued but never started (dropped with the channel): {never_started:?}");
    println!("never queued: {never_sent:?}");
}
