//! `Send`, `Sync` and `Unpin` exactly when the children, outputs and deadline
//! allow, checked in both directions; `FusedFuture`, `Debug`.
#![cfg(feature = "futures-timer")]

use std::cell::Cell;
use std::future::{ready, Future, Ready};
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use safe_gather::deadline::{SleepDeadline, TimerDeadline};
use safe_gather::gather::{FailFast, Iter, Settled, WithWakers};
use safe_gather::{safe_gather, safe_gather_array, FuturesTimer, SafeGather};

/// Whether `$ty` implements `$trait`, as a `const bool`: the inherent
/// constant exists only when the bound holds, and shadows the trait's.
macro_rules! implements {
    ($ty:ty: $trait:path) => {{
        #[allow(dead_code)]
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        trait Fallback {
            const YES: bool = false;
        }
        impl<T: ?Sized> Fallback for Probe<T> {}
        #[allow(dead_code)]
        impl<T: ?Sized + $trait> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$ty>>::YES
    }};
}

type Plain = Ready<Result<u32, u32>>;

/// The children of `safe_gather(vec)`.
type VecOf<F> = Iter<std::vec::IntoIter<F>>;

/// Holds an `Rc`: neither `Send` nor `Sync`.
struct NotSend(#[allow(dead_code)] Rc<()>);
impl Future for NotSend {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(0))
    }
}

/// Holds a `Cell`: `Send`, not `Sync`.
struct NotSync(#[allow(dead_code)] Cell<u32>);
impl Future for NotSync {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(0))
    }
}

/// `Send` and `Sync` itself, but its output (kept by the gather) is neither.
struct MakesRc;
impl Future for MakesRc {
    type Output = Result<Rc<u32>, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(Rc::new(0)))
    }
}

/// `!Unpin`.
struct Pinned(#[allow(dead_code)] PhantomPinned);
impl Future for Pinned {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(0))
    }
}

/// A `!Unpin` sleep.
struct PinnedSleep(#[allow(dead_code)] PhantomPinned);
impl Future for PinnedSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn send_and_sync_follow_the_children_in_both_directions() {
    assert!(implements!(SafeGather<VecOf<Plain>>: Send));
    assert!(implements!(SafeGather<VecOf<Plain>>: Sync));
    assert!(implements!(SafeGather<[Plain; 3]>: Send));
    assert!(implements!(SafeGather<(Plain, Plain)>: Sync));

    assert!(!implements!(SafeGather<VecOf<NotSend>>: Send));
    assert!(!implements!(SafeGather<VecOf<NotSend>>: Sync));
    assert!(!implements!(SafeGather<[NotSend; 2]>: Send));
    assert!(!implements!(SafeGather<(Plain, NotSend)>: Send));

    assert!(implements!(SafeGather<VecOf<NotSync>>: Send));
    assert!(!implements!(SafeGather<VecOf<NotSync>>: Sync));
    assert!(!implements!(SafeGather<(NotSync, Plain)>: Sync));
}

#[test]
fn send_and_sync_follow_the_outputs_the_gather_keeps() {
    assert!(implements!(MakesRc: Send));
    assert!(!implements!(SafeGather<VecOf<MakesRc>>: Send));
    assert!(!implements!(SafeGather<VecOf<MakesRc>>: Sync));
    assert!(!implements!(SafeGather<[MakesRc; 1], Settled>: Send));
}

#[test]
fn send_and_sync_follow_the_deadline() {
    assert!(implements!(SafeGather<VecOf<Plain>, FailFast, TimerDeadline<FuturesTimer>>: Send));
    assert!(implements!(SafeGather<VecOf<Plain>, Settled, TimerDeadline<FuturesTimer>>: Sync));
    assert!(
        !implements!(SafeGather<VecOf<Plain>, FailFast, TimerDeadline<Rc<FuturesTimer>>>: Send)
    );
}

#[test]
fn vec_gathers_are_unpin_whatever_their_children() {
    assert!(implements!(SafeGather<VecOf<Pinned>>: Unpin));
    assert!(implements!(SafeGather<VecOf<Pinned>, Settled>: Unpin));
    assert!(implements!(SafeGather<VecOf<Pinned>, FailFast, TimerDeadline<FuturesTimer>>: Unpin));
}

#[test]
fn caller_owned_wakers_change_neither_send_sync_nor_unpin() {
    assert!(implements!(SafeGather<WithWakers<[Plain; 3]>>: Send));
    assert!(implements!(SafeGather<WithWakers<(Plain, Plain)>>: Sync));
    assert!(implements!(SafeGather<WithWakers<[Plain; 2]>>: Unpin));
    assert!(!implements!(SafeGather<WithWakers<[NotSend; 2]>>: Send));
    assert!(!implements!(SafeGather<WithWakers<(NotSync, Plain)>>: Sync));
    assert!(!implements!(SafeGather<WithWakers<(Plain, Pinned)>>: Unpin));
    assert!(!implements!(SafeGather<WithWakers<[MakesRc; 1]>, Settled>: Send));
}

#[test]
fn array_and_tuple_gathers_are_unpin_exactly_when_their_children_are() {
    assert!(implements!(SafeGather<[Plain; 2]>: Unpin));
    assert!(!implements!(SafeGather<[Pinned; 2]>: Unpin));
    assert!(implements!(SafeGather<(Plain, Plain)>: Unpin));
    assert!(!implements!(SafeGather<(Plain, Pinned)>: Unpin));
}

#[test]
fn a_deadline_held_inline_adds_its_own_unpin_ness() {
    assert!(
        implements!(SafeGather<VecOf<Plain>, FailFast, SleepDeadline<futures_timer::Delay>>: Unpin)
    );
    assert!(!implements!(SafeGather<VecOf<Plain>, FailFast, SleepDeadline<PinnedSleep>>: Unpin));
    assert!(
        !implements!(SafeGather<VecOf<Plain>, FailFast, SleepDeadline<tokio::time::Sleep>>: Unpin)
    );
}

#[test]
fn gathers_are_fused_futures_and_debug() {
    fn fused<F: FusedFuture>(_: &F) {}
    let gather = safe_gather(vec![ready(Ok::<u8, ()>(1))]);
    fused(&gather);
    fused(&safe_gather_array([ready(Ok::<u8, ()>(1))]).settled());
    assert_eq!(
        format!("{gather:?}"),
        "SafeGather { len: 1, running: 0, finished: 0, not_started: 1, mode: FailFast, deadline: NoDeadline, state: \"unpolled\" }"
    );
    let limited = safe_gather(vec![ready(Ok::<u8, ()>(1))])
        .limit(4)
        .timeout(std::time::Duration::from_secs(1));
    assert_eq!(
        format!("{limited:?}"),
        "SafeGather { len: 1, running: 0, finished: 0, not_started: 1, mode: FailFast, deadline: TimerDeadline { duration: 1s }, limit: 4, state: \"unpolled\" }"
    );
}
