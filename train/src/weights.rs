//! Reading and writing model weights as `.safetensors` with the official state-dict names.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn::VarStore, Tensor};

use crate::error::{Error, Result};

/// Buffers that may be absent from a weights file (they do not affect inference).
fn optional(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
}

/// Reads every tensor of a `.safetensors` file by name.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Ok(Tensor::read_safetensors(path)?.into_iter().collect())
}

/// Copies named tensors into the var store. Every variable must be present with its exact shape
/// (only `num_batches_tracked` may be missing), and no tensor may be left over: a leftover name
/// means the model and the file disagree about the architecture.
pub fn load_tensors(
    vs: &VarStore,
    mut tensors: BTreeMap<String, Tensor>,
    source: &Path,
) -> Result<()> {
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut var) in variables {
        let Some(src) = tensors.remove(&name) else {
            if optional(&name) {
                continue;
            }
            return Err(Error::MissingTensor {
                path: source.to_owned(),
                name,
            });
        };
        if src.size() != var.size() {
            return Err(Error::Shape {
                name,
                expected: var.size(),
                found: src.size(),
            });
        }
        let src = src.f_to_kind(var.kind())?.f_to_device(var.device())?;
        tch::no_grad(|| var.f_copy_(&src))?;
    }
    if !tensors.is_empty() {
        return Err(Error::UnexpectedTensors {
            path: source.to_owned(),
            names: tensors.into_keys().collect(),
        });
    }
    Ok(())
}

/// Loads a `.safetensors` file (official names, BN running statistics included) into `vs`.
pub fn load_safetensors(vs: &VarStore, path: &Path) -> Result<()> {
    load_tensors(vs, read_tensors(path)?, path)
}

/// Reads an official `torch.save` checkpoint (`.pth`, a zip archive; the state dict under
/// `model`) without running any pickled code, every tensor as f32.
pub fn read_pth(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let checkpoint = sdt_convert::checkpoint::load(path)?;
    checkpoint
        .tensors
        .into_iter()
        .map(|(name, t)| {
            let shape: Vec<i64> = t
                .shape
                .iter()
                .map(|&d| i64::try_from(d))
                .collect::<Result<_, _>>()
                .map_err(|_| Error::Data(format!("tensor `{name}`: dimension too large")))?;
            let tensor = Tensor::f_from_slice(&t.data)?.f_reshape(shape.as_slice())?;
            Ok((name, tensor))
        })
        .collect()
}

/// Loads weights in either format: an official `.pth` checkpoint (told by its zip signature)
/// or `.safetensors`.
pub fn load_weights(vs: &VarStore, path: &Path) -> Result<()> {
    let mut magic = [0u8; 2];
    let is_zip = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|()| &magic == b"PK")
        .map_err(|e| Error::io(path, e))?;
    let tensors = if is_zip {
        read_pth(path)?
    } else {
        read_tensors(path)?
    };
    load_tensors(vs, tensors, path)
}

/// Saves every variable and buffer of `vs` under its official name, atomically.
pub fn save_safetensors(vs: &VarStore, path: &Path) -> Result<()> {
    let named = crate::checkpoint::named_variables(vs);
    crate::checkpoint::write_atomic(path, &crate::checkpoint::encode(&named, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    fn store() -> VarStore {
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root() / "m";
        let _ = p.var("weight", &[2, 3], nn::Init::Const(0.0));
        let _ = p.zeros_no_train("running_mean", &[2]);
        let _ = p.add(
            "num_batches_tracked",
            Tensor::zeros([0i64; 0], (Kind::Int64, Device::Cpu)),
            false,
        );
        vs
    }

    fn file(entries: &[(&str, Tensor)]) -> BTreeMap<String, Tensor> {
        entries
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.shallow_clone()))
            .collect()
    }

    #[test]
    fn loads_parameters_and_buffers() {
        let vs = store();
        let src = file(&[
            ("m.weight", Tensor::ones([2, 3], (Kind::Float, Device::Cpu))),
            ("m.running_mean", Tensor::from_slice(&[1.5f32, -2.0])),
            ("m.num_batches_tracked", Tensor::from(7i64)),
        ]);
        load_tensors(&vs, src, Path::new("x")).unwrap();
        let vars = vs.variables();
        assert_eq!(vars["m.running_mean"].double_value(&[1]), -2.0);
        assert_eq!(vars["m.num_batches_tracked"].int64_value(&[]), 7);
        assert_eq!(vars["m.weight"].sum(Kind::Float).double_value(&[]), 6.0);
    }

    #[test]
    fn num_batches_tracked_is_optional_the_rest_is_not() {
        let vs = store();
        let ok = file(&[
            ("m.weight", Tensor::ones([2, 3], (Kind::Float, Device::Cpu))),
            ("m.running_mean", Tensor::from_slice(&[0f32, 0.0])),
        ]);
        load_tensors(&vs, ok, Path::new("x")).unwrap();
        let missing = file(&[("m.weight", Tensor::ones([2, 3], (Kind::Float, Device::Cpu)))]);
        assert!(matches!(
            load_tensors(&vs, missing, Path::new("x")),
            Err(Error::MissingTensor { name, .. }) if name == "m.running_mean"
        ));
    }

    #[test]
    fn rejects_wrong_shapes_and_unknown_names() {
        let vs = store();
        let bad_shape = file(&[
            ("m.weight", Tensor::ones([3, 2], (Kind::Float, Device::Cpu))),
            ("m.running_mean", Tensor::from_slice(&[0f32, 0.0])),
        ]);
        assert!(matches!(
            load_tensors(&vs, bad_shape, Path::new("x")),
            Err(Error::Shape { .. })
        ));
        let extra = file(&[
            ("m.weight", Tensor::ones([2, 3], (Kind::Float, Device::Cpu))),
            ("m.running_mean", Tensor::from_slice(&[0f32, 0.0])),
            ("m.q_conv.weight", Tensor::from_slice(&[0f32])),
        ]);
        assert!(matches!(
            load_tensors(&vs, extra, Path::new("x")),
            Err(Error::UnexpectedTensors { names, .. }) if names == ["m.q_conv.weight"]
        ));
    }
}
