//! Checking a blob against the official model: block by block (teacher forced) and end to end.

use sdt_core::graph::{Op, TensorId, TensorKind};
use sdt_core::model::node_io;
use sdt_core::{Executor, Input, Kernel, Model, Session, Stats};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::error::{ConvertError, Result};
use crate::progress;

/// A quantized input owned by the host.
pub enum QuantizedInput {
    I8(Vec<i8>),
    I16(Vec<i16>),
}

impl QuantizedInput {
    pub fn as_input(&self) -> Input<'_> {
        match self {
            QuantizedInput::I8(x) => Input::I8(x),
            QuantizedInput::I16(x) => Input::I16(x),
        }
    }
}

/// Quantizes a CHW f32 image to the model's HWC input (rounding, clamping to the declared range).
pub fn quantize_input(model: &Model<'_>, chw: &[f32]) -> Result<QuantizedInput> {
    let t = model.tensor(model.graph().input);
    let (c, hw) = (t.c as usize, t.h as usize * t.w as usize);
    if chw.len() != c * hw {
        return Err(ConvertError::Invalid(format!(
            "input has {} values, model expects {}",
            chw.len(),
            c * hw
        )));
    }
    let spec = &model.graph().input_spec;
    let lim = spec.max_abs as f32;
    let mut out = vec![0i32; c * hw];
    for ch in 0..c {
        let zp = spec.zero_points[ch] as f32;
        for p in 0..hw {
            let q = (chw[ch * hw + p] / spec.scale)
                .round_ties_even()
                .clamp(-lim, lim)
                + zp;
            out[p * c + ch] = q as i32;
        }
    }
    Ok(if model.wide_input() {
        QuantizedInput::I16(out.iter().map(|&v| v.clamp(-32768, 32767) as i16).collect())
    } else {
        QuantizedInput::I8(out.iter().map(|&v| v.clamp(-128, 127) as i8).collect())
    })
}

/// Fractional bits of a fixed tensor.
pub fn frac_of(model: &Model<'_>, id: TensorId) -> u8 {
    match model.tensor(id).kind {
        TensorKind::Fixed { frac } => frac,
        _ => 0,
    }
}

/// Real values of the logits.
pub fn logits_f32(session: &Session<'_, '_, '_>) -> Vec<f32> {
    let model = session.model();
    let scale = 2f32.powi(-(frac_of(model, model.graph().logits) as i32));
    session.logits().iter().map(|&v| v as f32 * scale).collect()
}

/// Official MultiSpike module path of the spikes a node emits, if it emits spikes.
pub fn spike_name<'b>(model: &Model<'b>, node: usize) -> Option<&'b str> {
    let name = model.node_name(node);
    let (_, out) = node_io(&model.nodes()[node].op);
    if model.tensor(out).kind != TensorKind::Spikes {
        return None;
    }
    Some(name.split_once("->").map_or(name, |(_, s)| s))
}

/// Firing statistics over spike-emitting nodes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Firing {
    pub sops_per_image: f64,
    pub macs_per_image: f64,
    pub energy_uj_per_image: f64,
    /// Non-zero spike sites / all spike sites.
    pub nonzero_fraction: f64,
    /// Mean spike count per site.
    pub mean_count: f64,
}

impl Firing {
    pub fn from_stats(stats: &Stats) -> Self {
        let t = stats.total();
        let runs = stats.runs.max(1) as f64;
        Firing {
            sops_per_image: t.sops as f64 / runs,
            macs_per_image: t.macs as f64 / runs,
            energy_uj_per_image: t.energy_fj() as f64 / runs * 1e-9,
            nonzero_fraction: t.nonzero as f64 / t.sites.max(1) as f64,
            mean_count: t.spikes as f64 / t.sites.max(1) as f64,
        }
    }
}

/// End-to-end evaluation of a `*_test.safetensors` file (`input`, `label`, `logits`).
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub images: usize,
    pub accuracy: f64,
    pub top1_agreement: f64,
    pub max_abs_logit_diff: f64,
    pub ms_per_image: f64,
    pub kernel: String,
    pub threads: usize,
    pub firing: Firing,
}

/// Runs every test input; `limit` caps the number of images.
pub fn evaluate(
    model: &Model<'_>,
    test: &Checkpoint,
    kernel: Kernel,
    exec: &dyn Executor,
    limit: Option<usize>,
    show_progress: bool,
) -> Result<EvalReport> {
    let inputs = test.get("input")?;
    let per = model.input_len();
    let available = inputs.data.len() / per.max(1);
    let n = limit.map_or(available, |l| l.min(available));
    let labels = test.tensors.get("label");
    let official = test.tensors.get("logits");
    let classes = model.classes();
    let mut arena =
        vec![0u8; sdt_core::arena_bytes(model, exec.workers()).map_err(ConvertError::Blob)?];
    let mut session =
        Session::new(model, &mut arena, exec.workers()).map_err(ConvertError::Blob)?;
    // Every image runs the same layers: their spike thresholds are built once.
    let mut kept = vec![0i32; sdt_core::kept_thresholds_len(model)];
    session
        .keep_thresholds(&mut kept)
        .map_err(ConvertError::Blob)?;
    let mut stats = Stats::default();
    let (mut correct, mut agree, mut max_diff) = (0usize, 0usize, 0f64);
    let bar = progress::bar(n as u64, "evaluating", show_progress);
    let mut busy = std::time::Duration::ZERO;
    for i in 0..n {
        let x = quantize_input(model, &inputs.data[i * per..(i + 1) * per])?;
        session
            .set_input(x.as_input())
            .map_err(ConvertError::Blob)?;
        // Timed without statistics (their counting passes are not part of inference), then
        // once more to count; both runs give the same integers.
        let t0 = std::time::Instant::now();
        session
            .run(kernel, exec, None)
            .map_err(ConvertError::Blob)?;
        busy += t0.elapsed();
        session
            .run(kernel, exec, Some(&mut stats))
            .map_err(ConvertError::Blob)?;
        let top = session.top1();
        if let Some(l) = labels {
            correct += (l.data.get(i).copied() == Some(top as f32)) as usize;
        }
        if let Some(o) = official {
            let row = &o.data[i * classes..(i + 1) * classes];
            agree += (argmax(row) == top) as usize;
            for (a, b) in logits_f32(&session).iter().zip(row) {
                max_diff = max_diff.max((a - b).abs() as f64);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(EvalReport {
        images: n,
        accuracy: correct as f64 / n.max(1) as f64,
        top1_agreement: agree as f64 / n.max(1) as f64,
        max_abs_logit_diff: max_diff,
        ms_per_image: busy.as_secs_f64() * 1e3 / n.max(1) as f64,
        kernel: format!("{kernel:?}"),
        threads: exec.workers(),
        firing: Firing::from_stats(&stats),
    })
}

/// The fixed-point logits of the first `limit` (default all) inputs of a test file.
pub fn logits(
    model: &Model<'_>,
    test: &Checkpoint,
    kernel: Kernel,
    limit: Option<usize>,
) -> Result<Vec<Vec<i32>>> {
    let inputs = test.get("input")?;
    let per = model.input_len();
    let available = inputs.data.len() / per.max(1);
    let n = limit.map_or(available, |l| l.min(available));
    let mut arena = vec![0u8; sdt_core::arena_bytes(model, 1).map_err(ConvertError::Blob)?];
    let mut session = Session::new(model, &mut arena, 1).map_err(ConvertError::Blob)?;
    let mut out = Vec::with_capacity(n);
    for image in inputs.data.chunks_exact(per.max(1)).take(n) {
        let x = quantize_input(model, image)?;
        session
            .set_input(x.as_input())
            .map_err(ConvertError::Blob)?;
        session
            .run(kernel, &sdt_core::Sequential, None)
            .map_err(ConvertError::Blob)?;
        out.push(session.logits().to_vec());
    }
    Ok(out)
}

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// One block of a block-by-block comparison.
#[derive(Clone, Debug, Serialize)]
pub struct BlockReport {
    pub block: String,
    /// ‖ours − official‖ / ‖official‖ of the block's output residual stream.
    pub rel_l2: f64,
    pub spike_layers: usize,
    pub spike_agree_min: Option<f64>,
    pub spike_agree_mean: Option<f64>,
}

/// Feeds each block the official `.in` tensor and compares its `.out` and spike counts.
pub fn blockcheck(
    model: &Model<'_>,
    blocks: &Checkpoint,
    kernel: Kernel,
    exec: &dyn Executor,
    show_progress: bool,
) -> Result<Vec<BlockReport>> {
    let mut names: Vec<(usize, String)> = blocks
        .tensors
        .keys()
        .filter_map(|k| {
            let rest = k.strip_prefix("block.")?.strip_suffix(".in")?;
            let (idx, module) = rest.split_once('.')?;
            Some((idx.parse().ok()?, format!("{idx}.{module}")))
        })
        .collect();
    names.sort();
    let mut arena =
        vec![0u8; sdt_core::arena_bytes(model, exec.workers()).map_err(ConvertError::Blob)?];
    let mut session =
        Session::new(model, &mut arena, exec.workers()).map_err(ConvertError::Blob)?;
    let bar = progress::bar(names.len() as u64, "blocks", show_progress);
    let mut reports = Vec::new();
    for (index, label) in names {
        let nodes: Vec<usize> = (0..model.nodes().len())
            .filter(|&i| model.nodes()[i].block as usize == index)
            .collect();
        let Some(&first) = nodes.first() else {
            return Err(ConvertError::Invalid(format!(
                "block {label} has no nodes in this blob"
            )));
        };
        let input = blocks.get(&format!("block.{label}.in"))?;
        let expected = blocks.get(&format!("block.{label}.out"))?;
        // Teacher forcing: load the official input into the tensor the block reads.
        let first_op = model.nodes()[first].op;
        match first_op {
            Op::Encode { .. } => {
                let x = quantize_input(model, &input.data)?;
                session
                    .set_input(x.as_input())
                    .map_err(ConvertError::Blob)?;
            }
            _ => {
                let id = node_io(&first_op).0[0].unwrap_or(0);
                let (frac, c) = (frac_of(model, id), model.tensor(id).c as usize);
                let dst = session.fixed_mut(id).ok_or_else(|| {
                    ConvertError::Invalid(format!("block {label}: input is not a fixed tensor"))
                })?;
                chw_to_hwc_fixed(&input.data, dst, c, frac)?;
            }
        }
        // Node by node: the plan reuses a spike tensor's memory once it is dead.
        let mut agreements = Vec::new();
        for &i in &nodes {
            session
                .run_nodes(i..i + 1, kernel, exec, None)
                .map_err(ConvertError::Blob)?;
            let Some(name) = spike_name(model, i) else {
                continue;
            };
            let official = blocks.get(&format!("spikes.{name}"))?;
            let out = node_io(&model.nodes()[i].op).1;
            let ours = session.spikes(out).unwrap_or(&[]);
            agreements.push(spike_agreement(
                ours,
                &official.data,
                model.tensor(out).c as usize,
            )?);
        }
        let out_id = nodes
            .iter()
            .rev()
            .map(|&i| node_io(&model.nodes()[i].op).1)
            .find(|&t| matches!(model.tensor(t).kind, TensorKind::Fixed { .. }))
            .ok_or_else(|| ConvertError::Invalid(format!("block {label} writes no residual")))?;
        let ours = hwc_fixed_to_chw(
            session.fixed(out_id).unwrap_or(&[]),
            model.tensor(out_id).c as usize,
            frac_of(model, out_id),
        );
        let rel_l2 = rel_l2(&ours, &expected.data);
        reports.push(BlockReport {
            block: label,
            rel_l2,
            spike_layers: agreements.len(),
            spike_agree_min: agreements.iter().copied().reduce(f64::min),
            spike_agree_mean: (!agreements.is_empty())
                .then(|| agreements.iter().sum::<f64>() / agreements.len() as f64),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(reports)
}

fn chw_to_hwc_fixed(chw: &[f32], dst: &mut [i32], c: usize, frac: u8) -> Result<()> {
    if chw.len() != dst.len() {
        return Err(ConvertError::Invalid(format!(
            "block input has {} values, tensor {}",
            chw.len(),
            dst.len()
        )));
    }
    let unit = 2f64.powi(frac as i32);
    let n = dst.len() / c.max(1);
    for p in 0..n {
        for ch in 0..c {
            let v = (chw[ch * n + p] as f64 * unit).round_ties_even();
            dst[p * c + ch] = v.clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        }
    }
    Ok(())
}

fn hwc_fixed_to_chw(hwc: &[i32], c: usize, frac: u8) -> Vec<f32> {
    let scale = 2f64.powi(-(frac as i32));
    let n = hwc.len() / c.max(1);
    let mut out = vec![0f32; hwc.len()];
    for p in 0..n {
        for ch in 0..c {
            out[ch * n + p] = (hwc[p * c + ch] as f64 * scale) as f32;
        }
    }
    out
}

fn rel_l2(ours: &[f32], official: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (a, b) in ours.iter().zip(official) {
        num += ((a - b) as f64).powi(2);
        den += (*b as f64).powi(2);
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Fraction of sites where our HWC spike counts equal the official CHW (or C×N) ones.
fn spike_agreement(ours_hwc: &[u8], official_chw: &[f32], c: usize) -> Result<f64> {
    if ours_hwc.len() != official_chw.len() {
        return Err(ConvertError::Invalid(format!(
            "spike tensor has {} sites, official {}",
            ours_hwc.len(),
            official_chw.len()
        )));
    }
    let n = ours_hwc.len() / c.max(1);
    let mut equal = 0usize;
    for p in 0..n {
        for ch in 0..c {
            equal += (ours_hwc[p * c + ch] as f32 == official_chw[ch * n + p]) as usize;
        }
    }
    Ok(equal as f64 / ours_hwc.len().max(1) as f64)
}
