//! Shared helpers of the integration tests: a deterministic RNG, a tiny graph builder that writes
//! a blob into 16-byte-aligned memory, executors that split rows differently, and a runner that
//! executes a model node by node under every kernel and executor and checks they agree.
#![allow(dead_code)]

use sdt_core::blob;
use sdt_core::fixed::Affine;
use sdt_core::graph::{
    ArchInfo, ConvGeom, ConvOutput, Graph, InputSpec, Node, Op, Section, Synapse, TensorDesc,
    TensorId, TensorKind, WeightBits,
};
use sdt_core::kernels::conv::{conv_rows, conv_scratch_len, ConvArgs};
use sdt_core::kernels::output::Sink;
use sdt_core::kernels::Weight;
use sdt_core::{Executor, Kernel, Level, Model, Sequential, Session};

/// SplitMix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u32) -> bool {
        self.below(100) < pct as u64
    }
}

/// A blob in 16-byte-aligned memory (the host crate's aligned buffer).
pub type Blob = sdt_host::AlignedBlob;

/// Rewrites a blob's CRC trailer after its content was patched.
pub fn refresh_crc(blob: &mut Blob) {
    let b = blob.bytes_mut();
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let end = u32_at(16) + u32_at(20);
    let crc = blob::checksum(&b[..end]);
    b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Random weights of any width.
pub enum Weights {
    I8(Vec<i8>),
    I16(Vec<i16>),
    /// The values, and their packed bytes (two per byte, even weight in the low nibble).
    I4(Vec<i8>, Vec<u8>),
}

/// Packs 4-bit values (`-8..=7`) two per byte, the even one in the low nibble.
pub fn pack4(values: &[i8]) -> Vec<u8> {
    values
        .chunks(2)
        .map(|p| (p[0] as u8 & 0x0f) | ((p.get(1).copied().unwrap_or(0) as u8 & 0x0f) << 4))
        .collect()
}

impl Weights {
    /// `count` weights uniform in `±max` (clamped to the width's range).
    pub fn random(rng: &mut Rng, bits: WeightBits, count: usize, max: i32) -> Self {
        let m = max.min(bits.max_magnitude()) as i64;
        match bits {
            WeightBits::I8 => Weights::I8((0..count).map(|_| rng.range(-m, m) as i8).collect()),
            WeightBits::I16 => Weights::I16((0..count).map(|_| rng.range(-m, m) as i16).collect()),
            WeightBits::I4 => {
                // The full stored range, −8 included.
                let lo = if m >= 7 { -8 } else { -m };
                let v: Vec<i8> = (0..count).map(|_| rng.range(lo, m) as i8).collect();
                let packed = pack4(&v);
                Weights::I4(v, packed)
            }
        }
    }
    pub fn constant(bits: WeightBits, count: usize, value: i16) -> Self {
        match bits {
            WeightBits::I8 => Weights::I8(vec![value as i8; count]),
            WeightBits::I16 => Weights::I16(vec![value; count]),
            WeightBits::I4 => {
                let v = vec![value as i8; count];
                let packed = pack4(&v);
                Weights::I4(v, packed)
            }
        }
    }
    pub fn bits(&self) -> WeightBits {
        match self {
            Weights::I8(_) => WeightBits::I8,
            Weights::I16(_) => WeightBits::I16,
            Weights::I4(..) => WeightBits::I4,
        }
    }
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Weights::I8(w) | Weights::I4(w, _) => w[i] as i64,
            Weights::I16(w) => w[i] as i64,
        }
    }
    fn bytes(&self) -> &[u8] {
        match self {
            Weights::I8(w) => bytemuck::cast_slice(w),
            Weights::I16(w) => bytemuck::cast_slice(w),
            Weights::I4(_, packed) => packed,
        }
    }
}

/// Builds a graph and its data section in memory.
pub struct Builder {
    pub graph: Graph,
    pub data: Vec<u8>,
}

impl Builder {
    pub fn new(d: u8) -> Self {
        Builder {
            graph: Graph {
                d,
                input: 0,
                logits: 0,
                input_spec: InputSpec {
                    scale: 1.0 / 64.0,
                    max_abs: 128,
                    zero_points: heapless::Vec::new(),
                },
                arch: ArchInfo {
                    embed: [0; 4],
                    blocks3: 0,
                    blocks4: 0,
                    params: 0,
                },
                tensors: heapless::Vec::new(),
                nodes: heapless::Vec::new(),
                labels: Section::default(),
            },
            data: Vec::new(),
        }
    }

    pub fn tensor(&mut self, kind: TensorKind, h: u16, w: u16, c: u16) -> TensorId {
        let id = self.graph.tensors.len() as TensorId;
        self.graph
            .tensors
            .push(TensorDesc { kind, h, w, c })
            .expect("too many tensors");
        id
    }
    /// The `i8` input tensor, with its zero points (one per channel).
    pub fn input(&mut self, h: u16, w: u16, zero_points: &[i16]) -> TensorId {
        let id = self.tensor(
            TensorKind::Input { wide: false },
            h,
            w,
            zero_points.len() as u16,
        );
        self.graph.input = id;
        self.graph.input_spec.zero_points = zero_points.iter().copied().collect();
        id
    }
    pub fn fixed(&mut self, h: u16, w: u16, c: u16, frac: u8) -> TensorId {
        self.tensor(TensorKind::Fixed { frac }, h, w, c)
    }
    pub fn spikes(&mut self, h: u16, w: u16, c: u16) -> TensorId {
        self.tensor(TensorKind::Spikes, h, w, c)
    }

    /// Appends bytes to the data section at a 16-byte boundary.
    pub fn section(&mut self, bytes: &[u8]) -> Section {
        let offset = self.data.len().next_multiple_of(16);
        self.data.resize(offset, 0);
        self.data.extend_from_slice(bytes);
        Section {
            offset: offset as u32,
            len: bytes.len() as u32,
        }
    }
    pub fn weights(&mut self, w: &Weights) -> Section {
        self.section(w.bytes())
    }
    pub fn affine(&mut self, a: &[Affine]) -> Section {
        self.section(bytemuck::cast_slice(a))
    }
    pub fn node(&mut self, op: Op) -> usize {
        let i = self.graph.nodes.len();
        let node = Node {
            op,
            name: Section::default(),
            block: 0,
        };
        self.graph.nodes.push(node).expect("too many nodes");
        i
    }

    /// Adds a convolution (`Conv`, or `Encode` when `mode` is `None`) with the given weights.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        input: TensorId,
        output: TensorId,
        geom: ConvGeom,
        weights: &Weights,
        affine: &[Affine],
        mode: Option<ConvOutput>,
    ) -> usize {
        let bits = weights.bits();
        let (weights, affine) = (self.weights(weights), self.affine(affine));
        let synapse = Synapse {
            input,
            output,
            geom,
            bits,
            weights,
            affine,
        };
        let op = match mode {
            Some(mode) => Op::Conv { synapse, mode },
            None => Op::Encode(synapse),
        };
        self.node(op)
    }

    /// `MeanSpike(residual)` then a 1×1 linear head writing new logits (`classes` channels).
    pub fn head(&mut self, rng: &mut Rng, residual: TensorId, classes: u16) -> TensorId {
        let c = self.graph.tensors[residual as usize].c;
        let m = self.spikes(1, 1, c);
        self.node(Op::MeanSpike {
            input: residual,
            output: m,
        });
        let logits = self.fixed(1, 1, classes, 8);
        let g = geom(1, 1, 0, c, classes, false);
        let w = Weights::random(rng, WeightBits::I8, g.weight_count(), 127);
        self.conv(
            m,
            logits,
            g,
            &w,
            &fixed_affines(rng, classes),
            Some(ConvOutput::Write),
        );
        self.graph.logits = logits;
        logits
    }

    pub fn blob(&self) -> Blob {
        self.blob_with(&Default::default())
    }

    /// The blob with `meta` as its metadata.
    pub fn blob_with(&self, meta: &sdt_core::Metadata<'_>) -> Blob {
        let mut out = vec![0u8; 64 + self.data.len() + 8 * 1024];
        let n = blob::write(&self.graph, meta, &self.data, &mut out).expect("blob::write");
        Blob::from_bytes(&out[..n])
    }
}

pub fn geom(kernel: u8, stride: u8, pad: u8, in_c: u16, out_c: u16, depthwise: bool) -> ConvGeom {
    ConvGeom {
        kernel,
        stride,
        pad,
        in_c,
        out_c,
        depthwise,
    }
}

/// Affine maps for fixed-point outputs: modest multipliers, shift 20..=30, small biases.
pub fn fixed_affines(rng: &mut Rng, n: u16) -> Vec<Affine> {
    (0..n)
        .map(|_| {
            let m = rng.range(-(1 << 20), 1 << 20) as i32;
            Affine::new(m, rng.range(20, 30) as u8, rng.range(-1000, 1000) as i32)
        })
        .collect()
}

/// Affine maps plus a `frac` such that accumulators of magnitude about `acc_scale` land in the
/// spike range `0..=d` (so outputs are neither all zero nor all saturated).
pub fn spike_affines(rng: &mut Rng, n: u16, acc_scale: f64, d: u8) -> (Vec<Affine>, u8) {
    let s0 = rng.range(0, 10) as u8;
    let log = (acc_scale.max(1.0) / d as f64).log2().round() as i64;
    let frac = (log - s0 as i64).clamp(0, 30) as u8;
    let unit = 1i64 << frac;
    let affines = (0..n)
        .map(|_| {
            let m = rng.range(-(1 << 19), 1 << 20) as i32;
            let b = rng.range(-(d as i64) * unit / 2, d as i64 * unit / 2) as i32;
            Affine::new(m, 20 + s0, b)
        })
        .collect();
    (affines, frac)
}

/// Typical |accumulator| of `fanin` spike inputs (mean count `mean`) times weights in `±wmax`.
pub fn acc_scale(fanin: usize, mean: f64, wmax: i32) -> f64 {
    (fanin as f64).sqrt() * mean.max(0.5) * wmax as f64 / 2.0 + 1.0
}

/// Residual values whose spikes (frac 0) are non-zero with probability `density` percent.
pub fn spike_values(rng: &mut Rng, n: usize, density: u32, d: u8) -> Vec<i32> {
    (0..n)
        .map(|_| {
            if rng.chance(density) {
                // Mostly 1..=d, sometimes above d (clamped).
                rng.range(1, d as i64 + 2) as i32
            } else {
                -(rng.range(0, 1000) as i32)
            }
        })
        .collect()
}

/// Runs jobs one after another, last job first.
pub struct Reverse(pub usize);

impl Executor for Reverse {
    fn workers(&self) -> usize {
        self.0
    }
    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        for job in jobs.iter_mut().rev() {
            job();
        }
    }
}

/// Runs every job on its own scoped thread.
pub struct Threads(pub usize);

impl Executor for Threads {
    fn workers(&self) -> usize {
        self.0
    }
    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        std::thread::scope(|s| {
            for job in jobs.iter_mut() {
                s.spawn(job);
            }
        });
    }
}

/// A kernel with an executor and the worker count the session is planned for.
#[derive(Clone)]
pub struct Variant {
    pub kernel: Kernel,
    pub exec: &'static dyn Executor,
    pub workers: usize,
    /// The kernel set (every one this CPU runs is a variant).
    pub level: Level,
    pub name: String,
}

pub static REVERSE3: Reverse = Reverse(3);
pub static THREADS3: Threads = Threads(3);

/// Kernels, executors and kernel sets that must all give the same integers: each executor
/// at the portable level, then the spike-driven and dense kernels at every other level this
/// CPU runs (the same test binary covers every kernel set).
pub fn variants() -> Vec<Variant> {
    let v = |kernel, exec: &'static dyn Executor, workers, level: Level, name: &str| Variant {
        kernel,
        exec,
        workers,
        level,
        name: format!("{name}/{level}"),
    };
    let portable = Level::Portable;
    let mut all = vec![
        v(Kernel::SpikeDriven, &Sequential, 1, portable, "spike/seq"),
        v(Kernel::Dense, &Sequential, 1, portable, "dense/seq"),
        v(Kernel::SpikeDriven, &REVERSE3, 3, portable, "spike/rev3"),
        v(Kernel::Dense, &REVERSE3, 3, portable, "dense/rev3"),
        v(Kernel::SpikeDriven, &THREADS3, 3, portable, "spike/thr3"),
        v(Kernel::Dense, &THREADS3, 3, portable, "dense/thr3"),
    ];
    for level in Level::supported().filter(|&l| l != portable) {
        all.push(v(Kernel::SpikeDriven, &Sequential, 1, level, "spike/seq"));
        all.push(v(Kernel::SpikeDriven, &REVERSE3, 3, level, "spike/rev3"));
        all.push(v(Kernel::Dense, &Sequential, 1, level, "dense/seq"));
    }
    all
}

/// Contents of one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Spikes(Vec<u8>),
    Fixed(Vec<i32>),
}

impl Data {
    pub fn spikes(&self) -> &[u8] {
        match self {
            Data::Spikes(s) => s,
            Data::Fixed(_) => panic!("not a spike tensor"),
        }
    }
    pub fn fixed(&self) -> &[i32] {
        match self {
            Data::Fixed(f) => f,
            Data::Spikes(_) => panic!("not a fixed-point tensor"),
        }
    }
}

pub fn snapshot(s: &Session<'_, '_, '_>, id: TensorId) -> Data {
    match s.spikes(id) {
        Some(x) => Data::Spikes(x.to_vec()),
        None => Data::Fixed(s.fixed(id).expect("spike or fixed tensor").to_vec()),
    }
}

pub fn output_of(op: &Op) -> TensorId {
    sdt_core::model::node_io(op).1
}

/// Runs nodes `start..` one at a time under every [`variants`] entry (each session prepared by
/// `prepare`), asserts every node's output and the logits agree bit for bit, and returns the
/// outputs (indexed by node, `None` before `start`).
pub fn run_all(
    model: &Model<'_>,
    start: usize,
    prepare: &dyn Fn(&mut Session<'_, '_, '_>),
) -> Vec<Option<Data>> {
    let vs = variants();
    let mut arenas: Vec<Vec<u8>> = vs
        .iter()
        .map(|v| vec![0xa5; sdt_core::arena_bytes(model, v.workers).unwrap()])
        .collect();
    let mut sessions: Vec<Session<'_, '_, '_>> = arenas
        .iter_mut()
        .zip(&vs)
        .map(|(a, v)| {
            let mut s = Session::new(model, a, v.workers).unwrap();
            s.set_level(v.level).unwrap();
            s
        })
        .collect();
    for s in &mut sessions {
        prepare(s);
    }
    let mut outputs = vec![None; start];
    for (i, node) in model.nodes().iter().enumerate().skip(start) {
        let out = output_of(&node.op);
        let mut first = None;
        for (s, v) in sessions.iter_mut().zip(&vs) {
            s.run_nodes(i..i + 1, v.kernel, v.exec, None).unwrap();
            let got = snapshot(s, out);
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(f, &got, "node {i} ({:?}): {} differs", node.op, v.name),
            }
        }
        outputs.push(first);
    }
    for (s, v) in sessions.iter().zip(&vs) {
        assert_eq!(
            sessions[0].logits(),
            s.logits(),
            "logits: {} differs",
            v.name
        );
    }
    outputs
}

/// A small complete model (6×6×2 input, D = 4): encode 3×3 → spike → depthwise 3×3 q, 1×1 k
/// and v → 2-head attention → 1×1 conv accumulated into the residual → mean spike → 5 logits.
pub fn tiny_model(seed: u64, order: sdt_core::graph::AttentionOrder) -> Builder {
    let mut rng = Rng::new(seed);
    let d = 4;
    let mut b = Builder::new(d);
    let x = b.input(6, 6, &[1, -2]);
    let g0 = geom(3, 1, 1, 2, 8, false);
    let (a0, frac0) = spike_affines(&mut rng, 8, acc_scale(18, 64.0, 127), d);
    let r = b.fixed(6, 6, 8, frac0);
    let w0 = Weights::random(&mut rng, WeightBits::I8, g0.weight_count(), 127);
    b.conv(x, r, g0, &w0, &a0, None);
    let s = b.spikes(6, 6, 8);
    b.node(Op::Spike {
        input: r,
        output: s,
    });
    let mut qkv = Vec::new();
    // q with packed 4-bit weights (node 2), k and v with int8.
    for (g, c, bits) in [
        (geom(3, 1, 1, 8, 8, true), 8, WeightBits::I4),
        (geom(1, 1, 0, 8, 8, false), 8, WeightBits::I8),
        (geom(1, 1, 0, 8, 4, false), 4, WeightBits::I8),
    ] {
        let w = Weights::random(&mut rng, bits, g.weight_count(), 127);
        let fanin = g.weight_count() / c as usize;
        let (a, frac) = spike_affines(&mut rng, c, acc_scale(fanin, 1.0, bits.max_magnitude()), d);
        let t = b.spikes(6, 6, c);
        b.conv(s, t, g, &w, &a, Some(ConvOutput::Spikes { frac }));
        qkv.push(t);
    }
    let att = b.spikes(6, 6, 4);
    let (aa, frac) = spike_affines(&mut rng, 1, 4.0 * 36.0, d);
    let affine = b.affine(&aa);
    b.node(Op::Attention {
        q: qkv[0],
        k: qkv[1],
        v: qkv[2],
        output: att,
        heads: 2,
        order,
        affine,
        frac,
    });
    let g = geom(1, 1, 0, 4, 8, false);
    let w = Weights::random(&mut rng, WeightBits::I16, g.weight_count(), 3000);
    let a = fixed_affines(&mut rng, 8);
    b.conv(att, r, g, &w, &a, Some(ConvOutput::Accumulate));
    b.head(&mut rng, r, 5);
    b
}

// --- convolution accumulators ------------------------------------------------------------

/// Records every accumulator vector a convolution produces.
pub struct Record<'a> {
    pub acc: &'a mut [i32],
    pub c: usize,
}

impl Sink for Record<'_> {
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        self.acc[pixel * self.c..(pixel + 1) * self.c].copy_from_slice(acc);
    }
}

/// The accumulators of `conv_rows` over all output rows, asserted to be the same at every
/// kernel set this CPU runs.
pub fn accumulators<W: Weight>(
    kernel: Kernel,
    a: &ConvArgs<'_, W>,
    x: &[u8],
    oh: usize,
) -> Vec<i32> {
    let c = a.geom.out_c as usize;
    let at = |level: Level| {
        let mut all = vec![0i32; oh * a.out_w * c];
        // Dirty scratch: kernels must not rely on it being cleared.
        let mut scratch = vec![0x5a5a_5a5a; conv_scratch_len(&a.geom)];
        // Two row chunks (as two workers would get them): a kernel must start at any row.
        let split = oh / 3;
        let (first, second) = all.split_at_mut(split * a.out_w * c);
        for (rows, acc) in [(0..split, first), (split..oh, second)] {
            let mut sink = Record { acc, c };
            conv_rows(level, kernel, a, x, rows, &mut scratch, &mut sink);
        }
        all
    };
    let portable = at(Level::Portable);
    for level in Level::supported() {
        assert_eq!(at(level), portable, "{kernel:?} at {level} vs portable");
    }
    portable
}
