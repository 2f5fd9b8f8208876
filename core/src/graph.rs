//! The graph description stored in a model blob (postcard-encoded, fixed capacity, no heap).
//!
//! A model is a flat list of [`Node`]s over a table of [`TensorDesc`]s. Weights and per-channel
//! requantization parameters are not in the graph: nodes point into the blob's data section with
//! [`Section`]s, so they are borrowed in place.

use serde::{Deserialize, Serialize};

/// Most tensors a graph may declare.
pub const MAX_TENSORS: usize = 256;
/// Most nodes a graph may declare.
pub const MAX_NODES: usize = 256;
/// Most input channels (each has its own zero point).
pub const MAX_INPUT_CHANNELS: usize = 16;
/// Largest spike count D a model may use.
pub const MAX_D: u8 = 15;

/// Index into [`Graph::tensors`].
pub type TensorId = u16;

/// A byte range in the blob's data section.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Section {
    pub offset: u32,
    pub len: u32,
}

/// Element kind of a tensor; all tensors are stored HWC (channels last).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Quantized image (or other real-valued) input: `i8` (`wide == false`) or `i16`, with
    /// per-channel zero points.
    Input { wide: bool },
    /// Spike counts `0..=D`, `u8`.
    Spikes,
    /// Fixed-point values (`i32`, `frac` fractional bits): the residual stream or logits.
    Fixed { frac: u8 },
}

/// Shape and kind of one tensor.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorDesc {
    pub kind: TensorKind,
    pub h: u16,
    pub w: u16,
    pub c: u16,
}

/// Width of the stored integer weights.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightBits {
    I8,
    I16,
    /// Two weights per byte (see [`crate::int4`]); unpacked to `i8` per layer at run time.
    I4,
}

impl WeightBits {
    /// Bits per weight.
    pub const fn bits(self) -> u8 {
        match self {
            WeightBits::I8 => 8,
            WeightBits::I16 => 16,
            WeightBits::I4 => 4,
        }
    }
    /// Bytes `count` stored weights take.
    pub const fn storage_bytes(self, count: usize) -> Option<usize> {
        match self {
            WeightBits::I8 => Some(count),
            WeightBits::I16 => count.checked_mul(2),
            WeightBits::I4 => Some(count.div_ceil(2)),
        }
    }
    /// Largest |weight| the converter writes (symmetric ranges).
    pub const fn max_magnitude(self) -> i32 {
        match self {
            WeightBits::I8 => 127,
            WeightBits::I16 => 32767,
            WeightBits::I4 => 7,
        }
    }
}

/// Convolution geometry (square kernels, symmetric padding).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub kernel: u8,
    pub stride: u8,
    pub pad: u8,
    pub in_c: u16,
    pub out_c: u16,
    /// One filter per channel (`in_c == out_c`), weights `[ky][kx][c]`; otherwise `[ky][kx][in][out]`.
    pub depthwise: bool,
}

impl ConvGeom {
    /// Output size along one axis, or `None` if the kernel does not fit.
    pub fn out_len(&self, input: u16) -> Option<u16> {
        let padded = input as u32 + 2 * self.pad as u32;
        let k = self.kernel as u32;
        if self.stride == 0 || k == 0 || padded < k {
            return None;
        }
        u16::try_from((padded - k) / self.stride as u32 + 1).ok()
    }

    /// Number of weights.
    pub fn weight_count(&self) -> usize {
        let taps = self.kernel as usize * self.kernel as usize;
        if self.depthwise {
            taps * self.out_c as usize
        } else {
            taps * self.in_c as usize * self.out_c as usize
        }
    }
}

/// What a synaptic layer does with its requantized outputs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvOutput {
    /// Spike counts: `round_half_even(clamp(y / 2^frac, 0, D))`.
    Spikes { frac: u8 },
    /// Add `y` into an existing fixed-point tensor (the residual stream).
    Accumulate,
    /// Write `y` into a fixed-point tensor (a new residual stream, or logits).
    Write,
}

/// Order of the linear-attention product; both give the same integers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionOrder {
    /// `(q kᵀ) v`: O(N²·(d + dv)), cheaper for few tokens.
    QkThenV,
    /// `q (kᵀ v)`: O(N·d·dv), cheaper for many tokens.
    KvFirst,
}

/// What a synaptic layer (encoding or convolution) is: tensors, geometry, weights and the
/// per-channel affine map. In the blob its fields follow each other exactly as if written
/// inline in the op (postcard adds no framing), so grouping them changes no byte.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Synapse {
    pub input: TensorId,
    pub output: TensorId,
    pub geom: ConvGeom,
    pub bits: WeightBits,
    pub weights: Section,
    pub affine: Section,
}

/// One operation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Encoding layer: real-valued input times int8 weights (MACs), written as fixed point.
    Encode(Synapse),
    /// Spikes of a fixed-point tensor: `round_half_even(clamp(x, 0, D))`.
    Spike { input: TensorId, output: TensorId },
    /// Synaptic convolution of spikes (1×1, k×k, depthwise, or a linear layer on 1×1).
    Conv { synapse: Synapse, mode: ConvOutput },
    /// Linear attention of spike tensors `q`, `k` (C channels) and `v` (Cv channels), per head,
    /// followed by one affine map to spikes (`frac` fractional bits before rounding).
    Attention {
        q: TensorId,
        k: TensorId,
        v: TensorId,
        output: TensorId,
        heads: u16,
        order: AttentionOrder,
        affine: Section,
        frac: u8,
    },
    /// Spatial mean of a fixed-point tensor, then spikes (Norm = 1): a `1×1×C` spike tensor.
    MeanSpike { input: TensorId, output: TensorId },
}

impl Op {
    /// The synaptic layer of an encoding or convolution node.
    pub const fn synapse(&self) -> Option<&Synapse> {
        match self {
            Op::Encode(s) | Op::Conv { synapse: s, .. } => Some(s),
            _ => None,
        }
    }

    /// [`Op::synapse`], to change it.
    pub fn synapse_mut(&mut self) -> Option<&mut Synapse> {
        match self {
            Op::Encode(s) | Op::Conv { synapse: s, .. } => Some(s),
            _ => None,
        }
    }

    /// How a synaptic node writes its output: an encoding layer writes fixed point.
    pub const fn conv_output(&self) -> Option<ConvOutput> {
        match self {
            Op::Encode(_) => Some(ConvOutput::Write),
            Op::Conv { mode, .. } => Some(*mode),
            _ => None,
        }
    }
}

/// A node: an op plus where it came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub op: Op,
    /// Module path in the official model (UTF-8 in the names section).
    pub name: Section,
    /// Index of the top-level block this node belongs to (for block-by-block checks).
    pub block: u16,
}

/// How real-valued input is quantized to the `i8` input tensor (host side uses `scale`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Real value of one input step: `x ≈ scale · (q − zero_point)`.
    pub scale: f32,
    /// Inputs are clamped to `±max_abs` before the encoding layer (part of the bounds proof).
    pub max_abs: u16,
    pub zero_points: heapless::Vec<i16, MAX_INPUT_CHANNELS>,
}

/// Architecture facts kept for inspection (not needed to run).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchInfo {
    pub embed: [u16; 4],
    pub blocks3: u16,
    pub blocks4: u16,
    pub params: u32,
}

/// The whole graph.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Graph {
    /// Largest spike count.
    pub d: u8,
    pub input: TensorId,
    pub logits: TensorId,
    pub input_spec: InputSpec,
    pub arch: ArchInfo,
    pub tensors: heapless::Vec<TensorDesc, MAX_TENSORS>,
    pub nodes: heapless::Vec<Node, MAX_NODES>,
    /// `\n`-separated UTF-8 class labels (may be empty).
    pub labels: Section,
}
