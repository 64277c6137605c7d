//! Records the size of every footprint case's future, as this target lays
//! it out (`core::mem::size_of_val` of each, computed at compile time), in
//! the symbol `FOOTPRINT_FUTURE_SIZES`, which `scripts/footprint` reads from
//! the ELF. Nothing here needs to run.
#![no_std]
#![no_main]

use safe_gather_firmware::board;
use safe_gather_firmware::footprint::{self, size_of_output};

/// In this order, which `scripts/footprint` relies on: each case with
/// safe-gather, then with embassy-futures, then one child alone.
#[used]
#[no_mangle]
static FOOTPRINT_FUTURE_SIZES: [u32; 7] = [
    size_of_output(&footprint::tuple3_gather) as u32,
    size_of_output(&footprint::tuple3_embassy) as u32,
    size_of_output(&footprint::array8_gather) as u32,
    size_of_output(&footprint::array8_embassy) as u32,
    size_of_output(&footprint::settled8_gather) as u32,
    size_of_output(&footprint::settled8_embassy) as u32,
    size_of_output(&|| footprint::temperature(1)) as u32,
];

#[cortex_m_rt::entry]
fn main() -> ! {
    board::exit(true)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    board::exit(false)
}
