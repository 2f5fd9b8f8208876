//! A validated model: the graph plus its data section, borrowed from the blob in place.
//!
//! Loading proves, for every possible input, that no accumulator or fixed-point value can
//! overflow its integer type, that every section is in bounds and every tensor is written
//! before it is read. The kernels rely on that and never check again.

use crate::blob;
use crate::error::{Error, Result};
use crate::fixed::Affine;
use crate::graph::{
    AttentionOrder, ConvGeom, ConvOutput, Graph, Node, Op, Section, Synapse, TensorDesc, TensorId,
    TensorKind, WeightBits, MAX_D, MAX_TENSORS,
};
use crate::meta::{EventFraming, InputShape, Metadata};

/// Largest number of elements one tensor may have.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// A model ready to run. Cheap to keep around; sessions borrow it.
pub struct Model<'b> {
    graph: Graph,
    meta: Metadata<'b>,
    data: &'b [u8],
}

impl<'b> Model<'b> {
    /// Parses and validates a blob. The blob must be 4-byte aligned in memory.
    pub fn from_blob(bytes: &'b [u8]) -> Result<Self> {
        if !(bytes.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::Misaligned { required: 4 });
        }
        let raw = blob::parse(bytes)?;
        let model = Model {
            graph: raw.graph,
            meta: raw.meta,
            data: raw.data,
        };
        model.validate()?;
        let input = model.tensor(model.graph.input);
        let shape = InputShape {
            h: input.h,
            w: input.w,
            c: input.c,
            classes: model.classes(),
        };
        model.meta.validate(shape).map_err(Error::BadMetadata)?;
        Ok(model)
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn nodes(&self) -> &[Node] {
        &self.graph.nodes
    }

    pub fn tensor(&self, id: TensorId) -> &TensorDesc {
        &self.graph.tensors[id as usize]
    }

    /// Largest spike count.
    pub fn d(&self) -> u8 {
        self.graph.d
    }

    /// Node name (the official module path), or `""`.
    pub fn node_name(&self, node: usize) -> &'b str {
        self.graph
            .nodes
            .get(node)
            .and_then(|n| self.section(n.name))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// What the blob says about itself (empty for version 1 blobs).
    pub fn metadata(&self) -> &Metadata<'b> {
        &self.meta
    }

    /// Name of class `i`: from the metadata, else from the graph's labels section.
    pub fn class_name(&self, class: usize) -> Option<&'b str> {
        if let Some(name) = self.meta.class_name(class) {
            return Some(name);
        }
        let text = core::str::from_utf8(self.section(self.graph.labels)?).ok()?;
        text.split('\n').nth(class).filter(|s| !s.is_empty())
    }

    /// How an event stream is framed for this model, if the blob says.
    pub fn framing(&self) -> Option<&EventFraming> {
        self.meta.framing()
    }

    /// Whether the input is `i16` (else `i8`).
    pub fn wide_input(&self) -> bool {
        matches!(
            self.tensor(self.graph.input).kind,
            TensorKind::Input { wide: true }
        )
    }

    /// Number of input values (H·W·C).
    pub fn input_len(&self) -> usize {
        elements(self.tensor(self.graph.input))
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.tensor(self.graph.logits).c as usize
    }

    /// Bytes of the data section (weights and per-channel parameters).
    pub fn data_bytes(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn section(&self, s: Section) -> Option<&'b [u8]> {
        let start = s.offset as usize;
        self.data.get(start..start.checked_add(s.len as usize)?)
    }

    /// The per-channel affine maps of a section (empty if invalid), e.g. for a peer runtime to
    /// derive its own requantization from.
    pub fn affine(&self, s: Section) -> &'b [Affine] {
        // Validated at load: in range, aligned, a whole number of entries.
        self.section(s)
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .unwrap_or(&[])
    }

    /// The `i8` weights of a section (empty if out of range), e.g. for an engine to pack.
    pub fn weights_i8(&self, s: Section) -> &'b [i8] {
        self.section(s).map(bytemuck::cast_slice).unwrap_or(&[])
    }

    pub(crate) fn weights_i16(&self, s: Section) -> &'b [i16] {
        self.section(s)
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .unwrap_or(&[])
    }

    fn validate(&self) -> Result<()> {
        let g = &self.graph;
        if g.d == 0 || g.d > MAX_D {
            return Err(Error::Unsupported { node: u16::MAX });
        }
        for (id, t) in g.tensors.iter().enumerate() {
            let n = (t.h as usize) * (t.w as usize) * (t.c as usize);
            let bad_frac = matches!(t.kind, TensorKind::Fixed { frac } if frac > 30);
            if n == 0 || n > MAX_TENSOR_ELEMENTS || bad_frac {
                return Err(Error::BadTensor {
                    tensor: id as TensorId,
                });
            }
        }
        let input = self.desc(u16::MAX, g.input)?;
        let spec = &g.input_spec;
        let wide = matches!(input.kind, TensorKind::Input { wide: true });
        let range_ok = wide || spec.max_abs <= 128;
        if !matches!(input.kind, TensorKind::Input { .. })
            || spec.zero_points.len() != input.c as usize
            || !range_ok
        {
            return Err(Error::ShapeMismatch { node: u16::MAX });
        }
        let logits = self.desc(u16::MAX, g.logits)?;
        if !matches!(logits.kind, TensorKind::Fixed { .. }) || logits.h != 1 || logits.w != 1 {
            return Err(Error::ShapeMismatch { node: u16::MAX });
        }

        let mut written = [false; MAX_TENSORS];
        // Largest |value| each fixed-point tensor can hold, proven from the weights.
        let mut bound = [0u64; MAX_TENSORS];
        written[g.input as usize] = true;
        for (i, node) in g.nodes.iter().enumerate() {
            let i = i as u16;
            let (reads, out) = node_io(&node.op);
            // Every operand gets its own view of the arena: a node may not read one tensor
            // twice (say as attention's `q` and `k`), nor read its output.
            let read = |j: usize| reads.get(j).copied().flatten();
            for a in 0..reads.len() {
                if read(a).is_some() && (a + 1..reads.len()).any(|b| read(b) == read(a)) {
                    return Err(Error::ShapeMismatch { node: i });
                }
            }
            for &r in reads.iter().flatten() {
                self.desc(i, r)?;
                if !written[r as usize] {
                    return Err(Error::ReadBeforeWrite { node: i, tensor: r });
                }
                if r == out {
                    return Err(Error::ShapeMismatch { node: i });
                }
            }
            self.desc(i, out)?;
            let out_bound = self.validate_node(i, &node.op, &bound)?;
            let accumulate = matches!(
                node.op,
                Op::Conv {
                    mode: ConvOutput::Accumulate,
                    ..
                }
            );
            if accumulate {
                if !written[out as usize] {
                    return Err(Error::ReadBeforeWrite {
                        node: i,
                        tensor: out,
                    });
                }
                bound[out as usize] = bound[out as usize].saturating_add(out_bound);
            } else {
                bound[out as usize] = out_bound;
            }
            if bound[out as usize] > i32::MAX as u64 {
                return Err(Error::Overflow { node: i });
            }
            written[out as usize] = true;
        }
        if !written[g.logits as usize] {
            return Err(Error::ReadBeforeWrite {
                node: u16::MAX,
                tensor: g.logits,
            });
        }
        Ok(())
    }

    fn desc(&self, node: u16, id: TensorId) -> Result<&TensorDesc> {
        self.graph
            .tensors
            .get(id as usize)
            .ok_or(Error::BadTensorId { node, tensor: id })
    }

    /// Checks one node; returns the bound on the absolute value it writes (fixed outputs).
    fn validate_node(&self, i: u16, op: &Op, bound: &[u64; MAX_TENSORS]) -> Result<u64> {
        let d = self.graph.d as u64;
        let shape = Error::ShapeMismatch { node: i };
        match *op {
            Op::Encode(Synapse {
                input,
                output,
                geom,
                bits,
                weights,
                affine,
            }) => {
                let (x, y) = (self.desc(i, input)?, self.desc(i, output)?);
                check_conv_shapes(i, &geom, x, y)?;
                if !matches!(x.kind, TensorKind::Input { .. }) || !is_fixed(y) || geom.depthwise {
                    return Err(shape);
                }
                let zp_max = self
                    .graph
                    .input_spec
                    .zero_points
                    .iter()
                    .map(|z| z.unsigned_abs())
                    .max();
                let x_max = self.graph.input_spec.max_abs as u64 + zp_max.unwrap_or(0) as u64;
                let sums = self.column_sums(i, &geom, bits, weights)?;
                self.affine_bound(i, &geom, sums, x_max, affine)
            }
            Op::Spike { input, output } => {
                let (x, y) = (self.desc(i, input)?, self.desc(i, output)?);
                if !is_fixed(x) || y.kind != TensorKind::Spikes || !same_shape(x, y) {
                    return Err(shape);
                }
                Ok(0)
            }
            Op::Conv {
                synapse:
                    Synapse {
                        input,
                        output,
                        geom,
                        bits,
                        weights,
                        affine,
                    },
                mode,
            } => {
                let (x, y) = (self.desc(i, input)?, self.desc(i, output)?);
                check_conv_shapes(i, &geom, x, y)?;
                let out_ok = match mode {
                    ConvOutput::Spikes { frac } => y.kind == TensorKind::Spikes && frac <= 40,
                    ConvOutput::Accumulate | ConvOutput::Write => is_fixed(y),
                };
                if x.kind != TensorKind::Spikes || !out_ok {
                    return Err(shape);
                }
                let sums = self.column_sums(i, &geom, bits, weights)?;
                self.affine_bound(i, &geom, sums, d, affine)
            }
            Op::Attention {
                q,
                k,
                v,
                output,
                heads,
                order: _,
                affine,
                frac,
            } => {
                let (tq, tk, tv, to) = (
                    self.desc(i, q)?,
                    self.desc(i, k)?,
                    self.desc(i, v)?,
                    self.desc(i, output)?,
                );
                let all_spikes = [tq, tk, tv, to]
                    .iter()
                    .all(|t| t.kind == TensorKind::Spikes);
                let spatial = |t: &TensorDesc| (t.h, t.w) == (tq.h, tq.w);
                if !all_spikes || !same_shape(tq, tk) || !same_shape(tv, to) || !spatial(tv) {
                    return Err(shape);
                }
                if heads == 0 || tq.c % heads != 0 || tv.c % heads != 0 || frac > 40 {
                    return Err(Error::Unsupported { node: i });
                }
                let tokens = tq.h as u64 * tq.w as u64;
                let head_dim = (tq.c / heads) as u64;
                // |S| ≤ d_head · D · (N · D · D): q row times a kᵀv column.
                let s_bound = head_dim * d * tokens * d * d;
                if s_bound > i32::MAX as u64 {
                    return Err(Error::Overflow { node: i });
                }
                let params = self.checked_section(i, affine, 1, core::mem::size_of::<Affine>())?;
                let a: &[Affine] =
                    bytemuck::try_cast_slice(params).map_err(|_| Error::BadSection { node: i })?;
                a[0].output_bound(s_bound)
                    .ok_or(Error::Overflow { node: i })?;
                Ok(0)
            }
            Op::MeanSpike { input, output } => {
                let (x, y) = (self.desc(i, input)?, self.desc(i, output)?);
                let ok = is_fixed(x) && y.kind == TensorKind::Spikes && (y.h, y.w) == (1, 1);
                if !ok || x.c != y.c || bound[input as usize] > i32::MAX as u64 {
                    return Err(shape);
                }
                Ok(0)
            }
        }
    }

    fn column_sums(
        &self,
        i: u16,
        geom: &ConvGeom,
        bits: WeightBits,
        weights: Section,
    ) -> Result<ColumnSums<'b>> {
        let w = self.checked_weights(i, weights, geom.weight_count(), bits)?;
        Ok(match bits {
            WeightBits::I8 => ColumnSums::I8(bytemuck::cast_slice(w)),
            WeightBits::I16 => ColumnSums::I16(
                bytemuck::try_cast_slice(w).map_err(|_| Error::BadSection { node: i })?,
            ),
            WeightBits::I4 => ColumnSums::I4(w),
        })
    }

    /// Section of exactly `count` elements of `elem` bytes, aligned to `elem`.
    fn checked_section(&self, i: u16, s: Section, count: usize, elem: usize) -> Result<&'b [u8]> {
        let bytes = self.section(s).ok_or(Error::BadSection { node: i })?;
        let aligned = (bytes.as_ptr() as usize).is_multiple_of(elem.min(4));
        if Some(bytes.len()) != count.checked_mul(elem) || !aligned {
            return Err(Error::BadSection { node: i });
        }
        Ok(bytes)
    }

    /// Section of exactly `count` weights stored as `bits`, aligned to their element.
    fn checked_weights(
        &self,
        i: u16,
        s: Section,
        count: usize,
        bits: WeightBits,
    ) -> Result<&'b [u8]> {
        match bits {
            WeightBits::I4 => {
                let bytes = self.section(s).ok_or(Error::BadSection { node: i })?;
                if Some(bytes.len()) != bits.storage_bytes(count) {
                    return Err(Error::BadSection { node: i });
                }
                Ok(bytes)
            }
            WeightBits::I8 => self.checked_section(i, s, count, 1),
            WeightBits::I16 => self.checked_section(i, s, count, 2),
        }
    }

    /// Largest |output| of a synaptic layer whose inputs satisfy `|x| ≤ x_max`.
    fn affine_bound(
        &self,
        i: u16,
        geom: &ConvGeom,
        sums: ColumnSums<'_>,
        x_max: u64,
        affine: Section,
    ) -> Result<u64> {
        let out_c = geom.out_c as usize;
        let params = self.checked_section(i, affine, out_c, core::mem::size_of::<Affine>())?;
        let params: &[Affine] =
            bytemuck::try_cast_slice(params).map_err(|_| Error::BadSection { node: i })?;
        let mut worst = 0u64;
        let mut chunk = [0u64; 64];
        for first in (0..out_c).step_by(chunk.len()) {
            let n = chunk.len().min(out_c - first);
            sums.fill(geom, first, &mut chunk[..n]);
            for (o, &sum) in chunk[..n].iter().enumerate() {
                let acc_bound = sum.saturating_mul(x_max);
                if acc_bound > i32::MAX as u64 {
                    return Err(Error::Overflow { node: i });
                }
                let y = params[first + o]
                    .output_bound(acc_bound)
                    .ok_or(Error::Overflow { node: i })?;
                worst = worst.max(y);
            }
        }
        Ok(worst)
    }
}

/// Per-output-channel sums of |w| over a weight section, read in contiguous chunks.
#[derive(Clone, Copy)]
enum ColumnSums<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    /// Packed (see [`crate::int4`]).
    I4(&'a [u8]),
}

impl ColumnSums<'_> {
    fn fill(&self, geom: &ConvGeom, first: usize, out: &mut [u64]) {
        match *self {
            ColumnSums::I8(w) => column_sums(w, geom, first, out),
            ColumnSums::I16(w) => column_sums(w, geom, first, out),
            ColumnSums::I4(w) => {
                out.fill(0);
                let row = geom.out_c as usize;
                let n = out.len();
                for start in (0..geom.weight_count()).step_by(row.max(1)) {
                    for (k, s) in out.iter_mut().enumerate().take(n) {
                        let x = crate::int4::get(w, start + first + k);
                        *s += x.unsigned_abs() as u64;
                    }
                }
            }
        }
    }
}

fn column_sums<W: Copy + Into<i32>>(w: &[W], geom: &ConvGeom, first: usize, out: &mut [u64]) {
    out.fill(0);
    // Depthwise weights are [tap][c]: the row width is the channel count too.
    let row = geom.out_c as usize;
    let n = out.len();
    for row_w in w.chunks_exact(row) {
        for (s, &x) in out.iter_mut().zip(&row_w[first..first + n]) {
            *s += x.into().unsigned_abs() as u64;
        }
    }
}

fn is_fixed(t: &TensorDesc) -> bool {
    matches!(t.kind, TensorKind::Fixed { .. })
}

fn same_shape(a: &TensorDesc, b: &TensorDesc) -> bool {
    (a.h, a.w, a.c) == (b.h, b.w, b.c)
}

fn check_conv_shapes(i: u16, g: &ConvGeom, x: &TensorDesc, y: &TensorDesc) -> Result<()> {
    if g.kernel == 0 || g.kernel > 15 || g.stride == 0 || g.stride > 8 || g.pad >= g.kernel {
        return Err(Error::Unsupported { node: i });
    }
    if g.depthwise && g.in_c != g.out_c {
        return Err(Error::Unsupported { node: i });
    }
    let (oh, ow) = (g.out_len(x.h), g.out_len(x.w));
    if x.c != g.in_c || y.c != g.out_c || oh != Some(y.h) || ow != Some(y.w) {
        return Err(Error::ShapeMismatch { node: i });
    }
    Ok(())
}

/// Number of elements of a tensor.
pub fn elements(t: &TensorDesc) -> usize {
    t.h as usize * t.w as usize * t.c as usize
}

/// Bytes of a tensor in the arena.
pub fn tensor_bytes(t: &TensorDesc) -> usize {
    let elem = match t.kind {
        TensorKind::Input { wide: false } | TensorKind::Spikes => 1,
        TensorKind::Input { wide: true } => 2,
        TensorKind::Fixed { .. } => 4,
    };
    elements(t) * elem
}

/// Tensors a node reads (up to three) and the tensor it writes.
pub fn node_io(op: &Op) -> ([Option<TensorId>; 3], TensorId) {
    match *op {
        Op::Encode(Synapse { input, output, .. })
        | Op::Conv {
            synapse: Synapse { input, output, .. },
            ..
        }
        | Op::Spike { input, output }
        | Op::MeanSpike { input, output } => ([Some(input), None, None], output),
        Op::Attention {
            q, k, v, output, ..
        } => ([Some(q), Some(k), Some(v)], output),
    }
}

/// The cheaper order for linear attention with `tokens` tokens and head dims `d`, `dv`:
/// `q (kᵀ v)` costs about `2·N·d·dv`, `(q kᵀ) v` about `N²·(d + dv)`.
pub fn cheaper_attention_order(tokens: usize, d: usize, dv: usize) -> AttentionOrder {
    if 2 * d * dv <= tokens * (d + dv) {
        AttentionOrder::KvFirst
    } else {
        AttentionOrder::QkThenV
    }
}
