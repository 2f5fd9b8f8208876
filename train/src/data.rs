//! Data sets as tensors: the digits set and the golden test batches.

use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::weights::read_tensors;

/// Images `[N, C, H, W]` f32 and labels `[N]` i64.
#[derive(Debug)]
pub struct Dataset {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Dataset {
    /// Checks the layout and pairs images with labels.
    pub fn new(images: Tensor, labels: Tensor) -> Result<Self> {
        let (is, ls) = (images.size(), labels.size());
        if is.len() != 4 || ls.len() != 1 || is[0] != ls[0] {
            return Err(Error::Data(format!(
                "images must be [N, C, H, W] and labels [N], got {is:?} and {ls:?}"
            )));
        }
        Ok(Self {
            images: images.f_to_kind(Kind::Float)?,
            labels: labels.f_to_kind(Kind::Int64)?,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples `start..start+len` (clipped), sharing storage.
    pub fn batch(&self, start: i64, len: i64) -> Result<(Tensor, Tensor)> {
        let len = len.min(self.len() - start).max(0);
        Ok((
            self.images.f_narrow(0, start, len)?,
            self.labels.f_narrow(0, start, len)?,
        ))
    }
}

/// A training set the loop draws shuffled batches from: tensors in memory, image folders
/// decoded on worker threads, event recordings framed on the fly.
pub trait Source {
    /// Number of samples.
    fn len(&self) -> i64;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of one epoch: samples `order[0..batch_size]`, then the next `batch_size`, ...
    /// as images `[B, C, H, W]` f32 and labels `[B]` i64 on the CPU. `seed` drives any
    /// per-sample randomness so that an epoch can be replayed exactly.
    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        seed: u64,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a>;
}

impl Source for Dataset {
    fn len(&self) -> i64 {
        Dataset::len(self)
    }

    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        _seed: u64,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a> {
        gather_batches(order, batch_size, move |idx| {
            Ok((
                self.images.f_index_select(0, idx)?,
                self.labels.f_index_select(0, idx)?,
            ))
        })
    }
}

/// Batches of an in-memory set: `order` cut into runs of `batch_size` indices, each turned into
/// a batch by `gather` (given the indices as an `i64` tensor).
pub fn gather_batches<'a>(
    order: Vec<i64>,
    batch_size: i64,
    gather: impl Fn(&Tensor) -> Result<(Tensor, Tensor)> + 'a,
) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a> {
    let chunks: Vec<Vec<i64>> = order
        .chunks(batch_size.max(1) as usize)
        .map(<[i64]>::to_vec)
        .collect();
    Box::new(
        chunks
            .into_iter()
            .map(move |idx| gather(&Tensor::from_slice(&idx))),
    )
}

/// Which part of the digits file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

fn take(
    tensors: &mut std::collections::BTreeMap<String, Tensor>,
    name: &str,
    path: &Path,
) -> Result<Tensor> {
    tensors.remove(name).ok_or_else(|| Error::MissingTensor {
        path: path.to_owned(),
        name: name.to_owned(),
    })
}

/// Digits preprocessing of the golden model: counts `0..=16` on 8×8 → `v/16`, bilinear
/// (align_corners = false) to `size`×`size`, then `(v − 0.5)/0.5`. Input `[N, 8, 8]` any kind,
/// output `[N, 1, size, size]` f32.
pub fn preprocess_digits(images: &Tensor, size: i64) -> Result<Tensor> {
    let x = images
        .f_to_kind(Kind::Float)?
        .f_unsqueeze(1)?
        .f_div_scalar(16.0)?;
    let x = x.f_upsample_bilinear2d([size, size], false, None, None)?;
    Ok(x.f_sub_scalar(0.5)?.f_div_scalar(0.5)?)
}

/// The digits set (`train_images`/`train_labels`, `test_images`/`test_labels`, u8 8×8 scans)
/// preprocessed for a `size`×`size` model.
pub fn load_digits(path: &Path, split: Split, size: i64) -> Result<Dataset> {
    let mut tensors = read_tensors(path)?;
    let images = take(&mut tensors, &format!("{}_images", split.prefix()), path)?;
    let labels = take(&mut tensors, &format!("{}_labels", split.prefix()), path)?;
    if images.dim() != 3 {
        return Err(Error::Data(format!(
            "{}: digits images must be [N, 8, 8], got {:?}",
            path.display(),
            images.size()
        )));
    }
    Dataset::new(preprocess_digits(&images, size)?, labels)
}

/// Either file layout: a golden test batch (`input`, `label`) or the digits set (the `split`,
/// preprocessed to `size`×`size`).
pub fn load_any(path: &Path, split: Split, size: i64) -> Result<Dataset> {
    let tensors = read_tensors(path)?;
    if tensors.contains_key("input") {
        Ok(load_golden_test(path)?.0)
    } else {
        load_digits(path, split, size)
    }
}

/// A golden test batch: `input` (already preprocessed), `label` and the official `logits`.
pub fn load_golden_test(path: &Path) -> Result<(Dataset, Tensor)> {
    let mut tensors = read_tensors(path)?;
    let images = take(&mut tensors, "input", path)?;
    let labels = take(&mut tensors, "label", path)?;
    let logits = take(&mut tensors, "logits", path)?;
    Ok((Dataset::new(images, labels)?, logits))
}
