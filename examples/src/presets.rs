//! The gesture model on the simulator's named scenes (`Randomization::presets`): a hand close
//! to the lens, a whole upper body, and a dim, noisy, sparse scene, the situations a user
//! meets first with a real sensor. Every window of a clip shows its gesture, so a window is
//! right when it names the clip's class (the mirrored class for a mirrored scene).
//! [`Preprocess`] holds the input-side levers tried on the sparse scene: a gain, the stream's
//! normalization of each bin's event count, and a background-activity filter.

use std::ops::Range;

use sdt_core::meta::CountNormalization;
use sdt_core::{Kernel, Model};
use sdt_dvs::classify::{classify_events, stream_config, ClassifyError, ClassifyOptions};
use sdt_dvs::denoise;
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_events::{Event, Geometry};

use crate::gesture;

/// How one gesture fared in one preset.
#[derive(Clone, Debug)]
pub struct Score {
    /// Windows that named the clip's class.
    pub hits: usize,
    /// The label of every window, clip after clip.
    pub labels: Vec<usize>,
}

impl Score {
    /// Windows classified.
    pub fn windows(&self) -> usize {
        self.labels.len()
    }

    /// Share of windows right (0 when there were none).
    pub fn accuracy(&self) -> f64 {
        self.hits as f64 / self.windows().max(1) as f64
    }
}

/// What happens to a clip's events before the model sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preprocess {
    /// Every event enters this many times (1: as filmed).
    pub gain: u32,
    /// Keep only events that a neighbour supports within this window (µs)
    /// ([`denoise::background_activity`]); `None` keeps all.
    pub denoise_us: Option<u64>,
    /// The streaming classifier's count normalization (sparse bins lifted towards an event
    /// count): `None` keeps the blob's, `Some(None)` turns it off, `Some(Some(n))` uses `n`.
    pub normalize: Option<Option<CountNormalization>>,
}

impl Preprocess {
    /// The classifier's options for these levers: the gesture demo's, with the
    /// normalization override.
    fn options(&self) -> ClassifyOptions {
        ClassifyOptions {
            normalize: self.normalize,
            ..gesture::options(Kernel::SpikeDriven)
        }
    }

    /// The count normalization the classifier runs for `model` on a sensor of `sensor`
    /// pixels: the override, else the blob's where its bin length applies.
    pub fn normalization(
        &self,
        model: &Model<'_>,
        sensor: (u16, u16),
    ) -> Result<Option<CountNormalization>, ClassifyError> {
        let (w, h) = sensor;
        Ok(stream_config(Geometry::new(w, h), model, &self.options())?.normalize)
    }
}

impl Default for Preprocess {
    /// The events as filmed, framed as the blob says.
    fn default() -> Self {
        Self {
            gain: 1,
            denoise_us: None,
            normalize: None,
        }
    }
}

impl Preprocess {
    /// The events the model sees: filtered first, then each repeated in place.
    pub fn apply(&self, events: &[Event], geometry: Geometry) -> Vec<Event> {
        let filtered;
        let events = match self.denoise_us {
            Some(window_us) => {
                filtered = denoise::background_activity(events, geometry, window_us);
                &filtered[..]
            }
            None => events,
        };
        let gain = self.gain.max(1) as usize;
        events
            .iter()
            .flat_map(|e| std::iter::repeat_n(*e, gain))
            .collect()
    }
}

/// Films `gesture` in `preset` once per seed (`duration_us` each) and classifies the clips
/// window by window, framed as the blob says, after `preprocess`.
pub fn score(
    model: &Model<'_>,
    preset: &Randomization,
    preprocess: &Preprocess,
    gesture: Gesture,
    seeds: Range<u64>,
    duration_us: u64,
) -> Result<Score, Box<dyn std::error::Error>> {
    let opts = preprocess.options();
    let (w, h) = preset.sensor_size;
    let mut score = Score {
        hits: 0,
        labels: Vec::new(),
    };
    for seed in seeds {
        let clip = preset.clip(gesture, duration_us, seed)?;
        let truth = clip.gesture.index();
        let geometry = Geometry::new(w, h);
        let events = preprocess.apply(&clip.events, geometry);
        classify_events(&events, geometry, model, &opts, |r| {
            score.hits += usize::from(r.label == truth);
            score.labels.push(r.label);
        })?;
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_filters_first_then_repeats_each_event_in_place() {
        let g = Geometry::new(16, 16);
        let ev = |t, x, y| Event { t, x, y, p: 1 };
        // An edge of two neighbours and a lone noise event far from it.
        let events = [ev(0, 4, 4), ev(100, 5, 4), ev(200, 12, 12)];
        assert_eq!(Preprocess::default().apply(&events, g), events);
        let doubled = Preprocess {
            gain: 2,
            ..Preprocess::default()
        };
        assert_eq!(
            doubled.apply(&events[..2], g),
            [events[0], events[0], events[1], events[1]]
        );
        let denoised = Preprocess {
            gain: 3,
            denoise_us: Some(1_000),
            normalize: None,
        };
        assert_eq!(denoised.apply(&events, g), [events[1]; 3]);
    }
}
