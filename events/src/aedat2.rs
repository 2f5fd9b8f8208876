//! iniVation AEDAT 2.0 with DVS128 addresses (jAER recordings of the DVS128 / Tmpdiff128).
//!
//! Layout: header lines starting with `#` (the first is `#!AER-DAT2.0`), then big-endian
//! 8-byte records `[address: u32, timestamp: u32 µs]`. DVS128 address bits, as in iniVation's
//! format documentation:
//!
//! | bits | meaning |
//! |---|---|
//! | 15 | external event (counted as [`Counters::non_event`]) |
//! | 14..8 | y, `(0, 0)` at the lower-left corner |
//! | 7..1 | x |
//! | 0 | polarity, 1 = ON |
//!
//! Coordinates are reported as stored (no flipping). Addresses with bits above 15 set are
//! not DVS128 addresses and are counted as [`Counters::malformed`]. The 32-bit timestamp is
//! unwrapped to 64 bits (a step back by more than 2³¹ µs is a wrap-around).

use crate::header::CommentSkipper;
use crate::time::{Unwrapper, Wrapper};
use crate::units::Units;
use crate::{Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

/// The DVS128's resolution.
pub const DVS128: Geometry = Geometry::new(128, 128);

const EXTERNAL: u32 = 1 << 15;

/// Incremental AEDAT 2.0 (DVS128) decoder.
#[derive(Clone, Debug)]
pub struct Aedat2Decoder {
    geometry: Geometry,
    header: CommentSkipper,
    time: Unwrapper<32>,
    units: Units<8>,
}

impl Aedat2Decoder {
    /// A decoder for a sensor of the given resolution (normally [`DVS128`]).
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            header: CommentSkipper::new(b'#'),
            time: Unwrapper::new(),
            units: Units::new(),
        }
    }

    #[inline(always)]
    fn record(&mut self, r: [u8; 8], sink: &mut impl FnMut(Event)) {
        let [a0, a1, a2, a3, t0, t1, t2, t3] = r;
        let addr = u32::from_be_bytes([a0, a1, a2, a3]);
        let ts = u32::from_be_bytes([t0, t1, t2, t3]);
        if addr > 0xFFFF {
            self.units.counters.malformed += 1;
            return;
        }
        let t = self.time.unwrap(u64::from(ts));
        if addr & EXTERNAL != 0 {
            self.units.counters.non_event += 1;
            return;
        }
        let x = ((addr >> 1) & 0x7F) as u16;
        let y = ((addr >> 8) & 0x7F) as u16;
        self.units.counters.deliver(
            self.geometry,
            Event {
                t,
                x,
                y,
                p: (addr & 1) as u8,
            },
            sink,
        );
    }
}

impl Decoder for Aedat2Decoder {
    const UNIT_BYTES: usize = 8;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        let bytes = self.header.skip(bytes);
        Units::feed(self, |d| &mut d.units, bytes, |d, r| d.record(r, &mut sink));
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        self.units.finish(0)
    }
}

/// AEDAT 2.0 (DVS128) encoder: a `#!AER-DAT2.0` header, then one record per event.
#[derive(Clone, Debug, Default)]
pub struct Aedat2Encoder {
    time: Wrapper<32>,
    header_done: bool,
}

impl Aedat2Encoder {
    /// A new encoder.
    pub const fn new() -> Self {
        Self {
            time: Wrapper::new(),
            header_done: false,
        }
    }
}

impl Encoder for Aedat2Encoder {
    fn header(&mut self, out: &mut impl Sink) {
        if !self.header_done {
            self.header_done = true;
            out.put(b"#!AER-DAT2.0\r\n# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n# Timestamps tick is 1 us\r\n# AEChip: DVS128\r\n");
        }
    }

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        self.header(out);
        for e in events {
            if e.x > 0x7F || e.y > 0x7F {
                return Err(EncodeError::Coordinate);
            }
            if e.p > 1 {
                return Err(EncodeError::Polarity);
            }
            let ts = self.time.step(e.t).ok_or(EncodeError::Time)? as u32;
            let addr = u32::from(e.y) << 8 | u32::from(e.x) << 1 | u32::from(e.p);
            out.put(&addr.to_be_bytes());
            out.put(&ts.to_be_bytes());
        }
        Ok(())
    }
}
