//! The spin lock behind `ManualTimer`'s clock, under every interleaving loom
//! explores: threads that contend for it all get it, and each sees the
//! writes of the holders before it. A waiter that stopped spinning on the
//! wrong state (waiting while the lock is free) shows as a model that never
//! ends: loom fails it once its branch limit is spent.
#![cfg(loom)]

use std::time::Duration;

use loom::thread;
use safe_gather::ManualTimer;

#[test]
fn two_threads_contending_for_the_manual_clock_both_get_it_and_neither_advance_is_lost() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let timer = ManualTimer::new();
        let other = {
            let timer = timer.clone();
            thread::spawn(move || timer.advance(Duration::from_millis(1)))
        };
        // Both threads write under the lock: neither advance is lost.
        timer.advance(Duration::from_millis(1));
        other.join().unwrap();
        assert_eq!(timer.now(), Duration::from_millis(2));
    });
}
