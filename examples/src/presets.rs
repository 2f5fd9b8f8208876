//! The gesture model on the simulator's named scenes (`Randomization::presets`): a hand close
//! to the lens, a whole upper body, and a dim, noisy, sparse scene, the situations a user
//! meets first with a real sensor. Every window of a clip shows its gesture, so a window is
//! right when it names the clip's class (the mirrored class for a mirrored scene).
//! [`Preprocess`] holds the input-side levers tried on the sparse scene: a gain, a gain that
//! normalizes each bin's event count, and a background-activity filter.

use std::ops::Range;

use sdt_core::{Kernel, Model};
use sdt_dvs::classify::classify_events;
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
    /// Every event enters this many times: what a normalization by event count does to a
    /// sparse window (1: as filmed).
    pub gain: u32,
    /// Keep only events that a neighbour supports within this window (µs)
    /// ([`denoise::background_activity`]); `None` keeps all.
    pub denoise_us: Option<u64>,
    /// A gain per bin that lifts sparse bins towards an event count; `None`: no such gain.
    /// Bins are runs of a time-ordered stream.
    pub normalize: Option<Normalize>,
}

/// Normalization by event count, bin by bin: a bin of `n` events below `events` has each of
/// them counted `events / n` times (rounded, at most `max_gain`), so a sparse scene reaches
/// the counts the model saw in training while a busy one stays as filmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Normalize {
    /// Bin length (µs), bins counted from the first event as the streaming classifier does.
    pub bin_us: u64,
    /// Events a bin is lifted towards.
    pub events: u32,
    /// Largest gain.
    pub max_gain: u32,
}

impl Normalize {
    /// The gain of a bin of `n` events.
    fn gain(&self, n: usize) -> usize {
        let (n, target) = (n.max(1), self.events as usize);
        ((target + n / 2) / n).clamp(1, self.max_gain.max(1) as usize)
    }
}

impl Default for Preprocess {
    /// The events as filmed.
    fn default() -> Self {
        Self {
            gain: 1,
            denoise_us: None,
            normalize: None,
        }
    }
}

impl Preprocess {
    /// The events the model sees: filtered first, then each repeated in place (the fixed
    /// gain times the normalizing gain of its bin).
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
        let Some(normalize) = self.normalize else {
            return events
                .iter()
                .flat_map(|e| std::iter::repeat_n(*e, gain))
                .collect();
        };
        // Runs of a time-ordered stream that fall in one bin, bins counted from its first event.
        let t0 = events.first().map_or(0, |e| e.t);
        let bin = |e: &Event| e.t.saturating_sub(t0) / normalize.bin_us.max(1);
        events
            .chunk_by(|a, b| bin(a) == bin(b))
            .flat_map(|run| {
                let repeats = gain * normalize.gain(run.len());
                run.iter()
                    .flat_map(move |e| std::iter::repeat_n(*e, repeats))
            })
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
    let opts = gesture::options(Kernel::SpikeDriven);
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

    #[test]
    fn normalization_lifts_sparse_bins_only_and_caps_the_gain() {
        let g = Geometry::new(16, 16);
        // Bin 0 (0..1 ms): 4 events; bin 1: 1 event; bin 2: none; bin 3: 1 event.
        let mut events: Vec<Event> = (0..4)
            .map(|k| Event {
                t: k * 100,
                x: k as u16,
                y: 0,
                p: 0,
            })
            .collect();
        events.push(Event {
            t: 1_500,
            x: 0,
            y: 1,
            p: 1,
        });
        events.push(Event {
            t: 3_200,
            x: 0,
            y: 2,
            p: 1,
        });
        let normalize = Normalize {
            bin_us: 1_000,
            events: 3,
            max_gain: 2,
        };
        assert_eq!(
            [0, 1, 2, 3, 4, 6].map(|n| normalize.gain(n)),
            [2, 2, 2, 1, 1, 1]
        );
        let seen = Preprocess {
            normalize: Some(normalize),
            ..Preprocess::default()
        }
        .apply(&events, g);
        let mut expected = events[..4].to_vec();
        expected.extend([events[4], events[4], events[5], events[5]]);
        assert_eq!(seen, expected);
    }
}
