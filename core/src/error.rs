//! Errors of the core. Plain enums: no allocation, no formatting machinery needed.

use crate::engine::EngineError;
use crate::graph::TensorId;
use crate::meta::MetaError;

/// Why a blob was rejected or a run could not start. New variants may come (match with a
/// wildcard arm); firmware logs it directly with the `defmt` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its header or its declared sections.
    Truncated { needed: usize, found: usize },
    /// Does not start with the blob magic.
    BadMagic,
    /// Written by a newer (or unknown) format version.
    UnsupportedVersion { found: u16, supported: u16 },
    /// Header lengths and offsets disagree with each other or with the blob length.
    BadLayout,
    /// The checksum does not match the content.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// The graph description does not decode.
    BadGraph,
    /// The metadata (class names, input framing) does not decode or does not fit the model.
    BadMetadata(MetaError),
    /// The blob (or arena) is not aligned for zero-copy access.
    Misaligned { required: usize },
    /// A tensor id points outside the tensor table.
    BadTensorId { node: u16, tensor: TensorId },
    /// A tensor has a zero or absurd dimension.
    BadTensor { tensor: TensorId },
    /// A node's tensors do not have the kinds or shapes its op requires.
    ShapeMismatch { node: u16 },
    /// A node reads a tensor no earlier node (nor the input) has written.
    ReadBeforeWrite { node: u16, tensor: TensorId },
    /// A section lies outside the data section or has the wrong length.
    BadSection { node: u16 },
    /// Unsupported parameter (kernel size, stride, heads, D ...).
    Unsupported { node: u16 },
    /// An accumulator or fixed-point value could exceed its integer type.
    Overflow { node: u16 },
    /// The caller's arena is smaller than the model needs.
    ArenaTooSmall { needed: usize, found: usize },
    /// The caller's input has the wrong length.
    InputLength { expected: usize, found: usize },
    /// Asked for a node range outside the graph.
    BadNodeRange,
    /// Asked to plan for a worker count outside `1..=max`.
    BadWorkerCount { workers: usize, max: usize },
    /// The matrix-product engine failed on a product it took.
    Engine { node: u16, error: EngineError },
}

pub type Result<T> = core::result::Result<T, Error>;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated { needed, found } => {
                write!(f, "blob truncated: needs {needed} bytes, has {found}")
            }
            Error::BadMagic => write!(f, "not a model blob (bad magic)"),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "blob format version {found} is not supported (this runtime reads {supported})"
            ),
            Error::BadLayout => write!(f, "blob header offsets are inconsistent"),
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "blob checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): corrupted"
            ),
            Error::BadGraph => write!(f, "graph description does not decode"),
            Error::BadMetadata(e) => write!(f, "blob metadata rejected: {e}"),
            Error::Misaligned { required } => {
                write!(f, "buffer must be aligned to {required} bytes")
            }
            Error::BadTensorId { node, tensor } => {
                write!(f, "node {node} refers to missing tensor {tensor}")
            }
            Error::BadTensor { tensor } => write!(f, "tensor {tensor} has invalid dimensions"),
            Error::ShapeMismatch { node } => write!(f, "node {node}: tensor shapes do not fit its op"),
            Error::ReadBeforeWrite { node, tensor } => {
                write!(f, "node {node} reads tensor {tensor} before it is written")
            }
            Error::BadSection { node } => {
                write!(f, "node {node}: weight or parameter section out of range")
            }
            Error::Unsupported { node } => write!(f, "node {node}: unsupported parameters"),
            Error::Overflow { node } => {
                write!(f, "node {node}: integer range could overflow")
            }
            Error::ArenaTooSmall { needed, found } => {
                write!(f, "arena too small: needs {needed} bytes, has {found}")
            }
            Error::InputLength { expected, found } => {
                write!(f, "input has {found} values, model expects {expected}")
            }
            Error::BadNodeRange => write!(f, "node range outside the graph"),
            Error::BadWorkerCount { workers, max } => {
                write!(f, "{workers} workers asked; a plan takes 1 to {max}")
            }
            Error::Engine { node, error } => write!(f, "node {node}: engine failed: {error}"),
        }
    }
}

impl core::error::Error for Error {}
