//! The training loop: AdamW, warmup + cosine, label smoothing, mixing, distillation, QAT,
//! atomic checkpoints and exact resume, on one process or data-parallel over many.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::augment::{mix, random_shift, smooth_one_hot, soft_cross_entropy};
use crate::checkpoint::{self, write_atomic, Progress};
use crate::config::TrainConfig;
use crate::context::Ctx;
use crate::data::{Dataset, Source};
use crate::dist::{self, Dist};
use crate::distill::{distillation_loss, DistillMode, Teacher};
use crate::error::{Error, Result};
use crate::eval::{evaluate, Simulate};
use crate::model::Sdt;
use crate::optim::{AdamW, AdamWConfig};
use crate::plot;
use crate::schedule::WarmupCosine;

/// File names inside a run directory (besides the checkpoint files).
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const PLOT_FILE: &str = "curves.png";

/// One line of metrics, written as JSON after every epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// What a training run works on.
pub struct Trainer<'a> {
    pub vs: &'a VarStore,
    pub model: &'a Sdt,
    pub config: &'a TrainConfig,
    /// Required when `config.distill.mode` is not `none`.
    pub teacher: Option<&'a Teacher>,
    /// Checkpoints, metrics and the curves plot go here after every epoch; `None` keeps the
    /// run in memory.
    pub run_dir: Option<&'a Path>,
    /// Continue from the checkpoint in `run_dir` if there is one.
    pub resume: bool,
    /// Stop cleanly (checkpointed) once this many epochs are complete, e.g. to fit a job into
    /// a time slot; `--resume` continues it exactly.
    pub stop_after: Option<u64>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Data-parallel process group: each rank trains on its shard of every epoch with
    /// `batch_size` samples a step, gradients are averaged across ranks, rank 0 writes the run
    /// directory and the metrics. `None` trains in this process alone.
    pub dist: Option<&'a Dist>,
}

/// A 64-bit mix of the run seed with a counter, so every step draws from its own stream.
fn stream_seed(seed: i64, salt: u64, n: u64) -> i64 {
    let mut z = (seed as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as i64
}

const EPOCH_STREAM: u64 = 1;
const STEP_STREAM: u64 = 2;

/// The step counter a rank seeds its per-step stream with: rank 0 (and a single process) uses
/// the step itself, other ranks a distinct counter, so that random augmentations differ between
/// ranks but replay exactly on resume.
fn rank_salted(step: u64, rank: usize) -> u64 {
    step ^ ((rank as u64) << 48)
}

fn progress_bar(len: u64, show: bool) -> Result<ProgressBar> {
    if !show {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} epoch {prefix} {msg} (eta {eta})",
        )
        .map_err(|e| Error::Config(format!("progress template: {e}")))?
        .progress_chars("=> "),
    );
    Ok(bar)
}

impl Trainer<'_> {
    /// Trains on `train`, evaluating on `test` after every epoch; each epoch's metrics go to
    /// `metrics` as a JSON line. Returns the metrics of all epochs (resumed ones included).
    pub fn run(
        &self,
        train: &dyn Source,
        test: &Dataset,
        metrics: &mut dyn Write,
    ) -> Result<Vec<EpochMetrics>> {
        let config = self.config;
        config.validate()?;
        if train.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        if config.distill.mode != DistillMode::None && self.teacher.is_none() {
            return Err(Error::Config(
                "distillation is on but no teacher was given".into(),
            ));
        }
        let device = self.vs.device();
        let sim = Simulate::from_config(config)?;
        let amp = config.amp.enabled() && device.is_cuda();
        if amp {
            config.amp.apply()?;
        }
        let mut opt = AdamW::new(
            self.vs,
            AdamWConfig {
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        let (rank, world) = self.dist.map_or((0, 1), |d| (d.rank(), d.world()));
        let main = rank == 0;
        let config_json = serde_json::to_string(config)?;
        let mut state = Progress {
            step: 0,
            epoch: 0,
            history: Vec::new(),
            config: config_json.clone(),
            world_size: world as u64,
        };
        // Rank 0 restores the checkpoint; the others receive it (and, on a fresh start, rank 0's
        // initial weights) by broadcast, so every rank starts identical.
        let restored = if main {
            self.restore(&mut opt, world)
        } else {
            Ok(None)
        };
        match self.dist {
            None => {
                if let Some(progress) = restored? {
                    state = progress;
                }
            }
            Some(d) => {
                let (code, step, epoch) = match &restored {
                    Err(_) => (-1, 0, 0),
                    Ok(None) => (0, 0, 0),
                    Ok(Some(p)) => (1, p.step as i64, p.epoch as i64),
                };
                let header = Tensor::from_slice(&[code, step, epoch]);
                d.broadcast(std::slice::from_ref(&header), 0)?;
                let header: Vec<i64> = Vec::try_from(&header)?;
                if header[0] < 0 {
                    return Err(restored.err().unwrap_or_else(|| {
                        Error::Dist(format!(
                            "rank {rank}: rank 0 could not restore the run (see its log)"
                        ))
                    }));
                }
                let mut shared: Vec<Tensor> = checkpoint::named_variables(self.vs)
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect();
                shared.extend(opt.state_tensors().into_iter().map(|(_, t)| t));
                d.broadcast_flat(&shared, 0)?;
                match restored? {
                    Some(progress) => state = progress,
                    None => {
                        state.step = header[1] as u64;
                        state.epoch = header[2] as u64;
                        opt.set_step_count(state.step);
                    }
                }
            }
        }

        // Each rank walks its shard of ceil(len / world) samples.
        let shard_len = (train.len() as u64).div_ceil(world as u64);
        let steps_per_epoch = shard_len.div_ceil(config.batch_size as u64);
        let schedule = WarmupCosine {
            base: config.peak_lr_for(world),
            min: config.min_lr,
            warmup: config.warmup_epochs * steps_per_epoch,
            total: config.epochs * steps_per_epoch,
        };
        let classes = self.model.config().num_classes;
        let bar = progress_bar(config.epochs * steps_per_epoch, self.progress && main)?;
        bar.set_position(state.step);

        let last = self
            .stop_after
            .map_or(config.epochs, |s| s.min(config.epochs));
        for epoch in state.epoch + 1..=last {
            let started = Instant::now();
            bar.set_prefix(format!("{epoch}/{}", config.epochs));
            tch::manual_seed(stream_seed(config.seed, EPOCH_STREAM, epoch));
            let order: Vec<i64> = Vec::try_from(&Tensor::f_randperm(
                train.len(),
                (Kind::Int64, tch::Device::Cpu),
            )?)?;
            let order = dist::shard(&order, rank, world);
            let epoch_seed = stream_seed(config.seed, EPOCH_STREAM, epoch) as u64;
            let (mut loss_sum, mut hits, mut seen) = (0.0, 0.0, 0.0);
            for batch in train.batches(order, config.batch_size, epoch_seed) {
                let (x, y) = batch?;
                tch::manual_seed(stream_seed(
                    config.seed,
                    STEP_STREAM,
                    rank_salted(state.step, rank),
                ));
                let lr = schedule.at(state.step);
                let out = self.step(&mut opt, &x, &y, classes, lr, sim, amp, epoch, state.step)?;
                loss_sum += out.loss_sum;
                hits += out.hits;
                seen += out.count;
                state.step += 1;
                bar.set_message(format!("loss {:.4} lr {lr:.2e}", loss_sum / seen));
                bar.inc(1);
            }
            let eval_batch = 2 * config.batch_size;
            let (test_loss, test_acc) = self.evaluate(test, eval_batch, sim)?;
            let m = EpochMetrics {
                epoch,
                step: state.step,
                lr: schedule.at(state.step.saturating_sub(1)),
                train_loss: loss_sum / seen.max(1.0),
                train_acc: hits / seen.max(1.0),
                test_loss,
                test_acc,
                weight_bits: config.weight_bits,
                seconds: started.elapsed().as_secs_f64(),
            };
            state.epoch = epoch;
            state.history.push(m.clone());
            if !main {
                continue;
            }
            if let Some(dir) = self.run_dir {
                self.save_run(dir, &opt, &state)?;
            }
            let line = serde_json::to_string(&m)?;
            bar.suspend(|| writeln!(metrics, "{line}").and_then(|()| metrics.flush()))
                .map_err(|e| Error::io("metrics", e))?;
        }
        bar.finish_and_clear();
        Ok(state.history)
    }

    /// Loads the checkpoint to resume from, if asked and present, checking it was made with the
    /// same settings and number of processes.
    fn restore(&self, opt: &mut AdamW, world: usize) -> Result<Option<Progress>> {
        let Some(dir) = self
            .run_dir
            .filter(|d| self.resume && checkpoint::exists(d))
        else {
            return Ok(None);
        };
        let state = checkpoint::load(dir, self.vs, opt)?;
        let config_json = serde_json::to_string(self.config)?;
        if state.config != config_json {
            return Err(Error::Config(format!(
                "{} was trained with other settings; resume with the same config \
                 (saved: {}, now: {config_json})",
                dir.display(),
                state.config
            )));
        }
        if state.world_size != world as u64 {
            return Err(Error::Config(format!(
                "{} was trained by {} processes and cannot resume exactly with {world} (the \
                 shards and the learning rate depend on it); resume with --nproc {}",
                dir.display(),
                state.world_size,
                state.world_size
            )));
        }
        Ok(Some(state))
    }

    /// Test loss and accuracy: alone, the whole set; data-parallel, each rank a contiguous part
    /// with rank 0's BatchNorm statistics, summed across ranks.
    fn evaluate(&self, test: &Dataset, batch: i64, sim: Simulate) -> Result<(f64, f64)> {
        let device = self.vs.device();
        let Some(d) = self.dist else {
            let report = evaluate(self.model, test, batch, sim, device)?;
            return Ok((report.loss, report.accuracy));
        };
        self.sync_buffers(d)?;
        let (n, r, w) = (test.len(), d.rank() as i64, d.world() as i64);
        let (start, end) = (n * r / w, n * (r + 1) / w);
        let mut sums = [0.0f64; 3];
        if end > start {
            let (x, y) = test.batch(start, end - start)?;
            let part = Dataset::new(x, y)?;
            let report = evaluate(self.model, &part, batch, sim, device)?;
            let len = (end - start) as f64;
            sums = [report.loss * len, report.accuracy * len, len];
        }
        let sums = Tensor::from_slice(&sums);
        d.all_reduce_sum(std::slice::from_ref(&sums))?;
        let sums: Vec<f64> = Vec::try_from(&sums)?;
        Ok((sums[0] / sums[2].max(1.0), sums[1] / sums[2].max(1.0)))
    }

    /// Rank 0's BatchNorm running statistics to every rank (DDP's `broadcast_buffers`).
    fn sync_buffers(&self, d: &Dist) -> Result<()> {
        let buffers: Vec<Tensor> = checkpoint::named_variables(self.vs)
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| !t.requires_grad())
            .collect();
        if buffers.is_empty() {
            return Ok(());
        }
        d.broadcast_flat(&buffers, 0)
    }

    /// One optimizer step; fails before touching the weights if the loss or the gradient is not
    /// finite, so the last checkpoint stays the last good one. Data-parallel, the gradients and
    /// the loss are averaged across ranks first, so every rank takes the same decision.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        opt: &mut AdamW,
        x: &Tensor,
        y: &Tensor,
        classes: i64,
        lr: f64,
        sim: Simulate,
        amp: bool,
        epoch: u64,
        step: u64,
    ) -> Result<StepOutcome> {
        let config = self.config;
        let device = self.vs.device();
        if let Some(d) = self.dist {
            self.sync_buffers(d)?;
        }
        let x = x.f_to_device(device)?;
        let y = y.f_to_device(device)?;
        let targets = smooth_one_hot(&y, classes, config.label_smoothing)?;
        let x = random_shift(&x, config.augment.shift)?;
        let (x, targets) = mix(&x, &targets, &config.augment)?;

        let mut ctx = Ctx::train()
            .with_simulation(sim)
            .with_drop_path(config.drop_path)
            .with_frozen_bn(config.freeze_bn);
        let logits =
            tch::autocast(amp, || self.model.forward(&x, &mut ctx))?.f_to_kind(Kind::Float)?;
        let base = soft_cross_entropy(&logits, &targets)?;
        let teacher_logits = match (config.distill.mode, self.teacher) {
            (DistillMode::None, _) | (_, None) => None,
            (_, Some(t)) => Some(tch::autocast(amp, || t.logits(&x))?),
        };
        let loss = distillation_loss(&config.distill, &base, &logits, teacher_logits.as_ref())?;
        let mut value = loss.f_double_value(&[])?;
        let non_finite = |what, value| Error::NonFinite {
            what,
            value,
            epoch,
            step,
        };
        if self.dist.is_none() && !value.is_finite() {
            return Err(non_finite("loss", value));
        }
        let mut hits = logits
            .f_argmax(1, false)?
            .f_eq_tensor(&targets.f_argmax(1, false)?)?
            .f_sum(Kind::Float)?
            .f_double_value(&[])?;
        let mut count = y.size()[0] as f64;
        opt.zero_grad()?;
        loss.f_backward()?;
        if let Some(d) = self.dist {
            let stats = Tensor::from_slice(&[value * count, hits, count]);
            let sums: Vec<f64> = Vec::try_from(&d.average_gradients(&opt.gradients()?, &stats)?)?;
            (hits, count) = (sums[1], sums[2]);
            value = sums[0] / count;
            if !value.is_finite() {
                return Err(non_finite("loss", value));
            }
        }
        let norm = match config.clip_grad {
            Some(max) => opt.clip_grad_norm(max)?,
            None => opt.grad_norm()?,
        };
        if !norm.is_finite() {
            return Err(non_finite("gradient norm", norm));
        }
        opt.step(lr)?;
        Ok(StepOutcome {
            loss_sum: value * count,
            hits,
            count,
        })
    }

    /// Checkpoint first, then the metrics and the plot, all atomically: whatever a crash
    /// interrupts, the state file is complete and the metrics never list an unsaved epoch.
    fn save_run(&self, dir: &Path, opt: &AdamW, state: &Progress) -> Result<()> {
        checkpoint::save(dir, self.vs, opt, state)?;
        let mut lines = String::new();
        for m in &state.history {
            lines.push_str(&serde_json::to_string(m)?);
            lines.push('\n');
        }
        write_atomic(&dir.join(METRICS_FILE), lines.as_bytes())?;
        plot::training_curves(&state.history, &dir.join(PLOT_FILE))
    }
}

/// What one step saw, over all ranks: the loss summed over samples, the hits, the samples.
struct StepOutcome {
    loss_sum: f64,
    hits: f64,
    count: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_streams_differ_and_repeat() {
        assert_eq!(
            stream_seed(1, STEP_STREAM, 5),
            stream_seed(1, STEP_STREAM, 5)
        );
        assert_ne!(
            stream_seed(1, STEP_STREAM, 5),
            stream_seed(1, STEP_STREAM, 6)
        );
        assert_ne!(
            stream_seed(1, STEP_STREAM, 5),
            stream_seed(1, EPOCH_STREAM, 5)
        );
        assert_ne!(
            stream_seed(1, STEP_STREAM, 5),
            stream_seed(2, STEP_STREAM, 5)
        );
    }
}
