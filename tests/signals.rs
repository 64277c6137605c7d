//! Cancellation with grace (SPEC §8) with the signals users have:
//! tokio-util's `CancellationToken` on tokio, and a plain channel on smol
//! (an embassy-sync `Signal` on embassy's executor is in
//! `embassy-host-test/tests/grace_signal.rs`). `on_cancel` gives the signal,
//! the children waiting on it run their async cleanup during the grace
//! period, and a child that ignores it is dropped when the grace period ends.
//!
//! Outcomes only: which children cleaned up, what the gather returned, how
//! often each child was dropped and which was dropped last; never how long
//! anything took. On tokio the clock is paused, so a grace period that has
//! to run out costs no real time and every timer fires in order. On smol the
//! clock is real: a grace period that must not run out is far longer than
//! the cleanup (which finishes by being woken, not by time), and the one
//! test whose grace period has to run out gives its children a cleanup that
//! completes in the first poll after the signal (the engine polls woken
//! children before it looks at the grace sleep).
#![cfg(all(any(feature = "tokio", feature = "async-io"), not(miri)))]

use std::cell::RefCell;
use std::rc::Rc;

/// What happened to the children of one gather, by input index.
#[derive(Debug, Default)]
struct Ledger {
    /// Children that finished their cleanup, in the order they did.
    cleaned_up: RefCell<Vec<usize>>,
    /// Children dropped, in the order they were.
    dropped: RefCell<Vec<usize>>,
}

impl Ledger {
    fn new() -> Rc<Self> {
        Rc::default()
    }

    /// Held by child `index` for as long as it exists.
    fn guard(self: &Rc<Self>, index: usize) -> DropGuard {
        DropGuard {
            index,
            ledger: self.clone(),
        }
    }

    fn clean_up(&self, index: usize) {
        self.cleaned_up.borrow_mut().push(index);
    }

    /// The children that cleaned up, in index order (the order in which they
    /// did so is the executor's business).
    fn cleaned_up(&self) -> Vec<usize> {
        let mut cleaned_up = self.cleaned_up.borrow().clone();
        cleaned_up.sort_unstable();
        cleaned_up
    }

    /// How often each of the first `children` was dropped.
    fn drops(&self, children: usize) -> Vec<usize> {
        let dropped = self.dropped.borrow();
        (0..children)
            .map(|index| dropped.iter().filter(|&&d| d == index).count())
            .collect()
    }

    fn last_dropped(&self) -> Option<usize> {
        self.dropped.borrow().last().copied()
    }
}

struct DropGuard {
    index: usize,
    ledger: Rc<Ledger>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.ledger.dropped.borrow_mut().push(self.index);
    }
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use std::cell::Cell;
    use std::future::pending;
    use std::rc::Rc;
    use std::time::Duration;

    use safe_gather::{safe_gather, GatherError, SlotError, TokioTimer};
    use tokio_util::sync::CancellationToken;

    use super::Ledger;

    /// The grace period: far longer than any cleanup below, and on the
    /// paused clock it costs nothing when it runs out.
    const GRACE: Duration = Duration::from_millis(200);
    /// How long a worker's cleanup (flushing its buffers) takes.
    const FLUSH: Duration = Duration::from_millis(5);
    /// Bounds every gather, so that a grace period that never ends fails
    /// the test instead of hanging it (at no cost, on the paused clock).
    const HOUR: Duration = Duration::from_secs(3600);

    #[derive(Debug, Clone, Copy)]
    enum Role {
        /// Works until the token is cancelled, then flushes and returns.
        Listens,
        /// Fails after a while.
        Fails,
        /// Finishes its work before anything is cancelled.
        FinishesEarly,
        /// Ignores the token and never finishes.
        Stuck,
    }

    async fn child(
        index: usize,
        role: Role,
        token: CancellationToken,
        ledger: Rc<Ledger>,
    ) -> Result<usize, String> {
        let _guard = ledger.guard(index);
        match role {
            Role::Listens => {
                tokio::select! {
                    () = token.cancelled() => {}
                    () = pending::<()>() => unreachable!("the work never ends on its own"),
                }
                // Async cleanup, which a `Drop` could not do.
                tokio::time::sleep(FLUSH).await;
                ledger.clean_up(index);
                Ok(index)
            }
            Role::Fails => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err("disk full".to_string())
            }
            Role::FinishesEarly => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(index)
            }
            Role::Stuck => pending().await,
        }
    }

    fn children(
        roles: &[Role],
        token: &CancellationToken,
        ledger: &Rc<Ledger>,
    ) -> Vec<impl std::future::Future<Output = Result<usize, String>>> {
        roles
            .iter()
            .enumerate()
            .map(|(index, &role)| child(index, role, token.clone(), ledger.clone()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_cancels_the_token_every_listening_child_cleans_up_and_the_stuck_one_is_dropped(
    ) {
        use Role::*;
        let token = CancellationToken::new();
        let ledger = Ledger::new();
        let cancels = Rc::new(Cell::new(0));
        let roles = [Listens, Listens, Fails, Listens, Stuck];
        let gather =
            safe_gather(children(&roles, &token, &ledger)).grace_with(TokioTimer, GRACE, || {
                cancels.set(cancels.get() + 1);
                token.cancel();
            });
        let result = tokio::time::timeout(HOUR, gather)
            .await
            .expect("the grace period ended");
        assert_eq!(
            result,
            Err(GatherError::Failed {
                index: 2,
                error: "disk full".to_string()
            }),
            "the error that began the cancellation"
        );
        assert_eq!(cancels.get(), 1, "on_cancel was called once");
        assert!(token.is_cancelled());
        assert_eq!(
            ledger.cleaned_up(),
            [0, 1, 3],
            "every child that listened to the token cleaned up"
        );
        assert_eq!(ledger.drops(roles.len()), [1; 5], "each child dropped once");
        assert_eq!(
            ledger.last_dropped(),
            Some(4),
            "the stuck child outlived every cleanup: it was dropped when the grace period ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_cancels_the_token_and_resolves_to_the_counts_when_it_passed() {
        use Role::*;
        let token = CancellationToken::new();
        let ledger = Ledger::new();
        let roles = [FinishesEarly, Listens, Listens, Listens];
        // `.grace(..)` takes the gather's own timer: tokio's, on the paused clock.
        let gather = safe_gather(children(&roles, &token, &ledger))
            .timeout_with(TokioTimer, Duration::from_millis(50))
            .grace(GRACE, || token.cancel());
        let result = tokio::time::timeout(HOUR, gather)
            .await
            .expect("every child finished its cleanup");
        assert_eq!(
            result,
            Err(GatherError::TimedOut {
                completed: 1,
                pending: 3
            }),
            "counted when the deadline passed, not when the grace period ended"
        );
        assert_eq!(ledger.cleaned_up(), [1, 2, 3]);
        assert_eq!(ledger.drops(roles.len()), [1; 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_shutdown_keeps_every_cleaned_up_outcome_and_cuts_off_the_stuck_one() {
        use Role::*;
        let token = CancellationToken::new();
        let ledger = Ledger::new();
        let roles = [Listens, FinishesEarly, Stuck, Listens];
        let outcomes = tokio::time::timeout(
            HOUR,
            safe_gather(children(&roles, &token, &ledger))
                .settled()
                .timeout_with(TokioTimer, Duration::from_millis(50))
                .grace(GRACE, || token.cancel()),
        )
        .await
        .expect("the grace period ended");
        assert_eq!(
            outcomes,
            [Ok(0), Ok(1), Err(SlotError::TimedOut), Ok(3)],
            "children that cleaned up in the grace period keep their outcome"
        );
        assert_eq!(ledger.cleaned_up(), [0, 3]);
        assert_eq!(ledger.drops(roles.len()), [1; 4]);
        assert_eq!(ledger.last_dropped(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_gather_that_succeeds_never_cancels_the_token() {
        use Role::*;
        let token = CancellationToken::new();
        let ledger = Ledger::new();
        let roles = [FinishesEarly, FinishesEarly];
        let result = safe_gather(children(&roles, &token, &ledger))
            .timeout_with(TokioTimer, HOUR)
            .grace(GRACE, || token.cancel())
            .await;
        assert_eq!(result, Ok(vec![0, 1]));
        assert!(!token.is_cancelled(), "on_cancel is for cancellation only");
        assert_eq!(ledger.drops(roles.len()), [1; 2]);
    }
}

#[cfg(feature = "async-io")]
mod on_smol {
    use std::cell::Cell;
    use std::future::pending;
    use std::rc::Rc;
    use std::time::Duration;

    use safe_gather::{safe_gather, AsyncIoTimer, GatherError, SlotError};
    use smol::channel::{self, Receiver, Sender};

    use super::Ledger;

    /// A grace period no correct run comes near: children finish their
    /// cleanup as soon as they are woken and polled. A broken one fails the
    /// test after this long instead of hanging it.
    const LONG_GRACE: Duration = Duration::from_secs(10);
    /// A grace period that runs out, for the test with a stuck child.
    const SHORT_GRACE: Duration = Duration::from_millis(50);

    /// Bounds the gather whose grace period must run out, so that one that
    /// never ends fails the test instead of hanging it.
    const GIVE_UP: Duration = Duration::from_secs(10);

    /// Waits for the stop signal: the stop channel closed, or a message on it.
    async fn told_to_stop(stop: &Receiver<()>) {
        // `Err` is the channel closed: the signal too.
        let _ = stop.recv().await;
    }

    #[test]
    fn closing_a_channel_in_on_cancel_lets_every_child_clean_up() {
        let ledger = Ledger::new();
        let (stop_sender, stop) = channel::unbounded::<()>();
        let (goodbye_sender, goodbyes) = channel::unbounded();
        let cancels = Rc::new(Cell::new(0));
        let child = |index: usize| {
            let (ledger, stop, goodbyes) = (ledger.clone(), stop.clone(), goodbye_sender.clone());
            async move {
                let _guard = ledger.guard(index);
                if index == 2 {
                    smol::future::yield_now().await;
                    return Err(format!("worker {index}: bad request"));
                }
                told_to_stop(&stop).await;
                // Async cleanup in more than one step: finish the job at
                // hand, then say goodbye.
                smol::future::yield_now().await;
                goodbyes.send(index).await.expect("the test listens");
                ledger.clean_up(index);
                Ok(index)
            }
        };
        let result = smol::block_on(safe_gather((0..4).map(child)).grace_with(
            AsyncIoTimer,
            LONG_GRACE,
            || {
                cancels.set(cancels.get() + 1);
                stop_sender.close();
            },
        ));
        assert_eq!(
            result,
            Err(GatherError::Failed {
                index: 2,
                error: "worker 2: bad request".to_string()
            })
        );
        assert_eq!(cancels.get(), 1);
        assert!(stop_sender.is_closed());
        assert_eq!(ledger.cleaned_up(), [0, 1, 3]);
        let mut said_goodbye: Vec<usize> =
            std::iter::from_fn(|| goodbyes.try_recv().ok()).collect();
        said_goodbye.sort_unstable();
        assert_eq!(said_goodbye, [0, 1, 3]);
        assert_eq!(ledger.drops(4), [1; 4]);
    }

    #[test]
    fn a_child_that_ignores_the_closed_channel_is_dropped_when_the_grace_period_ends() {
        let ledger = Ledger::new();
        let (stop_sender, stop) = channel::unbounded::<()>();
        // Room for every goodbye: sending one completes at once.
        let (goodbye_sender, goodbyes) = channel::bounded(4);
        let child = |index: usize| {
            let (ledger, stop, goodbyes) = (ledger.clone(), stop.clone(), goodbye_sender.clone());
            async move {
                let _guard = ledger.guard(index);
                match index {
                    0 => {
                        smol::future::yield_now().await;
                        Err("worker 0: lost its lease".to_string())
                    }
                    3 => pending().await,
                    _ => {
                        told_to_stop(&stop).await;
                        goodbyes.send(index).await.expect("the test listens");
                        ledger.clean_up(index);
                        Ok(index)
                    }
                }
            }
        };
        let gather = safe_gather((0..5).map(child)).grace_with(AsyncIoTimer, SHORT_GRACE, || {
            stop_sender.close();
        });
        let result = smol::block_on(smol::future::or(gather, async {
            smol::Timer::after(GIVE_UP).await;
            panic!("the grace period never ended")
        }));
        assert_eq!(
            result,
            Err(GatherError::Failed {
                index: 0,
                error: "worker 0: lost its lease".to_string()
            })
        );
        assert_eq!(ledger.cleaned_up(), [1, 2, 4]);
        assert_eq!(goodbyes.len(), 3);
        assert_eq!(ledger.drops(5), [1; 5]);
        assert_eq!(
            ledger.last_dropped(),
            Some(3),
            "the child that ignored the signal was dropped at the end"
        );
    }

    /// Told to stop by a message of its own: flushes, and reports how that went.
    async fn shutdown_worker(
        index: usize,
        stop: Receiver<()>,
        ledger: Rc<Ledger>,
    ) -> Result<&'static str, String> {
        let _guard = ledger.guard(index);
        if index == 0 {
            return Ok("nothing to do");
        }
        told_to_stop(&stop).await;
        smol::future::yield_now().await;
        ledger.clean_up(index);
        if index == 2 {
            return Err("flush failed: disk full".to_string());
        }
        Ok("flushed")
    }

    #[test]
    fn a_message_per_child_in_on_cancel_lets_a_settled_shutdown_keep_every_outcome() {
        const WORKERS: usize = 4;
        let ledger = Ledger::new();
        let (stop_sender, stop): (Sender<()>, _) = channel::bounded(WORKERS);
        let outcomes = smol::block_on(
            safe_gather(
                (0..WORKERS).map(|index| shutdown_worker(index, stop.clone(), ledger.clone())),
            )
            .settled()
            .timeout_with(AsyncIoTimer, Duration::from_millis(20))
            // The grace sleep comes from the gather's own timer, async-io's.
            .grace(LONG_GRACE, || {
                for _ in 0..WORKERS {
                    stop_sender
                        .try_send(())
                        .expect("room for every stop message");
                }
            }),
        );
        assert_eq!(
            outcomes,
            [
                Ok("nothing to do"),
                Ok("flushed"),
                Err(SlotError::Failed("flush failed: disk full".to_string())),
                Ok("flushed")
            ],
            "the deadline passed, and every child still running got its message and cleaned up"
        );
        assert_eq!(ledger.cleaned_up(), [1, 2, 3]);
        assert_eq!(ledger.drops(WORKERS), [1; WORKERS]);
    }
}
