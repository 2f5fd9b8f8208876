//! The AVX-512 kernels (F/BW/VL; VNNI where the encoding layer can use it).

pub(in crate::kernels) mod columns;
pub(in crate::kernels) mod depthwise;
pub(in crate::kernels) mod encode;
pub(in crate::kernels) mod fixed;
mod masks;
pub(in crate::kernels) mod threshold;
