//! A blob's self-description from the command line: class names, event framing or image
//! normalization (`sdt-convert pack` and `annotate` flags), and `annotate` itself: new
//! metadata around the same graph and data bytes.

use std::path::Path;

use clap::Args;
use sdt_core::meta::{
    fit_downsample, BinLength, CountNormalization, EventFraming, ImageNorm, InputKind,
    PolarityLayout,
};
use sdt_host::blob::BlobMeta;
use sdt_host::AlignedBlob;

use crate::error::{ConvertError, Result};

/// Metadata flags; each one given replaces that part of the metadata, the rest is kept.
#[derive(Args, Clone, Debug, Default, PartialEq)]
pub struct MetaOptions {
    /// Model name.
    #[arg(long)]
    pub name: Option<String>,
    /// Class names: a file with one name per line, or a comma-separated list.
    #[arg(long, value_name = "FILE|a,b,c", value_parser = parse_class_names)]
    pub class_names: Option<ClassNames>,
    /// Event framing: bin length in µs.
    #[arg(long, conflicts_with = "bin_events")]
    pub bin_us: Option<u64>,
    /// Event framing: bin length in events.
    #[arg(long)]
    pub bin_events: Option<u32>,
    /// Event framing: bins per window (T).
    #[arg(long)]
    pub bins: Option<u16>,
    /// Event framing: a new window every HOP bins (default: the bins, disjoint windows).
    #[arg(long)]
    pub hop: Option<u16>,
    /// Event framing: spatial downsampling (default: what maps the sensor onto the input).
    #[arg(long)]
    pub downsample: Option<u16>,
    /// Event framing: largest count per cell (default: the model's D).
    #[arg(long)]
    pub clip: Option<u8>,
    /// Event framing: the sensor the model was trained for, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", value_parser = parse_sensor)]
    pub sensor: Option<(u16, u16)>,
    /// Event framing: lift each bin of n < N events towards N, every count times
    /// round(N / n) (at most --normalize-max-gain), for dim or distant scenes; 0 removes it.
    #[arg(long, value_name = "N")]
    pub normalize_events: Option<u32>,
    /// Event framing: largest gain of --normalize-events.
    #[arg(long, value_name = "GAIN", requires = "normalize_events",
          value_parser = clap::value_parser!(u8).range(1..))]
    pub normalize_max_gain: Option<u8>,
    /// Image normalization: per-channel mean of pixels in 0..1 (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "image_std")]
    pub image_mean: Option<Vec<f32>>,
    /// Image normalization: per-channel standard deviation (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "image_mean")]
    pub image_std: Option<Vec<f32>>,
}

/// The model facts defaults are taken from.
#[derive(Clone, Copy, Debug)]
pub struct InputFacts {
    /// Input `(height, width)`.
    pub size: (u16, u16),
    /// Input channels (`2 × S` for event counts in `S` slices per bin).
    pub channels: u16,
    /// Largest spike count D.
    pub d: u8,
}

/// `WIDTHxHEIGHT`.
pub fn parse_sensor(s: &str) -> std::result::Result<(u16, u16), String> {
    let bad = || format!("sensor size must be WIDTHxHEIGHT (e.g. 128x128), not {s:?}");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    Ok((
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    ))
}

/// Class names given on the command line (one per class).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassNames(pub Vec<String>);

fn parse_class_names(arg: &str) -> std::result::Result<ClassNames, String> {
    class_names(arg).map(ClassNames).map_err(|e| e.to_string())
}

/// Class names from a file (one per line) when `arg` names one, else from a comma list.
pub fn class_names(arg: &str) -> Result<Vec<String>> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        std::fs::read_to_string(path)
            .map_err(|e| ConvertError::Invalid(format!("{}: {e}", path.display())))?
    } else {
        arg.split(',').collect::<Vec<_>>().join("\n")
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

impl MetaOptions {
    fn framing_given(&self) -> bool {
        self.bin_us.is_some()
            || self.bin_events.is_some()
            || self.bins.is_some()
            || self.hop.is_some()
            || self.downsample.is_some()
            || self.clip.is_some()
            || self.sensor.is_some()
            || self.normalize_events.is_some()
    }

    /// `base` with the parts these options give replaced.
    pub fn apply(&self, mut base: BlobMeta, facts: InputFacts) -> Result<BlobMeta> {
        if let Some(name) = &self.name {
            base.name = name.clone();
        }
        if let Some(names) = &self.class_names {
            base.class_names = names.0.clone();
        }
        if self.framing_given() && self.image_mean.is_some() {
            return Err(ConvertError::Invalid(
                "a blob takes event framing or image normalization, not both".into(),
            ));
        }
        if let (Some(mean), Some(std)) = (&self.image_mean, &self.image_std) {
            let vec = |v: &[f32]| {
                heapless::Vec::from_slice(v).map_err(|_| {
                    ConvertError::Invalid(format!("{} normalization channels: too many", v.len()))
                })
            };
            base.input = InputKind::Image(ImageNorm {
                mean: vec(mean)?,
                std: vec(std)?,
            });
        }
        if self.framing_given() {
            base.input = InputKind::Events(self.framing(base.input.clone(), facts)?);
        }
        Ok(base)
    }

    /// The framing these options give over `base`'s (if it has one).
    fn framing(&self, base: InputKind, facts: InputFacts) -> Result<EventFraming> {
        let old = match base {
            InputKind::Events(f) => Some(f),
            _ => None,
        };
        let missing = |what: &str| {
            ConvertError::Invalid(format!(
                "event framing needs {what} (the blob has no framing to take it from)"
            ))
        };
        let bin = match (self.bin_us, self.bin_events) {
            (Some(us), _) => BinLength::Micros(us),
            (_, Some(n)) => BinLength::Events(n),
            _ => old
                .map(|f| f.bin)
                .ok_or_else(|| missing("--bin-us or --bin-events"))?,
        };
        let bins = self
            .bins
            .or(old.map(|f| f.bins))
            .ok_or_else(|| missing("--bins"))?;
        let sensor = self
            .sensor
            .or(old.map(|f| f.sensor))
            .ok_or_else(|| missing("--sensor"))?;
        let (in_h, in_w) = facts.size;
        let fitted = fit_downsample(sensor, (in_w, in_h));
        let downsample = self
            .downsample
            .or(old.map(|f| f.downsample))
            .or(fitted)
            .ok_or_else(|| {
                ConvertError::Invalid(format!(
                    "no downsampling maps the {}x{} sensor onto the {in_w}x{in_h} input",
                    sensor.0, sensor.1
                ))
            })?;
        Ok(EventFraming {
            bin,
            bins,
            hop: self.hop.or(old.map(|f| f.hop)).unwrap_or(bins),
            downsample,
            clip: self.clip.or(old.map(|f| f.clip)).unwrap_or(facts.d),
            polarity: old
                .map(|f| f.polarity)
                .unwrap_or_else(|| layout_for(facts.channels)),
            sensor,
            normalize: match self.normalize_events {
                Some(events) => CountNormalization::towards(
                    events,
                    self.normalize_max_gain
                        .unwrap_or(CountNormalization::DEFAULT_MAX_GAIN),
                ),
                None => old.and_then(|f| f.normalize),
            },
        })
    }
}

/// OFF/ON channel pairs, one per slice, for a model of `channels` inputs (an odd count is
/// left to validation, which rejects it).
fn layout_for(channels: u16) -> PolarityLayout {
    match channels / 2 {
        0 | 1 => PolarityLayout::OffOn,
        n => PolarityLayout::OffOnPerSlice(u8::try_from(n).unwrap_or(u8::MAX)),
    }
}

/// The input facts of a loaded model.
pub fn facts(model: &sdt_core::Model<'_>) -> InputFacts {
    let input = model.tensor(model.graph().input);
    InputFacts {
        size: (input.h, input.w),
        channels: input.c,
        d: model.d(),
    }
}

/// `blob` with the metadata `opts` give over its own; graph and data bytes are unchanged.
pub fn annotate(blob: &AlignedBlob, opts: &MetaOptions) -> Result<AlignedBlob> {
    let model = blob.model().map_err(ConvertError::Blob)?;
    let meta = opts.apply(BlobMeta::from_metadata(model.metadata()), facts(&model))?;
    let raw = sdt_core::blob::parse(blob.bytes()).map_err(ConvertError::Blob)?;
    Ok(sdt_host::blob::assemble(&raw.graph, &meta, raw.data)?)
}

/// The metadata as `inspect` prints it.
pub fn to_json(meta: &sdt_core::Metadata<'_>) -> serde_json::Value {
    let names: Vec<&str> = (0..meta.class_count())
        .filter_map(|i| meta.class_name(i))
        .collect();
    serde_json::json!({
        "name": meta.name,
        "class_names": names,
        "input": meta.input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framing_without_a_base_takes_its_slices_from_the_input_channels() {
        let opts = MetaOptions {
            bin_us: Some(50_000),
            bins: Some(8),
            sensor: Some((128, 128)),
            ..MetaOptions::default()
        };
        let facts = |channels| InputFacts {
            size: (32, 32),
            channels,
            d: 4,
        };
        let layouts: Vec<_> = [2, 8]
            .into_iter()
            .map(|c| {
                opts.framing(InputKind::Unspecified, facts(c))
                    .unwrap()
                    .polarity
            })
            .collect();
        assert_eq!(
            layouts,
            [PolarityLayout::OffOn, PolarityLayout::OffOnPerSlice(4)]
        );
        // A base framing keeps its layout.
        let base = InputKind::Events(opts.framing(InputKind::Unspecified, facts(8)).unwrap());
        let kept = MetaOptions {
            hop: Some(2),
            ..MetaOptions::default()
        };
        assert_eq!(
            kept.framing(base, facts(8)).unwrap().polarity,
            PolarityLayout::OffOnPerSlice(4)
        );
    }
}
