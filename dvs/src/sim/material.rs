//! Surface appearance of body parts and objects: a base reflectance, a procedural pattern
//! (fabric stripes, checks, blotchy value noise) fixed to the surface, and cylinder shading
//! across a limb. Texture and shading give events from inside a moving limb, not only from
//! its outline, as a real sleeve or hand does.

use super::rng::Rng;
use super::scene::Canvas;

/// A pattern in surface coordinates (world units along and across a part).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pattern {
    /// Uniform.
    Plain,
    /// Parallel stripes of `period` at `angle` (radians) to the part's axis.
    Stripes {
        /// Stripe period (world units).
        period: f32,
        /// Angle to the axis.
        angle: f32,
    },
    /// A checkerboard of `cell`-sized squares.
    Checks {
        /// Square side (world units).
        cell: f32,
    },
    /// Smooth value noise on a `cell` grid (skin blotches, crumpled cloth).
    Noise {
        /// Grid spacing (world units).
        cell: f32,
    },
}

/// How a surface looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Material {
    /// Mean linear reflectance in `(0, 1]`.
    pub base: f32,
    /// The pattern.
    pub pattern: Pattern,
    /// Pattern amplitude relative to `base` (`0..1`).
    pub contrast: f32,
    /// Strength of the cylinder shading across a part (0: flat, 1: black at the rim).
    pub shading: f32,
    /// Seed of the noise pattern.
    pub seed: u32,
}

impl Material {
    /// A flat, unpatterned surface.
    pub fn plain(base: f32) -> Self {
        Self {
            base,
            pattern: Pattern::Plain,
            contrast: 0.0,
            shading: 0.0,
            seed: 0,
        }
    }

    /// A random cloth (stripes, checks or noise) around `base` with up to `max_contrast`.
    pub fn random_cloth(base: f32, max_contrast: f32, rng: &mut Rng) -> Self {
        let pattern = match rng.below(4) {
            0 => Pattern::Plain,
            1 => Pattern::Stripes {
                period: rng.range(2.0, 7.0) as f32,
                angle: rng.range(0.0, core::f64::consts::PI) as f32,
            },
            2 => Pattern::Checks {
                cell: rng.range(2.0, 6.0) as f32,
            },
            _ => Pattern::Noise {
                cell: rng.range(1.5, 5.0) as f32,
            },
        };
        Self {
            base,
            pattern,
            contrast: rng.range(0.1, f64::from(max_contrast.max(0.1))) as f32,
            shading: rng.range(0.2, 0.6) as f32,
            seed: rng.next_u64() as u32,
        }
    }

    /// Skin: faint blotches and strong shading.
    pub fn skin(base: f32, rng: &mut Rng) -> Self {
        Self {
            base,
            pattern: Pattern::Noise {
                cell: rng.range(1.0, 3.0) as f32,
            },
            contrast: rng.range(0.05, 0.2) as f32,
            shading: rng.range(0.3, 0.6) as f32,
            seed: rng.next_u64() as u32,
        }
    }

    /// Reflectance at surface point `(u, v)` (world units along, across the part) where the
    /// normalised distance from the axis is `across` (`0` centre, `±1` rim).
    pub fn at(&self, u: f32, v: f32, across: f32) -> f32 {
        let pattern = match self.pattern {
            Pattern::Plain => 0.0,
            Pattern::Stripes { period, angle } => {
                let w = u * angle.cos() + v * angle.sin();
                (core::f32::consts::TAU * w / period.max(0.1)).sin()
            }
            Pattern::Checks { cell } => {
                let c = cell.max(0.1);
                if ((u / c).floor() as i64 + (v / c).floor() as i64) % 2 == 0 {
                    1.0
                } else {
                    -1.0
                }
            }
            Pattern::Noise { cell } => value_noise(self.seed, u / cell.max(0.1), v / cell.max(0.1)),
        };
        let a = across.clamp(-1.0, 1.0);
        let shade = 1.0 - self.shading * (1.0 - (1.0 - a * a).sqrt());
        (self.base * (1.0 + self.contrast * pattern) * shade).clamp(0.005, 1.0)
    }
}

/// Smooth value noise in `[-1, 1]`: hashed lattice values, smoothstep-interpolated.
pub fn value_noise(seed: u32, x: f32, y: f32) -> f32 {
    let (ix, iy) = (x.floor(), y.floor());
    let (fx, fy) = (x - ix, y - iy);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let (ix, iy) = (ix as i32, iy as i32);
    let h = |dx: i32, dy: i32| lattice(seed, ix.wrapping_add(dx), iy.wrapping_add(dy));
    let top = h(0, 0) + (h(1, 0) - h(0, 0)) * sx;
    let bottom = h(0, 1) + (h(1, 1) - h(0, 1)) * sx;
    top + (bottom - top) * sy
}

/// A hashed lattice value in `[-1, 1]`.
fn lattice(seed: u32, x: i32, y: i32) -> f32 {
    let mut h = seed ^ (x as u32).wrapping_mul(0x27D4_EB2D) ^ (y as u32).wrapping_mul(0x1656_67B1);
    h ^= h >> 15;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    (h as f32 / u32::MAX as f32) * 2.0 - 1.0
}

impl Canvas {
    /// A capsule from `a` to `b` (pixels) of `radius` pixels painted with `material`, whose
    /// pattern is fixed to the part: `(u, v)` run along and across it in world units
    /// (`pixels_per_unit` pixels each), so the texture moves with the limb.
    pub fn capsule_material(
        &mut self,
        a: (f32, f32),
        b: (f32, f32),
        radius: f32,
        material: &Material,
        pixels_per_unit: f32,
    ) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let len = len2.sqrt();
        let (ax, ay) = if len > 0.0 {
            (dx / len, dy / len)
        } else {
            (1.0, 0.0)
        };
        let r = radius + 0.5;
        let unit = pixels_per_unit.max(1e-3);
        let xs = Self::span(a.0.min(b.0) - r, a.0.max(b.0) + r, self.width());
        let ys = Self::span(a.1.min(b.1) - r, a.1.max(b.1) + r, self.height());
        for y in ys {
            for x in xs.clone() {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let (rx, ry) = (px - a.0, py - a.1);
                let along = rx * ax + ry * ay;
                let s = if len > 0.0 {
                    (along / len).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (a.0 + s * dx - px, a.1 + s * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
                if cover <= 0.0 {
                    continue;
                }
                let across = rx * -ay + ry * ax;
                let value = material.at(along / unit, across / unit, d / radius.max(0.5));
                self.blend(x, y, value, cover);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_smooth_and_bounded() {
        let mut prev = value_noise(9, 0.0, 0.3);
        for k in 1..400 {
            let v = value_noise(9, k as f32 * 0.01, 0.3);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.05, "jump at {k}");
            prev = v;
        }
    }

    #[test]
    fn a_textured_limb_has_inner_edges() {
        let stripes = Material {
            base: 0.5,
            pattern: Pattern::Stripes {
                period: 4.0,
                angle: 0.0,
            },
            contrast: 0.5,
            shading: 0.5,
            seed: 1,
        };
        let mut c = Canvas::new(64, 32);
        c.capsule_material((8.0, 16.0), (56.0, 16.0), 8.0, &stripes, 1.0);
        let row: Vec<f32> = (10..54).map(|x| c.pixels()[16 * 64 + x]).collect();
        let (lo, hi) = row
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi / lo > 2.0, "stripes along the axis: {lo}..{hi}");
        // Shading: the rim is darker than the axis.
        let col = |y: usize| c.pixels()[y * 64 + 33];
        assert!(col(9) < col(16), "rim {} axis {}", col(9), col(16));
    }
}
