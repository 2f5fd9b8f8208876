//! Shared helpers for the event-decoder tests (a module of the test crates; no tests here).
#![allow(dead_code)]

use sdt_events::aedat2::{Aedat2Decoder, Aedat2Encoder};
use sdt_events::aedat31::{Aedat31Decoder, Aedat31Encoder};
use sdt_events::dat::{DatDecoder, DatEncoder};
use sdt_events::evt2::{Evt2Decoder, Evt2Encoder};
use sdt_events::evt3::{Evt3Decoder, Evt3Encoder};
use sdt_events::nmnist::{NmnistDecoder, NmnistEncoder};
use sdt_events::{Counters, Decoder, EncodeError, Encoder, Event, Geometry};

/// Every format with a decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Evt2,
    Evt3,
    Dat,
    Aedat2,
    Aedat31,
    Nmnist,
}

pub const ALL: [Format; 6] = [
    Format::Evt2,
    Format::Evt3,
    Format::Dat,
    Format::Aedat2,
    Format::Aedat31,
    Format::Nmnist,
];

impl Format {
    /// The sensor the tests use for this format.
    pub fn geometry(self) -> Geometry {
        match self {
            Format::Evt2 | Format::Evt3 => Geometry::new(1280, 720),
            Format::Dat => Geometry::new(640, 480),
            Format::Aedat2 | Format::Aedat31 => Geometry::new(128, 128),
            Format::Nmnist => Geometry::new(34, 34),
        }
    }

    /// Largest gap between consecutive timestamps the encoder must handle.
    pub fn max_gap(self) -> u64 {
        match self {
            Format::Evt2 => 1 << 40,
            Format::Evt3 => 1 << 28,
            Format::Dat | Format::Aedat2 => (1 << 31) - 1,
            Format::Aedat31 => 1 << 34,
            Format::Nmnist => 1 << 16,
        }
    }

    /// Largest timestamp the format holds.
    pub fn max_time(self) -> u64 {
        match self {
            Format::Nmnist => (1 << 23) - 1,
            Format::Aedat31 => (1 << 62) - 1,
            _ => u64::MAX >> 8,
        }
    }

    pub fn decoder(self) -> AnyDecoder {
        self.decoder_for(self.geometry())
    }

    pub fn decoder_for(self, g: Geometry) -> AnyDecoder {
        match self {
            Format::Evt2 => AnyDecoder::Evt2(Evt2Decoder::new(g)),
            Format::Evt3 => AnyDecoder::Evt3(Evt3Decoder::new(g)),
            Format::Dat => AnyDecoder::Dat(DatDecoder::new(g)),
            Format::Aedat2 => AnyDecoder::Aedat2(Aedat2Decoder::new(g)),
            Format::Aedat31 => AnyDecoder::Aedat31(Aedat31Decoder::new(g)),
            Format::Nmnist => AnyDecoder::Nmnist(NmnistDecoder::new(g)),
        }
    }

    /// Encodes `events` into a complete stream (header included).
    pub fn encode(self, events: &[Event]) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| out.extend_from_slice(b);
        match self {
            Format::Evt2 => Evt2Encoder::new().encode(events, &mut sink)?,
            Format::Evt3 => Evt3Encoder::new().encode(events, &mut sink)?,
            Format::Dat => {
                let mut e = DatEncoder::new(self.geometry());
                e.header(&mut sink);
                e.encode(events, &mut sink)?
            }
            Format::Aedat2 => {
                let mut e = Aedat2Encoder::new();
                e.header(&mut sink);
                e.encode(events, &mut sink)?
            }
            Format::Aedat31 => {
                let mut e = Aedat31Encoder::new();
                e.header(&mut sink);
                e.encode(events, &mut sink)?
            }
            Format::Nmnist => NmnistEncoder::new().encode(events, &mut sink)?,
        }
        Ok(out)
    }
}

/// Enum dispatch over the decoders.
pub enum AnyDecoder {
    Evt2(Evt2Decoder),
    Evt3(Evt3Decoder),
    Dat(DatDecoder),
    Aedat2(Aedat2Decoder),
    Aedat31(Aedat31Decoder),
    Nmnist(NmnistDecoder),
}

impl AnyDecoder {
    pub fn feed(&mut self, bytes: &[u8], sink: &mut dyn FnMut(Event)) {
        match self {
            AnyDecoder::Evt2(d) => d.feed(bytes, sink),
            AnyDecoder::Evt3(d) => d.feed(bytes, sink),
            AnyDecoder::Dat(d) => d.feed(bytes, sink),
            AnyDecoder::Aedat2(d) => d.feed(bytes, sink),
            AnyDecoder::Aedat31(d) => d.feed(bytes, sink),
            AnyDecoder::Nmnist(d) => d.feed(bytes, sink),
        }
    }

    pub fn finish(&mut self) -> Counters {
        match self {
            AnyDecoder::Evt2(d) => d.finish(),
            AnyDecoder::Evt3(d) => d.finish(),
            AnyDecoder::Dat(d) => d.finish(),
            AnyDecoder::Aedat2(d) => d.finish(),
            AnyDecoder::Aedat31(d) => d.finish(),
            AnyDecoder::Nmnist(d) => d.finish(),
        }
    }
}

/// Decodes `bytes` in chunks whose sizes cycle through `chunks` (all of it at once if empty).
pub fn decode_chunked(f: Format, bytes: &[u8], chunks: &[usize]) -> (Vec<Event>, Counters) {
    let mut d = f.decoder();
    let mut events = Vec::new();
    let mut rest = bytes;
    let mut sizes = chunks.iter().copied().filter(|&c| c > 0).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (now, tail) = rest.split_at(n);
        d.feed(now, &mut |e| events.push(e));
        rest = tail;
    }
    let counters = d.finish();
    (events, counters)
}

pub fn decode_whole(f: Format, bytes: &[u8]) -> (Vec<Event>, Counters) {
    decode_chunked(f, bytes, &[])
}

/// Builds a time-sorted event list valid for `f` from raw random segments: each segment is
/// either one event or a burst of events on one row at one time with increasing `x` (what
/// EVT 3.0 vectorises).
pub fn build_events(f: Format, segments: &[(u8, u64, u16, u16, bool, u32)]) -> Vec<Event> {
    let g = f.geometry();
    let mut t = 0u64;
    let mut out = Vec::new();
    for &(kind, r, y, x0, p, mask) in segments {
        let dt = match kind % 4 {
            0 => 0,
            1 => r % 64,
            2 => r % 5000,
            _ => r % f.max_gap(),
        };
        t = (t + dt).min(f.max_time());
        let y = y % g.height;
        let x0 = x0 % g.width;
        let p = u8::from(p);
        if mask & 1 == 0 {
            out.push(Event { t, x: x0, y, p });
        } else {
            for bit in 0..32u16 {
                let x = x0 + bit;
                if mask >> bit & 1 == 1 && x < g.width {
                    out.push(Event { t, x, y, p });
                }
            }
        }
    }
    out
}
