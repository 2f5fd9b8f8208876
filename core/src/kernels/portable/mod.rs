//! The kernels in plain Rust that other sets do not replace (the rest of the portable set is
//! the generic code of `conv`, `output` and `threshold`).

pub(in crate::kernels) mod columns;
