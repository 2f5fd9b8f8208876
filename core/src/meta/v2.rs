//! The metadata as format version 2 stores it: the same fields without the event framing's
//! count normalization. Postcard is not self-describing, so an added field needs its own
//! version and the old layout stays here to read (and write) blobs without one.

use serde::{Deserialize, Serialize};

use super::{BinLength, ImageNorm, PolarityLayout};

/// The format version of this layout.
pub const VERSION: u16 = 2;

#[derive(Serialize, Deserialize)]
pub struct Metadata<'a> {
    #[serde(borrow)]
    name: &'a str,
    #[serde(borrow)]
    class_names: &'a str,
    input: InputKind,
}

#[derive(Serialize, Deserialize)]
enum InputKind {
    Unspecified,
    Image(ImageNorm),
    Events(EventFraming),
}

#[derive(Serialize, Deserialize)]
struct EventFraming {
    bin: BinLength,
    bins: u16,
    hop: u16,
    downsample: u16,
    clip: u8,
    polarity: PolarityLayout,
    sensor: (u16, u16),
}

impl<'a> From<Metadata<'a>> for super::Metadata<'a> {
    fn from(m: Metadata<'a>) -> Self {
        let input = match m.input {
            InputKind::Unspecified => super::InputKind::Unspecified,
            InputKind::Image(n) => super::InputKind::Image(n),
            InputKind::Events(f) => super::InputKind::Events(super::EventFraming {
                bin: f.bin,
                bins: f.bins,
                hop: f.hop,
                downsample: f.downsample,
                clip: f.clip,
                polarity: f.polarity,
                sensor: f.sensor,
                normalize: None,
            }),
        };
        super::Metadata {
            name: m.name,
            class_names: m.class_names,
            input,
        }
    }
}

/// Drops the count normalization (the caller writes version 2 only without one).
impl<'a> From<&super::Metadata<'a>> for Metadata<'a> {
    fn from(m: &super::Metadata<'a>) -> Self {
        let input = match &m.input {
            super::InputKind::Unspecified => InputKind::Unspecified,
            super::InputKind::Image(n) => InputKind::Image(n.clone()),
            super::InputKind::Events(f) => InputKind::Events(EventFraming {
                bin: f.bin,
                bins: f.bins,
                hop: f.hop,
                downsample: f.downsample,
                clip: f.clip,
                polarity: f.polarity,
                sensor: f.sensor,
            }),
        };
        Metadata {
            name: m.name,
            class_names: m.class_names,
            input,
        }
    }
}
