//! The main job: run the bundled int8 digits model on the bundled 360 test digits and print
//! accuracy, latency, synaptic operations and estimated energy.
//!
//! `cargo run --release -p sdt-examples --bin classify_digits [-- BLOB TEST.safetensors]`

use std::path::PathBuf;

use sdt_convert::checkpoint;
use sdt_convert::verify::evaluate;
use sdt_core::{Kernel, Sequential};
use sdt_host::AlignedBlob;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdt_host::level::apply_env()?;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let blob_path = args
        .next()
        .unwrap_or_else(|| data.join("digits32_int8.blob"));
    let test_path = args
        .next()
        .unwrap_or_else(|| data.join("digits32_test.safetensors"));

    let blob = AlignedBlob::read(&blob_path)?;
    let model = blob.model()?;
    let test = checkpoint::load(&test_path)?;
    let g = model.graph();
    println!(
        "model {}: SDT-V3 embed {:?}, {} params, {} blob bytes, arena {} bytes",
        blob_path.display(),
        g.arch.embed,
        g.arch.params,
        blob.bytes().len(),
        sdt_core::arena_bytes(&model, 1)?
    );
    let spike = evaluate(&model, &test, Kernel::SpikeDriven, &Sequential, None, true)?;
    let dense = evaluate(&model, &test, Kernel::Dense, &Sequential, None, false)?;
    let f = &spike.firing;
    println!("images            {}", spike.images);
    println!(
        "accuracy          {:.2} %  (official float model 85.83 %)",
        spike.accuracy * 100.0
    );
    println!(
        "top-1 agreement   {:.2} %  with the official float logits",
        spike.top1_agreement * 100.0
    );
    println!(
        "latency           {:.3} ms/image spike-driven, {:.3} ms/image dense reference (1 thread)",
        spike.ms_per_image, dense.ms_per_image
    );
    println!(
        "SOPs              {:.3e} /image (+{:.3e} MACs in the encoding layer)",
        f.sops_per_image, f.macs_per_image
    );
    println!(
        "spike sites       {:.1} % non-zero, mean count {:.3}",
        f.nonzero_fraction * 100.0,
        f.mean_count
    );
    println!(
        "energy (45 nm)    {:.3} µJ/image  (E_AC 0.9 pJ, E_MAC 4.6 pJ)",
        f.energy_uj_per_image
    );
    if dense.accuracy != spike.accuracy {
        return Err("spike-driven and dense kernels disagree".into());
    }
    Ok(())
}
