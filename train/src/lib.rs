//! Training, evaluation and parity checking of SDT-V3 (`Spiking_vit_MetaFormer_Spike_SepConv`)
//! models on libtorch.
//!
//! The network is rebuilt module by module with the official parameter and buffer names, so a
//! `.safetensors` export of an official `state_dict` loads directly and our checkpoints load back
//! into the official code. Spike layers implement Spike Firing Approximation exactly:
//! `round(clamp(x, 0, D)) / D` forward, straight-through inside `[0, D]` backward.

pub mod amp;
pub mod augment;
pub mod blocks;
pub mod checkpoint;
pub mod config;
pub mod context;
pub mod data;
pub mod deploy;
pub mod dist;
pub mod distill;
pub mod error;
pub mod eval;
pub mod events;
pub mod golden;
pub mod images;
pub mod launch;
pub mod layers;
pub mod model;
pub mod optim;
pub mod ort_peer;
pub mod plot;
pub mod quant;
pub mod recorder;
pub mod schedule;
pub mod spike;
pub mod train;
pub mod weights;

pub use context::Ctx;
pub use error::{Error, Result};
pub use model::{Sdt, SdtConfig};
