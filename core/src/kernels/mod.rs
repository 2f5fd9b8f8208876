//! Kernels. Every synaptic op has two: a spike-driven one (for each input spike, add the
//! weights it reaches; cost grows with the number of spikes) and a dense integer reference
//! (multiply-accumulate over every input, spikes or not). Both produce the same integers;
//! arithmetic wraps so that they agree even on inputs outside the proven bounds.
//!
//! Laid out by instruction set: the generic code here (`conv`, `output`, `threshold`,
//! `attention`, `columns`) is the portable set and the driver of the others; `portable/`,
//! `x86_64/{avx2,avx512}/` and `helium/` hold the code each instruction set replaces.
//! A [`Level`] picks the set once per session: at run time on hosts, by the `helium` feature
//! on Cortex-M.

pub mod attention;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod columns;
pub mod conv;
#[cfg(feature = "helium")]
mod helium;
pub mod level;
pub mod output;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod portable;
pub mod threshold;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use level::{force_default, Level, UnknownLevel, UnsupportedLevel};

/// A kernel set as constants: the generic kernels take it as a type parameter, so each set's
/// call tree is compiled once, inside the entry that enables its instructions (`x86_64/`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait Isa {
    const AVX2: bool = false;
    const AVX512: bool = false;
    const VNNI: bool = false;
}

/// The portable set.
pub(crate) struct Portable;
impl Isa for Portable {}

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

/// Input image value types of the encoding layer.
pub trait Pixel: Copy + Into<i32> + Send + Sync {
    /// The values as `i8`, where this is the `i8` type (the byte-wide kernels read them raw).
    fn as_i8(values: &[Self]) -> Option<&[i8]>;
}
impl Pixel for i8 {
    fn as_i8(values: &[i8]) -> Option<&[i8]> {
        Some(values)
    }
}
impl Pixel for i16 {
    fn as_i8(_: &[i16]) -> Option<&[i8]> {
        None
    }
}

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
