//! Spike-driven kernels shaped for Helium (Armv8.1-M MVE, Cortex-M55), built with the `helium`
//! feature and `-C target-cpu=cortex-m55`. Same integers as the scalar kernels:
//!
//! - A convolution output pixel first lists the weight columns its input spikes reach (a count
//!   `s` lists its column `s` times: still one addition per binary spike), then sweeps that list
//!   once per tile of output channels, with the tile's running sums in vector registers.
//! - With `i8` weights the sums of a tile are `i16` lanes (8 per register, twice the lanes of
//!   `i32`): at most [`CHUNK`] columns are summed before widening into the `i32` accumulators,
//!   so `|sum| ≤ 255·128 < 2^15` never wraps and the result equals the scalar `i32` sums.

use super::conv::ConvArgs;
use super::helium_asm as asm;
use super::Weight;

/// Columns summed in `i16` lanes before they are widened (`255 · 128 < 2^15`).
pub const CHUNK: usize = 255;

/// Column offsets of one chunk, reused across pixels (so it is not cleared per pixel).
pub(super) struct Columns([u32; CHUNK]);

impl Columns {
    pub fn new() -> Self {
        Columns([0; CHUNK])
    }
}

/// One output pixel of a (non-depthwise) spike convolution into `acc` (`out_c` values).
#[inline(always)]
pub(super) fn spike_pixel<W: Weight>(
    cols: &mut Columns,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    oy: usize,
    ox: usize,
    active: &mut [u16],
    acc: &mut [i32],
) {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let k = a.geom.kernel as usize;
    acc.fill(0);
    // Every listed column lies in `k·k·in_c` columns of `out_c` weights: one check here
    // covers all the vector loads below.
    if acc.len() != out_c || a.weights.len() < k * k * in_c * out_c {
        return;
    }
    let size = core::mem::size_of::<W>();
    let cols = &mut cols.0;
    let mut n = 0;
    for (pixel, tap) in a.taps(oy, ox) {
        let px = &input[pixel * in_c..(pixel + 1) * in_c];
        let count = super::conv::list_active(px, active);
        for &i in &active[..count] {
            let col = ((tap * in_c + i as usize) * out_c * size) as u32;
            for _ in 0..px[i as usize] {
                if n == CHUNK {
                    // SAFETY: checked above (columns inside the weights, `acc` of `out_c`).
                    unsafe { add_columns(a.weights, &cols[..n], acc) };
                    n = 0;
                }
                cols[n] = col;
                n += 1;
            }
        }
    }
    if n > 0 {
        // SAFETY: as above.
        unsafe { add_columns(a.weights, &cols[..n], acc) };
    }
}

/// `acc += Σ w[col..col + out_c]` over the listed columns (byte offsets, at most [`CHUNK`]).
///
/// # Safety
/// Every `col / size_of::<W>() + acc.len() ≤ w.len()`.
#[inline(always)]
unsafe fn add_columns<W: Weight>(w: &[W], cols: &[u32], acc: &mut [i32]) {
    let out_c = acc.len();
    let base = w.as_ptr() as *const u8;
    let (n, list, out) = (cols.len(), cols.as_ptr(), acc.as_mut_ptr());
    let mut c = 0;
    // SAFETY (all tiles): channels `c..c + T` of each column are inside `w` by the caller's
    // guarantee, and `out + c` has `T` accumulators since `c + T ≤ out_c`.
    unsafe {
        if core::mem::size_of::<W>() == 1 {
            let b = base as *const i8;
            while c + 32 <= out_c {
                asm::tile32_i8(b.add(c), list, n, out.add(c));
                c += 32;
            }
            if c + 16 <= out_c {
                asm::tile16_i8(b.add(c), list, n, out.add(c));
                c += 16;
            }
            if c + 8 <= out_c {
                asm::tile8_i8(b.add(c), list, n, out.add(c));
                c += 8;
            }
        } else {
            let b = base as *const i16;
            while c + 16 <= out_c {
                asm::tile16_i16(b.add(c), list, n, out.add(c));
                c += 16;
            }
            if c + 8 <= out_c {
                asm::tile8_i16(b.add(c), list, n, out.add(c));
                c += 8;
            }
            if c + 4 <= out_c {
                asm::tile4_i16(b.add(c), list, n, out.add(c));
                c += 4;
            }
        }
    }
    let size = core::mem::size_of::<W>();
    for &col in cols {
        let col = col as usize / size;
        for (a, &v) in acc[c..].iter_mut().zip(&w[col + c..col + out_c]) {
            *a = a.wrapping_add(v.into());
        }
    }
}
