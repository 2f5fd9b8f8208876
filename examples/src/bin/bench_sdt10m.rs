//! SDT-10M at 224×224, batch 1, integer core only: spike-driven (1 and 2 threads) vs the dense
//! integer reference, SOPs, firing rates and cost at other firing rates. The side-by-side run
//! with the float model in libtorch is `train/examples/bench_sdt10m.rs`.
//!
//! `SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-examples --bin bench_sdt10m [-- --profile]`
//!
//! `--profile` prints the time per layer type at each firing rate.

use sdt_examples::sdt10m::{core_table, machine, print_header, reps, Sdt10m};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let level = sdt_host::level::apply_env()?;
    let bench = Sdt10m::load()?;
    println!(
        "SDT-10M 224×224, batch 1: ms/image of the fastest of {} passes over the 4 golden inputs",
        reps()
    );
    let profile = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--profile") => true,
        Some(other) => return Err(format!("unknown option {other} (--profile)").into()),
    };
    println!("machine: {}", machine());
    println!("kernel level {level} (of {})", sdt_core::Level::detected());
    print_header();
    let core = core_table(&bench, &[1, 2], profile)?;
    core.print_firing_speedup();
    Ok(())
}
