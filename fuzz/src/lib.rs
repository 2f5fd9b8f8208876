//! Checks shared by the fuzz targets.

use sdt_events::{Counters, Decoder, Event};

fn decode<D: Decoder>(mut decoder: D, parts: &[&[u8]]) -> (Vec<Event>, Counters) {
    let mut events = Vec::new();
    for part in parts {
        decoder.feed(part, |e| events.push(e));
    }
    (events, decoder.finish())
}

/// Decoding `data` in two chunks, split at a point taken from the data, gives the same events
/// and counters as decoding it whole, and the counters account for every event.
pub fn check_split<D: Decoder>(new_decoder: impl Fn() -> D, data: &[u8]) {
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (a, b) = data.split_at(split);
    let whole = decode(new_decoder(), &[data]);
    assert_eq!(whole, decode(new_decoder(), &[a, b]));
    assert_eq!(whole.1.events, whole.0.len() as u64);
}
