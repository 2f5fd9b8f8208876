//! Event clips as training data: each labelled clip of events is cut into time bins and
//! framed into `2 × H' × W'` counts by the core's [`Framer`](sdt_events::Framer), exactly as
//! the device's streaming classifier frames a live stream (bins of `bin_us` starting at the
//! clip's first event, spatial downsampling, counts clipped to `D`). Every bin is one sample
//! with the clip's label: the device runs the model once per bin and sums the logits over the
//! `T` bins of a window, so a model trained per bin is the model it runs. A count
//! normalization lifts sparse bins as the stream does (`sdt_core::meta::CountNormalization`).
//!
//! Counts enter the network as they are (`0..=D`), so the runtime's `i8` input grid must have
//! step 1: train and pack with [`INPUT_ABSMAX`].

use std::ops::ControlFlow;

use rayon::prelude::*;
use sdt_core::meta::CountNormalization;
use sdt_dvs::augment::EventAugment;
use sdt_dvs::sim::rng::Rng;
use sdt_dvs::sim::Gesture;
use sdt_events::{for_each_bin, Event, FramerConfig, Geometry, TrailingBin, Window};
use tch::{Kind, Tensor};

use crate::data::{gather_batches, Dataset, Source};
use crate::error::{Error, Result};

mod fresh_copies;

pub use fresh_copies::FreshCopies;

/// `input_absmax` giving the `i8` input grid step `absmax / 127 = 1`: count `c` is `i8` `c`.
pub const INPUT_ABSMAX: f64 = 127.0;

/// A labelled clip of time-ordered events.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The events.
    pub events: Vec<Event>,
    /// Zero-based class.
    pub label: i64,
}

/// How clips are framed (the streaming classifier's framing of one bin).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Framing {
    /// Sensor resolution.
    pub geometry: Geometry,
    /// Bin length (µs).
    pub bin_us: u64,
    /// Spatial downsampling factor.
    pub downsample: u16,
    /// Largest count per cell (the model's `D`).
    pub clip: u8,
    /// Slices per bin, each with its own OFF/ON channel pair (`sdt_events::FramerConfig`).
    pub slices: u8,
    /// Bins with fewer events are not used as samples.
    pub min_events: u64,
    /// Sparse bins lifted towards an event count, as the blob's framing tells the stream.
    pub normalize: Option<CountNormalization>,
}

impl Framing {
    /// The core framer configuration of one bin.
    pub fn framer(&self) -> FramerConfig {
        FramerConfig {
            geometry: self.geometry,
            bins: 1,
            window: Window::Time { us: self.bin_us },
            downsample: self.downsample,
            clip: self.clip,
            slices: self.slices,
        }
    }
}

/// Framed bins of many clips: `[N, 2, H', W']` counts and a label per bin.
#[derive(Debug)]
pub struct EventFrames {
    frames: Tensor,
    labels: Tensor,
    /// Clip index of every sample.
    clip_of: Vec<usize>,
}

/// `clips` followed by `copies` random augmentations of each (gesture labels; a mirrored
/// copy carries the mirrored class). Copy `k` of clip `i` draws from `(seed, i · copies + k)`.
pub fn augmented(
    clips: &[Clip],
    geometry: Geometry,
    augment: &EventAugment,
    copies: u32,
    seed: u64,
) -> Result<Vec<Clip>> {
    let mut out = clips.to_vec();
    out.extend(augmented_copies(clips, geometry, augment, copies, seed)?);
    Ok(out)
}

/// The `copies` random augmentations of each clip, clip by clip (copy `k` of clip `i` draws
/// from `(seed, i · copies + k)`), made on all cores: the streams are per copy, so the result
/// does not depend on how many there are.
pub fn augmented_copies(
    clips: &[Clip],
    geometry: Geometry,
    augment: &EventAugment,
    copies: u32,
    seed: u64,
) -> Result<Vec<Clip>> {
    let per_clip = clips
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let gesture = usize::try_from(c.label)
                .ok()
                .and_then(Gesture::from_index)
                .ok_or_else(|| Error::Data(format!("label {} is not a gesture class", c.label)))?;
            Ok((0..u64::from(copies))
                .map(|k| {
                    let mut rng = Rng::stream(seed, i as u64 * u64::from(copies) + k);
                    let (events, shown) = augment.apply(&c.events, geometry, gesture, &mut rng);
                    Clip {
                        events,
                        label: shown.index() as i64,
                    }
                })
                .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(per_clip.into_iter().flatten().collect())
}

/// Frames of the complete bins of `events` (a trailing partial bin is left out, as the
/// stream would complete it with later events), each normalized and with its event count.
pub fn frame_clip(events: &[Event], framing: &Framing) -> Result<Vec<(Vec<u8>, u64)>> {
    let len = framing
        .framer()
        .frame_len()
        .map_err(|e| Error::Config(format!("event framing: {e}")))?;
    let mut frame = vec![0u8; len];
    let mut out = Vec::new();
    for_each_bin(
        events.iter().copied(),
        framing.framer(),
        framing.normalize,
        TrailingBin::Drop,
        &mut frame,
        |bin, n| {
            out.push((bin.to_vec(), n));
            ControlFlow::Continue(())
        },
    )
    .map_err(|e| Error::Config(format!("event framing: {e}")))?;
    Ok(out)
}

impl EventFrames {
    /// Frames every clip.
    pub fn new(clips: &[Clip], framing: &Framing) -> Result<Self> {
        let (_, c, h, w) = framing
            .framer()
            .shape()
            .map_err(|e| Error::Config(format!("event framing: {e}")))?;
        let mut data = Vec::new();
        let (mut labels, mut clip_of) = (Vec::new(), Vec::new());
        for (i, clip) in clips.iter().enumerate() {
            for (frame, n) in frame_clip(&clip.events, framing)? {
                if n >= framing.min_events.max(1) {
                    data.extend_from_slice(&frame);
                    labels.push(clip.label);
                    clip_of.push(i);
                }
            }
        }
        if labels.is_empty() {
            return Err(Error::Data("no event clip gave a usable bin".into()));
        }
        let n = labels.len() as i64;
        Ok(Self {
            frames: Tensor::from_slice(&data).f_reshape([n, c as i64, h as i64, w as i64])?,
            labels: Tensor::from_slice(&labels),
            clip_of,
        })
    }

    /// Number of samples.
    pub fn len_samples(&self) -> i64 {
        Source::len(self)
    }

    /// Clip index of every sample.
    pub fn clip_of(&self) -> &[usize] {
        &self.clip_of
    }

    /// All samples as an in-memory data set (f32 counts).
    pub fn to_dataset(&self) -> Result<Dataset> {
        Dataset::new(
            self.frames.f_to_kind(Kind::Float)?,
            self.labels.shallow_clone(),
        )
    }

    /// Every `step`-th sample as a data set (a quick per-epoch test set).
    pub fn subsample(&self, step: i64) -> Result<Dataset> {
        let idx = Tensor::f_arange_start_step(
            0,
            self.len(),
            step.max(1),
            (Kind::Int64, tch::Device::Cpu),
        )?;
        Dataset::new(
            self.frames
                .f_index_select(0, &idx)?
                .f_to_kind(Kind::Float)?,
            self.labels.f_index_select(0, &idx)?,
        )
    }
}

impl Source for EventFrames {
    fn len(&self) -> i64 {
        self.labels.size().first().copied().unwrap_or(0)
    }

    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        _seed: u64,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a> {
        gather_batches(order, batch_size, move |idx| {
            Ok((
                self.frames.f_index_select(0, idx)?.f_to_kind(Kind::Float)?,
                self.labels.f_index_select(0, idx)?,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, x: u16, y: u16, p: u8) -> Event {
        Event { t, x, y, p }
    }

    #[test]
    fn augmented_copies_follow_the_originals_with_consistent_labels() {
        let g = Geometry::new(128, 128);
        let events: Vec<Event> = (0..2_000u64)
            .map(|k| ev(k * 500, (k % 40) as u16, 60, (k % 2) as u8))
            .collect();
        let clips = vec![Clip {
            events,
            label: Gesture::RightArmClockwise.index() as i64,
        }];
        let out = augmented(&clips, g, &EventAugment::default(), 6, 1).unwrap();
        assert_eq!(out.len(), 7);
        assert_eq!(out[0], clips[0]);
        let sided = [
            Gesture::RightArmClockwise.index() as i64,
            Gesture::LeftArmCounterClockwise.index() as i64,
        ];
        for c in &out[1..] {
            assert!(sided.contains(&c.label), "label {}", c.label);
            assert_ne!(c.events, clips[0].events);
            assert!(c.events.windows(2).all(|w| w[0].t <= w[1].t));
        }
        assert_eq!(
            out,
            augmented(&clips, g, &EventAugment::default(), 6, 1).unwrap()
        );
        let bad = vec![Clip {
            events: vec![],
            label: 11,
        }];
        assert!(augmented(&bad, g, &EventAugment::default(), 1, 1).is_err());
    }

    #[test]
    fn bins_are_framed_like_the_stream_and_labelled_by_clip() {
        let framing = Framing {
            geometry: Geometry::new(8, 8),
            bin_us: 100,
            downsample: 2,
            clip: 4,
            slices: 1,
            min_events: 2,
            normalize: None,
        };
        // Clip 0: bin [10, 110) has 7 events at cell (1, 0) ON (clipped to 4) and one OFF;
        // bin [110, 210) has one event (dropped: below min_events); the trailing partial bin
        // [210, 310) is left out.
        let mut a: Vec<Event> = (0..7).map(|k| ev(10 + k, 2, 1, 1)).collect();
        a.push(ev(50, 7, 7, 0));
        a.push(ev(150, 0, 0, 1));
        a.push(ev(220, 0, 0, 1));
        a.push(ev(230, 0, 0, 1));
        let b = vec![ev(0, 0, 0, 0), ev(10, 0, 0, 0), ev(500, 1, 1, 1)];
        let clips = [
            Clip {
                events: a,
                label: 3,
            },
            Clip {
                events: b,
                label: 5,
            },
        ];
        let f = EventFrames::new(&clips, &framing).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f.clip_of(), &[0, 1]);
        let d = f.to_dataset().unwrap();
        assert_eq!(d.images.size(), [2, 2, 4, 4]);
        let labels: Vec<i64> = Vec::try_from(&d.labels).unwrap();
        assert_eq!(labels, [3, 5]);
        let first: Vec<f32> = Vec::try_from(&d.images.get(0).flatten(0, -1)).unwrap();
        // [OFF plane, ON plane], row-major 4×4.
        assert_eq!(first[15], 1.0);
        assert_eq!(first[16 + 1], 4.0);
        assert_eq!(first.iter().sum::<f32>(), 5.0);
        let second: Vec<f32> = Vec::try_from(&d.images.get(1).flatten(0, -1)).unwrap();
        assert_eq!(second[0], 2.0);
        let (x, y) = f.batches(vec![1, 0], 2, 0).next().unwrap().unwrap();
        assert_eq!(x.size(), [2, 2, 4, 4]);
        assert_eq!(Vec::<i64>::try_from(&y).unwrap(), [5, 3]);

        // Lifted towards 6 events: the busy bin of 8 stays, the bin of 2 counts 3× (2 → 4,
        // clipped), as the stream normalizes them.
        let lifted = Framing {
            normalize: Some(CountNormalization {
                events: 6,
                max_gain: 3,
            }),
            ..framing
        };
        let f = EventFrames::new(&clips, &lifted).unwrap();
        let d = f.to_dataset().unwrap();
        let first: Vec<f32> = Vec::try_from(&d.images.get(0).flatten(0, -1)).unwrap();
        assert_eq!(first.iter().sum::<f32>(), 5.0);
        let second: Vec<f32> = Vec::try_from(&d.images.get(1).flatten(0, -1)).unwrap();
        assert_eq!(second[0], 4.0);
    }

    #[test]
    fn a_set_without_usable_bins_is_an_error() {
        let framing = Framing {
            geometry: Geometry::new(8, 8),
            bin_us: 100,
            downsample: 1,
            clip: 4,
            slices: 1,
            min_events: 1,
            normalize: None,
        };
        let clips = [Clip {
            events: vec![ev(0, 0, 0, 0)],
            label: 0,
        }];
        assert!(EventFrames::new(&clips, &framing).is_err());
    }
}
