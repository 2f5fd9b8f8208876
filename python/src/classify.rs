//! Event streams classified window by window from Python, through the same streaming
//! classifier as `sdt-dvs classify` and the firmware: framing from the blob, flags override.

use std::path::PathBuf;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use sdt_core::meta::CountNormalization;

use crate::errors::{self, InputError};
use crate::events::{event_of, source_options};
use crate::host::{
    classify, classify_events, ClassifyError, ClassifyOptions, Event, EventSource, Geometry,
    Summary, Window, WindowResult,
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
/// energy) and the totals with the framing used. Every framing argument left `None` comes
/// from the blob (`Model.metadata`); `normalize_events=0` turns its count normalization off.
#[pyfunction]
#[pyo3(signature = (model, words, width, height, *, kernel = "spike", window_us = None,
    window_events = None, bins = None, hop = None, average = 1, downsample = None,
    clip = None, slices = None, normalize_events = None,
    normalize_max_gain = CountNormalization::DEFAULT_MAX_GAIN))]
#[allow(clippy::too_many_arguments)]
fn classify_words<'py>(
    py: Python<'py>,
    model: &Model,
    words: PyReadonlyArray1<'py, u64>,
    width: u16,
    height: u16,
    kernel: &str,
    window_us: Option<u64>,
    window_events: Option<u32>,
    bins: Option<u16>,
    hop: Option<u16>,
    average: u16,
    downsample: Option<u16>,
    clip: Option<u8>,
    slices: Option<u8>,
    normalize_events: Option<u32>,
    normalize_max_gain: u8,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = options(
        kernel,
        window_us,
        window_events,
        bins,
        hop,
        average,
        downsample,
        clip,
        slices,
        normalize_events,
        normalize_max_gain,
    )?;
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
/// `evt3_time` as in `read_words`; the framing arguments as in [`classify_words`].
#[pyfunction]
#[pyo3(signature = (model, path, format = None, width = None, height = None,
    evt3_time = "spec", *, kernel = "spike", window_us = None, window_events = None,
    bins = None, hop = None, average = 1, downsample = None, clip = None, slices = None,
    normalize_events = None, normalize_max_gain = CountNormalization::DEFAULT_MAX_GAIN))]
#[allow(clippy::too_many_arguments)]
fn classify_file<'py>(
    py: Python<'py>,
    model: &Model,
    path: PathBuf,
    format: Option<&str>,
    width: Option<u16>,
    height: Option<u16>,
    evt3_time: &str,
    kernel: &str,
    window_us: Option<u64>,
    window_events: Option<u32>,
    bins: Option<u16>,
    hop: Option<u16>,
    average: u16,
    downsample: Option<u16>,
    clip: Option<u8>,
    slices: Option<u8>,
    normalize_events: Option<u32>,
    normalize_max_gain: u8,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = options(
        kernel,
        window_us,
        window_events,
        bins,
        hop,
        average,
        downsample,
        clip,
        slices,
        normalize_events,
        normalize_max_gain,
    )?;
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

/// The classifier's options from the Python arguments (checked as the CLI checks its flags).
#[allow(clippy::too_many_arguments)]
fn options(
    kernel: &str,
    window_us: Option<u64>,
    window_events: Option<u32>,
    bins: Option<u16>,
    hop: Option<u16>,
    average: u16,
    downsample: Option<u16>,
    clip: Option<u8>,
    slices: Option<u8>,
    normalize_events: Option<u32>,
    normalize_max_gain: u8,
) -> PyResult<ClassifyOptions> {
    let bin = match (window_us, window_events) {
        (None, None) => None,
        (Some(us), None) => Some(Window::Time { us }),
        (None, Some(events)) => Some(Window::Count { events }),
        _ => {
            return Err(InputError::new_err(
                "give at most one of window_us and window_events",
            ))
        }
    };
    if normalize_max_gain == 0 {
        return Err(InputError::new_err("normalize_max_gain must be at least 1"));
    }
    if average == 0 {
        return Err(InputError::new_err("average must be at least 1"));
    }
    Ok(ClassifyOptions {
        bin,
        bins,
        hop,
        average,
        downsample,
        clip,
        slices,
        normalize: normalize_events.map(|n| CountNormalization::towards(n, normalize_max_gain)),
        kernel: self::kernel(kernel)?,
    })
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
