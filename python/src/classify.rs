//! Event streams classified window by window from Python, through the same streaming
//! classifier as `sdt-dvs classify` and the firmware: framing from the blob, flags override.

use std::path::PathBuf;

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sdt_core::Kernel;

use crate::errors::{self, InputError};
use crate::events::{event_of, source_options};
use crate::host::{
    classify, classify_events, ClassifyError, ClassifyFlags, ClassifyOptions, Event, EventSource,
    Geometry, Summary, WindowResult,
};
use crate::model::{json_to_py, kernel, Model};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(classify_words, m)?)?;
    m.add_function(wrap_pyfunction!(classify_file, m)?)?;
    Ok(())
}

fn classify_error(e: ClassifyError) -> PyErr {
    match e {
        ClassifyError::Source(s) => errors::source(s),
        ClassifyError::Model(m) => errors::core(m),
        other => InputError::new_err(other.to_string()),
    }
}

/// Classifies time-ordered events (their `u64` words) from a `width × height` sensor with
/// `model`: `(windows, summary)`, one dict per window (label, name, confidence, times, SOPs,
/// energy) and the totals with the framing used. `overrides`: see [`options`].
#[pyfunction]
#[pyo3(signature = (model, words, width, height, **overrides))]
fn classify_words<'py>(
    py: Python<'py>,
    model: &Model,
    words: PyReadonlyArray1<'py, u64>,
    width: u16,
    height: u16,
    overrides: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = options(overrides)?;
    let words = words.as_slice()?;
    if words.len() % 2 != 0 {
        return Err(InputError::new_err("event words come in pairs"));
    }
    let events: Vec<Event> = words
        .chunks_exact(2)
        .map(|pair| event_of(pair[0], pair[1]))
        .collect();
    let blob = model.blob();
    let (windows, summary) = py
        .detach(|| {
            let core = blob.model().map_err(ClassifyError::Model)?;
            let mut windows = Vec::new();
            let summary =
                classify_events(&events, Geometry::new(width, height), &core, &opts, |w| {
                    windows.push(w.clone())
                })?;
            Ok::<_, ClassifyError>((windows, summary))
        })
        .map_err(classify_error)?;
    results(py, &windows, &summary)
}

/// Classifies an event file chunk by chunk, as `sdt-dvs classify` does: memory stays that of
/// one chunk and the windows, however long the recording. `format`, `width`, `height` and
/// `evt3_time` as in `read_words`; `overrides` as in [`classify_words`].
#[pyfunction]
#[pyo3(signature = (model, path, format = None, width = None, height = None,
    evt3_time = "spec", **overrides))]
#[allow(clippy::too_many_arguments)] // the Python signature, that of `read_words` and more
fn classify_file<'py>(
    py: Python<'py>,
    model: &Model,
    path: PathBuf,
    format: Option<&str>,
    width: Option<u16>,
    height: Option<u16>,
    evt3_time: &str,
    overrides: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = options(overrides)?;
    let source_opts = source_options(format, width, height, evt3_time)?;
    let blob = model.blob();
    let (windows, summary) = py
        .detach(|| {
            let mut source = EventSource::open(&path, source_opts)?;
            let core = blob.model().map_err(ClassifyError::Model)?;
            let mut windows = Vec::new();
            let summary = classify(
                &mut source,
                &core,
                &opts,
                |w| windows.push(w.clone()),
                |_| {},
            )?;
            Ok::<_, ClassifyError>((windows, summary))
        })
        .map_err(classify_error)?;
    results(py, &windows, &summary)
}

/// The keyword arguments of the classifying functions, with `sdt-dvs classify`'s flags beside.
const KEYWORDS: [&str; 11] = [
    "kernel",             // "spike" or "dense" (--dense)
    "window_us",          // bin length in µs (--bin-us)
    "window_events",      // bin length in events (--bin-events)
    "bins",               // bins per window (--bins)
    "hop",                // a new window every `hop` bins (--hop)
    "average",            // windows averaged per prediction, default 1 (--average)
    "downsample",         // spatial downsampling (--downsample)
    "clip",               // largest count per cell (--clip)
    "slices",             // slices per bin (--slices)
    "normalize_events",   // count normalization target, 0: off (--normalize-events)
    "normalize_max_gain", // its largest gain, default 4 (--normalize-max-gain)
];

/// The classifier's options from keyword arguments ([`KEYWORDS`]): the CLI's flags
/// ([`ClassifyFlags`]) under Python names, checked by the same code. Each framing argument left out (or `None`) comes from the blob
/// (`Model.metadata`); an unknown keyword is a `TypeError`, as for a Python function.
fn options(overrides: Option<&Bound<'_, PyDict>>) -> PyResult<ClassifyOptions> {
    if let Some(d) = overrides {
        for key in d.keys() {
            let key: String = key.extract()?;
            if !KEYWORDS.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "unexpected keyword argument {key:?}; one of {KEYWORDS:?}"
                )));
            }
        }
    }
    let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        let value = overrides.map(|d| d.get_item(key)).transpose()?.flatten();
        Ok(value.filter(|v| !v.is_none()))
    };
    let named = |key: &'static str| move |e: PyErr| PyTypeError::new_err(format!("{key}: {e}"));
    macro_rules! arg {
        ($key:literal as $t:ty) => {
            get($key)?
                .map(|v| v.extract::<$t>())
                .transpose()
                .map_err(named($key))?
        };
    }
    let defaults = ClassifyFlags::default();
    let kernel = arg!("kernel" as String);
    let flags = ClassifyFlags {
        bin_us: arg!("window_us" as u64),
        bin_events: arg!("window_events" as u32),
        bins: arg!("bins" as u16),
        hop: arg!("hop" as u16),
        average: arg!("average" as u16).unwrap_or(defaults.average),
        downsample: arg!("downsample" as u16),
        clip: arg!("clip" as u8),
        slices: arg!("slices" as u8),
        normalize_events: arg!("normalize_events" as u32),
        normalize_max_gain: arg!("normalize_max_gain" as u8).unwrap_or(defaults.normalize_max_gain),
        dense: self::kernel(kernel.as_deref().unwrap_or("spike"))? == Kernel::Dense,
    };
    flags
        .options()
        .map_err(|e| InputError::new_err(e.to_string()))
}

/// `(windows, summary)` as Python lists and dicts.
fn results<'py>(
    py: Python<'py>,
    windows: &[WindowResult],
    summary: &Summary,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let json = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|e| InputError::new_err(format!("classification result: {e}")))
    };
    Ok((
        json_to_py(py, &json(serde_json::to_value(windows))?)?,
        json_to_py(py, &json(serde_json::to_value(summary))?)?,
    ))
}
