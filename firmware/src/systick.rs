//! An embassy-time driver on the Cortex-M SysTick timer.
//!
//! SysTick interrupts at embassy's tick rate (`tick-hz-1_000` in Cargo.toml:
//! one tick per millisecond), and its handler counts ticks. That count is
//! embassy's clock. Timers are kept in embassy's timer queue (the one
//! integrated into embassy-executor); the driver only remembers when the
//! earliest of them expires, and the tick that reaches it lets the queue wake
//! every task whose timer has passed.
//!
//! A periodic tick rather than a one-shot alarm, because SysTick has no
//! compare register: a tickless driver would have to reprogram its reload
//! value and account for the cycles lost doing so. One interrupt per
//! millisecond costs little, and QEMU's SysTick is exact.
//!
//! The clock loses ticks only while interrupts stay masked for more than a
//! whole tick (semihosting output masks them, briefly).

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;

/// The core clock of QEMU's `lm3s6965evb` out of reset: its system
/// controller divides the 200 MHz PLL output by 16 (RCC.SYSDIV resets to
/// 0xF), which QEMU models as a clock period of 80 ns.
pub const CORE_CLOCK_HZ: u32 = 12_500_000;

/// Core clock cycles per embassy tick.
const CYCLES_PER_TICK: u32 = {
    assert!(
        (CORE_CLOCK_HZ as u64).is_multiple_of(TICK_HZ),
        "the tick rate must divide the core clock"
    );
    let cycles = CORE_CLOCK_HZ as u64 / TICK_HZ;
    // SysTick's reload register has 24 bits.
    assert!(
        cycles >= 2 && cycles <= 1 << 24,
        "a tick must fit SysTick's counter"
    );
    cycles as u32
};

struct Clock {
    /// Ticks since [`start`].
    now: u64,
    /// When the earliest timer in `queue` expires (`u64::MAX`: none).
    alarm: u64,
    queue: Queue,
}

impl Clock {
    /// Wakes every timer that has expired by now and remembers the next one.
    fn rearm(&mut self) {
        self.alarm = self.queue.next_expiration(self.now);
    }
}

struct SysTickDriver {
    clock: Mutex<RefCell<Clock>>,
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.clock.borrow_ref(cs).now)
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut clock = self.clock.borrow_ref_mut(cs);
            if clock.queue.schedule_wake(at, waker) {
                // Also wakes `waker` at once if `at` has already passed.
                clock.rearm();
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    clock: Mutex::new(RefCell::new(Clock {
        now: 0,
        alarm: u64::MAX,
        queue: Queue::new(),
    })),
});

/// Starts embassy's clock: SysTick on the core clock, one interrupt per tick.
/// Call once, before anything reads the time.
pub fn start(mut syst: SYST) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CYCLES_PER_TICK - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let mut clock = DRIVER.clock.borrow_ref_mut(cs);
        clock.now += 1;
        if clock.now >= clock.alarm {
            clock.rearm();
        }
    });
}
