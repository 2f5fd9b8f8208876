//! Python exceptions for the Rust errors: one base class, one subclass per kind of failure.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError};
use pyo3::prelude::*;

use crate::host::SourceError;
use sdt_convert::checkpoint::CheckpointError;
use sdt_convert::ConvertError;

create_exception!(
    _sdt,
    SdtError,
    PyException,
    "Base class of every sdt error."
);
create_exception!(
    _sdt,
    BlobError,
    SdtError,
    "A model blob was rejected (bad magic, checksum, version, an invalid graph ...)."
);
create_exception!(
    _sdt,
    InputError,
    SdtError,
    "An input has the wrong shape, dtype or length for the model."
);
create_exception!(
    _sdt,
    CheckpointError_,
    SdtError,
    "A checkpoint (.pth / .safetensors) cannot be read or lacks a tensor."
);
create_exception!(
    _sdt,
    ConversionError,
    SdtError,
    "A checkpoint cannot be converted (architecture, ranges, capacity)."
);
create_exception!(
    _sdt,
    EventFormatError,
    SdtError,
    "An event file's format is unknown, unsupported or damaged."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SdtError", py.get_type::<SdtError>())?;
    m.add("BlobError", py.get_type::<BlobError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("CheckpointError", py.get_type::<CheckpointError_>())?;
    m.add("ConversionError", py.get_type::<ConversionError>())?;
    m.add("EventFormatError", py.get_type::<EventFormatError>())?;
    Ok(())
}

fn io_error(path: &str, e: &std::io::Error) -> PyErr {
    let text = format!("{path}: {e}");
    match e.kind() {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(text),
        _ => PyOSError::new_err(text),
    }
}

/// A core error: input length mismatches are the caller's input, the rest the blob's.
pub fn core(e: sdt_core::Error) -> PyErr {
    match e {
        sdt_core::Error::InputLength { .. } => InputError::new_err(e.to_string()),
        _ => BlobError::new_err(e.to_string()),
    }
}

/// Errors of the host utilities (blob files, atomic writes).
pub fn host(e: sdt_host::Error) -> PyErr {
    convert(e.into())
}

pub fn convert(e: ConvertError) -> PyErr {
    match e {
        ConvertError::Io {
            ref path,
            ref source,
        } => io_error(path, source),
        ConvertError::Checkpoint(CheckpointError::Io {
            ref path,
            ref source,
        }) => io_error(&path.display().to_string(), source),
        ConvertError::Checkpoint(c) => CheckpointError_::new_err(c.to_string()),
        ConvertError::Blob(b) | ConvertError::Host(sdt_host::Error::Blob(b)) => core(b),
        ConvertError::Host(sdt_host::Error::Io {
            ref path,
            ref source,
        }) => io_error(&path.display().to_string(), source),
        other => ConversionError::new_err(other.to_string()),
    }
}

pub fn source(e: SourceError) -> PyErr {
    match e {
        SourceError::Io {
            ref path,
            ref source,
        } => io_error(path, source),
        other => EventFormatError::new_err(other.to_string()),
    }
}
