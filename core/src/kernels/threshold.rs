//! Spike counts as threshold comparisons.
//!
//! A layer's affine map `y = ((acc · m + r) >> s) + b` is monotone in the accumulator (rising
//! for `m > 0`, falling for `m < 0`), and so is `round_half_even(clamp(y / 2^frac, 0, D))`.
//! So "count ≥ t" holds exactly when the accumulator passes one integer threshold per level
//! `t`, and the count is the number of thresholds passed: `D` compares of `i32` values instead
//! of a 64-bit multiply, a shift and a rounding per value. This is the comparison a
//! neuromorphic neuron makes against its firing thresholds; the integers equal the affine
//! map's (`spike_of` in `output.rs`, tested against it below and end to end against the dense
//! reference kernel, which keeps the affine map).
//!
//! With `x = acc` for `m ≥ 0` and `x = −acc` for `m < 0` (no overflow: the accumulator bound
//! proven at load is `|acc| ≤ i32::MAX`), `count ≥ t ⟺ x > θ_t`, where `θ_t` may be
//! `i32::MIN` (always) or `i32::MAX` (never) and stays exact for every `x` in
//! `[−i32::MAX, i32::MAX]`.

use super::level::Level;
use crate::fixed::{Affine, MAX_SHIFT};
use crate::graph::MAX_D;

/// Table capacity in `i32` values: `(D + 1) · 16 · ⌈channels / 16⌉` must fit. The table
/// lives on the stack of the layer that fills it: 32 KB on hosts, 20 KB with Helium (`D = 4`
/// up to 1024 channels: SDT-10M's widest layers have 960), 16 KB on other microcontrollers
/// (816 channels). Wider layers keep the affine map.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub const CAPACITY: usize = 8192;
#[cfg(all(
    feature = "helium",
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
pub const CAPACITY: usize = 5120;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", feature = "helium")))]
pub const CAPACITY: usize = 4096;

/// Largest fractional bits the thresholds take (the model allows 40 on spike outputs).
const MAX_FRAC: u8 = 62;

/// Per-channel spike thresholds of one layer. Per group of 16 channels: the sign masks
/// (`0`, or `−1` where `m < 0`), then `D` rows of thresholds, 16 lanes each.
pub struct Thresholds {
    pub(super) values: [i32; CAPACITY],
    pub(super) channels: usize,
    pub(super) d: usize,
}

impl Thresholds {
    pub const fn empty() -> Self {
        Thresholds {
            values: [0; CAPACITY],
            channels: 0,
            d: 0,
        }
    }

    /// Fills the table for `affine` (one map per output channel) with spikes of `frac`
    /// fractional bits and `d` levels. Returns `false` (table unusable) if it does not fit or
    /// a parameter lies outside what the model admits.
    pub fn fill(&mut self, affine: &[Affine], frac: u8, d: u8) -> bool {
        self.channels = 0;
        let groups = affine.len().div_ceil(16);
        let block = (d as usize + 1) * 16;
        if d == 0 || d > MAX_D || frac > MAX_FRAC || groups * block > CAPACITY {
            return false;
        }
        if affine.iter().any(|p| p.shift > MAX_SHIFT) {
            return false;
        }
        for (c, p) in affine.iter().enumerate() {
            let at = (c / 16) * block + c % 16;
            self.values[at] = if p.multiplier < 0 { -1 } else { 0 };
            for t in 1..=d {
                self.values[at + 16 * t as usize] = level(p, frac, t);
            }
        }
        // Padding lanes of the last group: sign 0, never passed.
        for c in affine.len()..groups * 16 {
            let at = (c / 16) * block + c % 16;
            self.values[at] = 0;
            for t in 1..=d as usize {
                self.values[at + 16 * t] = i32::MAX;
            }
        }
        self.channels = affine.len();
        self.d = d as usize;
        true
    }

    /// Number of channels the table holds (0 if unusable).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Spike count of channel `c` for accumulator `acc` (`|acc| ≤ i32::MAX`).
    #[inline(always)]
    pub fn count(&self, c: usize, acc: i32) -> u8 {
        let block = (self.d + 1) * 16;
        let at = (c / 16) * block + c % 16;
        let s = self.values[at];
        let x = (acc ^ s).wrapping_sub(s);
        (1..=self.d)
            .map(|t| (x > self.values[at + 16 * t]) as u8)
            .sum()
    }

    /// Spike counts of one pixel: `out[c]` for `acc[c]`, every channel of the table, with
    /// the kernels of `level`.
    #[inline]
    pub fn spikes(&self, level: Level, acc: &[i32], out: &mut [u8]) {
        let n = self.channels;
        if acc.len() < n || out.len() < n {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if level.uses(Level::Avx512) {
            // SAFETY: `uses` checked that the CPU has AVX-512.
            return unsafe { super::x86_64::spikes_avx512(self, &acc[..n], &mut out[..n]) };
        }
        let _ = level;
        #[cfg(feature = "helium")]
        let done = super::helium::sink::threshold_spikes(self, &acc[..n], &mut out[..n]);
        #[cfg(not(feature = "helium"))]
        let done = 0;
        for (c, (o, &a)) in out[done..n].iter_mut().zip(&acc[done..]).enumerate() {
            *o = self.count(done + c, a);
        }
    }
}

/// Spike counts of fixed-point values (`frac` fractional bits, `d` levels), as
/// `round_half_even(clamp(v / 2^frac, 0, d))`: with AVX-512, one compare per level with
/// thresholds; with Helium, a vector rounding shift and clamp; elsewhere the reference map.
pub fn spike_values(level: Level, values: &[i32], frac: u8, d: u8, out: &mut [u8]) {
    let n = values.len().min(out.len());
    #[cfg(target_arch = "x86_64")]
    if level.uses(Level::Avx512) {
        // SAFETY: `uses` checked that the CPU has AVX-512.
        return unsafe { super::x86_64::spike_values_avx512(&values[..n], frac, d, &mut out[..n]) };
    }
    let _ = level;
    #[cfg(feature = "helium")]
    if super::helium::sink::spike_values(&values[..n], frac, d, &mut out[..n]) {
        return;
    }
    for (o, &v) in out[..n].iter_mut().zip(values) {
        *o = crate::fixed::spike_count(v as i64, frac, d);
    }
}

/// `θ` with `count ≥ t ⟺ x > θ` for channel map `p` (`x = acc`, or `−acc` if `m < 0`).
fn level(p: &Affine, frac: u8, t: u8) -> i32 {
    match level_i64(p, frac, t) {
        Some(theta) => theta,
        None => level_i128(p, frac, t),
    }
}

/// [`level`] in `i64` arithmetic, or `None` where a term could leave `i64` (fractional bits or
/// a shift above 40, or a product that overflows). Converted models stay in `i64`; `i128`
/// shifts, products and clamps are library calls on 32-bit cores, and a table runs this `D`
/// times per channel every time its layer runs.
fn level_i64(p: &Affine, frac: u8, t: u8) -> Option<i32> {
    let (f, s, t) = (frac as u32, p.shift as u32, t as i64);
    if f > 40 || s > 40 {
        return None;
    }
    // As in `level_i128`; `t ≤ 15` and `f ≤ 40` keep `y_min` below 2^44.
    let y_min = match f {
        0 => t,
        _ => (t << f) - (1i64 << (f - 1)) + ((t - 1) % 2 == 0) as i64,
    };
    let diff = y_min - p.bias as i64;
    let need = diff.checked_mul(1i64 << s)?.checked_sub((1i64 << s) >> 1)?;
    const REACH: i64 = 1 << 62;
    let m = p.multiplier as i64;
    let theta = if need > REACH {
        i64::MAX
    } else if need < -REACH {
        i64::MIN
    } else {
        match m.signum() {
            1 => -((-need).div_euclid(m)) - 1,
            -1 => -((-need).div_euclid(-m)) - 1,
            _ if need <= 0 => i64::MIN,
            _ => i64::MAX,
        }
    };
    Some(theta.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
}

/// [`level`] for every map a model admits (`frac`, `shift ≤ 62`), in `i128`.
fn level_i128(p: &Affine, frac: u8, t: u8) -> i32 {
    let (f, t) = (frac as u32, t as i128);
    // Smallest y (in 2^−frac units) that rounds half to even to at least t.
    let y_min = if f == 0 {
        t
    } else {
        (t << f) - (1i128 << (f - 1)) + ((t - 1) % 2 == 0) as i128
    };
    // y ≥ y_min ⟺ (acc·m + r) >> s ≥ y_min − b ⟺ acc·m ≥ (y_min − b)·2^s − r. The difference
    // is clamped far beyond any reachable product (|acc·m| < 2^62), which keeps the decision.
    let s = p.shift as u32;
    let diff = (y_min - p.bias as i128).clamp(-(1i128 << 64), 1i128 << 64);
    let need = diff * (1i128 << s) - ((1i128 << s) >> 1);
    const REACH: i128 = 1 << 62;
    let m = p.multiplier as i64;
    let theta: i128 = if need > REACH {
        i128::MAX
    } else if need < -REACH {
        i128::MIN
    } else {
        let need = need as i64;
        match m.signum() {
            // acc ≥ ⌈need / m⌉ ⟺ acc > ⌈need / m⌉ − 1
            1 => (-((-need).div_euclid(m)) - 1) as i128,
            // acc ≤ ⌊need / m⌋ = ⌊−need / −m⌋ ⟺ −acc > −⌊need / m⌋ − 1
            -1 => (-((-need).div_euclid(-m)) - 1) as i128,
            // acc·0 ≥ need: always or never.
            _ if need <= 0 => i128::MIN,
            _ => i128::MAX,
        }
    };
    theta.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// The thresholds of one affine map (a layer whose channels share it, such as attention).
pub struct Levels {
    /// `0`, or `−1` where the map falls (`x = −acc`).
    sign: i32,
    theta: [i32; MAX_D as usize],
    d: usize,
}

impl Levels {
    /// The levels of `p` for spikes of `frac` fractional bits and `d` levels, if the map
    /// lies inside what the model admits.
    pub fn new(p: &Affine, frac: u8, d: u8) -> Option<Self> {
        if d == 0 || d > MAX_D || frac > MAX_FRAC || p.shift > MAX_SHIFT {
            return None;
        }
        let mut theta = [i32::MAX; MAX_D as usize];
        for (t, th) in (1..=d).zip(theta.iter_mut()) {
            *th = level(p, frac, t);
        }
        Some(Levels {
            sign: if p.multiplier < 0 { -1 } else { 0 },
            theta,
            d: d as usize,
        })
    }

    /// Spike counts `out[j]` of accumulators `acc[j]` (`|acc| ≤ i32::MAX`); `acc` is
    /// overwritten. Written lane-wise so that the compiler vectorizes it.
    #[inline]
    pub fn spikes(&self, acc: &mut [i32], out: &mut [u8]) {
        let s = self.sign;
        for x in acc.iter_mut() {
            *x = (*x ^ s).wrapping_sub(s);
        }
        out.fill(0);
        for &theta in &self.theta[..self.d.min(MAX_D as usize)] {
            for (o, &x) in out.iter_mut().zip(acc.iter()) {
                *o += (x > theta) as u8;
            }
        }
    }
}

/// `θ` with `round_half_even(clamp(v / 2^frac, 0, D)) ≥ t ⟺ v > θ` for fixed-point values
/// `v` (the residual stream's spikes): exact for every `i32` value.
pub fn value_level(frac: u8, t: u8) -> i32 {
    let identity = Affine::new(1, 0, 0);
    level(&identity, frac, t)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fixed::spike_count;

    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// The thresholds reproduce the affine map's counts for random maps and accumulators
    /// within the bound the model proves (`|acc · m|` inside `i64`, `|acc| ≤ i32::MAX`).
    #[test]
    fn thresholds_equal_the_affine_map() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut table = Thresholds::empty();
        for round in 0..3000 {
            let channels = 1 + (next() % 40) as usize;
            let d = 1 + (next() % MAX_D as u64) as u8;
            let frac = (next() % 41) as u8;
            let affine: std::vec::Vec<Affine> = (0..channels)
                .map(|c| {
                    let m = match c % 5 {
                        0 => 0,
                        _ => (next() as i32) >> (next() % 31),
                    };
                    let bias = (next() as i32) >> (next() % 31);
                    Affine::new(m, (next() % 63) as u8, bias)
                })
                .collect();
            assert!(table.fill(&affine, frac, d), "round {round}");
            for _ in 0..200 {
                let c = (next() % channels as u64) as usize;
                let p = &affine[c];
                let acc = match next() % 6 {
                    0 => i32::MAX,
                    1 => -i32::MAX,
                    2 => 0,
                    _ => (next() as i32) >> (next() % 32),
                }
                .max(-i32::MAX);
                let want = spike_count(p.apply(acc), frac, d);
                assert_eq!(
                    table.count(c, acc),
                    want,
                    "{p:?} frac {frac} d {d} acc {acc}"
                );
            }
        }
    }

    /// Around every threshold, the counts step exactly where the affine map's do.
    #[test]
    fn thresholds_are_exact_at_the_steps() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut table = Thresholds::empty();
        for _ in 0..2000 {
            let d = 1 + (next() % 6) as u8;
            let frac = (next() % 12) as u8;
            let m = ((next() % 2000) as i32 - 1000) * (1 + (next() % 4) as i32);
            let p = Affine::new(m, (next() % 12) as u8, (next() % 4000) as i32 - 2000);
            assert!(table.fill(&[p], frac, d));
            for t in 1..=d {
                let th = table.values[16 * t as usize] as i64;
                let base = if m < 0 { -th } else { th };
                for delta in -3..=3i64 {
                    let acc = (base + delta).clamp(-(i32::MAX as i64), i32::MAX as i64) as i32;
                    let want = spike_count(p.apply(acc), frac, d);
                    assert_eq!(table.count(0, acc), want, "{p:?} frac {frac} acc {acc}");
                }
            }
        }
    }

    #[test]
    fn vector_and_scalar_counts_agree() {
        let mut next = xorshift(0x1234_5678_9abc_def1);
        let mut table = Thresholds::empty();
        for channels in [1, 15, 16, 17, 24, 48, 100, 384] {
            let affine: std::vec::Vec<Affine> = (0..channels)
                .map(|_| {
                    Affine::new(
                        (next() as i32) >> 8,
                        (next() % 40) as u8,
                        (next() as i32) >> 12,
                    )
                })
                .collect();
            assert!(table.fill(&affine, 8, 4));
            let acc: std::vec::Vec<i32> = (0..channels)
                .map(|_| ((next() as i32) >> 10).max(-i32::MAX))
                .collect();
            for level in Level::supported() {
                let mut out = std::vec![0xffu8; channels + 3];
                table.spikes(level, &acc, &mut out);
                for c in 0..channels {
                    assert_eq!(out[c], table.count(c, acc[c]), "{level}: channel {c}");
                }
                assert_eq!(
                    &out[channels..],
                    &[0xff; 3],
                    "{level}: wrote past the channels"
                );
            }
        }
    }

    #[test]
    fn residual_levels_match_spike_count() {
        for frac in [0u8, 1, 4, 8, 16, 30] {
            for t in 1..=15u8 {
                let th = value_level(frac, t);
                for v in [th.saturating_sub(1), th, th.saturating_add(1)] {
                    let passed = v > th;
                    assert_eq!(
                        passed,
                        spike_count(v as i64, frac, 15) >= t,
                        "frac {frac} t {t} v {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn spike_values_match_spike_count() {
        let mut next = xorshift(0x5555_aaaa_1234_9876);
        for frac in [0u8, 3, 8, 16, 30] {
            for d in [1u8, 4, 15] {
                let n = 16 * 5 + (next() % 16) as usize;
                let values: std::vec::Vec<i32> = (0..n)
                    .map(|i| match i % 7 {
                        0 => i32::MAX,
                        1 => i32::MIN,
                        _ => (next() as i32) >> (next() % 32),
                    })
                    .collect();
                for level in Level::supported() {
                    let mut out = std::vec![0xffu8; n];
                    spike_values(level, &values, frac, d, &mut out);
                    for (i, (&v, &o)) in values.iter().zip(&out).enumerate() {
                        assert_eq!(
                            o,
                            spike_count(v as i64, frac, d),
                            "{level}: frac {frac} d {d} at {i}: {v}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_tables_that_do_not_fit() {
        let mut table = Thresholds::empty();
        let wide = [Affine::new(1, 0, 0); 2048];
        assert!(!table.fill(&wide, 4, 4));
        assert_eq!(table.channels(), 0);
        assert!(!table.fill(&wide[..10], 4, 0));
        assert!(table.fill(&wide[..10], 4, 4));
        assert_eq!(table.channels(), 10);
    }
}
