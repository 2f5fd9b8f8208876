//! Model blobs in 16-byte aligned memory: `Model::from_blob` borrows weights in place, so the
//! bytes must sit at the alignment of the widest weight type.

use std::path::Path;

use sdt_core::graph::Graph;
use sdt_core::meta::{InputKind, Metadata};

use crate::error::{Error, Result};

/// Bytes in a 16-byte aligned buffer (the one aligned buffer of the project).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AlignedBlob {
    words: Vec<u128>,
    len: usize,
}

impl std::fmt::Debug for AlignedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBlob({} bytes)", self.len)
    }
}

impl AlignedBlob {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut blob = AlignedBlob {
            words: vec![0u128; bytes.len().div_ceil(16)],
            len: bytes.len(),
        };
        blob.bytes_mut().copy_from_slice(bytes);
        blob
    }

    /// Reads a file into aligned memory (no validation: see [`AlignedBlob::model`]).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Loads (and validates) the model it holds.
    pub fn model(&self) -> sdt_core::Result<sdt_core::Model<'_>> {
        sdt_core::Model::from_blob(self.bytes())
    }
}

/// Metadata to write into a blob, owned (the core's [`Metadata`] borrows its strings from
/// the blob).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlobMeta {
    /// Model name, or empty.
    pub name: String,
    /// One name per class, or none.
    pub class_names: Vec<String>,
    /// How the input is made.
    pub input: InputKind,
}

impl BlobMeta {
    /// An owned copy of a blob's metadata.
    pub fn from_metadata(meta: &Metadata<'_>) -> Self {
        BlobMeta {
            name: meta.name.to_owned(),
            class_names: (0..meta.class_count())
                .filter_map(|i| meta.class_name(i))
                .map(str::to_owned)
                .collect(),
            input: meta.input.clone(),
        }
    }

    /// Class names joined for the blob; a name that is empty or holds a line break cannot
    /// be stored.
    fn joined_class_names(&self) -> Result<String> {
        if let Some(bad) = self
            .class_names
            .iter()
            .find(|n| n.is_empty() || n.contains('\n'))
        {
            return Err(Error::Metadata(format!(
                "class name {bad:?}: names must be non-empty and on one line"
            )));
        }
        Ok(self.class_names.join("\n"))
    }
}

/// Serializes a graph, its metadata and its data section into blob bytes and checks that
/// they load.
pub fn assemble(graph: &Graph, meta: &BlobMeta, data: &[u8]) -> Result<AlignedBlob> {
    let class_names = meta.joined_class_names()?;
    let meta = Metadata {
        name: &meta.name,
        class_names: &class_names,
        input: meta.input.clone(),
    };
    let room = (1 << 20) + meta.name.len() + meta.class_names.len() + data.len() + 64;
    let mut out = vec![0u8; sdt_core::blob::HEADER_LEN + room];
    let len = sdt_core::blob::write(graph, &meta, data, &mut out).map_err(Error::Blob)?;
    let blob = AlignedBlob::from_bytes(&out[..len]);
    blob.model().map_err(Error::Blob)?;
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_at_16_byte_alignment() {
        for len in [0, 1, 15, 16, 17, 100] {
            let data: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let blob = AlignedBlob::from_bytes(&data);
            assert_eq!(blob.bytes(), &data[..]);
            assert_eq!(blob.len(), len);
            assert_eq!(blob.bytes().as_ptr() as usize % 16, 0);
        }
    }
}
