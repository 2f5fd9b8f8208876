//! Errors of the checkpoint readers: each variant names what was wrong and where.

use std::path::PathBuf;

use super::pickle::PickleError;

/// Why a checkpoint could not be read or does not hold what was asked for.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("cannot read zip entry {entry}: {source}")]
    EntryRead {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the archive has no `data.pkl` entry: not a torch.save checkpoint")]
    NoPickle,
    #[error("entry {entry} is {size} bytes, more than the {limit} bytes this archive can plausibly hold")]
    EntryTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("checkpoint byte order is {found:?}; only little-endian storages are supported")]
    ByteOrder { found: String },
    #[error("pickle: {0}")]
    Pickle(#[from] PickleError),
    #[error("the pickle holds no state dict: {reason}")]
    NoStateDict { reason: String },
    #[error("no state dict in {}: it holds {keys}; expected a dict of tensors or one of the keys {}", if path.is_empty() { "the checkpoint's root dict".to_owned() } else { format!("`{path}`") }, super::state_dict::CONTAINER_KEYS.join(", "))]
    UnknownContainer { path: String, keys: String },
    #[error("legacy torch.save file: {reason}")]
    Legacy { reason: String },
    #[error("legacy torch.save file: {what} pickle at offset {offset}: {source}")]
    LegacyPickle {
        what: String,
        offset: usize,
        #[source]
        source: PickleError,
    },
    #[error("unknown checkpoint format; tried torch.save zip archive (no `PK` signature), legacy torch.save (no magic number), safetensors (no 8-byte header length followed by `{{`){tar}", tar = if *tar { "; this looks like a tar archive (torch before 0.4), which is not supported: load and re-save it with torch.save" } else { "" })]
    UnknownFormat { tar: bool },
    #[error("state dict key {key} is not a string")]
    NonStringKey { key: String },
    #[error("state dict entry {name} is not a tensor but {found}")]
    NotATensor { name: String, found: String },
    #[error("tensor {name} uses storage {key}, which has no entry in the archive")]
    MissingStorage { name: String, key: String },
    #[error("storage {key} is declared as {expected} bytes but its entry holds {found}")]
    StorageSize {
        key: String,
        expected: u64,
        found: u64,
    },
    #[error("storage {key} is used with two element types ({first} and {second})")]
    StorageDtypeConflict {
        key: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("tensor {name}: shape {shape:?} and stride {stride:?} do not match")]
    BadLayout {
        name: String,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
    #[error(
        "tensor {name} reads up to element {needed} of storage {key}, which holds {available}"
    )]
    OutOfBounds {
        name: String,
        key: String,
        needed: u128,
        available: usize,
    },
    #[error(
        "tensor {name} would hold {numel} elements, over the budget of {budget} for this input"
    )]
    TooLarge {
        name: String,
        numel: u128,
        budget: usize,
    },
    #[error("tensor {name} has unsupported element type {dtype}")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    #[error("no tensor named {name}{hint}")]
    MissingTensor { name: String, hint: String },
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor {name} holds a non-finite value at flat index {index}")]
    NonFinite { name: String, index: usize },
}
