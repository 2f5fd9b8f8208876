//! Checkpoints that survive crashes and full disks, and resume a run exactly.
//!
//! A run directory holds:
//! - `weights.safetensors`: the model with the official state-dict names (what `convert` and the
//!   official code read);
//! - `state.safetensors`: everything needed to continue: the weights again (`model.<name>`), the
//!   AdamW moments (`adam.m/v.<name>`) and, as metadata, the step, the epoch and the metrics so
//!   far. It is self-contained, so a crash between the two renames can never pair weights of one
//!   step with moments of another.
//!
//! Both are written to a temporary file in the same directory, synced, then renamed over the old
//! one: a reader sees the old file or the new one, never a torn one. Randomness is re-seeded from
//! `(seed, step)` at every step, so no generator state needs saving.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::optim::AdamW;
use crate::train::EpochMetrics;

/// File name of the exported weights inside a run directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// File name of the resumable training state inside a run directory.
pub const STATE_FILE: &str = "state.safetensors";

/// Where a run stands, stored as metadata of the state file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: u64,
    /// Completed epochs.
    pub epoch: u64,
    /// Metrics of the completed epochs.
    pub history: Vec<EpochMetrics>,
    /// The run's configuration as JSON, to refuse resuming with other hyper-parameters.
    pub config: String,
    /// Processes that trained it (data-parallel ranks); resuming needs the same number, since
    /// the shards and the learning rate depend on it.
    #[serde(default = "one")]
    pub world_size: u64,
}

fn one() -> u64 {
    1
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, `fsync`, rename,
/// then `fsync` of the directory. On any error (a full disk included) the old file is untouched,
/// the temporary file is removed and the error names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] with the content produced by `fill` (exposed so tests can inject failures).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{} is not a file path", path.display())))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // The rename itself must reach the disk before we call the checkpoint written.
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

fn dtype_of(kind: Kind) -> Result<Dtype> {
    match kind {
        Kind::Float => Ok(Dtype::F32),
        Kind::Int64 => Ok(Dtype::I64),
        other => Err(Error::Data(format!(
            "cannot store a {other:?} tensor in a checkpoint"
        ))),
    }
}

fn kind_of(dtype: Dtype) -> Result<Kind> {
    match dtype {
        Dtype::F32 => Ok(Kind::Float),
        Dtype::I64 => Ok(Kind::Int64),
        other => Err(Error::Data(format!(
            "unsupported tensor type {other:?} in a checkpoint"
        ))),
    }
}

/// Encodes named tensors (f32 or i64, any device) as a `.safetensors` image with `metadata`.
pub fn encode(
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut owned = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.detach().f_to_device(tch::Device::Cpu)?.f_contiguous()?;
        let dtype = dtype_of(t.kind())?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, t.numel())?;
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Data(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &metadata).map_err(|e| Error::Data(format!("safetensors: {e}")))
}

/// Decodes a `.safetensors` image into named tensors and its metadata.
pub fn decode(
    bytes: &[u8],
    path: &Path,
) -> Result<(BTreeMap<String, Tensor>, HashMap<String, String>)> {
    let bad = |e: safetensors::SafeTensorError| Error::Data(format!("{}: {e}", path.display()));
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(bad)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(bad)?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind_of(view.dtype())?)?;
        out.insert(name, t);
    }
    Ok((out, metadata))
}

/// Every variable and buffer of `vs` by official name, sorted.
pub fn named_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Saves the weights and the training state of a run into `dir` (created if needed).
pub fn save(dir: &Path, vs: &VarStore, opt: &AdamW, progress: &Progress) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let weights = named_variables(vs);
    let mut state: Vec<(String, Tensor)> = weights
        .iter()
        .map(|(n, t)| (format!("model.{n}"), t.shallow_clone()))
        .collect();
    state.extend(opt.state_tensors());
    let metadata = HashMap::from([("progress".to_owned(), serde_json::to_string(progress)?)]);
    write_atomic(&dir.join(STATE_FILE), &encode(&state, Some(metadata))?)?;
    write_atomic(&dir.join(WEIGHTS_FILE), &encode(&weights, None)?)
}

/// Whether `dir` holds a training state to resume from.
pub fn exists(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file()
}

/// Restores the model and optimizer saved by [`save`] and returns where the run stood.
pub fn load(dir: &Path, vs: &VarStore, opt: &mut AdamW) -> Result<Progress> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let (mut tensors, metadata) = decode(&bytes, &path)?;
    let progress: Progress = serde_json::from_str(
        metadata
            .get("progress")
            .ok_or_else(|| Error::Data(format!("{}: no progress metadata", path.display())))?,
    )?;
    let model: BTreeMap<String, Tensor> = tensors
        .iter()
        .filter_map(|(n, t)| {
            n.strip_prefix("model.")
                .map(|s| (s.to_owned(), t.shallow_clone()))
        })
        .collect();
    tensors.retain(|n, _| !n.starts_with("model."));
    crate::weights::load_tensors(vs, model, &path)?;
    opt.load_state(&mut tensors, progress.step)?;
    if let Some(extra) = tensors.keys().next() {
        return Err(Error::Data(format!(
            "{}: unexpected tensor `{extra}` in the training state",
            path.display()
        )));
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn tmpdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sdt-ckpt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_reports_the_path() {
        let dir = tmpdir("fail");
        let path = dir.join("state.safetensors");
        write_atomic(&path, b"good").unwrap();
        let err = write_atomic_with(&path, |f| {
            f.write_all(b"half")?;
            // What a full disk reports mid-write.
            Err(std::io::Error::from_raw_os_error(28))
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("state.safetensors"), "{text}");
        assert!(text.contains("No space left"), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn encode_decode_round_trip_with_metadata() {
        let t = vec![
            (
                "a".to_owned(),
                Tensor::from_slice(&[1.5f32, -2.0, 3.25]).reshape([3, 1]),
            ),
            ("b".to_owned(), Tensor::from(7i64)),
        ];
        let meta = HashMap::from([("k".to_owned(), "v".to_owned())]);
        let bytes = encode(&t, Some(meta)).unwrap();
        let (back, meta) = decode(&bytes, Path::new("x")).unwrap();
        assert_eq!(meta["k"], "v");
        assert!(back["a"].equal(&t[0].1));
        assert_eq!(back["b"].int64_value(&[]), 7);
        assert_eq!(back["a"].device(), Device::Cpu);
        assert!(decode(&bytes[..bytes.len() - 3], Path::new("x")).is_err());
    }
}
