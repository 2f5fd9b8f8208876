//! What runs one native-layout tile: the NPU, or the host stand-in that computes exactly what
//! the NPU would from the same buffers.

use crate::native::{matmul_native, Padded};
use crate::RkError;

/// A device for native int8 tiles.
pub trait Backend: Send + Sync {
    /// A prepared tile (device context and buffers).
    type Tile: Send;

    fn name(&self) -> &'static str;

    /// Prepares a tile of shape `shape`. `b` is its native B when it is constant (weights,
    /// packed once at load); `None` when B changes every run.
    fn prepare(&self, shape: Padded, b: Option<Vec<i8>>) -> Result<Self::Tile, RkError>;

    /// Runs a tile: `a` native A, `b` native B when not constant, native C into `c`.
    fn run(
        &self,
        tile: &mut Self::Tile,
        a: &[i8],
        b: Option<&[i8]>,
        c: &mut [i32],
    ) -> Result<(), RkError>;
}

/// Executes the packed native layouts on the CPU: the whole NPU path except the library call.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostStandIn;

/// A stand-in tile: its shape and constant B.
pub struct HostTile {
    shape: Padded,
    b: Option<Vec<i8>>,
}

impl Backend for HostStandIn {
    type Tile = HostTile;

    fn name(&self) -> &'static str {
        "host stand-in"
    }

    fn prepare(&self, shape: Padded, b: Option<Vec<i8>>) -> Result<HostTile, RkError> {
        if b.as_ref().is_some_and(|b| b.len() != shape.b_len()) {
            return Err(RkError::Buffer("B"));
        }
        Ok(HostTile { shape, b })
    }

    fn run(
        &self,
        tile: &mut HostTile,
        a: &[i8],
        b: Option<&[i8]>,
        c: &mut [i32],
    ) -> Result<(), RkError> {
        let s = tile.shape;
        let b = b.or(tile.b.as_deref()).ok_or(RkError::Buffer("B"))?;
        if a.len() != s.a_len() {
            return Err(RkError::Buffer("A"));
        }
        if b.len() != s.b_len() {
            return Err(RkError::Buffer("B"));
        }
        if c.len() != s.c_len() {
            return Err(RkError::Buffer("C"));
        }
        matmul_native(&s, a, b, c);
        Ok(())
    }
}
