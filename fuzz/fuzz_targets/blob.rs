//! Model blobs (see `sdt_fuzz::blob`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sdt_fuzz::blob::run(data));
