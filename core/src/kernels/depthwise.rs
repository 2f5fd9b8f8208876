//! Spike-driven depthwise convolution with AVX-512, `i8` weights: 16 channels per register.
//!
//! A count `s` is `s` binary spikes in `s` virtual time steps (planes); each plane adds the
//! tap's weights only in the lanes whose channel spikes in it (a masked add), so every addition
//! is one binary spike and lanes without spikes do nothing. A branch per channel and count, as
//! in the scalar kernel, would mispredict on irregular spikes; the masks do not branch.

use core::arch::x86_64::*;

use super::conv::ConvArgs;

/// Whether the tap weights of `a` lie inside its weights.
pub(super) fn fits(a: &ConvArgs<'_, i8>) -> bool {
    let k = a.geom.kernel as usize;
    a.weights.len() >= k * k * a.geom.out_c as usize
}

/// Channels `16·g ..` of `n` that exist, as a lane mask.
#[inline(always)]
fn lanes(g: usize, n: usize) -> __mmask16 {
    let rest = n - 16 * g;
    if rest >= 16 {
        0xffff
    } else {
        ((1u32 << rest) - 1) as __mmask16
    }
}

/// Accumulator values of one segment of output pixels (all their channels).
const SEGMENT: usize = 8192;
/// Largest kernel whose tap weights stay in registers.
const MAX_K: usize = 8;

/// Whether [`spike_rows`] takes this convolution.
pub(super) fn takes(a: &ConvArgs<'_, i8>) -> bool {
    let c = a.geom.out_c as usize;
    let k = a.geom.kernel as usize;
    fits(a) && k <= MAX_K && c.div_ceil(16) * 16 <= SEGMENT && a.geom.stride > 0
}

/// Output rows `rows` (relative pixel indices from 0), handing each pixel's `c` values to
/// `store`. Output-stationary over segments of a row: an input pixel's spike-plane masks are
/// computed once per kernel row and added with each kernel column's weights (held in
/// registers) into the outputs it reaches. `input` holds `in_h · in_w · c` counts, none
/// above `planes` (from [`planes`]).
pub(super) fn spike_rows(
    a: &ConvArgs<'_, i8>,
    input: &[u8],
    planes: u8,
    rows: core::ops::Range<usize>,
    store: &mut impl FnMut(usize, &[i32]),
) {
    let c = a.geom.out_c as usize;
    let (k, st, pad) = (
        a.geom.kernel as usize,
        a.geom.stride as usize,
        a.geom.pad as usize,
    );
    if !takes(a) || input.len() < a.in_h * a.in_w * c {
        return;
    }
    let groups = c.div_ceil(16);
    let cp = groups * 16;
    let seg = (SEGMENT / cp).clamp(1, 64);
    let mut buf = [0i32; SEGMENT];
    let mut masks = [0 as __mmask16; 256];
    let (src, w) = (input.as_ptr(), a.weights.as_ptr());
    for (r, oy) in rows.enumerate() {
        let mut ox0 = 0;
        while ox0 < a.out_w {
            let n = seg.min(a.out_w - ox0);
            buf[..n * cp].fill(0);
            for ky in 0..k {
                let Some(iy) = (oy * st + ky).checked_sub(pad).filter(|&y| y < a.in_h) else {
                    continue;
                };
                // Input columns reaching outputs ox0..ox0 + n.
                let ix_lo = (ox0 * st).saturating_sub(pad);
                let ix_hi = ((ox0 + n - 1) * st + k).saturating_sub(pad).min(a.in_w);
                for g in 0..groups {
                    let m = lanes(g, c);
                    // SAFETY: AVX-512 F/BW/VL are enabled at compile time (the module's
                    // cfg). Lane `j` of group `g` is channel `16·g + j`, read only when set
                    // in `m` (below `c`); masked-off lanes are not accessed. Weights are read
                    // at `(ky·k + kx)·c + channel` with `ky, kx < k`, inside the weights
                    // (`fits`); counts at `(iy·in_w + ix)·c + channel` with `iy < in_h`,
                    // `ix < in_w`, inside `input` (checked above). `buf` is written at
                    // `j·cp + 16·g` with `j < n ≤ seg`, `seg · cp ≤ SEGMENT`.
                    unsafe {
                        let mut wk = [_mm512_setzero_si512(); MAX_K];
                        for (kx, v) in wk.iter_mut().enumerate().take(k) {
                            let p = w.add((ky * k + kx) * c + 16 * g);
                            *v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p));
                        }
                        for ix in ix_lo..ix_hi {
                            let p = src.add((iy * a.in_w + ix) * c + 16 * g) as *const i8;
                            let s = _mm_maskz_loadu_epi8(m, p);
                            let first = _mm_cmpgt_epu8_mask(s, _mm_setzero_si128());
                            if first == 0 {
                                continue;
                            }
                            // Planes 1..4 in registers (empty above `planes`); more in `masks`.
                            let m1 = _mm_cmpgt_epu8_mask(s, _mm_set1_epi8(1));
                            let m2 = _mm_cmpgt_epu8_mask(s, _mm_set1_epi8(2));
                            let m3 = _mm_cmpgt_epu8_mask(s, _mm_set1_epi8(3));
                            for t in 4..planes {
                                masks[t as usize] = _mm_cmpgt_epu8_mask(s, _mm_set1_epi8(t as i8));
                            }
                            // Kernel columns whose output lies in this segment.
                            let reach = ix + pad;
                            let kx_lo = (reach + 1).saturating_sub(ox0 * st + n * st).min(k);
                            let kx_hi = (reach + 1).saturating_sub(ox0 * st).min(k);
                            for (kx, &wt) in wk.iter().enumerate().take(kx_hi).skip(kx_lo) {
                                let num = reach - kx;
                                if st != 1 && num % st != 0 {
                                    continue;
                                }
                                let j = num / st - ox0;
                                let mut x = _mm512_maskz_mov_epi32(first, wt);
                                x = _mm512_mask_add_epi32(x, m1, x, wt);
                                x = _mm512_mask_add_epi32(x, m2, x, wt);
                                x = _mm512_mask_add_epi32(x, m3, x, wt);
                                for &mt in masks.iter().take(planes as usize).skip(4) {
                                    x = _mm512_mask_add_epi32(x, mt, x, wt);
                                }
                                let dst = buf.as_mut_ptr().add(j * cp + 16 * g) as *mut __m512i;
                                let sum = _mm512_add_epi32(_mm512_loadu_si512(dst as *const _), x);
                                _mm512_storeu_si512(dst as *mut _, sum);
                            }
                        }
                    }
                }
            }
            for j in 0..n {
                store(r * a.out_w + ox0 + j, &buf[j * cp..j * cp + c]);
            }
            ox0 += n;
        }
    }
}

/// The largest count of `input`: the number of binary-spike planes to add.
pub(super) fn planes(input: &[u8]) -> u8 {
    let mut chunks = input.chunks_exact(64);
    // SAFETY: AVX-512 BW is enabled at compile time; each load reads one whole 64-byte chunk.
    let mut top = unsafe {
        let mut top = _mm512_setzero_si512();
        for chunk in chunks.by_ref() {
            top = _mm512_max_epu8(top, _mm512_loadu_si512(chunk.as_ptr() as *const _));
        }
        let mut bytes = [0u8; 64];
        _mm512_storeu_si512(bytes.as_mut_ptr() as *mut _, top);
        bytes.iter().fold(0, |m, &b| m.max(b))
    };
    for &b in chunks.remainder() {
        top = top.max(b);
    }
    top
}
