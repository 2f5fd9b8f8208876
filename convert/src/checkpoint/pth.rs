//! `torch.save` archives: a zip holding `<prefix>/data.pkl` and raw little-endian storages
//! `<prefix>/data/<key>`, which the pickle's tensors view with an offset and strides.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::ZipArchive;

use super::dtype::DType;
use super::pickle::{self, Id, Pickle, TensorRef, Value};
use super::{ArgValue, Checkpoint, CheckpointError, Tensor};

/// How much larger than the whole archive one decompressed entry may be. Torch stores
/// entries uncompressed; this only leaves room for re-zipped (deflated) checkpoints while
/// keeping a zip bomb from claiming unbounded memory.
const MAX_EXPANSION: u64 = 64;

/// Keys under which checkpoints nest their state dict, in order of preference.
const STATE_DICT_KEYS: [&str; 3] = ["model", "state_dict", "model_ema"];

/// Nesting past this depth in `args` reads as [`ArgValue::Other`] (cycles are possible).
const MAX_ARG_DEPTH: usize = 16;

pub(crate) fn load(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let input_len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let entry_limit = input_len.saturating_mul(MAX_EXPANSION);
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;

    // The pickle sits under a prefix named after the saved file; take the shallowest one.
    let pickle_entry = archive
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .map(str::to_owned)
        .ok_or(CheckpointError::NoPickle)?;
    let prefix = &pickle_entry[..pickle_entry.len() - "data.pkl".len()];

    let byteorder_entry = format!("{prefix}byteorder");
    if archive.index_for_name(&byteorder_entry).is_some() {
        let order = read_entry(&mut archive, &byteorder_entry, 64)?;
        let order = String::from_utf8_lossy(&order).trim().to_owned();
        if order != "little" {
            return Err(CheckpointError::ByteOrder { found: order });
        }
    }

    let pickle_bytes = read_entry(&mut archive, &pickle_entry, entry_limit)?;
    let pickle = pickle::parse(&pickle_bytes)?;
    let state_dict = find_state_dict(&pickle)?;
    let refs = tensor_refs(&pickle, state_dict)?;

    // Expanded views (stride 0) may hold more elements than their storage, so the total is
    // capped by the input size instead: 16 bytes of f32 per input byte, plus a little slack.
    let budget = bytes.len().saturating_mul(4).saturating_add(4096);
    let mut remaining = budget;
    let mut storages: BTreeMap<String, (DType, Vec<u8>)> = BTreeMap::new();
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

        // Tensors may share a storage (tied weights, views): read each one once.
        let storage = &tensor.storage;
        let (dtype, data) = match storages.entry(storage.key.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let data = read_storage(&mut archive, prefix, &name, &tensor, entry_limit)?;
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

    Ok(Checkpoint {
        tensors,
        args: read_args(&pickle),
    })
}

/// Reads a whole entry, refusing more than `limit` bytes. The buffer grows only as bytes
/// actually arrive, so a lying size field cannot force a large allocation.
fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, CheckpointError> {
    let file = archive.by_name(name)?;
    let size = file.size();
    if size > limit {
        return Err(CheckpointError::EntryTooLarge {
            entry: name.to_owned(),
            size,
            limit,
        });
    }
    let mut out = Vec::new();
    file.take(size)
        .read_to_end(&mut out)
        .map_err(|source| CheckpointError::EntryRead {
            entry: name.to_owned(),
            source,
        })?;
    Ok(out)
}

/// Reads storage `data/<key>` and checks it holds exactly the declared element count.
fn read_storage(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    prefix: &str,
    name: &str,
    tensor: &TensorRef,
    limit: u64,
) -> Result<Vec<u8>, CheckpointError> {
    let storage = &tensor.storage;
    let entry = format!("{prefix}data/{}", storage.key);
    let expected = u64::try_from(storage.numel)
        .ok()
        .and_then(|n| n.checked_mul(storage.dtype.size() as u64))
        .unwrap_or(u64::MAX);
    let data = match read_entry(archive, &entry, limit) {
        Err(CheckpointError::Zip(ZipError::FileNotFound)) => {
            return Err(CheckpointError::MissingStorage {
                name: name.to_owned(),
                key: storage.key.clone(),
            })
        }
        other => other?,
    };
    let found = data.len() as u64;
    if found != expected {
        return Err(CheckpointError::StorageSize {
            key: storage.key.clone(),
            expected,
            found,
        });
    }
    Ok(data)
}

/// Picks the state dict: a known nesting key, else the root dict itself.
fn find_state_dict(pickle: &Pickle) -> Result<Id, CheckpointError> {
    if !matches!(pickle.get(pickle.root), Value::Dict(_)) {
        return Err(CheckpointError::NoStateDict {
            reason: format!("the pickled root is {}", pickle.describe(pickle.root)),
        });
    }
    for key in STATE_DICT_KEYS {
        if let Some(id) = pickle.dict_get(pickle.root, key) {
            return match pickle.get(id) {
                Value::Dict(_) => Ok(id),
                _ => Err(CheckpointError::NoStateDict {
                    reason: format!("`{key}` is {}", pickle.describe(id)),
                }),
            };
        }
    }
    Ok(pickle.root)
}

/// The state dict's entries; every one must be a tensor with a string name.
fn tensor_refs(pickle: &Pickle, dict: Id) -> Result<Vec<(String, TensorRef)>, CheckpointError> {
    let Value::Dict(items) = pickle.get(dict) else {
        return Err(CheckpointError::NoStateDict {
            reason: "not a dict".into(),
        });
    };
    // Later SETITEMs override earlier ones, as in Python.
    let mut out: BTreeMap<String, TensorRef> = BTreeMap::new();
    for &(key, value) in items {
        let Value::Str(name) = pickle.get(key) else {
            return Err(CheckpointError::NonStringKey {
                key: pickle.describe(key),
            });
        };
        let Value::Tensor(tensor) = pickle.get(value) else {
            return Err(CheckpointError::NotATensor {
                name: name.clone(),
                found: pickle.describe(value),
            });
        };
        out.insert(name.clone(), tensor.clone());
    }
    if out.is_empty() {
        return Err(CheckpointError::NoStateDict {
            reason: "the state dict has no tensors".into(),
        });
    }
    Ok(out.into_iter().collect())
}

fn numel_of(shape: &[usize]) -> Option<u128> {
    shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
}

/// Copies a strided view of `storage` into a row-major `f32` buffer of `numel` elements.
fn gather(
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

/// The fields of a pickled `argparse.Namespace` (or plain dict) under the root key `args`.
fn read_args(pickle: &Pickle) -> BTreeMap<String, ArgValue> {
    let Some(args) = pickle.dict_get(pickle.root, "args") else {
        return BTreeMap::new();
    };
    let fields = match pickle.get(args) {
        Value::Object {
            state: Some(state), ..
        } => *state,
        Value::Dict(_) => args,
        _ => return BTreeMap::new(),
    };
    let Value::Dict(items) = pickle.get(fields) else {
        return BTreeMap::new();
    };
    items
        .iter()
        .filter_map(|&(k, v)| match pickle.get(k) {
            Value::Str(name) => Some((name.clone(), arg_value(pickle, v, 0))),
            _ => None,
        })
        .collect()
}

fn arg_value(pickle: &Pickle, id: Id, depth: usize) -> ArgValue {
    match pickle.get(id) {
        Value::None => ArgValue::None,
        Value::Bool(b) => ArgValue::Bool(*b),
        Value::Int(i) => ArgValue::Int(*i),
        Value::Float(f) => ArgValue::Float(*f),
        Value::Str(s) => ArgValue::Str(s.clone()),
        Value::List(items) | Value::Tuple(items) if depth < MAX_ARG_DEPTH => ArgValue::List(
            items
                .iter()
                .map(|&i| arg_value(pickle, i, depth + 1))
                .collect(),
        ),
        _ => ArgValue::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
