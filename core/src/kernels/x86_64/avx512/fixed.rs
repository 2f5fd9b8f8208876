//! The residual-stream sink with AVX-512: affine maps from split fields, 8 channels per
//! register.

use core::arch::x86_64::*;

use crate::kernels::output::{MapFields, MAX_FIELD_CHANNELS};

/// [`FixedSink::store`] from split fields: 8 channels per 64-bit register, the last ones
/// masked; the products, rounding shifts and saturations run in 64-bit lanes, as in
/// [`crate::fixed::Affine::apply`].
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[inline(always)]
pub(in crate::kernels) unsafe fn fixed(
    out: &mut [i32],
    acc: &[i32],
    f: &MapFields,
    accumulate: bool,
) {
    let n = out.len().min(acc.len()).min(f.channels);
    // SAFETY: the CPU has AVX-512 F/BW/VL (this function's contract). Step `j`
    // of `r = min(8, n − 8j)` channels reads `acc`, `out` and the four field arrays at
    // `8j .. 8j + r`, all below `n ≤ MAX_FIELD_CHANNELS` and the slices' lengths, through
    // masked accesses (masked-off lanes are not accessed), and writes `out` there.
    unsafe {
        for j in 0..n.div_ceil(8) {
            let k = (u16::MAX >> (16 - (n - 8 * j).min(8))) as __mmask8;
            let at = 8 * j;
            let field =
                |a: &[i64; MAX_FIELD_CHANNELS]| _mm512_maskz_loadu_epi64(k, a.as_ptr().add(at));
            let a = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, acc.as_ptr().add(at)));
            let s = field(&f.shift);
            let product = _mm512_mul_epi32(a, field(&f.multiplier));
            let shifted = _mm512_srav_epi64(_mm512_add_epi64(product, field(&f.round)), s);
            let mut y = _mm512_add_epi64(shifted, field(&f.bias));
            y = _mm512_max_epi64(y, _mm512_set1_epi64(i32::MIN as i64));
            y = _mm512_min_epi64(y, _mm512_set1_epi64(i32::MAX as i64));
            let o = out.as_mut_ptr().add(at);
            if accumulate {
                let old = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, o));
                y = _mm512_add_epi64(y, old);
            }
            _mm256_mask_storeu_epi32(o, k, _mm512_cvtsepi64_epi32(y));
        }
    }
}
