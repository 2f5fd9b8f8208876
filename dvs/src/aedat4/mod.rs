//! iniVation AEDAT 4.0 files: a reader and a writer.
//!
//! Layout (all little-endian):
//!
//! ```text
//! "#!AER-DAT4.0\r\n"
//! u32 size, IOHeader flatbuffer (identifier "IOHE"): compression, dataTablePosition, infoNode
//! packets: i32 streamID, i32 size, `size` bytes = (compressed) size-prefixed flatbuffer
//! data table (at dataTablePosition, if ≥ 0): compressed FileDataTable, to the end of the file
//! ```
//!
//! `infoNode` is an XML tree listing the streams (`outInfo/<id>`) with their
//! `typeIdentifier` (`EVTS` for polarity events, `FRME`, `IMUS`, `TRIG`, …) and, for event
//! streams, the resolution (`info/sizeX`, `info/sizeY`). An `EVTS` packet is an
//! `EventPacket` table whose only field is a vector of 16-byte structs
//! `{i64 timestamp µs, i16 x, i16 y, bool polarity, 3 bytes padding}`.
//!
//! Packets are read one at a time from any [`Read`]. A packet that cannot be decompressed or
//! parsed, or names an unknown stream, is skipped and counted ([`Counters::malformed`]);
//! packets of other streams count as [`Counters::non_event`]; a file cut inside a packet ends the
//! stream with the bytes counted as [`Counters::truncated_bytes`]. Only a damaged file header
//! (before any packet) is an error.

mod flat;
mod lz4;
pub mod write;

use std::io::{self, Read};

use sdt_events::{Counters, Event, Geometry};

pub use flat::FlatError;
pub use write::Aedat4Writer;

/// The first 14 bytes of every AEDAT 4.0 file.
pub const MAGIC: &[u8; 14] = b"#!AER-DAT4.0\r\n";

/// Largest IOHeader accepted (real ones are a few KiB).
pub const MAX_HEADER_BYTES: u32 = 16 << 20;

/// Largest decompressed packet accepted (a real event packet is well under 1 MiB); larger
/// ones are skipped as malformed, so a hostile packet cannot exhaust memory.
pub const MAX_PACKET_BYTES: u64 = 256 << 20;

/// Bytes of one element of an `EventPacket`.
pub const EVENT_BYTES: usize = 16;

/// Type identifier of polarity-event streams and packets.
pub const EVENTS_TYPE: &str = "EVTS";

/// Packet compression, as the `IOHeader` states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Packets are stored as they are.
    None,
    /// LZ4 frames.
    Lz4,
    /// LZ4 frames (high-compression encoder; same decoder).
    Lz4High,
    /// Zstandard frames.
    Zstd,
    /// Zstandard frames (high level; same decoder).
    ZstdHigh,
}

impl Compression {
    /// The schema's enum value.
    pub fn code(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
            Compression::Lz4High => 2,
            Compression::Zstd => 3,
            Compression::ZstdHigh => 4,
        }
    }

    /// From the schema's enum value.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => Compression::None,
            1 => Compression::Lz4,
            2 => Compression::Lz4High,
            3 => Compression::Zstd,
            4 => Compression::ZstdHigh,
            _ => return None,
        })
    }

    /// The name used in the XML info tree.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "NONE",
            Compression::Lz4 => "LZ4",
            Compression::Lz4High => "LZ4_HIGH",
            Compression::Zstd => "ZSTD",
            Compression::ZstdHigh => "ZSTD_HIGH",
        }
    }
}

/// One stream listed in the file's info tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// The `streamID` its packets carry.
    pub id: i32,
    /// `typeIdentifier`: `EVTS`, `FRME`, `IMUS`, `TRIG`, …
    pub type_identifier: String,
    /// `originalOutputName` (e.g. `events`), if given.
    pub name: String,
    /// `info/sizeX × info/sizeY`, if given.
    pub geometry: Option<Geometry>,
}

/// The file header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aedat4Header {
    /// How packets are compressed.
    pub compression: Compression,
    /// Offset of the data table, if the file has one.
    pub data_table_position: Option<u64>,
    /// Streams, in the order of the info tree.
    pub streams: Vec<StreamInfo>,
    /// The raw XML info tree.
    pub info_xml: String,
    /// Offset of the first packet.
    pub data_offset: u64,
}

impl Aedat4Header {
    /// The first polarity-event stream.
    pub fn event_stream(&self) -> Option<&StreamInfo> {
        self.streams
            .iter()
            .find(|s| s.type_identifier == EVENTS_TYPE)
    }
}

/// Why an AEDAT 4.0 file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Aedat4Error {
    /// Reading failed (other than ending early).
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with [`MAGIC`].
    #[error("not an AEDAT 4.0 file (no \"#!AER-DAT4.0\" line)")]
    NotAedat4,
    /// The file ends inside its header.
    #[error("file ends inside the {0}")]
    Truncated(&'static str),
    /// The header's size field is implausible.
    #[error("IOHeader of {0} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")]
    HeaderTooLarge(u32),
    /// The IOHeader flatbuffer is malformed.
    #[error("malformed IOHeader: {0}")]
    Header(#[from] FlatError),
    /// The info tree is not well-formed XML.
    #[error("malformed info XML: {0}")]
    Xml(String),
    /// The IOHeader names a compression this reader does not know.
    #[error("unknown compression type {0}")]
    Compression(i32),
    /// An event cannot be written in the format (coordinates beyond `i16`, time beyond `i64`,
    /// polarity not 0/1).
    #[error("event {0:?} cannot be stored in AEDAT 4.0")]
    Unencodable(Event),
}

/// What [`Aedat4Reader::next_packet`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// Events of an `EVTS` stream (already appended to the caller's vector).
    Events {
        /// The stream.
        stream: i32,
        /// Events appended.
        count: usize,
    },
    /// A well-formed packet of another stream (frames, IMU, triggers), skipped.
    Other {
        /// The stream.
        stream: i32,
    },
    /// A packet that could not be decoded, skipped.
    Malformed {
        /// The stream ID its header claimed.
        stream: i32,
        /// Why.
        reason: PacketError,
    },
}

/// Why a packet was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The stream ID is not in the info tree.
    #[error("unknown stream {0}")]
    UnknownStream(i32),
    /// Decompression failed.
    #[error("cannot decompress: {0}")]
    Decompress(String),
    /// The decompressed packet exceeds [`MAX_PACKET_BYTES`].
    #[error("decompressed packet exceeds {MAX_PACKET_BYTES} bytes")]
    TooLarge,
    /// The flatbuffer is malformed.
    #[error("malformed packet: {0}")]
    Flat(#[from] FlatError),
}

/// Reads an AEDAT 4.0 file packet by packet.
pub struct Aedat4Reader<R> {
    input: R,
    header: Aedat4Header,
    pos: u64,
    counters: Counters,
    packets: u64,
    done: bool,
    raw: Vec<u8>,
    unpacked: Vec<u8>,
}

impl<R: Read> Aedat4Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> Result<Self, Aedat4Error> {
        let mut magic = [0u8; MAGIC.len()];
        read_header_bytes(&mut input, &mut magic, "magic line")?;
        if &magic != MAGIC {
            return Err(Aedat4Error::NotAedat4);
        }
        let mut size = [0u8; 4];
        read_header_bytes(&mut input, &mut size, "IOHeader size")?;
        let size = u32::from_le_bytes(size);
        if size > MAX_HEADER_BYTES {
            return Err(Aedat4Error::HeaderTooLarge(size));
        }
        let mut buf = Vec::new();
        (&mut input).take(u64::from(size)).read_to_end(&mut buf)?;
        if buf.len() != size as usize {
            return Err(Aedat4Error::Truncated("IOHeader"));
        }
        let table = flat::Table::root(&buf, b"IOHE")?;
        let code = table.i32_or(0, 0)?;
        let compression = Compression::from_code(code).ok_or(Aedat4Error::Compression(code))?;
        let data_table_position = u64::try_from(table.i64_or(1, -1)?).ok();
        let info_xml = table.string(2)?.to_owned();
        let streams = parse_streams(&info_xml)?;
        let data_offset = (MAGIC.len() + 4) as u64 + u64::from(size);
        Ok(Self {
            input,
            header: Aedat4Header {
                compression,
                data_table_position,
                streams,
                info_xml,
                data_offset,
            },
            pos: data_offset,
            counters: Counters::default(),
            packets: 0,
            done: false,
            raw: Vec::new(),
            unpacked: Vec::new(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &Aedat4Header {
        &self.header
    }

    /// Resolution of the first event stream, if the file states it.
    pub fn geometry(&self) -> Option<Geometry> {
        self.header.event_stream().and_then(|s| s.geometry)
    }

    /// Counters so far: events delivered, packets of other streams (`other`), skipped
    /// packets and invalid event records (`malformed`), events outside the stream's
    /// resolution (`out_of_range`), bytes of a cut-off last packet (`truncated_bytes`).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Packets read so far (of every kind).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Reads the next packet; events of `EVTS` streams are appended to `out`. `None` at the
    /// end of the packets (the data table, or the end of the input).
    pub fn next_packet(&mut self, out: &mut Vec<Event>) -> Result<Option<Packet>, Aedat4Error> {
        if self.done
            || self
                .header
                .data_table_position
                .is_some_and(|p| self.pos >= p)
        {
            self.done = true;
            return Ok(None);
        }
        let mut head = [0u8; 8];
        let got = read_full(&mut self.input, &mut head)?;
        if got < head.len() {
            self.counters.truncated_bytes += got as u64;
            self.pos += got as u64;
            self.done = true;
            return Ok(None);
        }
        self.pos += 8;
        let [s0, s1, s2, s3, z0, z1, z2, z3] = head;
        let stream = i32::from_le_bytes([s0, s1, s2, s3]);
        let size = i32::from_le_bytes([z0, z1, z2, z3]);
        let Ok(size) = u64::try_from(size) else {
            // A negative size leaves no way to find the next packet.
            self.counters.malformed += 1;
            self.drain()?;
            return Ok(None);
        };
        self.raw.clear();
        // `take` + `read_to_end` grows the buffer with the data actually there, so a hostile
        // size cannot make us allocate up front.
        (&mut self.input).take(size).read_to_end(&mut self.raw)?;
        self.pos += self.raw.len() as u64;
        if (self.raw.len() as u64) < size {
            self.counters.truncated_bytes += 8 + self.raw.len() as u64;
            self.done = true;
            return Ok(None);
        }
        self.packets += 1;
        let packet = match self.decode(stream, out) {
            Ok(p) => p,
            Err(reason) => {
                self.counters.malformed += 1;
                Packet::Malformed { stream, reason }
            }
        };
        Ok(Some(packet))
    }

    /// Reads every remaining event.
    pub fn read_all(&mut self) -> Result<Vec<Event>, Aedat4Error> {
        let mut events = Vec::new();
        while self.next_packet(&mut events)?.is_some() {}
        Ok(events)
    }

    /// Counts and discards the rest of the input.
    fn drain(&mut self) -> Result<(), Aedat4Error> {
        let n = io::copy(&mut self.input, &mut io::sink())?;
        self.counters.truncated_bytes += n;
        self.pos += n;
        self.done = true;
        Ok(())
    }

    fn decode(&mut self, stream: i32, out: &mut Vec<Event>) -> Result<Packet, PacketError> {
        let info = self
            .header
            .streams
            .iter()
            .find(|s| s.id == stream)
            .ok_or(PacketError::UnknownStream(stream))?;
        let payload = decompress(self.header.compression, &self.raw, &mut self.unpacked)?;
        let buf = flat::size_prefixed(payload)?;
        if info.type_identifier != EVENTS_TYPE {
            // Check the identifier so a damaged packet is not counted as a good one.
            let id = info.type_identifier.as_bytes();
            if let Ok(id) = <&[u8; 4]>::try_from(id) {
                flat::Table::root(buf, id)?;
            }
            self.counters.non_event += 1;
            return Ok(Packet::Other { stream });
        }
        let table = flat::Table::root(buf, b"EVTS")?;
        let elements = table.vector(0, EVENT_BYTES)?;
        let geometry = info.geometry;
        let before = out.len();
        out.reserve(elements.len() / EVENT_BYTES);
        for e in elements.chunks_exact(EVENT_BYTES) {
            let t = flat::i64_at(e, 0)?;
            let x = i16::from_le_bytes([e[8], e[9]]);
            let y = i16::from_le_bytes([e[10], e[11]]);
            let p = e[12];
            let (Ok(t), true) = (u64::try_from(t), p <= 1) else {
                self.counters.malformed += 1;
                continue;
            };
            let (Ok(x), Ok(y)) = (u16::try_from(x), u16::try_from(y)) else {
                self.counters.out_of_range += 1;
                continue;
            };
            if geometry.is_some_and(|g| !g.contains(x, y)) {
                self.counters.out_of_range += 1;
                continue;
            }
            out.push(Event { t, x, y, p });
        }
        let count = out.len() - before;
        self.counters.events += count as u64;
        Ok(Packet::Events { stream, count })
    }
}

/// Reads exactly `buf.len()` header bytes.
fn read_header_bytes(
    input: &mut impl Read,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Aedat4Error> {
    if read_full(input, buf)? < buf.len() {
        return Err(Aedat4Error::Truncated(what));
    }
    Ok(())
}

/// Fills `buf` as far as the input allows; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decompresses a packet into `scratch` (or borrows it when uncompressed).
fn decompress<'a>(
    compression: Compression,
    raw: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], PacketError> {
    let limit = MAX_PACKET_BYTES + 1;
    let too_large = |e: lz4::Lz4Error| match e {
        lz4::Lz4Error::TooLarge(_) => PacketError::TooLarge,
        e => PacketError::Decompress(e.to_string()),
    };
    match compression {
        Compression::None => Ok(raw),
        Compression::Lz4 | Compression::Lz4High => {
            // `scratch` keeps its length between packets: only `..n` is this packet.
            let n = lz4::decompress(raw, scratch, MAX_PACKET_BYTES as usize).map_err(too_large)?;
            Ok(scratch.get(..n).unwrap_or_default())
        }
        Compression::Zstd | Compression::ZstdHigh => {
            scratch.clear();
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| PacketError::Decompress(e.to_string()))?
                .take(limit)
                .read_to_end(scratch)
                .map_err(|e| PacketError::Decompress(e.to_string()))?;
            if scratch.len() as u64 > MAX_PACKET_BYTES {
                return Err(PacketError::TooLarge);
            }
            Ok(scratch)
        }
    }
}

/// Streams listed in the info tree: `<node name="outInfo">` holds one `<node name="ID">` per
/// stream with `<attr key="typeIdentifier">` and an `info` child with `sizeX` / `sizeY`.
fn parse_streams(xml: &str) -> Result<Vec<StreamInfo>, Aedat4Error> {
    if xml.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| Aedat4Error::Xml(e.to_string()))?;
    let mut streams = Vec::new();
    for out_info in doc.descendants().filter(|n| is_node(n, "outInfo")) {
        for node in out_info.children().filter(|n| n.has_tag_name("node")) {
            let Some(id) = node.attribute("name").and_then(|s| s.parse().ok()) else {
                continue;
            };
            let info = node.children().find(|n| is_node(n, "info"));
            let size = |key| info.and_then(|i| attr(i, key)).and_then(|v| v.parse().ok());
            let geometry = match (size("sizeX"), size("sizeY")) {
                (Some(w), Some(h)) => Some(Geometry::new(w, h)),
                _ => None,
            };
            streams.push(StreamInfo {
                id,
                type_identifier: attr(node, "typeIdentifier").unwrap_or("").to_owned(),
                name: attr(node, "originalOutputName").unwrap_or("").to_owned(),
                geometry,
            });
        }
    }
    Ok(streams)
}

fn is_node(n: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    n.has_tag_name("node") && n.attribute("name") == Some(name)
}

/// The text of `<attr key="key">` directly under `n`.
fn attr<'a>(n: roxmltree::Node<'a, '_>, key: &str) -> Option<&'a str> {
    n.children()
        .find(|c| c.has_tag_name("attr") && c.attribute("key") == Some(key))
        .and_then(|c| c.text())
        .map(str::trim)
}
