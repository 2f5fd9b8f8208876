//! Blob bytes on the host: assembling, aligned loading and atomic writing.

use std::io::Write;
use std::path::Path;

use sdt_core::graph::Graph;

use crate::error::{ConvertError, Result};

/// Serializes a graph and data section into blob bytes and checks that they load.
pub fn assemble(graph: &Graph, data: &[u8]) -> Result<AlignedBlob> {
    let mut out = vec![0u8; sdt_core::blob::HEADER_LEN + (1 << 20) + data.len() + 64];
    let len = sdt_core::blob::write(graph, data, &mut out).map_err(ConvertError::Blob)?;
    let blob = AlignedBlob::from_bytes(&out[..len]);
    sdt_core::Model::from_blob(blob.bytes()).map_err(ConvertError::Blob)?;
    Ok(blob)
}

/// Blob bytes in a 16-byte aligned buffer, as `Model::from_blob` borrows weights in place.
#[derive(Clone)]
pub struct AlignedBlob {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBlob {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBlob {
            words,
            len: bytes.len(),
        }
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ConvertError::io(path, e))?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }

    /// Loads the model it holds.
    pub fn model(&self) -> Result<sdt_core::Model<'_>> {
        sdt_core::Model::from_blob(self.bytes()).map_err(ConvertError::Blob)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash or a full disk
/// never leaves a half-written blob behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("blob.tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ConvertError::io(path, e));
    }
    Ok(())
}
