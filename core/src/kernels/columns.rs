//! Spike convolution for cores with wide vector units (x86-64, AArch64), `i8` weights: the
//! listing shared by every level (the sums are in `portable/` and `x86_64/`).
//!
//! An output pixel first lists the weight columns its input spikes reach (a count `s` lists
//! its column `s` times: still one addition per binary spike), then sweeps that list once per
//! tile of output channels with the tile's running sums in vector registers as `i16` lanes
//! (twice the lanes of `i32`, and no widening of the weights beyond one step). At most
//! [`CHUNK`] columns are summed before the sums widen into the `i32` accumulators:
//! `|sum| ≤ 256 · 128 = 2^15` (and `+127 · 256 < 2^15`), so no `i16` lane can wrap and the
//! result equals the scalar `i32` sums.

use super::conv::{list_active, ConvArgs};
use super::Isa;

/// Columns summed in `i16` lanes before they are widened.
pub const CHUNK: usize = 256;

/// Counts up to this many are listed without a data-dependent loop (one branch mispredicted
/// per spike otherwise); larger counts take the loop.
const UNROLLED: usize = 4;

/// Column offsets (in weights) of the chunk being listed.
pub(super) struct Columns {
    pub(super) offsets: [u32; CHUNK],
    pub(super) len: usize,
}

impl Columns {
    pub fn new() -> Self {
        Columns {
            offsets: [0; CHUNK],
            len: 0,
        }
    }
}

/// Whether the column offsets of `a` fit in `u32` and lie inside its weights.
pub(super) fn fits(a: &ConvArgs<'_, i8>) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let k = a.geom.kernel as usize;
    let columns = k * k * in_c * out_c;
    a.weights.len() >= columns && columns <= u32::MAX as usize
}

/// One output pixel of a (non-depthwise) spike convolution with `i8` weights into `acc`
/// (`out_c` values). `active` holds at least `in_c` entries; no count of `input` exceeds
/// `planes`. Returns `false` if no input spike reaches the pixel: every value is zero, and
/// `acc` is left as it was.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[must_use]
pub(super) fn spike_pixel<I: Isa>(
    cols: &mut Columns,
    a: &ConvArgs<'_, i8>,
    input: &[u8],
    planes: u8,
    oy: usize,
    ox: usize,
    active: &mut [u16],
    acc: &mut [i32],
) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    cols.len = 0;
    // Every listed column `(tap·in_c + i)·out_c` (tap < k², i < in_c) then lies inside the
    // weights, which the vector tiles rely on.
    if !fits(a) || acc.len() != out_c {
        acc.fill(0);
        return true;
    }
    // Only the AVX-512 listing compares per spike plane.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = planes;
    // The first sums overwrite `acc`, later ones add to it.
    let fresh = core::cell::Cell::new(true);
    let mut flush = |c: &[u32]| add_columns::<I>(a.weights, c, acc, fresh.replace(false));
    for (pixel, tap) in a.taps(oy, ox) {
        let px = &input[pixel * in_c..(pixel + 1) * in_c];
        let base = tap * in_c * out_c;
        #[cfg(target_arch = "x86_64")]
        if I::AVX512 {
            // SAFETY: `I::AVX512` holds only in the AVX-512 entries of `x86_64`, which run
            // after the probe found AVX-512 F/BW/VL.
            unsafe {
                super::x86_64::avx512::columns::list_tap(cols, px, planes, base, out_c, &mut flush)
            };
            continue;
        }
        list_tap(cols, px, base, out_c, active, &mut flush);
    }
    if fresh.get() && cols.len == 0 {
        return false;
    }
    flush(&cols.offsets[..cols.len]);
    true
}

/// Lists column `base + i·out_c` once per binary spike of input channel `i` of `px`, handing
/// full chunks to `flush`. `active` holds at least `px.len()` entries.
#[inline(always)]
fn list_tap(
    cols: &mut Columns,
    px: &[u8],
    base: usize,
    out_c: usize,
    active: &mut [u16],
    flush: &mut impl FnMut(&[u32]),
) {
    let n = list_active(px, active);
    for &i in &active[..n] {
        let i = i as usize;
        let col = (base + i * out_c) as u32;
        let s = px[i] as usize;
        if cols.len + UNROLLED > CHUNK {
            flush(&cols.offsets[..cols.len]);
            cols.len = 0;
        }
        if s <= UNROLLED {
            // Writes all UNROLLED slots, keeps `s` of them.
            let slots = &mut cols.offsets[cols.len..cols.len + UNROLLED];
            slots.fill(col);
            cols.len += s;
        } else {
            for _ in 0..s {
                if cols.len == CHUNK {
                    flush(&cols.offsets[..cols.len]);
                    cols.len = 0;
                }
                cols.offsets[cols.len] = col;
                cols.len += 1;
            }
        }
    }
}

/// `acc += Σ w[col..col + acc.len()]` over the listed columns (at most [`CHUNK`]), or
/// `acc = Σ …` if `fresh`. Every column lies inside the weights: `col + acc.len() ≤ w.len()`
/// (checked by [`spike_pixel`]).
#[inline(always)]
pub(super) fn add_columns<I: Isa>(w: &[i8], cols: &[u32], acc: &mut [i32], fresh: bool) {
    let out_c = acc.len();
    #[cfg(target_arch = "x86_64")]
    if I::AVX512 {
        // SAFETY: `I::AVX512` holds only in the AVX-512 entries of `x86_64`, which run after
        // the probe found AVX-512 F/BW/VL; every column lies inside `w` (this function's
        // contract). They sum every channel.
        unsafe { super::x86_64::avx512::columns::add_columns(w, cols, acc, fresh) };
        return;
    }
    if fresh {
        acc.fill(0);
    }
    #[cfg(target_arch = "x86_64")]
    let c = if I::AVX2 {
        // SAFETY: `I::AVX2` holds only in the AVX2 (and wider) entries of `x86_64`, which
        // run after the probe found AVX2; every column lies inside `w` (as above).
        unsafe { super::x86_64::avx2::columns::add_columns(w, cols, acc) }
    } else {
        super::portable::columns::add_columns(w, cols, acc)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let c = super::portable::columns::add_columns(w, cols, acc);
    if c < out_c {
        for &col in cols {
            let col = col as usize;
            let Some(src) = w.get(col + c..col + out_c) else {
                continue;
            };
            for (a, &v) in acc[c..].iter_mut().zip(src) {
                *a = a.wrapping_add(v as i32);
            }
        }
    }
}
