//! The models and inputs the harness runs: the bundled digits model (int8), an int16 build of
//! it, and SDT-10M (int8) at a chosen input size.

use std::path::{Path, PathBuf};

use sdt_convert::checkpoint::{self, Checkpoint};
use sdt_convert::verify::{quantize_input, QuantizedInput};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use sdt_host::AlignedBlob;

use crate::error::{io, HarnessError, Result};

/// A blob with its quantized inputs (job format: little-endian bytes).
pub struct Workload {
    pub name: String,
    pub blob: Vec<u8>,
    pub inputs: Vec<Vec<u8>>,
}

fn repo_dir() -> PathBuf {
    crate::firmware::boards_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("../.."))
}

/// A file of the golden data set (`SDT_GOLDEN_DIR`), or an error saying how to get it.
pub fn golden(name: &str) -> Result<PathBuf> {
    Ok(sdt_host::data::golden_file(name)?)
}

fn bytes_of(x: &QuantizedInput) -> Vec<u8> {
    match x {
        QuantizedInput::I8(v) => v.iter().map(|&b| b as u8).collect(),
        QuantizedInput::I16(v) => v.iter().flat_map(|b| b.to_le_bytes()).collect(),
    }
}

/// Quantizes CHW f32 images for `blob`'s input.
pub fn quantize(blob: &AlignedBlob, images: &[&[f32]]) -> Result<Vec<Vec<u8>>> {
    let model = blob.model()?;
    images
        .iter()
        .map(|x| Ok(bytes_of(&quantize_input(&model, x)?)))
        .collect()
}

fn digits_images(n: usize) -> Result<Vec<Vec<f32>>> {
    let path = repo_dir().join("examples/data/digits32_test.safetensors");
    let test = checkpoint::load(&path)?;
    let data = &test.get("input")?.data;
    let per = 32 * 32;
    if data.len() < n * per {
        return Err(HarnessError::Model(format!(
            "{} has fewer than {n} digits",
            path.display()
        )));
    }
    Ok(data
        .chunks_exact(per)
        .take(n)
        .map(<[f32]>::to_vec)
        .collect())
}

/// Labels of the first `n` bundled test digits.
pub fn digits_labels(n: usize) -> Result<Vec<usize>> {
    let path = repo_dir().join("examples/data/digits32_test.safetensors");
    let test = checkpoint::load(&path)?;
    Ok(test
        .get("label")?
        .data
        .iter()
        .take(n)
        .map(|&l| l as usize)
        .collect())
}

fn workload(name: &str, blob: AlignedBlob, images: &[Vec<f32>]) -> Result<Workload> {
    let refs: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
    Ok(Workload {
        name: name.into(),
        inputs: quantize(&blob, &refs)?,
        blob: blob.bytes().to_vec(),
    })
}

/// The bundled int8 digits model (`examples/data/digits32_int8.blob`) on the first `n` test digits.
pub fn digits_int8(n: usize) -> Result<Workload> {
    let path = repo_dir().join("examples/data/digits32_int8.blob");
    let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
    workload(
        "digits int8",
        AlignedBlob::from_bytes(&bytes),
        &digits_images(n)?,
    )
}

/// The digits model converted with int16 weights and int16 input, on the first `n` test digits.
pub fn digits_int16(n: usize) -> Result<Workload> {
    let ck = checkpoint::load(&golden("sdt_digits32_seed1.safetensors")?)?;
    let blob = convert_ck(&ck, 32, WeightBits::I16, true, 1.0, 4, 0.0)?;
    workload("digits int16", blob, &digits_images(n)?)
}

fn convert_ck(
    ck: &Checkpoint,
    size: usize,
    bits: WeightBits,
    wide: bool,
    absmax: f32,
    d: u8,
    spike_bias: f64,
) -> Result<AlignedBlob> {
    let (arch, opt) = options(size, bits, wide, absmax, d, spike_bias);
    Ok(convert(ck, arch, opt, &Default::default())?.2)
}

/// The converter's options for an 8-head model at `size`×`size`.
fn options(
    size: usize,
    bits: WeightBits,
    wide: bool,
    absmax: f32,
    d: u8,
    spike_bias: f64,
) -> (ArchOptions, LowerOptions) {
    let arch = ArchOptions {
        heads: 8,
        d,
        input_h: size,
        input_w: size,
    };
    let opt = LowerOptions {
        weight_bits: bits,
        input_absmax: absmax,
        wide_input: wide,
        spike_bias,
    };
    (arch, opt)
}

/// SDT-10M (random official weights, `sdt_m_224_seed1.pth`) as int8 at `size`×`size`. At 224
/// the inputs are the first `n` golden images (the input range taken over all four, as the
/// host benchmark `examples/src/bin/bench_sdt10m.rs` does); at other sizes `n` deterministic pseudo-random
/// normalized images (the device and host compare integers, any input will do).
pub fn sdt10m(size: usize, n: usize) -> Result<Workload> {
    sdt10m_with(size, n, 4, 0.0)
}

/// [`sdt10m`] with spike counts up to `d` (the official models use 4) and every pre-spike
/// value shifted by `spike_bias` spike units (denser, larger counts): counts above 4 take the
/// kernels' general paths (the listing loop per spike, the depthwise plane-count check).
pub fn sdt10m_with(size: usize, n: usize, d: u8, spike_bias: f64) -> Result<Workload> {
    let ck = checkpoint::load(&golden("sdt_m_224_seed1.pth")?)?;
    let per = 3 * size * size;
    let mut images: Vec<Vec<f32>> = if size == 224 {
        let io = checkpoint::load(&golden("sdt_m_224_seed1_io.safetensors")?)?;
        io.get("input")?
            .data
            .chunks_exact(per)
            .map(<[f32]>::to_vec)
            .collect()
    } else {
        random_images(n, per)
    };
    let absmax = images
        .iter()
        .flatten()
        .fold(0f32, |m, &x| m.max(x.abs()))
        .max(1e-3);
    images.truncate(n);
    let blob = convert_ck(&ck, size, WeightBits::I8, false, absmax, d, spike_bias)?;
    let name = match (d, spike_bias) {
        (4, 0.0) => format!("SDT-10M int8 {size}x{size}"),
        _ => format!("SDT-10M int8 {size}x{size} D={d} spike bias {spike_bias:+}"),
    };
    workload(&name, blob, &images)
}

/// `n` deterministic pseudo-random normalized images of `per` values (in `[-2, 2)`).
fn random_images(n: usize, per: usize) -> Vec<Vec<f32>> {
    let mut state = 0x5eed_u64;
    (0..n)
        .map(|_| {
            (0..per)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
                })
                .collect()
        })
        .collect()
}

/// SDT-10M int8 at `size`×`size` on one pseudo-random image, with the input zero points set
/// to `zero_points` (one per input channel; the converter writes zeros) and every 7th input
/// value set to −128, outside the input range `±max_abs` (also returned) of the converted
/// model: the encoding layer's zero points, padding and clamp, which converted models leave
/// idle.
pub fn sdt10m_zero_points(size: usize, zero_points: &[i16]) -> Result<(Workload, u16)> {
    let ck = checkpoint::load(&golden("sdt_m_224_seed1.pth")?)?;
    let (arch, opt) = options(size, WeightBits::I8, false, 2.0, 4, 0.0);
    let meta = Default::default();
    let (_, mut lowered, _) = convert(&ck, arch, opt, &meta)?;
    let spec = &mut lowered.graph.input_spec;
    spec.zero_points.clear();
    for &z in zero_points {
        let _ = spec.zero_points.push(z);
    }
    let max_abs = spec.max_abs;
    let blob = sdt_host::blob::assemble(&lowered.graph, &meta, &lowered.data)?;
    let mut w = workload(
        &format!("SDT-10M int8 {size}x{size} zero points {zero_points:?}"),
        blob,
        &random_images(1, 3 * size * size),
    )?;
    for input in &mut w.inputs {
        input.iter_mut().step_by(7).for_each(|x| *x = 0x80);
    }
    Ok((w, max_abs))
}
