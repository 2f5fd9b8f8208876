//! Batched inference and accuracy.

use tch::{Kind, Tensor};

use crate::context::Ctx;
use crate::data::Source;
use crate::error::{Error, Result};
use crate::model::Sdt;
use crate::quant::WeightQuant;

/// Which parts of the device's integer arithmetic a forward pass reproduces.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Simulate {
    /// Per-output-channel fake-quantized weights.
    pub weight_quant: Option<WeightQuant>,
    /// Inputs rounded to the `i8` grid of this range.
    pub input_absmax: Option<f64>,
}

impl Simulate {
    /// What a training configuration asks for.
    pub fn from_config(config: &crate::config::TrainConfig) -> Result<Self> {
        Ok(Self {
            weight_quant: config.weight_bits.map(WeightQuant::new).transpose()?,
            input_absmax: config.input_absmax,
        })
    }
}

/// What an evaluation pass measured.
#[derive(Debug)]
pub struct EvalReport {
    /// Logits `[N, classes]` (CPU, f32).
    pub logits: Tensor,
    /// Fraction of samples whose arg-max equals the label.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Runs the model in eval mode over `data` in batches of `batch_size`, in the set's order.
pub fn evaluate(
    model: &Sdt,
    data: &dyn Source,
    batch_size: i64,
    sim: Simulate,
    device: tch::Device,
) -> Result<EvalReport> {
    if batch_size <= 0 {
        return Err(Error::Config("batch size must be positive".into()));
    }
    let _guard = tch::no_grad_guard();
    let (mut all, mut labels) = (Vec::new(), Vec::new());
    for batch in data.batches((0..data.len()).collect(), batch_size, 0) {
        let (x, y) = batch?;
        let mut ctx = Ctx::eval().with_simulation(sim);
        let logits = model.forward(&x.f_to_device(device)?, &mut ctx)?;
        all.push(
            logits
                .f_to_device(tch::Device::Cpu)?
                .f_to_kind(Kind::Float)?,
        );
        labels.push(y);
    }
    if all.is_empty() {
        return Err(Error::Data(
            "nothing to evaluate: the data set is empty".into(),
        ));
    }
    let logits = Tensor::f_cat(&all, 0)?;
    let labels = Tensor::f_cat(&labels, 0)?;
    let accuracy = top1_agreement(&logits, &labels)?;
    let loss = logits
        .f_cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Mean, -100, 0.0)?
        .f_double_value(&[])?;
    Ok(EvalReport {
        logits,
        accuracy,
        loss,
    })
}

/// Fraction of rows where `logits` picks `labels` (i64 `[N]`).
pub fn top1_agreement(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    let n = labels.size().first().copied().unwrap_or(0);
    if n == 0 {
        return Ok(0.0);
    }
    let hits = logits
        .f_argmax(1, false)?
        .f_eq_tensor(labels)?
        .f_sum(Kind::Int64)?
        .f_int64_value(&[])?;
    Ok(hits as f64 / n as f64)
}
