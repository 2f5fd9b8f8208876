//! N-MNIST binary: decoding the input in two chunks, split at a point taken from the input, gives the
//! same events and counters as decoding it whole; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdt_core::events::nmnist::NmnistDecoder;
use sdt_core::events::{Decoder, Geometry};

fn decode(parts: &[&[u8]]) -> (Vec<sdt_core::events::Event>, sdt_core::events::Counters) {
    let mut d = NmnistDecoder::new(Geometry::new(34, 34));
    let mut events = Vec::new();
    for part in parts {
        d.feed(part, |e| events.push(e));
    }
    (events, d.finish())
}

fuzz_target!(|data: &[u8]| {
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (a, b) = data.split_at(split);
    let whole = decode(&[data]);
    assert_eq!(whole, decode(&[a, b]));
    assert_eq!(whole.1.events, whole.0.len() as u64);
});
