//! Footprint case `array8_wakers`: see `safe_gather_firmware::footprint` and `scripts/footprint`.
#![no_std]
#![no_main]

safe_gather_firmware::footprint_binary!(array8_wakers);
