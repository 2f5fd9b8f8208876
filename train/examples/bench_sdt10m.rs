//! SDT-10M at 224×224, batch 1, side by side in one run: the float model in libtorch eager
//! (this crate's model, PyTorch's own kernels) and the integer core (spike-driven and dense),
//! at 1 and 2 threads.
//!
//! ```sh
//! eval "$(bash scripts/torch-env.sh)"
//! SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-train --example bench_sdt10m
//! ```

use std::time::Instant;

use sdt_examples::sdt10m::{core_table, print_header, print_row, reps, Sdt10m};
use sdt_train::{weights, Ctx, Sdt, SdtConfig};
use tch::{nn::VarStore, Device, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let level = sdt_host::level::apply_env()?;
    let bench = Sdt10m::load()?;
    println!(
        "SDT-10M 224×224, batch 1: ms/image of the fastest of {} passes over the 4 golden inputs",
        reps()
    );
    println!(
        "core kernel level {level} (of {})",
        sdt_core::Level::detected()
    );
    print_header();
    // The integer core first: libtorch's OpenMP workers keep spinning for a while after
    // each parallel region and would take cores from it.
    core_table(&bench, &[1, 2])?;
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::m())?;
    weights::load_weights(&vs, &bench.pth)?;
    let inputs: Vec<Tensor> = bench
        .images
        .iter()
        .map(|x| Tensor::from_slice(x).reshape([1, 3, 224, 224]))
        .collect();
    let _no_grad = tch::no_grad_guard();
    for threads in [1, 2] {
        tch::set_num_threads(threads as i32);
        let run_all = || -> Result<(), sdt_train::Error> {
            for x in &inputs {
                let _logits = model.forward(x, &mut Ctx::eval())?;
            }
            Ok(())
        };
        run_all()?; // warm-up
                    // The fastest pass, as for the core (see `sdt_examples::time_per_image`).
        let mut ms = f64::INFINITY;
        for _ in 0..reps().max(1) {
            let start = Instant::now();
            run_all()?;
            ms = ms.min(start.elapsed().as_secs_f64() * 1e3 / inputs.len() as f64);
        }
        print_row("libtorch float eager (tch)", ms, threads, None);
    }
    Ok(())
}
