//! Event decoders: decoding the input in two chunks, split at a point taken from the input,
//! gives the same events and counters as decoding it whole; the counters account for every
//! event; nothing panics.

use sdt_events::aedat2::Aedat2Decoder;
use sdt_events::aedat31::Aedat31Decoder;
use sdt_events::dat::DatDecoder;
use sdt_events::evt2::Evt2Decoder;
use sdt_events::evt3::Evt3Decoder;
use sdt_events::nmnist::NmnistDecoder;
use sdt_events::{Counters, Decoder, Event, Geometry};

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

/// jAER AEDAT 2.0 (DVS128).
pub fn aedat2(data: &[u8]) {
    check_split(|| Aedat2Decoder::new(Geometry::new(128, 128)), data)
}

/// AEDAT 3.1 polarity packets.
pub fn aedat31(data: &[u8]) {
    check_split(|| Aedat31Decoder::new(Geometry::new(128, 128)), data)
}

/// Prophesee DAT.
pub fn dat(data: &[u8]) {
    check_split(|| DatDecoder::new(Geometry::new(640, 480)), data)
}

/// Prophesee EVT 2.0.
pub fn evt2(data: &[u8]) {
    check_split(|| Evt2Decoder::new(Geometry::new(1280, 720)), data)
}

/// Prophesee EVT 3.0.
pub fn evt3(data: &[u8]) {
    check_split(|| Evt3Decoder::new(Geometry::new(1280, 720)), data)
}

/// N-MNIST / N-Caltech101 binary.
pub fn nmnist(data: &[u8]) {
    check_split(|| NmnistDecoder::new(Geometry::new(34, 34)), data)
}
