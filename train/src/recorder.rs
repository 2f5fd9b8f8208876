//! Collects the integer spike counts of every `MultiSpike` layer during a forward pass.

use std::collections::BTreeMap;

use tch::Tensor;

/// Spike counts by layer path (the official module path, e.g. `block3.0.attn.q_spike`).
///
/// Each entry is a `u8` tensor of counts `0..=D` with the layer's batch-first shape.
#[derive(Default)]
pub struct SpikeRecorder {
    counts: BTreeMap<String, Tensor>,
}

impl SpikeRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the counts of layer `name`, replacing an earlier record of it.
    pub fn record(&mut self, name: &str, counts: Tensor) {
        self.counts.insert(name.to_owned(), counts);
    }

    /// The counts of layer `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.counts.get(name)
    }

    /// All records, ordered by layer name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.counts.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of layers recorded.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Forgets all records.
    pub fn clear(&mut self) {
        self.counts.clear();
    }
}
