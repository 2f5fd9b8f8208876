#![no_std]
//! Integer runtime for spike-driven transformers (SDT-V3): binary spike accumulation with
//! fixed-point arithmetic, no heap, no floats on the data path.

pub mod events;
