//! Learning-rate schedule: linear warmup, then cosine decay.

/// Linear warmup from ~0 to `base` over `warmup` steps, then a half cosine down to `min` at
/// `total` steps.
#[derive(Clone, Copy, Debug)]
pub struct WarmupCosine {
    pub base: f64,
    pub min: f64,
    pub warmup: u64,
    pub total: u64,
}

impl WarmupCosine {
    /// The learning rate for step `step` (0-based).
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let t = ((step - self.warmup) as f64 / span as f64).min(1.0);
        self.min + 0.5 * (self.base - self.min) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_the_minimum() {
        let s = WarmupCosine {
            base: 1e-3,
            min: 1e-5,
            warmup: 10,
            total: 110,
        };
        assert!((s.at(0) - 1e-4).abs() < 1e-12);
        assert!((s.at(9) - 1e-3).abs() < 1e-12);
        assert!((s.at(10) - 1e-3).abs() < 1e-12);
        assert!((s.at(60) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-12);
        assert!((s.at(110) - 1e-5).abs() < 1e-12);
        assert!((s.at(500) - 1e-5).abs() < 1e-12);
        assert!((1..110).all(|i| s.at(i) <= s.at(i - 1) || i <= 10));
    }
}
