//! A DVS pixel array in the manner of v2e (Hu, Liu and Delbruck, 2021) and the DVS128 /
//! DVXplorer datasheets, for realistic training data:
//!
//! - the photoreceptor is a first-order low-pass on log intensity whose cutoff falls with
//!   brightness (dim pixels are slow: motion blur and lost flicker in the dark);
//! - each pixel has its own ON and OFF contrast thresholds (Gaussian mismatch, σ a few % of
//!   the threshold) and its own reference level: at start-up a pixel sits anywhere inside its
//!   threshold band, as it would after its last reset;
//! - event times are interpolated where the filtered log intensity crosses the threshold
//!   between two frames;
//! - leak events: junction leakage slowly drifts every reference down, so each pixel fires ON
//!   events at about its leak rate even in a static scene;
//! - shot noise: random ON/OFF events, more frequent in the dark, that reset the pixel's
//!   reference to its present level as a real event's reset does;
//! - hot pixels: a few pixels fire at a high rate whatever the scene;
//! - a refractory period after every event (crossings inside it are lost, the reference still
//!   moves).
//!
//! Everything random comes from the seed.

use sdt_events::Event;

use super::rng::Rng;

/// Sensor and noise parameters (rates per pixel in Hz).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensorConfig {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
    /// Mean ON contrast threshold (log units).
    pub threshold_on: f32,
    /// Mean OFF contrast threshold (log units, positive).
    pub threshold_off: f32,
    /// Standard deviation of the per-pixel thresholds, relative to the mean.
    pub threshold_sigma: f32,
    /// Blind time after an event (µs).
    pub refractory_us: u64,
    /// Photoreceptor cutoff at linear intensity 1 (Hz), proportional to intensity below
    /// (floored at 2 % of it); 0 disables the filter.
    pub cutoff_hz: f32,
    /// Leak event rate per pixel (Hz).
    pub leak_hz: f32,
    /// Shot-noise event rate per pixel at intensity 0.5 (Hz); twice that in the dark.
    pub shot_noise_hz: f32,
    /// Fraction of pixels that are hot.
    pub hot_pixel_fraction: f32,
    /// Event rate of a hot pixel (Hz).
    pub hot_pixel_hz: f32,
    /// Added to the linear intensity before the logarithm.
    pub log_eps: f32,
    /// Seed of the mismatch, the hot pixels and the noise.
    pub seed: u64,
}

impl Default for SensorConfig {
    /// A DVS128-like sensor in office light.
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            threshold_on: 0.25,
            threshold_off: 0.25,
            threshold_sigma: 0.03,
            refractory_us: 500,
            cutoff_hz: 300.0,
            leak_hz: 0.05,
            shot_noise_hz: 0.1,
            hot_pixel_fraction: 0.0005,
            hot_pixel_hz: 100.0,
            log_eps: 1e-3,
            seed: 1,
        }
    }
}

/// Why a simulated sensor ([`Sensor`], or the simpler [`super::Camera`]) cannot run.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SensorError {
    /// A threshold or rate is negative or not finite, or the sensor has no pixels.
    #[error("thresholds must be positive, rates non-negative, all finite, and the sensor must have pixels")]
    Config,
    /// A frame's length is not `width × height`.
    #[error("frame has {found} pixels, the sensor {expected}")]
    FrameSize {
        /// `width × height`.
        expected: usize,
        /// Given.
        found: usize,
    },
    /// A frame is not later than the previous one.
    #[error("frame at {t} µs is not after the previous one at {previous} µs")]
    Time {
        /// The new frame.
        t: u64,
        /// The previous frame.
        previous: u64,
    },
}

/// Marker for "no event yet".
const NEVER: u64 = u64::MAX;

/// A hot pixel: index, rate (Hz), polarity.
#[derive(Clone, Copy, Debug)]
struct Hot {
    pixel: usize,
    hz: f64,
    p: u8,
}

/// The simulated pixel array, fed with frames of linear intensity.
#[derive(Clone, Debug)]
pub struct Sensor {
    cfg: SensorConfig,
    reference: Vec<f32>,
    /// Low-passed log intensity.
    filtered: Vec<f32>,
    /// Last input (linear) and its logarithm: most pixels repeat.
    last_lin: Vec<f32>,
    last_log: Vec<f32>,
    c_on: Vec<f32>,
    c_off: Vec<f32>,
    /// Per-pixel leak (log units per second).
    leak: Vec<f32>,
    hot: Vec<Hot>,
    last_event: Vec<u64>,
    t: Option<u64>,
    noise: Rng,
    /// This frame's candidate events `(t, pixel, polarity)` before the refractory check.
    pending: Vec<(u64, usize, u8)>,
}

impl Sensor {
    /// A sensor with mismatch, reference levels and hot pixels drawn from `cfg.seed`.
    pub fn new(cfg: SensorConfig) -> Result<Self, SensorError> {
        let pos = |v: f32| v.is_finite() && v > 0.0;
        let nonneg = |v: f32| v.is_finite() && v >= 0.0;
        let valid = pos(cfg.threshold_on)
            && pos(cfg.threshold_off)
            && pos(cfg.log_eps)
            && nonneg(cfg.threshold_sigma)
            && nonneg(cfg.cutoff_hz)
            && nonneg(cfg.leak_hz)
            && nonneg(cfg.shot_noise_hz)
            && nonneg(cfg.hot_pixel_hz)
            && (0.0..=1.0).contains(&cfg.hot_pixel_fraction)
            && cfg.width > 0
            && cfg.height > 0;
        if !valid {
            return Err(SensorError::Config);
        }
        let n = usize::from(cfg.width) * usize::from(cfg.height);
        let mut rng = Rng::stream(cfg.seed, 1);
        let mut draw = |mean: f32| {
            let c = f64::from(mean) * (1.0 + f64::from(cfg.threshold_sigma) * rng.normal());
            (c as f32).max(0.2 * mean)
        };
        let c_on: Vec<f32> = (0..n).map(|_| draw(cfg.threshold_on)).collect();
        let c_off: Vec<f32> = (0..n).map(|_| draw(cfg.threshold_off)).collect();
        // v2e draws each pixel's leak rate with 10 % spread.
        let mut rng = Rng::stream(cfg.seed, 2);
        let leak = c_on
            .iter()
            .map(|&c| c * cfg.leak_hz * (1.0 + 0.1 * rng.normal() as f32).max(0.0))
            .collect();
        let hot_count = (f64::from(cfg.hot_pixel_fraction) * n as f64).round() as usize;
        let hot = (0..hot_count)
            .map(|_| Hot {
                pixel: rng.below(n as u64) as usize,
                hz: f64::from(cfg.hot_pixel_hz) * rng.range(0.5, 1.5),
                p: u8::from(rng.chance(0.8)),
            })
            .collect();
        Ok(Self {
            cfg,
            reference: vec![0.0; n],
            filtered: vec![0.0; n],
            last_lin: vec![f32::NAN; n],
            last_log: vec![0.0; n],
            c_on,
            c_off,
            leak,
            hot,
            last_event: vec![NEVER; n],
            t: None,
            noise: Rng::stream(cfg.seed, 3),
            pending: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SensorConfig {
        &self.cfg
    }

    /// Pixels.
    pub fn pixels(&self) -> usize {
        self.reference.len()
    }

    /// ON threshold of pixel `i`.
    pub fn threshold_on(&self, i: usize) -> Option<f32> {
        self.c_on.get(i).copied()
    }

    /// Indices of the hot pixels.
    pub fn hot_pixels(&self) -> impl Iterator<Item = usize> + '_ {
        self.hot.iter().map(|h| h.pixel)
    }

    /// Takes the frame of linear intensities (row-major, `≥ 0`) at `t_us` and appends the
    /// events since the previous frame to `out`, sorted by time (then row, column). The first
    /// frame sets the filter state and the reference levels.
    pub fn frame(
        &mut self,
        t_us: u64,
        frame: &[f32],
        out: &mut Vec<Event>,
    ) -> Result<(), SensorError> {
        if frame.len() != self.pixels() {
            return Err(SensorError::FrameSize {
                expected: self.pixels(),
                found: frame.len(),
            });
        }
        let eps = self.cfg.log_eps;
        let log = |v: f32| (v.max(0.0) + eps).ln();
        let Some(t0) = self.t else {
            let mut rng = Rng::stream(self.cfg.seed, 4);
            for (i, &v) in frame.iter().enumerate() {
                let l = log(v);
                self.last_lin[i] = v;
                self.last_log[i] = l;
                self.filtered[i] = l;
                // Anywhere inside the band (−c_on, c_off) around the level: no event yet.
                let u = rng.unit() as f32;
                self.reference[i] = l - self.c_on[i] + u * (self.c_on[i] + self.c_off[i]);
            }
            self.t = Some(t_us);
            return Ok(());
        };
        if t_us <= t0 {
            return Err(SensorError::Time {
                t: t_us,
                previous: t0,
            });
        }
        let dt_us = t_us - t0;
        let dt = dt_us as f32 * 1e-6;
        let w = usize::from(self.cfg.width);
        let refractory = self.cfg.refractory_us;
        let omega = core::f32::consts::TAU * self.cfg.cutoff_hz * dt;
        for (i, &v) in frame.iter().enumerate() {
            if v != self.last_lin[i] {
                self.last_lin[i] = v;
                self.last_log[i] = log(v);
            }
            let l0 = self.filtered[i];
            let target = self.last_log[i];
            let l1 = if omega <= 0.0 {
                target
            } else if (target - l0).abs() > 1e-6 {
                let alpha = 1.0 - (-omega * v.clamp(0.02, 1.0)).exp();
                l0 + alpha * (target - l0)
            } else {
                target
            };
            self.filtered[i] = l1;
            self.reference[i] -= self.leak[i] * dt;
            let (c_on, c_off) = (self.c_on[i], self.c_off[i]);
            loop {
                let d = l1 - self.reference[i];
                let (level, p) = if d >= c_on {
                    (self.reference[i] + c_on, 1u8)
                } else if d <= -c_off {
                    (self.reference[i] - c_off, 0u8)
                } else {
                    break;
                };
                self.reference[i] = level;
                // Where the filtered signal crossed the level; a crossing caused by the leak
                // alone (no signal change) happens at a random time.
                let frac = if (l1 - l0).abs() > 1e-6 {
                    f64::from((level - l0) / (l1 - l0)).clamp(0.0, 1.0)
                } else {
                    self.noise.unit()
                };
                let t = t0 + (frac * dt_us as f64).round() as u64;
                self.pending.push((t, i, p));
            }
        }
        self.shot_noise(t0, t_us, frame);
        self.hot_pixel_events(t0, t_us);
        // In time order (pixel indices are row-major: then row, column), so the refractory
        // period is applied as the pixel lives it.
        let mut pending = core::mem::take(&mut self.pending);
        pending.sort_unstable();
        for &(t, i, p) in &pending {
            let last = self.last_event[i];
            if last == NEVER || t >= last.saturating_add(refractory) {
                self.last_event[i] = t;
                out.push(Event {
                    t,
                    x: (i % w) as u16,
                    y: (i / w) as u16,
                    p,
                });
            }
        }
        pending.clear();
        self.pending = pending;
        self.t = Some(t_us);
        Ok(())
    }

    /// Shot noise in `(t0, t1]`: candidates at twice the mid-grey rate, thinned by each
    /// pixel's darkness (rate `hz · 2 (1 − I)` for intensity `I` in `[0, 1]`).
    fn shot_noise(&mut self, t0: u64, t1: u64, frame: &[f32]) {
        if self.cfg.shot_noise_hz <= 0.0 {
            return;
        }
        let n = self.pixels() as u64;
        let mean = 2.0 * f64::from(self.cfg.shot_noise_hz) * n as f64 * (t1 - t0) as f64 * 1e-6;
        let count = self.noise.poisson(mean);
        for _ in 0..count {
            let i = self.noise.below(n) as usize;
            let t = t0 + 1 + self.noise.below(t1 - t0);
            let p = u8::from(self.noise.chance(0.5));
            let keep = 1.0 - f64::from(frame.get(i).copied().unwrap_or(0.0).clamp(0.0, 1.0));
            if !self.noise.chance(keep) {
                continue;
            }
            // A noise event resets the pixel to its present level, as a real reset does.
            if let (Some(r), Some(&l)) = (self.reference.get_mut(i), self.filtered.get(i)) {
                *r = l;
            }
            self.pending.push((t, i, p));
        }
    }

    /// Hot-pixel events in `(t0, t1]`.
    fn hot_pixel_events(&mut self, t0: u64, t1: u64) {
        let hot = core::mem::take(&mut self.hot);
        for h in &hot {
            let count = self.noise.poisson(h.hz * (t1 - t0) as f64 * 1e-6);
            for _ in 0..count {
                let t = t0 + 1 + self.noise.below(t1 - t0);
                self.pending.push((t, h.pixel, h.p));
            }
        }
        self.hot = hot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(width: u16, height: u16) -> SensorConfig {
        SensorConfig {
            width,
            height,
            threshold_sigma: 0.0,
            refractory_us: 0,
            cutoff_hz: 0.0,
            leak_hz: 0.0,
            shot_noise_hz: 0.0,
            hot_pixel_fraction: 0.0,
            log_eps: 1e-9,
            ..SensorConfig::default()
        }
    }

    fn run(cfg: SensorConfig, frames: impl Iterator<Item = (u64, Vec<f32>)>) -> Vec<Event> {
        let mut s = Sensor::new(cfg).unwrap();
        let mut out = Vec::new();
        for (t, f) in frames {
            s.frame(t, &f, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_log_step_gives_one_event_per_threshold() {
        // 64 pixels, each from its own reference: a log step of 1.0 with threshold 0.25
        // gives 3 or 4 ON events per pixel depending on where in its band (−0.25, 0.25) the
        // reference sat: 3.5 on average.
        let cfg = quiet(8, 8);
        let out = run(
            cfg,
            [(0, vec![0.1; 64]), (1_000, vec![0.1 * 1f32.exp(); 64])].into_iter(),
        );
        assert!(out.iter().all(|e| e.p == 1));
        let per = out.len() as f64 / 64.0;
        assert!((3.3..=3.7).contains(&per), "{per} events per pixel");
        assert!(out.windows(2).all(|w| w[0].t <= w[1].t));
    }

    #[test]
    fn the_low_pass_delays_and_dims_pixels_respond_slower() {
        let cfg = SensorConfig {
            cutoff_hz: 50.0,
            ..quiet(1, 1)
        };
        let first_event = |level: f32| {
            let frames = (0..200u64).map(move |k| {
                let v = if k == 0 { level } else { level * 4.0 };
                (k * 100, vec![v])
            });
            run(cfg, frames).first().map(|e| e.t)
        };
        let bright = first_event(0.25).expect("bright pixel fires");
        let dim = first_event(0.01).expect("dim pixel fires");
        assert!(bright > 100, "filtered: not at once ({bright} µs)");
        assert!(dim > 3 * bright, "dim {dim} µs vs bright {bright} µs");
    }

    #[test]
    fn leak_and_shot_noise_have_their_rates_and_hot_pixels_dominate() {
        let still =
            |cfg: SensorConfig| run(cfg, (0..=1000u64).map(|k| (k * 1_000, vec![0.5; 32 * 32])));
        let n = 1024.0;
        let leak = still(SensorConfig {
            leak_hz: 2.0,
            ..quiet(32, 32)
        });
        // A pixel starts a uniform 0..2 thresholds below its ON level and the leak drifts 2
        // thresholds in the second: 1.5 events on average (2 per second once in step).
        let rate = leak.len() as f64 / n;
        assert!(
            (1.35..=1.65).contains(&rate),
            "leak {rate} events per pixel"
        );
        assert!(leak.iter().all(|e| e.p == 1), "leak events are ON");
        let shot = still(SensorConfig {
            shot_noise_hz: 3.0,
            ..quiet(32, 32)
        });
        let rate = shot.len() as f64 / n;
        assert!((2.7..=3.3).contains(&rate), "shot noise {rate} Hz");
        let on = shot.iter().filter(|e| e.p == 1).count() as f64 / shot.len() as f64;
        assert!((0.45..0.55).contains(&on), "ON fraction {on}");
        let cfg = SensorConfig {
            hot_pixel_fraction: 0.005,
            hot_pixel_hz: 200.0,
            refractory_us: 1_000,
            ..quiet(32, 32)
        };
        let hot: Vec<usize> = Sensor::new(cfg).unwrap().hot_pixels().collect();
        assert!(!hot.is_empty());
        let ev = still(cfg);
        assert!(ev
            .iter()
            .all(|e| hot.contains(&(usize::from(e.y) * 32 + usize::from(e.x)))));
        assert!(
            ev.len() as f64 > 0.5 * 200.0 * hot.len() as f64,
            "{} events",
            ev.len()
        );
    }

    #[test]
    fn refractory_period_holds_per_pixel() {
        let cfg = SensorConfig {
            refractory_us: 400,
            hot_pixel_fraction: 0.01,
            hot_pixel_hz: 5_000.0,
            ..quiet(16, 16)
        };
        let ev = run(cfg, (0..=200u64).map(|k| (k * 1_000, vec![0.5; 256])));
        assert!(!ev.is_empty());
        let mut last = std::collections::HashMap::new();
        for e in &ev {
            if let Some(prev) = last.insert((e.x, e.y), e.t) {
                assert!(e.t - prev >= 400, "{prev} then {}", e.t);
            }
        }
    }

    #[test]
    fn mismatch_has_the_configured_spread_and_errors_are_typed() {
        let s = Sensor::new(SensorConfig {
            threshold_sigma: 0.03,
            ..SensorConfig::default()
        })
        .unwrap();
        let c: Vec<f64> = (0..s.pixels())
            .map(|i| f64::from(s.threshold_on(i).unwrap()))
            .collect();
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        let sd = (c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
        assert!((sd / mean - 0.03).abs() < 0.002, "relative σ {}", sd / mean);
        let bad = SensorConfig {
            leak_hz: -1.0,
            ..SensorConfig::default()
        };
        assert_eq!(Sensor::new(bad).unwrap_err(), SensorError::Config);
        let mut s = Sensor::new(quiet(2, 2)).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            s.frame(0, &[0.0; 3], &mut out),
            Err(SensorError::FrameSize { .. })
        ));
        s.frame(10, &[0.5; 4], &mut out).unwrap();
        assert!(matches!(
            s.frame(10, &[0.5; 4], &mut out),
            Err(SensorError::Time { .. })
        ));
    }
}
