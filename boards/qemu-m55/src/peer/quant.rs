//! Our per-channel affine maps as CMSIS-NN requantization parameters.
//!
//! A spike output is `round_half_even(clamp(((acc·m + 2^(s−1)) >> s) + b) / 2^f, 0, D))`, that
//! is `(acc + b·2^s/m) · m/2^(s+f)`. CMSIS-NN computes `requantize(acc + bias, M, S)` =
//! `(acc + bias) · M/2^31 · 2^S` rounded half up (once: it is built with
//! `CMSIS_NN_USE_SINGLE_ROUNDING`), then clamps to `[act_min, act_max]`: with
//! `bias = round(b·2^s/m)`, `M·2^(S−31) = m/2^(s+f)` and the clamp `[0, D]` the same spikes come
//! out up to the bias rounding and ties (so not bit for bit).

use sdt_core::fixed::Affine;

/// CMSIS-NN's `(bias, multiplier, shift)` for `a` with `frac` fractional output bits.
pub fn requant(a: &Affine, frac: u8) -> (i32, i32, i32) {
    let m = a.multiplier;
    if m == 0 {
        return (0, 0, 0);
    }
    let e = a.shift as i32 + frac as i32;
    // Normalise |m| into [2^30, 2^31): M = |m|·2^t, so M·2^(S−31) = |m|/2^e gives S = 31 − t − e.
    let t = m.unsigned_abs().leading_zeros() as i32 - 1;
    let mag = (m.unsigned_abs() << t) as i32;
    let shift = (31 - t - e).clamp(-31, 30);
    let bias = ((a.bias as i128) << a.shift) as f64 / m as f64;
    let bias = libm_round(bias).clamp(i32::MIN as f64, i32::MAX as f64) as i32;
    (bias, if m < 0 { -mag } else { mag }, shift)
}

/// `round` half away from zero without `std`.
fn libm_round(x: f64) -> f64 {
    let t = x as i64 as f64;
    let r = x - t;
    if r >= 0.5 {
        t + 1.0
    } else if r <= -0.5 {
        t - 1.0
    } else {
        t
    }
}
