//! Running a model in a caller-provided arena.

use core::ops::Range;

use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::fixed::{spike_count, spike_count_ratio};
use crate::graph::{AttentionOrder, ConvOutput, Op, TensorId, TensorKind, WeightBits};
use crate::kernels::attention::{attention_rows, kv_products, AttnArgs};
use crate::kernels::conv::{conv_rows, conv_scratch_len, encode_rows, ConvArgs};
use crate::kernels::output::{FixedSink, SpikeSink};
use crate::kernels::{Kernel, Weight};
use crate::model::{elements, tensor_bytes, Model};
use crate::plan::{Plan, ALIGN, MAX_WORKERS};
use crate::stats::{conv_sops, encode_macs, spike_counts, NodeStats, Stats};

/// A quantized input, HWC.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
}

impl Input<'_> {
    pub fn len(&self) -> usize {
        match self {
            Input::I8(x) => x.len(),
            Input::I16(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of arena a session of `model` with `workers` threads needs (alignment slack included).
pub fn arena_bytes(model: &Model<'_>, workers: usize) -> Result<usize> {
    Ok(Plan::new(model.graph(), workers)?.bytes + ALIGN - 1)
}

/// A model bound to an arena. Tensors live in the arena at the offsets of the plan.
pub struct Session<'m, 'b, 'a> {
    model: &'m Model<'b>,
    plan: Plan,
    arena: &'a mut [u8],
}

impl<'m, 'b, 'a> Session<'m, 'b, 'a> {
    /// Plans `model` for `workers` threads in `arena` (see [`arena_bytes`]).
    pub fn new(model: &'m Model<'b>, arena: &'a mut [u8], workers: usize) -> Result<Self> {
        let plan = Plan::new(model.graph(), workers)?;
        let skip = arena.as_ptr().align_offset(ALIGN).min(arena.len());
        let arena = &mut arena[skip..];
        if arena.len() < plan.bytes {
            return Err(Error::ArenaTooSmall {
                needed: plan.bytes + ALIGN - 1,
                found: arena.len() + skip,
            });
        }
        let arena = &mut arena[..plan.bytes];
        Ok(Session { model, plan, arena })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn model(&self) -> &'m Model<'b> {
        self.model
    }

    fn input_bytes(&mut self) -> &mut [u8] {
        let id = self.model.graph().input;
        let range = self.plan.tensor(id);
        let n = tensor_bytes(self.model.tensor(id));
        &mut self.arena[range][..n]
    }

    /// The `i8` input tensor (HWC) to fill before [`Session::run`], if the input is `i8`.
    pub fn input_i8_mut(&mut self) -> Option<&mut [i8]> {
        (!self.model.wide_input()).then(|| bytemuck::cast_slice_mut(self.input_bytes()))
    }

    /// The `i16` input tensor (HWC), if the input is `i16`.
    pub fn input_i16_mut(&mut self) -> Option<&mut [i16]> {
        (self.model.wide_input()).then(|| bytemuck::cast_slice_mut(self.input_bytes()))
    }

    /// Copies a quantized input into the input tensor.
    pub fn set_input(&mut self, input: Input<'_>) -> Result<()> {
        let expected = self.model.input_len();
        let wrong = Error::InputLength {
            expected,
            found: input.len(),
        };
        match input {
            Input::I8(x) => self
                .input_i8_mut()
                .filter(|d| d.len() == x.len())
                .ok_or(wrong)?
                .copy_from_slice(x),
            Input::I16(x) => self
                .input_i16_mut()
                .filter(|d| d.len() == x.len())
                .ok_or(wrong)?
                .copy_from_slice(x),
        }
        Ok(())
    }

    /// Logits in fixed point (see the logits tensor's `frac`).
    pub fn logits(&self) -> &[i32] {
        self.fixed(self.model.graph().logits).unwrap_or(&[])
    }

    /// Index of the largest logit (the first one on ties).
    pub fn top1(&self) -> usize {
        let logits = self.logits();
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best
    }

    /// Contents of a spike tensor.
    pub fn spikes(&self, id: TensorId) -> Option<&[u8]> {
        let t = self.model.graph().tensors.get(id as usize)?;
        (t.kind == TensorKind::Spikes).then(|| &self.arena[self.plan.tensor(id)][..elements(t)])
    }

    /// Contents of a fixed-point tensor (residual stream or logits).
    pub fn fixed(&self, id: TensorId) -> Option<&[i32]> {
        let t = self.model.graph().tensors.get(id as usize)?;
        let bytes = &self.arena[self.plan.tensor(id)];
        matches!(t.kind, TensorKind::Fixed { .. })
            .then(|| bytemuck::cast_slice(bytes).get(..elements(t)))
            .flatten()
    }

    /// Mutable fixed-point tensor, e.g. to start a block from a given residual stream.
    pub fn fixed_mut(&mut self, id: TensorId) -> Option<&mut [i32]> {
        let t = *self.model.graph().tensors.get(id as usize)?;
        let bytes = &mut self.arena[self.plan.tensor(id)];
        if !matches!(t.kind, TensorKind::Fixed { .. }) {
            return None;
        }
        bytemuck::cast_slice_mut(bytes).get_mut(..elements(&t))
    }

    /// Runs the whole model on the current input.
    pub fn run(
        &mut self,
        kernel: Kernel,
        exec: &dyn Executor,
        stats: Option<&mut Stats>,
    ) -> Result<()> {
        let n = self.model.nodes().len();
        self.run_nodes(0..n, kernel, exec, stats)
    }

    /// Runs nodes `nodes` only (their inputs must already hold data).
    pub fn run_nodes(
        &mut self,
        nodes: Range<usize>,
        kernel: Kernel,
        exec: &dyn Executor,
        mut stats: Option<&mut Stats>,
    ) -> Result<()> {
        if nodes.start > nodes.end || nodes.end > self.model.nodes().len() {
            return Err(Error::BadNodeRange);
        }
        for i in nodes {
            let node_stats = self.run_node(i, kernel, exec, stats.is_some())?;
            if let Some(s) = stats.as_deref_mut() {
                let n = &mut s.nodes[i];
                n.sops += node_stats.sops;
                n.macs += node_stats.macs;
                n.spikes += node_stats.spikes;
                n.nonzero += node_stats.nonzero;
                n.sites += node_stats.sites;
            }
        }
        if let Some(s) = stats {
            s.runs += 1;
        }
        Ok(())
    }

    fn run_node(
        &mut self,
        i: usize,
        kernel: Kernel,
        exec: &dyn Executor,
        want_stats: bool,
    ) -> Result<NodeStats> {
        let model = self.model;
        let node = model.nodes()[i];
        let d = model.d();
        let workers = exec.workers().clamp(1, self.plan.workers);
        let scratch_range = self.plan.scratch(i);
        let mut st = NodeStats::default();
        match node.op {
            Op::Encode {
                input,
                output,
                geom,
                bits,
                weights,
                affine,
            } => {
                let (tx, ty) = (*model.tensor(input), *model.tensor(output));
                let [x, y, scratch] = regions(
                    self.arena,
                    [
                        self.plan.tensor(input),
                        self.plan.tensor(output),
                        scratch_range,
                    ],
                )?;
                let spec = &model.graph().input_spec;
                let x = &x[..tensor_bytes(&tx)];
                let x = if model.wide_input() {
                    EncodeInput::I16(bytemuck::cast_slice(x))
                } else {
                    EncodeInput::I8(bytemuck::cast_slice(x))
                };
                let run = EncodeRun {
                    exec,
                    workers,
                    x,
                    max_abs: spec.max_abs as i32,
                    in_h: tx.h as usize,
                    in_w: tx.w as usize,
                    out_h: ty.h as usize,
                    out_w: ty.w as usize,
                    geom,
                    zero_points: &spec.zero_points,
                    affine: model.affine(affine),
                };
                let y = cast_i32(y, elements(&ty))?;
                let scratch = cast_i32(scratch, scratch.len() / 4)?;
                match bits {
                    WeightBits::I8 => run.go(model.weights_i8(weights), y, scratch)?,
                    WeightBits::I16 => run.go(model.weights_i16(weights), y, scratch)?,
                }
                if want_stats {
                    st.macs = encode_macs(
                        &geom,
                        tx.h as usize,
                        tx.w as usize,
                        (ty.h as usize, ty.w as usize),
                    );
                }
            }
            Op::Spike { input, output } => {
                let tx = *model.tensor(input);
                let frac = match tx.kind {
                    TensorKind::Fixed { frac } => frac,
                    _ => 0,
                };
                let n = elements(&tx);
                let [x, y] = regions(
                    self.arena,
                    [self.plan.tensor(input), self.plan.tensor(output)],
                )?;
                let x = cast_i32(x, n)?;
                for (o, &v) in y[..n].iter_mut().zip(x.iter()) {
                    *o = spike_count(v as i64, frac, d);
                }
                if want_stats {
                    (st.spikes, st.nonzero, st.sites) = spike_counts(&y[..n]);
                }
            }
            Op::MeanSpike { input, output } => {
                let tx = *model.tensor(input);
                let frac = match tx.kind {
                    TensorKind::Fixed { frac } => frac,
                    _ => 0,
                };
                let c = tx.c as usize;
                let tokens = tx.h as usize * tx.w as usize;
                let [x, y] = regions(
                    self.arena,
                    [self.plan.tensor(input), self.plan.tensor(output)],
                )?;
                let x = cast_i32(x, elements(&tx))?;
                let den = (tokens as i64) << frac;
                for (ch, o) in y[..c].iter_mut().enumerate() {
                    let sum: i64 = x.iter().skip(ch).step_by(c).map(|&v| v as i64).sum();
                    *o = spike_count_ratio(sum, den, d);
                }
                if want_stats {
                    (st.spikes, st.nonzero, st.sites) = spike_counts(&y[..c]);
                }
            }
            Op::Conv {
                input,
                output,
                geom,
                bits,
                weights,
                affine,
                mode,
            } => {
                let (tx, ty) = (*model.tensor(input), *model.tensor(output));
                let [x, y, scratch] = regions(
                    self.arena,
                    [
                        self.plan.tensor(input),
                        self.plan.tensor(output),
                        scratch_range,
                    ],
                )?;
                let x = &x[..elements(&tx)];
                let affine = model.affine(affine);
                let rows = ty.h as usize;
                let row_len = ty.w as usize * ty.c as usize;
                let run = ConvRun {
                    kernel,
                    exec,
                    workers,
                    rows,
                    row_len,
                    x,
                    in_h: tx.h as usize,
                    in_w: tx.w as usize,
                    out_w: ty.w as usize,
                    geom,
                    affine,
                    mode,
                    d,
                };
                match bits {
                    WeightBits::I8 => {
                        run.go(model.weights_i8(weights), y, scratch, elements(&ty))?
                    }
                    WeightBits::I16 => {
                        run.go(model.weights_i16(weights), y, scratch, elements(&ty))?
                    }
                }
                if want_stats {
                    st.sops = conv_sops(
                        &geom,
                        x,
                        tx.h as usize,
                        tx.w as usize,
                        (ty.h as usize, ty.w as usize),
                    );
                    if let ConvOutput::Spikes { .. } = mode {
                        (st.spikes, st.nonzero, st.sites) = spike_counts(&y[..elements(&ty)]);
                    }
                }
            }
            Op::Attention {
                q,
                k,
                v,
                output,
                heads,
                order,
                affine,
                frac,
            } => {
                let (tq, tv) = (*model.tensor(q), *model.tensor(v));
                let tokens = tq.h as usize * tq.w as usize;
                let heads = heads as usize;
                let [bq, bk, bv, y, scratch] = regions(
                    self.arena,
                    [
                        self.plan.tensor(q),
                        self.plan.tensor(k),
                        self.plan.tensor(v),
                        self.plan.tensor(output),
                        scratch_range,
                    ],
                )?;
                let args = AttnArgs {
                    q: &bq[..elements(&tq)],
                    k: &bk[..elements(&tq)],
                    v: &bv[..elements(&tv)],
                    tokens,
                    heads,
                    d: tq.c as usize / heads,
                    dv: tv.c as usize / heads,
                    affine: model.affine(affine).first().copied().unwrap_or_default(),
                    frac,
                    spike_max: d,
                };
                let scratch = cast_i32(scratch, scratch.len() / 4)?;
                let shared = match order {
                    AttentionOrder::KvFirst => heads * args.d * args.dv,
                    AttentionOrder::QkThenV => 0,
                };
                let (kv, per_worker) = scratch.split_at_mut(shared.next_multiple_of(ALIGN / 4));
                if kernel == Kernel::SpikeDriven && order == AttentionOrder::KvFirst {
                    kv_products(&args, kv);
                }
                let kv: &[i32] = kv;
                let job = |rows: Range<usize>, out: &mut [u8], s: &mut [i32]| {
                    attention_rows(kernel, order, &args, kv, rows, s, out);
                };
                let per = tokens + args.dv;
                for_rows(
                    exec,
                    workers,
                    tokens,
                    &mut y[..elements(&tv)],
                    tv.c as usize,
                    per_worker,
                    per,
                    &job,
                )?;
                if want_stats {
                    st.sops = attention_sops(&args, order);
                    (st.spikes, st.nonzero, st.sites) = spike_counts(&y[..elements(&tv)]);
                }
            }
        }
        Ok(st)
    }
}

/// Everything a synaptic convolution needs, to dispatch on the weight type once.
struct ConvRun<'x, 'e> {
    kernel: Kernel,
    exec: &'e dyn Executor,
    workers: usize,
    rows: usize,
    row_len: usize,
    x: &'x [u8],
    in_h: usize,
    in_w: usize,
    out_w: usize,
    geom: crate::graph::ConvGeom,
    affine: &'x [crate::fixed::Affine],
    mode: ConvOutput,
    d: u8,
}

impl ConvRun<'_, '_> {
    fn go<W: Weight>(
        &self,
        weights: &[W],
        y: &mut [u8],
        scratch: &mut [u8],
        n_out: usize,
    ) -> Result<()> {
        let scratch = cast_i32(scratch, scratch.len() / 4)?;
        let args = ConvArgs {
            geom: self.geom,
            in_h: self.in_h,
            in_w: self.in_w,
            out_w: self.out_w,
            weights,
        };
        let (kernel, x, affine, d) = (self.kernel, self.x, self.affine, self.d);
        let acc_len = conv_scratch_len(&self.geom);
        match self.mode {
            ConvOutput::Spikes { frac } => {
                let job = |rows: Range<usize>, out: &mut [u8], acc: &mut [i32]| {
                    let mut sink = SpikeSink {
                        out,
                        affine,
                        frac,
                        d,
                    };
                    conv_rows(kernel, &args, x, rows, acc, &mut sink);
                };
                for_rows(
                    self.exec,
                    self.workers,
                    self.rows,
                    &mut y[..n_out],
                    self.row_len,
                    scratch,
                    acc_len,
                    &job,
                )
            }
            ConvOutput::Accumulate | ConvOutput::Write => {
                let accumulate = self.mode == ConvOutput::Accumulate;
                let job = |rows: Range<usize>, out: &mut [i32], acc: &mut [i32]| {
                    let mut sink = FixedSink {
                        out,
                        affine,
                        accumulate,
                    };
                    conv_rows(kernel, &args, x, rows, acc, &mut sink);
                };
                let y = cast_i32(y, n_out)?;
                for_rows(
                    self.exec,
                    self.workers,
                    self.rows,
                    y,
                    self.row_len,
                    scratch,
                    acc_len,
                    &job,
                )
            }
        }
    }
}

#[derive(Clone, Copy)]
enum EncodeInput<'x> {
    I8(&'x [i8]),
    I16(&'x [i16]),
}

/// The encoding layer's operands, to dispatch on the weight type once.
struct EncodeRun<'x, 'e> {
    exec: &'e dyn Executor,
    workers: usize,
    x: EncodeInput<'x>,
    max_abs: i32,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    geom: crate::graph::ConvGeom,
    zero_points: &'x [i16],
    affine: &'x [crate::fixed::Affine],
}

impl EncodeRun<'_, '_> {
    fn go<W: Weight>(&self, weights: &[W], y: &mut [i32], scratch: &mut [i32]) -> Result<()> {
        let args = ConvArgs {
            geom: self.geom,
            in_h: self.in_h,
            in_w: self.in_w,
            out_w: self.out_w,
            weights,
        };
        let (x, zp, affine, max_abs) = (self.x, self.zero_points, self.affine, self.max_abs);
        let job = |rows: Range<usize>, out: &mut [i32], acc: &mut [i32]| {
            let mut sink = FixedSink {
                out,
                affine,
                accumulate: false,
            };
            match x {
                EncodeInput::I8(x) => encode_rows(&args, x, zp, max_abs, rows, acc, &mut sink),
                EncodeInput::I16(x) => encode_rows(&args, x, zp, max_abs, rows, acc, &mut sink),
            }
        };
        let row_len = self.out_w * self.geom.out_c as usize;
        for_rows(
            self.exec,
            self.workers,
            self.out_h,
            y,
            row_len,
            scratch,
            self.geom.out_c as usize,
            &job,
        )
    }
}

/// SOPs of the spike-driven attention kernels (one per value added; for `(q kᵀ) v` the second
/// product counts every `v` spike once per query token).
fn attention_sops(a: &AttnArgs<'_>, order: AttentionOrder) -> u64 {
    let (c, cv) = (a.heads * a.d, a.heads * a.dv);
    let head = |t: &[u8], start: usize, width: usize| -> u64 {
        t[start..start + width].iter().map(|&s| s as u64).sum()
    };
    let mut sops = 0u64;
    for n in 0..a.tokens {
        for h in 0..a.heads {
            let q = head(a.q, n * c + h * a.d, a.d);
            sops += match order {
                AttentionOrder::KvFirst => (head(a.k, n * c + h * a.d, a.d) + q) * a.dv as u64,
                AttentionOrder::QkThenV => {
                    (q + head(a.v, n * cv + h * a.dv, a.dv)) * a.tokens as u64
                }
            };
        }
    }
    sops
}

/// Splits output rows into one job per worker and runs them on `exec`.
#[allow(clippy::too_many_arguments)]
fn for_rows<T: Send, F>(
    exec: &dyn Executor,
    workers: usize,
    rows: usize,
    out: &mut [T],
    row_len: usize,
    scratch: &mut [i32],
    scratch_len: usize,
    job: &F,
) -> Result<()>
where
    F: Fn(Range<usize>, &mut [T], &mut [i32]) + Sync,
{
    let workers = workers.clamp(1, MAX_WORKERS).min(rows.max(1));
    let per_worker = scratch_len.next_multiple_of(ALIGN / 4);
    let scratch = scratch
        .get_mut(..per_worker * workers)
        .ok_or(Error::ArenaTooSmall {
            needed: per_worker * workers * 4,
            found: 0,
        })?;
    let rows_per = rows.div_ceil(workers);
    if out.len() < rows * row_len {
        return Err(Error::ArenaTooSmall {
            needed: rows * row_len,
            found: out.len(),
        });
    }
    let mut jobs: heapless::Vec<_, MAX_WORKERS> = heapless::Vec::new();
    let (mut out_rest, mut scratch_rest) = (out, scratch);
    let mut start = 0;
    while start < rows {
        let end = (start + rows_per).min(rows);
        let (o, o_rest) = core::mem::take(&mut out_rest).split_at_mut((end - start) * row_len);
        let (s, s_rest) = core::mem::take(&mut scratch_rest).split_at_mut(per_worker);
        (out_rest, scratch_rest) = (o_rest, s_rest);
        let range = start..end;
        let _ = jobs.push(move || job(range.clone(), &mut *o, &mut *s));
        start = end;
    }
    let mut refs: heapless::Vec<&mut (dyn FnMut() + Send), MAX_WORKERS> = heapless::Vec::new();
    for j in jobs.iter_mut() {
        let _ = refs.push(j);
    }
    exec.run(&mut refs);
    Ok(())
}

fn cast_i32(bytes: &mut [u8], n: usize) -> Result<&mut [i32]> {
    bytemuck::try_cast_slice_mut::<u8, i32>(bytes)
        .map_err(|_| Error::Misaligned { required: 4 })?
        .get_mut(..n)
        .ok_or(Error::ArenaTooSmall {
            needed: n * 4,
            found: 0,
        })
}

/// Disjoint mutable views of `N` byte ranges of the arena (empty ranges allowed).
fn regions<const N: usize>(arena: &mut [u8], ranges: [Range<usize>; N]) -> Result<[&mut [u8]; N]> {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| ranges[i].start);
    let mut out: [&mut [u8]; N] = core::array::from_fn(|_| <&mut [u8]>::default());
    let mut rest = arena;
    let mut consumed = 0;
    for &i in &order {
        let r = &ranges[i];
        if r.is_empty() {
            continue;
        }
        if r.start < consumed || r.end > consumed + rest.len() {
            return Err(Error::ArenaTooSmall {
                needed: r.end,
                found: consumed + rest.len(),
            });
        }
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(r.start - consumed);
        let (mine, tail) = tail.split_at_mut(r.len());
        out[i] = mine;
        rest = tail;
        consumed = r.end;
    }
    Ok(out)
}
