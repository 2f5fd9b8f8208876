//! What happens to a finished accumulator vector: requantize, then spike, add or write.

use super::level::Level;
use super::threshold::Thresholds;
use crate::fixed::Affine;

/// Destination of one output pixel's channels.
pub trait Sink: Send {
    /// Stores channel values `acc` (one per output channel) of pixel `pixel` of this chunk.
    fn store(&mut self, pixel: usize, acc: &[i32]);

    /// Stores pixel `pixel` whose values are all zero (no input spike reached it); `acc` is
    /// scratch for one pixel's values. Sinks whose output for zero sums is the same at every
    /// pixel copy it instead of mapping it again.
    fn store_silent(&mut self, pixel: usize, acc: &mut [i32]) {
        acc.fill(0);
        self.store(pixel, acc);
    }

    /// Stores pixel `pixel` from a kernel that tells whether any input spike `reached` it
    /// (its values are all zero where none did).
    // Called once per output pixel: without the hint, x86 builds keep it out of line.
    #[inline]
    fn store_reached(&mut self, pixel: usize, acc: &mut [i32], reached: bool) {
        match reached {
            true => self.store(pixel, acc),
            false => self.store_silent(pixel, acc),
        }
    }
}

/// Spike counts from the affine map (built by [`SpikeSink::new`]).
pub struct SpikeSink<'a> {
    out: &'a mut [u8],
    affine: &'a [Affine],
    frac: u8,
    d: u8,
    /// The same map as thresholds (see [`Thresholds`]), where the caller built them.
    levels: Option<&'a Thresholds<'a>>,
    /// The same maps laid out for the Helium vector affine map, where the caller built them
    /// (other targets ignore them).
    #[cfg_attr(not(feature = "helium"), allow(dead_code))]
    fields: Option<&'a MapFields>,
    /// The kernel set that compares them.
    level: Level,
    /// A pixel stored from all-zero values, whose counts later such pixels copy (`None` at
    /// first).
    silent: Option<usize>,
}

impl<'a> SpikeSink<'a> {
    /// A sink that maps with `affine` alone; [`SpikeSink::with_tables`] adds faster forms of it.
    pub fn new(out: &'a mut [u8], affine: &'a [Affine], frac: u8, d: u8, level: Level) -> Self {
        Self {
            out,
            affine,
            frac,
            d,
            levels: None,
            fields: None,
            level,
            silent: None,
        }
    }

    /// The same map as thresholds and as Helium fields, where the caller built them.
    pub fn with_tables(
        self,
        levels: Option<&'a Thresholds<'a>>,
        fields: Option<&'a MapFields>,
    ) -> Self {
        Self {
            levels,
            fields,
            ..self
        }
    }
}

impl Sink for SpikeSink<'_> {
    fn store_silent(&mut self, pixel: usize, acc: &mut [i32]) {
        let c = acc.len();
        match self.silent {
            Some(first) if first != pixel && (pixel + 1) * c <= self.out.len() => {
                self.out.copy_within(first * c..(first + 1) * c, pixel * c);
            }
            _ => {
                acc.fill(0);
                self.store(pixel, acc);
                self.silent = Some(pixel);
            }
        }
    }

    #[inline]
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        let c = acc.len();
        let out = &mut self.out[pixel * c..(pixel + 1) * c];
        if let Some(levels) = self.levels.filter(|l| l.channels() == c) {
            return levels.spikes(self.level, acc, out);
        }
        #[cfg(feature = "helium")]
        if let Some(fields) = self.fields.filter(|f| f.channels == c) {
            let (affine, frac, d) = (self.affine, self.frac, self.d);
            if super::helium::sink::spikes_fields(out, acc, fields, affine, frac, d) {
                return;
            }
        }
        #[cfg(feature = "helium")]
        if super::helium::sink::spikes(out, acc, self.affine, self.frac, self.d) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.level.uses(Level::Avx512) {
            // SAFETY: `uses` checked that the CPU has AVX-512 (DQ included).
            return unsafe {
                super::x86_64::spikes_affine_avx512(out, acc, self.affine, self.frac, self.d)
            };
        }
        spikes_affine(out, acc, self.affine, self.frac, self.d);
    }
}

/// Spike counts of one pixel from the affine maps (the loop the x86 entries vectorize).
#[inline(always)]
pub(super) fn spikes_affine(out: &mut [u8], acc: &[i32], affine: &[Affine], frac: u8, d: u8) {
    for ((o, &a), p) in out.iter_mut().zip(acc).zip(affine) {
        *o = spike_of(a, p, frac, d);
    }
}

/// `spike_count(p.apply(acc), frac, d)` without branches, so that the compiler can vectorize
/// it over the channels of a pixel (the branches mispredict on irregular values). Equal for
/// every `shift ≤ 62` and `frac ≤ 62` a model can hold.
#[inline(always)]
fn spike_of(acc: i32, p: &Affine, frac: u8, d: u8) -> u8 {
    let shift = (p.shift & 63) as u32;
    let product = acc as i64 * p.multiplier as i64;
    let v = (product.wrapping_add((1i64 << shift) >> 1) >> shift).wrapping_add(p.bias as i64);
    let frac = (frac & 63) as u32;
    let q = v >> frac;
    let rem = v & ((1i64 << frac) - 1);
    let half = (1i64 << frac) >> 1;
    let up = (rem > half) | ((rem == half) & (q & 1 == 1) & (frac > 0));
    q.wrapping_add(up as i64).clamp(0, d as i64) as u8
}

/// Adds into (or overwrites) a fixed-point tensor.
pub struct FixedSink<'a> {
    pub out: &'a mut [i32],
    pub affine: &'a [Affine],
    pub accumulate: bool,
    /// The same maps split into 64-bit fields, where the caller built them.
    pub fields: Option<&'a MapFields>,
    /// The kernel set that applies them.
    pub level: Level,
}

/// Channels [`MapFields`] holds at most: only the AVX-512 sink reads the fields, so on other
/// architectures the table is empty (and takes no stack; Helium has a layout of its own).
#[cfg(target_arch = "x86_64")]
pub const MAX_FIELD_CHANNELS: usize = 1024;
#[cfg(not(target_arch = "x86_64"))]
pub const MAX_FIELD_CHANNELS: usize = 0;

#[cfg(feature = "helium")]
pub use super::helium::sink::MapFields;

/// A layer's affine maps split into 64-bit fields, one array per field, so that the vector
/// sink loads them as they are used instead of splitting the 12-byte maps for every pixel.
#[cfg(not(feature = "helium"))]
pub struct MapFields {
    pub(super) multiplier: [i64; MAX_FIELD_CHANNELS],
    /// `2^(shift − 1)`, or 0.
    pub(super) round: [i64; MAX_FIELD_CHANNELS],
    pub(super) shift: [i64; MAX_FIELD_CHANNELS],
    pub(super) bias: [i64; MAX_FIELD_CHANNELS],
    pub(super) channels: usize,
}

#[cfg(not(feature = "helium"))]
impl MapFields {
    pub const fn empty() -> Self {
        MapFields {
            multiplier: [0; MAX_FIELD_CHANNELS],
            round: [0; MAX_FIELD_CHANNELS],
            shift: [0; MAX_FIELD_CHANNELS],
            bias: [0; MAX_FIELD_CHANNELS],
            channels: 0,
        }
    }

    /// Splits `affine`; returns `false` (unusable) if it has more than [`MAX_FIELD_CHANNELS`]
    /// channels or a shift above [`crate::fixed::MAX_SHIFT`].
    pub fn fill(&mut self, affine: &[Affine]) -> bool {
        self.channels = 0;
        let ok = affine.len() <= self.multiplier.len()
            && affine.iter().all(|p| p.shift <= crate::fixed::MAX_SHIFT);
        if !ok {
            return false;
        }
        for (c, p) in affine.iter().enumerate() {
            self.multiplier[c] = p.multiplier as i64;
            self.round[c] = (1i64 << p.shift) >> 1;
            self.shift[c] = p.shift as i64;
            self.bias[c] = p.bias as i64;
        }
        self.channels = affine.len();
        true
    }
}

impl Sink for FixedSink<'_> {
    #[inline]
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        let c = acc.len();
        let out = &mut self.out[pixel * c..(pixel + 1) * c];
        #[cfg(target_arch = "x86_64")]
        if let Some(fields) = self.fields.filter(|f| f.channels == c && out.len() == c) {
            if self.level.uses(Level::Avx512) {
                // SAFETY: `uses` checked that the CPU has AVX-512.
                return unsafe { super::x86_64::fixed_avx512(out, acc, fields, self.accumulate) };
            }
        }
        #[cfg(feature = "helium")]
        match self.fields.filter(|f| f.channels == c) {
            Some(fields) => {
                super::helium::sink::fixed_fields(out, acc, fields, self.affine, self.accumulate)
            }
            None => super::helium::sink::fixed(out, acc, self.affine, self.accumulate),
        }
        #[cfg(not(feature = "helium"))]
        fixed(out, acc, self.affine, self.accumulate);
    }
}

/// The map of every channel into `out` (AVX-512 hosts take the split fields where the caller
/// built them).
#[cfg(not(feature = "helium"))]
#[inline(always)]
fn fixed(out: &mut [i32], acc: &[i32], affine: &[Affine], accumulate: bool) {
    for ((o, &a), p) in out.iter_mut().zip(acc).zip(affine) {
        // The bound proven at load keeps `y` in i32; saturation only guards
        // residual values a host wrote by hand.
        let y = p.apply(a).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        *o = if accumulate { o.saturating_add(y) } else { y };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::spike_count;

    /// Pseudo-random `u64`s (xorshift64) from `seed`.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// The fixed-point sink (from the maps, or vectorized from their split fields) equals
    /// `Affine::apply` with saturation, writing and accumulating, on random maps and
    /// accumulators.
    #[test]
    fn fixed_sink_matches_reference() {
        extern crate std;
        let mut next = xorshift(0x0bad_5eed_1234_5678u64);
        for round in 0..400 {
            let c = [1, 15, 16, 17, 32, 48, 61, 96][round % 8];
            let affine: std::vec::Vec<Affine> = (0..c)
                .map(|_| {
                    Affine::new(
                        (next() as i32) >> (next() % 31),
                        (next() % 63) as u8,
                        (next() as i32) >> (next() % 31),
                    )
                })
                .collect();
            let acc: std::vec::Vec<i32> = (0..c)
                .map(|_| match next() % 5 {
                    0 => i32::MAX,
                    1 => -i32::MAX,
                    _ => (next() as i32) >> (next() % 32),
                })
                .collect();
            let old: std::vec::Vec<i32> = (0..c)
                .map(|_| match next() % 4 {
                    0 => i32::MAX,
                    1 => i32::MIN,
                    _ => (next() as i32) >> (next() % 32),
                })
                .collect();
            let mut fields = MapFields::empty();
            // The table exists only where the AVX-512 sink reads it.
            let split = fields.fill(&affine).then_some(&fields);
            assert_eq!(
                split.is_some(),
                c <= fields.multiplier.len(),
                "{c} channels"
            );
            let cases = [(false, None), (true, None), (false, split), (true, split)];
            for ((accumulate, split), level) in cases
                .into_iter()
                .flat_map(|case| Level::supported().map(move |level| (case, level)))
            {
                let mut out = old.clone();
                FixedSink {
                    out: &mut out,
                    affine: &affine,
                    accumulate,
                    fields: split,
                    level,
                }
                .store(0, &acc);
                for i in 0..c {
                    let y = affine[i]
                        .apply(acc[i])
                        .clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                    let want = if accumulate {
                        old[i].saturating_add(y)
                    } else {
                        y
                    };
                    assert_eq!(
                        out[i], want,
                        "{level}: {:?} acc {} old {}",
                        affine[i], acc[i], old[i]
                    );
                }
            }
        }
    }

    /// `VSHL` (register) on one `i32` lane: left for `shift ≥ 0`, arithmetic right otherwise,
    /// 0 or the sign once the shift reaches the width.
    fn vshl_s32(x: i32, shift: i32) -> i32 {
        match shift {
            32.. => 0,
            0.. => x << shift,
            ..=-32 => x >> 31,
            _ => x >> -shift,
        }
    }

    /// The lane arithmetic of the Helium fixed-point sink (`helium::sink::affine_quad`: `vmul`
    /// and `vmulh`, the carry of the rounding term, `vshl` by `−s` and `32 − s`, the fit check,
    /// the saturating bias), emulated so that the method is checked against `Affine::apply`
    /// here on the host; the instructions themselves are checked bit-exact under QEMU.
    fn helium_fixed_lane(acc: i32, p: &Affine) -> Option<i32> {
        let s = p.shift as i32;
        let product = acc as i64 * p.multiplier as i64;
        let (lo, mut hi) = (product as u32, (product >> 32) as i32);
        let round = (1u32 << s) >> 1;
        let lo = lo.wrapping_add(round);
        hi += (round > lo) as i32;
        let r = vshl_s32(hi, 32 - s) | (lo >> s) as i32;
        (vshl_s32(r, s - 32) == hi).then(|| r.saturating_add(p.bias))
    }

    /// The Helium method equals the affine map wherever it claims a result, and claims one
    /// for every value that fits in `i32` before the bias, over every shift it takes (0..=31).
    #[test]
    fn helium_fixed_method_matches_reference() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let edges = [
            0,
            1,
            -1,
            i32::MAX,
            -i32::MAX,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        let (mut claimed, mut declined) = (0, 0);
        for round in 0..400_000 {
            let r = next();
            let acc = if round % 3 == 0 {
                edges[(r % edges.len() as u64) as usize]
            } else {
                (r >> 32) as i32 >> (r % 32)
            };
            let multiplier = match next() % 5 {
                0 => edges[(next() % edges.len() as u64) as usize],
                _ => (next() as i32) >> (next() % 32),
            };
            let p = Affine::new(
                multiplier,
                (next() % 32) as u8,
                (next() as i32) >> (next() % 32),
            );
            let shifted = p.apply(acc) - p.bias as i64;
            let want = p.apply(acc).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            match helium_fixed_lane(acc, &p) {
                Some(got) => {
                    assert_eq!(got, want, "{acc} {p:?}");
                    claimed += 1;
                }
                None => {
                    assert!(i32::try_from(shifted).is_err(), "{acc} {p:?} fits");
                    declined += 1;
                }
            }
        }
        // Both outcomes were exercised.
        assert!(
            claimed > 100_000 && declined > 1_000,
            "{claimed} / {declined}"
        );
    }

    /// The spike counts of the Helium vector map (`helium::sink::spikes_fields`): the
    /// saturated `y` of [`helium_fixed_lane`], rounded half to even as
    /// `(y + 2^(f−1) − 1 + ((y >> f) & 1)) >> f` with a saturating add, clamped to `[0, D]`.
    fn helium_spike_lane(acc: i32, p: &Affine, frac: u8, d: u8) -> Option<u8> {
        let y = helium_fixed_lane(acc, p)?;
        let f = frac as u32;
        let odd = (y >> f) & 1;
        let rounded = y.saturating_add((1i32 << (f - 1)) - 1 + odd) >> f;
        Some(rounded.clamp(0, d as i32) as u8)
    }

    /// The Helium spike method equals the reference map wherever the fixed-point method
    /// claims a value, for every `frac ≥ 1` and `D` with `(D + 1) · 2^frac ≤ 2^31` (the
    /// condition under which the kernel takes it), ties and saturated values included.
    #[test]
    fn helium_spike_method_matches_reference() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let (mut claimed, mut ties) = (0, 0);
        for round in 0..400_000 {
            let d = 1 + (next() % 15) as u8;
            let frac = 1 + (next() % 28) as u8;
            if (u64::from(d) + 1) << frac > 1 << 31 {
                continue;
            }
            let p = Affine::new(
                (next() as i32) >> (next() % 32),
                (next() % 32) as u8,
                (next() as i32) >> (next() % 32),
            );
            // Accumulators near the ties of this map, and arbitrary ones.
            let acc = match round % 2 {
                0 => (next() as i32) >> (next() % 32),
                _ => {
                    let target = (((next() % 20) as i128) << frac) + (1i128 << (frac - 1));
                    let m = match p.multiplier {
                        0 => 1,
                        m => m as i128,
                    };
                    (((target - p.bias as i128) << p.shift) / m)
                        .clamp(-(i32::MAX as i128), i32::MAX as i128) as i32
                }
            };
            let v = p.apply(acc);
            ties += (v & ((1 << frac) - 1) == 1 << (frac - 1)) as u32;
            if let Some(got) = helium_spike_lane(acc, &p, frac, d) {
                assert_eq!(
                    got,
                    spike_count(p.apply(acc), frac, d),
                    "{acc} {p:?} {frac} {d}"
                );
                claimed += 1;
            }
        }
        assert!(
            claimed > 100_000 && ties > 1_000,
            "{claimed} claimed, {ties} ties"
        );
    }

    /// The Helium spikes of fixed-point values (`helium/sink.rs::spike_values`: the residual
    /// stream's spikes) are the same rounding without the affine map: lane by lane,
    /// `(v + 2^(f−1) − 1 + ((v >> f) & 1)) >> f` with a saturating add, clamped to `[0, D]`.
    /// It equals the reference for every `frac ≥ 1` and `D` the kernel takes, on edge values,
    /// ties and pseudo-random values.
    #[test]
    fn helium_spike_values_method_matches_reference() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let edges = [0, 1, -1, i32::MAX, i32::MIN, i32::MAX - 1, i32::MIN + 1];
        let mut ties = 0;
        for round in 0..400_000 {
            let d = 1 + (next() % 15) as u8;
            let frac = 1 + (next() % 30) as u8;
            let f = u32::from(frac);
            if (u64::from(d) + 1) << f > 1 << 31 {
                continue;
            }
            let v = match round % 3 {
                0 => edges[(next() % edges.len() as u64) as usize],
                1 => {
                    let q = (next() % 20) as i64 - 2;
                    ((q << f) + (1i64 << (f - 1))).clamp(i32::MIN as i64, i32::MAX as i64) as i32
                }
                _ => (next() as i32) >> (next() % 32),
            };
            ties += (v > 0 && v & ((1 << f) - 1) == 1 << (f - 1)) as u32;
            let odd = (v >> f) & 1;
            let lane = (v.saturating_add((1i32 << (f - 1)) - 1 + odd) >> f).clamp(0, d as i32);
            assert_eq!(lane as u8, spike_count(v as i64, frac, d), "{v} {frac} {d}");
        }
        assert!(ties > 10_000, "{ties} ties");
    }

    /// The branch-free spike equals the reference map on edge and pseudo-random values.
    #[test]
    fn spike_of_matches_reference() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let accs = [0, 1, -1, 7, 8, 9, i32::MAX, i32::MIN, 1 << 20, -(1 << 20)];
        for round in 0..200_000 {
            let r = next();
            let acc = if round % 4 == 0 {
                accs[(r % accs.len() as u64) as usize]
            } else {
                (r >> 32) as i32 >> (r % 24)
            };
            let p = Affine::new(
                (next() as i32) >> (next() % 31),
                (next() % 63) as u8,
                (next() as i32) >> (next() % 31),
            );
            let frac = (next() % 41) as u8;
            let d = (next() % 16) as u8;
            // The proven bounds keep |acc · m| well inside i64.
            let reference = spike_count(p.apply(acc), frac, d);
            assert_eq!(
                spike_of(acc, &p, frac, d),
                reference,
                "{acc} {p:?} {frac} {d}"
            );
        }
        // Ties round to even.
        let one = Affine::new(1, 0, 0);
        for (acc, want) in [(8, 0), (24, 2), (40, 2), (56, 4), (9, 1)] {
            assert_eq!(spike_of(acc, &one, 4, 4), want);
        }
    }
}
