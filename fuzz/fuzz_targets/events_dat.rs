//! Prophesee DAT: decoding the input in two chunks, split at a point taken from the input, gives the
//! same events and counters as decoding it whole; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdt_events::dat::DatDecoder;
use sdt_events::Geometry;

fuzz_target!(|data: &[u8]| sdt_fuzz::check_split(
    || DatDecoder::new(Geometry::new(640, 480)),
    data
));
