//! The DVS gesture demo: the bundled int8 gesture model on the bundled simulated event
//! stream (DVS128 Gesture layout: AEDAT 3.1 plus a labels CSV) through the core's streaming
//! classifier, each window with its ground truth.

use std::path::{Path, PathBuf};

use sdt_core::Kernel;
use sdt_dvs::classify::{classify_events, ClassifyOptions, Summary, WindowResult};
use sdt_dvs::dvs128::{self, Label};
use sdt_host::AlignedBlob;

/// The bundled model.
pub fn bundled_blob() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/dvs_gesture_int8.blob")
}

/// The bundled stream (its labels are `dvs_gesture_stream_labels.csv` next to it).
pub fn bundled_stream() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/dvs_gesture_stream.aedat")
}

/// The streaming classifier's settings for the gesture model: all from the blob (its bin
/// length, bins per window, hop, downsampling and clip), one window per prediction.
pub fn options(kernel: Kernel) -> ClassifyOptions {
    ClassifyOptions::from_blob(kernel)
}

/// A window with the gesture performed during it.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// The classifier's output.
    pub window: WindowResult,
    /// The labelled gesture covering at least half of the window, if any.
    pub truth: Option<usize>,
}

/// The whole run.
#[derive(Clone, Debug)]
pub struct DemoRun {
    /// Every window in order.
    pub windows: Vec<Labelled>,
    /// Totals.
    pub summary: Summary,
    /// Events in the stream.
    pub events: usize,
    /// Blob bytes.
    pub blob_bytes: usize,
    /// Class names from the blob (the class index where it has none).
    pub class_names: Vec<String>,
}

impl DemoRun {
    /// Name of a zero-based class.
    pub fn class_name(&self, class: usize) -> &str {
        self.class_names.get(class).map_or("?", String::as_str)
    }
}

impl DemoRun {
    /// Windows with a ground truth, and how many of them were recognised.
    pub fn scored(&self) -> (usize, usize) {
        let labelled = self.windows.iter().filter(|w| w.truth.is_some());
        let n = labelled.clone().count();
        let hits = labelled.filter(|w| w.truth == Some(w.window.label)).count();
        (hits, n)
    }
}

/// The labelled gesture covering at least half of `[start, end)`.
pub fn truth(labels: &[Label], start: u64, end: u64) -> Option<usize> {
    let len = end.saturating_sub(start).max(1);
    labels
        .iter()
        .find(|l| {
            let overlap = l.end_us.min(end).saturating_sub(l.start_us.max(start));
            2 * overlap >= len
        })
        .map(|l| l.class)
}

/// Runs `blob` on the recording `stream` (AEDAT 3.1 with its labels CSV), framed as the
/// blob says.
pub fn run(
    blob: &Path,
    stream: &Path,
    kernel: Kernel,
) -> Result<DemoRun, Box<dyn std::error::Error>> {
    run_with(blob, stream, &options(kernel))
}

/// [`run`] with explicit options (each `None` taken from the blob).
pub fn run_with(
    blob: &Path,
    stream: &Path,
    opts: &ClassifyOptions,
) -> Result<DemoRun, Box<dyn std::error::Error>> {
    let blob = AlignedBlob::read(blob)?;
    let model = blob.model()?;
    let (events, counters) = dvs128::read_events(stream)?;
    if counters.malformed + counters.out_of_range + counters.truncated_bytes > 0 {
        return Err(format!("{}: damaged stream {counters:?}", stream.display()).into());
    }
    let csv = dvs128::labels_path(stream);
    let text = std::fs::read_to_string(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let labels = dvs128::parse_labels(&text, &csv)?;
    let mut windows = Vec::new();
    let summary = classify_events(&events, dvs128::GEOMETRY, &model, opts, |w| {
        windows.push(Labelled {
            window: w.clone(),
            truth: truth(&labels, w.start_us, w.end_us),
        })
    })?;
    let class_names = (0..model.classes())
        .map(|i| {
            model
                .class_name(i)
                .map_or_else(|| i.to_string(), str::to_owned)
        })
        .collect();
    Ok(DemoRun {
        windows,
        summary,
        events: events.len(),
        blob_bytes: blob.bytes().len(),
        class_names,
    })
}
