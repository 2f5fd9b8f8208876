//! Per-call forward settings: train/eval mode, spike recording, weight fake-quantization.

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
}

impl<'r> Ctx<'r> {
    /// Inference: BatchNorm uses its running statistics.
    pub fn eval() -> Self {
        Self {
            train: false,
            recorder: None,
            weight_quant: None,
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
