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

/// Capacity in `i32` values of the table a layer fills on its stack when its session keeps
/// none (see `Session::keep_thresholds`): `(D + 1) · 16 · ⌈channels / 16⌉` must fit. 32 KB
/// on hosts, 20 KB with Helium (`D = 4` up to 1024 channels: SDT-10M's widest layers have
/// 960), 16 KB on other microcontrollers (816 channels). Wider layers keep the affine map.
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

/// Per-channel spike thresholds of one layer, in storage the caller provides (a stack array
/// of [`CAPACITY`] values, or a session's kept tables). Per group of 16 channels: the sign
/// masks (`0`, or `−1` where `m < 0`), then `D` rows of thresholds, 16 lanes each.
///
/// Every table holds at least [`Thresholds::len`]`(channels, d)` values (both constructors
/// check it): the vector kernels read whole groups on that promise.
#[derive(Clone, Copy)]
pub struct Thresholds<'t> {
    pub(super) values: &'t [i32],
    pub(super) channels: usize,
    pub(super) d: usize,
}

impl<'t> Thresholds<'t> {
    /// Values a table of `channels` channels and `d` levels takes: `(d + 1) · 16` per group
    /// of 16 channels.
    pub const fn len(channels: usize, d: u8) -> usize {
        channels.div_ceil(16) * (d as usize + 1) * 16
    }

    /// Fills `storage` with the table for `affine` (one map per output channel) with spikes
    /// of `frac` fractional bits and `d` levels. `None` (keep the affine map) if it does not
    /// fit or a parameter lies outside what the model admits.
    pub fn fill(storage: &'t mut [i32], affine: &[Affine], frac: u8, d: u8) -> Option<Self> {
        let groups = affine.len().div_ceil(16);
        let block = (d as usize + 1) * 16;
        if d == 0 || d > MAX_D || frac > MAX_FRAC || groups * block > storage.len() {
            return None;
        }
        if affine.iter().any(|p| p.shift > MAX_SHIFT) {
            return None;
        }
        for (c, p) in affine.iter().enumerate() {
            let at = (c / 16) * block + c % 16;
            storage[at] = if p.multiplier < 0 { -1 } else { 0 };
            // One division per channel; its `D` levels divide by the same multiplier.
            let by = Divisor::new(p.multiplier);
            for t in 1..=d {
                storage[at + 16 * t as usize] = level_with(p, frac, t, &by);
            }
        }
        // Padding lanes of the last group: sign 0, never passed.
        for c in affine.len()..groups * 16 {
            let at = (c / 16) * block + c % 16;
            storage[at] = 0;
            for t in 1..=d as usize {
                storage[at + 16 * t] = i32::MAX;
            }
        }
        Some(Thresholds {
            values: storage,
            channels: affine.len(),
            d: d as usize,
        })
    }

    /// The table [`Thresholds::fill`] wrote into `values` earlier, for `channels` channels of
    /// `d` levels. `None` if `values` is too short to hold it.
    pub fn filled(values: &'t [i32], channels: usize, d: u8) -> Option<Self> {
        (d > 0 && d <= MAX_D && Self::len(channels, d) <= values.len()).then_some(Thresholds {
            values,
            channels,
            d: d as usize,
        })
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
        let done = self.spikes_groups(&acc[..n], &mut out[..n]);
        for (c, (o, &a)) in out[done..n].iter_mut().zip(&acc[done..]).enumerate() {
            *o = self.count(done + c, a);
        }
    }

    /// [`Thresholds::spikes`] of the whole groups of 16 channels, lanes innermost so that a
    /// compiler can vectorize them (LLVM does for Cortex-M55 without the `helium` kernels;
    /// channel by channel it kept the affine map's vector code faster). Returns the channels
    /// done.
    #[cfg_attr(feature = "helium", allow(dead_code))]
    fn spikes_groups(&self, acc: &[i32], out: &mut [u8]) -> usize {
        let block = (self.d + 1) * 16;
        let groups = acc.len().min(out.len()) / 16;
        let rows = self.values.chunks_exact(block);
        let lanes = acc.chunks_exact(16).zip(out.chunks_exact_mut(16));
        for (table, (acc, out)) in rows.zip(lanes).take(groups) {
            let (signs, levels) = table.split_at(16);
            let mut x = [0i32; 16];
            for ((x, &a), &s) in x.iter_mut().zip(acc).zip(signs) {
                *x = (a ^ s).wrapping_sub(s);
            }
            let mut counts = [0u8; 16];
            for level in levels.chunks_exact(16) {
                for ((n, &x), &th) in counts.iter_mut().zip(&x).zip(level) {
                    *n += u8::from(x > th);
                }
            }
            out.copy_from_slice(&counts);
        }
        16 * groups.min(self.values.len() / block.max(1))
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
    level_with(p, frac, t, &Divisor::new(p.multiplier))
}

/// [`level`] with `by`, the reciprocal of `p`'s multiplier.
fn level_with(p: &Affine, frac: u8, t: u8, by: &Divisor) -> i32 {
    match level_i64(p, frac, t, by) {
        Some(theta) => theta,
        None => level_i128(p, frac, t),
    }
}

/// Floor division by `|m|` (`0 < |m| ≤ 2^31`) of values up to 2^62 without a 64-bit
/// division: on 32-bit cores that is a library loop of hundreds of instructions, and a
/// threshold table takes `D` quotients per channel every time its layer runs (most of what
/// SDT-10M's tables cost on Cortex-M55). Long division in two 16-bit digits on the normalized
/// divisor (Hacker's Delight, `divlu`), each digit one 32-bit division and at most two
/// corrections. Quotients of 2^32 or more are only needed as "beyond `i32`": they come out as
/// `2^32` (a level clamps them to `i32::MIN` / `MAX` all the same).
struct Divisor {
    d: u64,
    /// Leading zeros of `d`; `d << shift` and its two 16-bit digits.
    shift: u32,
    v: u64,
    hi: u64,
    lo: u64,
}

impl Divisor {
    fn new(m: i32) -> Self {
        let d = m.unsigned_abs().max(1);
        let shift = d.leading_zeros();
        let v = u64::from(d << shift);
        Divisor {
            d: u64::from(d),
            shift,
            v,
            hi: v >> 16,
            lo: v & 0xffff,
        }
    }

    /// `⌊n / |m|⌋` for `|n| ≤ 2^62`, or a value beyond `i32` of the same sign where that lies
    /// beyond `i32`. 64-bit cores divide in hardware (one instruction, against two divisions
    /// and data-dependent corrections).
    fn floor_div(&self, n: i64) -> i64 {
        if cfg!(target_pointer_width = "64") {
            // `d ≤ 2^31`: positive in `i64`, so `div_euclid` is the floor.
            return n.div_euclid(self.d as i64);
        }
        self.floor_div_long(n)
    }

    /// [`Divisor::floor_div`] by long division.
    fn floor_div_long(&self, n: i64) -> i64 {
        let (d, up) = (self.d, n.unsigned_abs());
        // ⌊n / d⌋ = −⌈|n| / d⌉ for n < 0.
        let a = if n < 0 { up + d - 1 } else { up };
        let q = if (a >> 32) >= d {
            1 << 32
        } else {
            self.divlu(a)
        };
        if n < 0 {
            -(q as i64)
        } else {
            q as i64
        }
    }

    /// `⌊a / d⌋` for `a >> 32 < d` (so that the quotient is below 2^32).
    fn divlu(&self, a: u64) -> u64 {
        const B: u64 = 1 << 16;
        // The dividend shifted like the divisor: its top 32 bits `un32` (nothing leaves the
        // top, since `a >> 32 < d`) and two 16-bit digits below them.
        let shifted = a << self.shift;
        let (un32, un10) = (shifted >> 32, shifted & 0xffff_ffff);
        let (un1, un0) = (un10 >> 16, un10 & 0xffff);
        // One quotient digit of `(top · B + next) / v`, estimated from the divisor's high
        // digit and corrected (at most twice).
        let digit = |top: u64, next: u64| {
            // 32-bit operands (`top < 2^32`, `hi < 2^16`): one hardware division.
            let (top32, hi32) = (top as u32, self.hi as u32);
            let (mut q, mut rhat) = (u64::from(top32 / hi32), u64::from(top32 % hi32));
            while q >= B || q * self.lo > (rhat << 16) + next {
                q -= 1;
                rhat += self.hi;
                if rhat >= B {
                    break;
                }
            }
            q
        };
        let q1 = digit(un32, un1);
        let un21 = ((un32 << 16) + un1).wrapping_sub(q1 * self.v) & 0xffff_ffff;
        let q0 = digit(un21, un0);
        (q1 << 16) + q0
    }
}

/// [`level`] in `i64` arithmetic, or `None` where a term could leave `i64` (fractional bits or
/// a shift above 40, or a product that overflows). Converted models stay in `i64`; `i128`
/// shifts, products and clamps are library calls on 32-bit cores, and a table runs this `D`
/// times per channel every time its layer runs.
fn level_i64(p: &Affine, frac: u8, t: u8, by: &Divisor) -> Option<i32> {
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
    // A shift, not `checked_mul` (a library call on 32-bit cores): |diff| < 2^(62 − s) keeps
    // `need` inside ±2^62.
    if diff.unsigned_abs() >= 1 << (62 - s) {
        return None;
    }
    let need = (diff << s) - ((1i64 << s) >> 1);
    const REACH: i64 = 1 << 62;
    let m = p.multiplier as i64;
    let theta = if need > REACH {
        i64::MAX
    } else if need < -REACH {
        i64::MIN
    } else {
        // `by` divides by |m|: ⌊−need / m⌋ for m > 0, ⌊−need / −m⌋ for m < 0.
        match m.signum() {
            1 | -1 => -by.floor_div(-need) - 1,
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

    /// Spike counts `out[j]` of accumulators `acc[j]` (`|acc| ≤ i32::MAX`); `acc` may be
    /// overwritten. Written lane-wise so that the compiler vectorizes it; with Helium and
    /// `D = 4`, 4 values per vector compare (`helium::sink::level_spikes_d4`).
    #[inline]
    pub fn spikes(&self, acc: &mut [i32], out: &mut [u8]) {
        let n = acc.len().min(out.len());
        #[cfg(feature = "helium")]
        let done = match self.d {
            4 => super::helium::sink::level_spikes_d4(self.sign, &self.theta, &acc[..n], out),
            _ => 0,
        };
        #[cfg(not(feature = "helium"))]
        let done = 0;
        let (acc, out) = (&mut acc[done..n], &mut out[done..n]);
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
    /// The long division equals `div_euclid` for every divisor a multiplier can give
    /// (`1 ..= 2^31`) and dividends up to 2^62 whose quotient fits in `i32`, and lies beyond
    /// `i32` with the right sign otherwise: edges, multiples and their neighbours.
    #[test]
    fn divisor_floor_div_matches_div_euclid() {
        let check = |n: i64, m: i32| {
            let d = i64::from(m.unsigned_abs());
            if d > 0 && n.unsigned_abs() <= 1 << 62 {
                let by = Divisor::new(m);
                let want = n.div_euclid(d);
                // The long division (32-bit cores) on every target, and the division this
                // target takes.
                for got in [by.floor_div_long(n), by.floor_div(n)] {
                    let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
                    match range.contains(&want) {
                        true => assert_eq!(got, want, "{n} / {d}"),
                        false => assert!(!range.contains(&got) && got.signum() == want.signum()),
                    }
                }
            }
        };
        let ms = [
            1,
            -1,
            2,
            3,
            7,
            255,
            -256,
            1 << 16,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
        ];
        let ns = [
            0i64,
            1,
            -1,
            2,
            -2,
            1 << 31,
            -(1 << 31),
            (1 << 62) - 1,
            -(1 << 62) + 1,
        ];
        for &m in &ms {
            let d = i64::from(m.unsigned_abs());
            for &n in &ns {
                for n in [n, n.saturating_add(d), n.saturating_sub(d)] {
                    check(n, m);
                }
            }
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let m = (next() >> 32) as u32 as i32;
            let n = (next() as i64) >> (next() % 62 + 2);
            let q = n.div_euclid(i64::from(m.unsigned_abs()).max(1));
            let d = i64::from(m.unsigned_abs());
            for n in [n, q * d, q * d - 1, q * d + 1] {
                check(n, m);
            }
        }
    }

    #[test]
    fn thresholds_equal_the_affine_map() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut storage = [0; CAPACITY];
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
            let table = Thresholds::fill(&mut storage, &affine, frac, d)
                .unwrap_or_else(|| panic!("round {round}: the table does not fit"));
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
        let mut storage = [0; CAPACITY];
        for _ in 0..2000 {
            let d = 1 + (next() % 6) as u8;
            let frac = (next() % 12) as u8;
            let m = ((next() % 2000) as i32 - 1000) * (1 + (next() % 4) as i32);
            let p = Affine::new(m, (next() % 12) as u8, (next() % 4000) as i32 - 2000);
            let table = Thresholds::fill(&mut storage, &[p], frac, d).expect("fits");
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
        let mut storage = [0; CAPACITY];
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
            let table = Thresholds::fill(&mut storage, &affine, 8, 4).expect("fits");
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
        let mut storage = [0; CAPACITY];
        let wide = [Affine::new(1, 0, 0); 2048];
        assert!(Thresholds::fill(&mut storage, &wide, 4, 4).is_none());
        assert!(Thresholds::fill(&mut storage, &wide[..10], 4, 0).is_none());
        let maps: std::vec::Vec<Affine> = (0..10).map(|c| Affine::new(3 - c, 2, c)).collect();
        let table = Thresholds::fill(&mut storage, &maps, 4, 4).expect("fits");
        assert_eq!(table.channels(), 10);
        let counts = |t: &Thresholds<'_>| {
            let accs = [-5000, -5, 0, 3, 17, 900, 1 << 20];
            (0..10)
                .flat_map(|c| accs.map(|a| t.count(c, a)))
                .collect::<std::vec::Vec<u8>>()
        };
        let want = counts(&table);
        assert_eq!(Thresholds::len(10, 4), 80);
        assert!(Thresholds::filled(&storage[..79], 10, 4).is_none());
        assert!(Thresholds::filled(&storage[..80], 10, 0).is_none());
        let kept = Thresholds::filled(&storage[..80], 10, 4).expect("long enough");
        assert_eq!(counts(&kept), want);
    }
}
