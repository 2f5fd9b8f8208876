//! Prophesee EVT 2.0: 32-bit little-endian words, the type in the top 4 bits.
//!
//! | type | word | payload |
//! |---|---|---|
//! | `0x0` / `0x1` | `CD_OFF` / `CD_ON` | `[27:22]` time low 6 bits, `[21:11]` x, `[10:0]` y |
//! | `0x8` | `EVT_TIME_HIGH` | `[27:0]` time bits 33..6 |
//! | `0xA` | `EXT_TRIGGER` | counted as [`Counters::non_event`] |
//! | `0xE` / `0xF` | `OTHERS` / `CONTINUED` | counted as [`Counters::non_event`] |
//!
//! Other types are reserved and counted as [`Counters::malformed`]. The 34-bit timestamp is
//! unwrapped to 64 bits (see the time-high rule in the crate's `time` module: a step back by
//! more than half the range is a wrap-around).

use crate::time::{Unwrapper, Wrapper};
use crate::units::Units;
use crate::{Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

const CD_OFF: u32 = 0x0;
const CD_ON: u32 = 0x1;
const TIME_HIGH: u32 = 0x8;
const EXT_TRIGGER: u32 = 0xA;
const OTHERS: u32 = 0xE;
const CONTINUED: u32 = 0xF;

/// Incremental EVT 2.0 decoder.
#[derive(Clone, Debug)]
pub struct Evt2Decoder {
    geometry: Geometry,
    /// Unwrapped time-high, already shifted left by 6.
    time_base: u64,
    high: Unwrapper<28>,
    units: Units<4>,
}

impl Evt2Decoder {
    /// A decoder for a sensor of the given resolution.
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            time_base: 0,
            high: Unwrapper::new(),
            units: Units::new(),
        }
    }

    #[inline(always)]
    fn word(&mut self, w: u32, sink: &mut impl FnMut(Event)) {
        match w >> 28 {
            ty @ (CD_OFF | CD_ON) => {
                let x = ((w >> 11) & 0x7FF) as u16;
                let y = (w & 0x7FF) as u16;
                self.units.counters.deliver(
                    self.geometry,
                    Event {
                        t: self.time_base | u64::from((w >> 22) & 0x3F),
                        x,
                        y,
                        p: ty as u8,
                    },
                    sink,
                );
            }
            TIME_HIGH => {
                self.time_base = self.high.unwrap(u64::from(w & 0x0FFF_FFFF)).wrapping_shl(6);
                self.units.counters.non_event += 1;
            }
            EXT_TRIGGER | OTHERS | CONTINUED => self.units.counters.non_event += 1,
            _ => self.units.counters.malformed += 1,
        }
    }
}

impl Decoder for Evt2Decoder {
    const UNIT_BYTES: usize = 4;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        Units::feed(
            self,
            |d| &mut d.units,
            bytes,
            |d, w| d.word(u32::from_le_bytes(w), &mut sink),
        );
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        self.units.finish(0)
    }
}

/// EVT 2.0 encoder: one `EVT_TIME_HIGH` word whenever bits 33..6 of the time change, then one
/// CD word per event.
#[derive(Clone, Debug, Default)]
pub struct Evt2Encoder {
    high: Wrapper<28>,
    started: bool,
}

impl Evt2Encoder {
    /// A new encoder.
    pub const fn new() -> Self {
        Self {
            high: Wrapper::new(),
            started: false,
        }
    }
}

fn put_word(out: &mut impl Sink, w: u32) {
    out.put(&w.to_le_bytes());
}

impl Encoder for Evt2Encoder {
    fn header(&mut self, _out: &mut impl Sink) {}

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        for e in events {
            if e.x > 0x7FF || e.y > 0x7FF {
                return Err(EncodeError::Coordinate);
            }
            if e.p > 1 {
                return Err(EncodeError::Polarity);
            }
            let high = e.t >> 6;
            if !self.started || high != self.high.current() {
                let raw = self
                    .high
                    .advance(high, |raw| put_word(out, TIME_HIGH << 28 | raw as u32))
                    .ok_or(EncodeError::Time)?;
                put_word(out, TIME_HIGH << 28 | raw as u32);
                self.started = true;
            }
            let w = u32::from(e.p) << 28
                | ((e.t & 0x3F) as u32) << 22
                | u32::from(e.x) << 11
                | u32::from(e.y);
            put_word(out, w);
        }
        Ok(())
    }
}
