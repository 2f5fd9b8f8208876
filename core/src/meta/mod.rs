//! What a blob says about itself so it runs without flags: its name, class names and how its
//! input is made (image normalization, or the framing of an event stream).
//!
//! Stored postcard-encoded right after the graph. Strings are borrowed from the blob in place
//! and validated as UTF-8 when it loads; nothing is copied or allocated. Version 1 blobs have
//! none ([`Metadata::default`]); version 2 blobs have no count normalization (module `v2`).

use serde::{Deserialize, Serialize};

use crate::graph::MAX_INPUT_CHANNELS;

mod v2;

/// The format version of metadata with a count normalization; metadata without one is still
/// written as version 2, so that older runtimes keep reading those blobs.
pub const VERSION_COUNT_NORMALIZATION: u16 = 3;

/// Most class names a blob may carry (one per logit).
pub const MAX_CLASSES: usize = u16::MAX as usize;

/// The blob's self-description.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Metadata<'a> {
    /// Model name, or `""`.
    #[serde(borrow)]
    pub name: &'a str,
    /// Class names, one per class, `\n`-separated; `""` when the blob has none.
    #[serde(borrow)]
    pub class_names: &'a str,
    /// How the input tensor is made.
    pub input: InputKind,
}

impl<'a> Metadata<'a> {
    /// Name of class `i`, if the blob has class names.
    pub fn class_name(&self, i: usize) -> Option<&'a str> {
        if self.class_names.is_empty() {
            return None;
        }
        self.class_names.split('\n').nth(i)
    }

    /// Number of class names (0 when the blob has none).
    pub fn class_count(&self) -> usize {
        if self.class_names.is_empty() {
            0
        } else {
            self.class_names.split('\n').count()
        }
    }

    /// The event framing, for event models.
    pub fn framing(&self) -> Option<&EventFraming> {
        match &self.input {
            InputKind::Events(f) => Some(f),
            _ => None,
        }
    }

    /// The image normalization, for image models.
    pub fn normalization(&self) -> Option<&ImageNorm> {
        match &self.input {
            InputKind::Image(n) => Some(n),
            _ => None,
        }
    }
}

/// What the input tensor holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub enum InputKind {
    /// Not recorded (every version 1 blob).
    #[default]
    Unspecified,
    /// A normalized image: `x = (pixel / 255 − mean[c]) / std[c]`, then the input scale.
    Image(ImageNorm),
    /// Frames of event counts.
    Events(EventFraming),
}

/// Per-channel image normalization (pixels in `0..=1`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ImageNorm {
    pub mean: heapless::Vec<f32, MAX_INPUT_CHANNELS>,
    pub std: heapless::Vec<f32, MAX_INPUT_CHANNELS>,
}

/// How an event stream becomes the model's input: one model run per bin, a window of `bins`
/// bins, a new window every `hop` bins.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFraming {
    pub bin: BinLength,
    /// Bins per window (`T`).
    pub bins: u16,
    /// A new window every `hop` bins (`1..=bins`).
    pub hop: u16,
    /// Integer spatial downsampling: pixel `(x, y)` lands in cell `(x / f, y / f)`.
    pub downsample: u16,
    /// Largest count per cell.
    pub clip: u8,
    pub polarity: PolarityLayout,
    /// The sensor the model was trained for, `(width, height)`.
    pub sensor: (u16, u16),
    /// Sparse bins lifted towards an event count (format version 3); `None`: counts as seen.
    pub normalize: Option<CountNormalization>,
}

/// Normalization by event count, bin by bin: every count of a bin of `n` events below
/// `events` is multiplied by the gain `round(events / n)`, at most `max_gain`, and clipped
/// as usual, exactly as if each event had come `gain` times. A dim or distant scene then
/// reaches the counts the model was trained on; a busy bin stays as seen.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountNormalization {
    /// Events a bin is lifted towards.
    pub events: u32,
    /// Largest gain (at least 1).
    pub max_gain: u8,
}

impl CountNormalization {
    /// The gain limit tools use when none is given: enough to bring a scene four times
    /// sparser than training's to its counts, not so much that lone noise events become
    /// strokes.
    pub const DEFAULT_MAX_GAIN: u8 = 4;

    /// The normalization towards `events` with gains up to `max_gain`, or `None` for
    /// `events == 0`: the "0 turns it off" of every tool's `--normalize-events`.
    pub const fn towards(events: u32, max_gain: u8) -> Option<Self> {
        if events == 0 {
            None
        } else {
            Some(Self { events, max_gain })
        }
    }

    /// The gain of a bin of `n` events: `round(events / n)` in `1..=max_gain` (an empty bin
    /// stays empty whatever its gain).
    pub fn gain(&self, n: u64) -> u8 {
        let n = n.max(1);
        let target = u64::from(self.events);
        let rounded = (target + n / 2) / n;
        rounded.clamp(1, u64::from(self.max_gain.max(1))) as u8
    }

    /// Multiplies the counts of one bin of `n` events by its gain, saturating at `clip`.
    /// Counts already clipped stay at `clip`, so the result equals framing each event
    /// `gain` times.
    pub fn apply(&self, counts: &mut [u8], n: u64, clip: u8) {
        let gain = self.gain(n);
        if gain > 1 {
            for c in counts.iter_mut() {
                *c = c.saturating_mul(gain).min(clip);
            }
        }
    }
}

/// Length of one bin.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinLength {
    Micros(u64),
    Events(u32),
}

/// How polarities map onto input channels.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolarityLayout {
    /// Two channels: 0 counts OFF events, 1 counts ON events.
    OffOn,
    /// `2 × n` channels: each bin cut into `n` equal slices (of its time, or of its events for
    /// event-count bins); channel `2s` counts the OFF and `2s + 1` the ON events of slice `s`.
    /// The slices show the order of the motion inside one bin (which way an arm turns).
    OffOnPerSlice(u8),
}

impl PolarityLayout {
    /// Input channels the layout needs.
    pub const fn channels(self) -> u16 {
        2 * self.slices() as u16
    }

    /// Slices per bin (1 for [`PolarityLayout::OffOn`]; 0 only in a malformed layout).
    pub const fn slices(self) -> u8 {
        match self {
            PolarityLayout::OffOn => 1,
            PolarityLayout::OffOnPerSlice(n) => n,
        }
    }
}

/// Why a blob's metadata was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetaError {
    /// A length runs past the end of the metadata.
    Truncated,
    /// A string is not UTF-8.
    BadUtf8,
    /// The bytes do not decode (unknown variant, bad number, trailing bytes).
    Malformed,
    /// The class names are not one non-empty name per class.
    ClassCount { found: usize, classes: usize },
    /// The event framing is empty or does not produce the model's input shape, or its count
    /// normalization lifts towards no events or has no gain.
    Framing,
    /// The normalization does not have one finite mean and positive std per input channel.
    Normalization,
}

impl core::fmt::Display for MetaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MetaError::Truncated => write!(f, "a length runs past its end"),
            MetaError::BadUtf8 => write!(f, "a string is not UTF-8"),
            MetaError::Malformed => write!(f, "it does not decode"),
            MetaError::ClassCount { found, classes } => {
                write!(f, "{found} class names for {classes} classes")
            }
            MetaError::Framing => {
                write!(
                    f,
                    "the event framing is empty or does not fit the input, or its count \
                     normalization has no target or no gain"
                )
            }
            MetaError::Normalization => {
                write!(f, "the image normalization does not fit the input")
            }
        }
    }
}

/// Decodes metadata bytes (all of them) of a blob of format `version` (2 or 3).
pub fn decode(bytes: &[u8], version: u16) -> Result<Metadata<'_>, MetaError> {
    if version < VERSION_COUNT_NORMALIZATION {
        return take_all::<v2::Metadata<'_>>(bytes).map(Metadata::from);
    }
    take_all::<Metadata<'_>>(bytes)
}

fn take_all<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, MetaError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => MetaError::Truncated,
        postcard::Error::DeserializeBadUtf8 => MetaError::BadUtf8,
        _ => MetaError::Malformed,
    })?;
    if !rest.is_empty() {
        return Err(MetaError::Malformed);
    }
    Ok(value)
}

/// Encodes `meta` into `out`: as version 2 when it has no count normalization, else as
/// version 3. Returns the bytes written and the format version, `None` if `out` is too short.
pub fn encode(meta: &Metadata<'_>, out: &mut [u8]) -> Option<(usize, u16)> {
    let normalized = meta.framing().is_some_and(|f| f.normalize.is_some());
    if normalized {
        let n = postcard::to_slice(meta, out).ok()?.len();
        Some((n, VERSION_COUNT_NORMALIZATION))
    } else {
        let n = postcard::to_slice(&v2::Metadata::from(meta), out)
            .ok()?
            .len();
        Some((n, v2::VERSION))
    }
}

/// Input tensor facts the metadata is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InputShape {
    pub h: u16,
    pub w: u16,
    pub c: u16,
    pub classes: usize,
}

impl Metadata<'_> {
    /// Checks the metadata against the model it describes.
    pub(crate) fn validate(&self, shape: InputShape) -> Result<(), MetaError> {
        let found = self.class_count();
        let empty_name = self.class_names.split('\n').any(str::is_empty);
        if found != 0 && (found != shape.classes || found > MAX_CLASSES || empty_name) {
            return Err(MetaError::ClassCount {
                found,
                classes: shape.classes,
            });
        }
        match &self.input {
            InputKind::Unspecified => Ok(()),
            InputKind::Image(n) => {
                let per_channel = n.mean.len() == shape.c as usize && n.std.len() == n.mean.len();
                let finite = n.mean.iter().all(|m| m.is_finite())
                    && n.std.iter().all(|s| s.is_finite() && *s > 0.0);
                if per_channel && finite {
                    Ok(())
                } else {
                    Err(MetaError::Normalization)
                }
            }
            InputKind::Events(f) => f.validate(shape),
        }
    }
}

/// The smallest downsampling factor `f` with `ceil(width / f) × ceil(height / f)` equal to
/// `input` (`(width, height)` both).
pub fn fit_downsample(sensor: (u16, u16), input: (u16, u16)) -> Option<u16> {
    (1..=sensor.0.max(sensor.1)).find(|&f| (sensor.0.div_ceil(f), sensor.1.div_ceil(f)) == input)
}

impl EventFraming {
    /// The input `(height, width)` this framing produces: `ceil(sensor / downsample)`.
    pub fn cells(&self) -> Option<(u16, u16)> {
        if self.downsample == 0 {
            return None;
        }
        let (w, h) = self.sensor;
        Some((h.div_ceil(self.downsample), w.div_ceil(self.downsample)))
    }

    fn validate(&self, shape: InputShape) -> Result<(), MetaError> {
        let bin_ok = !matches!(self.bin, BinLength::Micros(0) | BinLength::Events(0));
        let window_ok = self.bins > 0 && self.hop > 0 && self.hop <= self.bins;
        let fits = self.cells() == Some((shape.h, shape.w))
            && self.polarity.slices() > 0
            && self.polarity.channels() == shape.c
            && self.sensor.0 > 0
            && self.sensor.1 > 0;
        let normalize_ok = self
            .normalize
            .is_none_or(|n| n.events > 0 && n.max_gain > 0);
        if bin_ok && window_ok && self.clip > 0 && fits && normalize_ok {
            Ok(())
        } else {
            Err(MetaError::Framing)
        }
    }
}
