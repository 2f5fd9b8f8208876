//! Prophesee DAT: decoded CD events.
//!
//! Layout: a text header of lines starting with `%` (see [`crate::header`]), then two bytes
//! *event type* and *event size*, then little-endian records of *event size* bytes. For CD
//! events (type `12`, or `0` for the generic 2D event) the record is 8 bytes: a 32-bit
//! timestamp in µs, then a 32-bit word with x in bits 13..0, y in bits 27..14 and the
//! polarity in bits 31..28.
//!
//! Records of other types (e.g. external triggers, type `14`) are skipped and counted as
//! [`Counters::non_event`]; CD records with a polarity other than 0/1 or a size other than 8 are
//! counted as [`Counters::malformed`]. The 32-bit timestamp is unwrapped to 64 bits (a step
//! back by more than 2³¹ µs is a wrap-around).

use crate::header::CommentSkipper;
use crate::time::{Unwrapper, Wrapper};
use crate::units::{Partial, Units};
use crate::{put_decimal, Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

/// Event type byte of a generic 2D event.
pub const TYPE_2D: u8 = 0;
/// Event type byte of a CD event.
pub const TYPE_CD: u8 = 12;
/// Event type byte of an external-trigger event.
pub const TYPE_EXT_TRIGGER: u8 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Before the type/size bytes.
    TypeSize,
    /// 8-byte CD records.
    Cd,
    /// Records of `size` bytes that are skipped; `seen` bytes of the current one so far.
    /// `cd` tells whether they are CD records of the wrong size (malformed) or another type.
    Skip { size: u8, seen: u8, cd: bool },
}

/// Incremental DAT decoder.
#[derive(Clone, Debug)]
pub struct DatDecoder {
    geometry: Geometry,
    header: CommentSkipper,
    body: Body,
    time: Unwrapper<32>,
    type_size: Partial<2>,
    units: Units<8>,
}

impl DatDecoder {
    /// A decoder for a sensor of the given resolution.
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            header: CommentSkipper::new(b'%'),
            body: Body::TypeSize,
            time: Unwrapper::new(),
            type_size: Partial::new(),
            units: Units::new(),
        }
    }

    /// The event type and size bytes, once read.
    pub fn event_type_size(&self) -> Option<(u8, u8)> {
        match self.body {
            Body::TypeSize => None,
            _ => {
                let [ty, size] = self.type_size.bytes();
                Some((ty, size))
            }
        }
    }

    #[inline(always)]
    fn record(&mut self, r: [u8; 8], sink: &mut impl FnMut(Event)) {
        let [t0, t1, t2, t3, d0, d1, d2, d3] = r;
        let ts = u32::from_le_bytes([t0, t1, t2, t3]);
        let data = u32::from_le_bytes([d0, d1, d2, d3]);
        let p = data >> 28;
        if p > 1 {
            self.units.counters.malformed += 1;
            return;
        }
        let t = self.time.unwrap(u64::from(ts));
        let x = (data & 0x3FFF) as u16;
        let y = ((data >> 14) & 0x3FFF) as u16;
        self.units.counters.deliver(
            self.geometry,
            Event {
                t,
                x,
                y,
                p: p as u8,
            },
            sink,
        );
    }
}

impl Decoder for DatDecoder {
    const UNIT_BYTES: usize = 8;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        let mut bytes = self.header.skip(bytes);
        if !self.header.done() {
            return;
        }
        if self.body == Body::TypeSize {
            let (rest, ts) = self.type_size.fill(bytes);
            let Some([ty, size]) = ts else { return };
            bytes = rest;
            let cd = ty == TYPE_CD || ty == TYPE_2D;
            self.body = if cd && size == 8 {
                Body::Cd
            } else {
                Body::Skip {
                    size: size.max(1),
                    seen: 0,
                    cd,
                }
            };
        }
        match self.body {
            Body::TypeSize => {}
            Body::Cd => {
                Units::feed(self, |d| &mut d.units, bytes, |d, r| d.record(r, &mut sink));
            }
            Body::Skip { size, seen, cd } => {
                let total = bytes.len() as u64 + u64::from(seen);
                let records = total / u64::from(size);
                if cd {
                    self.units.counters.malformed += records;
                } else {
                    self.units.counters.non_event += records;
                }
                let seen = (total % u64::from(size)) as u8;
                self.body = Body::Skip { size, seen, cd };
            }
        }
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        let other = match self.body {
            Body::TypeSize => self.type_size.clear(),
            Body::Cd => 0,
            Body::Skip { size, seen, cd } => {
                self.body = Body::Skip { size, seen: 0, cd };
                usize::from(seen)
            }
        };
        self.units.finish(other)
    }
}

/// DAT encoder: a `% Data file containing CD events` / `% Version 2` / `% Width` /
/// `% Height` header, the CD type/size bytes, then one 8-byte record per event.
#[derive(Clone, Debug)]
pub struct DatEncoder {
    geometry: Geometry,
    time: Wrapper<32>,
    header_done: bool,
}

impl DatEncoder {
    /// An encoder whose header states the given resolution.
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            time: Wrapper::new(),
            header_done: false,
        }
    }
}

impl Encoder for DatEncoder {
    fn header(&mut self, out: &mut impl Sink) {
        if self.header_done {
            return;
        }
        self.header_done = true;
        out.put(b"% Data file containing CD events\n% Version 2\n% Width ");
        put_decimal(out, u32::from(self.geometry.width));
        out.put(b"\n% Height ");
        put_decimal(out, u32::from(self.geometry.height));
        out.put(b"\n");
        out.put(&[TYPE_CD, 8]);
    }

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        self.header(out);
        for e in events {
            if e.x > 0x3FFF || e.y > 0x3FFF {
                return Err(EncodeError::Coordinate);
            }
            if e.p > 1 {
                return Err(EncodeError::Polarity);
            }
            let ts = self.time.step(e.t).ok_or(EncodeError::Time)? as u32;
            let data = u32::from(e.p) << 28 | u32::from(e.y) << 14 | u32::from(e.x);
            out.put(&ts.to_le_bytes());
            out.put(&data.to_le_bytes());
        }
        Ok(())
    }
}
