//! Fixed-point arithmetic of the integer contract.
//!
//! Every synaptic output channel has one affine map that folds BatchNorm, the weight scale,
//! biases and the 1/Norm factors: `y = ((acc · m + 2^(shift−1)) >> shift) + b`, with `y` in
//! units of `2^−frac` of the destination. The `fixed` crate types carry their fractional bits
//! in the type; here the converter picks the format per tensor at conversion time, so the
//! format is data and the arithmetic is written out.

use bytemuck::{Pod, Zeroable};

/// Per-output-channel requantization parameters, stored in the blob (12 bytes, little-endian).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Affine {
    pub multiplier: i32,
    pub bias: i32,
    pub shift: u8,
    pub _pad: [u8; 3],
}

/// Largest shift an [`Affine`] may use.
pub const MAX_SHIFT: u8 = 62;

impl Affine {
    pub const fn new(multiplier: i32, shift: u8, bias: i32) -> Self {
        Affine {
            multiplier,
            bias,
            shift,
            _pad: [0; 3],
        }
    }

    /// Applies the map. Overflow-free for `|acc| ≤ bound` when [`Affine::output_bound`] is finite.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i64 {
        let product = acc as i64 * self.multiplier as i64;
        rounding_shift(product, self.shift) + self.bias as i64
    }

    /// Largest `|y|` for `|acc| ≤ acc_bound`, or `None` if the product could overflow `i64`.
    pub fn output_bound(&self, acc_bound: u64) -> Option<u64> {
        if self.shift > MAX_SHIFT {
            return None;
        }
        let product = acc_bound.checked_mul(self.multiplier.unsigned_abs() as u64)?;
        // Leave room for the rounding term.
        if product > (i64::MAX as u64) / 2 {
            return None;
        }
        let shifted = (product >> self.shift) + 1;
        shifted.checked_add(self.bias.unsigned_abs() as u64)
    }
}

/// `round(v / 2^shift)`, ties away from... upward (`+2^(shift−1)` then arithmetic shift).
#[inline(always)]
pub fn rounding_shift(v: i64, shift: u8) -> i64 {
    if shift == 0 {
        v
    } else {
        (v + (1i64 << (shift - 1))) >> shift
    }
}

/// Spike count of a fixed-point value: `round_half_even(clamp(v / 2^frac, 0, d))`.
///
/// Matches `torch.round(torch.clamp(x, 0, D))` of the official MultiSpike.
#[inline(always)]
pub fn spike_count(v: i64, frac: u8, d: u8) -> u8 {
    if v <= 0 {
        return 0;
    }
    let q = v >> frac;
    if q >= d as i64 {
        return d;
    }
    let rounded = if frac == 0 {
        q
    } else {
        let rem = v & ((1i64 << frac) - 1);
        let half = 1i64 << (frac - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    rounded as u8
}

/// Spike count of `sum / den` (both exact integers, `den > 0`), rounded half to even.
#[inline]
pub fn spike_count_ratio(sum: i64, den: i64, d: u8) -> u8 {
    if sum <= 0 || den <= 0 {
        return 0;
    }
    let q = sum / den;
    if q >= d as i64 {
        return d;
    }
    let rem2 = 2 * (sum - q * den);
    let rounded = if rem2 > den || (rem2 == den && q & 1 == 1) {
        q + 1
    } else {
        q
    };
    rounded.min(d as i64) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_count_rounds_half_to_even_and_clamps() {
        let f = 4; // 1/16 units
        assert_eq!(spike_count(-5, f, 4), 0);
        assert_eq!(spike_count(8, f, 4), 0); // 0.5 → 0
        assert_eq!(spike_count(9, f, 4), 1);
        assert_eq!(spike_count(24, f, 4), 2); // 1.5 → 2
        assert_eq!(spike_count(40, f, 4), 2); // 2.5 → 2
        assert_eq!(spike_count(56, f, 4), 4); // 3.5 → 4
        assert_eq!(spike_count(1000, f, 4), 4);
        assert_eq!(spike_count(3, 0, 4), 3);
    }

    #[test]
    fn ratio_matches_fixed() {
        for sum in -50i64..200 {
            let a = spike_count_ratio(sum, 16, 4);
            let b = spike_count(sum, 4, 4);
            assert_eq!(a, b, "sum {sum}");
        }
        assert_eq!(spike_count_ratio(5, 2, 4), 2); // 2.5 → 2
        assert_eq!(spike_count_ratio(7, 2, 4), 4); // 3.5 → 4
    }

    #[test]
    fn affine_rounds_and_bounds() {
        let a = Affine::new(1 << 30, 31, 3); // ×0.5 + 3
        assert_eq!(a.apply(10), 8);
        assert_eq!(a.apply(-10), -2);
        assert!(a.output_bound(1 << 20).unwrap() >= (1 << 19) + 3);
        let huge = Affine::new(i32::MAX, 0, 0);
        assert_eq!(huge.output_bound(u64::MAX), None);
    }
}
