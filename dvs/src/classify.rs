//! Classifying a recording with a model blob through the core's streaming classifier, with
//! per-window latency, synaptic operations and energy.

use std::time::Instant;

use sdt_core::meta::CountNormalization;
use sdt_core::stats::{E_AC_FJ, E_MAC_FJ};
use sdt_core::{Kernel, Model, Sequential, Session, Stats};
use sdt_events::stream::{
    Prediction, Run, StreamBuffers, StreamClassifier, StreamConfig, StreamError,
};
use sdt_events::{Event, FramerConfig, Geometry, Window};

use crate::info::ErrorCounts;
use crate::source::{EventSource, SourceError};

/// Windowing choices. Each `None` is taken from the blob's framing (see
/// [`sdt_core::Model::framing`]), or, for a blob without one, from the default it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// One bin: µs or events; default 10 ms.
    pub bin: Option<Window>,
    /// Bins per window (`T`); default 4.
    pub bins: Option<u16>,
    /// A new window every `hop` bins; default 1.
    pub hop: Option<u16>,
    /// Windows averaged per prediction (`K`).
    pub average: u16,
    /// Spatial downsampling; default: the blob's when it maps this sensor onto the model
    /// input, else the factor that does.
    pub downsample: Option<u16>,
    /// Largest count per cell; default: the model's `D`.
    pub clip: Option<u8>,
    /// Slices per bin (each its own OFF/ON channel pair); default 1.
    pub slices: Option<u8>,
    /// Count normalization of sparse bins: `None` takes the blob's (with the blob's bin
    /// length only: it is tuned to it), `Some(None)` turns it off, `Some(Some(n))` uses `n`.
    pub normalize: Option<Option<CountNormalization>>,
    /// Kernel.
    pub kernel: Kernel,
}

impl ClassifyOptions {
    /// Everything from the blob, one window per prediction.
    pub fn from_blob(kernel: Kernel) -> Self {
        ClassifyOptions {
            bin: None,
            bins: None,
            hop: None,
            average: 1,
            downsample: None,
            clip: None,
            slices: None,
            normalize: None,
            kernel,
        }
    }
}

/// The classifier's choices as raw values: the flags of `sdt-dvs classify` and the keywords
/// of Python's `classify*` functions, turned into [`ClassifyOptions`] and checked in one place.
/// Each `None` is taken from the blob's framing.
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassifyFlags {
    /// Bin length in µs, one model run per bin (default: the blob's framing, else 10000).
    #[arg(long, conflicts_with = "bin_events",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub bin_us: Option<u64>,
    /// Bin length in events instead of µs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub bin_events: Option<u32>,
    /// Bins per window, T (default: the blob's framing, else 4).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub bins: Option<u16>,
    /// A new window every HOP bins (default: the blob's framing, else 1).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub hop: Option<u16>,
    /// Windows averaged per prediction (K).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub average: u16,
    /// Spatial downsampling (default: the blob's framing when it maps the sensor onto the
    /// model input, else whatever does).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub downsample: Option<u16>,
    /// Largest count per cell (default: the blob's framing, else the model's D).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub clip: Option<u8>,
    /// Slices per bin, each its own OFF/ON channel pair (default: the blob's framing, else 1).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub slices: Option<u8>,
    /// Lift each bin of n < N events towards N, every count times round(N / n), at most
    /// --normalize-max-gain (default: the blob's normalization, with its bin length; 0
    /// turns it off).
    #[arg(long, value_name = "N")]
    pub normalize_events: Option<u32>,
    /// Largest gain of --normalize-events.
    #[arg(long, value_name = "GAIN", requires = "normalize_events",
          default_value_t = CountNormalization::DEFAULT_MAX_GAIN,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub normalize_max_gain: u8,
    /// Run the dense reference kernel instead of the spike-driven one.
    #[arg(long)]
    pub dense: bool,
}

impl Default for ClassifyFlags {
    /// No flags: everything from the blob, one window per prediction.
    fn default() -> Self {
        ClassifyFlags {
            bin_us: None,
            bin_events: None,
            bins: None,
            hop: None,
            average: 1,
            downsample: None,
            clip: None,
            slices: None,
            normalize_events: None,
            normalize_max_gain: CountNormalization::DEFAULT_MAX_GAIN,
            dense: false,
        }
    }
}

/// Flags that cannot be taken together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A bin length in µs and one in events.
    #[error("give one bin length, in µs or in events, not both")]
    TwoBinLengths,
    /// A count normalization with a largest gain of 0.
    #[error("the count normalization's largest gain must be at least 1")]
    NoGain,
}

impl ClassifyFlags {
    /// The classifier's options. Zero bins, hops and the like are left to the framer and the
    /// stream classifier, which refuse them with their own errors.
    pub fn options(&self) -> Result<ClassifyOptions, FlagError> {
        let bin = match (self.bin_us, self.bin_events) {
            (Some(_), Some(_)) => return Err(FlagError::TwoBinLengths),
            (Some(us), None) => Some(Window::Time { us }),
            (None, Some(events)) => Some(Window::Count { events }),
            (None, None) => None,
        };
        if self.normalize_max_gain == 0 {
            return Err(FlagError::NoGain);
        }
        Ok(ClassifyOptions {
            bin,
            bins: self.bins,
            hop: self.hop,
            average: self.average,
            downsample: self.downsample,
            clip: self.clip,
            slices: self.slices,
            normalize: self
                .normalize_events
                .map(|events| CountNormalization::towards(events, self.normalize_max_gain)),
            kernel: if self.dense {
                Kernel::Dense
            } else {
                Kernel::SpikeDriven
            },
        })
    }
}

/// Bin length without a blob framing or a flag.
pub const DEFAULT_BIN: Window = Window::Time { us: 10_000 };
/// Bins per window without a blob framing or a flag.
pub const DEFAULT_BINS: u16 = 4;

/// One window's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowResult {
    /// Window number.
    pub window: u64,
    /// Class index.
    pub label: usize,
    /// Class name from the blob, if it has labels.
    pub name: Option<String>,
    /// Softmax probability of the class (0..1).
    pub confidence: f64,
    /// Window start (µs).
    pub start_us: u64,
    /// Window end (µs).
    pub end_us: u64,
    /// Model runs (bins) since the previous window.
    pub runs: u32,
    /// Compute time since the previous window: framing and model runs (ms).
    pub latency_ms: f64,
    /// Synaptic operations of those runs.
    pub sops: u64,
    /// Multiply-accumulates (encoding layer) of those runs.
    pub macs: u64,
    /// Estimated energy of those runs (µJ, 45 nm: 0.9 pJ/AC, 4.6 pJ/MAC).
    pub energy_uj: f64,
}

/// Why classification failed.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// Reading the file failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The model or windowing is unusable.
    #[error("stream classifier: {0}")]
    Stream(StreamError),
    /// The model cannot be planned.
    #[error("model: {0}")]
    Model(sdt_core::Error),
    /// No downsampling factor maps the sensor onto the model's input.
    #[error(
        "the {width}×{height} sensor does not map onto the model's {in_w}×{in_h} input by an \
         integer downsampling factor; give --downsample, --width and --height"
    )]
    Geometry {
        /// Sensor columns.
        width: u16,
        /// Sensor rows.
        height: u16,
        /// Model input columns.
        in_w: u16,
        /// Model input rows.
        in_h: u16,
    },
}

/// Totals over a recording.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Windows classified.
    pub windows: u64,
    /// Model runs.
    pub runs: u64,
    /// Events read.
    pub events: u64,
    /// Total compute time (ms).
    pub compute_ms: f64,
    /// Synaptic operations.
    pub sops: u64,
    /// Estimated energy (µJ).
    pub energy_uj: f64,
    /// Spatial downsampling used.
    pub downsample: u16,
    /// Bin length used, µs (time bins).
    pub bin_us: Option<u64>,
    /// Bin length used, events (count bins).
    pub bin_events: Option<u32>,
    /// Bins per window used.
    pub bins: u16,
    /// Hop used (bins).
    pub hop: u16,
    /// Clip value used.
    pub clip: u8,
    /// Slices per bin used (each its own OFF/ON channel pair).
    pub slices: u8,
    /// Count normalization used, if any.
    pub normalize: Option<CountNormalization>,
    /// What the decoder skipped in a file (a cut-off end, malformed units, events outside the
    /// sensor); `None` for events handed over in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_errors: Option<ErrorCounts>,
}

/// The parts of the blob's framing that `opts` replace with other values and that change what
/// the model sees in one run (bin length, slices, clip, count normalization): each as "flag
/// value (trained: blob value)". Empty for a blob without a framing. Bins per window, hop and
/// averaging only change how runs are summed.
pub fn framing_overrides(model: &Model<'_>, opts: &ClassifyOptions) -> Vec<String> {
    let Some(f) = model.framing() else {
        return Vec::new();
    };
    let describe = |w: Window| match w {
        Window::Time { us } => format!("bins of {us} µs"),
        Window::Count { events } => format!("bins of {events} events"),
    };
    let mut out = Vec::new();
    let trained = Window::from(f.bin);
    if let Some(bin) = opts.bin.filter(|&b| b != trained) {
        out.push(format!(
            "{} (trained: {})",
            describe(bin),
            describe(trained)
        ));
    }
    if let Some(s) = opts.slices.filter(|&s| s != f.polarity.slices()) {
        out.push(format!(
            "{s} slices per bin (trained: {})",
            f.polarity.slices()
        ));
    }
    if let Some(c) = opts.clip.filter(|&c| c != f.clip) {
        out.push(format!("clip {c} (trained: {})", f.clip));
    }
    if let Some(n) = opts.normalize.filter(|&n| n != f.normalize) {
        out.push(format!(
            "{} (blob: {})",
            describe_normalization(n),
            describe_normalization(f.normalize)
        ));
    }
    out
}

/// "bins lifted towards N events (gain ≤ G)" or "no count normalization".
pub fn describe_normalization(n: Option<CountNormalization>) -> String {
    n.map_or("no count normalization".to_string(), |n| {
        format!(
            "bins lifted towards {} events (gain ≤ {})",
            n.events, n.max_gain
        )
    })
}

/// The smallest factor `f` with `ceil(w/f) × ceil(h/f)` equal to the model input.
pub fn fit_downsample(g: Geometry, in_w: u16, in_h: u16) -> Option<u16> {
    sdt_core::meta::fit_downsample((g.width, g.height), (in_w, in_h))
}

/// The stream configuration for a `g` sensor: `opts` where given, else the blob's framing,
/// else the defaults.
pub fn stream_config(
    g: Geometry,
    model: &Model<'_>,
    opts: &ClassifyOptions,
) -> Result<StreamConfig, ClassifyError> {
    let blob = StreamConfig::from_model(model);
    let input = model.tensor(model.graph().input);
    let maps = |f: u16| f > 0 && g.width.div_ceil(f) == input.w && g.height.div_ceil(f) == input.h;
    let downsample = match opts.downsample {
        Some(f) => f,
        None => blob
            .map(|b| b.framer.downsample)
            .filter(|&f| maps(f))
            .or_else(|| fit_downsample(g, input.w, input.h))
            .ok_or(ClassifyError::Geometry {
                width: g.width,
                height: g.height,
                in_w: input.w,
                in_h: input.h,
            })?,
    };
    let bins = opts
        .bins
        .or(blob.map(|b| b.framer.bins))
        .unwrap_or(DEFAULT_BINS);
    let window = opts
        .bin
        .or(blob.map(|b| b.framer.window))
        .unwrap_or(DEFAULT_BIN);
    Ok(StreamConfig {
        framer: FramerConfig {
            geometry: g,
            bins,
            window,
            downsample,
            clip: opts
                .clip
                .or(blob.map(|b| b.framer.clip))
                .unwrap_or(model.d()),
            slices: opts.slices.or(blob.map(|b| b.framer.slices)).unwrap_or(1),
        },
        // A blob's hop belongs to its bins: with other bins it may not fit.
        hop: opts
            .hop
            .or(blob.map(|b| b.hop).filter(|&h| h <= bins))
            .unwrap_or(1),
        average: opts.average,
        normalize: match opts.normalize {
            Some(given) => given,
            None => blob
                .filter(|b| b.framer.window == window)
                .and_then(|b| b.normalize),
        },
    })
}

/// Classifies the whole source; `on_window` gets each window, `progress` the bytes read.
pub fn classify(
    source: &mut EventSource,
    model: &Model<'_>,
    opts: &ClassifyOptions,
    on_window: impl FnMut(&WindowResult),
    mut progress: impl FnMut(u64),
) -> Result<Summary, ClassifyError> {
    let g = source.geometry();
    let next = |chunk: &mut Vec<Event>| {
        let more = source.next_chunk(chunk)?;
        progress(source.bytes_read());
        Ok(more)
    };
    let mut summary = classify_chunks(g, next, model, opts, on_window)?;
    summary.input_errors = Some(source.counters().into());
    Ok(summary)
}

/// Classifies events already in memory (time-ordered) from a `geometry` sensor.
pub fn classify_events(
    events: &[Event],
    geometry: Geometry,
    model: &Model<'_>,
    opts: &ClassifyOptions,
    on_window: impl FnMut(&WindowResult),
) -> Result<Summary, ClassifyError> {
    let mut rest = Some(events);
    let next = |chunk: &mut Vec<Event>| {
        chunk.extend_from_slice(rest.take().unwrap_or(&[]));
        Ok(false)
    };
    classify_chunks(geometry, next, model, opts, on_window)
}

/// The classification loop over chunks from `next` (which returns whether more follow).
fn classify_chunks(
    g: Geometry,
    mut next: impl FnMut(&mut Vec<Event>) -> Result<bool, SourceError>,
    model: &Model<'_>,
    opts: &ClassifyOptions,
    mut on_window: impl FnMut(&WindowResult),
) -> Result<Summary, ClassifyError> {
    let cfg = stream_config(g, model, opts)?;
    let downsample = cfg.framer.downsample;
    let sizes = StreamClassifier::sizes(&cfg, model).map_err(ClassifyError::Stream)?;
    let (mut frames, mut logits, mut scores) = (
        vec![0u8; sizes.frames],
        vec![0i32; sizes.logits],
        vec![0i64; sizes.scores],
    );
    let bufs = StreamBuffers {
        frames: &mut frames,
        logits: &mut logits,
        scores: &mut scores,
    };
    let mut classifier = StreamClassifier::new(cfg, model, bufs).map_err(ClassifyError::Stream)?;
    let mut arena = vec![0u8; sdt_core::arena_bytes(model, 1).map_err(ClassifyError::Model)?];
    let mut session = Session::new(model, &mut arena, 1).map_err(ClassifyError::Model)?;
    // Every window runs the same layers: their spike thresholds are built once.
    let mut kept = vec![0i32; sdt_core::kept_thresholds_len(model)];
    session
        .keep_thresholds(&mut kept)
        .map_err(ClassifyError::Model)?;
    let mut stats = Box::<Stats>::default();
    let (bin_us, bin_events) = match cfg.framer.window {
        Window::Time { us } => (Some(us), None),
        Window::Count { events } => (None, Some(events)),
    };
    let mut summary = Summary {
        downsample,
        bin_us,
        bin_events,
        bins: cfg.framer.bins,
        hop: cfg.hop,
        clip: cfg.framer.clip,
        slices: cfg.framer.slices,
        normalize: cfg.normalize,
        ..Summary::default()
    };
    // Compute time and statistics since the last window are charged to the next one.
    let mut pending_s = 0.0f64;
    let mut seen = sdt_core::NodeStats::default();
    let mut done: Vec<Prediction> = Vec::new();
    let mut chunk = Vec::new();
    let mut report = |done: &mut Vec<Prediction>, pending_s: &mut f64, stats: &Stats| {
        for (i, p) in done.drain(..).enumerate() {
            let total = stats.total();
            let (sops, macs) = if i == 0 {
                (total.sops - seen.sops, total.macs - seen.macs)
            } else {
                (0, 0)
            };
            seen = total;
            let energy_uj = (sops * E_AC_FJ + macs * E_MAC_FJ) as f64 * 1e-9;
            let w = WindowResult {
                window: p.window,
                label: p.label,
                name: model.class_name(p.label).map(str::to_owned),
                confidence: f64::from(p.confidence_permille) / 1000.0,
                start_us: p.start_us,
                end_us: p.end_us,
                runs: p.runs,
                latency_ms: if i == 0 { *pending_s * 1e3 } else { 0.0 },
                sops,
                macs,
                energy_uj,
            };
            *pending_s = 0.0;
            summary.windows += 1;
            summary.runs += u64::from(p.runs);
            summary.sops += sops;
            summary.energy_uj += energy_uj;
            on_window(&w);
        }
    };
    loop {
        chunk.clear();
        let more = next(&mut chunk)?;
        summary.events += chunk.len() as u64;
        for &e in &chunk {
            let t0 = Instant::now();
            let mut run = Run {
                kernel: opts.kernel,
                exec: &Sequential,
                stats: Some(&mut stats),
            };
            classifier
                .push(e, &mut session, &mut run, |p| done.push(*p))
                .map_err(ClassifyError::Stream)?;
            let dt = t0.elapsed().as_secs_f64();
            pending_s += dt;
            summary.compute_ms += dt * 1e3;
            if !done.is_empty() {
                report(&mut done, &mut pending_s, &stats);
            }
        }
        if !more {
            break;
        }
    }
    let t0 = Instant::now();
    let mut run = Run {
        kernel: opts.kernel,
        exec: &Sequential,
        stats: Some(&mut stats),
    };
    classifier
        .finish(&mut session, &mut run, |p| done.push(*p))
        .map_err(ClassifyError::Stream)?;
    let dt = t0.elapsed().as_secs_f64();
    pending_s += dt;
    summary.compute_ms += dt * 1e3;
    report(&mut done, &mut pending_s, &stats);
    Ok(summary)
}
