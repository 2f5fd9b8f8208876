//! Event files into numpy: every format the host tools read, decoded by the Rust decoders
//! straight into the final array memory.
//!
//! Each event is two little-endian `u64` words laid out like the structured dtype
//! `t <i8 @0, x <i2 @8, y <i2 @10, p u1 @12` (16-byte records, the layout of expelliarmus and
//! tonic arrays); the Python side views the `u64` array with that dtype, without a copy.

use std::ops::ControlFlow;
use std::path::PathBuf;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{self, InputError};
use crate::host::{
    for_each_bin, Counters, Event, EventSource, Format, Framer, FramerConfig, FramerError,
    Geometry, GeometrySource, Push, SourceError, SourceOptions, TimePolicy, TrailingBin, Window,
};
use sdt_core::meta::CountNormalization;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_words, m)?)?;
    m.add_function(wrap_pyfunction!(frame_words, m)?)?;
    m.add_class::<EventReader>()?;
    Ok(())
}

const FORMATS: [Format; 7] = [
    Format::Evt2,
    Format::Evt3,
    Format::Dat,
    Format::Aedat2,
    Format::Aedat31,
    Format::Aedat4,
    Format::Nmnist,
];

/// How to open a file, from the Python arguments of `read_words`, `EventReader` and
/// `classify_file`.
pub(crate) fn source_options(
    format: Option<&str>,
    width: Option<u16>,
    height: Option<u16>,
    evt3_time: &str,
) -> PyResult<SourceOptions> {
    let evt3_time = match evt3_time {
        "spec" => TimePolicy::Spec,
        "expelliarmus" => TimePolicy::LowCarry,
        other => {
            return Err(InputError::new_err(format!(
                "evt3_time must be \"spec\" or \"expelliarmus\", not {other:?}"
            )))
        }
    };
    let format =
        match format {
            None => None,
            Some(name) => Some(FORMATS.into_iter().find(|f| f.name() == name).ok_or_else(
                || {
                    InputError::new_err(format!(
                        "unknown format {name:?}; one of {:?}",
                        FORMATS.map(Format::name)
                    ))
                },
            )?),
        };
    let geometry = match (width, height) {
        (Some(w), Some(h)) => Some(Geometry::new(w, h)),
        (None, None) => None,
        _ => {
            return Err(InputError::new_err(
                "give both width and height, or neither",
            ))
        }
    };
    Ok(SourceOptions {
        format,
        geometry,
        evt3_time,
    })
}

/// The two words of one event.
#[inline(always)]
fn push_words(out: &mut Vec<u64>, e: Event) {
    out.extend_from_slice(&[
        e.t,
        u64::from(e.x) | u64::from(e.y) << 16 | u64::from(e.p) << 32,
    ]);
}

#[inline(always)]
pub(crate) fn event_of(t: u64, w: u64) -> Event {
    Event {
        t,
        x: w as u16,
        y: (w >> 16) as u16,
        p: (w >> 32) as u8,
    }
}

/// What is known about a file besides its events.
struct Info {
    format: Format,
    geometry: Geometry,
    geometry_source: GeometrySource,
    counters: Counters,
    bytes_read: u64,
}

impl Info {
    fn of(source: &EventSource) -> Self {
        Info {
            format: source.format(),
            geometry: source.geometry(),
            geometry_source: source.geometry_source(),
            counters: source.counters(),
            bytes_read: source.bytes_read(),
        }
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("format", self.format.name())?;
        d.set_item("width", self.geometry.width)?;
        d.set_item("height", self.geometry.height)?;
        let source = match self.geometry_source {
            GeometrySource::Option => "option",
            GeometrySource::File => "file",
            GeometrySource::SensorName => "sensor_name",
            GeometrySource::Default => "default",
        };
        d.set_item("geometry_source", source)?;
        d.set_item("bytes_read", self.bytes_read)?;
        let c = PyDict::new(py);
        c.set_item("events", self.counters.events)?;
        c.set_item("malformed", self.counters.malformed)?;
        c.set_item("non_event", self.counters.non_event)?;
        c.set_item("out_of_range", self.counters.out_of_range)?;
        c.set_item("truncated_bytes", self.counters.truncated_bytes)?;
        d.set_item("counters", c)?;
        Ok(d)
    }
}

/// Decodes a whole file (GIL released) into `u64` words and a dict of format, geometry and
/// counters. `sdt.events.read` wraps this.
#[pyfunction]
#[pyo3(signature = (path, format = None, width = None, height = None, evt3_time = "spec"))]
fn read_words<'py>(
    py: Python<'py>,
    path: PathBuf,
    format: Option<&str>,
    width: Option<u16>,
    height: Option<u16>,
    evt3_time: &str,
) -> PyResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyDict>)> {
    let opts = source_options(format, width, height, evt3_time)?;
    let (words, info) = py
        .detach(move || -> Result<(Vec<u64>, Info), SourceError> {
            let mut source = EventSource::open(&path, opts)?;
            // One event per two bytes covers every format but dense EVT 3.0 vectors, so most
            // files decode without a regrowth copy; pages never written cost no memory, and
            // the shrink of a large allocation remaps instead of copying.
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let mut words = Vec::with_capacity((bytes as usize).min(1 << 30));
            while source.next_chunk_with(|e| push_words(&mut words, e))? {}
            words.shrink_to_fit();
            Ok((words, Info::of(&source)))
        })
        .map_err(errors::source)?;
    Ok((PyArray1::from_vec(py, words), info.to_dict(py)?))
}

/// A file decoded chunk by chunk (about 256 KiB of file per chunk; one packet for AEDAT 4.0):
/// iterate to get `u64` word arrays. `sdt.events.open` wraps this.
#[pyclass(unsendable, module = "sdt._sdt")]
pub struct EventReader {
    source: EventSource,
    done: bool,
}

#[pymethods]
impl EventReader {
    #[new]
    #[pyo3(signature = (path, format = None, width = None, height = None, evt3_time = "spec"))]
    fn py_new(
        path: PathBuf,
        format: Option<&str>,
        width: Option<u16>,
        height: Option<u16>,
        evt3_time: &str,
    ) -> PyResult<Self> {
        let opts = source_options(format, width, height, evt3_time)?;
        Ok(EventReader {
            source: EventSource::open(&path, opts).map_err(errors::source)?,
            done: false,
        })
    }

    /// Format, geometry and counters so far (final once iteration ends).
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Info::of(&self.source).to_dict(py)
    }

    /// The next chunk's words; `None` at the end of the file.
    fn next_words<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray1<u64>>>> {
        let mut words = Vec::new();
        while !self.done && words.is_empty() {
            self.done = !self
                .source
                .next_chunk_with(|e| push_words(&mut words, e))
                .map_err(errors::source)?;
        }
        Ok((!words.is_empty()).then(|| PyArray1::from_vec(py, words)))
    }
}

/// `(T, 2S, H', W')` of one window.
type FrameShape = (usize, usize, usize, usize);

fn framer_error(e: FramerError) -> PyErr {
    InputError::new_err(e.to_string())
}

/// Frames events (their `u64` words) with the core's framer: `(windows, T*2S*H'*W')` counts
/// as a flat `uint8` array plus the frame shape `(T, 2S, H', W')` (`S` slices per bin). A
/// trailing window that received events is included when `partial`. With
/// `normalize_events`, bins are framed one at a time as the streaming classifier does and
/// each is lifted by its [`CountNormalization`].
#[pyfunction]
#[pyo3(signature = (words, width, height, bins, *, window_us = None, window_events = None,
    downsample = 1, clip = 4, slices = 1, partial = true, normalize_events = None,
    normalize_max_gain = CountNormalization::DEFAULT_MAX_GAIN))]
#[allow(clippy::too_many_arguments)]
fn frame_words<'py>(
    py: Python<'py>,
    words: PyReadonlyArray1<'py, u64>,
    width: u16,
    height: u16,
    bins: u16,
    window_us: Option<u64>,
    window_events: Option<u32>,
    downsample: u16,
    clip: u8,
    slices: u8,
    partial: bool,
    normalize_events: Option<u32>,
    normalize_max_gain: u8,
) -> PyResult<(Bound<'py, PyArray1<u8>>, FrameShape)> {
    if normalize_max_gain == 0 {
        return Err(InputError::new_err("normalize_max_gain must be at least 1"));
    }
    let normalize =
        normalize_events.and_then(|n| CountNormalization::towards(n, normalize_max_gain));
    let window = match (window_us, window_events) {
        (Some(us), None) => Window::Time { us },
        (None, Some(events)) => Window::Count { events },
        _ => {
            return Err(InputError::new_err(
                "give exactly one of window_us and window_events",
            ))
        }
    };
    let cfg = FramerConfig {
        geometry: Geometry::new(width, height),
        bins,
        window,
        downsample,
        clip,
        slices,
    };
    let mut framer = Framer::new(cfg).map_err(framer_error)?;
    let shape = framer.shape();
    let words = words.as_slice()?;
    if words.len() % 2 != 0 {
        return Err(InputError::new_err("event words come in pairs"));
    }
    if let Some(normalize) = normalize {
        let frames = py.detach(|| frame_bin_by_bin(words, cfg, normalize, partial))?;
        return Ok((PyArray1::from_vec(py, frames), shape));
    }
    let frames = py.detach(|| {
        let len = framer.frame_len();
        let mut frame = vec![0u8; len];
        let mut frames = Vec::new();
        let mut binned = false;
        for pair in words.chunks_exact(2) {
            let e = event_of(pair[0], pair[1]);
            loop {
                match framer.push(e, &mut frame) {
                    Push::Full => {
                        frames.extend_from_slice(&frame);
                        framer.next_window(&mut frame);
                        binned = false;
                    }
                    Push::Binned => {
                        binned = true;
                        break;
                    }
                    Push::Dropped => break,
                }
            }
            if framer.is_full() {
                frames.extend_from_slice(&frame);
                framer.next_window(&mut frame);
                binned = false;
            }
        }
        if partial && binned {
            frames.extend_from_slice(&frame);
        }
        frames
    });
    Ok((PyArray1::from_vec(py, frames), shape))
}

/// Windows of `cfg.bins` bins framed one bin at a time, each lifted by `normalize` with its
/// own event count when it closes: the streaming classifier's framing (an event older than
/// its bin's start is dropped as late, as there). A trailing window that received events is
/// kept when `partial`, its open bin lifted as the stream's `finish` lifts it.
fn frame_bin_by_bin(
    words: &[u64],
    cfg: FramerConfig,
    normalize: CountNormalization,
    partial: bool,
) -> PyResult<Vec<u8>> {
    let bin_len = FramerConfig { bins: 1, ..cfg }
        .frame_len()
        .map_err(framer_error)?;
    let mut bin = vec![0u8; bin_len];
    let mut window = vec![0u8; bin_len * usize::from(cfg.bins)];
    let (mut closed, mut any) = (0usize, false);
    let mut frames = Vec::new();
    let events = words.chunks_exact(2).map(|pair| event_of(pair[0], pair[1]));
    let trailing = if partial {
        TrailingBin::Keep
    } else {
        TrailingBin::Drop
    };
    for_each_bin(
        events,
        cfg,
        Some(normalize),
        trailing,
        &mut bin,
        |bin, events| {
            window[closed * bin_len..][..bin_len].copy_from_slice(bin);
            any |= events > 0;
            closed += 1;
            if closed == usize::from(cfg.bins) {
                frames.extend_from_slice(&window);
                (closed, any) = (0, false);
            }
            ControlFlow::Continue(())
        },
    )
    .map_err(framer_error)?;
    if partial && any {
        // The bins not reached stay empty.
        window[closed * bin_len..].fill(0);
        frames.extend_from_slice(&window);
    }
    Ok(frames)
}
