//! Column sums in plain Rust: fixed-width tiles whose `i16` sums the compiler keeps in
//! vector registers.

/// Sweeps the listed columns in tiles of 64, 32, 16 and 8 channels; returns the number of
/// channels done (the rest, below 8, is the caller's).
#[inline(always)]
pub(in crate::kernels) fn add_columns(w: &[i8], cols: &[u32], acc: &mut [i32]) -> usize {
    let out_c = acc.len();
    let mut c = 0;
    while c + 64 <= out_c {
        tile::<64>(w, cols, c, &mut acc[c..c + 64]);
        c += 64;
    }
    for t in [32, 16, 8] {
        if c + t <= out_c {
            match t {
                32 => tile::<32>(w, cols, c, &mut acc[c..c + 32]),
                16 => tile::<16>(w, cols, c, &mut acc[c..c + 16]),
                _ => tile::<8>(w, cols, c, &mut acc[c..c + 8]),
            }
            c += t;
        }
    }
    c
}

/// Channels `c..c + T` of the listed columns, summed in `T` `i16` lanes that the compiler
/// keeps in vector registers (for `T` a power of two).
#[inline(always)]
fn tile<const T: usize>(w: &[i8], cols: &[u32], c: usize, acc: &mut [i32]) {
    let mut sums = [0i16; T];
    for &col in cols {
        let start = col as usize + c;
        let Some(Ok(v)) = w.get(start..start + T).map(<&[i8; T]>::try_from) else {
            continue;
        };
        for (x, &y) in sums.iter_mut().zip(v) {
            *x = x.wrapping_add(y as i16);
        }
    }
    for (a, &s) in acc.iter_mut().zip(&sums) {
        *a = a.wrapping_add(s as i32);
    }
}
