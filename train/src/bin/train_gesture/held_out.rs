//! Held-out evaluation of a gesture blob through the core's streaming classifier, framed as
//! the blob says (what a user of the blob gets): window and clip accuracy, the window
//! confusion matrix, cw/ccw mix-ups and, on the realistic simulator, a robustness table.

use sdt_core::Kernel;
use sdt_dvs::classify::{classify_events, ClassifyOptions};
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_events::Geometry;
use sdt_train::events::Clip;
use sdt_train::{Error, Result};
use serde::Serialize;

use super::{plan, simulate, ROBUSTNESS_SEEDS};

/// What the held-out clips score (the evaluation part of `report.json`).
#[derive(Serialize)]
pub struct HeldOut {
    /// Windows of `bins` bins, a new one every `hop` bins.
    pub window_accuracy: f64,
    /// Majority of a clip's windows.
    pub clip_accuracy: f64,
    pub per_class_clip_accuracy: Vec<(String, f64)>,
    /// Windows of true class `i` (row) labelled `j` (column), classes in blob order.
    pub window_confusion: Vec<Vec<u64>>,
    /// Windows of an arm circle labelled as the same arm turning the other way.
    pub cw_ccw_error: f64,
    pub windows: u64,
    pub bins_run: u64,
    pub sops_per_window: f64,
    pub energy_uj_per_window: f64,
    pub latency_ms_per_window: f64,
    /// On the realistic simulator: window accuracy on fresh held-out people with one factor
    /// fixed (empty otherwise).
    pub robustness: Vec<RobustnessRow>,
}

/// Evaluates `model` on `clips` and, when `realistic` and `robustness_per_class > 0`, on the
/// robustness table's clips.
pub fn held_out(
    model: &sdt_core::Model<'_>,
    clips: &[Clip],
    geometry: Geometry,
    realistic: bool,
    robustness_per_class: u64,
    clip_us: u64,
) -> Result<HeldOut> {
    let eval = evaluate(clips, geometry, model)?;
    let robustness = match (realistic, robustness_per_class) {
        (true, n) if n > 0 => robustness(n, clip_us, geometry, model)?,
        _ => Vec::new(),
    };
    let w = eval.windows.max(1) as f64;
    Ok(HeldOut {
        window_accuracy: eval.window_accuracy(),
        clip_accuracy: eval.clip_accuracy(),
        per_class_clip_accuracy: Gesture::ALL
            .iter()
            .zip(&eval.per_class)
            .map(|(g, &(h, n))| (g.name().to_owned(), h as f64 / n.max(1) as f64))
            .collect(),
        cw_ccw_error: eval.cw_ccw_error(),
        window_confusion: eval.confusion.clone(),
        windows: eval.windows,
        bins_run: eval.runs,
        sops_per_window: eval.sops as f64 / w,
        energy_uj_per_window: eval.energy_uj / w,
        latency_ms_per_window: eval.compute_ms / w,
        robustness,
    })
}

/// One row of the robustness table.
#[derive(Serialize)]
pub struct RobustnessRow {
    /// `noise` (leak and shot-noise rate multiplier), `scale` or `speed`.
    factor: &'static str,
    value: f32,
    clips: usize,
    windows: u64,
    window_accuracy: f64,
    clip_accuracy: f64,
}

/// Streaming-classifier results over held-out clips.
#[derive(Default)]
struct Evaluation {
    windows: u64,
    hits: u64,
    clip_hits: u64,
    clips: u64,
    per_class: Vec<(u64, u64)>,
    confusion: Vec<Vec<u64>>,
    sops: u64,
    energy_uj: f64,
    compute_ms: f64,
    runs: u64,
}

impl Evaluation {
    fn window_accuracy(&self) -> f64 {
        self.hits as f64 / self.windows.max(1) as f64
    }

    fn clip_accuracy(&self) -> f64 {
        self.clip_hits as f64 / self.clips.max(1) as f64
    }

    /// Windows of the four arm circles labelled as the same arm's opposite turn, over all
    /// windows of those classes.
    fn cw_ccw_error(&self) -> f64 {
        let pairs = [
            (
                Gesture::RightArmClockwise,
                Gesture::RightArmCounterClockwise,
            ),
            (Gesture::LeftArmClockwise, Gesture::LeftArmCounterClockwise),
        ];
        let count = |t: Gesture, p: Gesture| -> u64 {
            self.confusion
                .get(t.index())
                .and_then(|row| row.get(p.index()))
                .copied()
                .unwrap_or(0)
        };
        let row =
            |t: Gesture| -> u64 { self.confusion.get(t.index()).map_or(0, |r| r.iter().sum()) };
        let (mut swapped, mut total) = (0, 0);
        for (a, b) in pairs {
            swapped += count(a, b) + count(b, a);
            total += row(a) + row(b);
        }
        swapped as f64 / total.max(1) as f64
    }
}

/// Runs every clip through the core's streaming classifier; a clip's label is the majority
/// of its windows.
fn evaluate(clips: &[Clip], geometry: Geometry, model: &sdt_core::Model<'_>) -> Result<Evaluation> {
    let opts = ClassifyOptions::from_blob(Kernel::SpikeDriven);
    let classes = model.classes();
    let mut e = Evaluation {
        per_class: vec![(0, 0); classes],
        confusion: vec![vec![0; classes]; classes],
        ..Evaluation::default()
    };
    for c in clips {
        let label = c.label as usize;
        let mut votes = vec![0u32; classes];
        let summary = classify_events(&c.events, geometry, model, &opts, |w| {
            if let Some(v) = votes.get_mut(w.label) {
                *v += 1;
            }
        })
        .map_err(|e| Error::Data(format!("stream: {e}")))?;
        if let Some(row) = e.confusion.get_mut(label) {
            for (cell, v) in row.iter_mut().zip(&votes) {
                *cell += u64::from(*v);
            }
        }
        e.hits += u64::from(votes.get(label).copied().unwrap_or(0));
        e.windows += summary.windows;
        e.sops += summary.sops;
        e.energy_uj += summary.energy_uj;
        e.compute_ms += summary.compute_ms;
        e.runs += summary.runs;
        // Majority vote, the first class on ties.
        let best = (0..classes).max_by_key(|&k| (votes[k], std::cmp::Reverse(k)));
        let ok = best == Some(label);
        e.clip_hits += u64::from(ok);
        e.clips += 1;
        if let Some(pc) = e.per_class.get_mut(label) {
            pc.0 += u64::from(ok);
            pc.1 += 1;
        }
    }
    Ok(e)
}

/// Window accuracy on fresh held-out people (seeds apart from the test set's) with one
/// factor of the randomization fixed and everything else drawn as in training. The sparse
/// preset is off so that the fixed factor holds for every clip.
fn robustness(
    per_class: u64,
    clip_us: u64,
    geometry: Geometry,
    model: &sdt_core::Model<'_>,
) -> Result<Vec<RobustnessRow>> {
    let base = Randomization {
        sparse_prob: 0.0,
        ..Randomization::default()
    };
    let rows: [(&'static str, f32); 10] = [
        ("noise", 1.0),
        ("noise", 3.0),
        ("noise", 10.0),
        ("scale", 0.5),
        ("scale", 1.0),
        ("scale", 2.0),
        ("speed", 0.5),
        ("speed", 0.75),
        ("speed", 1.0),
        ("speed", 2.0),
    ];
    let mut out = Vec::new();
    for (i, (factor, value)) in rows.into_iter().enumerate() {
        let mut r = base.clone();
        match factor {
            "noise" => r.noise_multiplier = (value, value),
            "scale" => r.scale = (value, value),
            _ => r.speed = (value, value),
        }
        let clips = simulate(
            &plan(per_class, ROBUSTNESS_SEEDS + i as u64 * 10_000),
            clip_us,
            Some(&r),
        )?;
        let e = evaluate(&clips, geometry, model)?;
        eprintln!(
            "robustness {factor} {value}: {:.1} % of {} windows",
            100.0 * e.window_accuracy(),
            e.windows
        );
        out.push(RobustnessRow {
            factor,
            value,
            clips: clips.len(),
            windows: e.windows,
            window_accuracy: e.window_accuracy(),
            clip_accuracy: e.clip_accuracy(),
        });
    }
    Ok(out)
}
