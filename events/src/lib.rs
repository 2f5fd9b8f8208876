//! Event-camera stream decoders, encoders, a framer and a streaming classifier (`no_std`, no
//! allocation), on top of the `sdt-core` runtime.
//!
//! Every decoder is a small state machine that accepts byte chunks of any size (a DMA buffer,
//! a file read, one byte at a time) and reports decoded [`Event`]s through a callback
//! ([`Decoder::feed`]) or into a caller-provided slice ([`Decoder::feed_into`]). Partial words
//! and records are kept in a small fixed buffer inside the decoder, so *every* split of a
//! stream yields exactly the events of decoding the whole buffer at once. Nothing allocates and
//! nothing panics on data: malformed input is skipped and counted in [`Counters`].
//!
//! | module | format | unit |
//! |---|---|---|
//! | [`evt2`] | Prophesee EVT 2.0 | 32-bit little-endian words |
//! | [`evt3`] | Prophesee EVT 3.0 (vectorised) | 16-bit little-endian words |
//! | [`dat`] | Prophesee DAT (`%` header, type/size bytes) | 8-byte records |
//! | [`aedat2`] | iniVation AEDAT 2.0, DVS128 addresses (`#` header) | 8-byte big-endian records |
//! | [`aedat31`] | iniVation AEDAT 3.1 polarity packets | 28-byte packet headers, 8-byte events |
//! | [`nmnist`] | N-MNIST / ATIS binary | 5-byte records |
//!
//! [`header`] parses Prophesee RAW/DAT text headers (format, resolution); [`framer`] turns
//! events into `[T][2][H][W]` count frames; [`stream`] classifies a stream window by window.
//!
//! Each format module also has an encoder writing through a `FnMut(&[u8])` sink (no
//! allocation), used to build fixtures and for round-trip tests.

#![no_std]

pub mod aedat2;
pub mod aedat31;
pub mod dat;
pub mod evt2;
pub mod evt3;
pub mod framer;
pub mod header;
pub mod nmnist;
pub mod stream;
mod time;
mod units;

pub use framer::{for_each_bin, Framer, FramerConfig, FramerError, Push, TrailingBin, Window};
pub use header::{EventFormat, HeaderError, HeaderGeometry, HeaderInfo};

/// One change-detection event.
///
/// `t` is in microseconds (unwrapped to 64 bits by the decoders), `(x, y)` are sensor pixel
/// coordinates with `(0, 0)` the first pixel of the stream's own convention, `p` is the
/// polarity: `1` = ON (brightness increase), `0` = OFF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Event {
    /// Timestamp in microseconds.
    pub t: u64,
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
    /// Polarity: 0 = OFF, 1 = ON.
    pub p: u8,
}

/// Sensor resolution; events outside it are dropped and counted as
/// [`Counters::out_of_range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Number of columns (valid `x` are `0..width`).
    pub width: u16,
    /// Number of rows (valid `y` are `0..height`).
    pub height: u16,
}

impl Geometry {
    /// A `width × height` sensor.
    pub const fn new(width: u16, height: u16) -> Self {
        Self { width, height }
    }

    /// Whether `(x, y)` lies on the sensor.
    #[inline(always)]
    pub const fn contains(&self, x: u16, y: u16) -> bool {
        x < self.width && y < self.height
    }
}

/// What a decoder has seen so far.
///
/// Units are those of the format: a *word* for EVT 2.0/3.0, a *record* for the fixed-size
/// formats, a *packet* for skipped AEDAT 3.1 packets, a *byte* when the decoder shifts by one
/// byte to resynchronise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Events delivered to the caller.
    pub events: u64,
    /// Unknown or inconsistent units skipped (reserved word types, vectors without a base,
    /// records with impossible fields, implausible packet headers: one per resync byte).
    pub malformed: u64,
    /// Well-formed units that carry no change-detection event (time bases, row addresses,
    /// vector bases, triggers, `OTHERS`/`CONTINUED` words, events flagged invalid, packets
    /// of other event types). Normal stream content, not errors.
    pub non_event: u64,
    /// Decoded events dropped because `(x, y)` lies outside the configured [`Geometry`].
    pub out_of_range: u64,
    /// Bytes of an incomplete trailing unit discarded by [`Decoder::finish`].
    pub truncated_bytes: u64,
}

/// How far [`Decoder::feed_into`] got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed; feed the rest again later.
    pub consumed: usize,
    /// Events written to the front of the output slice.
    pub written: usize,
}

/// An incremental, allocation-free decoder of one event-stream format.
pub trait Decoder {
    /// Size in bytes of the format's smallest unit that can produce events.
    const UNIT_BYTES: usize;
    /// The most events one unit of [`Self::UNIT_BYTES`] bytes can produce.
    const MAX_EVENTS_PER_UNIT: usize;

    /// Decodes `bytes`, calling `sink` once per event, in stream order. Bytes of an incomplete
    /// trailing unit are kept for the next call.
    fn feed(&mut self, bytes: &[u8], sink: impl FnMut(Event));

    /// Counters so far.
    fn counters(&self) -> Counters;

    /// Ends the stream: bytes of an incomplete unit still buffered are counted as
    /// [`Counters::truncated_bytes`] and dropped. Returns the final counters. The decoder
    /// state (time base, coordinates) is kept, so decoding may continue.
    fn finish(&mut self) -> Counters;

    /// Decodes as much of `bytes` as is guaranteed to fit in `out`, writing events to the
    /// front of `out`. Call again with the unconsumed rest. Makes no progress when `out` is
    /// shorter than [`Self::MAX_EVENTS_PER_UNIT`].
    fn feed_into(&mut self, bytes: &[u8], out: &mut [Event]) -> Progress {
        let mut progress = Progress::default();
        loop {
            let room = out.len().saturating_sub(progress.written);
            let units = room / Self::MAX_EVENTS_PER_UNIT;
            let rest = bytes.get(progress.consumed..).unwrap_or(&[]);
            if units == 0 || rest.is_empty() {
                return progress;
            }
            // With fewer than UNIT_BYTES bytes buffered, `units * UNIT_BYTES` new bytes
            // complete at most `units` units, so at most `room` events come out.
            let take = rest.len().min(units.saturating_mul(Self::UNIT_BYTES));
            let slots = out.get_mut(progress.written..).unwrap_or(&mut []);
            let mut written = 0;
            self.feed(rest.get(..take).unwrap_or(&[]), |e| {
                if let Some(slot) = slots.get_mut(written) {
                    *slot = e;
                    written += 1;
                }
            });
            progress.consumed += take;
            progress.written += written;
        }
    }
}

/// Why an encoder refused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// `x` or `y` does not fit the format's address fields.
    Coordinate,
    /// The polarity is not 0 or 1.
    Polarity,
    /// The timestamp cannot be represented after the previous one (it went backwards, or
    /// jumped further than the format can express without intermediate words).
    Time,
}

/// A byte sink for encoders; any `FnMut(&[u8])` works.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> Sink for F {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// An encoder of one event-stream format.
pub trait Encoder {
    /// Writes the file header, if the format has one and it was not written yet.
    fn header(&mut self, out: &mut impl Sink);

    /// Encodes `events` (timestamps non-decreasing), writing the header first if needed.
    /// On error nothing is written for the offending event and the ones after it; the events
    /// before it are written.
    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError>;
}

/// Writes `v` in decimal.
fn put_decimal(out: &mut impl Sink, v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.put(digits.get(i..).unwrap_or(&[]));
}
