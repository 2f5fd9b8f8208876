//! Spike thresholds kept across runs (opt-in, [`super::Session::keep_thresholds`]).
//!
//! A layer with spike outputs compares its accumulators with per-channel thresholds, and
//! without a place that outlives a run it rebuilds them every time it runs: `D` divisions
//! per channel, on the calling thread before the layer's rows are split, about 3 % of an
//! SDT-10M run on one host core and more on two. The thresholds depend on the model alone,
//! so a session may keep them in a buffer of its caller. It is a buffer of its own, not a
//! region of the arena, so that the arena sizes (what a microcontroller must find room for)
//! stay as they are.
//!
//! Layout: one value per node (the offset of its table, or −1 for none), then the tables.

use crate::error::{Error, Result};
use crate::graph::{ConvOutput, Op};
use crate::kernels::threshold::Thresholds;
use crate::model::Model;

/// What node `i` compares its accumulators for, if it has spike outputs: its per-channel
/// maps and the spikes' fractional bits (the levels `D` are the model's).
fn spike_layer<'b>(model: &Model<'b>, i: usize) -> Option<(&'b [crate::fixed::Affine], u8)> {
    let op = model.nodes().get(i)?.op;
    match (op, op.conv_output()?) {
        (Op::Encode(s) | Op::Conv { synapse: s, .. }, ConvOutput::Spikes { frac }) => {
            Some((model.affine(s.affine), frac))
        }
        _ => None,
    }
}

/// `i32` values [`super::Session::keep_thresholds`] needs for `model`.
pub fn kept_thresholds_len(model: &Model<'_>) -> usize {
    let nodes = model.nodes().len();
    nodes
        + (0..nodes)
            .filter_map(|i| spike_layer(model, i))
            .map(|(affine, _)| Thresholds::len(affine.len(), model.d()))
            .sum::<usize>()
}

/// Fills `kept` with the tables of every spike layer of `model`.
pub(super) fn fill<'k>(model: &Model<'_>, kept: &'k mut [i32]) -> Result<&'k [i32]> {
    let needed = kept_thresholds_len(model);
    if kept.len() < needed || needed > i32::MAX as usize {
        return Err(Error::ArenaTooSmall {
            needed: needed * 4,
            found: kept.len() * 4,
        });
    }
    let nodes = model.nodes().len();
    let (offsets, tables) = kept[..needed].split_at_mut(nodes);
    let mut at = 0;
    for (i, offset) in offsets.iter_mut().enumerate() {
        *offset = -1;
        let Some((affine, frac)) = spike_layer(model, i) else {
            continue;
        };
        let len = Thresholds::len(affine.len(), model.d());
        // A table that `fill` refuses stays unused: the layer keeps the affine map, as it
        // would without kept tables.
        if Thresholds::fill(&mut tables[at..at + len], affine, frac, model.d()).is_some() {
            // `nodes + at < needed ≤ i32::MAX` (checked above).
            *offset = (nodes + at) as i32;
        }
        at += len;
    }
    Ok(&kept[..needed])
}

/// The kept table of node `i`, if it has one.
pub(super) fn table<'k>(model: &Model<'_>, kept: &'k [i32], i: usize) -> Option<Thresholds<'k>> {
    let offset = usize::try_from(*kept.get(i)?).ok()?;
    let (affine, _) = spike_layer(model, i)?;
    Thresholds::filled(kept.get(offset..)?, affine.len(), model.d())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{Kernel, Level, Sequential, Session};
    use std::vec;

    /// The bundled digits model, 16-byte aligned as a blob must be.
    #[repr(C, align(16))]
    struct Aligned<T: ?Sized>(T);
    static DIGITS: &Aligned<[u8]> =
        &Aligned(*include_bytes!("../../../examples/data/digits32_int8.blob"));

    fn run(model: &Model<'_>, level: Level, kept: Option<&[i32]>) -> vec::Vec<i32> {
        let mut arena = vec![0u8; crate::arena_bytes(model, 1).unwrap()];
        let mut session = Session::new(model, &mut arena, 1).unwrap();
        session.set_level(level).unwrap();
        session.kept = kept;
        let input = session
            .input_i8_mut()
            .expect("the digits model takes i8 pixels");
        for (i, x) in input.iter_mut().enumerate() {
            *x = (i.wrapping_mul(2_654_435_761) >> 7) as i8;
        }
        session.run(Kernel::SpikeDriven, &Sequential, None).unwrap();
        session.logits().to_vec()
    }

    /// Runs compare with the kept tables, not with tables of their own: the same tables give
    /// the same logits, and tables raised out of reach (no spike anywhere) other logits, at
    /// every kernel level this CPU runs.
    #[test]
    fn runs_read_the_kept_tables() {
        let model = Model::from_blob(&DIGITS.0).unwrap();
        let mut kept = vec![0i32; kept_thresholds_len(&model)];
        fill(&model, &mut kept).unwrap();
        let nodes = model.nodes().len();
        assert!(kept[..nodes].iter().any(|&o| o >= 0), "no spike layer");
        let mut out_of_reach = kept.clone();
        out_of_reach[nodes..].fill(i32::MAX);
        for level in Level::supported() {
            let rebuilt = run(&model, level, None);
            assert_eq!(run(&model, level, Some(&kept)), rebuilt, "{level:?}");
            assert_ne!(
                run(&model, level, Some(&out_of_reach)),
                rebuilt,
                "{level:?}"
            );
        }
    }
}
