//! Opening an event file of any supported format: detection from the header (or the file
//! extension), resolution, and chunked decoding into [`Event`]s.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use sdt_events::aedat2::{Aedat2Decoder, DVS128};
use sdt_events::aedat31::Aedat31Decoder;
use sdt_events::dat::DatDecoder;
use sdt_events::evt2::Evt2Decoder;
use sdt_events::evt3::{Evt3Decoder, TimePolicy};
use sdt_events::nmnist::{NmnistDecoder, NMNIST};
use sdt_events::{
    Counters, Decoder, Event, EventFormat, Geometry, HeaderError, HeaderGeometry, HeaderInfo,
};

use crate::aedat4::{self, Aedat4Error, Aedat4Reader};

/// Bytes read at the start of a file to detect its format and parse its text header.
pub const PREFIX_BYTES: usize = 64 << 10;
/// Bytes decoded per [`EventSource::next_chunk`] call for the byte-stream formats.
pub const CHUNK_BYTES: usize = 256 << 10;
/// Resolution assumed for Prophesee files whose header does not state one (Gen4 sensors).
pub const PROPHESEE_DEFAULT: Geometry = Geometry::new(1280, 720);

/// A supported file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Prophesee RAW, EVT 2.0.
    Evt2,
    /// Prophesee RAW, EVT 3.0.
    Evt3,
    /// Prophesee DAT.
    Dat,
    /// iniVation AEDAT 2.0 (DVS128).
    Aedat2,
    /// iniVation AEDAT 3.1.
    Aedat31,
    /// iniVation AEDAT 4.0.
    Aedat4,
    /// N-MNIST-style ATIS binary.
    Nmnist,
}

impl Format {
    /// A short name (as used in JSON and on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Format::Evt2 => "evt2",
            Format::Evt3 => "evt3",
            Format::Dat => "dat",
            Format::Aedat2 => "aedat2",
            Format::Aedat31 => "aedat31",
            Format::Aedat4 => "aedat4",
            Format::Nmnist => "nmnist",
        }
    }
}

/// Where the resolution came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GeometrySource {
    /// Given by the caller.
    Option,
    /// Stated in the file.
    File,
    /// Not stated; known from the sensor the file's header names (e.g. `% plugin_name
    /// hal_plugin_gen3_fx3`: 640×480), as Metavision does.
    SensorName,
    /// The format's usual sensor (nothing in the file says otherwise).
    Default,
}

/// Caller's choices that override detection.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceOptions {
    /// Force this format instead of detecting it.
    pub format: Option<Format>,
    /// Force this resolution.
    pub geometry: Option<Geometry>,
    /// How EVT 3.0 time words combine (the documented rule by default; `LowCarry` reproduces
    /// expelliarmus' output).
    pub evt3_time: TimePolicy,
}

/// Why a file cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Neither the header nor the extension tells the format.
    #[error("cannot tell the format of {0}: give it with --format")]
    Unknown(String),
    /// A Prophesee header names an encoding without a decoder here.
    #[error("{0}: Prophesee EVT 2.1 is not supported")]
    Unsupported(String),
    /// The text header is longer than [`PREFIX_BYTES`].
    #[error("{0}: text header longer than {PREFIX_BYTES} bytes")]
    HeaderTooLong(String),
    /// The AEDAT 4.0 header is damaged.
    #[error("{path}: {source}")]
    Aedat4 {
        /// The file.
        path: String,
        /// Why.
        source: Aedat4Error,
    },
}

/// One of the core's incremental decoders.
enum CoreDecoder {
    Evt2(Evt2Decoder),
    Evt3(Evt3Decoder),
    Dat(DatDecoder),
    Aedat2(Aedat2Decoder),
    Aedat31(Aedat31Decoder),
    Nmnist(NmnistDecoder),
}

impl CoreDecoder {
    fn new(format: Format, g: Geometry, evt3_time: TimePolicy) -> Option<Self> {
        Some(match format {
            Format::Evt2 => Self::Evt2(Evt2Decoder::new(g)),
            Format::Evt3 => Self::Evt3(Evt3Decoder::with_policy(g, evt3_time)),
            Format::Dat => Self::Dat(DatDecoder::new(g)),
            Format::Aedat2 => Self::Aedat2(Aedat2Decoder::new(g)),
            Format::Aedat31 => Self::Aedat31(Aedat31Decoder::new(g)),
            Format::Nmnist => Self::Nmnist(NmnistDecoder::new(g)),
            Format::Aedat4 => return None,
        })
    }

    fn feed(&mut self, bytes: &[u8], sink: impl FnMut(Event)) {
        match self {
            Self::Evt2(d) => d.feed(bytes, sink),
            Self::Evt3(d) => d.feed(bytes, sink),
            Self::Dat(d) => d.feed(bytes, sink),
            Self::Aedat2(d) => d.feed(bytes, sink),
            Self::Aedat31(d) => d.feed(bytes, sink),
            Self::Nmnist(d) => d.feed(bytes, sink),
        }
    }

    fn counters(&self) -> Counters {
        match self {
            Self::Evt2(d) => d.counters(),
            Self::Evt3(d) => d.counters(),
            Self::Dat(d) => d.counters(),
            Self::Aedat2(d) => d.counters(),
            Self::Aedat31(d) => d.counters(),
            Self::Nmnist(d) => d.counters(),
        }
    }

    fn finish(&mut self) -> Counters {
        match self {
            Self::Evt2(d) => d.finish(),
            Self::Evt3(d) => d.finish(),
            Self::Dat(d) => d.finish(),
            Self::Aedat2(d) => d.finish(),
            Self::Aedat31(d) => d.finish(),
            Self::Nmnist(d) => d.finish(),
        }
    }
}

type Input = io::Chain<Cursor<Vec<u8>>, Box<dyn Read>>;

enum Inner {
    Bytes {
        input: Input,
        decoder: CoreDecoder,
        buf: Vec<u8>,
        done: bool,
    },
    Aedat4(Box<Aedat4Reader<Input>>),
}

/// An event file being decoded, a chunk at a time.
pub struct EventSource {
    format: Format,
    geometry: Geometry,
    geometry_source: GeometrySource,
    bytes_read: u64,
    inner: Inner,
}

impl EventSource {
    /// Opens `path`, detecting its format from the header or the extension.
    pub fn open(path: &Path, opts: SourceOptions) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| SourceError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_reader(Box::new(io::BufReader::new(file)), &name, opts)
    }

    /// Decodes from any reader; `name` (a file name) helps detection by its extension.
    pub fn from_reader(
        mut reader: Box<dyn Read>,
        name: &str,
        opts: SourceOptions,
    ) -> Result<Self, SourceError> {
        let io_err = |source| SourceError::Io {
            path: name.to_owned(),
            source,
        };
        let mut prefix = Vec::new();
        (&mut reader)
            .take(PREFIX_BYTES as u64)
            .read_to_end(&mut prefix)
            .map_err(io_err)?;
        let ext = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let header = match HeaderInfo::parse(&prefix) {
            Ok(h) => Some(h),
            // A file that is only a header, shorter than the prefix: no data.
            Err(HeaderError::Incomplete) if prefix.len() < PREFIX_BYTES => None,
            Err(HeaderError::Incomplete) => return Err(SourceError::HeaderTooLong(name.into())),
        };
        let format = match opts.format {
            Some(f) => f,
            None => detect(&prefix, header.as_ref(), &ext)
                .ok_or_else(|| SourceError::Unknown(name.into()))?
                .map_err(|()| SourceError::Unsupported(name.into()))?,
        };
        let file_geometry = match format {
            Format::Evt2 | Format::Evt3 | Format::Dat => {
                header.and_then(|h| h.geometry).map(|g| match g {
                    HeaderGeometry::Stated(g) => (g, GeometrySource::File),
                    HeaderGeometry::Sensor(g) => (g, GeometrySource::SensorName),
                })
            }
            _ => None,
        };
        // EVT streams start right after the text header; the other decoders skip theirs.
        let skip = match (format, header) {
            (Format::Evt2 | Format::Evt3, Some(h)) => h.data_offset,
            (Format::Evt2 | Format::Evt3, None) if prefix.first() == Some(&b'%') => prefix.len(),
            _ => 0,
        };
        let bytes_read = skip as u64;
        prefix.drain(..skip.min(prefix.len()));
        let input: Input = Cursor::new(prefix).chain(reader);
        if format == Format::Aedat4 {
            let r = Aedat4Reader::new(input).map_err(|source| SourceError::Aedat4 {
                path: name.into(),
                source,
            })?;
            let (geometry, geometry_source) = match (opts.geometry, r.geometry()) {
                (Some(g), _) => (g, GeometrySource::Option),
                (None, Some(g)) => (g, GeometrySource::File),
                (None, None) => (Geometry::new(346, 260), GeometrySource::Default),
            };
            return Ok(Self {
                format,
                geometry,
                geometry_source,
                bytes_read: r.position(),
                inner: Inner::Aedat4(Box::new(r)),
            });
        }
        let (geometry, geometry_source) = match (opts.geometry, file_geometry) {
            (Some(g), _) => (g, GeometrySource::Option),
            (None, Some(found)) => found,
            (None, None) => (default_geometry(format), GeometrySource::Default),
        };
        let decoder = CoreDecoder::new(format, geometry, opts.evt3_time)
            .ok_or(SourceError::Unknown(name.into()))?;
        Ok(Self {
            format,
            geometry,
            geometry_source,
            bytes_read,
            inner: Inner::Bytes {
                input,
                decoder,
                buf: vec![0; CHUNK_BYTES],
                done: false,
            },
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Sensor resolution used to decode (events outside it are dropped and counted).
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Where [`Self::geometry`] came from.
    pub fn geometry_source(&self) -> GeometrySource {
        self.geometry_source
    }

    /// Bytes of the file consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        match &self.inner {
            Inner::Bytes { .. } => self.bytes_read,
            Inner::Aedat4(r) => r.position(),
        }
    }

    /// Decoder counters so far (see [`Counters`]; for AEDAT 4.0 see
    /// [`Aedat4Reader::counters`]).
    pub fn counters(&self) -> Counters {
        match &self.inner {
            Inner::Bytes { decoder, .. } => decoder.counters(),
            Inner::Aedat4(r) => r.counters(),
        }
    }

    /// The AEDAT 4.0 header, for AEDAT 4.0 files.
    pub fn aedat4_header(&self) -> Option<&aedat4::Aedat4Header> {
        match &self.inner {
            Inner::Aedat4(r) => Some(r.header()),
            Inner::Bytes { .. } => None,
        }
    }

    /// Appends the next events to `out`; `false` once the file is exhausted (then
    /// [`Self::counters`] are final).
    pub fn next_chunk(&mut self, out: &mut Vec<Event>) -> Result<bool, SourceError> {
        if let Inner::Aedat4(r) = &mut self.inner {
            return r
                .next_packet(out)
                .map(|p| p.is_some())
                .map_err(|source| SourceError::Aedat4 {
                    path: String::new(),
                    source,
                });
        }
        self.next_chunk_with(|e| out.push(e))
    }

    /// Like [`Self::next_chunk`], but hands each event to `sink` (for callers that store
    /// events in their own layout without an intermediate buffer).
    pub fn next_chunk_with(&mut self, sink: impl FnMut(Event)) -> Result<bool, SourceError> {
        match &mut self.inner {
            Inner::Aedat4(r) => {
                let mut packet = Vec::new();
                let more = r
                    .next_packet(&mut packet)
                    .map(|p| p.is_some())
                    .map_err(|source| SourceError::Aedat4 {
                        path: String::new(),
                        source,
                    })?;
                packet.into_iter().for_each(sink);
                Ok(more)
            }
            Inner::Bytes {
                input,
                decoder,
                buf,
                done,
            } => {
                if *done {
                    return Ok(false);
                }
                let n = loop {
                    match input.read(buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            return Err(SourceError::Io {
                                path: String::new(),
                                source,
                            })
                        }
                    }
                };
                if n == 0 {
                    decoder.finish();
                    *done = true;
                    return Ok(false);
                }
                self.bytes_read += n as u64;
                decoder.feed(buf.get(..n).unwrap_or(&[]), sink);
                Ok(true)
            }
        }
    }

    /// Decodes everything that is left.
    pub fn read_all(&mut self) -> Result<Vec<Event>, SourceError> {
        let mut events = Vec::new();
        while self.next_chunk(&mut events)? {}
        Ok(events)
    }
}

/// The usual sensor of a format whose file does not state a resolution.
pub fn default_geometry(format: Format) -> Geometry {
    match format {
        Format::Evt2 | Format::Evt3 | Format::Dat => PROPHESEE_DEFAULT,
        Format::Aedat2 | Format::Aedat31 => DVS128,
        Format::Aedat4 => Geometry::new(346, 260),
        Format::Nmnist => NMNIST,
    }
}

/// The format of a file from its first bytes, its Prophesee header and its extension.
/// `Some(Err(()))`: a format without a decoder here (EVT 2.1).
fn detect(prefix: &[u8], header: Option<&HeaderInfo>, ext: &str) -> Option<Result<Format, ()>> {
    if prefix.starts_with(b"#!AER-DAT4") {
        return Some(Ok(Format::Aedat4));
    }
    if prefix.starts_with(b"#!AER-DAT3") {
        return Some(Ok(Format::Aedat31));
    }
    if prefix.starts_with(b"#!AER-DAT2") {
        return Some(Ok(Format::Aedat2));
    }
    match header.and_then(|h| h.format) {
        Some(EventFormat::Evt2) => return Some(Ok(Format::Evt2)),
        Some(EventFormat::Evt3) => return Some(Ok(Format::Evt3)),
        Some(EventFormat::Evt21) => return Some(Err(())),
        None => {}
    }
    let has_text_header = prefix.first() == Some(&b'%');
    match ext {
        "aedat4" => Some(Ok(Format::Aedat4)),
        "dat" => Some(Ok(Format::Dat)),
        "bin" => Some(Ok(Format::Nmnist)),
        "aedat" | "aedat2" => Some(Ok(Format::Aedat2)),
        "aedat3" => Some(Ok(Format::Aedat31)),
        "raw" => None,
        _ if has_text_header && contains(prefix, b"Data file containing") => Some(Ok(Format::Dat)),
        _ => None,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
