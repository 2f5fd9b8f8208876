//! Helpers shared by the checkpoint tests.
#![allow(dead_code)] // each test binary uses a different part

pub mod pickle;
pub mod torch_save;
