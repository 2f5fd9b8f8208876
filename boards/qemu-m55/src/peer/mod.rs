//! The dense int8 peer: the blob's graph run with Arm's CMSIS-NN kernels (Cortex-M55, Helium),
//! doing every multiply-accumulate whatever the spikes are.
//!
//! - Convolutions to spikes (1×1, k×k, depthwise): `arm_convolve_wrapper_s8` /
//!   `arm_depthwise_conv_wrapper_s8`, the MultiSpike being the activation clamp `[0, D]` of
//!   CMSIS-NN's per-channel requantization ([`quant`]: equal up to rounding).
//! - Convolutions into the fixed-point residual stream, the encoding layer and the head:
//!   `arm_nn_mat_mult_nt_t_s8_s32` on the spikes (im2col rows for k×k) and our affine map on
//!   its `i32` accumulators: the same integers as our kernels.
//! - Linear attention per head as `q (kᵀ v)`: two `arm_nn_mat_mult_nt_t_s8_s32` products; `kᵀv`
//!   (`i32 ≥ 0`) enters the second as 7-bit limbs (`kv = Σ 128^l · limb_l`), so it stays exact.
//! - Spikes of the residual stream and the spatial mean: plain loops, as in our runtime.
//!
//! Weights are reordered once (ours `[ky][kx][in][out]`, CMSIS-NN's `[out][ky][kx][in]`) when
//! the model is prepared, outside the measured inference.

mod attention;
mod ffi;
mod heap;
mod product;
mod quant;

use core::fmt;

use sdt_core::fixed::{spike_count, spike_count_ratio, Affine};
use sdt_core::graph::{
    AttentionOrder, ConvOutput, Op, Synapse, TensorDesc, TensorId, TensorKind, WeightBits,
    MAX_TENSORS,
};
use sdt_core::Model;

use attention::AttnShape;
use ffi::ConvGeom;
use heap::Heap;
use product::{ProductConv, BLOCK_PIXELS};

/// Why the peer cannot run a model.
#[derive(Clone, Copy, Debug)]
pub enum PeerError {
    /// The peer's DDR region is full.
    OutOfMemory,
    /// Node `node` has something the int8 peer does not run (int4/int16 weights, int16 input,
    /// a depthwise layer into the residual stream, ...).
    Unsupported { node: usize },
    /// CMSIS-NN returned an error status for node `node`.
    Cmsis { node: usize, status: i32 },
    /// The input is not the model's length.
    InputLength,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::OutOfMemory => write!(f, "CMSIS-NN peer: DDR region full"),
            PeerError::Unsupported { node } => {
                write!(f, "CMSIS-NN peer: node {node} is not supported (int8 only)")
            }
            PeerError::Cmsis { node, status } => {
                write!(f, "CMSIS-NN peer: node {node} returned status {status}")
            }
            PeerError::InputLength => write!(f, "CMSIS-NN peer: wrong input length"),
        }
    }
}

/// A tensor's values: spikes and the input as `i8`, fixed point as `i32`.
enum Buf {
    I8(&'static mut [i8]),
    I32(&'static mut [i32]),
}

/// Where a CMSIS-NN convolution's `i8` outputs go.
enum Dest {
    /// Spike counts (the clamp `[0, D]`).
    Spikes,
    /// The residual stream as `i8` in units of `2^-(frac−scale)`, widened into the `i32`
    /// tensor (`<< scale`, added or written): the int8-residual cost model.
    Residual {
        tmp: &'static mut [i8],
        scale: u8,
        accumulate: bool,
    },
}

enum Layer {
    /// A convolution requantized by CMSIS-NN.
    CmsisConv {
        input: TensorId,
        output: TensorId,
        geom: ConvGeom,
        depthwise: bool,
        filter: &'static [i8],
        bias: &'static [i32],
        multiplier: &'static mut [i32],
        shift: &'static mut [i32],
        dest: Dest,
    },
    Product(ProductConv),
    Attention {
        q: TensorId,
        k: TensorId,
        v: TensorId,
        output: TensorId,
        tokens: usize,
        heads: usize,
        d: usize,
        dv: usize,
        affine: Affine,
        frac: u8,
    },
    Spike {
        input: TensorId,
        output: TensorId,
        frac: u8,
    },
    MeanSpike {
        input: TensorId,
        output: TensorId,
        frac: u8,
    },
}

/// Per-node output statistics (for the spike agreement with our runtime).
#[derive(Clone, Copy, Default)]
pub struct NodeSpikes {
    pub spikes: u64,
    pub nonzero: u64,
    pub sites: u64,
    pub macs: u64,
}

/// A model prepared for CMSIS-NN.
pub struct Peer {
    layers: [Option<Layer>; sdt_core::graph::MAX_NODES],
    count: usize,
    tensors: [Option<Buf>; MAX_TENSORS],
    input: TensorId,
    logits: TensorId,
    d: u8,
    /// Per-node dense MAC counts.
    macs: [u64; sdt_core::graph::MAX_NODES],
    /// Scratch: CMSIS-NN buffers, im2col blocks, attention operands.
    scratch: &'static mut [u8],
    scratch_i32: &'static mut [i32],
}

fn conv_geom(model: &Model<'_>, s: &Synapse) -> ConvGeom {
    let (x, y) = (model.tensor(s.input), model.tensor(s.output));
    ConvGeom {
        in_h: x.h as i32,
        in_w: x.w as i32,
        in_c: s.geom.in_c as i32,
        out_h: y.h as i32,
        out_w: y.w as i32,
        out_c: s.geom.out_c as i32,
        kernel: s.geom.kernel as i32,
        stride: s.geom.stride as i32,
        pad: s.geom.pad as i32,
    }
}

fn frac_of(t: &TensorDesc) -> u8 {
    match t.kind {
        TensorKind::Fixed { frac } => frac,
        _ => 0,
    }
}

fn elements(t: &TensorDesc) -> usize {
    t.h as usize * t.w as usize * t.c as usize
}

/// Ours `[ky][kx][in][out]` as CMSIS-NN's `[out][ky][kx][in]` (depthwise `[ky][kx][c]` as is).
fn reorder(heap: &mut Heap, w: &[i8], s: &Synapse) -> Result<&'static [i8], PeerError> {
    let out = heap.alloc(w.len(), 0i8)?;
    if s.geom.depthwise {
        out.copy_from_slice(w);
        return Ok(out);
    }
    let (ci, co) = (s.geom.in_c as usize, s.geom.out_c as usize);
    let taps = w.len() / (ci * co).max(1);
    for t in 0..taps {
        for i in 0..ci {
            for o in 0..co {
                out[(o * taps + t) * ci + i] = w[(t * ci + i) * co + o];
            }
        }
    }
    Ok(out)
}

impl Peer {
    /// Allocates the tensors and reorders the weights of `model` (int8 blobs only). With
    /// `int8_residual`, convolutions into the residual stream also run as CMSIS-NN
    /// convolutions with `i8` outputs (the cost of a deployment whose residual stream is int8;
    /// lossy: it clamps), else exactly as products with our affine maps.
    pub fn prepare(model: &Model<'static>, int8_residual: bool) -> Result<Peer, PeerError> {
        let mut heap = Heap::take().ok_or(PeerError::OutOfMemory)?;
        let g = model.graph();
        let mut tensors: [Option<Buf>; MAX_TENSORS] = core::array::from_fn(|_| None);
        for (id, t) in g.tensors.iter().enumerate() {
            let n = elements(t);
            tensors[id] = Some(match t.kind {
                TensorKind::Input { wide: true } => {
                    return Err(PeerError::Unsupported { node: usize::MAX })
                }
                TensorKind::Input { .. } | TensorKind::Spikes => Buf::I8(heap.alloc(n, 0)?),
                TensorKind::Fixed { .. } => Buf::I32(heap.alloc(n, 0)?),
            });
        }
        let mut layers: [Option<Layer>; sdt_core::graph::MAX_NODES] =
            core::array::from_fn(|_| None);
        let mut macs = [0u64; sdt_core::graph::MAX_NODES];
        let (mut scratch_bytes, mut scratch_words) = (0usize, 0usize);
        let d = model.d();
        for (n, node) in model.nodes().iter().enumerate() {
            let unsupported = PeerError::Unsupported { node: n };
            let layer = match node.op {
                Op::Encode(s) | Op::Conv { synapse: s, .. } => {
                    if s.bits != WeightBits::I8 {
                        return Err(unsupported);
                    }
                    let geom = conv_geom(model, &s);
                    let filter = reorder(&mut heap, model.weights_i8(s.weights), &s)?;
                    let affine = model.affine(s.affine);
                    let pixels = geom.out_h as u64 * geom.out_w as u64;
                    macs[n] = pixels * filter.len() as u64;
                    let taps = (geom.kernel * geom.kernel) as usize;
                    let k = taps * geom.in_c as usize;
                    let residual = match (node.op, node.op.conv_output()) {
                        (Op::Conv { .. }, Some(ConvOutput::Spikes { frac })) => {
                            Some((frac, Dest::Spikes))
                        }
                        (Op::Conv { .. }, Some(mode)) if int8_residual && !s.geom.depthwise => {
                            // Residual values up to ±8 at 1/16 in the int8 tensor.
                            let frac = frac_of(model.tensor(s.output));
                            let scale = frac.saturating_sub(4);
                            let tmp = heap.alloc(elements(model.tensor(s.output)), 0i8)?;
                            let dest = Dest::Residual {
                                tmp,
                                scale,
                                accumulate: mode == ConvOutput::Accumulate,
                            };
                            Some((frac - scale, dest))
                        }
                        _ => None,
                    };
                    match (node.op, node.op.conv_output()) {
                        _ if residual.is_some() => {
                            let (frac, dest) = residual.ok_or(unsupported)?;
                            let c = geom.out_c as usize;
                            let (bias, multiplier, shift) =
                                (heap.alloc(c, 0)?, heap.alloc(c, 0)?, heap.alloc(c, 0)?);
                            for (o, a) in affine.iter().enumerate().take(c) {
                                (bias[o], multiplier[o], shift[o]) = quant::requant(a, frac);
                            }
                            // SAFETY: `geom` is a plain struct read by the callee only.
                            let buf = unsafe {
                                ffi::sdt_conv_s8_buffer_size(&geom, s.geom.depthwise as i32)
                            };
                            scratch_bytes = scratch_bytes.max(buf.max(0) as usize);
                            Layer::CmsisConv {
                                input: s.input,
                                output: s.output,
                                geom,
                                depthwise: s.geom.depthwise,
                                filter,
                                bias,
                                multiplier,
                                shift,
                                dest,
                            }
                        }
                        (op, Some(mode)) => {
                            if s.geom.depthwise {
                                return Err(unsupported);
                            }
                            let encode = match op {
                                Op::Encode(_) => {
                                    let spec = &g.input_spec;
                                    let zp = heap.alloc(spec.zero_points.len(), 0i8)?;
                                    for (z, &v) in zp.iter_mut().zip(&spec.zero_points) {
                                        *z = i8::try_from(v).map_err(|_| unsupported)?;
                                    }
                                    let corr = heap.alloc(geom.out_c as usize, 0i32)?;
                                    for (o, c) in corr.iter_mut().enumerate() {
                                        let row = &filter[o * k..(o + 1) * k];
                                        *c = row
                                            .iter()
                                            .enumerate()
                                            .map(|(j, &w)| {
                                                w as i32 * zp[j % geom.in_c as usize] as i32
                                            })
                                            .sum();
                                    }
                                    Some((&*zp, spec.max_abs as i32, &*corr))
                                }
                                _ => None,
                            };
                            scratch_bytes = scratch_bytes.max(BLOCK_PIXELS * k);
                            scratch_words = scratch_words.max(BLOCK_PIXELS * geom.out_c as usize);
                            Layer::Product(ProductConv {
                                input: s.input,
                                output: s.output,
                                geom,
                                filter,
                                affine,
                                accumulate: mode == ConvOutput::Accumulate,
                                encode,
                            })
                        }
                        _ => return Err(unsupported),
                    }
                }
                Op::Attention {
                    q,
                    k,
                    v,
                    output,
                    heads,
                    affine,
                    frac,
                    order: AttentionOrder::KvFirst | AttentionOrder::QkThenV,
                } => {
                    let (tq, tv) = (model.tensor(q), model.tensor(v));
                    let tokens = tq.h as usize * tq.w as usize;
                    let heads = heads.max(1) as usize;
                    let (d_, dv) = (tq.c as usize / heads, tv.c as usize / heads);
                    let affine = *model.affine(affine).first().ok_or(unsupported)?;
                    macs[n] = 2 * (heads * tokens * d_ * dv) as u64;
                    // kᵀ, vᵀ, q and one limb of (kᵀv)ᵀ per head; kᵀv and the output block.
                    scratch_bytes = scratch_bytes.max(tokens * (2 * d_ + dv) + d_ * dv);
                    scratch_words = scratch_words.max(d_ * dv + tokens * dv);
                    Layer::Attention {
                        q,
                        k,
                        v,
                        output,
                        tokens,
                        heads,
                        d: d_,
                        dv,
                        affine,
                        frac,
                    }
                }
                Op::Spike { input, output } => Layer::Spike {
                    input,
                    output,
                    frac: frac_of(model.tensor(input)),
                },
                Op::MeanSpike { input, output } => Layer::MeanSpike {
                    input,
                    output,
                    frac: frac_of(model.tensor(input)),
                },
            };
            layers[n] = Some(layer);
        }
        Ok(Peer {
            layers,
            count: model.nodes().len(),
            tensors,
            input: g.input,
            logits: g.logits,
            d,
            macs,
            scratch: heap.alloc(scratch_bytes.max(16), 0u8)?,
            scratch_i32: heap.alloc(scratch_words.max(4), 0i32)?,
        })
    }

    pub fn nodes(&self) -> usize {
        self.count
    }

    /// Copies a job input (`i8`, HWC) into the input tensor.
    pub fn set_input(&mut self, bytes: &[u8]) -> Result<(), PeerError> {
        match self.tensors[self.input as usize].as_mut() {
            Some(Buf::I8(x)) if x.len() == bytes.len() => {
                for (d, &b) in x.iter_mut().zip(bytes) {
                    *d = b as i8;
                }
                Ok(())
            }
            _ => Err(PeerError::InputLength),
        }
    }

    pub fn logits(&self) -> &[i32] {
        match self.tensors[self.logits as usize].as_ref() {
            Some(Buf::I32(x)) => x,
            _ => &[],
        }
    }

    /// Index of the largest logit (the first one on ties), as our runtime picks it.
    pub fn top1(&self) -> usize {
        let l = self.logits();
        (0..l.len()).fold(0, |best, i| if l[i] > l[best] { i } else { best })
    }

    /// Spike statistics of node `n`'s output and its dense MAC count.
    pub fn node_spikes(&self, n: usize, model: &Model<'_>) -> NodeSpikes {
        let out = sdt_core::model::node_io(&model.nodes()[n].op).1;
        let mut s = NodeSpikes {
            macs: self.macs[n],
            ..NodeSpikes::default()
        };
        if let (TensorKind::Spikes, Some(Buf::I8(x))) =
            (model.tensor(out).kind, self.tensors[out as usize].as_ref())
        {
            s.sites = x.len() as u64;
            s.spikes = x.iter().map(|&v| v as u64).sum();
            s.nonzero = x.iter().filter(|&&v| v != 0).count() as u64;
        }
        s
    }

    /// Runs node `n`.
    pub fn run_node(&mut self, n: usize) -> Result<(), PeerError> {
        let Some(layer) = self.layers.get_mut(n).and_then(Option::as_mut) else {
            return Err(PeerError::Unsupported { node: n });
        };
        let tensors = &mut self.tensors;
        let d = self.d;
        let out_id = match layer {
            Layer::CmsisConv { output, .. }
            | Layer::Product(ProductConv { output, .. })
            | Layer::Attention { output, .. }
            | Layer::Spike { output, .. }
            | Layer::MeanSpike { output, .. } => *output,
        };
        // The output leaves the table while the inputs are read (tensors of a node differ).
        let mut out = tensors[out_id as usize]
            .take()
            .ok_or(PeerError::Unsupported { node: n })?;
        let i8_of = |id: TensorId| match tensors[id as usize].as_ref() {
            Some(Buf::I8(x)) => Ok(&**x),
            _ => Err(PeerError::Unsupported { node: n }),
        };
        let i32_of = |id: TensorId| match tensors[id as usize].as_ref() {
            Some(Buf::I32(x)) => Ok(&**x),
            _ => Err(PeerError::Unsupported { node: n }),
        };
        let result = match (layer, &mut out) {
            (
                Layer::CmsisConv {
                    input,
                    geom,
                    depthwise,
                    filter,
                    bias,
                    multiplier,
                    shift,
                    dest,
                    ..
                },
                y,
            ) => {
                let x = i8_of(*input)?;
                let (y8, act): (&mut [i8], _) = match (&mut *dest, &mut *y) {
                    (Dest::Spikes, Buf::I8(y)) => (y, (0, d as i32)),
                    (Dest::Residual { tmp, .. }, Buf::I32(_)) => (tmp, (-128, 127)),
                    _ => return Err(PeerError::Unsupported { node: n }),
                };
                let out_len = (geom.out_h * geom.out_w * geom.out_c) as usize;
                if y8.len() < out_len {
                    return Err(PeerError::Unsupported { node: n });
                }
                // SAFETY: `x`, `filter`, `bias`, `multiplier`, `shift` hold exactly the element
                // counts `geom` describes (tensor shapes and weight sections validated at load;
                // the per-channel arrays have `out_c` entries), `y8` at least the output's (checked
                // above); the scratch holds at least the buffer size CMSIS-NN asked for at
                // preparation.
                let status = unsafe {
                    ffi::sdt_conv_s8(
                        geom,
                        *depthwise as i32,
                        x.as_ptr(),
                        filter.as_ptr(),
                        bias.as_ptr(),
                        multiplier.as_mut_ptr(),
                        shift.as_mut_ptr(),
                        act.0,
                        act.1,
                        y8.as_mut_ptr(),
                        self.scratch.as_mut_ptr(),
                        self.scratch.len() as i32,
                    )
                };
                if let (
                    Dest::Residual {
                        tmp,
                        scale,
                        accumulate,
                    },
                    Buf::I32(y),
                ) = (dest, y)
                {
                    for (o, &v) in y.iter_mut().zip(tmp.iter()) {
                        let v = (v as i32) << *scale;
                        *o = if *accumulate { o.saturating_add(v) } else { v };
                    }
                }
                if status == 0 {
                    Ok(())
                } else {
                    Err(PeerError::Cmsis { node: n, status })
                }
            }
            (Layer::Product(p), Buf::I32(y)) => {
                let x = i8_of(p.input)?;
                product::product_conv(p, x, y, self.scratch, self.scratch_i32, n)
            }
            (
                Layer::Attention {
                    q,
                    k,
                    v,
                    tokens,
                    heads,
                    d: hd,
                    dv,
                    affine,
                    frac,
                    ..
                },
                Buf::I8(y),
            ) => {
                let a = AttnShape {
                    tokens: *tokens,
                    heads: *heads,
                    d: *hd,
                    dv: *dv,
                };
                attention::attention(
                    &a,
                    [i8_of(*q)?, i8_of(*k)?, i8_of(*v)?],
                    (affine, *frac, d),
                    y,
                    self.scratch,
                    self.scratch_i32,
                    n,
                )
            }
            (Layer::Spike { input, frac, .. }, Buf::I8(y)) => {
                let x = i32_of(*input)?;
                for (o, &v) in y.iter_mut().zip(x) {
                    *o = spike_count(v as i64, *frac, d) as i8;
                }
                Ok(())
            }
            (Layer::MeanSpike { input, frac, .. }, Buf::I8(y)) => {
                let x = i32_of(*input)?;
                let c = y.len();
                let den = ((x.len() / c.max(1)) as i64) << *frac;
                for (ch, o) in y.iter_mut().enumerate() {
                    let sum: i64 = x.iter().skip(ch).step_by(c).map(|&v| v as i64).sum();
                    *o = spike_count_ratio(sum, den, d) as i8;
                }
                Ok(())
            }
            _ => Err(PeerError::Unsupported { node: n }),
        };
        tensors[out_id as usize] = Some(out);
        result
    }
}
