//! Synaptic layers: spike convolutions and the encoding layer, split by output rows.

use core::ops::Range;

use super::rows::{cast_i32, for_rows, Rows};
use super::NodeCtx;
use crate::engine::{MatMul, Operand, Role, View};
use crate::error::{Error, Result};
use crate::fixed::Affine;
use crate::graph::{self, ConvGeom, ConvOutput, Section, TensorDesc, TensorKind, WeightBits};
use crate::int4;
use crate::kernels::conv::{conv_rows, conv_scratch_len, encode_rows, ConvArgs};
use crate::kernels::output::{FixedSink, MapFields, Sink, SpikeSink};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium"))]
use crate::kernels::threshold::{Thresholds, CAPACITY};
use crate::kernels::Kernel;
use crate::kernels::Weight;
use crate::model::{elements, tensor_bytes, Model};
use crate::plan::aligned;
use crate::stats::{conv_sops, encode_macs, spike_counts, NodeStats};

/// What a synaptic layer reads.
#[derive(Clone, Copy)]
enum Source<'x> {
    Spikes(&'x [u8]),
    Pixels8(&'x [i8]),
    Pixels16(&'x [i16]),
}

/// One synaptic node with its operands resolved from the model.
pub(super) struct Synapse<'b> {
    input: TensorDesc,
    output: TensorDesc,
    geom: ConvGeom,
    bits: WeightBits,
    weights: Section,
    affine: &'b [Affine],
    mode: ConvOutput,
    model: &'b Model<'b>,
}

impl<'b> Synapse<'b> {
    pub fn new(model: &'b Model<'b>, layer: &graph::Synapse, mode: ConvOutput) -> Self {
        Synapse {
            input: *model.tensor(layer.input),
            output: *model.tensor(layer.output),
            geom: layer.geom,
            bits: layer.bits,
            weights: layer.weights,
            affine: model.affine(layer.affine),
            mode,
            model,
        }
    }

    pub fn run(
        &self,
        ctx: &NodeCtx<'_>,
        x: &mut [u8],
        y: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<NodeStats> {
        let x = &x[..tensor_bytes(&self.input)];
        let source = match self.input.kind {
            TensorKind::Input { wide: false } => Source::Pixels8(bytemuck::cast_slice(x)),
            TensorKind::Input { wide: true } => Source::Pixels16(bytemuck::cast_slice(x)),
            _ => Source::Spikes(x),
        };
        // Packed 4-bit weights: unpacked into the front of the scratch (`node_scratch`).
        let (unpacked, scratch) = match self.bits {
            WeightBits::I4 => {
                let n = self.geom.weight_count();
                let at = aligned(n).min(scratch.len());
                let (front, rest) = scratch.split_at_mut(at);
                let unpacked: &mut [i8] = bytemuck::cast_slice_mut(&mut front[..n.min(at)]);
                int4::unpack(self.model.section(self.weights).unwrap_or(&[]), unpacked);
                (&*unpacked, rest)
            }
            WeightBits::I8 | WeightBits::I16 => (&[][..], scratch),
        };
        let scratch = cast_i32(scratch, scratch.len() / 4)?;
        let offloaded = match source {
            Source::Spikes(x) => self.offload(ctx, x, y, scratch, unpacked)?,
            _ => false,
        };
        match self.bits {
            _ if offloaded => {}
            WeightBits::I8 => {
                self.go(ctx, source, self.model.weights_i8(self.weights), y, scratch)?
            }
            WeightBits::I4 => self.go(ctx, source, unpacked, y, scratch)?,
            WeightBits::I16 => self.go(
                ctx,
                source,
                self.model.weights_i16(self.weights),
                y,
                scratch,
            )?,
        }
        let mut st = NodeStats::default();
        if ctx.want_stats {
            let (inp, out) = (&self.input, &self.output);
            let (in_hw, out_hw) = (
                (inp.h as usize, inp.w as usize),
                (out.h as usize, out.w as usize),
            );
            match source {
                Source::Spikes(x) => st.sops = conv_sops(&self.geom, x, in_hw.0, in_hw.1, out_hw),
                _ => st.macs = encode_macs(&self.geom, in_hw.0, in_hw.1, out_hw),
            }
            if let ConvOutput::Spikes { .. } = self.mode {
                (st.spikes, st.nonzero, st.sites) = spike_counts(&y[..elements(out)]);
            }
        }
        Ok(st)
    }

    /// Hands a 1×1 convolution to the session's engine if it takes it; requantization stays
    /// here, so the integers do not depend on the engine. Returns whether it was handed over.
    /// `unpacked` holds packed 4-bit weights as `i8` (empty for other widths).
    fn offload(
        &self,
        ctx: &NodeCtx<'_>,
        x: &[u8],
        y: &mut [u8],
        row: &mut [i32],
        unpacked: &[i8],
    ) -> Result<bool> {
        let g = &self.geom;
        if g.kernel != 1 || g.stride != 1 || g.pad != 0 || g.depthwise {
            return Ok(false);
        }
        let m = self.input.h as usize * self.input.w as usize;
        let (k, n) = (g.in_c as usize, g.out_c as usize);
        let b = match self.bits {
            WeightBits::I8 => {
                View::row_major(self.model.weights_i8(self.weights), k, n).map(Operand::I8)
            }
            WeightBits::I16 => {
                View::row_major(self.model.weights_i16(self.weights), k, n).map(Operand::I16)
            }
            // Unpacked for this run: the engine takes them as int8.
            WeightBits::I4 => View::row_major(unpacked, k, n).map(Operand::I8),
        };
        let (Some(a), Some(b)) = (View::row_major(x, m, k), b) else {
            return Ok(false);
        };
        let p = MatMul {
            node: ctx.node,
            role: Role::Synapse,
            a,
            b,
        };
        if !ctx.engine.takes(&p) {
            return Ok(false);
        }
        let (affine, node, n_out) = (self.affine, ctx.node, m * n);
        let fail = |error| Error::Engine { node, error };
        let mut run = |sink: &mut dyn Sink| {
            let mut store = |r: usize, acc: &[i32]| {
                if r < m && acc.len() == n {
                    sink.store(r, acc);
                }
            };
            ctx.engine.matmul(&p, row, &mut store).map_err(fail)
        };
        match self.mode {
            ConvOutput::Spikes { frac } => {
                let out = y.get_mut(..n_out).ok_or(Error::ShapeMismatch { node })?;
                run(&mut SpikeSink::new(out, affine, frac, ctx.d, ctx.level))?
            }
            ConvOutput::Accumulate | ConvOutput::Write => {
                // The vector sink reads the maps split into fields, once per layer.
                let mut split = MapFields::empty();
                let fields = split.fill(affine).then_some(&split);
                run(&mut FixedSink {
                    out: cast_i32(y, n_out)?,
                    affine,
                    accumulate: self.mode == ConvOutput::Accumulate,
                    fields,
                    level: ctx.level,
                })?
            }
        }
        Ok(true)
    }

    fn go<W: Weight>(
        &self,
        ctx: &NodeCtx<'_>,
        source: Source<'_>,
        weights: &[W],
        y: &mut [u8],
        scratch: &mut [i32],
    ) -> Result<()> {
        let args = ConvArgs {
            geom: self.geom,
            in_h: self.input.h as usize,
            in_w: self.input.w as usize,
            out_w: self.output.w as usize,
            weights,
        };
        let spec = &self.model.graph().input_spec;
        let (zero_points, max_abs) = (&spec.zero_points[..], spec.max_abs as i32);
        let (kernel, level) = (ctx.kernel, ctx.level);
        let compute = |rows: Range<usize>, acc: &mut [i32], sink: &mut dyn Sink| match source {
            Source::Spikes(x) => conv_rows(level, kernel, &args, x, rows, acc, sink),
            Source::Pixels8(x) => {
                encode_rows(level, &args, x, zero_points, max_abs, rows, acc, sink)
            }
            Source::Pixels16(x) => {
                encode_rows(level, &args, x, zero_points, max_abs, rows, acc, sink)
            }
        };
        let (rows, n_out) = (self.output.h as usize, elements(&self.output));
        let g = &self.geom;
        let taps = g.kernel as usize * g.kernel as usize;
        let listed = if g.depthwise {
            taps * g.out_c as usize
        } else {
            taps * g.in_c as usize
        };
        let pixels = self.output.h as usize * self.output.w as usize;
        let rows = Rows {
            rows,
            work: pixels * (listed + g.out_c as usize),
        };
        let row_len = self.output.w as usize * self.output.c as usize;
        let scratch_len = conv_scratch_len(&self.geom);
        let affine = self.affine;
        match self.mode {
            ConvOutput::Spikes { frac } => {
                let d = ctx.d;
                // The spike-driven kernels compare accumulators with thresholds (hosts and
                // Helium always, other cores when the session keeps them); the dense
                // reference keeps the affine map, so that the two kernels check each other.
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium"))]
                let mut storage = None;
                // The session's kept table, else one built here (and its stack zeroed) only
                // for a layer that gains from it.
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium"))]
                let levels = match kernel == Kernel::SpikeDriven {
                    true if ctx.thresholds.is_some() => ctx.thresholds,
                    true if thresholds_pay(pixels, d) => {
                        let values = storage.insert([0; CAPACITY]);
                        Thresholds::fill(values, affine, frac, d)
                    }
                    _ => None,
                };
                // The sink holds a reference, one word to copy per stored pixel.
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium"))]
                let levels = levels.as_ref();
                // Other cores take a kept table only: building one costs them more than the
                // affine map it replaces.
                #[cfg(not(any(
                    target_arch = "x86_64",
                    target_arch = "aarch64",
                    feature = "helium"
                )))]
                let levels = ctx.thresholds.filter(|_| kernel == Kernel::SpikeDriven);
                #[cfg(not(any(
                    target_arch = "x86_64",
                    target_arch = "aarch64",
                    feature = "helium"
                )))]
                let levels = levels.as_ref();
                // Helium layers without a table take the vector affine map.
                #[cfg(feature = "helium")]
                let mut split = MapFields::empty();
                #[cfg(feature = "helium")]
                let fields =
                    (kernel == Kernel::SpikeDriven && levels.is_none() && split.fill(affine))
                        .then_some(&split);
                #[cfg(not(feature = "helium"))]
                let fields = None;
                let job = |rows: Range<usize>, out: &mut [u8], acc: &mut [i32]| {
                    compute(
                        rows,
                        acc,
                        &mut SpikeSink::new(out, affine, frac, d, level)
                            .with_tables(levels, fields),
                    );
                };
                for_rows(
                    ctx,
                    rows,
                    &mut y[..n_out],
                    row_len,
                    scratch,
                    scratch_len,
                    &job,
                )
            }
            ConvOutput::Accumulate | ConvOutput::Write => {
                let accumulate = self.mode == ConvOutput::Accumulate;
                // The vector sink reads the maps split into fields, once per layer.
                let mut split = MapFields::empty();
                let fields = split.fill(affine).then_some(&split);
                let job = |rows: Range<usize>, out: &mut [i32], acc: &mut [i32]| {
                    compute(
                        rows,
                        acc,
                        &mut FixedSink {
                            out,
                            affine,
                            accumulate,
                            fields,
                            level,
                        },
                    );
                };
                let y = cast_i32(y, n_out)?;
                for_rows(ctx, rows, y, row_len, scratch, scratch_len, &job)
            }
        }
    }
}

/// Whether a layer of `pixels` output pixels gains from a threshold table. Filling one takes
/// `D` 64-bit divisions per channel: a library call on Cortex-M, where the table pays only
/// when each channel is compared at enough pixels (under QEMU, 64-pixel layers of the digits
/// and gesture models were dearer with tables, 256-pixel layers cheaper). Hosts divide in
/// hardware.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium"))]
fn thresholds_pay(pixels: usize, d: u8) -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) || pixels >= 32 * d as usize
}
