//! iniVation AEDAT 3.1 polarity packets (cAER recordings, e.g. the DVS128 Gesture dataset).
//!
//! Layout: header lines starting with `#` (`#!AER-DAT3.1` … `#!END-HEADER`), then packets.
//! Each packet has a 28-byte little-endian header
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | `eventType: i16` | 1 = polarity |
//! | 2 | `eventSource: i16` | |
//! | 4 | `eventSize: i32` | bytes per event (8 for polarity) |
//! | 8 | `eventTSOffset: i32` | offset of the timestamp in an event (4) |
//! | 12 | `eventTSOverflow: i32` | bits 62..31 of every timestamp in the packet |
//! | 16 | `eventCapacity: i32` | |
//! | 20 | `eventNumber: i32` | events that follow |
//! | 24 | `eventValid: i32` | events among them with the validity bit set |
//!
//! followed by `eventNumber × eventSize` bytes. A polarity event is a `u32` data word (bit 0
//! validity, bit 1 polarity with 1 = ON, bits 16..2 y, bits 31..17 x) and an `i32`
//! timestamp in µs; the full time is `eventTSOverflow << 31 | timestamp`.
//!
//! Packets of other types are skipped whole ([`Counters::non_event`], one per packet); events
//! without the validity bit count as [`Counters::non_event`]. A packet header with impossible
//! fields (negative counts, `eventValid > eventNumber > eventCapacity`, timestamp offset
//! outside the event, a polarity packet whose events are not 8 bytes, an unknown type) is
//! taken as lost synchronisation: the decoder shifts by one byte (one
//! [`Counters::malformed`] per byte) until a plausible header appears.

use crate::header::CommentSkipper;
use crate::units::{Partial, Units};
use crate::{Counters, Decoder, EncodeError, Encoder, Event, Geometry, Sink};

/// Event type of polarity packets.
pub const POLARITY_EVENT: i16 = 1;
/// Highest event type defined by libcaer (`MATRIX4x4_EVENT`).
const MAX_EVENT_TYPE: i16 = 13;
/// Largest event size accepted in a packet header.
const MAX_EVENT_SIZE: i32 = 1 << 16;
/// Size of a packet header.
pub const PACKET_HEADER_BYTES: usize = 28;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Reading a packet header.
    Header,
    /// Inside a polarity packet: `left` events to go.
    Polarity { left: u32, overflow: u64 },
    /// Skipping `left` payload bytes of another packet type.
    Skip { left: u64 },
}

/// Parsed packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PacketHeader {
    event_type: i16,
    event_size: i32,
    ts_offset: i32,
    ts_overflow: i32,
    capacity: i32,
    number: i32,
    valid: i32,
}

impl PacketHeader {
    fn parse(b: &[u8; PACKET_HEADER_BYTES]) -> Self {
        let i32_at = |o: usize| {
            let mut w = [0u8; 4];
            if let Some(s) = b.get(o..o + 4) {
                w.copy_from_slice(s);
            }
            i32::from_le_bytes(w)
        };
        Self {
            event_type: i16::from_le_bytes([b[0], b[1]]),
            event_size: i32_at(4),
            ts_offset: i32_at(8),
            ts_overflow: i32_at(12),
            capacity: i32_at(16),
            number: i32_at(20),
            valid: i32_at(24),
        }
    }

    fn plausible(&self) -> bool {
        let base = (0..=MAX_EVENT_TYPE).contains(&self.event_type)
            && (1..=MAX_EVENT_SIZE).contains(&self.event_size)
            && self.ts_offset >= 0
            && self.ts_offset <= self.event_size - 4
            && self.ts_overflow >= 0
            && 0 <= self.valid
            && self.valid <= self.number
            && self.number <= self.capacity;
        let polarity =
            self.event_type != POLARITY_EVENT || (self.event_size == 8 && self.ts_offset == 4);
        base && polarity
    }
}

/// Incremental AEDAT 3.1 decoder (polarity events).
#[derive(Clone, Debug)]
pub struct Aedat31Decoder {
    geometry: Geometry,
    header: CommentSkipper,
    body: Body,
    packet: Partial<PACKET_HEADER_BYTES>,
    units: Units<8>,
}

impl Aedat31Decoder {
    /// A decoder for a sensor of the given resolution (128 × 128 for the DVS128 Gesture
    /// dataset).
    pub const fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            header: CommentSkipper::new(b'#'),
            body: Body::Header,
            packet: Partial::new(),
            units: Units::new(),
        }
    }

    /// Tries the 28 bytes in `self.packet` as a packet header.
    fn start_packet(&mut self) {
        let h = PacketHeader::parse(&self.packet.bytes());
        if !h.plausible() {
            // Lost synchronisation: drop one byte and look again.
            self.units.counters.malformed += 1;
            self.packet.shift_one();
            return;
        }
        let number = h.number.unsigned_abs();
        self.body = if h.event_type == POLARITY_EVENT {
            Body::Polarity {
                left: number,
                overflow: u64::from(h.ts_overflow.unsigned_abs()) << 31,
            }
        } else {
            self.units.counters.non_event += 1;
            Body::Skip {
                left: u64::from(number) * u64::from(h.event_size.unsigned_abs()),
            }
        };
        self.finish_packet_if_empty();
    }

    fn finish_packet_if_empty(&mut self) {
        match self.body {
            Body::Polarity { left: 0, .. } | Body::Skip { left: 0 } => self.body = Body::Header,
            _ => {}
        }
    }

    #[inline(always)]
    fn event(&mut self, r: [u8; 8], overflow: u64, sink: &mut impl FnMut(Event)) {
        let [d0, d1, d2, d3, t0, t1, t2, t3] = r;
        let data = u32::from_le_bytes([d0, d1, d2, d3]);
        let ts = i32::from_le_bytes([t0, t1, t2, t3]);
        if ts < 0 {
            self.units.counters.malformed += 1;
            return;
        }
        if data & 1 == 0 {
            self.units.counters.non_event += 1;
            return;
        }
        let (x, y) = ((data >> 17) as u16, ((data >> 2) & 0x7FFF) as u16);
        self.units.counters.deliver(
            self.geometry,
            Event {
                t: overflow | u64::from(ts.unsigned_abs()),
                x,
                y,
                p: ((data >> 1) & 1) as u8,
            },
            sink,
        );
    }
}

impl Decoder for Aedat31Decoder {
    const UNIT_BYTES: usize = 8;
    const MAX_EVENTS_PER_UNIT: usize = 1;

    fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Event)) {
        let mut bytes = self.header.skip(bytes);
        while !bytes.is_empty() {
            match self.body {
                Body::Header => {
                    let (rest, full) = self.packet.fill(bytes);
                    bytes = rest;
                    if full.is_some() {
                        self.start_packet();
                    }
                }
                Body::Polarity { left, overflow } => {
                    // Bytes of this packet still to come.
                    let want = (left as usize)
                        .saturating_mul(8)
                        .saturating_sub(self.units.pending());
                    let (now, rest) = bytes.split_at(want.min(bytes.len()));
                    bytes = rest;
                    let mut done = 0u32;
                    Units::feed(
                        self,
                        |d| &mut d.units,
                        now,
                        |d, r| {
                            done += 1;
                            d.event(r, overflow, &mut sink);
                        },
                    );
                    self.body = Body::Polarity {
                        left: left.saturating_sub(done),
                        overflow,
                    };
                    self.finish_packet_if_empty();
                }
                Body::Skip { left } => {
                    let n = left.min(bytes.len() as u64);
                    bytes = bytes.get(n as usize..).unwrap_or(&[]);
                    self.body = Body::Skip { left: left - n };
                    self.finish_packet_if_empty();
                }
            }
        }
    }

    fn counters(&self) -> Counters {
        self.units.counters
    }

    fn finish(&mut self) -> Counters {
        let other = match self.body {
            Body::Header => self.packet.clear(),
            Body::Polarity { .. } | Body::Skip { .. } => 0,
        };
        self.units.finish(other)
    }
}

/// AEDAT 3.1 encoder: a minimal `#!AER-DAT3.1` … `#!END-HEADER` header, then one polarity
/// packet per run of events sharing `t >> 31` (at most [`Aedat31Encoder::MAX_PACKET`] events
/// each) per [`Encoder::encode`] call.
#[derive(Clone, Debug, Default)]
pub struct Aedat31Encoder {
    header_done: bool,
}

impl Aedat31Encoder {
    /// Most events written into one packet.
    pub const MAX_PACKET: usize = 4096;

    /// A new encoder.
    pub const fn new() -> Self {
        Self { header_done: false }
    }

    /// Writes a packet of another event type with `count` zeroed events of `size` bytes
    /// (e.g. special or IMU packets, which decoders must skip).
    pub fn other_packet(&mut self, event_type: i16, size: i32, count: i32, out: &mut impl Sink) {
        self.header(out);
        put_header(out, event_type, size, size.min(4), 0, count);
        for _ in 0..count.max(0) {
            for _ in 0..size.max(0) {
                out.put(&[0]);
            }
        }
    }
}

fn put_header(out: &mut impl Sink, ty: i16, size: i32, ts_offset: i32, overflow: i32, n: i32) {
    out.put(&ty.to_le_bytes());
    out.put(&1i16.to_le_bytes());
    for v in [size, ts_offset, overflow, n, n, n] {
        out.put(&v.to_le_bytes());
    }
}

impl Encoder for Aedat31Encoder {
    fn header(&mut self, out: &mut impl Sink) {
        if !self.header_done {
            self.header_done = true;
            out.put(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n");
        }
    }

    fn encode(&mut self, events: &[Event], out: &mut impl Sink) -> Result<(), EncodeError> {
        self.header(out);
        let mut rest = events;
        while let Some(first) = rest.first() {
            let overflow = first.t >> 31;
            let n = rest
                .iter()
                .take(Self::MAX_PACKET)
                .take_while(|e| e.t >> 31 == overflow)
                .count();
            let (packet, tail) = rest.split_at(n);
            let (Ok(overflow), Ok(count)) = (i32::try_from(overflow), i32::try_from(n)) else {
                return Err(EncodeError::Time);
            };
            // Check the whole packet before writing its header.
            for e in packet {
                if e.x > 0x7FFF || e.y > 0x7FFF {
                    return Err(EncodeError::Coordinate);
                }
                if e.p > 1 {
                    return Err(EncodeError::Polarity);
                }
            }
            put_header(out, POLARITY_EVENT, 8, 4, overflow, count);
            for e in packet {
                let data = u32::from(e.x) << 17 | u32::from(e.y) << 2 | u32::from(e.p) << 1 | 1;
                out.put(&data.to_le_bytes());
                out.put(&((e.t & 0x7FFF_FFFF) as u32).to_le_bytes());
            }
            rest = tail;
        }
        Ok(())
    }
}
