//! With the `tokio` feature a gather's poll stops once tokio's cooperative
//! budget for its task is spent (SPEC §10), so a gather of many busy
//! children shares a current-thread runtime with a latency-sensitive task.
//! Counted, not timed: how many child polls run between two turns of the
//! other task.
#![cfg(all(feature = "alloc", feature = "tokio"))]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use safe_gather::safe_gather;

/// A log of who ran: `true` for a child poll, `false` for the other task.
#[derive(Default)]
struct Log(Mutex<Vec<bool>>);

impl Log {
    fn push(&self, child: bool) {
        self.0.lock().unwrap().push(child);
    }

    /// The longest run of child polls between two turns of the other task.
    fn longest_run_of_children(&self) -> usize {
        let log = self.0.lock().unwrap();
        let mut longest = 0;
        let mut run = 0;
        for &child in log.iter() {
            if child {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        longest
    }
}

/// Pends once, waking itself at once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A gather of `n` children, each spending tokio budget `rounds` times
/// (as reading a busy channel would), beside a task that only yields; the
/// longest run of child polls without the other task getting a turn.
fn run_beside_a_ticker(n: usize, unconstrained: bool) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let log = Arc::new(Log::default());
    let done = Arc::new(AtomicUsize::new(0));
    let runs = log.clone();
    runtime.block_on(async move {
        let ticker = {
            let (log, done) = (log.clone(), done.clone());
            tokio::spawn(async move {
                while done.load(Ordering::SeqCst) == 0 {
                    log.push(false);
                    // Woken into the run queue, as a timer or a socket wakes a
                    // task (tokio's own `yield_now` defers its wake to the
                    // driver's next turn, behind every task woken directly).
                    YieldOnce(false).await;
                }
            })
        };
        let child_log = log.clone();
        let children = (0..n).map(move |_| {
            let log = child_log.clone();
            async move {
                for _ in 0..4 {
                    log.push(true);
                    tokio::task::coop::consume_budget().await;
                }
                Ok::<_, ()>(())
            }
        });
        let gather = safe_gather(children);
        let outputs = if unconstrained {
            tokio::spawn(tokio::task::coop::unconstrained(gather)).await
        } else {
            tokio::spawn(gather).await
        };
        assert_eq!(outputs.unwrap().unwrap().len(), n);
        done.store(1, Ordering::SeqCst);
        ticker.await.unwrap();
    });
    runs.longest_run_of_children()
}

#[test]
fn a_gather_yields_to_other_tasks_when_tokios_budget_is_spent() {
    let n = 1000;
    let cooperative = run_beside_a_ticker(n, false);
    let unconstrained = run_beside_a_ticker(n, true);
    // Tokio's budget is 128 units per task poll; each child poll spends at
    // most one, so a poll stops within a few units of it.
    assert!(
        cooperative <= 130,
        "{cooperative} child polls ran without the other task getting a turn"
    );
    // Unconstrained, one poll runs every child to its end.
    assert!(
        unconstrained >= n,
        "unconstrained: longest run {unconstrained}"
    );
}

/// Ready at its first poll, counting it.
struct Counted(Arc<AtomicUsize>);

impl Future for Counted {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_poll_made_with_tokios_budget_spent_still_polls_one_child() {
    // Every gather poll makes progress, whatever tokio says: its first child
    // poll comes before it asks tokio. An array and an iterator (a slot per
    // child, polled in index order), and an iterator under `.limit(2)` (slots
    // reused, polled from a queue), each polled once in a task whose budget
    // is already spent.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for kind in ["array", "iterator", "limited iterator"] {
            let polls = Arc::new(AtomicUsize::new(0));
            let children: [Counted; 4] = std::array::from_fn(|_| Counted(polls.clone()));
            let mut gather: Pin<Box<dyn Future<Output = _>>> = match kind {
                "iterator" => Box::pin(safe_gather(children)),
                "limited iterator" => Box::pin(safe_gather(children).limit(2)),
                _ => Box::pin(async {
                    safe_gather::safe_gather_array(children)
                        .await
                        .map(Vec::from)
                }),
            };
            std::future::poll_fn(|cx| {
                // Spend the budget: tokio's `consume_budget` is pending once
                // none is left.
                while Pin::new(&mut Box::pin(tokio::task::coop::consume_budget()))
                    .poll(cx)
                    .is_ready()
                {}
                assert!(!tokio::task::coop::has_budget_remaining());
                assert!(gather.as_mut().poll(cx).is_pending(), "{kind}");
                Poll::Ready(())
            })
            .await;
            assert_eq!(polls.load(Ordering::SeqCst), 1, "{kind}");
            // A new task poll has a new budget: the rest run.
            assert_eq!(gather.await.unwrap().len(), 4, "{kind}");
            assert_eq!(polls.load(Ordering::SeqCst), 4, "{kind}");
        }
    });
}
