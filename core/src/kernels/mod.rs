//! Kernels. Every synaptic op has two: a spike-driven one (for each input spike, add the
//! weights it reaches; cost grows with the number of spikes) and a dense integer reference
//! (multiply-accumulate over every input, spikes or not). Both produce the same integers;
//! arithmetic wraps so that they agree even on inputs outside the proven bounds.

pub mod attention;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod columns;
pub mod conv;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "avx512bw",
    target_feature = "avx512vl"
))]
mod depthwise;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "avx512bw"
))]
mod encode;
#[cfg(feature = "helium")]
mod helium;
#[cfg(feature = "helium")]
mod helium_asm;
#[cfg(feature = "helium")]
mod helium_sink;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "avx512bw"
))]
mod masks;
pub mod output;
pub mod threshold;

use bytemuck::Pod;

/// Which implementation of the synaptic ops to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Accumulate-only, driven by the spikes present.
    SpikeDriven,
    /// Dense multiply-accumulate reference.
    Dense,
}

/// Stored weight types.
pub trait Weight: Pod + Copy + Into<i32> + Send + Sync {}
impl Weight for i8 {}
impl Weight for i16 {}

/// `acc += col`, once per binary spike: the only arithmetic of a spike-driven synapse.
#[inline(always)]
pub(crate) fn add_column<W: Weight>(acc: &mut [i32], col: &[W]) {
    for (a, &w) in acc.iter_mut().zip(col) {
        *a = a.wrapping_add(w.into());
    }
}

/// `acc += x · col`: the dense reference's multiply-accumulate.
#[inline(always)]
pub(crate) fn mac_column<W: Weight>(acc: &mut [i32], x: i32, col: &[W]) {
    for (a, &w) in acc.iter_mut().zip(col) {
        *a = a.wrapping_add(x.wrapping_mul(w.into()));
    }
}
