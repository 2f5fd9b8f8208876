//! Splitting a product into device tiles that fit the matmul API's size limits.

use crate::native::{Padded, K_ALIGN, N_ALIGN};
use crate::RkError;

/// Largest tile the device is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_m: usize,
    /// A multiple of 32, at most [`Limits::K_MAX`].
    pub max_k: usize,
    /// A multiple of 32, at most [`Limits::N_MAX`].
    pub max_n: usize,
}

impl Limits {
    /// The API takes K up to 10240, but splits B into segments of 8192 above that: stay below.
    pub const K_MAX: usize = 8192;
    /// int8 N limit on RK3588.
    pub const N_MAX: usize = 4096;

    /// Checks the limits are usable (non-zero, aligned, within the device's).
    pub fn validate(&self) -> Result<(), RkError> {
        let ok = self.max_m > 0
            && self.max_k > 0
            && self.max_k.is_multiple_of(K_ALIGN)
            && self.max_k <= Self::K_MAX
            && self.max_n > 0
            && self.max_n.is_multiple_of(N_ALIGN)
            && self.max_n <= Self::N_MAX;
        if ok {
            Ok(())
        } else {
            Err(RkError::Limits(*self))
        }
    }
}

impl Default for Limits {
    /// M is not limited by the API reference; 4096 rows keep one tile's A, B and C buffers
    /// to a few MiB.
    fn default() -> Self {
        Limits {
            max_m: 4096,
            max_k: Self::K_MAX,
            max_n: Self::N_MAX,
        }
    }
}

/// One tile: rows `m0..m0+m`, reduction `k0..k0+k`, columns `n0..n0+n` of the product, run
/// as a device product of shape `padded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub m0: usize,
    pub m: usize,
    pub k0: usize,
    pub k: usize,
    pub n0: usize,
    pub n: usize,
    pub padded: Padded,
}

/// Tiles covering an `m×k` by `k×n` product exactly once; tiles over `k` are summed on the CPU.
pub fn tiles(m: usize, k: usize, n: usize, limits: &Limits) -> Result<Vec<Tile>, RkError> {
    limits.validate()?;
    if m == 0 || k == 0 || n == 0 {
        return Err(RkError::EmptyProduct);
    }
    let mut out = Vec::new();
    for m0 in (0..m).step_by(limits.max_m) {
        let mt = limits.max_m.min(m - m0);
        for n0 in (0..n).step_by(limits.max_n) {
            let nt = limits.max_n.min(n - n0);
            for k0 in (0..k).step_by(limits.max_k) {
                let kt = limits.max_k.min(k - k0);
                out.push(Tile {
                    m0,
                    m: mt,
                    k0,
                    k: kt,
                    n0,
                    n: nt,
                    padded: Padded::new(mt, kt, nt),
                });
            }
        }
    }
    Ok(out)
}
