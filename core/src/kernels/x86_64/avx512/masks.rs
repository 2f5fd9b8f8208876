//! Lane masks of the AVX-512 kernels: the first `n` lanes of a register, for the partial
//! group of channels at the end of a row.

use core::arch::x86_64::{__mmask16, __mmask32, __mmask64};

/// The first `n` of 16 lanes (all of them for `n ≥ 16`).
#[inline(always)]
pub(super) fn first16(n: usize) -> __mmask16 {
    if n >= 16 {
        u16::MAX
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// The first `n` of 32 lanes (all of them for `n ≥ 32`).
#[inline(always)]
pub(super) fn first32(n: usize) -> __mmask32 {
    if n >= 32 {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

/// The first `n` of 64 lanes (all of them for `n ≥ 64`).
#[inline(always)]
pub(super) fn first64(n: usize) -> __mmask64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}
