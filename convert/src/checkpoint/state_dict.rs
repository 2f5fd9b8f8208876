//! Finding the state dict inside a pickled checkpoint, and the name prefixes that training
//! wrappers add to every entry.
//!
//! Training scripts nest the state dict under a key (`{"model": ...}`, `{"state_dict": ...}`,
//! EMA copies, ...), and wrappers rename every parameter: `DistributedDataParallel` and
//! `DataParallel` add `module.`, `torch.compile` adds `_orig_mod.`. Both are undone here and
//! recorded in [`Origin`](super::Origin) so the user sees what was done.

use std::collections::BTreeMap;

use super::pickle::{Id, Pickle, TensorRef, Value};
use super::{CheckpointError, Tensor};

/// Keys under which checkpoints nest their state dict, in order of preference (the trained
/// weights before their EMA copy; `module` is what a pickled wrapper's dict may hold).
pub(crate) const CONTAINER_KEYS: [&str; 4] = ["model", "state_dict", "model_ema", "module"];

/// Prefixes a wrapper puts in front of every name: `DistributedDataParallel`/`DataParallel`
/// and `torch.compile`.
pub(crate) const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// Containers nest at most this deep (a cycle in the pickle must not loop forever).
const MAX_NESTING: usize = 8;

/// How many keys an error message lists before eliding the rest.
const KEYS_SHOWN: usize = 16;

/// The state dict of a pickled checkpoint and the container keys followed to reach it.
pub(crate) fn find(pickle: &Pickle) -> Result<(Id, Vec<String>), CheckpointError> {
    let mut id = pickle.root;
    let mut path: Vec<String> = Vec::new();
    loop {
        let Value::Dict(items) = pickle.get(id) else {
            let what = match path.last() {
                Some(key) => format!("`{key}`"),
                None => "the pickled root".to_owned(),
            };
            return Err(CheckpointError::NoStateDict {
                reason: format!("{what} is {}", pickle.describe(id)),
            });
        };
        let present: Vec<(&str, Id)> = CONTAINER_KEYS
            .iter()
            .filter_map(|&key| pickle.dict_get(id, key).map(|child| (key, child)))
            .collect();
        let nested = present
            .iter()
            .find(|(_, child)| matches!(pickle.get(*child), Value::Dict(_)));
        if let Some(&(key, child)) = nested.filter(|_| path.len() < MAX_NESTING) {
            path.push(key.to_owned());
            id = child;
            continue;
        }
        if items
            .iter()
            .any(|&(_, v)| matches!(pickle.get(v), Value::Tensor(_)))
        {
            return Ok((id, path));
        }
        // A known key that holds something else (a whole pickled module, say) explains more
        // than the list of keys does.
        if let Some(&(key, child)) = present.first() {
            return Err(CheckpointError::NoStateDict {
                reason: format!(
                    "`{key}` is {}, not a dict of tensors (save `model.state_dict()` instead)",
                    pickle.describe(child)
                ),
            });
        }
        return Err(CheckpointError::UnknownContainer {
            path: path.join("."),
            keys: describe_keys(pickle, items),
        });
    }
}

fn describe_keys(pickle: &Pickle, items: &[(Id, Id)]) -> String {
    let mut shown: Vec<String> = items
        .iter()
        .take(KEYS_SHOWN)
        .map(|&(k, v)| {
            let key = match pickle.get(k) {
                Value::Str(s) => s.clone(),
                _ => pickle.describe(k),
            };
            format!("{key} ({})", pickle.describe(v))
        })
        .collect();
    if items.len() > KEYS_SHOWN {
        shown.push(format!("and {} more", items.len() - KEYS_SHOWN));
    }
    if shown.is_empty() {
        "none".to_owned()
    } else {
        shown.join(", ")
    }
}

/// The state dict's entries; every one must be a tensor with a string name.
pub(crate) fn tensor_refs(
    pickle: &Pickle,
    dict: Id,
) -> Result<Vec<(String, TensorRef)>, CheckpointError> {
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

/// Removes wrapper prefixes that every name carries (repeatedly: a compiled model inside DDP
/// has both), returning them in the order removed.
pub(crate) fn strip_prefixes(tensors: &mut BTreeMap<String, Tensor>) -> Vec<String> {
    let mut stripped = Vec::new();
    while let Some(prefix) = WRAPPER_PREFIXES.iter().find(|p| {
        !tensors.is_empty()
            && tensors
                .keys()
                .all(|name| name.len() > p.len() && name.starts_with(*p))
    }) {
        *tensors = std::mem::take(tensors)
            .into_iter()
            .map(|(name, t)| (name[prefix.len()..].to_owned(), t))
            .collect();
        stripped.push((*prefix).to_owned());
    }
    stripped
}
