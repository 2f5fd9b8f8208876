//! AEDAT 4.0 files (see `sdt_fuzz::aedat4`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sdt_fuzz::aedat4::run(data));
