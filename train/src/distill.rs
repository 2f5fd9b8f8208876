//! Knowledge distillation as in the official recipe (DeiT's `DistillationLoss`).
//!
//! `loss = (1 − α)·base + α·kd`, where `kd` is
//! - `soft`: `KL(softmax(t/τ) ‖ softmax(s/τ))·τ² / numel(s)` (summed KL, DeiT's scaling),
//! - `hard`: cross-entropy of the student against the teacher's arg-max.
//!
//! The teacher sees the same (augmented) batch as the student, without gradients.

use std::path::Path;

use tch::{CModule, Device, Kind, Tensor};

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::model::{Sdt, SdtConfig};

/// How the teacher's outputs enter the loss.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DistillMode {
    None,
    Soft,
    Hard,
}

/// A frozen teacher network.
pub enum Teacher {
    /// Any TorchScript module taking `[B, C, H, W]` and returning logits `[B, classes]`.
    Script(CModule),
    /// One of our checkpoints, run in eval mode.
    Sdt { _vs: tch::nn::VarStore, model: Sdt },
}

impl Teacher {
    /// Loads a TorchScript file (`.pt`/`.ts`, from `torch.jit.script` or `torch.jit.trace`).
    pub fn torchscript(path: &Path, device: Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such teacher file"),
            ));
        }
        let mut module = CModule::load_on_device(path, device)?;
        module.f_set_eval()?;
        Ok(Self::Script(module))
    }

    /// Loads one of our checkpoints (`.safetensors` or official `.pth`) with `config`.
    pub fn checkpoint(path: &Path, config: SdtConfig, device: Device) -> Result<Self> {
        let vs = tch::nn::VarStore::new(device);
        let model = Sdt::new(&vs.root(), config)?;
        crate::weights::load_weights(&vs, path)?;
        Ok(Self::Sdt { _vs: vs, model })
    }

    /// The teacher's logits for `images`, without gradients.
    pub fn logits(&self, images: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let out = match self {
            Teacher::Script(m) => m.forward_ts(&[images])?,
            Teacher::Sdt { model, .. } => model.forward(images, &mut Ctx::eval())?,
        };
        Ok(out.f_to_kind(Kind::Float)?.f_detach()?)
    }
}

/// Distillation settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistillConfig {
    pub mode: DistillMode,
    /// Weight of the distillation term.
    pub alpha: f64,
    /// Softmax temperature of the soft mode.
    pub tau: f64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            mode: DistillMode::None,
            alpha: 0.5,
            tau: 1.0,
        }
    }
}

/// Combines the base loss with the distillation term (`teacher` logits required unless the
/// mode is `none`).
pub fn distillation_loss(
    config: &DistillConfig,
    base: &Tensor,
    student: &Tensor,
    teacher: Option<&Tensor>,
) -> Result<Tensor> {
    let teacher = match (config.mode, teacher) {
        (DistillMode::None, _) => return Ok(base.shallow_clone()),
        (_, Some(t)) => t,
        (_, None) => {
            return Err(Error::Config(
                "distillation needs a teacher (--teacher)".into(),
            ))
        }
    };
    let kd = match config.mode {
        DistillMode::Soft => {
            let tau = config.tau;
            let s = student.f_div_scalar(tau)?.f_log_softmax(1, Kind::Float)?;
            let t = teacher.f_div_scalar(tau)?.f_log_softmax(1, Kind::Float)?;
            // KL(t ‖ s) summed = Σ exp(t)·(t − s).
            t.f_exp()?
                .f_mul(&t.f_sub(&s)?)?
                .f_sum(Kind::Float)?
                .f_mul_scalar(tau * tau / student.numel() as f64)?
        }
        DistillMode::Hard => student.f_cross_entropy_loss::<Tensor>(
            &teacher.f_argmax(1, false)?,
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        )?,
        DistillMode::None => unreachable!("handled above"),
    };
    Ok(base
        .f_mul_scalar(1.0 - config.alpha)?
        .f_add(&kd.f_mul_scalar(config.alpha)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: DistillMode, alpha: f64, tau: f64) -> DistillConfig {
        DistillConfig { mode, alpha, tau }
    }

    #[test]
    fn none_is_the_base_loss_and_a_missing_teacher_is_an_error() {
        let base = Tensor::from(1.25f32);
        let s = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));
        let l = distillation_loss(&cfg(DistillMode::None, 0.5, 1.0), &base, &s, None).unwrap();
        assert_eq!(l.double_value(&[]), 1.25);
        assert!(distillation_loss(&cfg(DistillMode::Soft, 0.5, 1.0), &base, &s, None).is_err());
    }

    #[test]
    fn soft_term_is_zero_for_an_identical_teacher_and_matches_the_formula() {
        let base = Tensor::from(2.0f32);
        let s = Tensor::from_slice(&[1.0f32, 0.0, -1.0, 0.5, 0.5, 0.0]).reshape([2, 3]);
        let same = distillation_loss(&cfg(DistillMode::Soft, 0.25, 2.0), &base, &s, Some(&s))
            .unwrap()
            .double_value(&[]);
        assert!((same - 1.5).abs() < 1e-6, "{same}");

        let t = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 2.0, 0.0, 0.0]).reshape([2, 3]);
        let tau = 2.0;
        let got = distillation_loss(&cfg(DistillMode::Soft, 1.0, tau), &base, &s, Some(&t))
            .unwrap()
            .double_value(&[]);
        let (sv, tv): (Vec<f32>, Vec<f32>) = (
            Vec::try_from(&s.flatten(0, -1)).unwrap(),
            Vec::try_from(&t.flatten(0, -1)).unwrap(),
        );
        let log_softmax = |row: &[f32]| -> Vec<f64> {
            let r: Vec<f64> = row.iter().map(|&v| f64::from(v) / tau).collect();
            let lse = r.iter().map(|v| v.exp()).sum::<f64>().ln();
            r.iter().map(|v| v - lse).collect()
        };
        let mut kl = 0.0;
        for i in 0..2 {
            let (ls, lt) = (
                log_softmax(&sv[3 * i..3 * i + 3]),
                log_softmax(&tv[3 * i..3 * i + 3]),
            );
            kl += (0..3).map(|j| lt[j].exp() * (lt[j] - ls[j])).sum::<f64>();
        }
        let expect = kl * tau * tau / 6.0;
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
    }

    #[test]
    fn hard_term_uses_the_teacher_argmax() {
        let base = Tensor::from(0.0f32);
        let s = Tensor::from_slice(&[3.0f32, 0.0, 0.0]).reshape([1, 3]);
        let t = Tensor::from_slice(&[0.0f32, 0.0, 9.0]).reshape([1, 3]);
        let got = distillation_loss(&cfg(DistillMode::Hard, 1.0, 1.0), &base, &s, Some(&t))
            .unwrap()
            .double_value(&[]);
        let expect = s
            .cross_entropy_for_logits(&Tensor::from_slice(&[2i64]))
            .double_value(&[]);
        assert!((got - expect).abs() < 1e-6);
    }
}
