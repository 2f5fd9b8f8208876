//! Spike-driven kernels shaped for Helium (Armv8.1-M MVE, Cortex-M55), built with the `helium`
//! feature and `-C target-cpu=cortex-m55`. Same integers as the scalar kernels:
//!
//! - A convolution output pixel first lists the weight columns its input spikes reach (a count
//!   `s` lists its column `s` times: still one addition per binary spike), then sweeps that list
//!   once per tile of output channels, with the tile's running sums in vector registers.
//! - With `i8` weights the sums of a tile are `i16` lanes (8 per register, twice the lanes of
//!   `i32`): at most [`CHUNK`] columns are summed before widening into the `i32` accumulators,
//!   so `|sum| ≤ 255·128 < 2^15` never wraps and the result equals the scalar `i32` sums.

use core::ops::Range;

use super::conv::ConvArgs;
use super::Weight;

mod asm;
mod encode;
mod lists;
pub(super) mod sink;

pub(super) use encode::encode_rows;
pub(super) use lists::WindowLists;

/// Columns summed in `i16` lanes before they are widened (`255 · 128 < 2^15`).
pub const CHUNK: usize = 255;

/// Counts up to this many are listed without a loop per spike.
const UNROLLED: usize = 4;

/// Entries of the column list (4 KB): summed [`CHUNK`] at a time.
const LIST: usize = 1024;

/// Input channels listed at once ([`asm::list_pixel`] writes up to `4·PART + 4` entries).
const PART: usize = (LIST - 4) / 4;

/// Column offsets of one list, reused across pixels (so it is not cleared per pixel).
pub(super) struct Columns([u32; LIST]);

impl Columns {
    pub fn new() -> Self {
        Columns([0; LIST])
    }
}

/// One output pixel of a (non-depthwise) spike convolution into `acc` (`out_c` values).
/// `max_count` bounds every count in `input` ([`max_count`]): up to [`UNROLLED`], each input
/// pixel's counts are listed by one asm loop ([`asm::list_pixel`]). Returns `false` where it
/// found that no input spike reaches the pixel (every value zero).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn spike_pixel<W: Weight>(
    cols: &mut Columns,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    max_count: u8,
    oy: usize,
    ox: usize,
    active: &mut [u16],
    acc: &mut [i32],
) -> bool {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let k = a.geom.kernel as usize;
    acc.fill(0);
    // Every listed column lies in `k·k·in_c` columns of `out_c` weights: one check here
    // covers all the vector loads below.
    if acc.len() != out_c
        || a.weights.len() < k * k * in_c * out_c
        || input.len() < a.in_h * a.in_w * in_c
    {
        return true;
    }
    let size = core::mem::size_of::<W>();
    if size == 1 && (out_c == 8 || out_c == 16) {
        // Narrow outputs: every spike adds straight into `acc` (no column list).
        let w0 = a.weights.as_ptr() as *const i8;
        let out = acc.as_mut_ptr();
        for_taps(a, oy, ox, |pixel, tap| {
            let px = &input[pixel * in_c..(pixel + 1) * in_c];
            let mut g = 0;
            while g < in_c {
                let len = (in_c - g).min(16);
                // SAFETY: `len` counts at `px + g`; columns `g..g + len` of this tap are
                // inside the weights (checked above); `acc` has `out_c` values.
                unsafe {
                    let (p, w) = (px.as_ptr().add(g), w0.add((tap * in_c + g) * out_c));
                    if out_c == 8 {
                        asm::tap_mask8_i8(p, len, w, out);
                    } else {
                        asm::tap_mask16_i8(p, len, w, out);
                    }
                }
                g += 16;
            }
        });
        return true;
    }
    let cols = &mut cols.0;
    let mut n = 0;
    // Whether columns were summed before the last part of the list.
    let mut summed = false;
    let _ = active; // The scalar listing's buffer: the vector compare lists instead.
    let stride = out_c * size;
    if usize::from(max_count) <= UNROLLED {
        for_taps(a, oy, ox, |pixel, tap| {
            let base = tap * in_c * stride;
            // Parts of at most PART channels, so that one part's list always fits.
            let mut g = 0;
            while g < in_c {
                let len = (in_c - g).min(PART);
                if n + 4 * len + 4 > LIST {
                    // SAFETY: as below.
                    unsafe { add_listed(a.weights, &cols[..n], acc) };
                    (n, summed) = (0, true);
                }
                // SAFETY: counts `g..g + len` are inside the pixel's `in_c` counts of
                // `input` (`for_taps` yields pixels of the input), each at most `UNROLLED`
                // = 4; `n + 4·len + 4 ≤ LIST` slots are free. Column offsets lie in the
                // weights (checked above), so they fit in `u32`.
                let end = unsafe {
                    let px = input.as_ptr().add(pixel * in_c + g);
                    let col0 = (base + g * stride) as u32;
                    asm::list_pixel(px, len, col0, stride as u32, cols.as_mut_ptr().add(n))
                };
                n = (end as usize - cols.as_ptr() as usize) / 4;
                g += len;
            }
        });
    } else {
        for_taps(a, oy, ox, |pixel, tap| {
            let px = &input[pixel * in_c..(pixel + 1) * in_c];
            let base = tap * in_c * stride;
            for (i, &s) in px.iter().enumerate().filter(|(_, &s)| s > 0) {
                let (col, s) = ((base + i * stride) as u32, usize::from(s));
                if s <= UNROLLED {
                    if n + UNROLLED > LIST {
                        // SAFETY: as below.
                        unsafe { add_listed(a.weights, &cols[..n], acc) };
                        (n, summed) = (0, true);
                    }
                    // Writes all UNROLLED slots, keeps `s` of them (no loop per spike).
                    cols[n..n + UNROLLED].fill(col);
                    n += s;
                    continue;
                }
                for _ in 0..s {
                    if n == LIST {
                        // SAFETY: as below.
                        unsafe { add_listed(a.weights, &cols[..n], acc) };
                        (n, summed) = (0, true);
                    }
                    cols[n] = col;
                    n += 1;
                }
            }
        });
    }
    // SAFETY: every listed column lies in `k·k·in_c` columns of `out_c` weights (checked
    // above) and `acc` has `out_c` values.
    unsafe { finish_list(a.weights, cols, n, summed, acc) }
}

/// Sums the rest of a pixel's column list (the first `n` of `cols`) into `acc`. Returns
/// whether any input spike reached the pixel: columns were `summed` before, or some are left.
///
/// # Safety
/// As [`add_columns`], for `cols[..n]`.
#[inline(always)]
unsafe fn finish_list<W: Weight>(
    w: &[W],
    cols: &[u32],
    n: usize,
    summed: bool,
    acc: &mut [i32],
) -> bool {
    if n > 0 {
        // SAFETY: the caller's guarantee.
        unsafe { add_listed(w, &cols[..n], acc) };
    }
    summed || n > 0
}

/// [`add_columns`] over a list of any length, [`CHUNK`] columns at a time.
///
/// # Safety
/// As [`add_columns`].
// Not inlined: its tiles are long asm blocks, and a copy at every call site cost more code
// than the call costs time (one call per pixel or chunk of columns).
#[inline(never)]
unsafe fn add_listed<W: Weight>(w: &[W], cols: &[u32], acc: &mut [i32]) {
    for chunk in cols.chunks(CHUNK) {
        // SAFETY: the caller's guarantee, for a part of its list.
        unsafe { add_columns(w, chunk, acc) };
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
            if c + 24 == out_c {
                asm::tile24_i8(b.add(c), list, n, out.add(c));
                c += 24;
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
    if c == out_c {
        return;
    }
    let size = core::mem::size_of::<W>();
    for &col in cols {
        let col = col as usize / size;
        for (a, &v) in acc[c..].iter_mut().zip(&w[col + c..col + out_c]) {
            *a = a.wrapping_add(v.into());
        }
    }
}

/// The window of output pixel (oy, ox) clipped to the input: its top-left input position
/// (`y0`, `x0`, possibly outside) and the kernel rows `ky` and columns `kx` inside the input.
pub(super) struct Window {
    pub y0: isize,
    pub x0: isize,
    pub ky: Range<isize>,
    pub kx: Range<isize>,
}

impl Window {
    #[inline(always)]
    pub fn of<W>(a: &ConvArgs<'_, W>, oy: usize, ox: usize) -> Self {
        let g = &a.geom;
        let (k, s, p) = (g.kernel as isize, g.stride as isize, g.pad as isize);
        let (y0, x0) = (oy as isize * s - p, ox as isize * s - p);
        let (in_h, in_w) = (a.in_h as isize, a.in_w as isize);
        Window {
            y0,
            x0,
            ky: (-y0).clamp(0, k)..(in_h - y0).clamp(0, k),
            kx: (-x0).clamp(0, k)..(in_w - x0).clamp(0, k),
        }
    }
}

/// Calls `f(input pixel, kernel tap)` for the taps of output pixel (oy, ox) that fall inside
/// the input, in tap order (the pairs of `ConvArgs::taps`): the window is clipped once per
/// pixel instead of testing every tap.
#[inline(always)]
fn for_taps<W>(a: &ConvArgs<'_, W>, oy: usize, ox: usize, mut f: impl FnMut(usize, usize)) {
    let (k, in_w) = (a.geom.kernel as isize, a.in_w as isize);
    let w = Window::of(a, oy, ox);
    for ky in w.ky {
        let row = (w.y0 + ky) * in_w + w.x0;
        for kx in w.kx.clone() {
            f((row + kx) as usize, (ky * k + kx) as usize);
        }
    }
}

/// Most channels [`for_each_channel_spike`] lists at once.
const SPIKE_CHANNELS: usize = 64;

/// Calls `add(i)` once per binary spike of channel `i` of `counts` (a head of attention `q`
/// or `k`), and returns `true`; or returns `false` (calling nothing) where a count is above
/// [`UNROLLED`] or there are more than [`SPIKE_CHANNELS`] channels. One vector max finds heads
/// without spikes (most of them at low firing); the others are listed by [`asm::list_pixel`].
#[inline(always)]
pub(super) fn for_each_channel_spike(counts: &[u8], mut add: impl FnMut(usize)) -> bool {
    let len = counts.len();
    if len > SPIKE_CHANNELS {
        return false;
    }
    match usize::from(max_count(counts)) {
        0 => return true,
        m if m > UNROLLED => return false,
        _ => {}
    }
    let mut list = core::mem::MaybeUninit::<[u32; 4 * SPIKE_CHANNELS + 4]>::uninit();
    let first = list.as_mut_ptr() as *mut u32;
    // SAFETY: `1 ≤ len ≤ SPIKE_CHANNELS` counts, each at most `UNROLLED` = 4, and room for
    // `4·len + 4` entries; channel `i`'s entry is `0 + i · 1`.
    let end = unsafe { asm::list_pixel(counts.as_ptr(), len, 0, 1, first) };
    let n = (end as usize - first as usize) / 4;
    // SAFETY: the listing wrote every entry below its end (each spiking channel writes 4 from
    // the end, which then advances by its count, at most 4).
    let listed = unsafe { core::slice::from_raw_parts(first as *const u32, n) };
    for &i in listed {
        add(i as usize);
    }
    true
}

/// Most kernel taps of a depthwise convolution the vector path lists (`k ≤ 8`).
const MAX_TAPS: usize = 64;

/// The largest count in `input` (a depthwise layer's spikes), read 16 at a time.
pub(super) fn max_count(input: &[u8]) -> u8 {
    let whole = input.len() / 16 * 16;
    let tail = input[whole..].iter().copied().max().unwrap_or(0);
    if whole == 0 {
        return tail;
    }
    // SAFETY: `whole` is a non-zero multiple of 16 and at most `input.len()`.
    unsafe { asm::max_u8(input.as_ptr(), whole) }.max(tail)
}

/// One output pixel of a spike-driven depthwise convolution into `acc` (`out_c` values):
/// binary spike planes as predicated vector adds over 16 channels at a time (see
/// [`asm::depthwise16_i8`]). `max_count` bounds every count in `input` ([`max_count`]): when
/// all `k²` taps together cannot pass 255 planes, the adds run without the per-tap count
/// check. Returns `false` (doing nothing) unless the weights are `i8`, the channels a multiple
/// of 16 and the kernel at most 8×8.
#[inline(always)]
pub(super) fn depthwise_pixel<W: Weight>(
    cols: &mut Columns,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    max_count: u8,
    oy: usize,
    ox: usize,
    acc: &mut [i32],
) -> bool {
    let c = a.geom.out_c as usize;
    let k = a.geom.kernel as usize;
    if core::mem::size_of::<W>() != 1
        || !c.is_multiple_of(16)
        || k * k > MAX_TAPS
        || acc.len() != c
        || a.weights.len() < k * k * c
        || input.len() < a.in_h * a.in_w * c
    {
        return false;
    }
    acc.fill(0);
    // The tap list reuses the column buffer (`2 · MAX_TAPS ≤ CHUNK`), so nothing is cleared
    // per pixel.
    let list: &mut [[u32; 2]] = bytemuck::cast_slice_mut(&mut cols.0[..2 * MAX_TAPS]);
    let mut n = 0;
    let (inp, w) = (input.as_ptr(), a.weights.as_ptr() as *const u8);
    for_taps(a, oy, ox, |pixel, tap| {
        // Addresses on a 32-bit target; every pixel and tap is inside `input` and the
        // weights (checked above), and there are at most `k² ≤ MAX_TAPS` taps.
        if let Some(slot) = list.get_mut(n) {
            *slot = [
                inp.wrapping_add(pixel * c) as u32,
                w.wrapping_add(tap * c) as u32,
            ];
            n += 1;
        }
    });
    let unchecked = n * usize::from(max_count) <= CHUNK;
    let mut g = 0;
    while g < c && n > 0 {
        let mut done = 0;
        while done < n {
            let (pairs, out) = (list[done..].as_ptr(), acc[g..].as_mut_ptr());
            // SAFETY: `list[done..n]` holds `n - done ≥ 1` pairs of pixel and tap addresses
            // with `c` channels each, `g + 16 ≤ c`, and `acc` has `c` values; unchecked, the
            // `n` taps' counts (each at most `max_count`) sum to at most `CHUNK` = 255.
            let left = unsafe {
                if unchecked {
                    asm::depthwise16_i8::<false>(pairs, n - done, g, out)
                } else {
                    asm::depthwise16_i8::<true>(pairs, n - done, g, out)
                }
            };
            done = n - left;
        }
        g += 16;
    }
    true
}

/// Most channels of a depthwise layer whose output pixels are computed in pairs.
pub const PAIR_CHANNELS: usize = 1024;

/// The accumulators of the second pixel of a pair ([`depthwise_pair`]).
pub(super) struct NextPixel(pub [i32; PAIR_CHANNELS]);

impl NextPixel {
    pub fn new() -> Self {
        NextPixel([0; PAIR_CHANNELS])
    }
}

/// Output pixels (oy, ox) and (oy, ox + 1) of a stride-1 spike-driven depthwise convolution
/// into `acc` and `next` (`out_c` values each): an input pixel both windows read has its
/// counts loaded and their largest taken once for both (see [`asm::depthwise_pair16_i8`]),
/// about 7.5 + 6·planes instructions per tap of a pixel instead of 11 + 6·planes. Returns
/// `false` (doing nothing) where [`depthwise_pixel`] would, for other strides, where ox + 1 is
/// not an output, or where a pixel's planes could pass 255 (the single path counts them).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn depthwise_pair<W: Weight>(
    cols: &mut Columns,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    max_count: u8,
    oy: usize,
    ox: usize,
    acc: &mut [i32],
    next: &mut NextPixel,
) -> bool {
    let g = &a.geom;
    let (c, k, p) = (g.out_c as usize, g.kernel as usize, g.pad as isize);
    if core::mem::size_of::<W>() != 1
        || g.stride != 1
        || !c.is_multiple_of(16)
        || c > PAIR_CHANNELS
        || k * k > MAX_TAPS
        || k * k * usize::from(max_count) > CHUNK
        || ox + 1 >= a.out_w
        || acc.len() != c
        || a.weights.len() < k * k * c
        || input.len() < a.in_h * a.in_w * c
    {
        return false;
    }
    // Every group of 16 channels is stored once by the asm: nothing to clear.
    let next = &mut next.0[..c];
    let (y0, x0) = (oy as isize - p, ox as isize - p);
    let (in_h, in_w) = (a.in_h as isize, a.in_w as isize);
    // Rows of the windows inside the input; columns `x0 + j`, `j` in 0..=k: A reads j < k,
    // B reads j ≥ 1, so j = 0 is A's alone, j = k B's alone, the others both windows'.
    let (ky0, ky1) = ((-y0).clamp(0, k as isize), (in_h - y0).clamp(0, k as isize));
    let (j0, j1) = (
        (-x0).clamp(0, k as isize + 1),
        (in_w - x0).clamp(0, k as isize + 1),
    );
    let rows = (ky1 - ky0).max(0) as usize;
    let (j0, j1) = (j0 as usize, (j1 as usize).max(j0 as usize));
    let only_a = usize::from(j0 == 0 && j1 > 0) * rows;
    let only_b = usize::from(j1 == k + 1 && j0 <= k) * rows;
    let both = (j1.min(k).saturating_sub(j0.max(1))) * rows;
    let words = 2 * only_a + 3 * both + 2 * only_b;
    if words == 0 || words > CHUNK {
        return false;
    }
    // Addresses on a 32-bit target: every pixel read is inside `input` and every tap inside
    // the weights (checked above). Columns and taps step by `c` bytes along a row.
    let (inp, w, step) = (input.as_ptr() as u32, a.weights.as_ptr() as u32, c as u32);
    let first_both = j0.max(1);
    let (mut at_a, mut at_both, mut at_b) = (0, 2 * only_a, 2 * only_a + 3 * both);
    let per_row = both / rows.max(1);
    let list = &mut cols.0;
    for ky in ky0 as usize..ky1 as usize {
        // Column j = 0 of this row and tap kx = 0.
        let pixel0 = inp.wrapping_add((((y0 + ky as isize) * in_w + x0) as u32).wrapping_mul(step));
        let tap0 = w + (ky * k) as u32 * step;
        if only_a > 0 {
            list[at_a..at_a + 2].copy_from_slice(&[pixel0, tap0]);
            at_a += 2;
        }
        if only_b > 0 {
            let last = k as u32 * step;
            list[at_b..at_b + 2].copy_from_slice(&[pixel0.wrapping_add(last), tap0 + last - step]);
            at_b += 2;
        }
        let skip = first_both as u32 * step;
        let (mut pixel, mut tap) = (pixel0.wrapping_add(skip), tap0 + skip);
        for slot in list[at_both..at_both + 3 * per_row].chunks_exact_mut(3) {
            slot.copy_from_slice(&[pixel, tap, tap - step]);
            pixel = pixel.wrapping_add(step);
            tap += step;
        }
        at_both += 3 * per_row;
    }
    let mut scratch = core::mem::MaybeUninit::<[i16; 32]>::uninit();
    let mut g = 0;
    while g < c {
        let args = [
            only_a,
            both,
            only_b,
            acc[g..].as_mut_ptr() as usize,
            next[g..].as_mut_ptr() as usize,
            scratch.as_mut_ptr() as usize,
        ];
        // SAFETY: the list holds `2·only_a + 3·both + 2·only_b` addresses of pixels and taps
        // inside `input` and the weights, each with `c ≥ g + 16` channels; `acc` and `next`
        // have `c` values; each pixel has at most `k²` taps whose counts (at most `max_count`)
        // sum to at most `CHUNK` = 255; the scratch takes 32 `i16`s, written before read.
        unsafe { asm::depthwise_pair16_i8(list.as_ptr(), g, &args) };
        g += 16;
    }
    true
}
