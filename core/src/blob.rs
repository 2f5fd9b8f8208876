//! The model blob: a fixed little-endian header, the postcard-encoded [`Graph`], the
//! postcard-encoded [`Metadata`] (versions 2 and 3), the data section (weights and per-channel
//! parameters, 16-byte aligned for zero-copy access) and a CRC-32 of everything before it.
//!
//! ```text
//! 0   magic "SDTBLOB\0"        16  data offset (u32, multiple of 16)
//! 8   format version (u16)     20  data length (u32)
//! 10  flags (u16, zero)        24  total length incl. CRC (u32)
//! 12  graph length (u32)       28  metadata length (u32; version 1: reserved, zero)
//! 32  graph, metadata … padding … data … CRC-32/ISO-HDLC (u32)
//! ```
//!
//! Version 1 blobs (no metadata) still load, with [`Metadata::default`]. Version 3 adds the
//! event framing's count normalization; writing gives the oldest version that holds the
//! metadata (2 without a normalization, 3 with one), so blobs that need nothing new stay
//! readable by older runtimes. Adding metadata to a blob changes neither its graph bytes nor
//! its data bytes.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::meta::{self, Metadata};

pub const MAGIC: [u8; 8] = *b"SDTBLOB\0";
/// The newest format version this runtime reads and writes.
pub const VERSION: u16 = meta::VERSION_COUNT_NORMALIZATION;
/// The first format version, without metadata; still read.
pub const VERSION_NO_METADATA: u16 = 1;
pub const HEADER_LEN: usize = 32;
/// Alignment of the data section inside the blob (and of the blob itself in memory).
pub const DATA_ALIGN: usize = 16;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 used by the blob trailer.
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A blob whose header, checksum, graph and metadata decoded; not yet validated as a model.
pub struct RawBlob<'b> {
    pub version: u16,
    pub graph: Graph,
    pub meta: Metadata<'b>,
    pub data: &'b [u8],
}

/// Checks header and checksum and decodes the graph and the metadata.
pub fn parse(blob: &[u8]) -> Result<RawBlob<'_>> {
    if blob.len() < HEADER_LEN {
        return Err(Error::Truncated {
            needed: HEADER_LEN,
            found: blob.len(),
        });
    }
    if blob[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = read_u16(blob, 8);
    if !(VERSION_NO_METADATA..=VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let flags = read_u16(blob, 10);
    let graph_len = read_u32(blob, 12) as usize;
    let data_offset = read_u32(blob, 16) as usize;
    let data_len = read_u32(blob, 20) as usize;
    let total = read_u32(blob, 24) as usize;
    // Version 1 reserved this word (zero): no metadata.
    let meta_len = read_u32(blob, 28) as usize;
    if blob.len() < total {
        return Err(Error::Truncated {
            needed: total,
            found: blob.len(),
        });
    }
    let data_end = data_offset.checked_add(data_len).ok_or(Error::BadLayout)?;
    let graph_end = HEADER_LEN.checked_add(graph_len).ok_or(Error::BadLayout)?;
    let meta_end = graph_end.checked_add(meta_len).ok_or(Error::BadLayout)?;
    let layout_ok = flags == 0
        && (version != VERSION_NO_METADATA || meta_len == 0)
        && data_offset.is_multiple_of(DATA_ALIGN)
        && meta_end <= data_offset
        && data_offset - meta_end < DATA_ALIGN
        && data_end.checked_add(4) == Some(total);
    if !layout_ok {
        return Err(Error::BadLayout);
    }
    let stored = read_u32(blob, data_end);
    let computed = checksum(&blob[..data_end]);
    if stored != computed {
        return Err(Error::ChecksumMismatch { stored, computed });
    }
    let graph_bytes = &blob[HEADER_LEN..graph_end];
    let (graph, rest) =
        postcard::take_from_bytes::<Graph>(graph_bytes).map_err(|_| Error::BadGraph)?;
    if !rest.is_empty() {
        return Err(Error::BadGraph);
    }
    let meta = match version {
        VERSION_NO_METADATA => Metadata::default(),
        _ => meta::decode(&blob[graph_end..meta_end], version).map_err(Error::BadMetadata)?,
    };
    Ok(RawBlob {
        version,
        graph,
        meta,
        data: &blob[data_offset..data_end],
    })
}

/// Writes a blob (version 2, or 3 for metadata with a count normalization) for `graph`, `meta`
/// and `data` into `out`; returns its length.
///
/// `out` must hold the header, the encoded graph and metadata, padding, `data` and the CRC.
pub fn write(graph: &Graph, meta: &Metadata<'_>, data: &[u8], out: &mut [u8]) -> Result<usize> {
    let too_small = Error::Truncated {
        needed: usize::MAX,
        found: out.len(),
    };
    if out.len() < HEADER_LEN {
        return Err(too_small);
    }
    let graph_len = postcard::to_slice(graph, &mut out[HEADER_LEN..])
        .map_err(|_| too_small)?
        .len();
    let (meta_len, version) =
        meta::encode(meta, &mut out[HEADER_LEN + graph_len..]).ok_or(too_small)?;
    let meta_end = HEADER_LEN + graph_len + meta_len;
    let data_offset = meta_end.next_multiple_of(DATA_ALIGN);
    let data_end = data_offset + data_len_checked(data)?;
    let total = data_end + 4;
    if out.len() < total {
        return Err(Error::Truncated {
            needed: total,
            found: out.len(),
        });
    }
    let head = &mut out[..HEADER_LEN];
    head.fill(0);
    head[..8].copy_from_slice(&MAGIC);
    head[8..10].copy_from_slice(&version.to_le_bytes());
    head[12..16].copy_from_slice(&(graph_len as u32).to_le_bytes());
    head[16..20].copy_from_slice(&(data_offset as u32).to_le_bytes());
    head[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
    head[24..28].copy_from_slice(&(total as u32).to_le_bytes());
    head[28..32].copy_from_slice(&(meta_len as u32).to_le_bytes());
    out[meta_end..data_offset].fill(0);
    out[data_offset..data_end].copy_from_slice(data);
    let crc = checksum(&out[..data_end]);
    out[data_end..total].copy_from_slice(&crc.to_le_bytes());
    Ok(total)
}

fn data_len_checked(data: &[u8]) -> Result<usize> {
    if data.len() > u32::MAX as usize / 2 {
        return Err(Error::BadLayout);
    }
    Ok(data.len())
}
