//! Augmented copies drawn anew for every epoch, as on-the-fly transforms do: with copies made
//! once, every epoch shows the network the same few crops, mirrors and noise draws of each
//! clip, and it learns them; drawn per epoch, it never sees the same copy twice.
//!
//! The originals are framed once. Each epoch augments every clip `copies` times from that
//! epoch's seed (so an epoch, and `--resume`, replays exactly) and frames the copies. Time
//! stretch and event drop change how many bins a copy has, so an epoch's bins are not always
//! the `len()` the trainer shuffles: sample `i` of the shuffled order is bin `i · n / len` of
//! the `n` bins this epoch has, which spreads the draws evenly over them.

use sdt_dvs::augment::EventAugment;
use tch::{Kind, Tensor};

use super::{augmented_copies, Clip, EventFrames, Framing};
use crate::data::{gather_batches, Source};
use crate::error::Result;

/// Training clips whose augmented copies are redrawn every epoch (see the module docs).
pub struct FreshCopies {
    clips: Vec<Clip>,
    originals: EventFrames,
    framing: Framing,
    augment: EventAugment,
    copies: u32,
}

impl FreshCopies {
    /// `clips` and, every epoch, `copies` fresh augmentations of each (made on all cores).
    pub fn new(
        clips: Vec<Clip>,
        framing: Framing,
        augment: EventAugment,
        copies: u32,
    ) -> Result<Self> {
        let originals = EventFrames::new(&clips, &framing)?;
        Ok(Self {
            clips,
            originals,
            framing,
            augment,
            copies,
        })
    }

    /// Clips an epoch trains on: the originals and their copies.
    pub fn clips_per_epoch(&self) -> usize {
        self.clips.len() * (1 + self.copies as usize)
    }

    /// The frames and labels of one epoch: the originals' followed by this epoch's copies'.
    fn epoch(&self, seed: u64) -> Result<(Tensor, Tensor)> {
        let copies = augmented_copies(
            &self.clips,
            self.framing.geometry,
            &self.augment,
            self.copies,
            seed,
        )?;
        let mut frames = vec![self.originals.frames.shallow_clone()];
        let mut labels = vec![self.originals.labels.shallow_clone()];
        // Copies too sparse to leave one usable bin add nothing (as with copies made once).
        if let Ok(f) = EventFrames::new(&copies, &self.framing) {
            frames.push(f.frames);
            labels.push(f.labels);
        }
        Ok((Tensor::f_cat(&frames, 0)?, Tensor::f_cat(&labels, 0)?))
    }
}

impl Source for FreshCopies {
    /// The bins of the originals and of as many copies again, per copy.
    fn len(&self) -> i64 {
        self.originals.len() * (1 + i64::from(self.copies))
    }

    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        seed: u64,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a> {
        let (frames, labels) = match self.epoch(seed) {
            Ok(epoch) => epoch,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let (n, len) = (labels.size()[0], self.len().max(1));
        gather_batches(order, batch_size, move |idx| {
            let idx: Vec<i64> = Vec::try_from(idx)?;
            let idx: Vec<i64> = idx.iter().map(|&i| epoch_bin(i, n, len)).collect();
            let idx = Tensor::from_slice(&idx);
            Ok((
                frames.f_index_select(0, &idx)?.f_to_kind(Kind::Float)?,
                labels.f_index_select(0, &idx)?,
            ))
        })
    }
}

/// The bin that sample `i` of `len` shuffled samples draws from an epoch of `n` bins: `i · n /
/// len`, so the draws spread evenly (each bin once when `n == len`, none twice more often than
/// the others when `n < len`). Below `n` for every `i < len`.
fn epoch_bin(i: i64, n: i64, len: i64) -> i64 {
    i * n / len
}

#[cfg(test)]
mod tests {
    use sdt_dvs::sim::Gesture;
    use sdt_events::{Event, Geometry};

    use super::*;

    fn clips() -> Vec<Clip> {
        let g = [Gesture::RightArmClockwise, Gesture::HandClap];
        (0..2u64)
            .map(|c| Clip {
                events: (0..4_000u64)
                    .map(|k| Event {
                        t: k * 250,
                        x: ((k * 7 + c * 31) % 128) as u16,
                        y: ((k * 3 + 40) % 128) as u16,
                        p: (k % 2) as u8,
                    })
                    .collect(),
                label: g[c as usize].index() as i64,
            })
            .collect()
    }

    fn framing() -> Framing {
        Framing {
            geometry: Geometry::new(128, 128),
            bin_us: 100_000,
            downsample: 4,
            clip: 4,
            slices: 2,
            min_events: 20,
            normalize: None,
        }
    }

    fn epoch(src: &FreshCopies, seed: u64) -> (Vec<f32>, Vec<i64>) {
        let order: Vec<i64> = (0..src.len()).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for b in src.batches(order, 5, seed) {
            let (f, l) = b.unwrap();
            assert_eq!(f.size()[1..], [4, 32, 32]);
            x.extend(Vec::<f32>::try_from(&f.flatten(0, -1)).unwrap());
            y.extend(Vec::<i64>::try_from(&l).unwrap());
        }
        (x, y)
    }

    #[test]
    fn copies_are_redrawn_every_epoch_and_replay_from_the_seed() {
        let src = FreshCopies::new(clips(), framing(), EventAugment::default(), 3).unwrap();
        assert_eq!(src.clips_per_epoch(), 8);
        let originals = src.originals.len();
        assert!(originals >= 4, "{originals} bins");
        assert_eq!(src.len(), 4 * originals);

        let (x1, y1) = epoch(&src, 1);
        let (x2, y2) = epoch(&src, 2);
        assert_eq!(y1.len() as i64, src.len());
        assert_ne!(x1, x2, "two epochs saw the same copies");
        assert_eq!(
            (x1.clone(), y1.clone()),
            epoch(&src, 1),
            "an epoch does not replay"
        );
        // The originals come first, unchanged, in every epoch.
        let frame = 4 * 32 * 32;
        let head = originals as usize * frame;
        assert!(x1[..head] == x2[..head] && y1[..originals as usize] == y2[..originals as usize]);
        // A copy of a clip keeps its class or carries the mirrored one.
        let sided = [
            Gesture::RightArmClockwise.index() as i64,
            Gesture::LeftArmCounterClockwise.index() as i64,
            Gesture::HandClap.index() as i64,
        ];
        assert!(y1.iter().chain(&y2).all(|l| sided.contains(l)), "{y1:?}");
        assert!(
            y1.contains(&sided[1]) || y2.contains(&sided[1]),
            "no mirrored copy"
        );
        // An epoch's copies are those `augmented_copies` makes from the epoch's seed.
        let once = augmented_copies(&src.clips, framing().geometry, &src.augment, 3, 1).unwrap();
        let made = EventFrames::new(&once, &framing()).unwrap();
        assert_eq!(originals + made.len(), src.epoch(1).unwrap().1.size()[0]);
    }

    #[test]
    fn every_bin_of_an_epoch_is_drawn_when_the_counts_match() {
        // Without copies the epoch is the originals, and a shuffled order maps one to one: the
        // batches are the originals' frames and labels in that order.
        let src = FreshCopies::new(clips(), framing(), EventAugment::default(), 0).unwrap();
        let len = src.len();
        let order: Vec<i64> = (0..len).map(|i| (i * 5 + 3) % len).collect();
        assert!(len % 5 != 0, "the order must be a permutation");
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for b in src.batches(order.clone(), 3, 7) {
            let (f, l) = b.unwrap();
            x.push(f);
            y.push(l);
        }
        let direct = src.originals.to_dataset().unwrap();
        let idx = Tensor::from_slice(&order);
        let want_x = direct.images.index_select(0, &idx);
        let want_y = direct.labels.index_select(0, &idx);
        assert!(Tensor::cat(&x, 0).equal(&want_x), "frames out of order");
        assert!(Tensor::cat(&y, 0).equal(&want_y), "labels out of order");
    }

    #[test]
    fn draws_spread_evenly_over_an_epoch_of_another_length() {
        for (n, len) in [(10, 10), (7, 10), (13, 10), (1, 10), (10, 1), (999, 1000)] {
            let mut drawn = vec![0; n as usize];
            for i in 0..len {
                let bin = epoch_bin(i, n, len);
                assert!((0..n).contains(&bin), "{i} of {len} -> {bin} of {n}");
                drawn[bin as usize] += 1;
            }
            let (lo, hi) = (drawn.iter().min().unwrap(), drawn.iter().max().unwrap());
            // Fewer bins than draws: every bin is drawn; more: none twice.
            assert!(hi - lo <= 1, "{n} bins, {len} draws: {drawn:?}");
            if n <= len {
                assert!(*lo >= 1, "{n} bins, {len} draws: a bin never drawn");
            }
        }
    }
}
