//! N-MNIST binary: decoding the input in two chunks, split at a point taken from the input, gives the
//! same events and counters as decoding it whole; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdt_events::nmnist::NmnistDecoder;
use sdt_events::Geometry;

fuzz_target!(|data: &[u8]| sdt_fuzz::check_split(
    || NmnistDecoder::new(Geometry::new(34, 34)),
    data
));
