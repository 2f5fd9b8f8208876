//! The tiles written with AVX2 intrinsics: the compiler does not keep every tile width's
//! sums in registers on its own (odd widths such as 24 or 48 channels spill).

use core::arch::x86_64::*;

/// Sweeps the columns in tiles of up to 128 channels, the last one of any multiple of 8;
/// returns the number of channels done (the rest, below 8, is the caller's). Every
/// column lies inside `w`: `col + acc.len() ≤ w.len()`.
///
/// # Safety
/// The CPU has AVX2.
// Its own features (not only the entry's): it is called through the listing's flush
// closure, which the entry's features do not reach, and its tiles must inline into it.
#[target_feature(enable = "avx2")]
#[inline]
pub(in crate::kernels) unsafe fn add_columns(w: &[i8], cols: &[u32], acc: &mut [i32]) -> usize {
    let out_c = acc.len();
    let mut c = 0;
    while c + 128 <= out_c {
        tile::<8, false>(w, cols, c, &mut acc[c..c + 128]);
        c += 128;
    }
    let rest = (out_c - c) / 8 * 8;
    let a = &mut acc[c..c + rest];
    match rest / 8 {
        1 => tile::<0, true>(w, cols, c, a),
        2 => tile::<1, false>(w, cols, c, a),
        3 => tile::<1, true>(w, cols, c, a),
        4 => tile::<2, false>(w, cols, c, a),
        5 => tile::<2, true>(w, cols, c, a),
        6 => tile::<3, false>(w, cols, c, a),
        7 => tile::<3, true>(w, cols, c, a),
        8 => tile::<4, false>(w, cols, c, a),
        9 => tile::<4, true>(w, cols, c, a),
        10 => tile::<5, false>(w, cols, c, a),
        11 => tile::<5, true>(w, cols, c, a),
        12 => tile::<6, false>(w, cols, c, a),
        13 => tile::<6, true>(w, cols, c, a),
        14 => tile::<7, false>(w, cols, c, a),
        15 => tile::<7, true>(w, cols, c, a),
        _ => {}
    }
    c + rest
}

/// Channels `c..c + 16·R (+ 8 if H)` of every listed column, summed in `R` registers of
/// 16 `i16` lanes (and one of 8), then widened into `acc` (exactly that many values).
#[inline(always)]
fn tile<const R: usize, const H: bool>(w: &[i8], cols: &[u32], c: usize, acc: &mut [i32]) {
    let width = 16 * R + if H { 8 } else { 0 };
    if acc.len() != width {
        return;
    }
    let base = w.as_ptr();
    // SAFETY: the CPU has AVX2 (the caller of `add_columns`). Every load reads
    // `w[col + c .. col + c + width]`: the caller lists only columns with
    // `col + out_c ≤ w.len()` and `c + width ≤ out_c`, so each load is inside `w`.
    unsafe {
        let mut s = [_mm256_setzero_si256(); R];
        let mut h = _mm_setzero_si128();
        for &col in cols {
            let p = base.add(col as usize + c);
            for (r, x) in s.iter_mut().enumerate() {
                let v = _mm_loadu_si128(p.add(16 * r) as *const __m128i);
                *x = _mm256_add_epi16(*x, _mm256_cvtepi8_epi16(v));
            }
            if H {
                let v = _mm_loadl_epi64(p.add(16 * R) as *const __m128i);
                h = _mm_add_epi16(h, _mm_cvtepi8_epi16(v));
            }
        }
        let mut lanes = [0i16; 16];
        for (r, x) in s.iter().enumerate() {
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, *x);
            for (a, &l) in acc[16 * r..16 * r + 16].iter_mut().zip(&lanes) {
                *a = a.wrapping_add(l as i32);
            }
        }
        if H {
            _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, h);
            for (a, &l) in acc[16 * R..].iter_mut().zip(&lanes) {
                *a = a.wrapping_add(l as i32);
            }
        }
    }
}
