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
        || input.len() < a.in_h * a.in_w * in_c
        || st == 0
        || k * row_len > ROWS
        || !inside
    {
        return false;
    }
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
    let mut xbuf = [0i16; TERMS];
    let acc = &mut acc[..out_c];
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
        for ox in 0..a.out_w {
            let run = k * in_c;
            for ky in 0..k {
                let start = ky * row_len + ox * st * in_c;
                xbuf[ky * run..(ky + 1) * run].copy_from_slice(&rbuf[start..start + run]);
            }
            let (xs, ws, out) = (xbuf.as_ptr(), wbuf.as_ptr(), acc.as_mut_ptr());
            for g in 0..groups {
                let lanes = out_c - 16 * g;
                let m: __mmask16 = if lanes >= 16 {
                    0xffff
                } else {
                    ((1u32 << lanes) - 1) as __mmask16
                };
                // SAFETY: AVX-512 F/BW are enabled at compile time (the module's cfg).
                // `xs + 2p` for `p < pairs` reads 4 bytes inside `xbuf` (`2·pairs ≤ TERMS`);
                // `ws + ((p·groups + g)·16)·2` reads 64 bytes inside `wbuf`
                // (`pairs·groups·32 ≤ WEIGHTS`); the store writes lanes of `m`, channels
                // `16·g + j < out_c ≤ acc.len()`.
                unsafe {
                    // Two running sums: a multiply-add's latency spans several issues.
                    let term = |p: usize| {
                        let x = _mm512_set1_epi32((xs.add(2 * p) as *const i32).read_unaligned());
                        let w = _mm512_loadu_si512(ws.add((p * groups + g) * 32) as *const _);
                        _mm512_madd_epi16(x, w)
                    };
                    let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                    let mut p = 0;
                    while p + 2 <= pairs {
                        s0 = _mm512_add_epi32(s0, term(p));
                        s1 = _mm512_add_epi32(s1, term(p + 1));
                        p += 2;
                    }
                    if p < pairs {
                        s0 = _mm512_add_epi32(s0, term(p));
                    }
                    let sum = _mm512_add_epi32(s0, s1);
                    _mm512_mask_storeu_epi32(out.add(16 * g), m, sum);
                }
            }
            sink.store(r * a.out_w + ox, acc);
        }
    }
    true
}
