#![no_std]
//! Board knowledge of the STM32H747I-DISCO that does not need the board: its memory map, where
//! a model's weights and arena go, and the MPU attributes of the external memories. Plain
//! logic, so the build script, the footprint report and host tests share it with the firmware.

#[cfg(test)]
extern crate std;

pub mod memory;
pub mod mpu;
pub mod placement;

pub use memory::Region;
pub use placement::{place, Home, Placement, PlacementError};
