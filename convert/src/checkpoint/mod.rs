//! Reading checkpoints (.pth, .safetensors) into named f32 tensors.
//!
//! `.pth` files are read by a small pickle interpreter (`pickle`) that never executes
//! anything, over the zip archive `torch.save` writes (`pth`) or the single stream of its
//! legacy format (`legacy`); `.safetensors` files by the `safetensors` crate. Container keys
//! and wrapper name prefixes are undone (`state_dict`) and recorded in [`Origin`]. Every size and offset is checked against the input, so a corrupt or
//! hostile file gives a [`CheckpointError`], never a panic or an unbounded allocation.

mod dtype;
mod error;
mod legacy;
mod pickle;
mod pth;
mod safetensors;
mod state_dict;
mod view;

use std::collections::BTreeMap;
use std::fmt;
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
    /// State dict entries by name (parameters and buffers alike), wrapper prefixes removed.
    pub tensors: BTreeMap<String, Tensor>,
    /// Fields of a pickled `argparse.Namespace` stored under `args`; empty if there is none.
    pub args: BTreeMap<String, ArgValue>,
    /// Where the tensors came from; all empty for a checkpoint built in memory.
    pub origin: Origin,
}

/// A checkpoint file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` since torch 1.6: a zip archive.
    TorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: pickles and raw storages.
    TorchLegacy,
    Safetensors,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TorchZip => "torch.save zip archive",
            Self::TorchLegacy => "legacy torch.save (before torch 1.6)",
            Self::Safetensors => "safetensors",
        })
    }
}

/// How a checkpoint was stored and what was undone to reach its plain state dict.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// `None` for a checkpoint built in memory.
    pub format: Option<Format>,
    /// Container keys followed from the pickled root to the state dict, outermost first
    /// (empty: the root is the state dict).
    pub container: Vec<String>,
    /// Prefixes removed from every tensor name (`module.`, `_orig_mod.`), in that order.
    pub stripped_prefixes: Vec<String>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            Some(format) => write!(f, "{format}")?,
            None => f.write_str("in memory")?,
        }
        if self.container.is_empty() {
            f.write_str(", state dict at the root")?;
        } else {
            let path: Vec<String> = self.container.iter().map(|k| format!("[{k:?}]")).collect();
            write!(f, ", state dict unwrapped from {}", path.concat())?;
        }
        if self.stripped_prefixes.is_empty() {
            f.write_str(", no name prefix stripped")
        } else {
            let prefixes: Vec<String> = self
                .stripped_prefixes
                .iter()
                .map(|p| format!("`{p}`"))
                .collect();
            write!(f, ", stripped {} from every name", prefixes.join(" then "))
        }
    }
}

/// Reads a checkpoint file, telling the format from its content (see [`load_bytes`]).
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    load_bytes(&bytes)
}

/// The format of a checkpoint's bytes, from their first bytes alone.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"PK") {
        Some(Format::TorchZip)
    } else if legacy::sniff(bytes) {
        Some(Format::TorchLegacy)
    } else if bytes.len() > 8 && bytes[8] == b'{' {
        Some(Format::Safetensors)
    } else {
        None
    }
}

/// Reads a checkpoint of any supported [`Format`]; an unknown one is an error that names the
/// formats tried.
pub fn load_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    match sniff(bytes) {
        Some(Format::TorchZip) => load_pth_bytes(bytes),
        Some(Format::TorchLegacy) => load_legacy_pth_bytes(bytes),
        Some(Format::Safetensors) => load_safetensors_bytes(bytes),
        None => Err(CheckpointError::UnknownFormat {
            tar: bytes.get(257..262) == Some(b"ustar"),
        }),
    }
}

/// Reads a `torch.save` zip archive. The state dict is found under the container keys `model`,
/// `state_dict`, `model_ema`, `module` (nested too), else it is the root dict itself; every
/// entry must be a tensor. Wrapper prefixes (`module.`, `_orig_mod.`) are stripped.
pub fn load_pth_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    pth::load(bytes)
}

/// Reads a legacy (before torch 1.6) `torch.save` file, like [`load_pth_bytes`].
pub fn load_legacy_pth_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    legacy::load(bytes)
}

/// Reads a `.safetensors` file; its `args` are always empty. Wrapper prefixes are stripped.
pub fn load_safetensors_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    safetensors::load(bytes)
}

impl Checkpoint {
    /// A checkpoint read from a file: strips the wrapper prefixes and records what was undone.
    pub(crate) fn unwrapped(
        mut tensors: BTreeMap<String, Tensor>,
        args: BTreeMap<String, ArgValue>,
        format: Format,
        container: Vec<String>,
    ) -> Self {
        let stripped_prefixes = state_dict::strip_prefixes(&mut tensors);
        Checkpoint {
            tensors,
            args,
            origin: Origin {
                format: Some(format),
                container,
                stripped_prefixes,
            },
        }
    }

    /// The tensor called `name`. When it is missing but a name ends with it, the error shows
    /// that name: its prefix is what the caller has to account for.
    pub fn get(&self, name: &str) -> Result<&Tensor, CheckpointError> {
        self.tensors.get(name).ok_or_else(|| {
            let suffix = format!(".{name}");
            let hint = self
                .tensors
                .keys()
                .find(|k| k.ends_with(&suffix))
                .map(|k| {
                    let prefix = &k[..k.len() - name.len()];
                    format!(" (the checkpoint has {k}: are its names prefixed with `{prefix}`?)")
                })
                .unwrap_or_default();
            CheckpointError::MissingTensor {
                name: name.to_owned(),
                hint,
            }
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
