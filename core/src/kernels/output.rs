//! What happens to a finished accumulator vector: requantize, then spike, add or write.

use crate::fixed::{spike_count, Affine};

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
}

impl Sink for SpikeSink<'_> {
    #[inline]
    fn store(&mut self, pixel: usize, acc: &[i32]) {
        let c = acc.len();
        let out = &mut self.out[pixel * c..(pixel + 1) * c];
        for ((o, &a), p) in out.iter_mut().zip(acc).zip(self.affine) {
            *o = spike_count(p.apply(a), self.frac, self.d);
        }
    }
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
