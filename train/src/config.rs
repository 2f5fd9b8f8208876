//! Hyper-parameters of a training run, readable from a TOML file.
//!
//! Every field has the default of the official recipe scaled to small data sets; a config file
//! only names what it changes, and unknown keys are errors (a typo must not silently train with
//! a default).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::amp::Amp;
use crate::augment::AugmentConfig;
use crate::distill::DistillConfig;
use crate::error::{Error, Result};

/// One training run's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: u64,
    pub batch_size: i64,
    /// Base learning rate per 256 images: the rate used is `blr · batch_size / 256`
    /// (the official recipe's scaling), unless `lr` is set.
    pub blr: f64,
    /// Absolute learning rate, overriding `blr`.
    pub lr: Option<f64>,
    pub min_lr: f64,
    pub warmup_epochs: u64,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    /// Stochastic depth rate of the last block.
    pub drop_path: f64,
    /// Clip the global gradient norm to this value.
    pub clip_grad: Option<f64>,
    /// Fake-quantize synaptic weights per output channel to this many bits (QAT).
    pub weight_bits: Option<u8>,
    /// Round inputs to the runtime's `i8` grid for this input range (`|x| ≤ absmax`).
    pub input_absmax: Option<f64>,
    /// BatchNorm normalises with its running statistics during training and leaves them as they
    /// are (frozen BN). Every sample is then computed on its own, so a data-parallel run equals
    /// one process with the global batch exactly; without it each rank normalises over its own
    /// batch, as in the official recipe (DDP without SyncBN).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub freeze_bn: bool,
    /// Autocast on CUDA: `off`, `bf16` (the official recipe) or `fp16`; ignored on CPU.
    pub amp: Amp,
    pub seed: i64,
    pub augment: AugmentConfig,
    pub distill: DistillConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            blr: 6e-4,
            lr: None,
            min_lr: 1e-5,
            warmup_epochs: 2,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            drop_path: 0.0,
            clip_grad: None,
            weight_bits: None,
            input_absmax: None,
            freeze_bn: false,
            amp: Amp::Off,
            seed: 1,
            augment: AugmentConfig::default(),
            distill: DistillConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// The learning rate at the end of warmup, for one process.
    pub fn peak_lr(&self) -> f64 {
        self.peak_lr_for(1)
    }

    /// The learning rate at the end of warmup when `world` processes each take `batch_size`:
    /// `blr` scales with the global batch, as the official recipe's
    /// `lr = blr · batch_size · world_size / 256`.
    pub fn peak_lr_for(&self, world: usize) -> f64 {
        self.lr
            .unwrap_or(self.blr * (self.batch_size as f64 * world as f64) / 256.0)
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if self.epochs == 0 || self.batch_size <= 0 {
            return bad("epochs and batch_size must be positive".into());
        }
        if !(self.peak_lr() > 0.0 && self.peak_lr().is_finite()) {
            return bad(format!(
                "learning rate must be positive, got {}",
                self.peak_lr()
            ));
        }
        if !(0.0..1.0).contains(&self.drop_path) || !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("drop_path and label_smoothing must be in [0, 1)".into());
        }
        if matches!(self.weight_bits, Some(b) if !(2..=16).contains(&b)) {
            return bad("weight_bits must be in 2..=16".into());
        }
        if matches!(self.input_absmax, Some(a) if a.is_nan() || a <= 0.0) {
            return bad("input_absmax must be positive".into());
        }
        if matches!(self.clip_grad, Some(c) if c.is_nan() || c <= 0.0) {
            return bad("clip_grad must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distill::DistillMode;

    fn parse(text: &str) -> Result<TrainConfig> {
        let c: TrainConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn a_file_names_only_what_it_changes() {
        let c = parse(
            "epochs = 5\nbatch_size = 128\namp = \"bf16\"\n[augment]\nshift = 2\n[distill]\nmode = \"soft\"\ntau = 3.0\n",
        )
        .unwrap();
        assert_eq!(c.epochs, 5);
        assert_eq!(c.amp, Amp::Bf16);
        assert_eq!(c.augment.shift, 2);
        assert_eq!(c.distill.mode, DistillMode::Soft);
        assert_eq!(c.distill.alpha, 0.5);
        assert_eq!(c.weight_decay, TrainConfig::default().weight_decay);
        assert!((c.peak_lr() - 6e-4 * 0.5).abs() < 1e-15);
    }

    #[test]
    fn typos_and_impossible_values_are_errors() {
        assert!(parse("epoch = 5").is_err());
        assert!(parse("[augment]\nshfit = 1").is_err());
        assert!(parse("batch_size = 0").is_err());
        assert!(parse("lr = -1.0").is_err());
        assert!(parse("weight_bits = 1").is_err());
        assert!(parse("drop_path = 1.5").is_err());
    }
}
