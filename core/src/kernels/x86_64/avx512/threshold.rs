//! Spike counts by threshold comparisons with AVX-512: 16 channels per register, one compare
//! and one masked add per level.

use core::arch::x86_64::*;

use crate::graph::MAX_D;
use crate::kernels::threshold::{value_level, Thresholds};

/// [`Thresholds::spikes`] for `acc` and `out` of exactly the table's channels.
///
/// # Safety
/// The CPU has AVX-512 F/BW.
#[inline(always)]
pub(in crate::kernels) unsafe fn spikes(tab: &Thresholds<'_>, acc: &[i32], out: &mut [u8]) {
    if acc.len() != tab.channels || out.len() != tab.channels {
        return;
    }
    // Four levels (the models' D) unrolled; others loop.
    match tab.d {
        4 => spikes_levels::<4>(tab, acc, out),
        _ => spikes_levels::<0>(tab, acc, out),
    }
}

/// [`Thresholds::spikes`] with `L` levels unrolled (`L = 0`: `tab.d` levels in a loop).
#[inline(always)]
fn spikes_levels<const L: usize>(tab: &Thresholds<'_>, acc: &[i32], out: &mut [u8]) {
    let n = acc.len();
    let levels = if L == 0 { tab.d } else { L };
    if levels != tab.d {
        return;
    }
    let block = (levels + 1) * 16;
    let table = tab.values.as_ptr();
    // SAFETY: the CPU has AVX-512 F/BW (the contract of `spikes`). `acc` and
    // `out` hold `n = tab.channels` values (the caller slices them); lanes of group `g`
    // at or above `n` are masked off and not accessed. Table reads stay below
    // `groups · block = Thresholds::len(n, levels) ≤ tab.values.len()` (every table's
    // promise, `levels == tab.d`).
    unsafe {
        for g in 0..n.div_ceil(16) {
            let m = super::masks::first16(n - 16 * g);
            let a = _mm512_maskz_loadu_epi32(m, acc.as_ptr().add(16 * g));
            let row = table.add(g * block);
            let s = _mm512_loadu_si512(row as *const _);
            let x = _mm512_sub_epi32(_mm512_xor_si512(a, s), s);
            let mut count = _mm512_setzero_si512();
            for t in 1..=levels {
                let th = _mm512_loadu_si512(row.add(16 * t) as *const _);
                // One more in the lanes that pass the threshold.
                let k = _mm512_cmpgt_epi32_mask(x, th);
                count = _mm512_mask_add_epi32(count, k, count, _mm512_set1_epi32(1));
            }
            _mm512_mask_cvtepi32_storeu_epi8(out.as_mut_ptr().add(16 * g) as *mut _, m, count);
        }
    }
}

/// [`crate::kernels::threshold::spike_values`] with one compare per level.
///
/// # Safety
/// The CPU has AVX-512 F/BW.
#[inline(always)]
pub(in crate::kernels) unsafe fn spike_values(values: &[i32], frac: u8, d: u8, out: &mut [u8]) {
    let n = values.len().min(out.len());
    let mut levels = [i32::MAX; MAX_D as usize];
    let d = d.min(MAX_D);
    for (t, l) in levels.iter_mut().enumerate().take(d as usize) {
        *l = value_level(frac, t as u8 + 1);
    }
    let mut done = 0;
    {
        // SAFETY: the CPU has AVX-512 F/BW (this function's contract). Each step reads 16 values at
        // `done + 16 ≤ n ≤ values.len()` and writes 16 bytes at `done + 16 ≤ n ≤ out.len()`.
        unsafe {
            while done + 16 <= n {
                let v = _mm512_loadu_si512(values.as_ptr().add(done) as *const _);
                let mut count = _mm512_setzero_si512();
                for &l in &levels[..d as usize] {
                    let k = _mm512_cmpgt_epi32_mask(v, _mm512_set1_epi32(l));
                    count = _mm512_mask_add_epi32(count, k, count, _mm512_set1_epi32(1));
                }
                _mm_storeu_si128(
                    out.as_mut_ptr().add(done) as *mut _,
                    _mm512_cvtepi32_epi8(count),
                );
                done += 16;
            }
        }
    }
    for (o, &v) in out[done..n].iter_mut().zip(&values[done..n]) {
        *o = levels[..d as usize].iter().map(|&l| (v > l) as u8).sum();
    }
}
