//! Encoding layer (image pixels × weights, multiply-accumulate) with AVX-512.
//!
//! The layer is small (`k²·in_c` terms per output) and dense. Its weights are copied once per
//! call into a stack buffer, consecutive terms packed into one 32-bit lane per output
//! channel, so that one multiply-add instruction covers several terms for 16 output
//! channels; a pixel's input values are packed the same way and read by broadcast. Two
//! packings ([`Lanes`]):
//!
//! - pairs (`i16`): two terms per lane (`vpdpwssd`, or `vpmaddwd` without VNNI).
//!   Exact for any input that fits `i16`: `|x| < 2^15`, `|w| ≤ 2^15`, a pair sums below `2^31`.
//! - quads (`u8`): four terms per lane (`vpdpbusd`, VNNI), half the instructions. It multiplies
//!   unsigned bytes by `i8` weights, so inputs go in as `x + 128` (`x` must fit `i8`) and
//!   the sums give back `128 · Σ w` per channel (padding too holds `0 + 128`, so the
//!   correction is one constant per channel). Products are exact (`255 · 128 · 4 < 2^31`).
//!
//! The `i32` sums wrap like the scalar kernel's.

use core::arch::x86_64::*;
use core::ops::Range;

use crate::kernels::conv::ConvArgs;
use crate::kernels::output::Sink;
use crate::kernels::{Pixel, Weight};

/// Values of the repacked weights.
const WEIGHTS: usize = 16384;
/// Input values of one output pixel.
const TERMS: usize = 2048;
/// Input values of the rows one output row reads.
const ROWS: usize = 16384;
/// Output pixels computed together: each weight vector loaded is used for all of them.
const BLOCK: usize = 4;
/// Most output channels.
const MAX_OUT: usize = 256;
/// Largest kernel (input rows held at once).
const MAX_K: usize = 16;

/// How input values and weights share a 32-bit lane.
trait Lanes: Copy + Default {
    /// Terms per lane.
    const PER: usize;
    /// Added to every input value (padding included).
    const OFFSET: i32;
    /// A packed weight.
    type W: Copy + Default;
    /// The packed input value `x` (`|x|` within the packing's range).
    fn input(x: i32) -> Self;
    /// The packed weight `w` (an `i8`, or an `i16` for pairs).
    fn weight(w: i32) -> Self::W;
    /// `s + Σ x_j · w_j` per `i32` lane, with the VNNI dot products if `VNNI`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW, and AVX-512 VNNI if `VNNI`.
    unsafe fn multiply_add<const VNNI: bool>(s: __m512i, x: __m512i, w: __m512i) -> __m512i;
}

/// Pairs: two `i16` terms per lane.
impl Lanes for i16 {
    const PER: usize = 2;
    const OFFSET: i32 = 0;
    type W = i16;
    fn input(x: i32) -> Self {
        x as i16
    }
    fn weight(w: i32) -> i16 {
        w as i16
    }
    #[inline(always)]
    unsafe fn multiply_add<const VNNI: bool>(s: __m512i, x: __m512i, w: __m512i) -> __m512i {
        if VNNI {
            // SAFETY: the CPU has AVX-512 VNNI (`VNNI`, this function's contract).
            unsafe { _mm512_dpwssd_epi32(s, x, w) }
        } else {
            // SAFETY: the CPU has AVX-512 BW (this function's contract).
            unsafe { _mm512_add_epi32(s, _mm512_madd_epi16(x, w)) }
        }
    }
}

/// Quads: four terms per lane, unsigned input bytes (`x + 128`) times `i8` weights.
impl Lanes for u8 {
    const PER: usize = 4;
    const OFFSET: i32 = 128;
    type W = i8;
    fn input(x: i32) -> Self {
        (x + 128) as u8
    }
    fn weight(w: i32) -> i8 {
        w as i8
    }
    #[inline(always)]
    unsafe fn multiply_add<const VNNI: bool>(s: __m512i, x: __m512i, w: __m512i) -> __m512i {
        if VNNI {
            // SAFETY: the CPU has AVX-512 VNNI (`VNNI`, this function's contract).
            unsafe { _mm512_dpbusd_epi32(s, x, w) }
        } else {
            // Never taken: quads are chosen only with VNNI (`encode_rows`).
            s
        }
    }
}

/// Encoding-layer rows like `conv::encode_rows`; returns `false` (doing nothing) where the
/// layer does not fit the buffers or its values may not fit the packing. `VNNI` takes the
/// VNNI dot products (and the quads they allow).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL, and AVX-512 VNNI if `VNNI`.
#[inline(always)]
pub(in crate::kernels) unsafe fn encode_rows<
    const VNNI: bool,
    X: Pixel,
    W: Weight,
    S: Sink + ?Sized,
>(
    a: &ConvArgs<'_, W>,
    input: &[X],
    zero_points: &[i16],
    max_abs: i32,
    rows: Range<usize>,
    acc: &mut [i32],
    sink: &mut S,
) -> bool {
    let in_c = a.geom.in_c as usize;
    let Some(zps) = zero_points.get(..in_c) else {
        return false;
    };
    // Every input value `clamp(x, ±max_abs) − zp` then fits the packing.
    let fits = |lo: i32, hi: i32| {
        max_abs >= 0
            && zps.iter().all(|&z| {
                let z = z as i32;
                (-max_abs).saturating_sub(z) >= lo && max_abs.saturating_sub(z) <= hi
            })
    };
    let bytes = core::mem::size_of::<W>() == 1;
    if VNNI && bytes && fits(-128, 127) {
        return rows_packed::<VNNI, u8, X, W, S>(a, input, zps, max_abs, rows, acc, sink);
    }
    if fits(-(1 << 15) + 1, (1 << 15) - 1) {
        return rows_packed::<VNNI, i16, X, W, S>(a, input, zps, max_abs, rows, acc, sink);
    }
    false
}

/// [`encode_rows`] with packing `L`, whose range every input value fits.
#[inline(always)]
fn rows_packed<const VNNI: bool, L: Lanes, X: Pixel, W: Weight, S: Sink + ?Sized>(
    a: &ConvArgs<'_, W>,
    input: &[X],
    zps: &[i16],
    max_abs: i32,
    rows: Range<usize>,
    acc: &mut [i32],
    sink: &mut S,
) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let k = a.geom.kernel as usize;
    let (st, pad) = (a.geom.stride as usize, a.geom.pad as isize);
    let terms = k * k * in_c;
    let lanes = terms.div_ceil(L::PER);
    let groups = out_c.div_ceil(16);
    // Padded input row, in terms; every window lies inside it.
    let row_len = (a.in_w + 2 * pad as usize) * in_c;
    let inside = a.out_w == 0 || (a.out_w - 1) * st + k <= a.in_w + 2 * pad as usize;
    let w_len = lanes * groups * 16 * L::PER;
    if lanes * L::PER > TERMS
        || w_len > WEIGHTS
        || a.weights.len() < terms * out_c
        || acc.len() < out_c
        || out_c > MAX_OUT
        || input.len() < a.in_h * a.in_w * in_c
        || st == 0
        || k > MAX_K
        || k * row_len > ROWS
        || !inside
    {
        return false;
    }
    let acc = &mut acc[..out_c];
    // Weights as [lane][group][channel][term]: channel `o` of group `g` holds terms
    // `PER·p ..` of output channel 16·g + o (zero beyond the channels and the terms). The
    // correction takes back what the input offset adds.
    let mut wbuf = [L::W::default(); WEIGHTS];
    let mut correction = [0i32; MAX_OUT];
    for p in 0..lanes {
        for g in 0..groups {
            for lane in 0..16 {
                let o = 16 * g + lane;
                for j in 0..L::PER {
                    let t = L::PER * p + j;
                    if o < out_c && t < terms {
                        let w: i32 = a.weights[t * out_c + o].into();
                        wbuf[((p * groups + g) * 16 + lane) * L::PER + j] = L::weight(w);
                        correction[o] = correction[o].wrapping_add(w.wrapping_mul(L::OFFSET));
                    }
                }
            }
        }
    }
    // A ring of input rows as terms (row `iy` in slot `iy mod k`, converted once per call),
    // `pad` zero pixels on either side and all zero outside the image: a pixel's terms are
    // `k` contiguous runs of them.
    let mut rbuf = [L::input(0); ROWS];
    let mut tags = [isize::MIN; MAX_K];
    let mut xbuf = [[L::input(0); TERMS]; BLOCK];
    let mut outs = [[0i32; MAX_OUT]; BLOCK];
    let padding = pad as usize * in_c;
    for (r, oy) in rows.enumerate() {
        let top = (oy * st) as isize - pad;
        for iy in top..top + k as isize {
            let slot = iy.rem_euclid(k as isize) as usize;
            if tags[slot] == iy {
                continue;
            }
            tags[slot] = iy;
            let dst = &mut rbuf[slot * row_len..(slot + 1) * row_len];
            dst.fill(L::input(0));
            if iy < 0 || iy as usize >= a.in_h {
                continue;
            }
            let src = &input[iy as usize * a.in_w * in_c..(iy as usize + 1) * a.in_w * in_c];
            for (px, d) in src
                .chunks_exact(in_c)
                .zip(dst[padding..].chunks_exact_mut(in_c))
            {
                for ((d, x), &zp) in d.iter_mut().zip(px).zip(zps) {
                    *d = L::input((*x).into().clamp(-max_abs, max_abs) - zp as i32);
                }
            }
        }
        let mut ox = 0;
        while ox < a.out_w {
            let n = BLOCK.min(a.out_w - ox);
            let run = k * in_c;
            for (j, x) in xbuf.iter_mut().enumerate().take(n) {
                for ky in 0..k {
                    let slot = (top + ky as isize).rem_euclid(k as isize) as usize;
                    let start = slot * row_len + (ox + j) * st * in_c;
                    x[ky * run..(ky + 1) * run].copy_from_slice(&rbuf[start..start + run]);
                }
            }
            match n {
                BLOCK => {
                    block_sums::<VNNI, L, BLOCK>(&xbuf, &wbuf, lanes, groups, out_c, &mut outs)
                }
                _ => block_sums::<VNNI, L, 1>(&xbuf, &wbuf, lanes, groups, out_c, &mut outs),
            }
            let singles = if n == BLOCK { BLOCK } else { 1 };
            for (j, sums) in outs.iter().enumerate().take(singles) {
                for ((a, &s), &c) in acc.iter_mut().zip(&sums[..out_c]).zip(&correction) {
                    *a = s.wrapping_sub(c);
                }
                sink.store(r * a.out_w + ox + j, acc);
            }
            ox += singles;
        }
    }
    true
}

/// The sums of `B` output pixels (`xbuf[j]` holds pixel `j`'s terms, packed by `L`) into
/// `outs[j][..out_c]`: per lane of terms, one weight load serves all `B` pixels.
#[inline(always)]
fn block_sums<const VNNI: bool, L: Lanes, const B: usize>(
    xbuf: &[[L; TERMS]; BLOCK],
    wbuf: &[L::W; WEIGHTS],
    lanes: usize,
    groups: usize,
    out_c: usize,
    outs: &mut [[i32; MAX_OUT]; BLOCK],
) {
    let w_len = lanes * groups * 16 * L::PER;
    let packed =
        core::mem::size_of::<L>() * L::PER == 4 && core::mem::size_of::<L::W>() == 4 / L::PER;
    if B > BLOCK || L::PER * lanes > TERMS || w_len > WEIGHTS || out_c > MAX_OUT || !packed {
        return;
    }
    for g in 0..groups {
        let m = super::masks::first16(out_c - 16 * g);
        // SAFETY: the CPU has AVX-512 F/BW, and VNNI if `VNNI` (`encode_rows`' contract,
        // which picks quads only with VNNI). A lane of `PER` values of `L` (or
        // of `L::W`) is 4 bytes (`packed`). For `p < lanes`, `xbuf[j]` is read at
        // `PER·p ..+ PER` (`PER·lanes ≤ TERMS`) and `wbuf` at `(p·groups + g)·16·PER ..+
        // 16·PER` (below `w_len ≤ WEIGHTS`, its length); the stores write lanes of
        // `m`, channels `16·g + lane < out_c ≤ MAX_OUT`, of `outs[j]` for `j < B ≤ BLOCK`.
        unsafe {
            let mut s = [_mm512_setzero_si512(); B];
            for p in 0..lanes {
                let w = wbuf.as_ptr().add((p * groups + g) * 16 * L::PER);
                let w = _mm512_loadu_si512(w as *const _);
                for (j, sj) in s.iter_mut().enumerate() {
                    let x = (xbuf[j].as_ptr().add(L::PER * p) as *const i32).read_unaligned();
                    *sj = L::multiply_add::<VNNI>(*sj, _mm512_set1_epi32(x), w);
                }
            }
            for (j, sj) in s.iter().enumerate() {
                _mm512_mask_storeu_epi32(outs[j].as_mut_ptr().add(16 * g), m, *sj);
            }
        }
    }
}
