//! The event-camera pixel model (as ESIM and v2e): each pixel remembers the log intensity at
//! its last event and fires an ON (OFF) event each time the current log intensity rises
//! (falls) by its contrast threshold from there.
//!
//! Frames arrive at discrete times; between two frames the log intensity of a pixel is taken
//! as linear in time, so an event's timestamp is where that line crosses the threshold level
//! (µs resolution). Thresholds differ per pixel (Gaussian mismatch, fixed at construction),
//! a pixel is blind for a refractory period after each event (crossings inside it are lost
//! and the reference still moves, as the pixel's reset would), and background-activity noise
//! adds Poisson events at random pixels and times.

use sdt_events::Event;

use super::rng::Rng;
use super::sensor::SensorError;

/// Sensor and noise parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraConfig {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
    /// Mean ON contrast threshold (log units).
    pub threshold_on: f32,
    /// Mean OFF contrast threshold (log units, positive).
    pub threshold_off: f32,
    /// Relative standard deviation of the per-pixel thresholds.
    pub threshold_sigma: f32,
    /// Smallest threshold any pixel gets (guards the mismatch tail).
    pub threshold_min: f32,
    /// Blind time after an event (µs).
    pub refractory_us: u64,
    /// Background-activity noise rate per pixel (Hz); half ON, half OFF.
    pub noise_hz: f32,
    /// Added to the linear intensity before the logarithm (the photoreceptor's dark floor).
    pub log_eps: f32,
    /// Seed of the threshold mismatch and the noise.
    pub seed: u64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            threshold_on: 0.3,
            threshold_off: 0.3,
            threshold_sigma: 0.03,
            threshold_min: 0.01,
            refractory_us: 1_000,
            noise_hz: 0.1,
            log_eps: 1e-3,
            seed: 1,
        }
    }
}

/// Marker for "no event yet" in the last-event times.
const NEVER: u64 = u64::MAX;

/// A simulated event camera fed with intensity frames.
#[derive(Clone, Debug)]
pub struct Camera {
    cfg: CameraConfig,
    /// Log intensity at each pixel's last event (its reference level).
    reference: Vec<f32>,
    /// Linear and log intensity of the previous frame.
    last_lin: Vec<f32>,
    last_log: Vec<f32>,
    c_on: Vec<f32>,
    c_off: Vec<f32>,
    last_event: Vec<u64>,
    /// Time of the previous frame, once one arrived.
    t: Option<u64>,
    noise: Rng,
}

impl Camera {
    /// A camera whose per-pixel thresholds are drawn from `cfg.seed`.
    pub fn new(cfg: CameraConfig) -> Result<Self, SensorError> {
        let ok = |c: f32| c.is_finite() && c > 0.0;
        let valid = ok(cfg.threshold_on)
            && ok(cfg.threshold_off)
            && ok(cfg.threshold_min)
            && ok(cfg.log_eps)
            && cfg.threshold_sigma.is_finite()
            && cfg.threshold_sigma >= 0.0
            && cfg.width > 0
            && cfg.height > 0;
        if !valid {
            return Err(SensorError::Config);
        }
        let n = usize::from(cfg.width) * usize::from(cfg.height);
        let mut rng = Rng::stream(cfg.seed, 1);
        let mut draw = |mean: f32| {
            let c = f64::from(mean) * (1.0 + f64::from(cfg.threshold_sigma) * rng.normal());
            (c as f32).max(cfg.threshold_min)
        };
        let c_on = (0..n).map(|_| draw(cfg.threshold_on)).collect();
        let c_off = (0..n).map(|_| draw(cfg.threshold_off)).collect();
        Ok(Self {
            cfg,
            reference: vec![0.0; n],
            last_lin: vec![f32::NAN; n],
            last_log: vec![0.0; n],
            c_on,
            c_off,
            last_event: vec![NEVER; n],
            t: None,
            noise: Rng::stream(cfg.seed, 2),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CameraConfig {
        &self.cfg
    }

    /// Pixels per frame.
    pub fn pixels(&self) -> usize {
        self.reference.len()
    }

    /// ON threshold of pixel `i`.
    pub fn threshold_on(&self, i: usize) -> Option<f32> {
        self.c_on.get(i).copied()
    }

    /// OFF threshold of pixel `i`.
    pub fn threshold_off(&self, i: usize) -> Option<f32> {
        self.c_off.get(i).copied()
    }

    /// Takes the frame of linear intensities (row-major, `≥ 0`) seen at `t_us` and appends
    /// the events since the previous frame to `out`, sorted by time (then row, column). The
    /// first frame only sets the reference levels.
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
            for (i, &v) in frame.iter().enumerate() {
                let l = log(v);
                self.last_lin[i] = v;
                self.last_log[i] = l;
                self.reference[i] = l;
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
        let start = out.len();
        let dt = (t_us - t0) as f64;
        let w = usize::from(self.cfg.width);
        let refractory = self.cfg.refractory_us;
        for (i, &v) in frame.iter().enumerate() {
            // Unchanged pixels cannot cross: skip the logarithm (most of a scene is static).
            if v == self.last_lin[i] {
                continue;
            }
            let (l0, l1) = (self.last_log[i], log(v));
            self.last_lin[i] = v;
            self.last_log[i] = l1;
            let (x, y) = ((i % w) as u16, (i / w) as u16);
            let slope = f64::from(l1 - l0);
            let (c, p) = if l1 > l0 {
                (self.c_on[i], 1u8)
            } else {
                (-self.c_off[i], 0u8)
            };
            loop {
                let level = self.reference[i] + c;
                let crossed = if p == 1 { l1 >= level } else { l1 <= level };
                if !crossed {
                    break;
                }
                self.reference[i] = level;
                let frac = (f64::from(level - l0) / slope).clamp(0.0, 1.0);
                let t = t0 + (frac * dt).round() as u64;
                let last = self.last_event[i];
                if last == NEVER || t >= last.saturating_add(refractory) {
                    self.last_event[i] = t;
                    out.push(Event { t, x, y, p });
                }
            }
        }
        self.add_noise(t0, t_us, out);
        if let Some(new) = out.get_mut(start..) {
            new.sort_by_key(|e| (e.t, e.y, e.x));
        }
        self.t = Some(t_us);
        Ok(())
    }

    /// Background activity in `(t0, t1]`.
    fn add_noise(&mut self, t0: u64, t1: u64, out: &mut Vec<Event>) {
        let n = self.pixels() as u64;
        let mean = f64::from(self.cfg.noise_hz) * n as f64 * (t1 - t0) as f64 * 1e-6;
        let count = self.noise.poisson(mean);
        let w = u64::from(self.cfg.width);
        for _ in 0..count {
            let i = self.noise.below(n);
            let t = t0 + 1 + self.noise.below(t1 - t0);
            let p = u8::from(self.noise.chance(0.5));
            let Some(last) = self.last_event.get_mut(i as usize) else {
                continue;
            };
            if *last == NEVER || t >= last.saturating_add(self.cfg.refractory_us) {
                *last = t;
                out.push(Event {
                    t,
                    x: (i % w) as u16,
                    y: (i / w) as u16,
                    p,
                });
            }
        }
    }
}
