//! The gesture model on the simulator's named scenes (`Randomization::presets`): a hand close
//! to the lens, a whole upper body, and a dim, noisy, sparse scene, the situations a user
//! meets first with a real sensor. Every window of a clip shows its gesture, so a window is
//! right when it names the clip's class (the mirrored class for a mirrored scene).

use std::ops::Range;

use sdt_core::{Kernel, Model};
use sdt_dvs::classify::classify_events;
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_events::Geometry;

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

/// Films `gesture` in `preset` once per seed (`duration_us` each) and classifies the clips
/// window by window, framed as the blob says.
pub fn score(
    model: &Model<'_>,
    preset: &Randomization,
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
        classify_events(&clip.events, Geometry::new(w, h), model, &opts, |r| {
            score.hits += usize::from(r.label == truth);
            score.labels.push(r.label);
        })?;
    }
    Ok(score)
}
