//! SDT-10M at 224×224, batch 1, integer core only: spike-driven (1 and 2 threads) vs the dense
//! integer reference, SOPs, firing rates and cost at other firing rates. The side-by-side run
//! with the float model in libtorch is `train/examples/bench_sdt10m.rs`.
//!
//! `SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-examples --bin bench_sdt10m [-- --profile | --scaling]`
//!
//! `--profile` prints the time per layer type at each firing rate. `--scaling` prints only
//! where two threads lose time: every node of golden input 0 timed alone at 1 and 2 threads,
//! per layer type (`sdt_examples::thread_scaling`).

use sdt_examples::sdt10m::{core_table, machine, print_header, reps, Sdt10m};
use sdt_examples::thread_scaling::print_scaling;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let level = sdt_host::level::apply_env()?;
    let bench = Sdt10m::load()?;
    let option = std::env::args().nth(1);
    let (profile, scaling) = match option.as_deref() {
        None => (false, false),
        Some("--profile") => (true, false),
        Some("--scaling") => (false, true),
        Some(other) => return Err(format!("unknown option {other} (--profile, --scaling)").into()),
    };
    println!("machine: {}", machine());
    println!("kernel level {level} (of {})", sdt_core::Level::detected());
    if scaling {
        let blob = bench.packed(0.0)?;
        let model = blob.model()?;
        let inputs = bench.inputs(&model)?;
        println!("spike-driven, golden input 0, each node alone:");
        return print_scaling(&model, &inputs[0], 2, reps());
    }
    println!(
        "SDT-10M 224×224, batch 1: ms/image of the fastest of {} passes over the 4 golden inputs",
        reps()
    );
    print_header();
    let core = core_table(&bench, &[1, 2], profile)?;
    core.print_firing_speedup();
    Ok(())
}
