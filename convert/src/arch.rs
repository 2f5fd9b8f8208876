//! The SDT-V3 classification architecture, inferred from a state dict's names and shapes.

use std::collections::BTreeSet;

use crate::checkpoint::Checkpoint;
use crate::error::{ConvertError, Result};

/// Everything needed to lower a `Spiking_vit_MetaFormer_Spike_SepConv` checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    /// `embed_dim` (stage widths); the first stage runs at `embed[0] / 2`.
    pub embed: [usize; 4],
    pub in_channels: usize,
    pub classes: usize,
    pub blocks3: usize,
    pub blocks4: usize,
    /// Not visible in the weights: from the user (official models use 8).
    pub heads: usize,
    /// Largest spike count (official MultiSpike: 4).
    pub d: u8,
    pub input_h: usize,
    pub input_w: usize,
}

/// Options the weights cannot tell.
#[derive(Clone, Copy, Debug)]
pub struct ArchOptions {
    pub heads: usize,
    pub d: u8,
    pub input_h: usize,
    pub input_w: usize,
}

fn dim(ck: &Checkpoint, name: &str, axis: usize) -> Result<usize> {
    let t = ck.get(name)?;
    t.shape.get(axis).copied().ok_or_else(|| {
        ConvertError::Architecture(format!(
            "{name} has shape {:?}, expected axis {axis}",
            t.shape
        ))
    })
}

/// Number of `prefix.N.` module indices present.
fn count_blocks(ck: &Checkpoint, prefix: &str) -> usize {
    let indices: BTreeSet<usize> = ck
        .tensors
        .keys()
        .filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse().ok())
        .collect();
    indices.len()
}

impl Arch {
    pub fn infer(ck: &Checkpoint, opt: ArchOptions) -> Result<Self> {
        let half = dim(ck, "downsample1_1.encode_conv.weight", 0)?;
        let embed = [
            dim(ck, "downsample1_2.encode_conv.weight", 0)?,
            dim(ck, "downsample2.encode_conv.weight", 0)?,
            dim(ck, "downsample3.encode_conv.weight", 0)?,
            dim(ck, "downsample4.encode_conv.weight", 0)?,
        ];
        if embed[0] != 2 * half {
            return Err(ConvertError::Architecture(format!(
                "downsample1_1 has {half} channels, expected embed[0]/2 = {}",
                embed[0] / 2
            )));
        }
        let arch = Arch {
            embed,
            in_channels: dim(ck, "downsample1_1.encode_conv.weight", 1)?,
            classes: dim(ck, "head.weight", 0)?,
            blocks3: count_blocks(ck, "block3."),
            blocks4: count_blocks(ck, "block4."),
            heads: opt.heads,
            d: opt.d,
            input_h: opt.input_h,
            input_w: opt.input_w,
        };
        for (stage, &c) in embed[2..].iter().enumerate() {
            if opt.heads == 0 || c % opt.heads != 0 {
                return Err(ConvertError::Architecture(format!(
                    "stage {} width {c} is not divisible by {} heads",
                    stage + 3,
                    opt.heads
                )));
            }
        }
        if opt.d == 0 || opt.d > sdt_core::graph::MAX_D {
            return Err(ConvertError::Architecture(format!(
                "D = {} is outside 1..=15",
                opt.d
            )));
        }
        if opt.input_h < 16 || opt.input_w < 16 {
            return Err(ConvertError::Architecture(
                "input must be at least 16×16".into(),
            ));
        }
        Ok(arch)
    }

    /// Parameter count of the official model (weights and biases, not BN running statistics).
    pub fn count_params(ck: &Checkpoint) -> usize {
        ck.tensors
            .iter()
            .filter(|(k, _)| {
                !k.ends_with("running_mean")
                    && !k.ends_with("running_var")
                    && !k.ends_with("num_batches_tracked")
            })
            .map(|(_, t)| t.data.len())
            .sum()
    }
}
