//! The encoding layer with Helium: image values times weights, a dense multiply-accumulate.
//!
//! - Dot products (`i8` inputs and weights): each output pixel's window is gathered into one
//!   contiguous row (clamped to `±max_abs`), and the weights, transposed once per call into
//!   rows in the same term order, meet it 16 terms per instruction (`vmladava.s8`), four output
//!   channels per pass. The zero points come out as one constant per channel,
//!   `Σ w·(x − zp) = Σ w·x − Σ w·zp` (wrapping, like the scalar sums), the second sum over the
//!   whole window: padded taps are gathered as `zp`, so that they add `w·zp − w·zp` = 0.
//! - Otherwise (`i16` inputs or weights, zero points outside `i8` at the border, layers too
//!   large for the transposed copy) each pixel's `[x − zp, weight column]` terms are listed and
//!   swept 8 channels at a time (`vmla`), or, past 256 terms, each non-zero input value is
//!   multiply-accumulated into its weight column.

use core::ops::Range;

use super::{asm, for_taps};
use crate::kernels::conv::ConvArgs;
use crate::kernels::output::Sink;
use crate::kernels::{Pixel, Weight};

/// Most terms (`k²·in_c`) of an output pixel the listed path takes.
const LISTED_TERMS: usize = 256;
/// Most terms (`k²·in_c`, rounded up to 16) of the dot-product path.
const DOT_TERMS: usize = 512;
/// Bytes of the transposed weights with their starting sums: SDT-10M's encoding layer takes
/// 3,936, SDT-19M's 5,248.
const DOT_BYTES: usize = 8192;

/// The weights of the dot-product path, aligned for the vector loads and `ldm`.
#[repr(C, align(16))]
struct DotWeights([u8; DOT_BYTES]);

/// The dot-product path of one layer: its input, weights transposed, and which output pixels
/// it covers.
struct Dot<'x> {
    input: &'x [i8],
    /// Per quad of output channels: the 4 starting sums `−Σ w · zp` (`i32`), then per chunk of
    /// 16 terms the 4 channels' weights for those terms, zero past the last term.
    weights: DotWeights,
    /// One output pixel's window, gathered (the bytes past the terms meet zero weights).
    window: [i8; DOT_TERMS],
    /// One window row of padding: the zero points, once per tap.
    padding: [i8; DOT_TERMS],
    /// Whether the zero points fit `i8`, so that pixels reaching into the padding take this
    /// path too.
    pads: bool,
    chunks: usize,
    quads: usize,
    /// Input values outside `[lo, hi]` are clamped (only if `clamp`: an `i8` may need none).
    lo: i8,
    hi: i8,
    clamp: bool,
    /// Output rows and columns whose window lies inside the input.
    rows: Range<usize>,
    cols: Range<usize>,
    /// Kernel size, stride, padding, and the input's shape.
    k: usize,
    stride: usize,
    pad: usize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
}

impl<'x> Dot<'x> {
    fn empty() -> Self {
        Dot {
            input: &[],
            weights: DotWeights([0; DOT_BYTES]),
            window: [0; DOT_TERMS],
            padding: [0; DOT_TERMS],
            pads: false,
            chunks: 0,
            quads: 0,
            lo: 0,
            hi: 0,
            clamp: false,
            rows: 0..0,
            cols: 0..0,
            k: 0,
            stride: 0,
            pad: 0,
            in_h: 0,
            in_w: 0,
            in_c: 0,
        }
    }

    /// Transposes the layer's `i8` weights and sums the zero points' constants; `false` where
    /// the layer does not fit the buffers (or its arguments are inconsistent).
    fn fill<W: Weight>(
        &mut self,
        a: &ConvArgs<'_, W>,
        input: &'x [i8],
        zero_points: &[i16],
        max_abs: i32,
    ) -> bool {
        let g = &a.geom;
        let (k, in_c, out_c) = (g.kernel as usize, g.in_c as usize, g.out_c as usize);
        let terms = k * k * in_c;
        let chunks = terms.div_ceil(16);
        let quads = out_c / 4;
        let w: &[i8] = match bytemuck::try_cast_slice(a.weights) {
            Ok(w) if core::mem::size_of::<W>() == 1 => w,
            _ => return false,
        };
        if terms == 0
            || quads == 0
            || !out_c.is_multiple_of(4)
            || chunks * 16 > DOT_TERMS
            || quads * (16 + 64 * chunks) > DOT_BYTES
            || g.stride == 0
            || w.len() < terms * out_c
            || zero_points.len() < in_c
            || input.len() < a.in_h * a.in_w * in_c
        {
            return false;
        }
        let mut at = 0;
        for q in 0..quads {
            for l in 0..4 {
                let o = 4 * q + l;
                let mut start = 0i32;
                for (term, zp) in zero_points[..in_c].iter().cycle().take(terms).enumerate() {
                    let x = i32::from(w[term * out_c + o]);
                    start = start.wrapping_sub(x.wrapping_mul(i32::from(*zp)));
                }
                self.weights.0[at + 4 * l..at + 4 * l + 4].copy_from_slice(&start.to_ne_bytes());
            }
            at += 16;
            for j in 0..chunks {
                for l in 0..4 {
                    for t in 0..16 {
                        let term = 16 * j + t;
                        let x = match term < terms {
                            true => w[term * out_c + 4 * q + l],
                            false => 0,
                        };
                        self.weights.0[at] = x as u8;
                        at += 1;
                    }
                }
            }
        }
        let (s, p) = (g.stride as usize, g.pad as usize);
        // Output `o` reads input `o·s − p .. o·s − p + k`: inside for `o·s ≥ p` and
        // `o·s + k ≤ len + p` (the end is past the last output when padding reaches it).
        let inside = |len: usize| {
            let first = p.div_ceil(s);
            let end = match len + p >= k {
                true => (len + p - k) / s + 1,
                false => 0,
            };
            first..end.max(first)
        };
        self.input = input;
        self.chunks = chunks;
        self.quads = quads;
        self.lo = (-max_abs).max(-128) as i8;
        self.hi = max_abs.min(127) as i8;
        self.clamp = max_abs < 128;
        self.rows = inside(a.in_h);
        self.cols = inside(a.in_w);
        self.k = k;
        self.stride = s;
        self.pad = p;
        self.in_h = a.in_h;
        self.in_w = a.in_w;
        self.in_c = in_c;
        let zero_points = &zero_points[..in_c];
        self.pads = zero_points.iter().all(|&z| i8::try_from(z).is_ok());
        for (p, &z) in self
            .padding
            .iter_mut()
            .zip(zero_points.iter().cycle())
            .take(k * in_c)
        {
            *p = z as i8;
        }
        true
    }

    /// Output pixel (oy, ox) into `acc` (`4 · quads` values); `false` (doing nothing) for a
    /// pixel whose window reaches into the padding when the zero points do not fit `i8`.
    fn pixel(&mut self, oy: usize, ox: usize, acc: &mut [i32]) -> bool {
        if acc.len() < 4 * self.quads {
            return false;
        }
        if self.rows.contains(&oy) && self.cols.contains(&ox) {
            self.gather_inside(oy, ox);
        } else if self.pads {
            self.gather_border(oy, ox);
        } else {
            return false;
        }
        // SAFETY: `weights` holds `quads` quads of 16 starting bytes and `64 · chunks` weights
        // (`fill`), `window` `16 · chunks` values, and `acc` at least `4 · quads` values.
        unsafe {
            let (window, weights) = (self.window.as_ptr(), self.weights.0.as_ptr());
            asm::dot4_i8(window, weights, self.chunks, self.quads, acc.as_mut_ptr());
        }
        true
    }

    /// The window of an output pixel whose taps all lie inside the input.
    fn gather_inside(&mut self, oy: usize, ox: usize) {
        let (y0, x0) = (oy * self.stride - self.pad, ox * self.stride - self.pad);
        let (k, len, row) = (self.k, self.k * self.in_c, self.in_w * self.in_c);
        let src = self.input[(y0 * row + x0 * self.in_c)..].as_ptr();
        let dst = self.window.as_mut_ptr();
        // SAFETY: the `k` rows of `len` values, `row` apart from `src`, lie inside `input`
        // (rows `y0..y0 + k` and columns `x0..x0 + k` are inside: `rows` and `cols`, and `fill`
        // checked the input's length); `window` holds `16 · chunks ≥ k · len` values.
        unsafe {
            match self.clamp {
                true => asm::window_i8::<true>(src, row, len, k, dst, self.lo, self.hi),
                false => asm::window_i8::<false>(src, row, len, k, dst, 0, 0),
            }
        }
    }

    /// The window of an output pixel that reaches into the padding: padded taps hold the zero
    /// points, which the starting sums take back out (`w · zp − w · zp` = 0, as padding adds
    /// nothing).
    fn gather_border(&mut self, oy: usize, ox: usize) {
        let (k, c) = (self.k, self.in_c);
        let len = k * c;
        let y0 = (oy * self.stride) as isize - self.pad as isize;
        let x0 = (ox * self.stride) as isize - self.pad as isize;
        // Taps `kx0..kx1` of a row inside the input are inside.
        let kx0 = (-x0).clamp(0, k as isize) as usize;
        let kx1 = ((self.in_w as isize - x0).clamp(0, k as isize) as usize).max(kx0);
        for ky in 0..k {
            let y = y0 + ky as isize;
            let (a, b) = match y >= 0 && (y as usize) < self.in_h {
                true => (kx0, kx1),
                false => (k, k),
            };
            let row = &mut self.window[ky * len..(ky + 1) * len];
            row[..a * c].copy_from_slice(&self.padding[..a * c]);
            row[b * c..].copy_from_slice(&self.padding[b * c..len]);
            if b == a {
                continue;
            }
            let at = (y as usize * self.in_w + (x0 + a as isize) as usize) * c;
            let src = &self.input[at..at + (b - a) * c];
            let dst = row[a * c..b * c].as_mut_ptr();
            // SAFETY: `src` and `dst` both hold `(b − a) · c ≥ 1` values (slices above).
            unsafe {
                match self.clamp {
                    true => {
                        asm::window_i8::<true>(src.as_ptr(), 0, src.len(), 1, dst, self.lo, self.hi)
                    }
                    false => asm::window_i8::<false>(src.as_ptr(), 0, src.len(), 1, dst, 0, 0),
                }
            }
        }
    }
}

/// Encoding-layer rows like `conv::encode_rows`: dot products where the window lies inside
/// the image (and the input and weights are `i8`), else each input value multiply-accumulated
/// into its weight column in vector registers (4 channels per instruction). Returns `false`
/// (doing nothing) unless the output channels are a multiple of 4.
pub(in crate::kernels) fn encode_rows<X: Pixel, W: Weight, S: Sink + ?Sized>(
    a: &ConvArgs<'_, W>,
    input: &[X],
    zero_points: &[i16],
    max_abs: i32,
    rows: Range<usize>,
    acc: &mut [i32],
    sink: &mut S,
) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let k = a.geom.kernel as usize;
    if out_c == 0
        || !out_c.is_multiple_of(4)
        || acc.len() < out_c
        || zero_points.len() < in_c
        || a.weights.len() < k * k * in_c * out_c
    {
        return false;
    }
    let acc = &mut acc[..out_c];
    let groups = out_c / 4;
    let size = core::mem::size_of::<W>();
    // Terms of one output pixel as `[x, weight column address]`, swept once per 8 channels
    // with the sums in registers; cleared once per call, not per pixel.
    let listed = out_c.is_multiple_of(8) && k * k * in_c <= LISTED_TERMS;
    let mut list = [[0u32; 2]; LISTED_TERMS];
    let w0 = a.weights.as_ptr() as usize;
    // Filled once per call (and its buffers zeroed) only where the dot products apply.
    let mut filled = Dot::empty();
    let mut dot = match X::as_i8(input) {
        Some(x) if size == 1 && filled.fill(a, x, zero_points, max_abs) => Some(&mut filled),
        _ => None,
    };
    for (r, oy) in rows.enumerate() {
        for ox in 0..a.out_w {
            if let Some(dot) = dot.as_deref_mut() {
                if dot.pixel(oy, ox, acc) {
                    sink.store(r * a.out_w + ox, acc);
                    continue;
                }
            }
            if listed {
                let mut n = 0;
                for_taps(a, oy, ox, |pixel, tap| {
                    let px = &input[pixel * in_c..(pixel + 1) * in_c];
                    let col0 = w0 + tap * in_c * out_c * size;
                    for (i, (&x, &zp)) in px.iter().zip(zero_points).enumerate() {
                        let x = x.into().clamp(-max_abs, max_abs) - zp as i32;
                        // Addresses on a 32-bit target (columns inside the weights, checked
                        // above); at most `k²·in_c ≤ LISTED_TERMS` terms.
                        if let Some(slot) = list.get_mut(n) {
                            *slot = [x as u32, (col0 + i * out_c * size) as u32];
                            n += 1;
                        }
                    }
                });
                if n == 0 {
                    acc.fill(0);
                }
                let mut c = 0;
                while n > 0 && c < out_c {
                    // SAFETY: `list[..n]` holds columns of `out_c` weights inside the weights,
                    // `c + 8 ≤ out_c` and `acc` has `out_c` values.
                    unsafe {
                        let dst = acc.as_mut_ptr().add(c);
                        if size == 1 {
                            asm::mac_list8_i8(list.as_ptr(), n, c, dst);
                        } else {
                            asm::mac_list8_i16(list.as_ptr(), n, c * size, dst);
                        }
                    }
                    c += 8;
                }
                sink.store(r * a.out_w + ox, acc);
                continue;
            }
            acc.fill(0);
            for_taps(a, oy, ox, |pixel, tap| {
                let px = &input[pixel * in_c..(pixel + 1) * in_c];
                let w = &a.weights[tap * in_c * out_c..(tap + 1) * in_c * out_c];
                for (i, (&x, &zp)) in px.iter().zip(zero_points).enumerate() {
                    let x = x.into().clamp(-max_abs, max_abs) - zp as i32;
                    // A zero term adds nothing: sparse inputs (event counts, many channels:
                    // this path) skip their empty cells. One compare beside the `out_c / 4`
                    // multiply-accumulates of a term.
                    if x == 0 {
                        continue;
                    }
                    let col = w[i * out_c..].as_ptr();
                    // SAFETY: column `i` of this tap has `out_c = 4·groups` weights inside
                    // `w`, and `acc` has `out_c` values.
                    unsafe {
                        if core::mem::size_of::<W>() == 1 {
                            asm::mla_i8(col as *const i8, x, acc.as_mut_ptr(), groups);
                        } else {
                            asm::mla_i16(col as *const i16, x, acc.as_mut_ptr(), groups);
                        }
                    }
                }
            });
            sink.store(r * a.out_w + ox, acc);
        }
    }
    true
}
