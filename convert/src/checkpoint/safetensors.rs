//! `.safetensors` files: a JSON header of names, element types, shapes and byte ranges,
//! then the raw little-endian data. Header and ranges are validated by the `safetensors`
//! crate; each tensor is then converted to `f32`.

use std::collections::BTreeMap;

use safetensors::SafeTensors;

use super::dtype::DType;
use super::{Checkpoint, CheckpointError, Format, Tensor};

pub(crate) fn load(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    // `read_metadata` checks every range against the buffer and the shapes against the ranges.
    let (header_len, metadata) = SafeTensors::read_metadata(bytes)?;
    let data_start = header_len.saturating_add(8);
    let mut tensors = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let dtype = DType::from_safetensors(info.dtype).ok_or_else(|| {
            CheckpointError::UnsupportedDtype {
                name: name.clone(),
                dtype: format!("{:?}", info.dtype),
            }
        })?;
        let (start, end) = info.data_offsets;
        let range = data_start
            .checked_add(start)
            .zip(data_start.checked_add(end));
        let raw = range
            .and_then(|(s, e)| bytes.get(s..e))
            .ok_or(safetensors::SafeTensorError::InvalidOffset(name.clone()))?;
        let data = dtype.decode_all(raw);
        tensors.insert(
            name,
            Tensor {
                shape: info.shape.clone(),
                data,
            },
        );
    }
    Ok(Checkpoint::unwrapped(
        tensors,
        BTreeMap::new(),
        Format::Safetensors,
        Vec::new(),
    ))
}
