//! Strided tensor views of raw storages, copied out as dense row-major `f32` tensors.

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::dtype::DType;
use super::pickle::TensorRef;
use super::{CheckpointError, Tensor};

/// Gathers every view into a dense tensor, fetching each storage once (tensors may share one:
/// tied weights, views). `budget` caps the total element count: expanded views (stride 0)
/// may hold more elements than their storage, so the caller sizes it from the input.
pub(crate) fn materialize<'a>(
    refs: Vec<(String, TensorRef)>,
    budget: usize,
    mut fetch: impl FnMut(&str, &TensorRef) -> Result<Cow<'a, [u8]>, CheckpointError>,
) -> Result<BTreeMap<String, Tensor>, CheckpointError> {
    let mut remaining = budget;
    let mut storages: BTreeMap<String, (DType, Cow<'a, [u8]>)> = BTreeMap::new();
    let mut tensors = BTreeMap::new();
    for (name, tensor) in refs {
        let numel = numel_of(&tensor.shape);
        let fits = numel
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= remaining);
        let Some(numel) = fits else {
            return Err(CheckpointError::TooLarge {
                name,
                numel: numel.unwrap_or(u128::MAX),
                budget,
            });
        };
        remaining -= numel;

        let storage = &tensor.storage;
        let (dtype, data) = match storages.entry(storage.key.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let data = fetch(&name, &tensor)?;
                e.insert((storage.dtype, data))
            }
        };
        if *dtype != storage.dtype {
            return Err(CheckpointError::StorageDtypeConflict {
                key: storage.key.clone(),
                first: dtype.name(),
                second: storage.dtype.name(),
            });
        }
        let data = gather(&name, &tensor, data, numel)?;
        tensors.insert(
            name,
            Tensor {
                shape: tensor.shape,
                data,
            },
        );
    }
    Ok(tensors)
}

fn numel_of(shape: &[usize]) -> Option<u128> {
    shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
}

/// Copies a strided view of `storage` into a row-major `f32` buffer of `numel` elements.
pub(crate) fn gather(
    name: &str,
    tensor: &TensorRef,
    storage: &[u8],
    numel: usize,
) -> Result<Vec<f32>, CheckpointError> {
    if numel == 0 {
        return Ok(Vec::new());
    }
    let available = tensor.storage.numel;
    let out_of_bounds = |needed| CheckpointError::OutOfBounds {
        name: name.to_owned(),
        key: tensor.storage.key.clone(),
        needed,
        available,
    };
    // The farthest element the view touches; u128 so no shape/stride product overflows.
    let last = tensor
        .shape
        .iter()
        .zip(&tensor.stride)
        .try_fold(tensor.offset as u128, |acc, (&d, &s)| {
            (d as u128 - 1)
                .checked_mul(s as u128)
                .and_then(|x| acc.checked_add(x))
        })
        .unwrap_or(u128::MAX);
    if last >= available as u128 {
        return Err(out_of_bounds(last));
    }

    let dtype = tensor.storage.dtype;
    let size = dtype.size();
    if is_row_major(&tensor.shape, &tensor.stride) {
        let range = tensor
            .offset
            .checked_mul(size)
            .and_then(|start| Some(start..start.checked_add(numel.checked_mul(size)?)?));
        let bytes = range
            .and_then(|r| storage.get(r))
            .ok_or_else(|| out_of_bounds(last))?;
        return Ok(dtype.decode_all(bytes));
    }

    // Odometer walk over the index space; `pos` is the storage element of the current index.
    let rank = tensor.shape.len();
    let mut index = vec![0usize; rank];
    let mut pos = tensor.offset;
    let mut out = Vec::with_capacity(numel);
    for _ in 0..numel {
        out.push(
            dtype
                .read(storage, pos)
                .ok_or_else(|| out_of_bounds(last))?,
        );
        for d in (0..rank).rev() {
            index[d] += 1;
            pos = pos.wrapping_add(tensor.stride[d]);
            if index[d] < tensor.shape[d] {
                break;
            }
            pos = pos.wrapping_sub(tensor.stride[d].wrapping_mul(tensor.shape[d]));
            index[d] = 0;
        }
    }
    Ok(out)
}

/// Whether the strides are the dense row-major ones (size-1 dims may have any stride).
fn is_row_major(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::dtype::DType;
    use crate::checkpoint::pickle::StorageRef;

    fn view(shape: &[usize], stride: &[usize], offset: usize, numel: usize) -> TensorRef {
        TensorRef {
            storage: StorageRef {
                dtype: DType::F32,
                key: "0".into(),
                numel,
            },
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn storage(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn transposed_view_is_gathered_row_major() {
        let data = storage(&[0., 1., 2., 3., 4., 5.]);
        // A 2x3 storage seen as its 3x2 transpose.
        let t = view(&[3, 2], &[1, 3], 0, 6);
        assert_eq!(
            gather("t", &t, &data, 6).expect("in bounds"),
            [0., 3., 1., 4., 2., 5.]
        );
    }

    #[test]
    fn offset_and_broadcast_views() {
        let data = storage(&[9., 1., 2.]);
        let t = view(&[2, 2], &[0, 1], 1, 3);
        assert_eq!(
            gather("t", &t, &data, 4).expect("in bounds"),
            [1., 2., 1., 2.]
        );
    }

    #[test]
    fn view_past_storage_is_refused() {
        let data = storage(&[0.; 8]);
        let t = view(&[4, 4], &[4, 1], 0, 8);
        assert!(matches!(
            gather("w", &t, &data, 16),
            Err(CheckpointError::OutOfBounds { needed: 15, .. })
        ));
    }
}
