//! `torch.save` archives: a zip holding `<prefix>/data.pkl` and raw little-endian storages
//! `<prefix>/data/<key>`, which the pickle's tensors view with an offset and strides.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::ZipArchive;

use super::pickle::{self, Id, Pickle, TensorRef, Value};
use super::{state_dict, view, ArgValue, Checkpoint, CheckpointError, Format};

/// How much larger than the whole archive one decompressed entry may be. Torch stores
/// entries uncompressed; this only leaves room for re-zipped (deflated) checkpoints while
/// keeping a zip bomb from claiming unbounded memory.
const MAX_EXPANSION: u64 = 64;

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
    let (state_dict, container) = state_dict::find(&pickle)?;
    let refs = state_dict::tensor_refs(&pickle, state_dict)?;

    // 16 bytes of f32 per input byte, plus a little slack.
    let budget = bytes.len().saturating_mul(4).saturating_add(4096);
    let tensors = view::materialize(refs, budget, |name, tensor| {
        read_storage(&mut archive, prefix, name, tensor, entry_limit).map(Cow::Owned)
    })?;

    Ok(Checkpoint::unwrapped(
        tensors,
        read_args(&pickle),
        Format::TorchZip,
        container,
    ))
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

/// The fields of a pickled `argparse.Namespace` (or plain dict) under the root key `args`.
pub(crate) fn read_args(pickle: &Pickle) -> BTreeMap<String, ArgValue> {
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
