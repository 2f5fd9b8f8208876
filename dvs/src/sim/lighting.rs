//! Scene illumination over time: mains-powered lamp flicker (fluorescent tubes and cheap LED
//! drivers modulate at twice the mains frequency, 100 or 120 Hz) and slow global changes
//! (a cloud, a door, a lamp switched on), multiplying every surface's reflectance.

use core::f32::consts::TAU;

/// One smooth change of the overall light level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// Start (µs).
    pub start_us: u64,
    /// Ramp length (µs).
    pub ramp_us: u64,
    /// Factor the light is multiplied by once the ramp is over.
    pub factor: f32,
}

/// The light on the scene.
#[derive(Clone, Debug, PartialEq)]
pub struct Lighting {
    /// Mean level (linear; 1 is a bright office).
    pub level: f32,
    /// Flicker frequency (Hz; 0: none).
    pub flicker_hz: f32,
    /// Flicker depth: the light dips to `1 − depth` of its peak once per period.
    pub flicker_depth: f32,
    /// Flicker phase (radians).
    pub flicker_phase: f32,
    /// Global changes, in any order.
    pub changes: Vec<Change>,
}

impl Lighting {
    /// Steady light of `level`.
    pub fn steady(level: f32) -> Self {
        Self {
            level,
            flicker_hz: 0.0,
            flicker_depth: 0.0,
            flicker_phase: 0.0,
            changes: Vec::new(),
        }
    }

    /// The light level at `t_us`.
    pub fn gain(&self, t_us: u64) -> f32 {
        let t = t_us as f64 * 1e-6;
        let mut g = self.level;
        if self.flicker_hz > 0.0 && self.flicker_depth > 0.0 {
            // The fractional phase in f64: f32 time loses the 100 Hz phase after seconds.
            let cycles = (f64::from(self.flicker_hz) * t).fract() as f32;
            let wave = 0.5 + 0.5 * (TAU * cycles + self.flicker_phase).cos();
            g *= 1.0 - self.flicker_depth.clamp(0.0, 1.0) * (1.0 - wave);
        }
        for c in &self.changes {
            if t_us <= c.start_us {
                continue;
            }
            let k = ((t_us - c.start_us) as f32 / c.ramp_us.max(1) as f32).min(1.0);
            let k = k * k * (3.0 - 2.0 * k);
            g *= 1.0 + (c.factor - 1.0) * k;
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flicker_has_its_period_and_depth() {
        let l = Lighting {
            flicker_hz: 100.0,
            flicker_depth: 0.4,
            ..Lighting::steady(1.0)
        };
        let g: Vec<f32> = (0..10_000).map(|t| l.gain(t)).collect();
        let (lo, hi) = g
            .iter()
            .fold((9f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(
            (hi - 1.0).abs() < 1e-3 && (lo - 0.6).abs() < 1e-3,
            "{lo}..{hi}"
        );
        // Periodic at 10 ms, even after 5 s.
        assert!((l.gain(5_000_123) - l.gain(5_010_123)).abs() < 1e-4);
    }

    #[test]
    fn a_change_ramps_to_its_factor() {
        let l = Lighting {
            changes: vec![Change {
                start_us: 100,
                ramp_us: 1_000,
                factor: 0.5,
            }],
            ..Lighting::steady(0.8)
        };
        assert_eq!(l.gain(50), 0.8);
        assert!((l.gain(600) - 0.6).abs() < 1e-3);
        assert!((l.gain(5_000) - 0.4).abs() < 1e-6);
    }
}
