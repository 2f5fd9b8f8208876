//! LZ4 frames (LZ4 Frame Format 1.6) decoded into one buffer that is reused across packets.
//!
//! AEDAT 4.0 compresses every packet as its own LZ4 frame. `lz4_flex::frame::FrameDecoder`
//! sizes its buffers by the maximum block size a frame header declares (up to 4 MiB, twice that
//! plus 64 KiB for linked blocks) and zero-fills them for every frame, so reading a file of
//! small packets paid for megabytes of fresh memory per packet. Here the frame framing (header,
//! block sizes, checksums: a few dozen lines of the format) is parsed by hand, and each block
//! goes through lz4_flex's block decoder straight into the caller's buffer, whose length only
//! ever grows, so a steady stream of packets allocates and clears nothing.

use lz4_flex::block::{decompress_into_with_dict, DecompressError};
use twox_hash::XxHash32;

/// Magic number of an LZ4 frame.
const FRAME_MAGIC: u32 = 0x184D_2204;

/// Skippable frames carry user data; decoders skip them.
const SKIPPABLE: std::ops::RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;

/// Most bytes one compressed LZ4 byte decodes to.
const MAX_EXPANSION: usize = 255;

/// How far back a linked block may reach into the frame's earlier output.
const WINDOW: usize = 64 * 1024;

/// Why an LZ4 packet could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lz4Error {
    #[error("not an LZ4 frame (magic {0:#010x})")]
    Magic(u32),
    #[error("LZ4 frame ends inside its {0}")]
    Truncated(&'static str),
    #[error("LZ4 frame descriptor: {0}")]
    Descriptor(&'static str),
    #[error("LZ4 frame header checksum mismatch")]
    HeaderChecksum,
    #[error("LZ4 block of {0} bytes exceeds the frame's maximum block size")]
    BlockTooBig(usize),
    #[error("LZ4 block: {0}")]
    Block(String),
    #[error("LZ4 block checksum mismatch")]
    BlockChecksum,
    #[error("LZ4 content checksum mismatch")]
    ContentChecksum,
    #[error("LZ4 frame states {stated} content bytes, holds {decoded}")]
    ContentSize { stated: u64, decoded: u64 },
    #[error("decompressed size exceeds {0} bytes")]
    TooLarge(usize),
}

/// Decompresses the LZ4 frames of `raw` (one or more, skippable frames skipped) into the start
/// of `buf` and returns how many bytes they hold (`buf[..n]`). `buf` may be longer than that:
/// it is scratch kept between calls. More than `limit` decompressed bytes is an error.
pub fn decompress(raw: &[u8], buf: &mut Vec<u8>, limit: usize) -> Result<usize, Lz4Error> {
    let mut input = Input(raw);
    let mut pos = 0;
    while !input.0.is_empty() {
        let magic = input.u32("magic")?;
        if SKIPPABLE.contains(&magic) {
            let size = input.u32("skippable frame size")? as usize;
            input.take(size, "skippable frame")?;
            continue;
        }
        if magic != FRAME_MAGIC {
            return Err(Lz4Error::Magic(magic));
        }
        pos = frame(&mut input, buf, pos, limit)?;
    }
    Ok(pos)
}

/// The flags of a frame descriptor that matter for decoding.
struct Descriptor {
    linked: bool,
    block_checksums: bool,
    content_checksum: bool,
    content_size: Option<u64>,
    max_block: usize,
}

/// Decodes one frame (after its magic) into `buf[start..]`; returns the end of its content.
fn frame(
    input: &mut Input<'_>,
    buf: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<usize, Lz4Error> {
    let d = descriptor(input)?;
    let mut pos = start;
    loop {
        let word = input.u32("block size")?;
        if word == 0 {
            break;
        }
        let (len, stored) = ((word & 0x7FFF_FFFF) as usize, word & 0x8000_0000 != 0);
        if len > d.max_block {
            return Err(Lz4Error::BlockTooBig(len));
        }
        let block = input.take(len, "block")?;
        if d.block_checksums && XxHash32::oneshot(0, block) != input.u32("block checksum")? {
            return Err(Lz4Error::BlockChecksum);
        }
        // Room for what this block can hold: LZ4 expands at most 255× (a match's length bytes
        // add at most 255 each), so a small packet never reserves a whole maximum block.
        // `buf` only grows, so it is cleared once, not per packet.
        let room = if stored {
            len
        } else {
            len.saturating_mul(MAX_EXPANSION)
        };
        let room = room.min(d.max_block);
        let end = pos.checked_add(room).ok_or(Lz4Error::TooLarge(limit))?;
        if buf.len() < end {
            buf.resize(end, 0);
        }
        let (done, rest) = buf.split_at_mut(pos);
        let n = if stored {
            rest[..len].copy_from_slice(block);
            len
        } else {
            let dict = if d.linked {
                &done[start.max(pos.saturating_sub(WINDOW))..]
            } else {
                &[]
            };
            decompress_into_with_dict(block, &mut rest[..room], dict)
                .map_err(|e: DecompressError| Lz4Error::Block(e.to_string()))?
        };
        pos += n;
        if pos - start > limit {
            return Err(Lz4Error::TooLarge(limit));
        }
    }
    let content = buf.get(start..pos).unwrap_or_default();
    if let Some(stated) = d.content_size {
        if stated != content.len() as u64 {
            return Err(Lz4Error::ContentSize {
                stated,
                decoded: content.len() as u64,
            });
        }
    }
    if d.content_checksum && XxHash32::oneshot(0, content) != input.u32("content checksum")? {
        return Err(Lz4Error::ContentChecksum);
    }
    Ok(pos)
}

/// Reads and checks the frame descriptor (FLG, BD, optional content size, header checksum).
fn descriptor(input: &mut Input<'_>) -> Result<Descriptor, Lz4Error> {
    let head = input.0;
    let [flg, bd] = input.take(2, "descriptor")? else {
        return Err(Lz4Error::Truncated("descriptor"));
    };
    let (flg, bd) = (*flg, *bd);
    if flg >> 6 != 0b01 {
        return Err(Lz4Error::Descriptor("version is not 01"));
    }
    if flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
        return Err(Lz4Error::Descriptor("reserved bits set"));
    }
    if flg & 0b1 != 0 {
        return Err(Lz4Error::Descriptor("dictionary IDs are not supported"));
    }
    let max_block = match (bd >> 4) & 0b111 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(Lz4Error::Descriptor("block maximum size code is not 4-7")),
    };
    let content_size = if flg & 0b1000 != 0 {
        Some(input.u64("content size")?)
    } else {
        None
    };
    let described = &head[..head.len() - input.0.len()];
    let checksum = *input.take(1, "header checksum")?.first().unwrap_or(&0);
    if (XxHash32::oneshot(0, described) >> 8) as u8 != checksum {
        return Err(Lz4Error::HeaderChecksum);
    }
    Ok(Descriptor {
        linked: flg & 0b10_0000 == 0,
        block_checksums: flg & 0b1_0000 != 0,
        content_checksum: flg & 0b100 != 0,
        content_size,
        max_block,
    })
}

/// The bytes of a packet not yet parsed.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Lz4Error> {
        if self.0.len() < n {
            return Err(Lz4Error::Truncated(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Lz4Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, Lz4Error> {
        let lo = u64::from(self.u32(what)?);
        let hi = u64::from(self.u32(what)?);
        Ok(lo | hi << 32)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

    use super::*;

    /// Bytes that compress somewhat: runs, repeats from far back and noise.
    fn sample(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 4 {
                0 if v.len() > 70_000 => {
                    let from = v.len() - 70_000 + (x as usize % 5_000);
                    let run: Vec<u8> = v[from..from + 40].to_vec();
                    v.extend_from_slice(&run);
                }
                1 => v.extend(std::iter::repeat_n((x >> 8) as u8, (x % 50) as usize)),
                _ => v.push((x >> 16) as u8),
            }
        }
        v.truncate(n);
        v
    }

    fn encode(data: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn infos() -> Vec<FrameInfo> {
        let mut all = Vec::new();
        for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
            for mode in [BlockMode::Independent, BlockMode::Linked] {
                for checks in [false, true] {
                    all.push(
                        FrameInfo::new()
                            .block_size(size)
                            .block_mode(mode)
                            .block_checksums(checks)
                            .content_checksum(checks),
                    );
                }
            }
        }
        all
    }

    #[test]
    fn decodes_what_lz4_flex_encodes_in_every_mode() {
        let mut buf = Vec::new();
        for (i, info) in infos().into_iter().enumerate() {
            for n in [0, 1, 1_000, 65_536, 300_001] {
                let data = sample(n, i as u32 + 1);
                let frame = encode(&data, info.clone());
                let k = decompress(&frame, &mut buf, 1 << 24).unwrap();
                assert_eq!(&buf[..k], &data[..], "{info:?}, {n} bytes");
            }
        }
    }

    #[test]
    fn blocks_at_the_largest_expansion_fit() {
        // Runs of one byte compress about 250×, near LZ4's bound: the room reserved per block
        // must still hold them.
        let mut buf = Vec::new();
        for size in [BlockSize::Max64KB, BlockSize::Max4MB] {
            for n in [4 << 20, 1_000_003] {
                let data = vec![7u8; n];
                let frame = encode(&data, FrameInfo::new().block_size(size));
                assert!(
                    frame.len() * 200 < n,
                    "{} bytes compress to {}",
                    n,
                    frame.len()
                );
                let k = decompress(&frame, &mut buf, 1 << 24).unwrap();
                assert_eq!(&buf[..k], &data[..]);
            }
        }
    }

    #[test]
    fn agrees_with_lz4_flex_on_concatenated_and_skippable_frames() {
        let (a, b) = (sample(5_000, 7), sample(90_000, 8));
        let mut raw = encode(&a, FrameInfo::new());
        raw.extend_from_slice(&0x184D_2A53u32.to_le_bytes());
        raw.extend_from_slice(&3u32.to_le_bytes());
        raw.extend_from_slice(b"xyz");
        raw.extend_from_slice(&encode(&b, FrameInfo::new().content_size(Some(90_000))));
        let mut buf = vec![0xAA; 10];
        let k = decompress(&raw, &mut buf, 1 << 20).unwrap();
        assert_eq!(&buf[..k], [a, b].concat().as_slice());
    }

    #[test]
    fn damaged_frames_are_errors_never_panics() {
        let data = sample(200_000, 3);
        let info = FrameInfo::new()
            .block_checksums(true)
            .content_checksum(true)
            .block_mode(BlockMode::Linked);
        let frame = encode(&data, info);
        let mut buf = Vec::new();
        assert_eq!(decompress(&[], &mut buf, 10), Ok(0));
        for cut in [
            3,
            4,
            6,
            7,
            11,
            frame.len() / 2,
            frame.len() - 4,
            frame.len() - 1,
        ] {
            assert!(
                decompress(&frame[..cut], &mut buf, 1 << 20).is_err(),
                "cut at {cut}"
            );
        }
        for at in (0..frame.len()).step_by(997) {
            let mut bad = frame.clone();
            bad[at] ^= 0x40;
            assert!(decompress(&bad, &mut buf, 1 << 20).is_err(), "flip at {at}");
        }
        assert_eq!(
            decompress(&frame, &mut buf, 100_000),
            Err(Lz4Error::TooLarge(100_000))
        );
        assert_eq!(
            decompress(b"\0\0\0\0", &mut buf, 10),
            Err(Lz4Error::Magic(0))
        );
    }

    #[test]
    fn matches_lz4_flex_frame_decoder_on_mutated_frames() {
        // Where lz4_flex decodes a damaged frame, so must we, to the same bytes.
        let frame = encode(&sample(20_000, 9), FrameInfo::new());
        let mut buf = Vec::new();
        let (mut x, mut both) = (12345u32, 0);
        for _ in 0..2_000 {
            let mut bad = frame.clone();
            for _ in 0..3 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = 7 + (x as usize >> 8) % (bad.len() - 7);
                bad[at] = (x >> 3) as u8;
            }
            let ours = decompress(&bad, &mut buf, 1 << 20).map(|k| buf[..k].to_vec());
            let mut theirs = Vec::new();
            let flex = FrameDecoder::new(&bad[..]).read_to_end(&mut theirs);
            if let (Ok(ours), Ok(_)) = (&ours, &flex) {
                assert_eq!(ours, &theirs);
                both += 1;
            }
        }
        assert!(
            both > 100,
            "only {both} mutated frames decoded on both sides"
        );
    }
}
