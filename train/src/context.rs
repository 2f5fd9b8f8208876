//! Per-call forward settings: train/eval mode, spike recording, weight fake-quantization.

use tch::Tensor;

use crate::error::Result;
use crate::quant::WeightQuant;
use crate::recorder::SpikeRecorder;

/// How one forward pass runs.
///
/// `Ctx::eval()` reproduces the official model in `eval()` mode; `Ctx::train()` uses batch
/// statistics in BatchNorm (updating the running ones) and straight-through spike gradients.
pub struct Ctx<'r> {
    train: bool,
    recorder: Option<&'r mut SpikeRecorder>,
    weight_quant: Option<WeightQuant>,
    input_step: Option<f64>,
    drop_path: f64,
    block_drop: f64,
    frozen_bn: bool,
}

impl<'r> Ctx<'r> {
    /// Inference: BatchNorm uses its running statistics.
    pub fn eval() -> Self {
        Self {
            train: false,
            recorder: None,
            weight_quant: None,
            input_step: None,
            drop_path: 0.0,
            block_drop: 0.0,
            frozen_bn: false,
        }
    }

    /// Training: BatchNorm uses (and tracks) batch statistics.
    pub fn train() -> Self {
        Self {
            train: true,
            ..Self::eval()
        }
    }

    /// Records the integer counts of every spike layer into `recorder`.
    pub fn with_recorder(mut self, recorder: &'r mut SpikeRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Fake-quantizes every synaptic weight as configured (quantization-aware training/eval).
    pub fn with_weight_quant(mut self, quant: Option<WeightQuant>) -> Self {
        self.weight_quant = quant;
        self
    }

    /// Applies every part of `sim` (weights and input on the device's grids).
    pub fn with_simulation(self, sim: crate::eval::Simulate) -> Self {
        self.with_weight_quant(sim.weight_quant)
            .with_input_quant(sim.input_absmax)
    }

    /// Rounds the input to the runtime's `i8` grid (step `absmax / 127`, clamped to ±127 steps),
    /// so the network trains and evaluates on exactly the pixels the device will see.
    pub fn with_input_quant(mut self, absmax: Option<f64>) -> Self {
        self.input_step = absmax.map(|a| a / 127.0);
        self
    }

    /// Stochastic depth: residual branches are dropped per sample with a rate growing linearly
    /// from 0 (first block) to `rate` (last block), as timm's `drop_path_rate`. Training only.
    pub fn with_drop_path(mut self, rate: f64) -> Self {
        self.drop_path = rate;
        self
    }

    /// BatchNorm uses (and keeps) its running statistics even while training.
    pub fn with_frozen_bn(mut self, frozen: bool) -> Self {
        self.frozen_bn = frozen;
        self
    }

    /// Whether BatchNorm normalises with batch statistics (and updates the running ones).
    pub fn bn_uses_batch_stats(&self) -> bool {
        self.train && !self.frozen_bn
    }

    /// The input step of [`Ctx::with_input_quant`], if any.
    pub fn input_step(&self) -> Option<f64> {
        self.input_step
    }

    /// Sets the drop rate for block `index` of `count` (called by the model between blocks).
    pub(crate) fn enter_block(&mut self, index: usize, count: usize) {
        self.block_drop = if count > 1 {
            self.drop_path * index as f64 / (count - 1) as f64
        } else {
            self.drop_path
        };
    }

    /// Applies stochastic depth to a residual branch `[B, ...]`: each sample's branch is kept
    /// with probability `1 − p` and scaled by `1/(1 − p)`, or zeroed.
    pub fn drop_path(&self, branch: &Tensor) -> Result<Tensor> {
        let p = self.block_drop;
        if !self.train || p <= 0.0 {
            return Ok(branch.shallow_clone());
        }
        let size = branch.size();
        let mut shape = vec![1i64; size.len()];
        shape[0] = size[0];
        let keep = Tensor::f_rand(shape.as_slice(), (branch.kind(), branch.device()))?
            .f_lt(1.0 - p)?
            .f_to_kind(branch.kind())?
            .f_div_scalar(1.0 - p)?;
        Ok(branch.f_mul(&keep)?)
    }

    /// Whether this pass trains.
    pub fn is_train(&self) -> bool {
        self.train
    }

    /// The weight quantization in force, if any.
    pub fn weight_quant(&self) -> Option<WeightQuant> {
        self.weight_quant
    }

    /// The spike recorder, if one is attached.
    pub fn recorder(&mut self) -> Option<&mut SpikeRecorder> {
        self.recorder.as_deref_mut()
    }
}
