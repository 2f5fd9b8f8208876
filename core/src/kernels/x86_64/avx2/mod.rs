//! The AVX2 kernels.

pub(in crate::kernels) mod columns;
