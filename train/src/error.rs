//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, loading, running or training a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operation inside libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model configuration that the architecture cannot be built from.
    #[error("invalid model configuration: {0}")]
    Config(String),

    /// A weights file lacks a tensor the model needs.
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor { path: PathBuf, name: String },

    /// A weights file has a tensor the model does not know (usually a naming bug).
    #[error("{path}: unexpected tensors not in the model: {names:?}")]
    UnexpectedTensors { path: PathBuf, names: Vec<String> },

    /// A tensor in a file has another shape than the model expects.
    #[error("tensor `{name}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },

    /// An official `.pth` checkpoint could not be read.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] sdt_convert::checkpoint::CheckpointError),

    /// Input data that does not fit the model or the expected layout.
    #[error("data: {0}")]
    Data(String),

    /// Training diverged: the run stops before the bad update, the last checkpoint stays good.
    #[error("{what} became {value} at epoch {epoch}, step {step}; stopped before updating the weights (the last checkpoint is intact; lower the learning rate or enable clip_grad)")]
    NonFinite {
        what: &'static str,
        value: f64,
        epoch: u64,
        step: u64,
    },

    /// The ONNX Runtime peer (`bench/ort_peer.py`) could not run or reported nonsense.
    #[error("ONNX Runtime peer: {0}")]
    Peer(String),

    /// A data-parallel run failed: a collective, the rendezvous or a lost rank.
    #[error("distributed: {0}")]
    Dist(String),

    /// CUDA was asked for but libtorch sees no GPU.
    #[error("--cuda: libtorch sees no CUDA device (a CPU-only torch, no driver, or no GPU)")]
    NoCuda,

    /// Writing metrics as JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
