//! Lowering an official SDT-V3 state dict to the integer graph: BatchNorm folding, weight
//! quantization, fixed-point formats and the flat node list `sdt-core` runs.
//!
//! Each synaptic layer becomes `y = a·(Σ W·x + bias − μ) + β` with `a = γ/√(σ²+ε)` and
//! `x = count / Norm`; with `W ≈ s·Wq` this is `y = acc·(a·s/Norm) + (a·(bias − μ) + β)`,
//! `acc = Σ Wq·count` the integer the kernels compute. Formats are chosen afterwards, from the
//! worst-case bound of every value (`D·Σ|Wq|` per accumulator), so nothing can overflow.

use sdt_core::fixed::Affine;
use sdt_core::graph::{
    ArchInfo, ConvGeom, ConvOutput, Graph, InputSpec, Node, Op, Section, Synapse, TensorDesc,
    TensorId, TensorKind, WeightBits,
};
use sdt_core::model::cheaper_attention_order;

use crate::arch::Arch;
use crate::checkpoint::Checkpoint;
use crate::error::{ConvertError, Result};
use crate::quantize::{affine, frac_bits_for, quantize_rows};

const BN_EPS: f64 = 1e-5;
/// Fixed-point limit of fixed tensors (i32).
const FIXED_LIMIT: f64 = i32::MAX as f64;
/// Limit for pre-spike values (only compared, kept well inside i32 for the bias term).
const SPIKE_LIMIT: f64 = (1u64 << 30) as f64;

/// Conversion options.
#[derive(Clone, Copy, Debug)]
pub struct LowerOptions {
    pub weight_bits: WeightBits,
    /// Largest |value| of the real-valued input.
    pub input_absmax: f32,
    /// `i16` input (fine steps, a power of two chosen to keep the first accumulator in
    /// `i32`) instead of `i8` (step `absmax / 127`).
    pub wide_input: bool,
    /// Added to every pre-spike value (in spike units); 0 for a faithful model. A benchmarking
    /// knob that moves firing rates without touching the graph.
    pub spike_bias: f64,
}

/// A lowered model: graph, data section and what each layer became.
pub struct Lowered {
    pub graph: Graph,
    pub data: Vec<u8>,
    pub layers: Vec<LayerReport>,
}

/// One synaptic layer's formats, for `inspect`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerReport {
    pub node: usize,
    pub name: String,
    pub weight_bits: u8,
    pub weights: usize,
    /// Fractional bits of the layer's output (pre-spike value or fixed tensor).
    pub out_frac: u8,
    /// Worst-case |accumulator| over channels.
    pub acc_bound: u64,
}

enum Dest {
    Spikes,
    Fixed(TensorId),
}

/// A synaptic layer whose affine map waits for its output format.
struct Pending {
    node: usize,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    acc_bound: Vec<f64>,
    dest: Dest,
    weights: usize,
}

struct Builder<'c> {
    ck: &'c Checkpoint,
    opt: LowerOptions,
    d: u8,
    tensors: Vec<TensorDesc>,
    nodes: Vec<Node>,
    data: Vec<u8>,
    pending: Vec<Pending>,
    block: u16,
    /// Input step and clamp, fixed when the encoding layer is lowered.
    input_scale: f64,
    input_max_abs: u16,
}

fn too_many(what: &str) -> ConvertError {
    ConvertError::Capacity(format!("too many {what}"))
}

impl<'c> Builder<'c> {
    fn push_data(&mut self, bytes: &[u8]) -> Section {
        while !self.data.len().is_multiple_of(16) {
            self.data.push(0);
        }
        let offset = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        Section {
            offset,
            len: bytes.len() as u32,
        }
    }

    fn tensor(&mut self, kind: TensorKind, h: usize, w: usize, c: usize) -> Result<TensorId> {
        let dims = (u16::try_from(h), u16::try_from(w), u16::try_from(c));
        let (Ok(h), Ok(w), Ok(c)) = dims else {
            return Err(ConvertError::Capacity(format!(
                "tensor {h}×{w}×{c} too large"
            )));
        };
        self.tensors.push(TensorDesc { kind, h, w, c });
        Ok((self.tensors.len() - 1) as TensorId)
    }

    fn node(&mut self, op: Op, name: &str) -> usize {
        let name = self.push_data(name.as_bytes());
        self.nodes.push(Node {
            op,
            name,
            block: self.block,
        });
        self.nodes.len() - 1
    }

    fn desc(&self, id: TensorId) -> TensorDesc {
        self.tensors[id as usize]
    }

    /// `spike(x)` of a fixed tensor, named after the official MultiSpike module.
    fn spike(&mut self, x: TensorId, name: &str) -> Result<TensorId> {
        let t = self.desc(x);
        let y = self.tensor(TensorKind::Spikes, t.h as usize, t.w as usize, t.c as usize)?;
        self.node(
            Op::Spike {
                input: x,
                output: y,
            },
            name,
        );
        Ok(y)
    }

    /// Folds BN into per-channel `a` (scale) and `b` (offset), given the conv bias.
    fn fold_bn(&self, bn: Option<&str>, bias: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let Some(bn) = bn else {
            return Ok((vec![1.0; bias.len()], bias.to_vec()));
        };
        let n = bias.len();
        let get = |p: &str| self.ck.expect_shape(&format!("{bn}.{p}"), &[n]);
        let (g, b, m, v) = (
            get("weight")?,
            get("bias")?,
            get("running_mean")?,
            get("running_var")?,
        );
        let mut a = Vec::with_capacity(n);
        let mut off = Vec::with_capacity(n);
        for (o, &bias_o) in bias.iter().enumerate() {
            let scale = g.data[o] as f64 / (v.data[o] as f64 + BN_EPS).sqrt();
            a.push(scale);
            off.push(scale * (bias_o - m.data[o] as f64) + b.data[o] as f64);
        }
        Ok((a, off))
    }

    /// Adds a synaptic layer reading `input` (real value per count: `input_norm`) and writing
    /// `output` as `dest`. `conv` is the module path of the weights (`.weight`, `.bias`); a spike
    /// count `s` means the real value `s / norm` (pixels use the input scale instead).
    #[allow(clippy::too_many_arguments)]
    fn synapse(
        &mut self,
        input: TensorId,
        output: TensorId,
        geom: ConvGeom,
        conv: &str,
        bn: Option<&str>,
        has_bias: bool,
        dest: Dest,
        norm: f64,
        name: &str,
    ) -> Result<usize> {
        let (k, in_c, out_c) = (
            geom.kernel as usize,
            geom.in_c as usize,
            geom.out_c as usize,
        );
        let per_out = if geom.depthwise { k * k } else { in_c * k * k };
        let w = self.ck.get(&format!("{conv}.weight"))?;
        if w.data.len() != out_c * per_out || w.shape.first() != Some(&out_c) {
            return Err(ConvertError::Checkpoint(
                crate::checkpoint::CheckpointError::ShapeMismatch {
                    name: format!("{conv}.weight"),
                    expected: vec![out_c, per_out / (k * k), k, k],
                    found: w.shape.clone(),
                },
            ));
        }
        let bias: Vec<f64> = if has_bias {
            self.ck
                .expect_shape(&format!("{conv}.bias"), &[out_c])?
                .data
                .iter()
                .map(|&x| x as f64)
                .collect()
        } else {
            vec![0.0; out_c]
        };
        let is_input = matches!(self.desc(input).kind, TensorKind::Input { .. });
        let bits = self.opt.weight_bits;
        let rows: Vec<&[f32]> = w.data.chunks_exact(per_out).collect();
        let (q, scales) = quantize_rows(&rows, bits);
        // Torch [out][in][ky][kx] → ours [ky][kx][in][out] (depthwise [ky][kx][c]).
        let mut packed = vec![0i32; out_c * per_out];
        for (o, row) in q.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let (i, tap) = (j / (k * k), j % (k * k));
                let at = if geom.depthwise {
                    tap * out_c + o
                } else {
                    (tap * in_c + i) * out_c + o
                };
                packed[at] = v;
            }
        }
        let bytes: Vec<u8> = match bits {
            WeightBits::I8 => packed.iter().map(|&v| v as i8 as u8).collect(),
            WeightBits::I16 => packed
                .iter()
                .flat_map(|&v| (v as i16).to_le_bytes())
                .collect(),
            // Two per byte, the even weight in the low nibble (`sdt_core::int4`).
            WeightBits::I4 => packed
                .chunks(2)
                .map(|p| (p[0] as u8 & 0x0f) | ((p.get(1).copied().unwrap_or(0) as u8 & 0x0f) << 4))
                .collect(),
        };
        let weights = self.push_data(&bytes);
        let (input_norm, x_max) = if is_input {
            let widest = q
                .iter()
                .map(|r| r.iter().map(|v| v.unsigned_abs() as u64).sum::<u64>())
                .max()
                .unwrap_or(1)
                .max(1);
            self.choose_input_format(widest)?;
            (self.input_scale, self.input_max_abs as f64)
        } else {
            (1.0 / norm, self.d as f64)
        };
        let (a, mut beta) = self.fold_bn(bn, &bias)?;
        if matches!(dest, Dest::Spikes) {
            beta.iter_mut().for_each(|b| *b += self.opt.spike_bias);
        }
        let alpha: Vec<f64> = a
            .iter()
            .zip(&scales)
            .map(|(a, s)| a * s * input_norm)
            .collect();
        let acc_bound = q
            .iter()
            .map(|r| r.iter().map(|v| v.unsigned_abs() as f64).sum::<f64>() * x_max)
            .collect();
        let synapse = Synapse {
            input,
            output,
            geom,
            bits,
            weights,
            affine: Section::default(),
        };
        let op = if is_input {
            Op::Encode(synapse)
        } else {
            let mode = match dest {
                Dest::Spikes => ConvOutput::Spikes { frac: 0 },
                Dest::Fixed(_) if self.nodes.iter().any(|n| writes(&n.op, output)) => {
                    ConvOutput::Accumulate
                }
                Dest::Fixed(_) => ConvOutput::Write,
            };
            Op::Conv { synapse, mode }
        };
        let node = self.node(op, name);
        self.pending.push(Pending {
            node,
            alpha,
            beta,
            acc_bound,
            dest,
            weights: out_c * per_out,
        });
        Ok(node)
    }

    /// Picks the input step so that `Σ|Wq| · max_abs` (the first accumulator) fits `i32`.
    fn choose_input_format(&mut self, widest_column: u64) -> Result<()> {
        let absmax = (self.opt.input_absmax as f64).max(1e-6);
        if !self.opt.wide_input {
            self.input_scale = absmax / 127.0;
            self.input_max_abs = 127;
            return Ok(());
        }
        let budget = (i32::MAX as u64 / widest_column).min(i16::MAX as u64);
        // A power-of-two step keeps dyadic inputs (e.g. bilinear upscales) exact.
        let scale = 2f64.powf((absmax / budget as f64).log2().ceil());
        let max_abs = (absmax / scale).ceil();
        if budget < 2 || max_abs > budget as f64 {
            return Err(ConvertError::Range {
                layer: "input".into(),
                reason: "no i16 input step fits the first accumulator".into(),
            });
        }
        self.input_scale = scale;
        self.input_max_abs = max_abs as u16;
        Ok(())
    }

    fn conv_geom(
        &self,
        x: TensorId,
        out_c: usize,
        kernel: usize,
        stride: usize,
        depthwise: bool,
    ) -> ConvGeom {
        ConvGeom {
            kernel: kernel as u8,
            stride: stride as u8,
            pad: (kernel / 2) as u8,
            in_c: self.desc(x).c,
            out_c: out_c as u16,
            depthwise,
        }
    }

    /// A synaptic conv from spikes `x` to a new spike tensor.
    fn conv_to_spikes(
        &mut self,
        x: TensorId,
        out_c: usize,
        layer: Layer<'_>,
        spike: &str,
    ) -> Result<TensorId> {
        let t = self.desc(x);
        let y = self.tensor(TensorKind::Spikes, t.h as usize, t.w as usize, out_c)?;
        let geom = self.conv_geom(x, out_c, layer.kernel, 1, layer.depthwise);
        let norm = self.d as f64;
        let name = format!("{}->{spike}", layer.conv);
        let (conv, bn, bias) = (layer.conv, Some(layer.bn), layer.bias);
        self.synapse(x, y, geom, conv, bn, bias, Dest::Spikes, norm, &name)?;
        Ok(y)
    }

    /// A synaptic conv from spikes `x` added into the residual stream `res`.
    fn conv_into(&mut self, x: TensorId, res: TensorId, layer: Layer<'_>) -> Result<()> {
        let out_c = self.desc(res).c as usize;
        let geom = self.conv_geom(x, out_c, layer.kernel, 1, layer.depthwise);
        let norm = self.d as f64;
        let (conv, bn, bias) = (layer.conv, Some(layer.bn), layer.bias);
        self.synapse(x, res, geom, conv, bn, bias, Dest::Fixed(res), norm, conv)?;
        Ok(())
    }

    /// `SepConv_Spike`: spike → 1×1 (2C) → spike → depthwise k×k → spike → 1×1 (C), added.
    fn sepconv(&mut self, res: TensorId, p: &str, kernel: usize) -> Result<()> {
        let c = self.desc(res).c as usize;
        let s = self.spike(res, &format!("{p}.spike1"))?;
        let a = self.conv_to_spikes(
            s,
            2 * c,
            Layer::new(&format!("{p}.pwconv1.0"), &format!("{p}.pwconv1.1")),
            &format!("{p}.spike2"),
        )?;
        let b = self.conv_to_spikes(
            a,
            2 * c,
            Layer::new(&format!("{p}.dwconv.0"), &format!("{p}.dwconv.1"))
                .kernel(kernel)
                .depthwise(),
            &format!("{p}.spike3"),
        )?;
        self.conv_into(
            b,
            res,
            Layer::new(&format!("{p}.pwconv2.0"), &format!("{p}.pwconv2.1")),
        )
    }

    /// `MS_ConvBlock_spike_SepConv`.
    fn conv_block(&mut self, res: TensorId, p: &str) -> Result<()> {
        let c = self.desc(res).c as usize;
        self.sepconv(res, &format!("{p}.Conv"), 7)?;
        let s = self.spike(res, &format!("{p}.spike1"))?;
        let h = self.conv_to_spikes(
            s,
            4 * c,
            Layer::new(&format!("{p}.conv1"), &format!("{p}.bn1")).kernel(3),
            &format!("{p}.spike2"),
        )?;
        self.conv_into(
            h,
            res,
            Layer::new(&format!("{p}.conv2"), &format!("{p}.bn2")).kernel(3),
        )
    }

    /// `MS_Block_Spike_SepConv`: SepConv (k3), linear attention, MLP, each added.
    fn transformer_block(&mut self, res: TensorId, p: &str, heads: usize) -> Result<()> {
        let c = self.desc(res).c as usize;
        self.sepconv(res, &format!("{p}.conv"), 3)?;
        let a = format!("{p}.attn");
        let s = self.spike(res, &format!("{a}.head_spike"))?;
        let q = self.conv_to_spikes(
            s,
            c,
            Layer::new(&format!("{a}.q_conv.0"), &format!("{a}.q_conv.1")),
            &format!("{a}.q_spike"),
        )?;
        let k = self.conv_to_spikes(
            s,
            c,
            Layer::new(&format!("{a}.k_conv.0"), &format!("{a}.k_conv.1")),
            &format!("{a}.k_spike"),
        )?;
        let v = self.conv_to_spikes(
            s,
            4 * c,
            Layer::new(&format!("{a}.v_conv.0"), &format!("{a}.v_conv.1")),
            &format!("{a}.v_spike"),
        )?;
        let t = self.desc(v);
        let out = self.tensor(TensorKind::Spikes, t.h as usize, t.w as usize, t.c as usize)?;
        let tokens = t.h as usize * t.w as usize;
        let (d_head, dv) = (c / heads, 4 * c / heads);
        let order = cheaper_attention_order(tokens, d_head, dv);
        let op = Op::Attention {
            q,
            k,
            v,
            output: out,
            heads: heads as u16,
            order,
            affine: Section::default(),
            frac: 0,
        };
        let node = self.node(op, &format!("{a}->{a}.attn_spike"));
        let d = self.d as f64;
        // (q/D)(k/D)ᵀ(v/D) · 2/√d_head.
        let alpha = 2.0 / (d_head as f64).sqrt() / (d * d * d);
        let s_bound = d_head as f64 * d * tokens as f64 * d * d;
        self.pending.push(Pending {
            node,
            alpha: vec![alpha],
            beta: vec![self.opt.spike_bias],
            acc_bound: vec![s_bound],
            dest: Dest::Spikes,
            weights: 0,
        });
        self.conv_into(
            out,
            res,
            Layer::new(&format!("{a}.proj_conv.0"), &format!("{a}.proj_conv.1")),
        )?;
        let m = format!("{p}.mlp");
        let s = self.spike(res, &format!("{m}.fc1_spike"))?;
        let h = self.conv_to_spikes(
            s,
            4 * c,
            Layer::new(&format!("{m}.fc1_conv"), &format!("{m}.fc1_bn")).with_bias(),
            &format!("{m}.fc2_spike"),
        )?;
        self.conv_into(
            h,
            res,
            Layer::new(&format!("{m}.fc2_conv"), &format!("{m}.fc2_bn")).with_bias(),
        )
    }

    /// `MS_DownSampling` after the first: spike → conv k3 (bias) + BN → a new residual stream.
    fn downsample(
        &mut self,
        res: TensorId,
        p: &str,
        out_c: usize,
        stride: usize,
    ) -> Result<TensorId> {
        let s = self.spike(res, &format!("{p}.encode_spike"))?;
        let geom = self.conv_geom(s, out_c, 3, stride, false);
        let t = self.desc(s);
        let (h, w) = (geom.out_len(t.h), geom.out_len(t.w));
        let (Some(h), Some(w)) = (h, w) else {
            return Err(ConvertError::Architecture(format!("{p}: input too small")));
        };
        let y = self.tensor(TensorKind::Fixed { frac: 0 }, h as usize, w as usize, out_c)?;
        let conv = format!("{p}.encode_conv");
        let norm = self.d as f64;
        self.synapse(
            s,
            y,
            geom,
            &conv,
            Some(&format!("{p}.encode_bn")),
            true,
            Dest::Fixed(y),
            norm,
            &conv,
        )?;
        Ok(y)
    }

    /// Chooses every format and writes every pending affine map.
    fn finish_formats(&mut self) -> Result<Vec<LayerReport>> {
        // Worst case of each fixed tensor: the sum of everything written or added into it.
        let mut fixed_bound = vec![0f64; self.tensors.len()];
        for p in &self.pending {
            if let Dest::Fixed(t) = p.dest {
                fixed_bound[t as usize] += worst(p);
            }
        }
        let mut fixed_frac = vec![0u8; self.tensors.len()];
        for (id, t) in self.tensors.iter_mut().enumerate() {
            if let TensorKind::Fixed { frac } = &mut t.kind {
                *frac = frac_bits_for(fixed_bound[id], FIXED_LIMIT, 24).ok_or_else(|| {
                    ConvertError::Range {
                        layer: format!("tensor {id}"),
                        reason: format!(
                            "values up to {:.3e} do not fit a 32-bit fixed point",
                            fixed_bound[id]
                        ),
                    }
                })?;
                fixed_frac[id] = *frac;
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let mut reports = Vec::new();
        for p in &pending {
            let name = self.node_name(p.node);
            let frac = match p.dest {
                Dest::Fixed(t) => fixed_frac[t as usize],
                Dest::Spikes => frac_bits_for(worst(p) + self.d as f64 + 2.0, SPIKE_LIMIT, 24)
                    .ok_or_else(|| ConvertError::Range {
                        layer: name.clone(),
                        reason: "pre-spike values too large".into(),
                    })?,
            };
            let unit = 2f64.powi(frac as i32);
            let mut params = Vec::with_capacity(p.alpha.len());
            for o in 0..p.alpha.len() {
                let mut offset = p.beta[o] * unit;
                if let Dest::Spikes = p.dest {
                    // Beyond this the spike saturates anyway; keeps the bias inside i32.
                    let reach = (p.alpha[o].abs() * p.acc_bound[o] + self.d as f64 + 2.0) * unit;
                    offset = offset.clamp(-reach, reach);
                }
                params.push(affine(p.alpha[o] * unit, offset).ok_or_else(|| {
                    ConvertError::Range {
                        layer: name.clone(),
                        reason: format!(
                            "channel {o}: scale {:.3e} does not fit a 32-bit multiplier",
                            p.alpha[o] * unit
                        ),
                    }
                })?);
            }
            let section = self.push_data(bytemuck::cast_slice::<Affine, u8>(&params));
            set_affine(&mut self.nodes[p.node].op, section, frac);
            reports.push(LayerReport {
                node: p.node,
                name,
                weight_bits: self.opt.weight_bits.bits(),
                weights: p.weights,
                out_frac: frac,
                acc_bound: p.acc_bound.iter().fold(0f64, |m, &b| m.max(b)) as u64,
            });
        }
        Ok(reports)
    }

    fn node_name(&self, node: usize) -> String {
        let s = self.nodes[node].name;
        String::from_utf8_lossy(&self.data[s.offset as usize..(s.offset + s.len) as usize])
            .into_owned()
    }
}

/// Worst |y| of a pending layer in real units.
fn worst(p: &Pending) -> f64 {
    (0..p.alpha.len())
        .map(|o| p.alpha[o].abs() * p.acc_bound[o] + p.beta[o].abs())
        .fold(0.0, f64::max)
}

/// A synaptic layer of the checkpoint: its conv and BatchNorm parameter prefixes and its
/// shape. By default 1×1, dense, without bias; the builder methods say otherwise (no
/// positional booleans at the call sites).
#[derive(Clone, Copy, Debug)]
struct Layer<'a> {
    conv: &'a str,
    bn: &'a str,
    kernel: usize,
    depthwise: bool,
    bias: bool,
}

impl<'a> Layer<'a> {
    fn new(conv: &'a str, bn: &'a str) -> Self {
        Layer {
            conv,
            bn,
            kernel: 1,
            depthwise: false,
            bias: false,
        }
    }

    fn kernel(self, kernel: usize) -> Self {
        Layer { kernel, ..self }
    }

    fn depthwise(self) -> Self {
        Layer {
            depthwise: true,
            ..self
        }
    }

    fn with_bias(self) -> Self {
        Layer { bias: true, ..self }
    }
}

fn writes(op: &Op, t: TensorId) -> bool {
    sdt_core::model::node_io(op).1 == t
}

fn set_affine(op: &mut Op, section: Section, out_frac: u8) {
    match op {
        Op::Encode(synapse) => synapse.affine = section,
        Op::Conv { synapse, mode } => {
            synapse.affine = section;
            if let ConvOutput::Spikes { frac } = mode {
                *frac = out_frac;
            }
        }
        Op::Attention { affine, frac, .. } => {
            *affine = section;
            *frac = out_frac;
        }
        Op::Spike { .. } | Op::MeanSpike { .. } => {}
    }
}

/// Lowers a checkpoint of the official classification model.
pub fn lower(ck: &Checkpoint, arch: &Arch, opt: LowerOptions) -> Result<Lowered> {
    ck.check_finite()?;
    let mut b = Builder {
        ck,
        opt,
        d: arch.d,
        tensors: vec![],
        nodes: vec![],
        data: vec![],
        pending: vec![],
        block: 0,
        input_scale: 1.0,
        input_max_abs: 127,
    };
    let [c0, c1, c2, c3] = arch.embed;
    let input = b.tensor(
        TensorKind::Input {
            wide: opt.wide_input,
        },
        arch.input_h,
        arch.input_w,
        arch.in_channels,
    )?;

    // Block 0: the encoding layer (pixels × weights, real-valued input).
    let geom = ConvGeom {
        kernel: 7,
        stride: 2,
        pad: 3,
        in_c: arch.in_channels as u16,
        out_c: (c0 / 2) as u16,
        depthwise: false,
    };
    let (h, w) = (
        geom.out_len(arch.input_h as u16),
        geom.out_len(arch.input_w as u16),
    );
    let (Some(h), Some(w)) = (h, w) else {
        return Err(ConvertError::Architecture("input too small".into()));
    };
    let mut res = b.tensor(
        TensorKind::Fixed { frac: 0 },
        h as usize,
        w as usize,
        c0 / 2,
    )?;
    b.synapse(
        input,
        res,
        geom,
        "downsample1_1.encode_conv",
        Some("downsample1_1.encode_bn"),
        true,
        Dest::Fixed(res),
        1.0,
        "downsample1_1.encode_conv",
    )?;

    let next_block = |b: &mut Builder<'_>| b.block += 1;
    next_block(&mut b);
    b.conv_block(res, "ConvBlock1_1.0")?;
    next_block(&mut b);
    res = b.downsample(res, "downsample1_2", c0, 2)?;
    next_block(&mut b);
    b.conv_block(res, "ConvBlock1_2.0")?;
    next_block(&mut b);
    res = b.downsample(res, "downsample2", c1, 2)?;
    next_block(&mut b);
    b.conv_block(res, "ConvBlock2_1.0")?;
    next_block(&mut b);
    b.conv_block(res, "ConvBlock2_2.0")?;
    next_block(&mut b);
    res = b.downsample(res, "downsample3", c2, 2)?;
    for j in 0..arch.blocks3 {
        next_block(&mut b);
        b.transformer_block(res, &format!("block3.{j}"), arch.heads)?;
    }
    next_block(&mut b);
    res = b.downsample(res, "downsample4", c3, 1)?;
    for j in 0..arch.blocks4 {
        next_block(&mut b);
        b.transformer_block(res, &format!("block4.{j}"), arch.heads)?;
    }
    // Head: spatial mean → MultiSpike(Norm = 1) → Linear.
    next_block(&mut b);
    let pooled = b.tensor(TensorKind::Spikes, 1, 1, c3)?;
    b.node(
        Op::MeanSpike {
            input: res,
            output: pooled,
        },
        "spike",
    );
    let logits = b.tensor(TensorKind::Fixed { frac: 0 }, 1, 1, arch.classes)?;
    let geom = ConvGeom {
        kernel: 1,
        stride: 1,
        pad: 0,
        in_c: c3 as u16,
        out_c: arch.classes as u16,
        depthwise: false,
    };
    // The head's MultiSpike uses Norm = 1: a count is its own value.
    b.synapse(
        pooled,
        logits,
        geom,
        "head",
        None,
        true,
        Dest::Fixed(logits),
        1.0,
        "head",
    )?;

    let layers = b.finish_formats()?;
    let graph = Graph {
        d: arch.d,
        input,
        logits,
        input_spec: InputSpec {
            scale: b.input_scale as f32,
            max_abs: b.input_max_abs,
            zero_points: heapless::Vec::from_slice(&vec![0i16; arch.in_channels])
                .map_err(|_| too_many("input channels"))?,
        },
        arch: ArchInfo {
            embed: [c0 as u16, c1 as u16, c2 as u16, c3 as u16],
            blocks3: arch.blocks3 as u16,
            blocks4: arch.blocks4 as u16,
            params: Arch::count_params(ck) as u32,
        },
        tensors: heapless::Vec::from_slice(&b.tensors).map_err(|_| too_many("tensors"))?,
        nodes: heapless::Vec::from_slice(&b.nodes).map_err(|_| too_many("nodes"))?,
        labels: Section::default(),
    };
    Ok(Lowered {
        graph,
        data: b.data,
        layers,
    })
}
