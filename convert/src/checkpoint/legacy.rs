//! `torch.save(..., _use_new_zipfile_serialization=False)`, the only format before torch 1.6:
//! five pickles and the raw storages, one after another in a single stream.
//!
//! 1. the magic number `0x1950a86a20f9469cfc6c`, 2. the protocol version 1001, 3. system info
//!    (`little_endian`, type sizes), 4. the saved object, whose tensors name storages by key,
//!    5. the sorted list of storage keys. Then, for each key in that order, the element
//!    count as a little-endian `i64` and the storage's raw bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::pickle::{self, Pickle, Value};
use super::{pth, state_dict, view, Checkpoint, CheckpointError, Format};

/// The magic number's `LONG1` payload (10 bytes, little-endian).
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// `torch.serialization.PROTOCOL_VERSION`.
const PROTOCOL_VERSION: i64 = 1001;

/// Whether `bytes` start with the legacy magic pickle (any pickle protocol: the payload comes
/// within the first bytes after the PROTO and an optional FRAME header).
pub(crate) fn sniff(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(24)];
    let mut long1 = vec![0x8a, 10];
    long1.extend_from_slice(&MAGIC);
    bytes.first() == Some(&0x80) && head.windows(long1.len()).any(|w| w == long1)
}

fn bad(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Legacy {
        reason: reason.into(),
    }
}

/// Parses the next pickle of the stream, advancing `pos` past it.
fn next_pickle(bytes: &[u8], pos: &mut usize, what: &str) -> Result<Pickle, CheckpointError> {
    let rest = bytes.get(*pos..).unwrap_or_default();
    let (pickle, len) =
        pickle::parse_prefix(rest).map_err(|source| CheckpointError::LegacyPickle {
            what: what.to_owned(),
            offset: *pos,
            source,
        })?;
    *pos += len;
    Ok(pickle)
}

pub(crate) fn load(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let mut pos = 0;
    let magic = next_pickle(bytes, &mut pos, "magic number")?;
    if magic.get(magic.root) != &Value::BigInt {
        return Err(bad(format!(
            "the first pickle is {}, not the magic number",
            magic.describe(magic.root)
        )));
    }
    let version = next_pickle(bytes, &mut pos, "protocol version")?;
    if version.get(version.root) != &Value::Int(PROTOCOL_VERSION) {
        return Err(bad(format!(
            "protocol version is {}, expected {PROTOCOL_VERSION}",
            version.describe(version.root)
        )));
    }
    let info = next_pickle(bytes, &mut pos, "system info")?;
    match info
        .dict_get(info.root, "little_endian")
        .map(|id| info.get(id))
    {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            return Err(CheckpointError::ByteOrder {
                found: "big".into(),
            })
        }
        _ => return Err(bad("system info has no `little_endian` flag")),
    }

    let object = next_pickle(bytes, &mut pos, "saved object")?;
    let (dict, container) = state_dict::find(&object)?;
    let refs = state_dict::tensor_refs(&object, dict)?;

    let keys = next_pickle(bytes, &mut pos, "storage keys")?;
    let Value::List(key_ids) = keys.get(keys.root) else {
        return Err(bad("the storage key list is not a list"));
    };

    // Every storage of the object (not only the state dict's) lies in the stream, so each
    // listed key needs its element size from the object to be skipped.
    let element_sizes: BTreeMap<&str, usize> = object
        .storages()
        .map(|s| (s.key.as_str(), s.dtype.size()))
        .collect();
    let mut raw: BTreeMap<String, &[u8]> = BTreeMap::new();
    for &id in key_ids {
        let key = match keys.get(id) {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err(bad("a storage key is not a string")),
        };
        let size = *element_sizes
            .get(key.as_str())
            .ok_or_else(|| bad(format!("storage {key} is listed but nothing refers to it")))?;
        let count = bytes
            .get(pos..pos.saturating_add(8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| bad(format!("the file ends before storage {key}")))?;
        let start = pos + 8;
        let data = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(size))
            .and_then(|n| bytes.get(start..start.checked_add(n)?))
            .ok_or_else(|| {
                bad(format!(
                    "storage {key} claims {count} elements of {size} bytes at offset {start}, past the end of the file ({} bytes)",
                    bytes.len()
                ))
            })?;
        pos = start + data.len();
        raw.insert(key, data);
    }

    // 16 bytes of f32 per input byte, plus a little slack (as for zip archives).
    let budget = bytes.len().saturating_mul(4).saturating_add(4096);
    let tensors = view::materialize(refs, budget, |name, tensor| {
        let storage = &tensor.storage;
        let data = raw
            .get(&storage.key)
            .ok_or_else(|| CheckpointError::MissingStorage {
                name: name.to_owned(),
                key: storage.key.clone(),
            })?;
        let expected = storage.numel.checked_mul(storage.dtype.size());
        if expected != Some(data.len()) {
            return Err(CheckpointError::StorageSize {
                key: storage.key.clone(),
                expected: expected.map_or(u64::MAX, |n| n as u64),
                found: data.len() as u64,
            });
        }
        Ok(Cow::Borrowed(*data))
    })?;
    Ok(Checkpoint::unwrapped(
        tensors,
        pth::read_args(&object),
        Format::TorchLegacy,
        container,
    ))
}
