//! Spike lists kept across output pixels. A k×k convolution reads every input pixel from up
//! to k² output pixels, and listing a pixel's spikes (a compare per 16 channels, 9
//! instructions a spiking channel) costs about as much as summing its columns. So the output
//! pixels of a strip of rows go column by column, and each input pixel's list (offsets
//! `i · stride` of its spiking channels, once per spike) is kept while the strip's windows
//! read it: listed about `(strip + k − 1) / strip` times instead of k² times. An output
//! pixel then copies its taps' lists, each moved to its tap's columns, into the column list
//! that [`super::add_listed`] sums: the same columns in the same order, so the same sums.

use core::mem::MaybeUninit;

use super::{add_listed, asm, finish_list, Columns, Window, LIST, PART, UNROLLED};
use crate::kernels::conv::ConvArgs;
use crate::kernels::Weight;

/// Entries of the kept lists (16 KB).
const RING: usize = 4096;
/// Lists kept at most: the input rows of a strip times k.
const SLOTS: usize = 96;
/// Output rows of a strip at most.
const MAX_STRIP: usize = 4;
/// A slot holding no list.
const EMPTY: u32 = u32::MAX;

/// The kept lists of one strip of output rows (one convolution call).
pub(in crate::kernels) struct WindowLists {
    /// Left uninitialized (clearing 16 KB per layer cost more than a small layer's sums):
    /// only entries a listing wrote are read, through pointers.
    ring: [MaybeUninit<u32>; RING],
    /// Next free entry of `ring`.
    head: usize,
    /// Per slot (input row of the strip · k + input column mod k): the input pixel listed
    /// there, or [`EMPTY`], and where its list lies in `ring`.
    pixel: [u32; SLOTS],
    start: [u16; SLOTS],
    len: [u16; SLOTS],
    /// Output rows per strip.
    strip: usize,
    /// The strip's first input row (may be above the input: padding).
    row0: isize,
}

impl WindowLists {
    pub fn new() -> Self {
        WindowLists {
            ring: [MaybeUninit::uninit(); RING],
            head: 0,
            pixel: [EMPTY; SLOTS],
            start: [0; SLOTS],
            len: [0; SLOTS],
            strip: 1,
            row0: 0,
        }
    }

    /// Output rows per strip if this path takes `a` (a spike convolution with inputs of at
    /// most `max_count` spikes), else `None`: kernels of 2 to 7, counts up to [`UNROLLED`]
    /// (the listing writes no loop per spike), lists of at most half the ring, and column
    /// offsets that fit in `u32`.
    pub fn strip_rows<W: Weight>(&mut self, a: &ConvArgs<'_, W>, max_count: u8) -> Option<usize> {
        let g = &a.geom;
        let (k, s) = (g.kernel as usize, g.stride as usize);
        let size = core::mem::size_of::<W>();
        let columns = k * k * g.in_c as usize * g.out_c as usize * size;
        // `i8` weights into 8 or 16 channels add each spike straight into the sums
        // (`super::spike_pixel`), without a list.
        let narrow = size == 1 && matches!(g.out_c, 8 | 16);
        if g.depthwise
            || narrow
            || !(2..=7).contains(&k)
            || s == 0
            || usize::from(max_count) > UNROLLED
            || 4 * g.in_c as usize + 4 > RING / 2
            || u32::try_from(columns).is_err()
        {
            return None;
        }
        let strip = (1..=MAX_STRIP)
            .rev()
            .find(|&n| ((n - 1) * s + k) * k <= SLOTS)?;
        self.strip = strip;
        Some(strip)
    }

    /// Forgets every kept list: the strip from output row `top` on reads other input rows.
    pub fn begin_strip<W>(&mut self, a: &ConvArgs<'_, W>, top: usize) {
        self.pixel.fill(EMPTY);
        self.head = 0;
        self.row0 = (top * a.geom.stride as usize) as isize - a.geom.pad as isize;
    }

    /// Output pixel (oy, ox) of the strip begun at output row `top` ([`Self::begin_strip`])
    /// into `acc` (`out_c` values), listing the input pixels it reads that are not kept.
    /// `input` has no count above the `max_count` that [`Self::strip_rows`] took. Returns
    /// whether any input spike reaches the pixel (`false`: every value zero), or `None` (with
    /// `acc` unspecified) where the kept lists leave no room for a pixel's list or (oy, ox) is
    /// not in the strip: the caller computes the pixel another way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn pixel<W: Weight>(
        &mut self,
        cols: &mut Columns,
        a: &ConvArgs<'_, W>,
        input: &[u8],
        top: usize,
        oy: usize,
        ox: usize,
        acc: &mut [i32],
    ) -> Option<bool> {
        let g = &a.geom;
        let (in_c, out_c) = (g.in_c as usize, g.out_c as usize);
        let k = g.kernel as usize;
        let stride = out_c * core::mem::size_of::<W>();
        // Every listed column lies in `k·k·in_c` columns of `out_c` weights: these checks
        // cover the reads of the listing and of the sums below.
        if acc.len() != out_c
            || a.weights.len() < k * k * in_c * out_c
            || input.len() < a.in_h * a.in_w * in_c
            || oy < top
            || oy - top >= self.strip
        {
            return None;
        }
        acc.fill(0);
        let Window { y0, x0, ky, kx } = Window::of(a, oy, ox);
        let worst = 4 * in_c + 4;
        let list = &mut cols.0;
        let mut n = 0;
        // Whether columns were summed before the last part of the list.
        let mut summed = false;
        // The slot column of input column x0 + kx0 (one division per pixel, not per tap).
        let col0 = (x0 + kx.start).rem_euclid(k as isize) as usize;
        for ky in ky {
            let iy = y0 + ky;
            let row = usize::try_from(iy - self.row0)
                .ok()
                .filter(|r| (r + 1) * k <= SLOTS)?;
            let mut col = col0;
            for kx in kx.clone() {
                let ix = (x0 + kx) as usize;
                let pixel = iy as usize * a.in_w + ix;
                let slot = row * k + col;
                col = if col + 1 == k { 0 } else { col + 1 };
                if self.pixel[slot] != pixel as u32 {
                    if self.head + worst > RING {
                        self.compact(a.in_w, (y0, x0), k);
                        if self.head + worst > RING {
                            return None;
                        }
                    }
                    let at = self.head;
                    for g in (0..in_c).step_by(PART) {
                        let len = (in_c - g).min(PART);
                        // SAFETY: counts `g..g + len` of this input pixel lie in `input`
                        // (checked above), each at most `UNROLLED` = 4 (`strip_rows`);
                        // `self.head + 4·in_c + 4 ≤ RING` leaves room for every part. The
                        // offsets fit in `u32` (`strip_rows`).
                        let end = unsafe {
                            let px = input.as_ptr().add(pixel * in_c + g);
                            let dst = self.ring.as_mut_ptr().add(self.head) as *mut u32;
                            asm::list_pixel(px, len, (g * stride) as u32, stride as u32, dst)
                        };
                        self.head = (end as usize - self.ring.as_ptr() as usize) / 4;
                    }
                    self.pixel[slot] = pixel as u32;
                    self.start[slot] = at as u16;
                    self.len[slot] = (self.head - at) as u16;
                }
                // This tap's columns: its list moved by the tap's offset in the weights.
                let base = ((ky as usize * k + kx as usize) * in_c * stride) as u32;
                let (mut from, mut left) =
                    (usize::from(self.start[slot]), usize::from(self.len[slot]));
                while left > 0 {
                    if n == LIST {
                        // SAFETY: the listed columns lie inside the weights (checked above)
                        // and `acc` has `out_c` values.
                        unsafe { add_listed(a.weights, &list[..n], acc) };
                        (n, summed) = (0, true);
                    }
                    let take = left.min(LIST - n);
                    // SAFETY: entries `from..from + take` lie in the kept list inside `ring`,
                    // all written by its listing, and `n + take ≤ LIST`.
                    unsafe {
                        let src = self.ring.as_ptr().add(from) as *const u32;
                        asm::offset_copy(src, take, base, list.as_mut_ptr().add(n));
                    }
                    (n, from, left) = (n + take, from + take, left - take);
                }
            }
        }
        // SAFETY: as above.
        Some(unsafe { finish_list(a.weights, list, n, summed, acc) })
    }

    /// Moves the lists of the input pixels in the window at (y0, x0) to the front of the
    /// ring, in ring order, and forgets the others.
    #[cold]
    fn compact(&mut self, in_w: usize, (y0, x0): (isize, isize), k: usize) {
        let mut kept = [(0u16, 0u8); SLOTS];
        let mut m = 0;
        for slot in 0..SLOTS {
            let pixel = self.pixel[slot];
            if pixel == EMPTY {
                continue;
            }
            let (iy, ix) = (
                (pixel as usize / in_w) as isize,
                (pixel as usize % in_w) as isize,
            );
            let inside = (y0..y0 + k as isize).contains(&iy) && (x0..x0 + k as isize).contains(&ix);
            match inside {
                true => {
                    kept[m] = (self.start[slot], slot as u8);
                    m += 1;
                }
                false => self.pixel[slot] = EMPTY,
            }
        }
        let kept = &mut kept[..m];
        kept.sort_unstable();
        self.head = 0;
        for &(start, slot) in kept.iter() {
            let (from, len) = (usize::from(start), usize::from(self.len[usize::from(slot)]));
            // Lists ordered by start, moved down: `self.head ≤ from`, and `from + len` is
            // inside the ring (the list's own range).
            self.ring.copy_within(from..from + len, self.head);
            self.start[usize::from(slot)] = self.head as u16;
            self.head += len;
        }
    }
}
