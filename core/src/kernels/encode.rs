//! Encoding layer (image pixels × weights, multiply-accumulate) with AVX-512.
//!
//! The layer is small (`k²·in_c` terms per output) and dense. Its weights are copied once per
//! call into a stack buffer as `i16` pairs of consecutive terms, so that one `vpmaddwd`
//! multiplies two terms for 16 output channels; a pixel's input values are packed as the
//! matching `i16` pairs, read by broadcast. Products are exact (`|x| < 2^15`, `|w| ≤ 2^15`,
//! a pair sums below `2^31`) and the `i32` sums wrap like the scalar kernel's.

use core::arch::x86_64::*;
use core::ops::Range;

use super::conv::ConvArgs;
use super::output::Sink;
use super::Weight;

/// `i16` values of the repacked weights.
const WEIGHTS: usize = 16384;
/// Input values of one output pixel.
const TERMS: usize = 2048;
/// Input values of the rows one output row reads.
const ROWS: usize = 16384;
/// Output pixels computed together: each weight vector loaded is used for all of them.
const BLOCK: usize = 4;
/// Most output channels.
const MAX_OUT: usize = 256;

/// Encoding-layer rows like `conv::encode_rows`; returns `false` (doing nothing) where the
/// layer does not fit the buffers or its values may not fit `i16`.
pub(super) fn encode_rows<X: Copy + Into<i32>, W: Weight, S: Sink + ?Sized>(
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
    let (st, pad) = (a.geom.stride as usize, a.geom.pad as isize);
    let terms = k * k * in_c;
    let pairs = terms.div_ceil(2);
    let groups = out_c.div_ceil(16);
    // Padded input row, in terms; every window lies inside it.
    let row_len = (a.in_w + 2 * pad as usize) * in_c;
    let inside = a.out_w == 0 || (a.out_w - 1) * st + k <= a.in_w + 2 * pad as usize;
    let zp_max = zero_points
        .iter()
        .take(in_c)
        .map(|z| (*z as i32).abs())
        .max();
    let small = max_abs >= 0 && max_abs.saturating_add(zp_max.unwrap_or(i32::MAX)) < 1 << 15;
    if !small
        || zero_points.len() < in_c
        || pairs * 2 > TERMS
        || pairs * groups * 32 > WEIGHTS
        || a.weights.len() < terms * out_c
        || acc.len() < out_c
        || out_c > MAX_OUT
        || input.len() < a.in_h * a.in_w * in_c
        || st == 0
        || k * row_len > ROWS
        || !inside
    {
        return false;
    }
    let acc = &mut acc[..out_c];
    // Weights as [pair][group][lane][2]: lane `o` of group `g` holds terms 2p and 2p + 1 of
    // output channel 16·g + o (zero beyond the channels and the terms).
    let mut wbuf = [0i16; WEIGHTS];
    for p in 0..pairs {
        for g in 0..groups {
            for lane in 0..16 {
                let o = 16 * g + lane;
                for half in 0..2 {
                    let t = 2 * p + half;
                    if o < out_c && t < terms {
                        let w: i32 = a.weights[t * out_c + o].into();
                        wbuf[((p * groups + g) * 16 + lane) * 2 + half] = w as i16;
                    }
                }
            }
        }
    }
    // The `k` input rows of an output row as terms, `pad` zero pixels on either side (and
    // all zero outside the image): a pixel's terms are `k` contiguous runs of them.
    let mut rbuf = [0i16; ROWS];
    let mut xbuf = [[0i16; TERMS]; BLOCK];
    let mut outs = [[0i32; MAX_OUT]; BLOCK];
    for (r, oy) in rows.enumerate() {
        for ky in 0..k {
            let dst = &mut rbuf[ky * row_len..(ky + 1) * row_len];
            dst.fill(0);
            let iy = (oy * st + ky) as isize - pad;
            if iy < 0 || iy as usize >= a.in_h {
                continue;
            }
            let src = &input[iy as usize * a.in_w * in_c..(iy as usize + 1) * a.in_w * in_c];
            let inner = &mut dst[pad as usize * in_c..];
            for (px, d) in src.chunks_exact(in_c).zip(inner.chunks_exact_mut(in_c)) {
                for ((d, x), &zp) in d.iter_mut().zip(px).zip(zero_points) {
                    *d = ((*x).into().clamp(-max_abs, max_abs) - zp as i32) as i16;
                }
            }
        }
        let mut ox = 0;
        while ox < a.out_w {
            let n = BLOCK.min(a.out_w - ox);
            let run = k * in_c;
            for (j, x) in xbuf.iter_mut().enumerate().take(n) {
                for ky in 0..k {
                    let start = ky * row_len + (ox + j) * st * in_c;
                    x[ky * run..(ky + 1) * run].copy_from_slice(&rbuf[start..start + run]);
                }
            }
            match n {
                BLOCK => block_sums::<BLOCK>(&xbuf, &wbuf, pairs, groups, out_c, &mut outs),
                _ => block_sums::<1>(&xbuf, &wbuf, pairs, groups, out_c, &mut outs),
            }
            let singles = if n == BLOCK { BLOCK } else { 1 };
            for (j, sums) in outs.iter().enumerate().take(singles) {
                acc.copy_from_slice(&sums[..out_c]);
                sink.store(r * a.out_w + ox + j, acc);
            }
            ox += singles;
        }
    }
    true
}

/// The sums of `B` output pixels (`xbuf[j]` holds pixel `j`'s terms as `i16` pairs) into
/// `outs[j][..out_c]`: per pair of terms, one weight load serves all `B` pixels.
#[inline(always)]
fn block_sums<const B: usize>(
    xbuf: &[[i16; TERMS]; BLOCK],
    wbuf: &[i16; WEIGHTS],
    pairs: usize,
    groups: usize,
    out_c: usize,
    outs: &mut [[i32; MAX_OUT]; BLOCK],
) {
    if B > BLOCK || 2 * pairs > TERMS || pairs * groups * 32 > WEIGHTS || out_c > MAX_OUT {
        return;
    }
    for g in 0..groups {
        let m = super::masks::first16(out_c - 16 * g);
        // SAFETY: AVX-512 F/BW are enabled at compile time (the module's cfg). For `p <
        // pairs`, `xbuf[j]` is read at `2p .. 2p + 2` (`2·pairs ≤ TERMS`) and `wbuf` at
        // `(p·groups + g)·32 ..+ 32` (`pairs·groups·32 ≤ WEIGHTS`); the stores write lanes of
        // `m`, channels `16·g + lane < out_c ≤ MAX_OUT`, of `outs[j]` for `j < B ≤ BLOCK`.
        unsafe {
            let mut s = [_mm512_setzero_si512(); B];
            for p in 0..pairs {
                let w = _mm512_loadu_si512(wbuf.as_ptr().add((p * groups + g) * 32) as *const _);
                for (j, sj) in s.iter_mut().enumerate() {
                    let x = (xbuf[j].as_ptr().add(2 * p) as *const i32).read_unaligned();
                    *sj = multiply_add(*sj, _mm512_set1_epi32(x), w);
                }
            }
            for (j, sj) in s.iter().enumerate() {
                _mm512_mask_storeu_epi32(outs[j].as_mut_ptr().add(16 * g), m, *sj);
            }
        }
    }
}

/// `s + x₀·w₀ + x₁·w₁` per `i32` lane of `i16` pairs (wrapping): one VNNI instruction
/// where the CPU has it.
#[inline(always)]
unsafe fn multiply_add(s: __m512i, x: __m512i, w: __m512i) -> __m512i {
    #[cfg(target_feature = "avx512vnni")]
    // SAFETY: AVX-512 VNNI is enabled at compile time (this statement's cfg).
    return unsafe { _mm512_dpwssd_epi32(s, x, w) };
    #[cfg(not(target_feature = "avx512vnni"))]
    // SAFETY: AVX-512 BW is enabled at compile time (the module's cfg).
    return unsafe { _mm512_add_epi32(s, _mm512_madd_epi16(x, w)) };
}
