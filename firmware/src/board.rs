//! The emulated board: start-up, output and exit, all over semihosting.

use core::panic::PanicInfo;

use cortex_m_semihosting::{debug, hprintln};

/// Starts the board's time driver. Call first thing in `main`.
pub fn init() {
    let peripherals = cortex_m::Peripherals::take().expect("`board::init` is called once");
    crate::systick::start(peripherals.SYST);
}

/// Ends the program: QEMU exits with status 0 if `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Without a semihosting host (a real board) there is nowhere to return.
    loop {
        cortex_m::asm::wfi();
    }
}

/// For a `#[panic_handler]`: prints the panic and exits with failure, so that
/// a panicking check fails CI instead of hanging it.
pub fn report_panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    exit(false)
}
