//! Event decoder dat (see `sdt_fuzz::events`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sdt_fuzz::events::dat(data));
