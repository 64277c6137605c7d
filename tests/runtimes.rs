//! The same gathers on real executors with real timers: futures' `block_on`,
//! smol, async-std and a tokio multi-thread runtime. Outcomes only: every
//! child here either finishes promptly or never, so no assertion depends on
//! how fast the machine is.
#![cfg(all(not(miri), feature = "futures-timer"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use safe_gather::{safe_gather, safe_gather_array, GatherError, SlotError};

/// Counts drops of the futures it wraps.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn futures_block_on_with_futures_timer() {
    futures::executor::block_on(async {
        // Children sleeping different lengths still come back in input order.
        let children = (0..10u64).map(|n| async move {
            futures_timer::Delay::new(Duration::from_millis(10 - n)).await;
            Ok::<_, ()>(n)
        });
        assert_eq!(
            safe_gather(children).timeout(LONG).await,
            Ok((0..10).collect::<Vec<_>>())
        );

        // Fail fast: child 3 fails after a real sleep, the rest never finish.
        let drops = Arc::new(AtomicUsize::new(0));
        let children = (0..6).map(|n| {
            let guard = DropCount(drops.clone());
            async move {
                let _guard = guard;
                if n == 3 {
                    futures_timer::Delay::new(Duration::from_millis(1)).await;
                    Err(n)
                } else {
                    futures::future::pending::<Result<(), i32>>().await
                }
            }
        });
        assert_eq!(
            safe_gather(children).await,
            Err(GatherError::Failed { index: 3, error: 3 })
        );
        assert_eq!(drops.load(Ordering::SeqCst), 6);

        // Timeout: nothing finishes.
        let stuck = [
            futures::future::pending::<Result<(), ()>>(),
            futures::future::pending(),
        ];
        let result = safe_gather_array(stuck)
            .timeout(Duration::from_millis(5))
            .await;
        assert_eq!(
            result,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 2
            })
        );
    });
}

#[test]
fn smol_with_its_own_timer() {
    smol::block_on(async {
        let (a, b, c) = safe_gather::safe_gather!(
            async {
                smol::Timer::after(Duration::from_millis(3)).await;
                Ok::<_, String>("a")
            },
            async { Ok(2u8) },
            async {
                smol::Timer::after(Duration::from_millis(1)).await;
                Ok(vec![3])
            },
        )
        // smol's timer outputs an `Instant`; any output will do.
        .deadline(smol::Timer::after(LONG))
        .await
        .unwrap();
        assert_eq!((a, b, c), ("a", 2, vec![3]));

        // Settled + deadline: the shutdown pattern.
        let shutdowns = (0..3).map(|n| async move {
            match n {
                0 => Ok(()),
                1 => Err("refused"),
                _ => futures::future::pending().await,
            }
        });
        let outcomes = safe_gather(shutdowns)
            .settled()
            .deadline(async {
                smol::Timer::after(Duration::from_millis(5)).await;
            })
            .await;
        assert_eq!(
            outcomes,
            [
                Ok(()),
                Err(SlotError::Failed("refused")),
                Err(SlotError::TimedOut)
            ]
        );
    });
}

#[test]
fn smol_gather_inside_a_spawned_task_woken_from_other_tasks() {
    let executor = Arc::new(smol::Executor::new());
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..32).map(|_| smol::channel::bounded::<u32>(1)).unzip();
    let gather = executor.spawn(safe_gather(
        receivers
            .into_iter()
            .map(|rx| async move { rx.recv().await }),
    ));
    let feeder = executor.spawn(async move {
        for (n, tx) in senders.iter().enumerate().rev() {
            tx.send(n as u32).await.unwrap();
            smol::future::yield_now().await;
        }
    });
    let values = std::thread::scope(|scope| {
        let stop = smol::channel::bounded::<()>(1);
        for _ in 0..2 {
            let (executor, stop) = (executor.clone(), stop.1.clone());
            scope.spawn(move || smol::block_on(executor.run(stop.recv())));
        }
        let values = smol::block_on(executor.run(async {
            feeder.await;
            gather.await
        }));
        drop(stop.0);
        values
    });
    assert_eq!(values.unwrap(), (0..32).collect::<Vec<_>>());
}

#[test]
fn async_std_with_its_own_sleep() {
    async_std::task::block_on(async {
        let handles: Vec<_> = (0..8u64)
            .map(|n| {
                async_std::task::spawn(async move {
                    async_std::task::sleep(Duration::from_millis(8 - n)).await;
                    Ok::<_, String>(n * n)
                })
            })
            .collect();
        let squares = safe_gather(handles).timeout(LONG).await.unwrap();
        assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);

        let result = safe_gather([async_std::future::pending::<Result<(), ()>>()])
            .deadline(async_std::task::sleep(Duration::from_millis(5)))
            .await;
        assert_eq!(
            result,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 1
            })
        );
    });
}

#[test]
fn tokio_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Children woken from other worker threads.
        let mut senders = Vec::new();
        let children: Vec<_> = (0..64)
            .map(|_| {
                let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
                senders.push(tx);
                async move { rx.await.map_err(|_| "sender gone") }
            })
            .collect();
        let feeder = tokio::spawn(async move {
            for (n, tx) in senders.into_iter().enumerate().rev() {
                tx.send(n as u32).unwrap();
                tokio::task::yield_now().await;
            }
        });
        let gather = tokio::spawn(safe_gather(children).deadline(tokio::time::sleep(LONG)));
        feeder.await.unwrap();
        assert_eq!(gather.await.unwrap(), Ok((0..64).collect::<Vec<_>>()));

        // Fail fast drops the rest, which a tokio channel can observe.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let watcher = async move {
            let _tx = tx;
            futures::future::pending::<Result<(), &str>>().await
        };
        let failing = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Err::<(), _>("boom")
        };
        let result = safe_gather::safe_gather!(watcher, failing).await;
        assert_eq!(
            result,
            Err(GatherError::Failed {
                index: 1,
                error: "boom"
            })
        );
        assert!(
            rx.await.is_err(),
            "the sibling's sender was dropped with it"
        );

        // A deadline from tokio's own sleep.
        let result = safe_gather([futures::future::pending::<Result<(), ()>>()])
            .deadline(tokio::time::sleep(Duration::from_millis(5)))
            .await;
        assert_eq!(
            result,
            Err(GatherError::TimedOut {
                completed: 0,
                pending: 1
            })
        );
    });
}
