//! Listing with AVX-512: per 16 input channels, one compare per binary-spike plane gives a
//! mask and one compress packs the column offsets of the channels it selects (no branch per
//! channel or per spike, which would mispredict on irregular spikes).

//!
//! Every function here runs only under the AVX-512 entries of `x86_64` (the ones other
//! modules call are `unsafe fn`: the caller proves the CPU has AVX-512 F/BW/VL).

use core::arch::x86_64::*;
use core::ops::Range;

use super::masks::{first16, first32, first64};
use crate::kernels::columns::{Columns, CHUNK};
use crate::kernels::conv::ConvArgs;

/// `acc += Σ w[col ..][..acc.len()]` over the listed columns (any number: the `i16` sums
/// widen every [`CHUNK`] columns), or `acc = Σ …` if `fresh`, in tiles of up to 128
/// channels (4 registers of 32 `i16` lanes), the last one masked to the channels left.
/// Every column lies inside the weights: `col + acc.len() ≤ w.len()`. Returns the number
/// of channels done (all).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
// Its own features (not only the entry's): it is called through the listing's flush
// closure, which the entry's features do not reach, and its tiles must inline into it.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
#[inline]
pub(in crate::kernels) unsafe fn add_columns(
    w: &[i8],
    cols: &[u32],
    acc: &mut [i32],
    fresh: bool,
) -> usize {
    let out_c = acc.len();
    let mut c = 0;
    while c + 128 <= out_c {
        tile::<4, NONE>(w, cols, c, &mut acc[c..c + 128], fresh);
        c += 128;
    }
    let a = &mut acc[c..];
    // A tail of at most 16 channels sums in a 256-bit register: on cores that split 512-bit
    // operations in two (AMD Zen 4) it costs half a 512-bit one (48 channels: 22 % less
    // time per column), and no more on the others.
    match (a.len() / 32, a.len() % 32) {
        (0, 0) => {}
        (0, 1..=16) => tile::<0, HALF>(w, cols, c, a, fresh),
        (0, _) => tile::<0, FULL>(w, cols, c, a, fresh),
        (1, 0) => tile::<1, NONE>(w, cols, c, a, fresh),
        (1, 1..=16) => tile::<1, HALF>(w, cols, c, a, fresh),
        (1, _) => tile::<1, FULL>(w, cols, c, a, fresh),
        (2, 0) => tile::<2, NONE>(w, cols, c, a, fresh),
        (2, 1..=16) => tile::<2, HALF>(w, cols, c, a, fresh),
        (2, _) => tile::<2, FULL>(w, cols, c, a, fresh),
        (3, 0) => tile::<3, NONE>(w, cols, c, a, fresh),
        (3, 1..=16) => tile::<3, HALF>(w, cols, c, a, fresh),
        (3, _) => tile::<3, FULL>(w, cols, c, a, fresh),
        _ => {}
    }
    out_c
}

/// The tail of a tile (channels past its full registers): none, up to 16 channels in a
/// 256-bit register, or up to 32 in a 512-bit one.
const NONE: usize = 0;
const HALF: usize = 16;
const FULL: usize = 32;

/// Channels `c..c + acc.len()` of every listed column, summed in `R` registers of 32
/// `i16` lanes and a tail of `T` lanes ([`NONE`], [`HALF`], [`FULL`]) masked to the channels
/// left (`acc.len() − 32·R`, 1 to `T`), widened into `acc` every [`CHUNK`] columns and at
/// the end (the first time overwriting it if `fresh`).
#[inline(always)]
fn tile<const R: usize, const T: usize>(
    w: &[i8],
    cols: &[u32],
    c: usize,
    acc: &mut [i32],
    fresh: bool,
) {
    let tail = acc.len().wrapping_sub(32 * R);
    if (T > 0 && !(1..=T).contains(&tail)) || (T == 0 && tail != 0) {
        return;
    }
    let (m, m_half) = (first32(tail), first16(tail));
    // SAFETY: the CPU has AVX-512 F/BW/VL (this module's callers). Every
    // full load reads `w[col + c + 32·r ..][..32]` with `c + 32·(r + 1) ≤ out_c`, and the
    // masked loads only lanes below `out_c − c − 32·R` (masked-off lanes are not accessed);
    // the caller lists only columns with `col + out_c ≤ w.len()`.
    // `widen` touches `acc[..32·R + tail]` only, through masked accesses for the tail.
    unsafe {
        let mut s = [_mm512_setzero_si512(); R];
        let mut t = _mm512_setzero_si512();
        let mut h = _mm256_setzero_si256();
        let mut room = CHUNK;
        let mut keep = !fresh;
        let p0 = w.as_ptr().add(c);
        let mut rest = cols;
        while !rest.is_empty() {
            if room == 0 {
                widen::<R, T>(&mut s, &mut t, &mut h, acc, tail, keep);
                keep = true;
                room = CHUNK;
            }
            let (now, later) = rest.split_at(room.min(rest.len()));
            for &col in now {
                let p = p0.add(col as usize);
                for (r, x) in s.iter_mut().enumerate() {
                    let v = _mm256_loadu_si256(p.add(32 * r) as *const __m256i);
                    *x = _mm512_add_epi16(*x, _mm512_cvtepi8_epi16(v));
                }
                if T == FULL {
                    let v = _mm256_maskz_loadu_epi8(m, p.add(32 * R));
                    t = _mm512_add_epi16(t, _mm512_cvtepi8_epi16(v));
                }
                if T == HALF {
                    let v = _mm_maskz_loadu_epi8(m_half, p.add(32 * R));
                    h = _mm256_add_epi16(h, _mm256_cvtepi8_epi16(v));
                }
            }
            room -= now.len();
            rest = later;
        }
        widen::<R, T>(&mut s, &mut t, &mut h, acc, tail, keep);
    }
}

/// `acc += s` if `keep`, else `acc = s` (then `s = 0`): `R` registers of 32 `i16` lanes
/// and the tail, `tail` more lanes of `t` (if `T` is [`FULL`]) or of `h` (if [`HALF`]).
///
/// # Safety
/// AVX-512 F/BW/VL enabled; `acc` holds at least `32·R + tail` values (`tail ≤ T`, only
/// read if `T > 0`).
#[inline(always)]
unsafe fn widen<const R: usize, const T: usize>(
    s: &mut [__m512i; R],
    t: &mut __m512i,
    h: &mut __m256i,
    acc: &mut [i32],
    tail: usize,
    keep: bool,
) {
    let a = acc.as_mut_ptr();
    let zero = _mm512_setzero_si512();
    // The old value of 16 lanes at `p` (those of `m`), or zero.
    let old = |m: __mmask16, p: *const i32| {
        if keep {
            _mm512_maskz_loadu_epi32(m, p)
        } else {
            zero
        }
    };
    for (r, x) in s.iter_mut().enumerate() {
        let lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(*x));
        let hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64::<1>(*x));
        let p = a.add(32 * r);
        _mm512_storeu_si512(p as *mut _, _mm512_add_epi32(old(u16::MAX, p), lo));
        let p = p.add(16);
        _mm512_storeu_si512(p as *mut _, _mm512_add_epi32(old(u16::MAX, p), hi));
        *x = zero;
    }
    if T == FULL {
        let lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(*t));
        let hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64::<1>(*t));
        let p = a.add(32 * R);
        let m_lo = first16(tail.min(16));
        let m_hi = first16(tail.saturating_sub(16));
        _mm512_mask_storeu_epi32(p, m_lo, _mm512_add_epi32(old(m_lo, p), lo));
        let p = p.add(16);
        _mm512_mask_storeu_epi32(p, m_hi, _mm512_add_epi32(old(m_hi, p), hi));
        *t = zero;
    }
    if T == HALF {
        let v = _mm512_cvtepi16_epi32(*h);
        let p = a.add(32 * R);
        let m = first16(tail);
        _mm512_mask_storeu_epi32(p, m, _mm512_add_epi32(old(m, p), v));
        *h = _mm256_setzero_si256();
    }
}

/// Lists offset `base + i·out_c` into `out` at `*len` once per binary spike of channel `i`
/// of `px` (`s` times for a count `s`, none above `planes`). Per 64 channels, one compare per
/// spike plane gives that plane's mask and one compress per 16 of them packs the offsets
/// (no branch per channel or per spike, which would mispredict on irregular spikes). Planes
/// nest (a count above `t` is above `t − 1`): from plane 2 on, the first plane without a
/// spike in the 64 channels ends them, a branch that is rarely taken the other way at low
/// firing rates, so the empty upper planes cost one compare instead of four compresses.
/// Before each plane, if `*len + 64 > limit`, `full(&out[..*len])` runs and `*len` restarts at 0.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL; `limit ≤ out.len()`, or `limit ≥ out.len()` and every
/// list fits: `*len + px.len() · planes + 16 ≤ out.len()`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn list_pixel(
    px: &[u8],
    planes: u8,
    base: usize,
    out_c: usize,
    out: &mut [u32],
    len: &mut usize,
    limit: usize,
    full: &mut impl FnMut(&[u32]),
) {
    let n = px.len();
    // The length lives in a register: behind `len`, every store through the offsets
    // pointer would force a reload of it (the compiler cannot rule out aliasing).
    let mut at = *len;
    // SAFETY: the CPU has AVX-512 F/BW/VL (this function's contract). Loads read bytes
    // `64·h + j` of `px` only for lanes `j` set in `first64(n − 64·h)`, i.e. below `n`;
    // masked-off lanes are not accessed. A plane writes four blocks of 16 offsets, each at
    // an `at` at most 48 past the plane's start: with a start `≤ limit − 64` (flushed
    // before), below `limit ≤ out.len()`; without flushes, `at ≤ *len + n · planes`
    // and `at + 16 ≤ out.len()` (the contract).
    unsafe {
        let iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        let step = _mm512_set1_epi32((16 * out_c) as i32);
        let mut offs = _mm512_add_epi32(
            _mm512_mullo_epi32(iota, _mm512_set1_epi32(out_c as i32)),
            _mm512_set1_epi32(base as i32),
        );
        for h in 0..n.div_ceil(64) {
            let m = first64(n - 64 * h);
            let v = _mm512_maskz_loadu_epi8(m, px.as_ptr().add(64 * h) as *const i8);
            let mut quarters = [offs; 4];
            for q in 1..4 {
                quarters[q] = _mm512_add_epi32(quarters[q - 1], step);
            }
            offs = _mm512_add_epi32(quarters[3], step);
            for t in 0..planes {
                let spikes = _mm512_mask_cmpgt_epu8_mask(m, v, _mm512_set1_epi8(t as i8));
                if t >= 2 && spikes == 0 {
                    break;
                }
                if at + 64 > limit {
                    full(&out[..at]);
                    at = 0;
                }
                let dst = out.as_mut_ptr();
                for (q, &o) in quarters.iter().enumerate() {
                    let k = (spikes >> (16 * q)) as __mmask16;
                    let packed = _mm512_maskz_compress_epi32(k, o);
                    _mm512_storeu_si512(dst.add(at) as *mut _, packed);
                    at += k.count_ones() as usize;
                }
            }
        }
    }
    *len = at;
}

/// Lists column `base + i·out_c` once per binary spike of input channel `i` of `px`
/// (`s` times for a count `s`, none above `planes`), handing full chunks to `flush`.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[inline(always)]
pub(in crate::kernels) unsafe fn list_tap(
    cols: &mut Columns,
    px: &[u8],
    planes: u8,
    base: usize,
    out_c: usize,
    flush: &mut impl FnMut(&[u32]),
) {
    let mut len = cols.len;
    // SAFETY: the CPU has AVX-512 F/BW/VL (this function's contract); the limit is the
    // chunk's length.
    unsafe {
        list_pixel(
            px,
            planes,
            base,
            out_c,
            &mut cols.offsets,
            &mut len,
            CHUNK,
            flush,
        )
    };
    cols.len = len;
}

/// Entries of one pixel's list at most (`in_c · planes`, plus a vector of slack).
const SLOT: usize = 2048;
/// Entries of all the cached lists.
const ENTRIES: usize = 18 * SLOT;
/// Entries past a list that [`Cache::gather`]'s whole-block copies may read or write.
const SLACK: usize = 32;
/// Output rows of a strip at most.
const MAX_STRIP: usize = 16;
/// Input rows a strip reads at most.
const MAX_ROWS: usize = 33;

/// Spike lists of the input pixels a strip of output rows reads: the offsets `i·out_c`
/// of the channels `i` that spike, once per binary spike; and the lists of one output
/// pixel's taps gathered into one. Valid for one convolution call.
///
/// A strip's output pixels go column by column, so the lists of three input columns
/// are kept (by column modulo 3) for every input row of the strip: an input pixel is
/// listed about once per strip instead of once per output row. [`Cache::begin_column`]
/// lists the input column an output column adds and notes which lists its taps read, so
/// that each pixel of the column finds its lists without a check per tap.
pub(in crate::kernels) struct Cache {
    /// The largest spike count of the input (binary planes listed per pixel).
    planes: u8,
    /// Entries per list: room for `in_c · planes` offsets and a vector of slack.
    stride: usize,
    /// Output rows per strip.
    strip: usize,
    /// Input rows per strip.
    rows: usize,
    /// The input column held in each of the three list columns, as (strip top, column).
    columns: [(usize, usize); 3],
    /// The output column (strip top, column) that [`Cache::begin_column`] prepared.
    current: (usize, usize),
    /// Its taps inside the image along x: (list column, kx), `taps_x` of them.
    xs: [(usize, usize); 3],
    taps_x: usize,
    lens: [usize; 3 * MAX_ROWS],
    entries: [u32; ENTRIES + SLACK],
    gathered: [u32; 9 * SLOT + SLACK],
}

impl Cache {
    /// A cache for `a` (which [`Cache::takes`]) with inputs of at most `planes` spikes.
    pub fn new(a: &ConvArgs<'_, i8>, planes: u8) -> Self {
        let stride = (a.geom.in_c as usize * planes as usize + 16).clamp(16, SLOT);
        let st = (a.geom.stride as usize).max(1);
        // At least three rows (a strip of one) always fit: 9 · SLOT ≤ ENTRIES.
        let rows_fit = (ENTRIES / (3 * stride)).min(MAX_ROWS);
        let strip = ((rows_fit - 3) / st + 1).min(MAX_STRIP);
        Cache {
            planes,
            stride,
            strip,
            rows: (strip - 1) * st + 3,
            columns: [(usize::MAX, usize::MAX); 3],
            current: (usize::MAX, usize::MAX),
            xs: [(0, 0); 3],
            taps_x: 0,
            lens: [0; 3 * MAX_ROWS],
            entries: [0; ENTRIES + SLACK],
            gathered: [0; 9 * SLOT + SLACK],
        }
    }

    /// Whether [`spike_pixel_3x3`] takes `a` with inputs of at most `planes` spikes.
    pub fn takes(a: &ConvArgs<'_, i8>, planes: u8) -> bool {
        a.geom.kernel == 3 && a.geom.in_c as usize * planes as usize + 16 <= SLOT
    }

    /// Output rows per strip: [`spike_pixel_3x3`] takes the pixels of rows `top ..
    /// top + strip()` in any order.
    pub fn strip(&self) -> usize {
        self.strip
    }

    /// Prepares output column `ox` of the strip of output rows `strip` (at most
    /// [`Cache::strip`] rows): lists the input pixels of the columns it reads that are not
    /// listed yet for this strip. The cache was made for `a`, and `input` has no count
    /// above its `planes`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL.
    #[inline(always)]
    pub unsafe fn begin_column(
        &mut self,
        a: &ConvArgs<'_, i8>,
        input: &[u8],
        strip: Range<usize>,
        ox: usize,
    ) {
        let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
        let planes = self.planes;
        let (st, pad) = (a.geom.stride as usize, a.geom.pad as usize);
        let top = strip.start;
        self.current = (top, ox);
        self.taps_x = 0;
        // The lists' room was sized for `in_c · planes` in `new`: another `a` may not fit.
        if strip.is_empty()
            || input.len() < a.in_h * a.in_w * in_c
            || in_c * planes as usize + 16 > self.stride
        {
            return;
        }
        // Input rows the strip reads, as rows `0..` of the strip: `iy + pad − top·st`.
        let first = (top * st).saturating_sub(pad);
        let last = ((strip.end - 1) * st + 3).saturating_sub(pad).min(a.in_h);
        for kx in 0..3 {
            let Some(ix) = (ox * st + kx).checked_sub(pad).filter(|&x| x < a.in_w) else {
                continue;
            };
            let column = ix % 3;
            self.xs[self.taps_x] = (column, kx);
            self.taps_x += 1;
            if self.columns[column] == (top, ix) {
                continue;
            }
            self.columns[column] = (top, ix);
            for iy in first..last {
                let row = iy + pad - top * st;
                if row >= self.rows {
                    break;
                }
                let pixel = iy * a.in_w + ix;
                let px = &input[pixel * in_c..(pixel + 1) * in_c];
                let slot = row * 3 + column;
                let dst = &mut self.entries[slot * self.stride..(slot + 1) * self.stride];
                let mut len = 0;
                // SAFETY: the CPU has AVX-512 F/BW/VL (this function's contract). No limit
                // below the list's room: `in_c · planes + 16 ≤ stride` (checked above), so
                // every list fits.
                unsafe {
                    list_pixel(px, planes, 0, out_c, dst, &mut len, usize::MAX, &mut |_| {});
                }
                self.lens[slot] = len;
            }
        }
    }

    /// The lists `reads` (list, weight offset) as one list of offsets from the weights'
    /// start. Summing nine short lists one after the other cost a mispredicted branch at
    /// the end of each, more than this copy: 32 offsets per step, whole blocks (up to 31
    /// entries of slack past a list), so that short lists take no branch.
    #[inline(always)]
    fn gather(&mut self, reads: &[(usize, usize)]) -> &[u32] {
        let mut n = 0;
        let dst = self.gathered.as_mut_ptr();
        for &(slot, base) in reads.iter().take(9) {
            let slot = slot % (3 * MAX_ROWS);
            let len = self.lens[slot];
            // SAFETY: the CPU has AVX-512 F (this module's callers). List
            // `slot < 3 · rows` starts at `slot · stride` and holds `len ≤ stride − 16`
            // entries (`begin_column`), with `3 · rows · stride ≤ ENTRIES` (`new`): block `k`
            // (`32·k < max(len, 1)`) reads entries below `slot · stride + len + 32 ≤
            // ENTRIES + SLACK`. Writes go to `n + 32·k ..` below `n + len + 32`, where
            // `n + len ≤ 9 · (SLOT − 16)` (nine lists), inside `gathered`.
            unsafe {
                let src = self.entries.as_ptr().add(slot * self.stride);
                let add = _mm512_set1_epi32(base as i32);
                let mut k = 0;
                loop {
                    for h in [k, k + 16] {
                        let v = _mm512_loadu_si512(src.add(h) as *const _);
                        let v = _mm512_add_epi32(v, add);
                        _mm512_storeu_si512(dst.add(n + h) as *mut _, v);
                    }
                    k += 32;
                    if k >= len {
                        break;
                    }
                }
            }
            n += len;
        }
        &self.gathered[..n]
    }
}

/// [`crate::kernels::columns::spike_pixel`] for a 3×3 kernel and output pixel (`oy`, `ox`) of the strip
/// starting at output row `top` (`top ≤ oy < top + cache.strip()`), with the input
/// pixels' lists of `cache`, whose [`Cache::begin_column`] prepared column `ox` of that
/// strip. Returns `false` if no input spike reaches the pixel: every value is zero, and
/// `acc` is left as it was.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[inline(always)]
#[must_use]
pub(in crate::kernels) unsafe fn spike_pixel_3x3(
    cache: &mut Cache,
    a: &ConvArgs<'_, i8>,
    top: usize,
    oy: usize,
    ox: usize,
    acc: &mut [i32],
) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let (st, pad) = (a.geom.stride as usize, a.geom.pad as usize);
    let inside_strip = oy >= top && oy - top < cache.strip;
    if !crate::kernels::columns::fits(a)
        || acc.len() != out_c
        || a.geom.kernel != 3
        || !inside_strip
        || cache.current != (top, ox)
    {
        acc.fill(0);
        return true;
    }
    // Which list, and at what weight offset, each tap reads. Input row `iy` is row
    // `iy + pad − top·st < rows` of the strip.
    let mut reads = [(0usize, 0usize); 9];
    let mut n = 0;
    for ky in 0..3 {
        let Some(iy) = (oy * st + ky).checked_sub(pad).filter(|&y| y < a.in_h) else {
            continue;
        };
        let row = iy + pad - top * st;
        if row >= cache.rows {
            continue;
        }
        for &(column, kx) in &cache.xs[..cache.taps_x.min(3)] {
            reads[n] = (row * 3 + column, (ky * 3 + kx) * in_c * out_c);
            n += 1;
        }
    }
    let cols = cache.gather(&reads[..n]);
    if cols.is_empty() {
        return false;
    }
    add_columns(a.weights, cols, acc, true);
    true
}
