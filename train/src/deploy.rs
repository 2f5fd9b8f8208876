//! From trained weights to a device blob, checked on the integer runtime before anyone flashes
//! it: the same test set through libtorch (with the training's simulation) and through
//! `sdt-core`, accuracy and top-1 agreement side by side.

use std::collections::BTreeMap;
use std::path::Path;

use sdt_convert::checkpoint::{Checkpoint, Tensor as CkTensor};
use sdt_convert::verify::evaluate as core_evaluate;
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use sdt_core::{Kernel, Sequential};
use sdt_host::blob::BlobMeta;
use sdt_host::AlignedBlob;
use serde::Serialize;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::checkpoint::{named_variables, write_atomic};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::{evaluate, Simulate};
use crate::model::Sdt;

/// Accuracy of the same test set in training (libtorch) and on the device runtime.
#[derive(Clone, Debug, Serialize)]
pub struct DeployReport {
    pub images: usize,
    pub weight_bits: u8,
    pub blob_bytes: usize,
    /// libtorch, with the configured simulation (fake-quantized weights, input grid).
    pub trained_accuracy: f64,
    /// `sdt-core`, spike-driven kernels.
    pub blob_accuracy: f64,
    /// Fraction of images where both pick the same class.
    pub top1_agreement: f64,
    pub firing_rate: f64,
    pub sops_per_image: f64,
    pub energy_uj_per_image: f64,
}

fn to_ck(t: &Tensor) -> Result<CkTensor> {
    let t = t
        .detach()
        .f_to_device(tch::Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    Ok(CkTensor {
        shape: t.size().iter().map(|&d| d as usize).collect(),
        data: Vec::try_from(&t.f_flatten(0, -1)?)?,
    })
}

fn checkpoint_of(tensors: impl IntoIterator<Item = (String, Tensor)>) -> Result<Checkpoint> {
    let tensors = tensors
        .into_iter()
        .map(|(n, t)| Ok((n, to_ck(&t)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Checkpoint {
        tensors,
        args: BTreeMap::new(),
        ..Default::default()
    })
}

/// Converts the model in `vs` into a blob (`weight_bits` 8 or 16, input range `input_absmax`,
/// `meta` stored in it: class names, input framing) and returns it with the bytes written to
/// `out` when given.
pub fn pack(
    vs: &VarStore,
    model: &Sdt,
    weight_bits: u8,
    input_absmax: f64,
    meta: &BlobMeta,
    out: Option<&Path>,
) -> Result<AlignedBlob> {
    pack_shifted(vs, model, weight_bits, input_absmax, meta, out, 0.0)
}

/// [`pack`] with every pre-spike value shifted by `spike_bias` (`sdt-convert pack
/// --spike-bias`): not the trained model, but the same network at another firing rate, for
/// benchmarks whose cost depends on it.
pub fn pack_shifted(
    vs: &VarStore,
    model: &Sdt,
    weight_bits: u8,
    input_absmax: f64,
    meta: &BlobMeta,
    out: Option<&Path>,
    spike_bias: f64,
) -> Result<AlignedBlob> {
    let bits = match weight_bits {
        8 => WeightBits::I8,
        16 => WeightBits::I16,
        other => {
            return Err(Error::Config(format!(
                "the runtime takes 8- or 16-bit weights, not {other}"
            )))
        }
    };
    let c = model.config();
    let ck = checkpoint_of(named_variables(vs))?;
    let arch = ArchOptions {
        heads: c.num_heads as usize,
        d: c.spike_max,
        input_h: c.image_size as usize,
        input_w: c.image_size as usize,
    };
    let opt = LowerOptions {
        weight_bits: bits,
        input_absmax: input_absmax as f32,
        wide_input: false,
        spike_bias,
    };
    let (_, _, blob) =
        convert(&ck, arch, opt, meta).map_err(|e| Error::Data(format!("convert: {e}")))?;
    if let Some(path) = out {
        write_atomic(path, blob.bytes())?;
    }
    Ok(blob)
}

/// Runs `test` through the trained model (libtorch, simulation `sim`) and through `blob` on the
/// integer runtime.
pub fn compare(
    model: &Sdt,
    blob: &AlignedBlob,
    weight_bits: u8,
    test: &Dataset,
    sim: Simulate,
    show_progress: bool,
) -> Result<DeployReport> {
    let trained = evaluate(model, test, 64, sim, tch::Device::Cpu)?;
    let ck = checkpoint_of([
        ("input".to_owned(), test.images.shallow_clone()),
        ("label".to_owned(), test.labels.f_to_kind(Kind::Float)?),
        ("logits".to_owned(), trained.logits.shallow_clone()),
    ])?;
    let core_model = blob
        .model()
        .map_err(|e| Error::Data(format!("blob: {e}")))?;
    let r = core_evaluate(
        &core_model,
        &ck,
        Kernel::SpikeDriven,
        &Sequential,
        None,
        show_progress,
    )
    .map_err(|e| Error::Data(format!("runtime: {e}")))?;
    Ok(DeployReport {
        images: r.images,
        weight_bits,
        blob_bytes: blob.bytes().len(),
        trained_accuracy: trained.accuracy,
        blob_accuracy: r.accuracy,
        top1_agreement: r.top1_agreement,
        firing_rate: r.firing.nonzero_fraction,
        sops_per_image: r.firing.sops_per_image,
        energy_uj_per_image: r.firing.energy_uj_per_image,
    })
}
