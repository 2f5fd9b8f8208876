//! Reading checkpoints (.pth, .safetensors) into named f32 tensors.
//!
//! `.pth` files are read by a small pickle interpreter ([`pickle`]) that never executes
//! anything, over the zip archive `torch.save` writes ([`pth`]); `.safetensors` files by the
//! `safetensors` crate. Every size and offset is checked against the input, so a corrupt or
//! hostile file gives a [`CheckpointError`], never a panic or an unbounded allocation.

mod dtype;
mod error;
mod pickle;
mod pth;
mod safetensors;

use std::collections::BTreeMap;
use std::path::Path;

pub use error::CheckpointError;
pub use pickle::PickleError;

/// A dense tensor in row-major order, converted to `f32` whatever its stored element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Number of elements (the product of the shape).
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// A value of the training script's `argparse.Namespace`, as far as it is plain data.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    /// A list or tuple.
    List(Vec<ArgValue>),
    /// Anything else (objects, dicts, very wide ints): present but not interpreted.
    Other,
}

/// The model state dict of a checkpoint, plus the training arguments when it has them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// State dict entries by name (parameters and buffers alike).
    pub tensors: BTreeMap<String, Tensor>,
    /// Fields of a pickled `argparse.Namespace` stored under `args`; empty if there is none.
    pub args: BTreeMap<String, ArgValue>,
}

/// Reads a checkpoint file, telling the format from its content: a zip archive (`PK`) is a
/// `torch.save` checkpoint, anything else is read as safetensors.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    if bytes.starts_with(b"PK") {
        load_pth_bytes(&bytes)
    } else {
        load_safetensors_bytes(&bytes)
    }
}

/// Reads a `torch.save` zip archive. The state dict is taken from the key `model`, else
/// `state_dict`, else `model_ema`, else the root dict itself; every entry must be a tensor.
pub fn load_pth_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    pth::load(bytes)
}

/// Reads a `.safetensors` file; its `args` are always empty.
pub fn load_safetensors_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    safetensors::load(bytes)
}

impl Checkpoint {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Result<&Tensor, CheckpointError> {
        self.tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                name: name.to_owned(),
            })
    }

    /// The tensor called `name`, which must have exactly `shape`.
    pub fn expect_shape(&self, name: &str, shape: &[usize]) -> Result<&Tensor, CheckpointError> {
        let tensor = self.get(name)?;
        if tensor.shape != shape {
            return Err(CheckpointError::ShapeMismatch {
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: tensor.shape.clone(),
            });
        }
        Ok(tensor)
    }

    /// Fails on the first NaN or infinity, naming its tensor and flat index.
    pub fn check_finite(&self) -> Result<(), CheckpointError> {
        for (name, tensor) in &self.tensors {
            if let Some(index) = tensor.data.iter().position(|v| !v.is_finite()) {
                return Err(CheckpointError::NonFinite {
                    name: name.clone(),
                    index,
                });
            }
        }
        Ok(())
    }
}
