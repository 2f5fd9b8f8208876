//! `sdt._sdt`: the native half of the `sdt` Python package (the Python half in `pysrc/sdt`
//! adds the structured dtype, type stubs and docs).
//!
//! Modules: `errors` (typed exceptions), `host` (the host-side helpers this crate takes from
//! other crates, in one place), `model` (convert, blobs, running), `events` (event files
//! into numpy), `classify` (event streams through the streaming classifier).

mod classify;
mod errors;
mod events;
mod host;
mod model;

use pyo3::prelude::*;

#[pymodule]
fn _sdt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    model::register(m)?;
    events::register(m)?;
    classify::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
