//! What is behind the person: a textured wall, optionally cluttered (shelves, posters, door
//! frames, each with its own texture), seen through a camera that pans slowly (a handheld or
//! drifting camera moves the whole background), and optionally a second moving object
//! crossing the view (someone walking by, a swinging lamp).

use super::material::{Material, Pattern};
use super::rng::Rng;
use super::scene::Canvas;

/// A second object crossing the view behind the person.
#[derive(Clone, Debug)]
pub struct Distractor {
    /// Start position (pixels) and velocity (pixels/s).
    pub from: (f32, f32),
    /// Velocity (pixels/s).
    pub velocity: (f32, f32),
    /// Half-length and radius of the object (a capsule along its motion; pixels).
    pub size: (f32, f32),
    /// Its surface.
    pub material: Material,
}

/// The background.
#[derive(Clone, Debug)]
pub struct Backdrop {
    /// The wall, larger than the sensor by `margin` on each side.
    wall: Canvas,
    margin: usize,
    /// Pan velocity (pixels/s); the view bounces inside the margin.
    pan: (f32, f32),
    /// A crossing object.
    pub distractor: Option<Distractor>,
}

impl Backdrop {
    /// A random background for a `width × height` sensor.
    pub fn random(
        width: usize,
        height: usize,
        clutter: bool,
        pan_px_per_s: f32,
        distractor: bool,
        texture_contrast: f32,
        rng: &mut Rng,
    ) -> Self {
        let margin = 24;
        let (w, h) = (width + 2 * margin, height + 2 * margin);
        let mean = rng.range(0.06, 0.35) as f32;
        let mut wall = Canvas::texture(
            w,
            h,
            mean,
            rng.range(0.01, 0.6 * f64::from(mean)) as f32,
            4 + rng.below(20) as usize,
            rng.range(0.0, 0.03) as f32,
            rng,
        );
        if clutter {
            for _ in 0..3 + rng.below(8) {
                let m = Material::random_cloth(
                    rng.range(0.03, 0.9) as f32,
                    texture_contrast.max(0.2),
                    rng,
                );
                let (x0, y0) = (
                    rng.range(0.0, w as f64) as f32,
                    rng.range(0.0, h as f64) as f32,
                );
                let (bw, bh) = (rng.range(6.0, 60.0) as f32, rng.range(4.0, 50.0) as f32);
                rectangle(&mut wall, (x0, y0), (x0 + bw, y0 + bh), &m);
            }
            // Door and window frames: long straight edges.
            for _ in 0..rng.below(3) {
                let x = rng.range(0.0, w as f64) as f32;
                let thick = rng.range(2.0, 6.0) as f32;
                let m = Material::plain(rng.range(0.02, 0.9) as f32);
                rectangle(&mut wall, (x, 0.0), (x + thick, h as f32), &m);
            }
        }
        let angle = rng.range(0.0, core::f64::consts::TAU) as f32;
        let distractor = distractor.then(|| {
            let left = rng.chance(0.5);
            let y = rng.range(0.1, 0.9) as f32 * height as f32;
            let speed = rng.range(20.0, 120.0) as f32;
            Distractor {
                from: (if left { -20.0 } else { width as f32 + 20.0 }, y),
                velocity: (
                    if left { speed } else { -speed },
                    rng.range(-10.0, 10.0) as f32,
                ),
                size: (rng.range(0.0, 20.0) as f32, rng.range(4.0, 16.0) as f32),
                material: Material {
                    pattern: Pattern::Stripes {
                        period: rng.range(3.0, 8.0) as f32,
                        angle: 0.0,
                    },
                    ..Material::random_cloth(rng.range(0.05, 0.9) as f32, 0.5, rng)
                },
            }
        });
        Self {
            wall,
            margin,
            pan: (pan_px_per_s * angle.cos(), pan_px_per_s * angle.sin()),
            distractor,
        }
    }

    /// Paints the background seen at `t_us` over all of `c` (bilinear: a sub-pixel pan
    /// changes intensities smoothly, as optics do).
    pub fn draw(&self, c: &mut Canvas, t_us: u64) {
        let t = t_us as f32 * 1e-6;
        let span = 2.0 * self.margin as f32;
        // Bounce inside the margin: position on a triangle wave.
        let bounce = |v: f32| {
            let p = (v + self.margin as f32).rem_euclid(2.0 * span);
            if p > span {
                2.0 * span - p
            } else {
                p
            }
        };
        let (ox, oy) = (bounce(self.pan.0 * t), bounce(self.pan.1 * t));
        let (w, ww) = (c.width(), self.wall.width());
        let wall = self.wall.pixels();
        let (ix, iy) = (ox.floor(), oy.floor());
        let (fx, fy) = (ox - ix, oy - iy);
        let (ix, iy) = (ix as usize, iy as usize);
        let get = |x: usize, y: usize| wall.get(y * ww + x).copied().unwrap_or(0.0);
        for (k, px) in c.pixels_mut().iter_mut().enumerate() {
            let (x, y) = (k % w + ix, k / w + iy);
            let top = get(x, y) + (get(x + 1, y) - get(x, y)) * fx;
            let bottom = get(x, y + 1) + (get(x + 1, y + 1) - get(x, y + 1)) * fx;
            *px = top + (bottom - top) * fy;
        }
        if let Some(d) = &self.distractor {
            let (x, y) = (d.from.0 + d.velocity.0 * t, d.from.1 + d.velocity.1 * t);
            let (s, r) = d.size;
            let l = d.velocity.0.hypot(d.velocity.1).max(1e-3);
            let (ux, uy) = (d.velocity.0 / l, d.velocity.1 / l);
            c.capsule_material(
                (x - ux * s, y - uy * s),
                (x + ux * s, y + uy * s),
                r,
                &d.material,
                1.0,
            );
        }
    }
}

/// A filled axis-aligned rectangle of `m` (pattern in pixel units).
fn rectangle(c: &mut Canvas, a: (f32, f32), b: (f32, f32), m: &Material) {
    let xs = Canvas::span(a.0, b.0 - 1.0, c.width());
    let ys = Canvas::span(a.1, b.1 - 1.0, c.height());
    for y in ys {
        for x in xs.clone() {
            let v = m.at(x as f32 - a.0, y as f32 - a.1, 0.0);
            c.blend(x, y, v, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panning_moves_the_wall_and_standing_still_does_not() {
        let mut rng = Rng::new(4);
        let still = Backdrop::random(32, 32, true, 0.0, false, 0.3, &mut rng);
        let moving = Backdrop {
            pan: (10.0, 0.0),
            ..still.clone()
        };
        let (mut a, mut b) = (Canvas::new(32, 32), Canvas::new(32, 32));
        still.draw(&mut a, 0);
        still.draw(&mut b, 500_000);
        assert_eq!(a, b);
        moving.draw(&mut a, 0);
        moving.draw(&mut b, 500_000);
        // Shifted by 5 pixels: columns match after the shift.
        let (pa, pb) = (a.pixels(), b.pixels());
        let diff: f32 = (0..32 * 32).map(|k| (pa[k] - pb[k]).abs()).sum();
        assert!(diff > 1.0, "the pan changed nothing");
        let shifted: f32 = (0..32)
            .flat_map(|y| (0..27).map(move |x| (y, x)))
            .map(|(y, x)| (pa[y * 32 + x + 5] - pb[y * 32 + x]).abs())
            .sum();
        assert!(shifted < 1e-3, "not a 5-pixel shift: {shifted}");
    }
}
