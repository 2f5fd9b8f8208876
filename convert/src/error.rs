//! Errors of the converter.

use crate::checkpoint::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot infer the architecture: {0}")]
    Architecture(String),
    #[error("layer {layer}: {reason}")]
    Range { layer: String, reason: String },
    #[error("the model does not fit the blob format: {0}")]
    Capacity(String),
    #[error("the written blob does not load: {0}")]
    Blob(sdt_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Host(#[from] sdt_host::Error),
}

impl ConvertError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ConvertError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, ConvertError>;

impl From<sdt_core::Error> for ConvertError {
    fn from(e: sdt_core::Error) -> Self {
        ConvertError::Blob(e)
    }
}
