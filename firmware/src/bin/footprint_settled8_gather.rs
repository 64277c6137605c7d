//! Footprint case `settled8_gather`: see `safe_gather_firmware::footprint` and `scripts/footprint`.
#![no_std]
#![no_main]

safe_gather_firmware::footprint_binary!(settled8_gather);
