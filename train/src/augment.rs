//! Batch augmentation on tensors: random translation, mixup and cutmix with soft targets.
//!
//! Targets are always soft (`[B, classes]`, rows summing to 1) so label smoothing, mixing and
//! distillation share one loss. Randomness comes from libtorch's generator, which the training
//! loop re-seeds at every step, so a resumed run draws exactly what the uninterrupted one did.

use tch::{Kind, Tensor};

use crate::error::Result;

/// Augmentation settings (all off by default).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Largest random shift in pixels, per image and axis (edges replicated).
    pub shift: i64,
    /// Beta(α, α) for mixup; 0 disables it.
    pub mixup_alpha: f64,
    /// Beta(α, α) for cutmix; 0 disables it.
    pub cutmix_alpha: f64,
    /// Probability of mixing a batch at all.
    pub mix_prob: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            shift: 0,
            mixup_alpha: 0.0,
            cutmix_alpha: 0.0,
            mix_prob: 1.0,
        }
    }
}

/// Label-smoothed one-hot targets: `1 − ε + ε/C` on the label, `ε/C` elsewhere.
pub fn smooth_one_hot(labels: &Tensor, classes: i64, smoothing: f64) -> Result<Tensor> {
    let off = smoothing / classes as f64;
    let one_hot = labels.f_one_hot(classes)?.f_to_kind(Kind::Float)?;
    Ok(one_hot.f_mul_scalar(1.0 - smoothing)?.f_add_scalar(off)?)
}

/// Cross-entropy against soft targets, averaged over the batch.
pub fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let logp = logits.f_log_softmax(1, Kind::Float)?;
    Ok(logp
        .f_mul(targets)?
        .f_sum_dim_intlist(1i64, false, Kind::Float)?
        .f_neg()?
        .f_mean(Kind::Float)?)
}

fn uniform() -> Result<f64> {
    Ok(Tensor::f_rand([1], (Kind::Double, tch::Device::Cpu))?.f_double_value(&[0])?)
}

/// A Beta(α, α) draw from two Gamma(α) draws.
fn beta(alpha: f64) -> Result<f64> {
    let a = Tensor::f_full([2], alpha, (Kind::Double, tch::Device::Cpu))?
        .f_internal_standard_gamma()?;
    let (x, y) = (a.f_double_value(&[0])?, a.f_double_value(&[1])?);
    Ok(if x + y > 0.0 { x / (x + y) } else { 0.5 })
}

/// Shifts every image by its own random offset in `-max..=max` along each axis, replicating the
/// edge pixels into the uncovered border.
pub fn random_shift(images: &Tensor, max: i64) -> Result<Tensor> {
    if max <= 0 {
        return Ok(images.shallow_clone());
    }
    let (b, _, h, w) = images.size4()?;
    let padded = images.f_pad([max, max, max, max], "replicate", None)?;
    let offsets = Tensor::f_randint(2 * max + 1, [b, 2], (Kind::Int64, tch::Device::Cpu))?;
    let offsets: Vec<i64> = Vec::try_from(&offsets.f_flatten(0, -1)?)?;
    let crops = (0..b)
        .map(|i| {
            let (dy, dx) = (offsets[2 * i as usize], offsets[2 * i as usize + 1]);
            padded
                .f_narrow(0, i, 1)?
                .f_narrow(2, dy, h)?
                .f_narrow(3, dx, w)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tensor::f_cat(&crops, 0)?)
}

/// Mixes the batch with its reverse (timm's "batch" mode): either mixup (blend images) or
/// cutmix (paste a box), targets blended by the mixed area. Returns the batch unchanged when
/// mixing is off or not drawn.
pub fn mix(images: &Tensor, targets: &Tensor, config: &AugmentConfig) -> Result<(Tensor, Tensor)> {
    let use_mixup = config.mixup_alpha > 0.0;
    let use_cutmix = config.cutmix_alpha > 0.0;
    if !(use_mixup || use_cutmix) || uniform()? >= config.mix_prob {
        return Ok((images.shallow_clone(), targets.shallow_clone()));
    }
    let flipped_x = images.f_flip([0])?;
    let flipped_t = targets.f_flip([0])?;
    let cutmix = use_cutmix && (!use_mixup || uniform()? < 0.5);
    let lam = if cutmix {
        let (_, _, h, w) = images.size4()?;
        let lam = beta(config.cutmix_alpha)?;
        let ratio = (1.0 - lam).sqrt();
        let (ch, cw) = ((h as f64 * ratio) as i64, (w as f64 * ratio) as i64);
        let cy = (uniform()? * h as f64) as i64;
        let cx = (uniform()? * w as f64) as i64;
        let (y0, y1) = ((cy - ch / 2).clamp(0, h), (cy + ch / 2).clamp(0, h));
        let (x0, x1) = ((cx - cw / 2).clamp(0, w), (cx + cw / 2).clamp(0, w));
        let mixed = images.f_detach()?.f_contiguous()?.copy();
        if y1 > y0 && x1 > x0 {
            let src = flipped_x
                .f_narrow(2, y0, y1 - y0)?
                .f_narrow(3, x0, x1 - x0)?;
            mixed
                .f_narrow(2, y0, y1 - y0)?
                .f_narrow(3, x0, x1 - x0)?
                .f_copy_(&src)?;
        }
        // The label weight is the area actually kept after clipping the box.
        let lam = 1.0 - ((y1 - y0) * (x1 - x0)) as f64 / (h * w) as f64;
        let t = targets
            .f_mul_scalar(lam)?
            .f_add(&flipped_t.f_mul_scalar(1.0 - lam)?)?;
        return Ok((mixed, t));
    } else {
        beta(config.mixup_alpha)?
    };
    let x = images
        .f_mul_scalar(lam)?
        .f_add(&flipped_x.f_mul_scalar(1.0 - lam)?)?;
    let t = targets
        .f_mul_scalar(lam)?
        .f_add(&flipped_t.f_mul_scalar(1.0 - lam)?)?;
    Ok((x, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn smoothed_targets_sum_to_one() {
        let t = smooth_one_hot(&Tensor::from_slice(&[2i64, 0]), 4, 0.1).unwrap();
        let row: Vec<f32> = Vec::try_from(&t.get(0)).unwrap();
        assert!((row[2] - 0.925).abs() < 1e-6 && (row[0] - 0.025).abs() < 1e-6);
        let sums: Vec<f32> = Vec::try_from(&t.sum_dim_intlist(1i64, false, Kind::Float)).unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6));
    }

    #[test]
    fn soft_cross_entropy_equals_hard_on_one_hot() {
        let logits = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 2, 1, 1, 0]);
        let soft = soft_cross_entropy(&logits, &smooth_one_hot(&labels, 3, 0.0).unwrap())
            .unwrap()
            .double_value(&[]);
        let hard = logits.cross_entropy_for_logits(&labels).double_value(&[]);
        assert!((soft - hard).abs() < 1e-6);
    }

    #[test]
    fn shifts_move_content_within_bounds() {
        tch::manual_seed(0);
        let x = Tensor::arange(2 * 36, (Kind::Float, Device::Cpu)).reshape([2, 1, 6, 6]);
        let y = random_shift(&x, 2).unwrap();
        assert_eq!(y.size(), x.size());
        // Replicate padding never invents values outside the image's range.
        assert!(y.min().double_value(&[]) >= 0.0 && y.max().double_value(&[]) <= 71.0);
        assert!(random_shift(&x, 0).unwrap().equal(&x));
    }

    #[test]
    fn mixing_keeps_target_mass_and_blends_consistently() {
        tch::manual_seed(1);
        let x = Tensor::rand([4, 1, 8, 8], (Kind::Float, Device::Cpu));
        let t = smooth_one_hot(&Tensor::from_slice(&[0i64, 1, 2, 3]), 4, 0.0).unwrap();
        for config in [
            AugmentConfig {
                mixup_alpha: 0.8,
                ..Default::default()
            },
            AugmentConfig {
                cutmix_alpha: 1.0,
                ..Default::default()
            },
        ] {
            let (mx, mt) = mix(&x, &t, &config).unwrap();
            assert_eq!(mx.size(), x.size());
            let sums: Vec<f32> =
                Vec::try_from(&mt.sum_dim_intlist(1i64, false, Kind::Float)).unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
            // Sample 0 is mixed with sample 3 only.
            let row: Vec<f32> = Vec::try_from(&mt.get(0)).unwrap();
            assert!((row[0] + row[3] - 1.0).abs() < 1e-5 && row[1] == 0.0);
        }
        let off = AugmentConfig::default();
        let (same, _) = mix(&x, &t, &off).unwrap();
        assert!(same.equal(&x));
    }
}
