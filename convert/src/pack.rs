//! `sdt-convert pack` as a function: every option of the command line, with its defaults (the
//! CLI and the Python `sdt.convert` both call this).

use std::path::{Path, PathBuf};

use sdt_core::graph::WeightBits;

use crate::error::{ConvertError, Result};
use crate::meta::{InputFacts, MetaOptions};
use crate::{checkpoint, Arch, ArchOptions, LowerOptions, Lowered};
use sdt_host::AlignedBlob;

/// Options of a conversion.
#[derive(Clone, Debug)]
pub struct PackOptions {
    /// Weight width: 4, 8 or 16 bits.
    pub weight_bits: u8,
    /// Input height and width (not visible in the weights).
    pub input_size: usize,
    pub heads: usize,
    /// Largest spike count D.
    pub d: u8,
    /// Largest |value| of the normalized input; sets the input step.
    pub input_absmax: f32,
    /// Input width: 8 (`i8`) or 16 (`i16`).
    pub input_bits: u8,
    /// Take `input_absmax` from the `input` tensor of this calibration file instead.
    pub calibration: Option<PathBuf>,
    /// Shift every pre-spike value by this many spike units.
    pub spike_bias: f64,
    /// Class names, input framing or normalization to store in the blob.
    pub meta: MetaOptions,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            weight_bits: 8,
            input_size: 224,
            heads: 8,
            d: 4,
            input_absmax: 3.0,
            input_bits: 8,
            calibration: None,
            spike_bias: 0.0,
            meta: MetaOptions::default(),
        }
    }
}

/// Converts the checkpoint at `path` with `opt`.
pub fn pack(path: &Path, opt: &PackOptions) -> Result<(Arch, Lowered, AlignedBlob)> {
    pack_with_progress(path, opt, &mut |_| {})
}

/// [`pack`], telling `stage` the name of each step as it starts.
pub fn pack_with_progress(
    path: &Path,
    opt: &PackOptions,
    stage: &mut dyn FnMut(&str),
) -> Result<(Arch, Lowered, AlignedBlob)> {
    // Bad options are reported before a large checkpoint is read.
    requested_weight_bits(opt)?;
    stage("reading the checkpoint");
    let ck = checkpoint::load(path)?;
    pack_checkpoint(&ck, opt, stage)
}

/// The weight format `opt` asks for; an error for unsupported weight or input bits.
fn requested_weight_bits(opt: &PackOptions) -> Result<WeightBits> {
    let bits = match opt.weight_bits {
        4 => WeightBits::I4,
        8 => WeightBits::I8,
        16 => WeightBits::I16,
        b => {
            return Err(ConvertError::Invalid(format!(
                "weight bits must be 4, 8 or 16, not {b}"
            )))
        }
    };
    if !matches!(opt.input_bits, 8 | 16) {
        return Err(ConvertError::Invalid(format!(
            "input bits must be 8 or 16, not {}",
            opt.input_bits
        )));
    }
    Ok(bits)
}

/// [`pack_with_progress`] for a checkpoint already loaded (e.g. to show its
/// [`origin`](checkpoint::Checkpoint::origin) first).
pub fn pack_checkpoint(
    ck: &checkpoint::Checkpoint,
    opt: &PackOptions,
    stage: &mut dyn FnMut(&str),
) -> Result<(Arch, Lowered, AlignedBlob)> {
    let weight_bits = requested_weight_bits(opt)?;
    let input_absmax = match &opt.calibration {
        Some(cal) => checkpoint::load(cal)?
            .get("input")?
            .data
            .iter()
            .fold(0f32, |m, &x| m.max(x.abs())),
        None => opt.input_absmax,
    };
    let arch = ArchOptions {
        heads: opt.heads,
        d: opt.d,
        input_h: opt.input_size,
        input_w: opt.input_size,
    };
    let lower = LowerOptions {
        weight_bits,
        input_absmax,
        wide_input: opt.input_bits == 16,
        spike_bias: opt.spike_bias,
    };
    stage("inferring the architecture");
    let arch = Arch::infer(ck, arch)?;
    stage("lowering: folding BatchNorm, quantizing, proving bounds");
    let lowered = crate::lower(ck, &arch, lower)?;
    let size = u16::try_from(opt.input_size)
        .map_err(|_| ConvertError::Invalid(format!("input size {}", opt.input_size)))?;
    let facts = InputFacts {
        size: (size, size),
        channels: u16::try_from(arch.in_channels).unwrap_or(u16::MAX),
        d: opt.d,
    };
    let meta = opt.meta.apply(Default::default(), facts)?;
    stage("assembling and validating the blob");
    let blob = sdt_host::blob::assemble(&lowered.graph, &meta, &lowered.data)?;
    Ok((arch, lowered, blob))
}
