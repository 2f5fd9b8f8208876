//! The dense int8 peer on ONNX Runtime: runs `bench/ort_peer.py` (export of `sdt_torch.py`'s
//! model, static QDQ int8 quantization, timing) on weights written from a [`VarStore`], and
//! reads back its JSON lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tch::nn::VarStore;
use tch::Tensor;

use crate::error::{Error, Result};

const HOW: &str = "run `eval \"$(bash scripts/ort-env.sh)\"` first (it installs onnxruntime \
                   and onnx into the project venv and puts its python3 on PATH) or set \
                   SDT_PYTHON to a python with torch, onnx and onnxruntime";

/// The interpreter (`SDT_PYTHON`, default `python3`), checked to import what the peer needs.
pub fn python() -> Result<String> {
    let python = std::env::var("SDT_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import torch, onnx, onnxruntime"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => Err(Error::Peer(format!(
            "`{python}` cannot import torch, onnx and onnxruntime ({}): {HOW}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(Error::Peer(format!("cannot run `{python}` ({e}): {HOW}"))),
    }
}

/// The script, next to `sdt_torch.py`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/ort_peer.py")
}

/// Writes the weights in `vs` and `images` (`[N, C, H, W]` f32) into `workdir`, runs
/// `ort_peer.py <command> --preset <preset> ... <extra>` and returns its JSON lines.
pub fn run(
    command: &str,
    preset: &str,
    vs: &VarStore,
    images: &Tensor,
    workdir: &Path,
    extra: &[String],
) -> Result<Vec<Value>> {
    let python = python()?;
    std::fs::create_dir_all(workdir).map_err(|source| Error::Io {
        path: workdir.to_owned(),
        source,
    })?;
    let weights = workdir.join(format!("{preset}_weights.safetensors"));
    let inputs = workdir.join("inputs.safetensors");
    crate::weights::save_safetensors(vs, &weights)?;
    Tensor::write_safetensors(&[("input", images)], &inputs)?;
    let out = Command::new(&python)
        .arg("-W")
        .arg("ignore")
        .arg(script())
        .arg(command)
        .args(["--preset", preset])
        .arg("--weights")
        .arg(&weights)
        .arg("--inputs")
        .arg(&inputs)
        .arg("--workdir")
        .arg(workdir)
        .args(extra)
        .output()
        .map_err(|e| Error::Peer(format!("cannot run `{python}`: {e}")))?;
    if !out.status.success() {
        return Err(Error::Peer(format!(
            "{} {command} failed ({}): {}",
            script().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).map_err(|e| Error::Peer(format!("bad line {l:?}: {e}"))))
        .collect()
}

/// The line of `kind` (and, where given, `model` and `threads`).
pub fn find<'a>(
    lines: &'a [Value],
    kind: &str,
    model: Option<&str>,
    threads: Option<u64>,
) -> Result<&'a Value> {
    lines
        .iter()
        .find(|v| {
            v["kind"] == kind
                && model.is_none_or(|m| v["model"] == m)
                && threads.is_none_or(|t| v["threads"] == t)
        })
        .ok_or_else(|| {
            Error::Peer(format!(
                "no `{kind}` line for {model:?} at {threads:?} threads"
            ))
        })
}

/// A number of a line, or an error naming the field.
pub fn number(line: &Value, field: &str) -> Result<f64> {
    line[field]
        .as_f64()
        .ok_or_else(|| Error::Peer(format!("`{field}` missing in {line}")))
}
