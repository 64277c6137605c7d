//! Settled mode (SPEC §3, rules 8–10): nothing short-circuits; with a
//! deadline, finished children keep their outcome and the rest time out.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use safe_gather::{safe_gather, safe_gather_array, SlotError};
use support::{Board, ManualTimer, Parent, Plan};

fn plain(outcomes: &[Result<support::Output, u32>]) -> Vec<Result<u32, u32>> {
    outcomes
        .iter()
        .map(|o| o.as_ref().map(|v| v.value).map_err(|e| *e))
        .collect()
}

#[test]
fn settled_never_short_circuits_on_errors() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait)).settled());
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(1));
    assert!(
        parent.poll(gather.as_mut()).is_pending(),
        "an error stopped a settled gather"
    );
    assert_eq!(
        board.all_drops(),
        [1, 0, 0, 0],
        "siblings were dropped after an error"
    );
    board.open(2, Ok(20));
    board.open(3, Err(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(10));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("not ready")
    };
    assert_eq!(plain(&outcomes), [Err(1), Ok(10), Ok(20), Err(3)]);
    board.assert_all_dropped();
}

#[test]
fn settled_array_and_tuple_keep_each_outcome() {
    let board = Board::new();
    let [a, b] = [
        board.child(Plan::Ready(Err(5))),
        board.child(Plan::Ready(Ok(6))),
    ];
    let outcomes = futures::executor::block_on(safe_gather_array([a, b]).settled());
    assert_eq!(plain(&outcomes), [Err(5), Ok(6)]);

    // Tuple children need not share an error type in settled mode.
    let text = async { Err::<u8, String>("bad".into()) };
    let number = async { Ok::<u16, std::io::Error>(7) };
    let (a, b) = futures::executor::block_on(safe_gather::safe_gather!(text, number).settled());
    assert_eq!(a, Err("bad".to_string()));
    assert_eq!(b.unwrap(), 7);
}

#[test]
fn settled_deadline_keeps_finished_slots_and_times_out_the_rest() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait))
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(10)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(10));
    board.open(2, Err(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_drops(), [0, 1, 1, 0]);
    timer.advance(Duration::from_secs(10));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("deadline ignored")
    };
    let outcomes: Vec<Result<u32, SlotError<u32>>> = outcomes
        .into_iter()
        .map(|o| o.map(|output| output.value))
        .collect();
    assert_eq!(
        outcomes,
        [
            Err(SlotError::TimedOut),
            Ok(10),
            Err(SlotError::Failed(2)),
            Err(SlotError::TimedOut)
        ]
    );
    board.assert_all_dropped();
    assert_eq!(
        timer.sleeps_alive(),
        0,
        "the sleep outlived the gather's resolution"
    );
}

#[test]
fn settled_with_a_deadline_that_never_passes_reports_every_outcome() {
    let board = Board::new();
    let children = vec![
        board.child(Plan::Ready(Ok(1))),
        board.child(Plan::Ready(Err(2))),
    ];
    let gather = safe_gather(children)
        .timeout_with(ManualTimer::new(), Duration::from_secs(1))
        .settled();
    let outcomes = futures::executor::block_on(gather);
    assert_eq!(outcomes[0].as_ref().unwrap().value, 1);
    assert_eq!(outcomes[1].as_ref().unwrap_err(), &SlotError::Failed(2));
}

#[test]
fn shutdown_pattern_settled_with_timeout_has_no_overall_error() {
    // `safe_gather(shutdowns).settled().timeout(..)`: one service hangs.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let services = vec![
        board.child(Plan::Ready(Ok(0))),
        board.child(Plan::Wait),
        board.child(Plan::Ready(Err(1))),
    ];
    let mut shutdown = pin!(safe_gather(services)
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(10)));
    assert!(parent.poll(shutdown.as_mut()).is_pending());
    timer.advance(Duration::from_secs(10));
    let Poll::Ready(outcomes) = parent.poll(shutdown.as_mut()) else {
        panic!("not ready")
    };
    assert!(outcomes[0].is_ok());
    assert_eq!(outcomes[1].as_ref().unwrap_err(), &SlotError::TimedOut);
    assert_eq!(outcomes[2].as_ref().unwrap_err(), &SlotError::Failed(1));
    board.assert_all_dropped();
}

#[test]
fn empty_settled_gather_is_empty() {
    let outcomes = futures::executor::block_on(safe_gather(Vec::<support::Child>::new()).settled());
    assert!(outcomes.is_empty());
    let timer = ManualTimer::new();
    let outcomes = futures::executor::block_on(
        safe_gather(Vec::<support::Child>::new())
            .settled()
            .timeout_with(&timer, Duration::ZERO),
    );
    assert!(outcomes.is_empty());
    assert_eq!(timer.sleeps_made(), 0);
}
