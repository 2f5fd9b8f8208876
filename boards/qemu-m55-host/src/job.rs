//! Writes the job the firmware reads from DDR (format in `qemu-m55/src/job.rs`).

/// DDR address QEMU's loader puts the job at.
pub const JOB_ADDR: u32 = 0x6000_0000;
const MAGIC: &[u8; 8] = b"SDTJOB01";
const HEADER_LEN: usize = 48;

/// Job flags (same values as the firmware's).
pub const DENSE: u32 = 1;
pub const STATS: u32 = 2;
/// CMSIS-NN peer: residual-stream convolutions as int8 CMSIS-NN convolutions (cost model).
pub const INT8_RESIDUAL: u32 = 4;

/// Header, blob and inputs (each input `input_bytes` long, little-endian `i8` or `i16`).
pub fn build(blob: &[u8], inputs: &[Vec<u8>], flags: u32) -> Vec<u8> {
    let input_bytes = inputs.first().map_or(0, Vec::len);
    let blob_off = HEADER_LEN.next_multiple_of(16);
    let in_off = (blob_off + blob.len()).next_multiple_of(16);
    let total = in_off + input_bytes * inputs.len();
    let mut job = vec![0u8; total];
    let mut put = |at: usize, v: usize| job[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
    put(8, flags as usize);
    put(12, total);
    put(16, blob_off);
    put(20, blob.len());
    put(24, in_off);
    put(28, inputs.len());
    put(32, input_bytes);
    job[..8].copy_from_slice(MAGIC);
    job[blob_off..blob_off + blob.len()].copy_from_slice(blob);
    for (i, x) in inputs.iter().enumerate() {
        assert_eq!(x.len(), input_bytes, "inputs of one job have one length");
        job[in_off + i * input_bytes..in_off + (i + 1) * input_bytes].copy_from_slice(x);
    }
    job
}
