//! Helpers shared by the checkpoint tests.

pub mod torch_save;
