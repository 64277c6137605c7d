//! What code moving from `try_join_all` / `try_join!` and code with an
//! optional timeout write: `.keep_error_type()` (the children's own error
//! type, for `?` into a function's `Result<_, E>`), and `.timeout(..)` /
//! `.timeout_with(..)` taking an `Option<Duration>`.

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use safe_gather::{safe_gather_array, GatherError};
use support::{panic_message, Board, ManualTimer, Parent, Plan};

#[test]
fn keep_error_type_resolves_to_the_first_error_itself_after_dropping_the_rest() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut gather = pin!(safe_gather_array(children).keep_error_type());
    assert!(!futures::future::FusedFuture::is_terminated(&*gather));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(!futures::future::FusedFuture::is_terminated(&*gather));
    board.open(1, Err(7));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Ready(Err(7)));
    assert_eq!(board.all_drops(), [1, 1, 1]);
    assert!(futures::future::FusedFuture::is_terminated(&*gather));
}

#[test]
fn keep_error_type_passes_the_values_through() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 2] = std::array::from_fn(|id| board.child(Plan::Ready(Ok(id as u32 + 1))));
    let mut gather = pin!(safe_gather_array(children).keep_error_type());
    let Poll::Ready(Ok(values)) = parent.poll(gather.as_mut()) else {
        panic!("both children are ready")
    };
    assert_eq!(values.map(|output| output.value), [1, 2]);
}

#[cfg(feature = "alloc")]
#[test]
fn keep_error_type_works_with_question_mark_and_a_grace_period() {
    use std::cell::Cell;

    fn run(fail: bool) -> Result<Vec<u32>, String> {
        let cancelled = Cell::new(false);
        let jobs = (0..3).map(|n| async move {
            if fail && n == 1 {
                Err(format!("job {n} failed"))
            } else {
                Ok(n)
            }
        });
        let values = futures::executor::block_on(
            safe_gather::safe_gather(jobs)
                .grace_with(ManualTimer::new(), Duration::from_secs(1), || {
                    cancelled.set(true)
                })
                .keep_error_type(),
        )?;
        assert!(!cancelled.get());
        Ok(values)
    }
    assert_eq!(run(false), Ok(vec![0, 1, 2]));
    assert_eq!(run(true), Err("job 1 failed".to_string()));
}

#[test]
fn keep_error_type_after_a_poll_panics() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather_array([board.child(Plan::Wait)]));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let gather = *std::pin::Pin::into_inner(gather);
    let message = panic_message(|| drop(gather.keep_error_type()));
    assert!(
        message.contains("`SafeGather::keep_error_type` called after"),
        "{message}"
    );
}

#[test]
fn an_optional_timeout_of_none_never_fires_and_of_some_does() {
    for (limit, expect_timeout) in [(None, false), (Some(Duration::from_secs(1)), true)] {
        let board = Board::new();
        let parent = Parent::new();
        let timer = ManualTimer::new();
        let mut gather =
            pin!(safe_gather_array([board.child(Plan::Wait)]).timeout_with(timer.clone(), limit));
        assert!(parent.poll(gather.as_mut()).is_pending());
        timer.advance(Duration::from_secs(3600));
        let polled = parent.poll(gather.as_mut());
        assert_eq!(
            polled.is_ready(),
            expect_timeout,
            "timeout {limit:?}: {polled:?}"
        );
        if let Poll::Ready(result) = polled {
            assert_eq!(
                result.unwrap_err(),
                GatherError::TimedOut {
                    completed: 0,
                    pending: 1
                }
            );
        }
    }
}
