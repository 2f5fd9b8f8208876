//! Helpers for the end-to-end tests: locating golden data and converting golden checkpoints.

use std::path::PathBuf;
use std::sync::OnceLock;

use sdt_convert::checkpoint::{self, Checkpoint};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use sdt_core::Level;
use sdt_host::AlignedBlob;

/// A file of the golden data set. Panics with instructions when it is not there: a missing
/// prerequisite must fail the test, never skip it. Every golden test starts here, so this
/// also applies `SDT_KERNEL_LEVEL` (the kernel level its sessions run; see [`kernel_level`]).
pub fn golden(name: &str) -> PathBuf {
    kernel_level();
    sdt_host::data::DataDir::Golden.require(name)
}

/// Applies `SDT_KERNEL_LEVEL` once per test binary and returns the level sessions take; a
/// name that is no level, or a level this CPU lacks, fails the test.
pub fn kernel_level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let level = sdt_host::level::apply_env().unwrap_or_else(|e| panic!("{e}"));
        eprintln!("kernel level {level}");
        level
    })
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
    convert(ck, arch, opt, &Default::default())
        .unwrap_or_else(|e| panic!("conversion failed: {e}"))
        .2
}

/// Largest |x| of a tensor.
pub fn absmax(data: &[f32]) -> f32 {
    data.iter().fold(0f32, |m, &x| m.max(x.abs()))
}
