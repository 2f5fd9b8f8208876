//! The spike-driven kernels equal the dense integer reference bit for bit, per layer type and
//! for whole models, under every executor (sequential, reversed job order, threads). Also:
//! both attention orders give the same integers, MeanSpike and attention match independent
//! reference computations, and a convolution of spike counts equals the sum of the
//! convolutions of its D binary spike planes. A matrix-product engine that takes every
//! product gives the same integers as the session's own kernels.

mod common;

use common::Rng;
use common::*;
use proptest::prelude::*;
use sdt_core::engine::{spike_matmul, Engine, EngineError, MatMul, Role};
use sdt_core::fixed::spike_count;
use sdt_core::graph::{AttentionOrder, ConvGeom, ConvOutput, Op, WeightBits};
use sdt_core::kernels::conv::ConvArgs;
use sdt_core::kernels::Weight;
use sdt_core::{Input, Kernel, Session};
use std::sync::Mutex;

fn kernel_size() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![1u8, 3, 5, 7])
}

fn bits() -> impl Strategy<Value = WeightBits> {
    prop_oneof![
        Just(WeightBits::I8),
        Just(WeightBits::I16),
        Just(WeightBits::I4)
    ]
}

#[derive(Clone, Debug)]
struct ConvCase {
    kernel: u8,
    stride: u8,
    pad: u8,
    depthwise: bool,
    in_c: u16,
    out_c: u16,
    h: u16,
    w: u16,
    d: u8,
    density: u32,
    bits: WeightBits,
    mode: u8,
    seed: u64,
}

prop_compose! {
    fn conv_case()(
        kernel in kernel_size(),
        stride in 1u8..=2,
        pad_raw in 0u8..=3,
        depthwise in any::<bool>(),
        in_c in 1u16..=24,
        out_c in 1u16..=24,
        (h, w) in (1u16..=12, 1u16..=12),
        d in 1u8..=15,
        density in prop_oneof![Just(0u32), Just(100u32), 0u32..=100],
        bits in bits(),
        mode in 0u8..3,
        seed in any::<u64>(),
    ) -> ConvCase {
        let pad = pad_raw.min(kernel / 2);
        // The padded input must hold at least one kernel window.
        let min = (kernel - 2 * pad) as u16;
        let out_c = if depthwise { in_c } else { out_c };
        ConvCase { kernel, stride, pad, depthwise, in_c, out_c, h: h.max(min), w: w.max(min),
                   d, density, bits, mode, seed }
    }
}

impl ConvCase {
    fn geom(&self) -> ConvGeom {
        geom(
            self.kernel,
            self.stride,
            self.pad,
            self.in_c,
            self.out_c,
            self.depthwise,
        )
    }
    fn fanin(&self) -> usize {
        let taps = self.kernel as usize * self.kernel as usize;
        if self.depthwise {
            taps
        } else {
            taps * self.in_c as usize
        }
    }
    fn wmax(&self, rng: &mut Rng) -> i32 {
        match self.bits {
            WeightBits::I8 => 127,
            WeightBits::I16 => [127, 2047, 32767][rng.below(3) as usize],
            WeightBits::I4 => 7,
        }
    }
    fn mean_count(&self) -> f64 {
        self.density as f64 / 100.0 * (self.d as f64 + 1.0) / 2.0
    }
}

/// Input → Encode → residual (frac 0, filled by hand) → Spike → Conv under test → head.
fn conv_layer(p: &ConvCase) {
    let mut rng = Rng::new(p.seed);
    let mut b = Builder::new(p.d);
    let x = b.input(p.h, p.w, &[0]);
    let r = b.fixed(p.h, p.w, p.in_c, 0);
    let enc = geom(1, 1, 0, 1, p.in_c, false);
    let w = Weights::random(&mut rng, WeightBits::I8, enc.weight_count(), 127);
    b.conv(x, r, enc, &w, &fixed_affines(&mut rng, p.in_c), None);

    let g = p.geom();
    let (oh, ow) = (g.out_len(p.h).unwrap(), g.out_len(p.w).unwrap());
    let wmax = p.wmax(&mut rng);
    let weights = Weights::random(&mut rng, p.bits, g.weight_count(), wmax);
    let (y, mode, affine) = match p.mode {
        0 => {
            let scale = acc_scale(p.fanin(), p.mean_count(), wmax);
            let (affine, frac) = spike_affines(&mut rng, p.out_c, scale, p.d);
            let y = b.spikes(oh, ow, p.out_c);
            (y, ConvOutput::Spikes { frac }, affine)
        }
        1 => {
            let y = b.fixed(oh, ow, p.out_c, 4);
            // The accumulated tensor must be written first: an Encode of the same geometry.
            let g1 = geom(p.kernel, p.stride, p.pad, 1, p.out_c, false);
            let w1 = Weights::random(&mut rng, WeightBits::I8, g1.weight_count(), 127);
            b.conv(x, y, g1, &w1, &fixed_affines(&mut rng, p.out_c), None);
            (y, ConvOutput::Accumulate, fixed_affines(&mut rng, p.out_c))
        }
        _ => {
            let y = b.fixed(oh, ow, p.out_c, 4);
            (y, ConvOutput::Write, fixed_affines(&mut rng, p.out_c))
        }
    };
    let s = b.spikes(p.h, p.w, p.in_c);
    let start = b.node(Op::Spike {
        input: r,
        output: s,
    });
    let conv = b.conv(s, y, g, &weights, &affine, Some(mode));
    let classes = rng.range(1, 10) as u16;
    b.head(&mut rng, r, classes);

    let blob = b.blob();
    let model = blob.model().expect("valid model");
    let n_in = p.h as usize * p.w as usize * p.in_c as usize;
    let residual = spike_values(&mut rng, n_in, p.density, p.d);
    let n_out = oh as usize * ow as usize * p.out_c as usize;
    let y0: Vec<i32> = (0..n_out)
        .map(|_| rng.range(-1 << 20, 1 << 20) as i32)
        .collect();
    let prepare = |s: &mut Session<'_, '_, '_>| {
        s.fixed_mut(r).unwrap().copy_from_slice(&residual);
        if mode == ConvOutput::Accumulate {
            s.fixed_mut(y).unwrap().copy_from_slice(&y0);
        }
    };
    let out = run_all(&model, start, &prepare);
    // The spikes really are the requested counts.
    let counts = out[start].as_ref().unwrap().spikes();
    for (&c, &v) in counts.iter().zip(&residual) {
        assert_eq!(c as i32, v.clamp(0, p.d as i32));
    }
    assert!(out[conv].is_some());
}

#[derive(Clone, Debug)]
struct AttnCase {
    tokens: u16,
    rows_pick: u16,
    heads: u16,
    dq: u16,
    dv: u16,
    d: u8,
    density: [u32; 3],
    seed: u64,
}

prop_compose! {
    fn attn_case()(
        tokens in 1u16..=40,
        rows_pick in any::<u16>(),
        heads in 1u16..=4,
        dq in 1u16..=6,
        dv in 1u16..=6,
        d in 1u8..=15,
        density in [0u32..=100, 0u32..=100, 0u32..=100],
        seed in any::<u64>(),
    ) -> AttnCase {
        AttnCase { tokens, rows_pick, heads, dq, dv, d, density, seed }
    }
}

/// q, k, v from hand-filled residuals; both attention orders; checked against each other and
/// against a direct `q kᵀ v` in i64.
fn attention(p: &AttnCase) {
    let mut rng = Rng::new(p.seed);
    let divisors: Vec<u16> = (1..=p.tokens)
        .filter(|&r| p.tokens.rem_euclid(r) == 0)
        .collect();
    let th = divisors[p.rows_pick as usize % divisors.len()];
    let tw = p.tokens / th;
    let (c, cv) = (p.heads * p.dq, p.heads * p.dv);
    let mut b = Builder::new(p.d);
    let x = b.input(th, tw, &[0]);
    let mut residuals = Vec::new();
    for ch in [c, c, cv] {
        let r = b.fixed(th, tw, ch, 0);
        let g = geom(1, 1, 0, 1, ch, false);
        let w = Weights::random(&mut rng, WeightBits::I8, ch as usize, 127);
        b.conv(x, r, g, &w, &fixed_affines(&mut rng, ch), None);
        residuals.push(r);
    }
    let start = b.graph.nodes.len();
    let qkv: Vec<_> = residuals
        .iter()
        .map(|&r| {
            let t = b.graph.tensors[r as usize];
            let s = b.spikes(th, tw, t.c);
            b.node(Op::Spike {
                input: r,
                output: s,
            });
            s
        })
        .collect();
    let mean = |i: usize| p.density[i] as f64 / 100.0 * (p.d as f64 + 1.0) / 2.0;
    let scale = p.dq as f64 * p.tokens as f64 * mean(0) * mean(1) * mean(2) + 1.0;
    let (mut affine, frac) = spike_affines(&mut rng, 1, scale, p.d);
    // One map for all outputs: keep it increasing so outputs vary instead of all being 0.
    affine[0].multiplier = affine[0].multiplier.abs().max(1 << 18);
    affine[0].bias /= 4;
    let a = b.affine(&affine);
    let mut attn_nodes = Vec::new();
    for order in [AttentionOrder::QkThenV, AttentionOrder::KvFirst] {
        let o = b.spikes(th, tw, cv);
        let op = Op::Attention {
            q: qkv[0],
            k: qkv[1],
            v: qkv[2],
            output: o,
            heads: p.heads,
            order,
            affine: a,
            frac,
        };
        attn_nodes.push(b.node(op));
    }
    b.head(&mut rng, residuals[0], 3);

    let blob = b.blob();
    let model = blob.model().expect("valid model");
    let values: Vec<Vec<i32>> = residuals
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let t = b.graph.tensors[r as usize];
            let n = t.h as usize * t.w as usize * t.c as usize;
            spike_values(&mut rng, n, p.density[i], p.d)
        })
        .collect();
    let prepare = |s: &mut Session<'_, '_, '_>| {
        for (&r, v) in residuals.iter().zip(&values) {
            s.fixed_mut(r).unwrap().copy_from_slice(v);
        }
    };
    let out = run_all(&model, start, &prepare);
    let spikes = |i: usize| out[start + i].as_ref().unwrap().spikes();
    let (q, k, v) = (spikes(0), spikes(1), spikes(2));
    let o1 = out[attn_nodes[0]].as_ref().unwrap();
    let o2 = out[attn_nodes[1]].as_ref().unwrap();
    assert_eq!(o1, o2, "attention orders disagree");

    let (n, c, cv, dq, dv) = (
        p.tokens as usize,
        c as usize,
        cv as usize,
        p.dq as usize,
        p.dv as usize,
    );
    let mut expected = vec![0u8; n * cv];
    for t in 0..n {
        for h in 0..p.heads as usize {
            for j in 0..dv {
                let mut s = 0i64;
                for m in 0..n {
                    let score: i64 = (0..dq)
                        .map(|i| q[t * c + h * dq + i] as i64 * k[m * c + h * dq + i] as i64)
                        .sum();
                    s += score * v[m * cv + h * dv + j] as i64;
                }
                let y = affine[0].apply(i32::try_from(s).unwrap());
                expected[t * cv + h * dv + j] = spike_count(y, frac, p.d);
            }
        }
    }
    assert_eq!(o1.spikes(), &expected[..], "attention differs from q kᵀ v");
}

/// MeanSpike of random fixed-point values (ties included) against an f64 reference.
fn mean_spike(h: u16, w: u16, c: u16, frac: u8, d: u8, halves: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut b = Builder::new(d);
    let x = b.input(h, w, &[3]);
    let r = b.fixed(h, w, c, frac);
    let g = geom(1, 1, 0, 1, c, false);
    let wts = Weights::random(&mut rng, WeightBits::I8, c as usize, 127);
    b.conv(x, r, g, &wts, &fixed_affines(&mut rng, c), None);
    b.head(&mut rng, r, 2);
    let blob = b.blob();
    let model = blob.model().expect("valid model");
    let unit = 1i64 << frac;
    let n = h as usize * w as usize * c as usize;
    let values: Vec<i32> = (0..n)
        .map(|_| {
            let v = if halves && frac > 0 {
                rng.range(-2 * d as i64, 4 * d as i64) * (unit / 2)
            } else {
                rng.range(-(d as i64) * unit, 2 * d as i64 * unit)
            };
            v.clamp(i32::MIN as i64 / 2, i32::MAX as i64 / 2) as i32
        })
        .collect();
    let prepare = |s: &mut Session<'_, '_, '_>| s.fixed_mut(r).unwrap().copy_from_slice(&values);
    let out = run_all(&model, 1, &prepare);
    let got = out[1].as_ref().unwrap().spikes();
    let tokens = h as f64 * w as f64;
    for (ch, &got) in got.iter().enumerate() {
        let sum: i64 = values
            .iter()
            .skip(ch)
            .step_by(c as usize)
            .map(|&v| v as i64)
            .sum();
        let mean = sum as f64 / (tokens * unit as f64);
        let want = mean.clamp(0.0, d as f64).round_ties_even() as u8;
        assert_eq!(got, want, "channel {ch}: mean {mean}");
    }
}

#[derive(Clone, Debug)]
struct ModelCase {
    h: u16,
    w: u16,
    in_c: u16,
    kernel: u8,
    stride: u8,
    pad: u8,
    heads: u16,
    dq: u16,
    dv: u16,
    d: u8,
    bits: WeightBits,
    order: AttentionOrder,
    seed: u64,
}

prop_compose! {
    fn model_case()(
        (h, w) in (1u16..=12, 1u16..=12),
        in_c in 1u16..=3,
        kernel in kernel_size(),
        stride in 1u8..=2,
        pad_raw in 0u8..=3,
        (heads, dq, dv) in (1u16..=4, 1u16..=6, 1u16..=6),
        d in 1u8..=15,
        bits in bits(),
        kv_first in any::<bool>(),
        seed in any::<u64>(),
    ) -> ModelCase {
        let pad = pad_raw.min(kernel / 2);
        let min = (kernel - 2 * pad) as u16;
        let order = if kv_first { AttentionOrder::KvFirst } else { AttentionOrder::QkThenV };
        ModelCase { h: h.max(min), w: w.max(min), in_c, kernel, stride, pad, heads, dq, dv, d,
                    bits, order, seed }
    }
}

/// encode → spike → convs (depthwise q, 1×1 k, v) → attention → conv accumulate → mean spike
/// → linear head, from a random `i8` input.
fn whole_model(p: &ModelCase) {
    let mut rng = Rng::new(p.seed);
    let mut b = Builder::new(p.d);
    let zps: Vec<i16> = (0..p.in_c).map(|_| rng.range(-8, 8) as i16).collect();
    let x = b.input(p.h, p.w, &zps);
    let (c, cv) = (p.heads * p.dq, p.heads * p.dv);
    let g0 = geom(p.kernel, p.stride, p.pad, p.in_c, c, false);
    let (oh, ow) = (g0.out_len(p.h).unwrap(), g0.out_len(p.w).unwrap());
    let wmax = if p.bits == WeightBits::I8 { 127 } else { 4000 };
    let w0 = Weights::random(&mut rng, p.bits, g0.weight_count(), wmax);
    let scale = acc_scale(g0.weight_count() / c as usize, 64.0, wmax);
    let (a0, frac0) = spike_affines(&mut rng, c, scale, p.d);
    let r = b.fixed(oh, ow, c, frac0);
    b.conv(x, r, g0, &w0, &a0, None);
    let s = b.spikes(oh, ow, c);
    b.node(Op::Spike {
        input: r,
        output: s,
    });
    let mean = (p.d as f64 + 1.0) / 4.0;
    let mut qkv = Vec::new();
    for (g, out_c) in [
        (geom(3, 1, 1, c, c, true), c),
        (geom(1, 1, 0, c, c, false), c),
        (geom(1, 1, 0, c, cv, false), cv),
    ] {
        let w = Weights::random(&mut rng, p.bits, g.weight_count(), wmax);
        let fanin = g.weight_count() / out_c as usize;
        let (a, frac) = spike_affines(&mut rng, out_c, acc_scale(fanin, mean, wmax), p.d);
        let t = b.spikes(oh, ow, out_c);
        b.conv(s, t, g, &w, &a, Some(ConvOutput::Spikes { frac }));
        qkv.push(t);
    }
    let tokens = oh as f64 * ow as f64;
    let (aa, afrac) = spike_affines(&mut rng, 1, p.dq as f64 * tokens * mean.powi(3), p.d);
    let att = b.spikes(oh, ow, cv);
    let affine = b.affine(&aa);
    b.node(Op::Attention {
        q: qkv[0],
        k: qkv[1],
        v: qkv[2],
        output: att,
        heads: p.heads,
        order: p.order,
        affine,
        frac: afrac,
    });
    let g = geom(1, 1, 0, cv, c, false);
    let w = Weights::random(&mut rng, p.bits, g.weight_count(), wmax);
    b.conv(
        att,
        r,
        g,
        &w,
        &fixed_affines(&mut rng, c),
        Some(ConvOutput::Accumulate),
    );
    let classes = rng.range(1, 10) as u16;
    b.head(&mut rng, r, classes);

    let blob = b.blob();
    let model = blob.model().expect("valid model");
    let input: Vec<i8> = (0..model.input_len())
        .map(|_| rng.range(-128, 127) as i8)
        .collect();
    let prepare = |s: &mut Session<'_, '_, '_>| s.set_input(Input::I8(&input)).unwrap();
    let out = run_all(&model, 0, &prepare);
    let logits = out.last().unwrap().as_ref().unwrap().fixed();
    // A whole run in fresh sessions gives the same logits as the node-by-node run.
    for v in variants() {
        let mut arena = vec![0u8; sdt_core::arena_bytes(&model, v.workers).unwrap()];
        let mut session = Session::new(&model, &mut arena, v.workers).unwrap();
        session.set_level(v.level).unwrap();
        session.set_input(Input::I8(&input)).unwrap();
        session.run(v.kernel, v.exec, None).unwrap();
        assert_eq!(session.logits(), logits, "{}", v.name);
    }
    // The same with the spike thresholds kept across runs: the same spikes, run after run.
    let spike_tensors: Vec<_> = (0..model.graph().tensors.len() as u16)
        .filter(|&t| model.tensor(t).kind == sdt_core::graph::TensorKind::Spikes)
        .collect();
    let len = sdt_core::kept_thresholds_len(&model);
    assert!(len > model.nodes().len(), "q, k and v have spike outputs");
    for v in variants() {
        // Tensors share arena space, so the spikes compared are those of the same plan.
        let mut arena = vec![0u8; sdt_core::arena_bytes(&model, v.workers).unwrap()];
        let mut plain = Session::new(&model, &mut arena, v.workers).unwrap();
        plain.set_level(v.level).unwrap();
        plain.set_input(Input::I8(&input)).unwrap();
        plain.run(v.kernel, v.exec, None).unwrap();
        let mut arena = vec![0u8; sdt_core::arena_bytes(&model, v.workers).unwrap()];
        let mut session = Session::new(&model, &mut arena, v.workers).unwrap();
        let mut short = vec![0i32; len - 1];
        assert!(matches!(
            session.keep_thresholds(&mut short),
            Err(sdt_core::Error::ArenaTooSmall { .. })
        ));
        let mut kept = vec![0i32; len];
        session.keep_thresholds(&mut kept).unwrap();
        session.set_level(v.level).unwrap();
        session.set_input(Input::I8(&input)).unwrap();
        for run in 0..2 {
            session.run(v.kernel, v.exec, None).unwrap();
            assert_eq!(session.logits(), logits, "kept, {} run {run}", v.name);
            for &t in &spike_tensors {
                assert_eq!(
                    session.spikes(t),
                    plain.spikes(t),
                    "kept, {} tensor {t}",
                    v.name
                );
            }
        }
        // (The session's borrow of `kept` ended with its last run.) One table per layer with spike outputs (q, k, v), after the per-node offsets.
        let nodes = model.nodes().len();
        let tables: Vec<usize> = (0..nodes)
            .filter(|&i| kept[i] >= 0)
            .map(|i| kept[i] as usize)
            .collect();
        assert_eq!(tables.len(), 3, "{:?}", &kept[..nodes]);
        assert!(tables.iter().all(|&at| at >= nodes && at < len));
    }
    // The same with every matrix product computed by an engine.
    let engine = TakeAll::default();
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).unwrap()];
    let mut session = Session::new(&model, &mut arena, 1).unwrap();
    session.set_input(Input::I8(&input)).unwrap();
    let seq = &sdt_core::Sequential;
    session
        .run_with_engine(&engine, Kernel::SpikeDriven, seq, None)
        .unwrap();
    assert_eq!(session.logits(), logits, "engine");
    let roles = engine.0.into_inner().unwrap();
    // k, v, the attention output projection and the head are 1×1 convolutions.
    let synapses = roles.iter().filter(|r| **r == Role::Synapse).count();
    assert_eq!(synapses, 4, "{roles:?}");
    let attention = if p.order == AttentionOrder::KvFirst {
        2 * p.heads as usize
    } else {
        0
    };
    assert_eq!(roles.len(), 4 + attention, "{roles:?}");
}

/// Takes every product, computes it spike-driven on the CPU and records its role.
#[derive(Default)]
struct TakeAll(Mutex<Vec<Role>>);

impl Engine for TakeAll {
    fn takes(&self, _: &MatMul<'_>) -> bool {
        true
    }

    fn matmul(
        &self,
        p: &MatMul<'_>,
        row: &mut [i32],
        out: &mut dyn FnMut(usize, &[i32]),
    ) -> Result<(), EngineError> {
        self.0.lock().unwrap().push(p.role);
        spike_matmul(p, row, out)
    }
}

fn planes_case<W: Weight>(p: &ConvCase, weights: &[W], counts: &[u8]) {
    let g = p.geom();
    let (oh, ow) = (
        g.out_len(p.h).unwrap() as usize,
        g.out_len(p.w).unwrap() as usize,
    );
    let (h, w) = (p.h as usize, p.w as usize);
    let args = ConvArgs {
        geom: g,
        in_h: h,
        in_w: w,
        out_w: ow,
        weights,
    };
    let spike = accumulators(Kernel::SpikeDriven, &args, counts, oh);
    let dense = accumulators(Kernel::Dense, &args, counts, oh);
    assert_eq!(spike, dense);
    let mut sum = vec![0i32; spike.len()];
    for t in 0..p.d {
        let plane: Vec<u8> = counts.iter().map(|&s| (s > t) as u8).collect();
        let acc = accumulators(Kernel::SpikeDriven, &args, &plane, oh);
        for (s, a) in sum.iter_mut().zip(acc) {
            *s += a;
        }
    }
    assert_eq!(spike, sum, "sum over binary planes");
    // Direct convolution in i64.
    let (k, st, pad, ic, oc) = (
        p.kernel as usize,
        p.stride as usize,
        p.pad as isize,
        p.in_c as usize,
        p.out_c as usize,
    );
    let wt = |i: usize| -> i64 { weights[i].into() as i64 };
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut acc = 0i64;
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (oy * st) as isize + ky as isize - pad;
                        let ix = (ox * st) as isize + kx as isize - pad;
                        if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                            continue;
                        }
                        let px = (iy as usize * w + ix as usize) * ic;
                        let tap = ky * k + kx;
                        if p.depthwise {
                            acc += counts[px + o] as i64 * wt(tap * oc + o);
                        } else {
                            for i in 0..ic {
                                acc += counts[px + i] as i64 * wt((tap * ic + i) * oc + o);
                            }
                        }
                    }
                }
                assert_eq!(
                    spike[(oy * ow + ox) * oc + o] as i64,
                    acc,
                    "({oy},{ox},{o})"
                );
            }
        }
    }
}

fn binary_planes(p: &ConvCase) {
    let mut rng = Rng::new(p.seed);
    let g = p.geom();
    let n = p.h as usize * p.w as usize * p.in_c as usize;
    let counts: Vec<u8> = spike_values(&mut rng, n, p.density, p.d)
        .into_iter()
        .map(|v| v.clamp(0, p.d as i32) as u8)
        .collect();
    let wmax = p.wmax(&mut rng);
    match Weights::random(&mut rng, p.bits, g.weight_count(), wmax) {
        Weights::I8(w) | Weights::I4(w, _) => planes_case(p, &w, &counts),
        Weights::I16(w) => planes_case(p, &w, &counts),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn conv_layers_equal(p in conv_case()) {
        conv_layer(&p);
    }

    #[test]
    fn attention_equal_both_orders(p in attn_case()) {
        attention(&p);
    }

    #[test]
    fn mean_spike_matches_reference(
        (h, w, c) in (1u16..=12, 1u16..=12, 1u16..=24),
        frac in 0u8..=30,
        d in 1u8..=15,
        halves in any::<bool>(),
        seed in any::<u64>(),
    ) {
        mean_spike(h, w, c, frac, d, halves, seed);
    }

    #[test]
    fn whole_models_equal(p in model_case()) {
        whole_model(&p);
    }

    #[test]
    fn conv_is_sum_of_binary_planes(p in conv_case()) {
        binary_planes(&p);
    }
}

/// The helpers really produce varied spikes: a fixed case must fire some, but not all, sites.
#[test]
fn spike_affines_give_varied_spikes() {
    let mut rng = Rng::new(1);
    let g = geom(3, 1, 1, 8, 16, false);
    let (affine, frac) = spike_affines(&mut rng, 16, acc_scale(72, 0.75, 127), 4);
    let Weights::I8(w) = Weights::random(&mut rng, WeightBits::I8, g.weight_count(), 127) else {
        unreachable!()
    };
    let counts: Vec<u8> = spike_values(&mut rng, 8 * 8 * 8, 30, 4)
        .into_iter()
        .map(|v| v.clamp(0, 4) as u8)
        .collect();
    let (in_h, in_w, out_w, weights) = (8, 8, 8, &w[..]);
    let args = ConvArgs {
        geom: g,
        in_h,
        in_w,
        out_w,
        weights,
    };
    let acc = accumulators(Kernel::SpikeDriven, &args, &counts, 8);
    let fired = acc
        .iter()
        .enumerate()
        .filter(|&(i, &a)| spike_count(affine[i % 16].apply(a), frac, 4) > 0)
        .count();
    assert!(
        fired > acc.len() / 20 && fired < acc.len(),
        "{fired} of {}",
        acc.len()
    );
}
