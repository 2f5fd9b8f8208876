//! The training loop: AdamW, warmup + cosine schedule, label smoothing, optional QAT.

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

use crate::context::Ctx;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::layers::NO_DECAY_GROUP;
use crate::model::Sdt;
use crate::quant::WeightQuant;
use crate::schedule::WarmupCosine;

/// Hyper-parameters of one training run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainConfig {
    pub epochs: u64,
    pub batch_size: i64,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_epochs: u64,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    /// Fake-quantize weights to this many bits in every forward pass (QAT).
    pub weight_bits: Option<u8>,
    pub seed: i64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_epochs: 2,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            weight_bits: None,
            seed: 1,
            progress: true,
        }
    }
}

/// One line of metrics, written as JSON after every epoch.
#[derive(Clone, Debug, Serialize)]
pub struct EpochMetrics {
    pub epoch: u64,
    pub step: u64,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub weight_bits: Option<u8>,
    pub seconds: f64,
}

/// Trains `model` (whose variables live in `vs`) on `train`, evaluating on `test` after every
/// epoch and writing one JSON line per epoch to `metrics`. Returns the per-epoch metrics.
pub fn train(
    vs: &VarStore,
    model: &Sdt,
    train: &Dataset,
    test: &Dataset,
    config: &TrainConfig,
    metrics: &mut dyn Write,
) -> Result<Vec<EpochMetrics>> {
    if config.batch_size <= 0 || train.is_empty() {
        return Err(Error::Config(
            "training needs a positive batch size and a non-empty training set".into(),
        ));
    }
    tch::manual_seed(config.seed);
    let device = vs.device();
    let quant = config.weight_bits.map(WeightQuant::new).transpose()?;
    let mut opt = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(vs, config.lr)?;
    opt.set_weight_decay_group(NO_DECAY_GROUP, 0.0);

    let steps_per_epoch = (train.len() as u64).div_ceil(config.batch_size as u64);
    let schedule = WarmupCosine {
        base: config.lr,
        min: config.min_lr,
        warmup: config.warmup_epochs * steps_per_epoch,
        total: config.epochs * steps_per_epoch,
    };
    let bar = if config.progress {
        let bar = ProgressBar::new(config.epochs * steps_per_epoch);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} epoch {prefix} {msg}",
            )
            .map_err(|e| Error::Config(format!("progress template: {e}")))?
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut history = Vec::new();
    let mut step = 0u64;
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        bar.set_prefix(format!("{epoch}/{}", config.epochs));
        let order = Tensor::f_randperm(train.len(), (Kind::Int64, Device::Cpu))?;
        let (mut loss_sum, mut hits, mut seen) = (0.0, 0i64, 0i64);
        let mut start = 0;
        while start < train.len() {
            let len = config.batch_size.min(train.len() - start);
            let idx = order.f_narrow(0, start, len)?;
            let x = train.images.f_index_select(0, &idx)?.f_to_device(device)?;
            let y = train.labels.f_index_select(0, &idx)?.f_to_device(device)?;
            let lr = schedule.at(step);
            opt.set_lr(lr);

            let mut ctx = Ctx::train().with_weight_quant(quant);
            let logits = model.forward(&x, &mut ctx)?;
            let loss = logits.f_cross_entropy_loss::<Tensor>(
                &y,
                None,
                tch::Reduction::Mean,
                -100,
                config.label_smoothing,
            )?;
            opt.zero_grad();
            loss.f_backward()?;
            opt.step();

            let batch_loss = loss.f_double_value(&[])?;
            if !batch_loss.is_finite() {
                return Err(Error::Data(format!(
                    "loss became {batch_loss} at epoch {epoch}, step {step}"
                )));
            }
            loss_sum += batch_loss * len as f64;
            hits += logits
                .f_argmax(1, false)?
                .f_eq_tensor(&y)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?;
            seen += len;
            step += 1;
            start += len;
            bar.set_message(format!("loss {:.4} lr {lr:.2e}", loss_sum / seen as f64));
            bar.inc(1);
        }
        let report = evaluate(model, test, 2 * config.batch_size, quant, device)?;
        let m = EpochMetrics {
            epoch,
            step,
            lr: schedule.at(step.saturating_sub(1)),
            train_loss: loss_sum / seen as f64,
            train_acc: hits as f64 / seen as f64,
            test_loss: report.loss,
            test_acc: report.accuracy,
            weight_bits: config.weight_bits,
            seconds: started.elapsed().as_secs_f64(),
        };
        let line = serde_json::to_string(&m)?;
        bar.suspend(|| writeln!(metrics, "{line}").and_then(|()| metrics.flush()))
            .map_err(|e| Error::io("metrics", e))?;
        history.push(m);
    }
    bar.finish_and_clear();
    Ok(history)
}
