//! Which layers of a model go to the NPU, as which products, in which tiles.

use sdt_core::engine::Role;
use sdt_core::graph::{AttentionOrder, Op, Section, Synapse, WeightBits};
use sdt_core::Model;

use crate::tiling::{tiles, Limits, Tile};
use crate::RkError;

/// Base of the digits an `i32` operand is split into: digits `0..128` are valid int8.
pub const DIGIT_BITS: u32 = 7;

/// How a product's B reaches the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BSource {
    /// The node's int8 weights, packed once at load.
    Weights(Section),
    /// Spike counts (attention's `v`), packed every run.
    Spikes,
    /// Non-negative `i32` (attention's `kᵀv`) as this many base-128 digits placed side by
    /// side along N, packed every run; `C = Σ_j 128^j · C_j` on the CPU (exact: a ring).
    Digits(usize),
}

/// One device product of a layer.
#[derive(Clone, Debug)]
pub struct ProductPlan {
    pub role: Role,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub source: BSource,
    pub tiles: Vec<Tile>,
}

impl ProductPlan {
    /// A product of `m×k` by `k×n`, tiled for `limits` (digits widen N on the device).
    pub fn new(
        role: Role,
        [m, k, n]: [usize; 3],
        source: BSource,
        limits: &Limits,
    ) -> Result<Self, RkError> {
        let mut p = ProductPlan {
            role,
            m,
            k,
            n,
            source,
            tiles: Vec::new(),
        };
        p.tiles = tiles(m, k, p.device_n(), limits)?;
        Ok(p)
    }

    /// N as the device sees it (digits side by side).
    pub fn device_n(&self) -> usize {
        match self.source {
            BSource::Digits(d) => self.n * d,
            _ => self.n,
        }
    }

    /// Multiply-accumulates the device does, padding included.
    pub fn device_macs(&self) -> u64 {
        self.tiles
            .iter()
            .map(|t| (t.padded.m * t.padded.k * t.padded.n) as u64)
            .sum()
    }
}

/// Where a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Npu,
    /// On the CPU engine, and why.
    Cpu(&'static str),
}

/// One node of the model.
#[derive(Clone, Debug)]
pub struct LayerPlan {
    pub node: usize,
    pub name: String,
    pub op: String,
    pub placement: Placement,
    /// The NPU products (empty on the CPU).
    pub products: Vec<ProductPlan>,
}

/// Plans every node of `model` for tiles within `limits`.
pub fn plan(model: &Model<'_>, limits: &Limits) -> Result<Vec<LayerPlan>, RkError> {
    limits.validate()?;
    let d = model.d() as u64;
    let mut out = Vec::with_capacity(model.nodes().len());
    for (i, node) in model.nodes().iter().enumerate() {
        let mut layer = LayerPlan {
            node: i,
            name: model.node_name(i).to_string(),
            op: String::new(),
            placement: Placement::Cpu("no matrix product"),
            products: Vec::new(),
        };
        match node.op {
            Op::Encode(Synapse { geom, .. }) => {
                layer.op = format!("encode k{} s{}", geom.kernel, geom.stride);
                layer.placement = Placement::Cpu("encoding layer: pixels, not spikes");
            }
            Op::Conv {
                synapse:
                    Synapse {
                        input,
                        geom,
                        bits,
                        weights,
                        ..
                    },
                ..
            } => {
                let t = model.tensor(input);
                let pointwise = geom.kernel == 1 && geom.stride == 1 && geom.pad == 0;
                layer.op = if geom.depthwise {
                    format!("depthwise k{} s{}", geom.kernel, geom.stride)
                } else {
                    format!("conv k{} s{}", geom.kernel, geom.stride)
                };
                layer.placement = if geom.depthwise {
                    Placement::Cpu("depthwise")
                } else if !pointwise {
                    Placement::Cpu("k×k convolution")
                } else if bits != WeightBits::I8 {
                    Placement::Cpu("int16 weights")
                } else {
                    let (m, k, n) = (
                        t.h as usize * t.w as usize,
                        geom.in_c as usize,
                        geom.out_c as usize,
                    );
                    let source = BSource::Weights(weights);
                    let p = ProductPlan::new(Role::Synapse, [m, k, n], source, limits)?;
                    layer.products.push(p);
                    Placement::Npu
                };
            }
            Op::Attention {
                q, v, heads, order, ..
            } => {
                let (tq, tv) = (model.tensor(q), model.tensor(v));
                let heads = heads as usize;
                let tokens = tq.h as usize * tq.w as usize;
                let (dq, dv) = (tq.c as usize / heads, tv.c as usize / heads);
                layer.op = format!("attention {heads} heads, d {dq}, dv {dv}");
                if order != AttentionOrder::KvFirst {
                    layer.placement = Placement::Cpu("(q kᵀ) v order");
                } else {
                    let digits = digits_for(tokens as u64 * d * d);
                    for h in 0..heads as u16 {
                        let kv = ProductPlan::new(
                            Role::KeyValue { head: h },
                            [dq, tokens, dv],
                            BSource::Spikes,
                            limits,
                        )?;
                        let query = ProductPlan::new(
                            Role::Query { head: h },
                            [tokens, dq, dv],
                            BSource::Digits(digits),
                            limits,
                        )?;
                        layer.products.extend([kv, query]);
                    }
                    layer.placement = Placement::Npu;
                }
            }
            Op::Spike { .. } => layer.op = "spike".into(),
            Op::MeanSpike { .. } => layer.op = "mean, spike".into(),
        }
        out.push(layer);
    }
    Ok(out)
}

/// Base-128 digits needed for values up to `bound`.
pub fn digits_for(bound: u64) -> usize {
    let mut digits = 1;
    while digits < 5 && bound >> (DIGIT_BITS as usize * digits) != 0 {
        digits += 1;
    }
    digits
}
