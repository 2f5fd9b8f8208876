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

use crate::{for_each_unit, Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

/// N-MNIST's resolution.
pub const NMNIST: Geometry = Geometry::new(34, 34);

/// Incremental N-MNIST binary decoder.
#[derive(Clone, Debug)]
pub struct NmnistDecoder {
    geometry: Geometry,
    buf: [u8; 5],
    buf_len: usize,
    counters: Counters,
}

impl NmnistDecoder {
    /// A decoder for a sensor of the given resolution (e.g. [`NMNIST`]).
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            buf: [0; 5],
            buf_len: 0,
            counters: Counters {
                events: 0,
                malformed: 0,
                other: 0,
                out_of_range: 0,
                truncated_bytes: 0,
            },
        }
    }

    #[inline(always)]
    fn record(&mut self, r: [u8; 5], sink: &mut impl FnMut(Event)) {
        let [x, y, b2, b3, b4] = r;
        let (x, y) = (u16::from(x), u16::from(y));
        if self.geometry.contains(x, y) {
            self.counters.events += 1;
            sink(Event {
                t: u64::from(u32::from_be_bytes([0, b2 & 0x7F, b3, b4])),
                x,
                y,
                p: b2 >> 7,
            });
        } else {
            self.counters.out_of_range += 1;
        }
    }
}

impl Decoder for NmnistDecoder {
    const UNIT_BYTES: usize = 5;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        let (mut buf, mut len) = (self.buf, self.buf_len);
        for_each_unit(&mut buf, &mut len, bytes, |r| self.record(r, &mut sink));
        (self.buf, self.buf_len) = (buf, len);
    }

    fn counters(&self) -> Counters {
        self.counters
    }

    fn finish(&mut self) -> Counters {
        self.counters.truncated_bytes += core::mem::take(&mut self.buf_len) as u64;
        self.counters
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
