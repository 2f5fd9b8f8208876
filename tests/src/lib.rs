//! Helpers for the end-to-end tests: locating golden data and converting golden checkpoints.

use std::path::PathBuf;

use sdt_convert::checkpoint::{self, Checkpoint};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use sdt_host::AlignedBlob;

/// A file of the golden data set. Panics with instructions when it is not there: a missing
/// prerequisite must fail the test, never skip it.
pub fn golden(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Golden.require(name)
}

pub fn load(name: &str) -> Checkpoint {
    checkpoint::load(&golden(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Converts a golden checkpoint with the given weight width, input width and input range.
pub fn blob_of(
    ck: &Checkpoint,
    size: usize,
    bits: WeightBits,
    wide_input: bool,
    absmax: f32,
) -> AlignedBlob {
    let arch = ArchOptions {
        heads: 8,
        d: 4,
        input_h: size,
        input_w: size,
    };
    let opt = LowerOptions {
        weight_bits: bits,
        input_absmax: absmax,
        wide_input,
        spike_bias: 0.0,
    };
    convert(ck, arch, opt)
        .unwrap_or_else(|e| panic!("conversion failed: {e}"))
        .2
}

/// Largest |x| of a tensor.
pub fn absmax(data: &[f32]) -> f32 {
    data.iter().fold(0f32, |m, &x| m.max(x.abs()))
}
