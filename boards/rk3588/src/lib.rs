//! SDT-V3 on Rockchip RK3588-class NPUs.
//!
//! The 1×1 convolutions (SepConv pointwise, q/k/v, MLP, attention projection, head) and both
//! products of every linear-attention head are INT8 × INT8 → INT32 matrix products: spike counts
//! `0..=D` as A, int8 weights (packed once at load into the native B layout) or spike counts as
//! B. They run on the NPU through the RKNN matmul API in tiles that fit its limits; the
//! fixed-point requantization, spikes and every other op stay on the CPU, so the integers are
//! the CPU engine's. Layers the NPU cannot take (k×k and depthwise convolutions, int16 weights,
//! the `(q kᵀ) v` order, the encoding layer) run on the CPU engine.
//!
//! Modules: [`native`] (the native layouts), [`tiling`] (size limits), [`plan`] (which layer
//! goes where), [`backend`] (what runs a tile: the NPU or the host stand-in), [`engine`] (the
//! [`sdt_core::Engine`]), `npu` and `rknn` (the NPU through the RKNN runtime, feature `npu`).

pub mod backend;
pub mod engine;
pub mod native;
#[cfg(feature = "npu")]
pub mod npu;
pub mod plan;
#[cfg(feature = "npu")]
pub mod rknn;
pub mod tiling;

pub use backend::{Backend, HostStandIn};
pub use engine::RkEngine;
pub use tiling::Limits;

use sdt_core::engine::EngineError;

/// Errors of the RK3588 engine.
#[derive(Debug, thiserror::Error)]
pub enum RkError {
    #[error(
        "tile limits {0:?} are not usable (M ≥ 1; K and N multiples of 32, at most 8192 and 4096)"
    )]
    Limits(Limits),
    #[error("a product has an empty dimension")]
    EmptyProduct,
    #[error("native {0} buffer has the wrong size")]
    Buffer(&'static str),
    #[error("node {node}: weight section does not hold {expected} int8 values")]
    Weights { node: usize, expected: usize },
    #[error("an operand value does not fit int8 (or its digits)")]
    Range,
    #[error("a device context lock was poisoned by a panic")]
    Poisoned,
    #[error("{call} failed with RKNN error {code}")]
    Device { call: &'static str, code: i32 },
    #[error(transparent)]
    Model(#[from] sdt_core::Error),
}

impl RkError {
    /// The core's view of a failure inside an engine call.
    pub fn into_engine(self) -> EngineError {
        match self {
            RkError::Device { code, .. } => EngineError::Device { code },
            RkError::Range => EngineError::Range,
            _ => EngineError::Shape,
        }
    }
}
