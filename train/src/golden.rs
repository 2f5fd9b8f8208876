//! Teacher-forced block-by-block comparison with golden tensors from the official model.
//!
//! The golden file holds, for one input, the residual stream entering and leaving every
//! top-level block (`block.NN.<module>.in` / `.out`, `C×H×W` f32) and the integer counts of every
//! spike layer (`spikes.<module path>`, u8). Each block is fed the official input, so errors do
//! not compound through the chaotic rounding nonlinearities.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::model::Sdt;
use crate::recorder::SpikeRecorder;

/// Agreement of one spike layer with the official counts.
#[derive(Clone, Debug)]
pub struct SpikeLayerReport {
    /// Module path, e.g. `block3.0.attn.q_spike`.
    pub name: String,
    /// Number of spike sites.
    pub sites: i64,
    /// Sites whose count equals the official one.
    pub agreeing: i64,
    /// Total spikes (sum of counts), ours and official.
    pub spikes: i64,
    pub official_spikes: i64,
}

impl SpikeLayerReport {
    /// Fraction of agreeing sites.
    pub fn agreement(&self) -> f64 {
        if self.sites == 0 {
            1.0
        } else {
            self.agreeing as f64 / self.sites as f64
        }
    }
}

/// Comparison of one top-level block.
#[derive(Clone, Debug)]
pub struct BlockReport {
    /// `NN.<module>` as in the golden file, or `head` for the pooled head spike.
    pub block: String,
    /// `‖ours − official‖₂ / ‖official‖₂` of the block output (0 for `head`).
    pub rel_l2: f64,
    /// Largest absolute difference of the block output.
    pub max_abs: f64,
    /// Every spike layer inside the block.
    pub spike_layers: Vec<SpikeLayerReport>,
}

impl BlockReport {
    /// Lowest agreement among the block's spike layers (1 when it has none).
    pub fn spike_agreement_min(&self) -> f64 {
        self.spike_layers
            .iter()
            .map(SpikeLayerReport::agreement)
            .fold(1.0, f64::min)
    }

    /// Agreement over all spike sites of the block together (1 when it has none).
    pub fn spike_agreement(&self) -> f64 {
        let (agree, sites) = self
            .spike_layers
            .iter()
            .fold((0, 0), |(a, s), l| (a + l.agreeing, s + l.sites));
        if sites == 0 {
            1.0
        } else {
            agree as f64 / sites as f64
        }
    }
}

fn golden<'a>(
    tensors: &'a BTreeMap<String, Tensor>,
    name: &str,
    path: &Path,
) -> Result<&'a Tensor> {
    tensors.get(name).ok_or_else(|| Error::MissingTensor {
        path: path.to_owned(),
        name: name.to_owned(),
    })
}

fn compare_spikes(
    recorder: &SpikeRecorder,
    tensors: &BTreeMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<Vec<SpikeLayerReport>> {
    let mut layers = Vec::new();
    for (name, ours) in recorder.iter() {
        let official = golden(tensors, &format!("spikes.{name}"), path)?;
        let ours = ours.f_flatten(0, -1)?.f_to_kind(Kind::Int64)?;
        let official = official.f_flatten(0, -1)?.f_to_kind(Kind::Int64)?;
        if ours.size() != official.size() {
            return Err(Error::Shape {
                name: format!("spikes.{name}"),
                expected: official.size(),
                found: ours.size(),
            });
        }
        layers.push(SpikeLayerReport {
            name: name.to_owned(),
            sites: ours.size()[0],
            agreeing: ours
                .f_eq_tensor(&official)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?,
            spikes: ours.f_sum(Kind::Int64)?.f_int64_value(&[])?,
            official_spikes: official.f_sum(Kind::Int64)?.f_int64_value(&[])?,
        });
    }
    // Every official spike layer of this block must have been produced by ours.
    let missing: Vec<String> = tensors
        .keys()
        .filter_map(|k| k.strip_prefix("spikes."))
        .filter(|k| {
            if prefix.is_empty() {
                !k.contains('.')
            } else {
                k.starts_with(prefix)
            }
        })
        .filter(|k| recorder.get(k).is_none())
        .map(str::to_owned)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Data(format!(
            "{}: spike layers {missing:?} were not produced by the model",
            path.display()
        )));
    }
    Ok(layers)
}

/// Feeds every block the official input and compares its output and spikes.
pub fn block_check(model: &Sdt, path: &Path) -> Result<Vec<BlockReport>> {
    let tensors = crate::weights::read_tensors(path)?;
    let _guard = tch::no_grad_guard();
    let mut reports = Vec::new();
    let mut last_out = None;
    for (index, stage) in model.stages().iter().enumerate() {
        let key = format!("block.{index:02}.{}", stage.name);
        let input = golden(&tensors, &format!("{key}.in"), path)?.f_unsqueeze(0)?;
        let official = golden(&tensors, &format!("{key}.out"), path)?;
        let mut recorder = SpikeRecorder::new();
        let ours = {
            let mut ctx = Ctx::eval().with_recorder(&mut recorder);
            stage.stage.forward(&input, &mut ctx)?.f_squeeze_dim(0)?
        };
        if ours.size() != official.size() {
            return Err(Error::Shape {
                name: format!("{key}.out"),
                expected: official.size(),
                found: ours.size(),
            });
        }
        let diff = ours.f_sub(official)?;
        let rel_l2 = diff.f_norm()?.f_double_value(&[])?
            / official
                .f_norm()?
                .f_double_value(&[])?
                .max(f64::MIN_POSITIVE);
        let max_abs = diff.f_abs()?.f_max()?.f_double_value(&[])?;
        let spike_layers = compare_spikes(&recorder, &tensors, &format!("{}.", stage.name), path)?;
        reports.push(BlockReport {
            block: format!("{index:02}.{}", stage.name),
            rel_l2,
            max_abs,
            spike_layers,
        });
        last_out = Some(official.shallow_clone());
    }
    // The head spike, fed the official last residual stream.
    if let (Some(features), Some(_)) = (last_out, tensors.get("spikes.spike")) {
        let mut recorder = SpikeRecorder::new();
        let mut ctx = Ctx::eval().with_recorder(&mut recorder);
        let _logits = model.head_logits(&features.f_unsqueeze(0)?, &mut ctx)?;
        reports.push(BlockReport {
            block: "head".into(),
            rel_l2: 0.0,
            max_abs: 0.0,
            spike_layers: compare_spikes(&recorder, &tensors, "", path)?,
        });
    }
    Ok(reports)
}
