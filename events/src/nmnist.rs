//! N-MNIST-style ATIS binary (N-MNIST, N-Caltech101): headerless 5-byte records.
//!
//! | byte | bits |
//! |---|---|
//! | 0 | x |
//! | 1 | y |
//! | 2 | bit 7 polarity (1 = ON), bits 6..0 timestamp bits 22..16 |
//! | 3 | timestamp bits 15..8 |
//! | 4 | timestamp bits 7..0 |
//!
//! Timestamps are 23-bit µs and are reported as stored: recordings of this kind are a few
//! hundred ms long, and no wrap-around is inferred. Events outside the configured geometry
//! (e.g. 34 × 34 for N-MNIST) are counted as [`Counters::out_of_range`].

use crate::units::Units;
use crate::{Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

/// N-MNIST's resolution.
pub const NMNIST: Geometry = Geometry::new(34, 34);

/// Incremental N-MNIST binary decoder.
#[derive(Clone, Debug)]
pub struct NmnistDecoder {
    geometry: Geometry,
    units: Units<5>,
}

impl NmnistDecoder {
    /// A decoder for a sensor of the given resolution (e.g. [`NMNIST`]).
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            units: Units::new(),
        }
    }

    #[inline(always)]
    fn record(&mut self, r: [u8; 5], sink: &mut impl FnMut(Event)) {
        let [x, y, b2, b3, b4] = r;
        let (x, y) = (u16::from(x), u16::from(y));
        self.units.counters.deliver(
            self.geometry,
            Event {
                t: u64::from(u32::from_be_bytes([0, b2 & 0x7F, b3, b4])),
                x,
                y,
                p: b2 >> 7,
            },
            sink,
        );
    }
}

impl Decoder for NmnistDecoder {
    const UNIT_BYTES: usize = 5;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        Units::feed(self, |d| &mut d.units, bytes, |d, r| d.record(r, &mut sink));
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        self.units.finish(0)
    }
}

/// N-MNIST binary encoder. Timestamps must be below 2²³ µs.
#[derive(Clone, Debug, Default)]
pub struct NmnistEncoder;

impl NmnistEncoder {
    /// A new encoder.
    pub const fn new() -> Self {
        Self
    }
}

impl Encoder for NmnistEncoder {
    fn header(&mut self, _out: &mut impl Sink) {}

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        for e in events {
            let (Ok(x), Ok(y)) = (u8::try_from(e.x), u8::try_from(e.y)) else {
                return Err(EncodeError::Coordinate);
            };
            if e.p > 1 {
                return Err(EncodeError::Polarity);
            }
            if e.t >= 1 << 23 {
                return Err(EncodeError::Time);
            }
            let [_, t2, t1, t0] = (e.t as u32).to_be_bytes();
            out.put(&[x, y, e.p << 7 | t2, t1, t0]);
        }
        Ok(())
    }
}
