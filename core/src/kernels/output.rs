//! What happens to a finished accumulator vector: requantize, then spike, add or write.

use super::threshold::Thresholds;
use crate::fixed::Affine;

/// Destination of one output pixel's channels.
pub trait Sink: Send {
    /// Stores channel values `acc` (one per output channel) of pixel `pixel` of this chunk.
    fn store(&mut self, pixel: usize, acc: &[i32]);
}

/// Spike counts from the affine map.
pub struct SpikeSink<'a> {
    pub out: &'a mut [u8],
    pub affine: &'a [Affine],
    pub frac: u8,
    pub d: u8,
    /// The same map as thresholds (see [`Thresholds`]), where the caller built them.
    pub levels: Option<&'a Thresholds>,
}

impl Sink for SpikeSink<'_> {
    #[inline]
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        let c = acc.len();
        let out = &mut self.out[pixel * c..(pixel + 1) * c];
        if let Some(levels) = self.levels.filter(|l| l.channels() == c) {
            return levels.spikes(acc, out);
        }
        #[cfg(feature = "helium")]
        if super::helium_sink::spikes(out, acc, self.affine, self.frac, self.d) {
            return;
        }
        for ((o, &a), p) in out.iter_mut().zip(acc).zip(self.affine) {
            *o = spike_of(a, p, self.frac, self.d);
        }
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
}

impl Sink for FixedSink<'_> {
    #[inline]
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        let c = acc.len();
        let out = &mut self.out[pixel * c..(pixel + 1) * c];
        #[cfg(feature = "helium")]
        super::helium_sink::fixed(out, acc, self.affine, self.accumulate);
        #[cfg(not(feature = "helium"))]
        for ((o, &a), p) in out.iter_mut().zip(acc).zip(self.affine) {
            // The bound proven at load keeps `y` in i32; saturation only guards
            // residual values a host wrote by hand.
            let y = p.apply(a).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            *o = if self.accumulate {
                o.saturating_add(y)
            } else {
                y
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::spike_count;

    /// The branch-free spike equals the reference map on edge and pseudo-random values.
    #[test]
    fn spike_of_matches_reference() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
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
