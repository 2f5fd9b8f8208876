//! Drawing intensity frames: a static textured background and anti-aliased discs and
//! capsules (limb segments) painted over it.

use super::rng::Rng;

/// A `width × height` frame of linear intensities in `[0, 1]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl Canvas {
    /// A black canvas.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0.0; width * height],
        }
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// The pixels, writable.
    pub fn pixels_mut(&mut self) -> &mut [f32] {
        &mut self.pixels
    }

    /// Copies `other`'s pixels (same size) into this canvas.
    pub fn copy_from(&mut self, other: &Canvas) {
        if other.pixels.len() == self.pixels.len() {
            self.pixels.copy_from_slice(&other.pixels);
        }
    }

    /// A smooth random texture: bilinear value noise on a `cells`-pixel grid around `mean`
    /// (±`amplitude`), plus per-pixel grain of `grain`, clamped to `[0.02, 1]`.
    pub fn texture(
        width: usize,
        height: usize,
        mean: f32,
        amplitude: f32,
        cells: usize,
        grain: f32,
        rng: &mut Rng,
    ) -> Self {
        let cells = cells.max(1);
        let (gw, gh) = (width / cells + 2, height / cells + 2);
        let grid: Vec<f32> = (0..gw * gh).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let at = |gx: usize, gy: usize| grid.get(gy * gw + gx).copied().unwrap_or(0.0);
        let mut c = Self::new(width, height);
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (x as f32 / cells as f32, y as f32 / cells as f32);
                let (ix, iy) = (fx as usize, fy as usize);
                let (ax, ay) = (fx - ix as f32, fy - iy as f32);
                let top = at(ix, iy) * (1.0 - ax) + at(ix + 1, iy) * ax;
                let bottom = at(ix, iy + 1) * (1.0 - ax) + at(ix + 1, iy + 1) * ax;
                let v = top * (1.0 - ay) + bottom * ay;
                let g = rng.range(-1.0, 1.0) as f32 * grain;
                c.pixels[y * width + x] = (mean + amplitude * v + g).clamp(0.02, 1.0);
            }
        }
        c
    }

    /// Blends `value` in with coverage `a` at `(x, y)`.
    pub(crate) fn blend(&mut self, x: usize, y: usize, value: f32, a: f32) {
        if let Some(p) = self.pixels.get_mut(y * self.width + x) {
            *p += (value - *p) * a;
        }
    }

    /// Pixel range covering `[lo, hi]` in one axis, clipped to `0..n`.
    pub(crate) fn span(lo: f32, hi: f32, n: usize) -> core::ops::Range<usize> {
        let a = lo.floor().max(0.0) as usize;
        let b = (hi.ceil() + 1.0).clamp(0.0, n as f32) as usize;
        a.min(b)..b
    }

    /// A capsule (a segment `a`–`b` thickened to `radius`) of intensity `value`, with a
    /// one-pixel soft edge. A zero-length segment is a disc.
    pub fn capsule(&mut self, a: (f32, f32), b: (f32, f32), radius: f32, value: f32) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let r = radius + 0.5;
        let xs = Self::span(a.0.min(b.0) - r, a.0.max(b.0) + r, self.width);
        let ys = Self::span(a.1.min(b.1) - r, a.1.max(b.1) + r, self.height);
        for y in ys {
            for x in xs.clone() {
                // Pixel centres sit at +0.5.
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let s = if len2 > 0.0 {
                    (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (a.0 + s * dx - px, a.1 + s * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
                if cover > 0.0 {
                    self.blend(x, y, value, cover);
                }
            }
        }
    }

    /// A disc of intensity `value`.
    pub fn disc(&mut self, c: (f32, f32), radius: f32, value: f32) {
        self.capsule(c, c, radius, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disc_covers_its_area() {
        let mut c = Canvas::new(64, 64);
        c.disc((32.0, 32.0), 10.0, 1.0);
        let area: f32 = c.pixels().iter().sum();
        let want = core::f32::consts::PI * 100.0;
        assert!((area - want).abs() / want < 0.02, "{area} vs {want}");
        // Clipped at the border without panicking.
        c.capsule((-5.0, -5.0), (70.0, 3.0), 4.0, 0.5);
    }
}
