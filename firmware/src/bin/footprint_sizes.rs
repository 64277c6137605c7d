//! Records the size of every footprint case's future, as this target lays
//! it out (`core::mem::size_of_val` of each, computed at compile time), in
//! one `FUTURE_SIZE_<CASE>` symbol per case, which `scripts/footprint` reads
//! from the ELF. Nothing here needs to run.
#![no_std]
#![no_main]

use safe_gather_firmware::board;
use safe_gather_firmware::footprint::{self, size_of_output};

/// `$symbol = $make;`: a `u32` symbol holding the size of the future that
/// `$make()` returns.
macro_rules! record_sizes {
    ($($symbol:ident = $make:expr;)*) => {
        $(
            #[used]
            #[no_mangle]
            static $symbol: u32 = size_of_output(&$make) as u32;
        )*
    };
}

record_sizes! {
    FUTURE_SIZE_TUPLE3_GATHER = footprint::tuple3_gather;
    FUTURE_SIZE_TUPLE3_EMBASSY = footprint::tuple3_embassy;
    FUTURE_SIZE_TUPLE3_ALONE = footprint::tuple3_alone;
    FUTURE_SIZE_ARRAY8_GATHER = footprint::array8_gather;
    FUTURE_SIZE_ARRAY8_WAKERS = footprint::array8_wakers;
    FUTURE_SIZE_ARRAY8_EMBASSY = footprint::array8_embassy;
    FUTURE_SIZE_ARRAY8_ALONE = footprint::array8_alone;
    FUTURE_SIZE_SETTLED8_GATHER = footprint::settled8_gather;
    FUTURE_SIZE_SETTLED8_EMBASSY = footprint::settled8_embassy;
    FUTURE_SIZE_SETTLED8_ALONE = footprint::settled8_alone;
    FUTURE_SIZE_CHILD = || footprint::temperature(1);
}

/// The size of `ChildWakers<8>`, the static storage of `array8_wakers`.
#[used]
#[no_mangle]
static FUTURE_SIZE_CHILD_WAKERS8: u32 = core::mem::size_of_val(&footprint::ARRAY8_WAKERS) as u32;

#[cortex_m_rt::entry]
fn main() -> ! {
    board::exit(true)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    board::exit(false)
}
