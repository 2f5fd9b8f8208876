//! The x86-64 kernel sets, compiled into every x86-64 build whatever its `target-cpu`.
//!
//! Each set's functions are `#[inline(always)]` and get their instructions from the entry
//! that inlines them: the functions below, each compiled with `#[target_feature]` and called
//! only once the probe ([`Level`]) found the CPU has those features. The entries run a whole
//! call (rows of a layer, a pixel's channels), so no inner loop crosses a feature boundary.

pub(super) mod avx2;
pub(super) mod avx512;

use core::ops::Range;

use super::attention::AttnArgs;
use super::conv::{ConvArgs, EncodeArgs};
use super::output::{MapFields, Sink};
use super::threshold::Thresholds;
use super::{Isa, Kernel, Pixel, Weight};
use crate::graph::AttentionOrder;

/// The AVX2 set (the AVX-512 kernels off).
pub(super) struct Avx2;
impl Isa for Avx2 {
    const AVX2: bool = true;
}

/// The AVX-512 F/BW/VL set (its AVX2 parts too).
pub(super) struct Avx512;
impl Isa for Avx512 {
    const AVX2: bool = true;
    const AVX512: bool = true;
}

/// The AVX-512 set with the VNNI dot products.
pub(super) struct Avx512Vnni;
impl Isa for Avx512Vnni {
    const AVX2: bool = true;
    const AVX512: bool = true;
    const VNNI: bool = true;
}

/// An entry: a generic driver compiled for set `$isa` with features `$f` (the ones the probe
/// checks for that level).
macro_rules! entry {
    (conv_rows: $name:ident, $isa:ty, $f:tt) => {
        #[doc = concat!("[`super::conv::conv_rows`] with the `", stringify!($isa), "` set.")]
        ///
        /// # Safety
        #[doc = concat!("The CPU has ", $f, ".")]
        #[target_feature(enable = $f)]
        pub(super) unsafe fn $name<W: Weight, S: Sink + ?Sized>(
            kernel: Kernel,
            a: &ConvArgs<'_, W>,
            input: &[u8],
            rows: Range<usize>,
            scratch: &mut [i32],
            sink: &mut S,
        ) {
            super::conv::conv_rows_with::<$isa, W, S>(kernel, a, input, rows, scratch, sink)
        }
    };
    (encode_rows: $name:ident, $isa:ty, $f:tt) => {
        #[doc = concat!("[`super::conv::encode_rows`] with the `", stringify!($isa), "` set.")]
        ///
        /// # Safety
        #[doc = concat!("The CPU has ", $f, ".")]
        #[target_feature(enable = $f)]
        pub(super) unsafe fn $name<X: Pixel, W: Weight, S: Sink + ?Sized>(
            e: EncodeArgs<'_, '_, X, W>,
            acc: &mut [i32],
            sink: &mut S,
        ) {
            super::conv::encode_rows_with::<$isa, X, W, S>(e, acc, sink)
        }
    };
}

entry!(conv_rows: conv_rows_avx2, Avx2, "avx2,fma,bmi1,bmi2,lzcnt,popcnt");
entry!(conv_rows: conv_rows_avx512, Avx512, "avx2,fma,bmi1,bmi2,lzcnt,popcnt,avx512f,avx512bw,avx512vl");
entry!(encode_rows: encode_rows_avx2, Avx2, "avx2,fma,bmi1,bmi2,lzcnt,popcnt");
entry!(encode_rows: encode_rows_avx512, Avx512, "avx2,fma,bmi1,bmi2,lzcnt,popcnt,avx512f,avx512bw,avx512vl");
entry!(
    encode_rows: encode_rows_avx512_vnni,
    Avx512Vnni,
    "avx2,fma,bmi1,bmi2,lzcnt,popcnt,avx512f,avx512bw,avx512vl,avx512vnni"
);

/// [`super::attention::kv_products`] compiled for AVX-512 (the generic loops vectorize).
///
/// # Safety
/// The CPU has AVX-512 F/DQ/BW/VL.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn kv_products_avx512(a: &AttnArgs<'_>, heads: Range<usize>, kv: &mut [i32]) {
    super::attention::kv_products_with(a, heads, kv)
}

/// [`super::attention::attention_rows`] compiled for AVX-512 (the generic loops vectorize).
///
/// # Safety
/// The CPU has AVX-512 F/DQ/BW/VL.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn attention_rows_avx512(
    kernel: Kernel,
    order: AttentionOrder,
    a: &AttnArgs<'_>,
    kv: &[i32],
    rows: Range<usize>,
    scratch: &mut [i32],
    out: &mut [u8],
) {
    super::attention::attention_rows_with(kernel, order, a, kv, rows, scratch, out)
}

/// Spike counts from the affine maps (the dense reference's sink) with AVX-512: its 64-bit
/// products vectorize with AVX-512 DQ.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL/DQ.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn spikes_affine_avx512(
    out: &mut [u8],
    acc: &[i32],
    affine: &[crate::fixed::Affine],
    frac: u8,
    d: u8,
) {
    super::output::spikes_affine(out, acc, affine, frac, d)
}

/// [`Thresholds::spikes`] with AVX-512 (`acc`, `out`: the table's channels).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn spikes_avx512(t: &Thresholds<'_>, acc: &[i32], out: &mut [u8]) {
    avx512::threshold::spikes(t, acc, out)
}

/// [`super::threshold::spike_values`] with AVX-512.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn spike_values_avx512(values: &[i32], frac: u8, d: u8, out: &mut [u8]) {
    avx512::threshold::spike_values(values, frac, d, out)
}

/// [`super::output::FixedSink`]'s maps from split fields with AVX-512.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn fixed_avx512(out: &mut [i32], acc: &[i32], f: &MapFields, accumulate: bool) {
    avx512::fixed::fixed(out, acc, f, accumulate)
}
