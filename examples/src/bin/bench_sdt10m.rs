//! SDT-10M at 224×224, batch 1: spike-driven core (1 and 2 threads) vs the dense integer
//! reference, SOPs and firing rates, and how the cost follows the number of spikes.
//!
//! `SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-examples --bin bench_sdt10m`

use std::time::Instant;

use sdt_convert::checkpoint;
use sdt_convert::exec::ThreadPool;
use sdt_convert::verify::{quantize_input, Firing};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use sdt_core::{arena_bytes, Kernel, Session};
use sdt_examples::{golden_dir, time_per_image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = golden_dir()?;
    let ck = checkpoint::load(&dir.join("sdt_m_224_seed1.pth"))?;
    let io = checkpoint::load(&dir.join("sdt_m_224_seed1_io.safetensors"))?;
    let images = io.get("input")?;
    let absmax = images.data.iter().fold(0f32, |m, &x| m.max(x.abs()));
    let arch = ArchOptions {
        heads: 8,
        d: 4,
        input_h: 224,
        input_w: 224,
    };
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);

    println!("SDT-10M 224×224, batch 1, int8 weights, {reps} passes over the 4 golden inputs");
    println!(
        "{:<34} {:>10} {:>8} {:>12} {:>9}",
        "run", "ms/image", "threads", "SOPs/image", "non-zero"
    );
    let mut sweep = Vec::new();
    for spike_bias in [0.0, -0.25, 0.25] {
        let opt = LowerOptions {
            weight_bits: WeightBits::I8,
            input_absmax: absmax,
            wide_input: false,
            spike_bias,
        };
        let (_, _, blob) = convert(&ck, arch, opt)?;
        let model = blob.model()?;
        let per = model.input_len();
        let inputs = (0..4)
            .map(|i| quantize_input(&model, &images.data[i * per..(i + 1) * per]))
            .collect::<Result<Vec<_>, _>>()?;
        let runs: &[(Kernel, usize)] = if spike_bias == 0.0 {
            &[
                (Kernel::SpikeDriven, 1),
                (Kernel::SpikeDriven, 2),
                (Kernel::Dense, 1),
            ]
        } else {
            &[(Kernel::SpikeDriven, 1)]
        };
        for &(kernel, threads) in runs {
            let pool = ThreadPool::new(threads)?;
            let mut arena = vec![0u8; arena_bytes(&model, threads)?];
            let mut session = Session::new(&model, &mut arena, threads)?;
            let (ms, stats) = time_per_image(&mut session, &inputs, kernel, &pool, reps)?;
            let f = Firing::from_stats(&stats);
            let label = format!("{kernel:?} (spike bias {spike_bias:+.2})");
            println!(
                "{label:<34} {ms:>10.1} {threads:>8} {:>12.3e} {:>8.1}%",
                f.sops_per_image,
                f.nonzero_fraction * 100.0
            );
            if kernel == Kernel::SpikeDriven && threads == 1 {
                sweep.push((f.nonzero_fraction, f.sops_per_image, ms));
            }
        }
        if spike_bias == 0.0 {
            profile(&model, &inputs[0])?;
        }
    }
    sweep.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("\ncost vs firing rate (spike-driven, 1 thread):");
    for (rate, sops, ms) in &sweep {
        println!(
            "  non-zero {:>5.1}%  SOPs {:>10.3e}  {:>7.1} ms  {:>6.2} ns/SOP",
            rate * 100.0,
            sops,
            ms,
            ms * 1e6 / sops
        );
    }
    println!(
        "\nfloat model in libtorch eager: not measured here yet (the `train/` crate provides it)"
    );
    Ok(())
}

/// The ten slowest nodes of one spike-driven run.
fn profile(
    model: &sdt_core::Model<'_>,
    input: &sdt_convert::verify::QuantizedInput,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut arena = vec![0u8; arena_bytes(model, 1)?];
    let mut session = Session::new(model, &mut arena, 1)?;
    session.set_input(input.as_input())?;
    let mut times = Vec::new();
    for i in 0..model.nodes().len() {
        let t = Instant::now();
        session.run_nodes(i..i + 1, Kernel::SpikeDriven, &sdt_core::Sequential, None)?;
        times.push((t.elapsed().as_secs_f64() * 1e3, i));
    }
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("  slowest nodes (spike-driven, 1 thread):");
    for (ms, i) in times.iter().take(10) {
        println!("    {ms:>7.2} ms  {}", model.node_name(*i));
    }
    Ok(())
}
