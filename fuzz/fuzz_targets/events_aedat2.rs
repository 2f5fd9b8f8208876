//! AEDAT 2.0 (DVS128): decoding the input in two chunks, split at a point taken from the input, gives the
//! same events and counters as decoding it whole; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdt_events::aedat2::Aedat2Decoder;
use sdt_events::Geometry;

fuzz_target!(|data: &[u8]| sdt_fuzz::check_split(
    || Aedat2Decoder::new(Geometry::new(128, 128)),
    data
));
