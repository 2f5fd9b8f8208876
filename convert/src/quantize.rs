//! Weight quantization and fixed-point formats.

use sdt_core::fixed::{Affine, MAX_SHIFT};
use sdt_core::graph::WeightBits;

/// Symmetric per-output-channel quantization of `rows` (one slice per output channel).
/// Returns the integer weights (same order) and each channel's scale.
pub fn quantize_rows(rows: &[&[f32]], bits: WeightBits) -> (Vec<Vec<i32>>, Vec<f64>) {
    let q_max = bits.max_magnitude() as f64;
    let mut ints = Vec::with_capacity(rows.len());
    let mut scales = Vec::with_capacity(rows.len());
    for row in rows {
        let max = row.iter().fold(0f64, |m, &w| m.max((w as f64).abs()));
        let scale = if max > 0.0 { max / q_max } else { 1.0 };
        ints.push(
            row.iter()
                .map(|&w| ((w as f64 / scale).round_ties_even()).clamp(-q_max, q_max) as i32)
                .collect(),
        );
        scales.push(scale);
    }
    (ints, scales)
}

/// The affine map `y ≈ acc · factor + offset`, with `factor` and `offset` already in units
/// of the destination's fixed point. `None` if the factor is too large for an `i32` multiplier.
pub fn affine(factor: f64, offset: f64) -> Option<Affine> {
    let bias = offset.round();
    if !bias.is_finite() || bias.abs() > i32::MAX as f64 || !factor.is_finite() {
        return None;
    }
    let bias = bias as i32;
    if factor == 0.0 {
        return Some(Affine::new(0, 0, bias));
    }
    // factor = mantissa · 2^exp with |mantissa| in [0.5, 1).
    let mut exp = factor.abs().log2().floor() as i32 + 1;
    let mut mantissa = (factor / 2f64.powi(exp) * 2f64.powi(31)).round() as i64;
    if mantissa.abs() >= 1 << 31 {
        mantissa /= 2;
        exp += 1;
    }
    let shift = 31 - exp;
    if shift < 0 {
        return None;
    }
    if shift > MAX_SHIFT as i32 {
        let m = (factor * 2f64.powi(MAX_SHIFT as i32)).round() as i32;
        return Some(Affine::new(m, MAX_SHIFT, bias));
    }
    Some(Affine::new(mantissa as i32, shift as u8, bias))
}

/// Most fractional bits (≤ `cap`) such that real values up to `bound` fit in `limit`.
pub fn frac_bits_for(bound: f64, limit: f64, cap: u8) -> Option<u8> {
    let headroom = limit / (bound * 1.01 + 1.0);
    if headroom < 1.0 {
        return None;
    }
    Some((headroom.log2().floor() as i64).clamp(0, cap as i64) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_matches_real_map() {
        for &(f, o) in &[(0.37, 12.0), (-3.2e-4, -7.0), (1234.5, 0.0), (1e-22, 5.0)] {
            let a = affine(f, o).unwrap();
            for acc in [-100_000, -7, 0, 3, 99_999] {
                let exact = acc as f64 * f + o;
                let got = a.apply(acc) as f64;
                assert!(
                    (got - exact).abs() <= 1.0 + exact.abs() * 1e-8,
                    "{f} {o} {acc}: {got} vs {exact}"
                );
            }
        }
        assert!(affine(3e9, 0.0).is_none());
    }

    #[test]
    fn quantizes_per_channel() {
        let rows: [&[f32]; 2] = [&[0.5, -1.0, 0.25], &[0.0, 0.0, 0.0]];
        let (q, s) = quantize_rows(&rows, WeightBits::I8);
        assert_eq!(q[0], vec![64, -127, 32]);
        assert_eq!(q[1], vec![0, 0, 0]);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-12);
    }
}
