//! Spike-driven depthwise convolution with AVX-512, `i8` weights: 16 channels per register.
//!
//! A count `s` is `s` binary spikes in `s` virtual time steps (planes); each plane adds the
//! tap's weights only in the lanes whose channel spikes in it (a masked add), so every addition
//! is one binary spike and lanes without spikes do nothing. A branch per channel and count, as
//! in the scalar kernel, would mispredict on irregular spikes; the masks do not branch.

use core::arch::x86_64::*;

use crate::kernels::conv::ConvArgs;

/// Whether the tap weights of `a` lie inside its weights.
pub(in crate::kernels) fn fits(a: &ConvArgs<'_, i8>) -> bool {
    let k = a.geom.kernel as usize;
    a.weights.len() >= k * k * a.geom.out_c as usize
}

/// Channels `16·g ..` of `n` that exist, as a lane mask.
#[inline(always)]
fn lanes(g: usize, n: usize) -> __mmask16 {
    super::masks::first16(n - 16 * g)
}

/// Accumulator values of one segment of output pixels (all their channels).
const SEGMENT: usize = 8192;
/// Largest kernel whose tap weights stay in registers.
const MAX_K: usize = 8;

/// Whether [`spike_rows`] takes this convolution.
pub(in crate::kernels) fn takes(a: &ConvArgs<'_, i8>) -> bool {
    let c = a.geom.out_c as usize;
    let k = a.geom.kernel as usize;
    fits(a) && k <= MAX_K && c.div_ceil(16) * 16 <= SEGMENT && a.geom.stride > 0
}

/// Output rows `rows` (relative pixel indices from 0), handing each pixel's `c` values to
/// `store`. Output-stationary over segments of a row: an input pixel's spike-plane masks are
/// computed once per kernel row and added with each kernel column's weights (held in
/// registers) into the outputs it reaches. `input` holds `in_h · in_w · c` counts, none
/// above `planes` (from [`planes`]).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[inline(always)]
pub(in crate::kernels) unsafe fn spike_rows(
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
    if narrow::rows(a, input, planes, rows.clone(), store) {
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
                    // SAFETY: the CPU has AVX-512 F/BW/VL (the contract of
                    // `spike_rows`). Lane `j` of group `g` is channel `16·g + j`, read only when set
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
///
/// # Safety
/// The CPU has AVX-512 BW.
#[inline(always)]
pub(in crate::kernels) unsafe fn planes(input: &[u8]) -> u8 {
    let mut chunks = input.chunks_exact(64);
    // SAFETY: the CPU has AVX-512 BW (this function's contract); each load reads one whole
    // 64-byte chunk.
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

/// Stride-1 depthwise convolutions whose sums fit `i16` lanes: 32 channels per register, and
/// the `K` outputs an input pixel reaches in one kernel row held in registers as a ring.
///
/// For one output row, channel group and kernel row, the input pixels of the (padded) input
/// row are visited left to right. Pixel `v` (padded coordinate) reaches outputs `v − K + 1 ..=
/// v`, one per kernel column; those live in a ring of `K` registers (output `o` in slot
/// `o mod K`), each receiving the tap's weights times 1, 2 and 4 through masked adds, one per
/// set bit of the count (`3 = 1 + 2`: two additions, not three).
/// After pixel `v`, output `v − K + 1` has all of this kernel row and leaves the ring for the
/// row buffer (one `i16` add per output and kernel row, instead of one per tap). The loop is
/// unrolled `K` times so that every ring slot is a fixed register.
mod narrow {
    use core::arch::x86_64::*;

    use super::ConvArgs;

    /// `i16` values of the row buffer (one output row, all channel groups).
    const ROW: usize = 16384;
    /// Most channels (the widened values of one pixel).
    const MAX_C: usize = 2048;
    /// Bits of a count: a count `Σ 2^b·c_b` adds the tap's weights times `2^b` for each
    /// set bit (counts up to 7, one masked add per bit instead of one per binary spike).
    const BITS: usize = 3;
    /// Largest count.
    const PLANES: usize = (1 << BITS) - 1;

    /// Computes `rows` if this path takes the convolution; returns whether it did.
    #[inline(always)]
    pub(super) fn rows(
        a: &ConvArgs<'_, i8>,
        input: &[u8],
        planes: u8,
        rows: core::ops::Range<usize>,
        store: &mut impl FnMut(usize, &[i32]),
    ) -> bool {
        match a.geom.kernel {
            3 => rows_k::<3>(a, input, planes, rows, store),
            5 => rows_k::<5>(a, input, planes, rows, store),
            7 => rows_k::<7>(a, input, planes, rows, store),
            _ => false,
        }
    }

    #[inline(always)]
    fn rows_k<const K: usize>(
        a: &ConvArgs<'_, i8>,
        input: &[u8],
        planes: u8,
        rows: core::ops::Range<usize>,
        store: &mut impl FnMut(usize, &[i32]),
    ) -> bool {
        // The hand-unrolled phases of a kernel row cover exactly these kernel sizes.
        const { assert!(K == 3 || K == 5 || K == 7) };
        let c = a.geom.out_c as usize;
        let pad = a.geom.pad as usize;
        let groups = c.div_ceil(32);
        let cp = groups * 32;
        // |sum| ≤ K² · planes · 128 must fit i16; one stride-1 geometry with pad < K.
        let fits_i16 = K * K * planes as usize * 128 <= i16::MAX as usize;
        let geometry = a.geom.stride == 1
            && pad < K
            && a.in_w + 2 * pad + 1 == a.out_w + K
            && a.weights.len() >= K * K * c
            && input.len() >= a.in_h * a.in_w * c;
        if !fits_i16 || !geometry || planes as usize > PLANES || a.out_w * cp > ROW || c > MAX_C {
            return false;
        }
        let mut row = [0i16; ROW];
        let mut wide = [0i32; MAX_C];
        // Padded positions visited per kernel row: a whole number of K-step rounds.
        let steps = (a.out_w + K - 1).next_multiple_of(K);
        for (r, oy) in rows.enumerate() {
            row[..a.out_w * cp].fill(0);
            for ky in 0..K {
                let Some(iy) = (oy + ky).checked_sub(pad).filter(|&y| y < a.in_h) else {
                    continue;
                };
                for g in 0..groups {
                    let m = super::super::masks::first32(c - 32 * g);
                    // SAFETY: the CPU has AVX-512 F/BW/VL (the contract of
                    // `spike_rows`). Weights are read at `(ky·K + kx)·c + 32·g + j` for lanes `j` set
                    // in `m` (channel below `c`), inside `K·K·c ≤ weights.len()`; counts at
                    // `(iy·in_w + ix)·c + 32·g + j` with `iy < in_h`, `ix < in_w`, inside
                    // `input`; the row buffer at `o·cp + 32·g .. + 32` with `o < out_w`,
                    // `out_w · cp ≤ ROW`. Masked-off lanes are not accessed.
                    unsafe {
                        // Per tap: its weights times 1, 2 and 4 (by additions).
                        let mut w = [[_mm512_setzero_si512(); BITS]; K];
                        for (kx, x) in w.iter_mut().enumerate() {
                            let p = a.weights.as_ptr().add((ky * K + kx) * c + 32 * g);
                            x[0] = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, p));
                            for b in 1..BITS {
                                x[b] = _mm512_add_epi16(x[b - 1], x[b - 1]);
                            }
                        }
                        let line = Line {
                            src: input.as_ptr().add(iy * a.in_w * c + 32 * g),
                            dst: row.as_mut_ptr().add(32 * g),
                            m,
                            c,
                            cp,
                            pad,
                            in_w: a.in_w,
                            out_w: a.out_w,
                        };
                        let mut ring = [_mm512_setzero_si512(); K];
                        let mut v0 = 0;
                        while v0 < steps {
                            // Unrolled by hand with literal phases (the compiler kept the
                            // loop, and the ring in memory): every ring slot a fixed register.
                            phase(&line, &w, &mut ring, v0, 0);
                            phase(&line, &w, &mut ring, v0, 1);
                            phase(&line, &w, &mut ring, v0, 2);
                            if K > 3 {
                                phase(&line, &w, &mut ring, v0, 3);
                                phase(&line, &w, &mut ring, v0, 4);
                            }
                            if K > 5 {
                                phase(&line, &w, &mut ring, v0, 5);
                                phase(&line, &w, &mut ring, v0, 6);
                            }
                            v0 += K;
                        }
                    }
                }
            }
            for o in 0..a.out_w {
                for (x, &y) in wide[..c].iter_mut().zip(&row[o * cp..o * cp + c]) {
                    *x = y as i32;
                }
                store(r * a.out_w + o, &wide[..c]);
            }
        }
        true
    }

    /// One input row of one channel group and its output row (see [`phase`]).
    struct Line {
        /// Counts of the group's first channel at input column 0.
        src: *const u8,
        /// Row buffer value of the group's first channel at output column 0.
        dst: *mut i16,
        /// The group's channels.
        m: __mmask32,
        c: usize,
        cp: usize,
        pad: usize,
        in_w: usize,
        out_w: usize,
    }

    /// Padded position `v0 + phase` of `line` (`phase < K`, a literal, so that the ring
    /// slots are fixed registers): its taps' weights `w` (times 1, 2 and 4) added into the
    /// ring, then the output it completes moved to the row buffer.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL; `line` reads counts at `src + ix·c + j` for `ix <
    /// in_w` and lanes `j` of `m`, and writes 32 `i16` at `dst + o·cp` for `o < out_w`,
    /// all inside their buffers (the caller's bounds).
    #[inline(always)]
    unsafe fn phase<const K: usize>(
        line: &Line,
        w: &[[__m512i; BITS]; K],
        ring: &mut [__m512i; K],
        v0: usize,
        phase: usize,
    ) {
        let v = v0 + phase;
        // SAFETY: the contract; masked-off lanes are not accessed.
        unsafe {
            let spiking = match v.checked_sub(line.pad).filter(|&x| x < line.in_w) {
                Some(ix) => {
                    let s = _mm256_maskz_loadu_epi8(line.m, line.src.add(ix * line.c) as *const i8);
                    // A pixel without spikes in this group adds nothing.
                    (_mm256_test_epi8_mask(s, s) != 0).then_some(s)
                }
                None => None,
            };
            if let Some(s) = spiking {
                let mut k = [0 as __mmask32; BITS];
                for (b, kb) in k.iter_mut().enumerate() {
                    let bit = _mm256_set1_epi8(1 << b);
                    *kb = _mm256_test_epi8_mask(s, bit);
                }
                // Output v − kx sits in slot (v − kx) mod K. The top bit (counts of 4 or
                // more) is rare in a whole group: its adds are skipped when no lane has it.
                let top = k[BITS - 1] != 0;
                for (kx, wk) in w.iter().enumerate() {
                    let slot = (phase + K - kx) % K;
                    let mut x = ring[slot];
                    for (&kb, &wb) in k.iter().zip(wk).take(BITS - 1) {
                        x = _mm512_mask_add_epi16(x, kb, x, wb);
                    }
                    ring[slot] = x;
                }
                if top {
                    for (kx, wk) in w.iter().enumerate() {
                        let slot = (phase + K - kx) % K;
                        let (kb, wb) = (k[BITS - 1], wk[BITS - 1]);
                        ring[slot] = _mm512_mask_add_epi16(ring[slot], kb, ring[slot], wb);
                    }
                }
            }
            // Output v − K + 1 is complete for this kernel row.
            let slot = (phase + 1) % K;
            if let Some(o) = (v + 1).checked_sub(K).filter(|&o| o < line.out_w) {
                let p = line.dst.add(o * line.cp) as *mut __m512i;
                let sum = _mm512_add_epi16(_mm512_loadu_si512(p as *const _), ring[slot]);
                _mm512_storeu_si512(p, sum);
            }
            ring[slot] = _mm512_setzero_si512();
        }
    }
}
