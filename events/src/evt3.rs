//! Prophesee EVT 3.0: 16-bit little-endian words, the type in the top 4 bits. Coordinates,
//! polarity and time are sent only when they change; the decoder keeps them as state.
//!
//! | type | word | payload |
//! |---|---|---|
//! | `0x0` | `EVT_ADDR_Y` | `[11]` system type (ignored), `[10:0]` y |
//! | `0x2` | `EVT_ADDR_X` | `[11]` polarity, `[10:0]` x: one event |
//! | `0x3` | `VECT_BASE_X` | `[11]` polarity, `[10:0]` base x for the vectors that follow |
//! | `0x4` | `VECT_12` | `[11:0]` validity mask of pixels `base..base+12`; base += 12 |
//! | `0x5` | `VECT_8` | `[7:0]` validity mask of pixels `base..base+8`; base += 8 |
//! | `0x6` | `EVT_TIME_LOW` | `[11:0]` time bits 11..0 |
//! | `0x7` | `CONTINUED_4` | counted as [`Counters::non_event`] |
//! | `0x8` | `EVT_TIME_HIGH` | `[11:0]` time bits 23..12 |
//! | `0xA` | `EXT_TRIGGER` | counted as [`Counters::non_event`] |
//! | `0xE` / `0xF` | `OTHERS` / `CONTINUED_12` | counted as [`Counters::non_event`] |
//!
//! Reserved types, events before the first `EVT_ADDR_Y`, and vectors before the first
//! `VECT_BASE_X` are counted as [`Counters::malformed`]. The 24-bit time wraps every
//! 16.8 s: a time-high step back by more than half its range is taken as a wrap-around and
//! the time is unwrapped to 64 bits.
//!
//! ## Time policy
//!
//! [`TimePolicy::Spec`] (the default) follows the format documentation: `EVT_TIME_HIGH` is
//! authoritative, `EVT_TIME_LOW` replaces the low 12 bits. [`TimePolicy::LowCarry`]
//! reproduces the convention of the `expelliarmus` decoder, whose output is the reference for
//! the shared Gen4.1 sample: a `EVT_TIME_LOW` smaller than the previous one carries
//! 4096 µs into the high part, and a changed `EVT_TIME_HIGH` adds its difference to it. On
//! that recording the two differ: it contains `EVT_TIME_LOW` values that step back by a few
//! µs, which `LowCarry` reads as 4096 µs jumps (and it counts the real wraps twice), so
//! coordinates and polarities agree but times differ by multiples of 4096 µs.

use crate::time::{Unwrapper, Wrapper};
use crate::units::Units;
use crate::{Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

const ADDR_Y: u16 = 0x0;
const ADDR_X: u16 = 0x2;
const VECT_BASE_X: u16 = 0x3;
const VECT_12: u16 = 0x4;
const VECT_8: u16 = 0x5;
const TIME_LOW: u16 = 0x6;
const CONTINUED_4: u16 = 0x7;
const TIME_HIGH: u16 = 0x8;
const EXT_TRIGGER: u16 = 0xA;
const OTHERS: u16 = 0xE;
const CONTINUED_12: u16 = 0xF;

/// How `EVT_TIME_HIGH` / `EVT_TIME_LOW` words make the time (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimePolicy {
    /// `EVT_TIME_HIGH` sets bits 23..12 (unwrapped), `EVT_TIME_LOW` bits 11..0.
    #[default]
    Spec,
    /// A decreasing `EVT_TIME_LOW` carries into the high part; a changed `EVT_TIME_HIGH`
    /// adds its (modulo 4096) difference. Matches the `expelliarmus` reference decoding.
    LowCarry,
}

/// Incremental EVT 3.0 decoder.
#[derive(Clone, Debug)]
pub struct Evt3Decoder {
    geometry: Geometry,
    policy: TimePolicy,
    /// Last `EVT_TIME_HIGH` / `EVT_TIME_LOW` payloads, for [`TimePolicy::LowCarry`].
    last_high: Option<u16>,
    last_low: Option<u16>,
    /// Unwrapped time high, shifted left by 12.
    time_base: u64,
    /// Current time: `time_base | low`.
    t: u64,
    high: Unwrapper<12>,
    y: u16,
    has_y: bool,
    base_x: u32,
    base_p: u8,
    has_base: bool,
    units: Units<2>,
}

impl Evt3Decoder {
    /// A decoder for a sensor of the given resolution.
    pub const fn new(geometry: Geometry) -> Self {
        Self::with_policy(geometry, TimePolicy::Spec)
    }

    /// A decoder with the given [`TimePolicy`].
    pub const fn with_policy(geometry: Geometry, policy: TimePolicy) -> Self {
        Self {
            geometry,
            policy,
            last_high: None,
            last_low: None,
            time_base: 0,
            t: 0,
            high: Unwrapper::new(),
            y: 0,
            has_y: false,
            base_x: 0,
            base_p: 0,
            has_base: false,
            units: Units::new(),
        }
    }

    /// Emits the events of a validity mask of `width` bits starting at the vector base.
    #[inline(always)]
    fn vector(&mut self, mask: u32, width: u32, sink: &mut impl FnMut(Event)) {
        if !(self.has_base && self.has_y) {
            self.units.counters.malformed += 1;
            return;
        }
        let base = self.base_x;
        self.base_x = base.saturating_add(width);
        let mut m = mask;
        let (t, y, p) = (self.t, self.y, self.base_p);
        if y < self.geometry.height && base + width <= u32::from(self.geometry.width) {
            self.units.counters.events += u64::from(m.count_ones());
            while m != 0 {
                let x = (base + m.trailing_zeros()) as u16;
                m &= m - 1;
                sink(Event { t, x, y, p });
            }
        } else {
            while m != 0 {
                let x = base + m.trailing_zeros();
                m &= m - 1;
                // Past u16::MAX is off every sensor.
                let x = u16::try_from(x).unwrap_or(u16::MAX);
                self.units
                    .counters
                    .deliver(self.geometry, Event { t, x, y, p }, sink);
            }
        }
    }

    #[inline(always)]
    fn word(&mut self, w: u16, sink: &mut impl FnMut(Event)) {
        let payload = w & 0x0FFF;
        match w >> 12 {
            ADDR_Y => {
                self.y = payload & 0x7FF;
                self.has_y = true;
                self.units.counters.non_event += 1;
            }
            ADDR_X => {
                if !self.has_y {
                    self.units.counters.malformed += 1;
                    return;
                }
                let e = Event {
                    t: self.t,
                    x: payload & 0x7FF,
                    y: self.y,
                    p: (payload >> 11) as u8,
                };
                self.units.counters.deliver(self.geometry, e, sink);
            }
            VECT_BASE_X => {
                self.base_x = u32::from(payload & 0x7FF);
                self.base_p = (payload >> 11) as u8;
                self.has_base = true;
                self.units.counters.non_event += 1;
            }
            VECT_12 => self.vector(u32::from(payload), 12, sink),
            VECT_8 => self.vector(u32::from(payload & 0xFF), 8, sink),
            TIME_LOW => {
                if self.policy == TimePolicy::LowCarry {
                    if self.last_low.is_some_and(|last| payload < last) {
                        self.time_base = self.time_base.wrapping_add(1 << 12);
                    }
                    self.last_low = Some(payload);
                }
                self.t = self.time_base | u64::from(payload);
                self.units.counters.non_event += 1;
            }
            TIME_HIGH => {
                self.time_base = match self.policy {
                    TimePolicy::Spec => self.high.unwrap(u64::from(payload)).wrapping_shl(12),
                    TimePolicy::LowCarry => match self.last_high {
                        None => u64::from(payload) << 12,
                        Some(last) => {
                            let step = payload.wrapping_sub(last) & 0xFFF;
                            self.time_base.wrapping_add(u64::from(step) << 12)
                        }
                    },
                };
                self.last_high = Some(payload);
                self.t = self.time_base | (self.t & 0xFFF);
                self.units.counters.non_event += 1;
            }
            CONTINUED_4 | EXT_TRIGGER | OTHERS | CONTINUED_12 => self.units.counters.non_event += 1,
            _ => self.units.counters.malformed += 1,
        }
    }
}

impl Decoder for Evt3Decoder {
    const UNIT_BYTES: usize = 2;
    const MAX_EVENTS_PER_UNIT: usize = 12;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        Units::feed(
            self,
            |d| &mut d.units,
            bytes,
            |d, w| d.word(u16::from_le_bytes(w), &mut sink),
        );
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        self.units.finish(0)
    }
}

/// EVT 3.0 encoder. Sends time, row and polarity only when they change, and packs runs of
/// events with equal `(t, y, p)` and increasing `x` into `VECT_BASE_X` + `VECT_12` / `VECT_8`
/// words (within one [`Encoder::encode`] call).
#[derive(Clone, Debug, Default)]
pub struct Evt3Encoder {
    high: Wrapper<12>,
    low: u16,
    y: u16,
    has_time: bool,
    has_y: bool,
}

/// Longest span of `x` (in pixels) packed into one vector group.
const MAX_SPAN: u16 = 48;

impl Evt3Encoder {
    /// A new encoder.
    pub const fn new() -> Self {
        Self {
            high: Wrapper::new(),
            low: 0,
            y: 0,
            has_time: false,
            has_y: false,
        }
    }

    fn time(&mut self, t: u64, out: &mut impl Sink) -> Result<(), EncodeError> {
        let high = t >> 12;
        let low = (t & 0xFFF) as u16;
        if !self.has_time || high != self.high.current() {
            let raw = self
                .high
                .advance(high, |raw| put(out, TIME_HIGH, raw as u16))
                .ok_or(EncodeError::Time)?;
            put(out, TIME_HIGH, raw as u16);
            put(out, TIME_LOW, low);
        } else if low != self.low {
            put(out, TIME_LOW, low);
        }
        self.has_time = true;
        self.low = low;
        Ok(())
    }
}

fn put(out: &mut impl Sink, ty: u16, payload: u16) {
    out.put(&(ty << 12 | (payload & 0x0FFF)).to_le_bytes());
}

impl Encoder for Evt3Encoder {
    fn header(&mut self, _out: &mut impl Sink) {}

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        let mut i = 0;
        while let Some(first) = events.get(i) {
            if first.x > 0x7FF || first.y > 0x7FF {
                return Err(EncodeError::Coordinate);
            }
            if first.p > 1 {
                return Err(EncodeError::Polarity);
            }
            self.time(first.t, out)?;
            if !self.has_y || first.y != self.y {
                put(out, ADDR_Y, first.y);
                self.y = first.y;
                self.has_y = true;
            }
            // Length of the run vectorisable from `first`.
            let mut n = 1;
            let mut last_x = first.x;
            while let Some(e) = events.get(i + n) {
                let same = e.t == first.t && e.y == first.y && e.p == first.p;
                if !same || e.x <= last_x || e.x - first.x >= MAX_SPAN {
                    break;
                }
                last_x = e.x;
                n += 1;
            }
            if n == 1 {
                put(out, ADDR_X, u16::from(first.p) << 11 | first.x);
                i += 1;
                continue;
            }
            put(out, VECT_BASE_X, u16::from(first.p) << 11 | first.x);
            let run = events.get(i..i + n).unwrap_or(&[]);
            let mut base = first.x;
            let mut k = 0;
            while k < run.len() {
                let mut mask = 0u16;
                while let Some(e) = run.get(k) {
                    if e.x >= base + 12 {
                        break;
                    }
                    mask |= 1 << (e.x - base);
                    k += 1;
                }
                if k == run.len() && mask < 0x100 {
                    put(out, VECT_8, mask);
                } else {
                    put(out, VECT_12, mask);
                }
                base += 12;
            }
            i += n;
        }
        Ok(())
    }
}
