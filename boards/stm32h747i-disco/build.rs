//! Sizes the firmware for its model at build time.
//!
//! Reads the model blob (`SDT_BLOB`, default: the bundled int8 digits model), validates it with
//! the host core, decides where its arena and kept spike thresholds go (`src/placement.rs`)
//! and writes `placement.x` so the linker reserves the weights in QSPI and the others in SRAM
//! or SDRAM (and fails when they do not fit). It also quantizes the test inputs (`SDT_INPUTS`, `SDT_IMAGES`) and runs
//! them through the host core: the firmware checks its logits against these, bit for bit.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use sdt_convert::checkpoint;
use sdt_convert::verify::{quantize_input, QuantizedInput};
use sdt_core::{Kernel, Model, Sequential, Session};
use sdt_host::AlignedBlob;

#[allow(dead_code)]
#[path = "src/memory.rs"]
mod memory;
#[allow(dead_code)]
#[path = "src/placement.rs"]
mod placement;

type BuildResult<T> = Result<T, Box<dyn std::error::Error>>;

const DEFAULT_BLOB: &str = "../../examples/data/digits32_int8.blob";
const DEFAULT_INPUTS: &str = "../../examples/data/digits32_test.safetensors";
const DEFAULT_IMAGES: usize = 20;

fn main() {
    if let Err(e) = run() {
        // A panic message is what cargo shows for a failing build script.
        panic!("stm32h747i-disco build: {e}");
    }
}

fn run() -> BuildResult<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    for var in ["SDT_BLOB", "SDT_INPUTS", "SDT_IMAGES"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=src/memory.rs");
    println!("cargo:rerun-if-changed=src/placement.rs");
    // Host builds (unit tests, the footprint report) link no firmware.
    if env::var("CARGO_CFG_TARGET_OS")? != "none" {
        return Ok(());
    }

    let custom_blob = env::var_os("SDT_BLOB").map(PathBuf::from);
    let blob_path = manifest.join(custom_blob.clone().unwrap_or(DEFAULT_BLOB.into()));
    let inputs_path = match (env::var_os("SDT_INPUTS"), &custom_blob) {
        (Some(p), _) => Some(manifest.join(p)),
        (None, None) => Some(manifest.join(DEFAULT_INPUTS)),
        (None, Some(_)) => None,
    };
    let images: usize = match env::var("SDT_IMAGES") {
        Ok(n) => n
            .parse()
            .map_err(|_| format!("SDT_IMAGES={n:?} is not a count"))?,
        Err(_) => DEFAULT_IMAGES,
    };
    println!("cargo:rerun-if-changed={}", blob_path.display());

    let blob = AlignedBlob::read(&blob_path).map_err(|e| {
        format!(
            "cannot read the model blob {} ({e}); set SDT_BLOB to a blob made by `sdt-convert pack`",
            blob_path.display()
        )
    })?;
    let model = blob.model()?;
    let arena = sdt_core::arena_bytes(&model, 1)?;
    let kept = sdt_core::kept_thresholds_len(&model) * 4;
    let place = placement::place(blob.bytes().len(), arena, kept)?;

    let (inputs, labels) = match &inputs_path {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            test_inputs(&model, path, images)?
        }
        None => (vec![synthetic_input(&model)], vec![u8::MAX]),
    };
    let reference = host_logits(&model, &inputs)?;

    let mut script = String::new();
    placement::write_linker_script(&place, &mut script)?;
    fs::write(out.join("placement.x"), script)?;
    fs::copy(manifest.join("memory.x"), out.join("memory.x"))?;

    let mut input_bytes = Vec::new();
    for x in &inputs {
        match x {
            QuantizedInput::I8(v) => input_bytes.extend(v.iter().map(|&b| b as u8)),
            QuantizedInput::I16(v) => input_bytes.extend(v.iter().flat_map(|b| b.to_le_bytes())),
        }
    }
    fs::write(out.join("inputs.bin"), input_bytes)?;
    let logits: Vec<u8> = reference.iter().flat_map(|l| l.to_le_bytes()).collect();
    fs::write(out.join("reference.bin"), logits)?;
    fs::write(
        out.join("model.rs"),
        model_facts(&blob_path, &model, &place, inputs.len(), &labels)?,
    )?;

    println!("cargo:rustc-link-search={}", out.display());
    for script in ["link.x", "defmt.x", "placement.x"] {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
    Ok(())
}

/// The first `images` test inputs, quantized as the host does, and their labels.
fn test_inputs(
    model: &Model<'_>,
    path: &Path,
    images: usize,
) -> BuildResult<(Vec<QuantizedInput>, Vec<u8>)> {
    let test = checkpoint::load(path).map_err(|e| {
        format!(
            "cannot read test inputs {} ({e}); set SDT_INPUTS to a safetensors file with an `input` tensor",
            path.display()
        )
    })?;
    let x = test.get("input")?;
    let per = model.input_len();
    let n = images.min(x.data.len() / per);
    if n == 0 {
        return Err(format!("{} holds no input of {per} values", path.display()).into());
    }
    let labels = test.tensors.get("label");
    let mut inputs = Vec::with_capacity(n);
    let mut label_bytes = Vec::with_capacity(n);
    for i in 0..n {
        inputs.push(quantize_input(model, &x.data[i * per..(i + 1) * per])?);
        let label = labels
            .and_then(|l| l.data.get(i))
            .map_or(u8::MAX, |&v| v as u8);
        label_bytes.push(label);
    }
    Ok((inputs, label_bytes))
}

/// A reproducible input in the model's range, for blobs without test data.
fn synthetic_input(model: &Model<'_>) -> QuantizedInput {
    let lim = model.graph().input_spec.max_abs as i64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let values: Vec<i64> = (0..model.input_len())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (2 * lim as u64 + 1)) as i64 - lim
        })
        .collect();
    if model.wide_input() {
        QuantizedInput::I16(
            values
                .iter()
                .map(|&v| v.clamp(-32768, 32767) as i16)
                .collect(),
        )
    } else {
        QuantizedInput::I8(values.iter().map(|&v| v.clamp(-128, 127) as i8).collect())
    }
}

/// Logits of the host core for every input (spike-driven kernel, one thread).
fn host_logits(model: &Model<'_>, inputs: &[QuantizedInput]) -> BuildResult<Vec<i32>> {
    let mut arena = vec![0u8; sdt_core::arena_bytes(model, 1)?];
    let mut session = Session::new(model, &mut arena, 1)?;
    let mut logits = Vec::new();
    for x in inputs {
        session.set_input(x.as_input())?;
        session.run(Kernel::SpikeDriven, &Sequential, None)?;
        logits.extend_from_slice(session.logits());
    }
    Ok(logits)
}

fn model_facts(
    blob_path: &Path,
    model: &Model<'_>,
    place: &placement::Placement,
    images: usize,
    labels: &[u8],
) -> BuildResult<String> {
    let name = blob_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = String::new();
    writeln!(s, "// Generated by build.rs: do not edit.")?;
    writeln!(s, "pub const BLOB_NAME: &str = {name:?};")?;
    writeln!(s, "pub const BLOB_BYTES: usize = {};", place.weights_bytes)?;
    writeln!(s, "pub const ARENA_BYTES: usize = {};", place.arena_bytes)?;
    let sdram = place.arena == placement::Home::Sdram;
    writeln!(s, "pub const ARENA_IN_SDRAM: bool = {sdram};")?;
    let kept_bytes = place.kept.map_or(0, |_| place.kept_bytes);
    writeln!(
        s,
        "/// Bytes of the kept spike thresholds' section (0: runs rebuild them)."
    )?;
    writeln!(s, "pub const KEPT_BYTES: usize = {kept_bytes};")?;
    let sdram = place.kept == Some(placement::Home::Sdram);
    writeln!(s, "pub const KEPT_IN_SDRAM: bool = {sdram};")?;
    writeln!(s, "pub const IMAGES: usize = {images};")?;
    writeln!(s, "pub const INPUT_LEN: usize = {};", model.input_len())?;
    writeln!(s, "pub const WIDE_INPUT: bool = {};", model.wide_input())?;
    writeln!(s, "pub const CLASSES: usize = {};", model.classes())?;
    writeln!(s, "/// True labels (255: unknown).")?;
    writeln!(s, "pub const LABELS: [u8; IMAGES] = {labels:?};")?;
    Ok(s)
}
