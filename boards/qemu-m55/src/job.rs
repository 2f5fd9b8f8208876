//! The job QEMU's loader writes at the start of DDR (`-device loader,file=job.bin,addr=0x60000000`):
//! a header, the model blob and the inputs. One firmware image thus runs any model.
//!
//! ```text
//! 0   magic "SDTJOB01"           24  inputs offset (u32, multiple of 16)
//! 8   flags (u32, see `flags`)   28  input count (u32)
//! 12  total length (u32)         32  bytes per input (u32)
//! 16  blob offset (u32, ×16)     36  reserved, zero (12 bytes)
//! 20  blob length (u32)          48  blob … inputs …
//! ```

use core::fmt;

pub const MAGIC: [u8; 8] = *b"SDTJOB01";
pub const HEADER_LEN: usize = 48;

/// Job flags.
pub mod flags {
    /// Run the dense reference kernels instead of the spike-driven ones.
    #[cfg_attr(feature = "cmsis-nn", allow(dead_code))]
    pub const DENSE: u32 = 1;
    /// Report per-input statistics (spikes, SOPs, MACs per node).
    pub const STATS: u32 = 2;
    /// CMSIS-NN peer only: residual-stream convolutions as int8 CMSIS-NN convolutions too
    /// (the cost of an int8 residual stream; lossy).
    #[cfg_attr(not(feature = "cmsis-nn"), allow(dead_code))]
    pub const INT8_RESIDUAL: u32 = 4;
}

/// Why a job was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobError {
    /// No job header at the start of DDR (nothing loaded there?).
    BadMagic,
    /// Offsets and lengths disagree with each other or with DDR.
    BadLayout,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::BadMagic => write!(f, "no job in DDR (bad magic)"),
            JobError::BadLayout => write!(f, "job header offsets are inconsistent"),
        }
    }
}

/// A validated job.
pub struct Job<'a> {
    pub flags: u32,
    pub blob: &'a [u8],
    inputs: &'a [u8],
    pub count: usize,
    pub input_bytes: usize,
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

impl<'a> Job<'a> {
    /// Reads the header at `header` (its first [`HEADER_LEN`] bytes); `whole(len)` gives the
    /// first `len` bytes of the job region, or `None` when they do not fit in it.
    pub fn parse(
        header: &[u8],
        whole: impl FnOnce(usize) -> Option<&'a [u8]>,
    ) -> Result<Self, JobError> {
        if header.len() < HEADER_LEN || header[..8] != MAGIC {
            return Err(JobError::BadMagic);
        }
        let total = u32_at(header, 12);
        let (blob_off, blob_len) = (u32_at(header, 16), u32_at(header, 20));
        let (in_off, count, input_bytes) =
            (u32_at(header, 24), u32_at(header, 28), u32_at(header, 32));
        let blob_end = blob_off.checked_add(blob_len).ok_or(JobError::BadLayout)?;
        let in_end = count
            .checked_mul(input_bytes)
            .and_then(|n| n.checked_add(in_off))
            .ok_or(JobError::BadLayout)?;
        let ok = blob_off >= HEADER_LEN
            && blob_off % 16 == 0
            && in_off % 16 == 0
            && blob_end <= total
            && in_end <= total
            && header[36..48].iter().all(|&b| b == 0);
        if !ok {
            return Err(JobError::BadLayout);
        }
        let all = whole(total).ok_or(JobError::BadLayout)?;
        Ok(Job {
            flags: u32_at(header, 8) as u32,
            blob: &all[blob_off..blob_end],
            inputs: &all[in_off..in_end],
            count,
            input_bytes,
        })
    }

    /// Bytes of input `i` (`i < count`).
    pub fn input(&self, i: usize) -> &'a [u8] {
        &self.inputs[i * self.input_bytes..(i + 1) * self.input_bytes]
    }
}
