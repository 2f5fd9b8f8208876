//! Batched inference and accuracy.

use tch::{Kind, Tensor};

use crate::context::Ctx;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Sdt;
use crate::quant::WeightQuant;

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

/// Runs the model in eval mode over `data` in batches of `batch_size`.
pub fn evaluate(
    model: &Sdt,
    data: &Dataset,
    batch_size: i64,
    weight_quant: Option<WeightQuant>,
    device: tch::Device,
) -> Result<EvalReport> {
    if batch_size <= 0 {
        return Err(Error::Config("batch size must be positive".into()));
    }
    let _guard = tch::no_grad_guard();
    let mut all = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let (x, _) = data.batch(start, batch_size)?;
        let mut ctx = Ctx::eval().with_weight_quant(weight_quant);
        let logits = model.forward(&x.f_to_device(device)?, &mut ctx)?;
        all.push(logits.f_to_device(tch::Device::Cpu)?);
        start += batch_size;
    }
    let logits = Tensor::f_cat(&all, 0)?;
    let accuracy = top1_agreement(&logits, &data.labels)?;
    let loss = logits
        .f_cross_entropy_loss::<Tensor>(&data.labels, None, tch::Reduction::Mean, -100, 0.0)?
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
