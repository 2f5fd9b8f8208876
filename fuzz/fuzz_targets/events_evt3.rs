//! Prophesee EVT 3.0: decoding the input in two chunks, split at a point taken from the input, gives the
//! same events and counters as decoding it whole; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdt_events::evt3::Evt3Decoder;
use sdt_events::Geometry;

fuzz_target!(|data: &[u8]| sdt_fuzz::check_split(
    || Evt3Decoder::new(Geometry::new(1280, 720)),
    data
));
