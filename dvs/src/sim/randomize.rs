//! Domain randomization: ranges for every choice of a filmed clip (framing, geometry, tempo,
//! handedness, background, light, sensor and noise), drawn per clip from a seed, so a model
//! trained on the draws meets real sensors, rooms and people inside its training range.
//! Presets narrow the ranges to one kind of recording (a close-up hand, an upper body, a
//! sparse noisy recording).

use super::film::{film, Filmed, SceneParams, Shot};
use super::gesture::Gesture;
use super::lighting::{Change, Lighting};
use super::rng::Rng;
use super::sensor::{SensorConfig, SensorError};

/// A closed range `lo..=hi` to draw uniformly from (`lo == hi`: fixed).
pub type Range = (f32, f32);

/// Ranges of everything a clip can vary in.
#[derive(Clone, Debug, PartialEq)]
pub struct Randomization {
    /// Sensor columns and rows.
    pub sensor_size: (u16, u16),
    /// Probability of a close-up of the gesturing hand (else an upper body).
    pub close_up_prob: f32,
    /// Zoom of an upper-body shot (1: the whole 128-unit scene fills the sensor).
    pub upper_body_zoom: Range,
    /// Zoom of a close-up.
    pub close_up_zoom: Range,
    /// Extra zoom factor on top of either (the "scale" of the person).
    pub scale: Range,
    /// Camera roll (degrees).
    pub rotation_deg: Range,
    /// Image shift, as a fraction of the sensor side.
    pub translate: f32,
    /// Gesture tempo factor.
    pub speed: Range,
    /// Probability of a mirrored (left-handed) performance; its label is the mirrored class.
    pub mirror_prob: f32,
    /// Probability of a cluttered wall.
    pub clutter_prob: f32,
    /// Background pan (pixels/s).
    pub pan_px_per_s: Range,
    /// Probability of a second moving object.
    pub distractor_prob: f32,
    /// Cloth and wall pattern contrast.
    pub texture_contrast: Range,
    /// Probability of long sleeves.
    pub long_sleeve_prob: f32,
    /// Mean light level (linear; 1 is bright; drawn log-uniformly: dim rooms are common and
    /// give sparse, noisy recordings).
    pub light_level: Range,
    /// Probability of lamp flicker (100 or 120 Hz, equally likely).
    pub flicker_prob: f32,
    /// Flicker depth.
    pub flicker_depth: Range,
    /// Largest number of global light changes in a clip.
    pub max_light_changes: u32,
    /// Factor of one light change (drawn log-uniformly).
    pub light_change: Range,
    /// Mean contrast threshold (log units).
    pub threshold: Range,
    /// OFF / ON threshold ratio.
    pub off_on_ratio: Range,
    /// Relative per-pixel threshold mismatch.
    pub threshold_sigma: Range,
    /// Refractory period (µs).
    pub refractory_us: (u64, u64),
    /// Photoreceptor cutoff at full light (Hz).
    pub cutoff_hz: Range,
    /// Leak rate per pixel at multiplier 1 (Hz).
    pub leak_hz: f32,
    /// Shot-noise rate per pixel at multiplier 1 (Hz).
    pub shot_noise_hz: f32,
    /// Multiplier of the leak and shot-noise rates (drawn log-uniformly).
    pub noise_multiplier: Range,
    /// Fraction of hot pixels.
    pub hot_pixel_fraction: Range,
    /// Hot-pixel rate (Hz).
    pub hot_pixel_hz: Range,
    /// Rendering interval (µs).
    pub frame_us: u64,
    /// Probability that a draw comes from [`Randomization::noisy_sparse`] instead (at this
    /// sensor size): dim, distant, noisy recordings of a few thousand events per second,
    /// which the ranges above rarely combine.
    pub sparse_prob: f32,
}

impl Default for Randomization {
    /// The training range: DVS128-sized, everything varied.
    fn default() -> Self {
        Self {
            sensor_size: (128, 128),
            close_up_prob: 0.4,
            upper_body_zoom: (0.6, 1.6),
            close_up_zoom: (1.5, 2.5),
            scale: (0.5, 2.0),
            rotation_deg: (-15.0, 15.0),
            translate: 0.12,
            speed: (0.5, 2.0),
            mirror_prob: 0.5,
            clutter_prob: 0.7,
            pan_px_per_s: (0.0, 4.0),
            distractor_prob: 0.3,
            texture_contrast: (0.05, 0.45),
            long_sleeve_prob: 0.6,
            light_level: (0.03, 1.0),
            flicker_prob: 0.3,
            flicker_depth: (0.05, 0.4),
            max_light_changes: 2,
            light_change: (0.6, 1.6),
            threshold: (0.2, 0.5),
            off_on_ratio: (0.8, 1.25),
            threshold_sigma: (0.02, 0.05),
            refractory_us: (200, 1_500),
            cutoff_hz: (100.0, 500.0),
            leak_hz: 0.02,
            shot_noise_hz: 0.02,
            noise_multiplier: (1.0, 10.0),
            hot_pixel_fraction: (0.0, 0.002),
            hot_pixel_hz: (20.0, 300.0),
            frame_us: 1_000,
            sparse_prob: 0.15,
        }
    }
}

impl Randomization {
    /// A hand and forearm close to the camera in office light (DVS128 recordings of a hand
    /// waving near the lens show 25–65 k events/s).
    pub fn close_up() -> Self {
        Self {
            close_up_prob: 1.0,
            sparse_prob: 0.0,
            close_up_zoom: (2.0, 3.0),
            scale: (0.8, 1.2),
            speed: (0.7, 1.2),
            threshold: (0.3, 0.45),
            refractory_us: (500, 1_500),
            pan_px_per_s: (0.0, 10.0),
            light_level: (0.3, 0.8),
            flicker_prob: 0.0,
            max_light_changes: 0,
            noise_multiplier: (1.0, 2.0),
            ..Self::default()
        }
    }

    /// The whole upper body, as in DVS128 Gesture.
    pub fn upper_body() -> Self {
        Self {
            close_up_prob: 0.0,
            sparse_prob: 0.0,
            upper_body_zoom: (1.0, 1.2),
            scale: (0.9, 1.1),
            speed: (0.8, 1.3),
            threshold: (0.15, 0.4),
            refractory_us: (100, 1_000),
            pan_px_per_s: (0.0, 10.0),
            light_level: (0.5, 1.0),
            flicker_prob: 0.0,
            max_light_changes: 0,
            noise_multiplier: (1.0, 2.0),
            ..Self::default()
        }
    }

    /// A sparse, noisy recording: dim light, a small slow movement far away, a noisy sensor
    /// with high thresholds (3–5 k events/s on a DVS128).
    pub fn noisy_sparse() -> Self {
        Self {
            close_up_prob: 0.0,
            sparse_prob: 0.0,
            upper_body_zoom: (0.6, 0.8),
            scale: (0.9, 1.1),
            speed: (0.5, 0.7),
            clutter_prob: 0.0,
            pan_px_per_s: (0.0, 0.0),
            distractor_prob: 0.0,
            texture_contrast: (0.05, 0.1),
            light_level: (0.03, 0.08),
            flicker_prob: 0.0,
            max_light_changes: 0,
            threshold: (0.4, 0.5),
            refractory_us: (100, 1_000),
            noise_multiplier: (3.0, 5.0),
            ..Self::default()
        }
    }

    /// The named presets: `close_up`, `upper_body`, `noisy_sparse`.
    pub fn presets() -> [(&'static str, Self); 3] {
        [
            ("close_up", Self::close_up()),
            ("upper_body", Self::upper_body()),
            ("noisy_sparse", Self::noisy_sparse()),
        ]
    }

    /// Draws one clip's parameters.
    pub fn sample(&self, duration_us: u64, rng: &mut Rng) -> SceneParams {
        if self.sparse_prob > 0.0 && rng.chance(f64::from(self.sparse_prob)) {
            let sparse = Self {
                sensor_size: self.sensor_size,
                ..Self::noisy_sparse()
            };
            return sparse.sample(duration_us, rng);
        }
        let mut draw = |r: Range| rng_range(rng, r);
        let close_up = draw((0.0, 1.0)) < self.close_up_prob;
        let zoom = draw(if close_up {
            self.close_up_zoom
        } else {
            self.upper_body_zoom
        }) * draw(self.scale);
        let rotation = draw(self.rotation_deg).to_radians();
        let side = f32::from(self.sensor_size.0.min(self.sensor_size.1));
        let offset = (
            draw((-self.translate, self.translate)) * side,
            draw((-self.translate, self.translate)) * side,
        );
        let speed = draw(self.speed);
        let mirror = draw((0.0, 1.0)) < self.mirror_prob;
        let clutter = draw((0.0, 1.0)) < self.clutter_prob;
        let pan = draw(self.pan_px_per_s);
        let distractor = draw((0.0, 1.0)) < self.distractor_prob;
        let texture_contrast = draw(self.texture_contrast);
        let long_sleeves = draw((0.0, 1.0)) < self.long_sleeve_prob;
        let (lo, hi) = (
            self.light_level.0.max(1e-6).ln(),
            self.light_level.1.max(1e-6).ln(),
        );
        let mut lighting = Lighting::steady(draw((lo, hi)).exp());
        if draw((0.0, 1.0)) < self.flicker_prob {
            lighting.flicker_hz = if draw((0.0, 1.0)) < 0.5 { 100.0 } else { 120.0 };
            lighting.flicker_depth = draw(self.flicker_depth);
            lighting.flicker_phase = draw((0.0, core::f32::consts::TAU));
        }
        let changes = rng.below(u64::from(self.max_light_changes) + 1);
        for _ in 0..changes {
            let factor = log_uniform(rng, self.light_change);
            lighting.changes.push(Change {
                start_us: rng.below(duration_us.max(1)),
                ramp_us: 20_000 + rng.below(300_000),
                factor,
            });
        }
        let threshold = rng_range(rng, self.threshold);
        let noise = log_uniform(rng, self.noise_multiplier);
        let (r0, r1) = self.refractory_us;
        let sensor = SensorConfig {
            width: self.sensor_size.0,
            height: self.sensor_size.1,
            threshold_on: threshold,
            threshold_off: threshold * rng_range(rng, self.off_on_ratio),
            threshold_sigma: rng_range(rng, self.threshold_sigma),
            refractory_us: r0 + rng.below(r1.saturating_sub(r0) + 1),
            cutoff_hz: rng_range(rng, self.cutoff_hz),
            leak_hz: self.leak_hz * noise,
            shot_noise_hz: self.shot_noise_hz * noise,
            hot_pixel_fraction: rng_range(rng, self.hot_pixel_fraction),
            hot_pixel_hz: rng_range(rng, self.hot_pixel_hz),
            ..SensorConfig::default()
        };
        SceneParams {
            shot: if close_up {
                Shot::CloseUp
            } else {
                Shot::UpperBody
            },
            scale: zoom,
            rotation,
            offset,
            mirror,
            speed,
            clutter,
            pan_px_per_s: pan,
            distractor,
            texture_contrast,
            long_sleeves,
            lighting,
            sensor,
            frame_us: self.frame_us,
        }
    }

    /// One randomized clip of `gesture`: parameters and scene from `seed`.
    pub fn clip(
        &self,
        gesture: Gesture,
        duration_us: u64,
        seed: u64,
    ) -> Result<Filmed, SensorError> {
        let params = self.sample(duration_us, &mut Rng::stream(seed, 30));
        film(gesture, duration_us, &params, seed)
    }
}

fn rng_range(rng: &mut Rng, (lo, hi): Range) -> f32 {
    if hi <= lo {
        lo
    } else {
        rng.range(f64::from(lo), f64::from(hi)) as f32
    }
}

/// Log-uniform in `[lo, hi]` (both positive): multipliers spread evenly over decades.
fn log_uniform(rng: &mut Rng, (lo, hi): Range) -> f32 {
    let (a, b) = (lo.max(1e-6).ln(), hi.max(1e-6).ln());
    rng_range(rng, (a, b)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_ranges_and_cover_them() {
        let r = Randomization::default();
        let mut rng = Rng::new(11);
        let draws: Vec<SceneParams> = (0..400).map(|_| r.sample(1_000_000, &mut rng)).collect();
        let mirrored = draws.iter().filter(|p| p.mirror).count();
        assert!((150..250).contains(&mirrored), "{mirrored} mirrored of 400");
        let close = draws.iter().filter(|p| p.shot == Shot::CloseUp).count();
        assert!((120..200).contains(&close), "{close} close-ups");
        for p in &draws {
            assert!((0.5..=2.0).contains(&p.speed));
            let m = p.sensor.shot_noise_hz / r.shot_noise_hz;
            assert!((0.999..=10.001).contains(&m), "noise ×{m}");
            assert!((0.2..=0.5).contains(&p.sensor.threshold_on));
            assert!(p.sensor.width == 128 && p.sensor.height == 128);
            assert!(
                p.lighting.flicker_hz == 0.0 || [100.0, 120.0].contains(&p.lighting.flicker_hz)
            );
            assert!(p.lighting.changes.len() <= 2);
        }
        let flicker = draws.iter().filter(|p| p.lighting.flicker_hz > 0.0).count();
        assert!((80..160).contains(&flicker), "{flicker} flickering");
        let max_noise = draws
            .iter()
            .map(|p| p.sensor.shot_noise_hz / r.shot_noise_hz)
            .fold(0.0, f32::max);
        assert!(max_noise > 8.0, "noise never near 10×: ×{max_noise}");
    }
}
