#![no_std]
//! Integer runtime for spike-driven transformers (SDT-V3): binary spike accumulation with
//! fixed-point arithmetic, no heap, no floats on the data path.
//!
//! ```text
//! blob bytes ──Model::from_blob──▶ Model (validated, weights borrowed in place)
//!                                    │ arena_bytes(&model, workers)
//! caller's arena ──Session::new────▶ Session ──run(kernel, executor, stats)──▶ logits
//! ```
//!
//! Modules: [`graph`] (what a blob describes), [`meta`] (class names and input framing),
//! [`blob`] (its byte format), [`model`]
//! (validation and the bounds proof), [`plan`] (arena liveness plan), [`kernels`]
//! (spike-driven and dense reference kernels), [`engine`] (who computes the matrix products
//! of synaptic layers: the CPU kernels or a device), [`fixed`] (fixed-point maps), [`session`]
//! (execution), [`stats`] (spikes, SOPs, energy).

pub mod blob;
pub mod engine;
pub mod error;
pub mod exec;
pub mod fixed;
pub mod graph;
pub mod int4;
pub mod kernels;
pub mod meta;
pub mod model;
pub mod plan;
pub mod session;
pub mod stats;

pub use engine::{Cpu, Engine};
pub use error::{Error, Result};
pub use exec::{Executor, Sequential};
pub use kernels::{Kernel, Level, UnsupportedLevel};
pub use meta::{EventFraming, Metadata};
pub use model::Model;
pub use session::{arena_bytes, kept_thresholds_len, Input, Session};
pub use stats::{NodeStats, Stats};
