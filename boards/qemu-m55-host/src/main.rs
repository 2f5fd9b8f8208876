//! Commands around the QEMU Cortex-M55 firmware:
//!
//! - `cost`: instructions per inference of the digits model, scalar vs Helium (run twice each,
//!   to show they repeat);
//! - `bench-sdt10m`: SDT-10M int8 at 224×224 once on the emulated M55;
//! - `footprint`: code, read-only data, static RAM, and arena/blob bytes per model.

use std::time::Duration;

use clap::{Parser, Subcommand};
use sdt_core::graph::Op;
use sdt_core::Kernel;
use sdt_qemu_m55_host::{
    firmware, footprint, job, models, qemu, reference, Result, Variant, INSNS_PER_TICK,
};

#[derive(Parser)]
#[command(about = "QEMU mps3-an547 (Cortex-M55) firmware: cost, benchmark, footprint")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Instructions per inference of the digits model (int8), scalar vs Helium.
    Cost {
        /// Test digits to run.
        #[arg(long, default_value_t = 4)]
        inputs: usize,
        /// Also print instructions per node and variant.
        #[arg(long)]
        nodes: bool,
    },
    /// SDT-10M int8 at 224×224, once, on the emulated M55 (needs SDT_GOLDEN_DIR).
    BenchSdt10m {
        #[arg(long, value_enum, default_value = "helium")]
        variant: VariantArg,
        /// Input size (224 is the benchmark; smaller sizes run faster).
        #[arg(long, default_value_t = 224)]
        size: usize,
    },
    /// Footprint of the firmware images and of each model (needs SDT_GOLDEN_DIR).
    Footprint,
    /// Instructions per node of one digit on a given firmware ELF (for kernel work).
    Profile { elf: std::path::PathBuf },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VariantArg {
    Scalar,
    M55Autovec,
    Helium,
}

impl From<VariantArg> for Variant {
    fn from(v: VariantArg) -> Self {
        match v {
            VariantArg::Scalar => Variant::Scalar,
            VariantArg::M55Autovec => Variant::AutoVec,
            VariantArg::Helium => Variant::Helium,
        }
    }
}

fn insns(ticks: u64) -> f64 {
    ticks as f64 * INSNS_PER_TICK
}

/// Whether node `op` is a synaptic layer (a convolution or the encoding layer).
fn synaptic(op: &Op) -> bool {
    matches!(op, Op::Conv { .. } | Op::Encode { .. })
}

fn cost(n: usize, per_node: bool) -> Result<()> {
    let w = models::digits_int8(n)?;
    let blob = sdt_host::AlignedBlob::from_bytes(&w.blob);
    let model = blob.model()?;
    let syn: Vec<bool> = model.nodes().iter().map(|nd| synaptic(&nd.op)).collect();
    println!(
        "digits int8 on QEMU mps3-an547 (Cortex-M55), {n} test digits, -icount shift=0 \
         (1 SysTick tick = {INSNS_PER_TICK} instructions)"
    );
    println!(
        "{:<12} {:>16} {:>16} {:>16} {:>9}",
        "firmware", "insns/inference", "synaptic layers", "other nodes", "repeats"
    );
    let mut base: Option<(f64, f64)> = None;
    let mut node_insns: Vec<Vec<f64>> = Vec::new();
    let mut sops = vec![0u64; syn.len()];
    for v in Variant::ALL {
        let elf = firmware::build(v)?;
        let job = job::build(&w.blob, &w.inputs, 0);
        let a = qemu::run(&elf, &job, Duration::from_secs(600))?;
        let b = qemu::run(&elf, &job, Duration::from_secs(600))?;
        let ticks = |r: &qemu::Run| -> Vec<Vec<u64>> {
            r.report
                .inferences
                .iter()
                .map(|i| i.node_ticks.clone())
                .collect()
        };
        let repeats = ticks(&a) == ticks(&b);
        let host = reference::run(&w.blob, &w.inputs, Kernel::SpikeDriven)?;
        let diffs = reference::differences(&a.report, &host);
        if !diffs.is_empty() {
            eprintln!("{}: device and host differ: {diffs:?}", v.name());
            std::process::exit(1);
        }
        let (mut total, mut synaptic_t) = (0u64, 0u64);
        let mut per_node_t = vec![0u64; syn.len()];
        for h in &host {
            for (s, st) in sops.iter_mut().zip(&h.stats) {
                *s = st.sops;
            }
        }
        for inf in &a.report.inferences {
            for (p, t) in per_node_t.iter_mut().zip(&inf.node_ticks) {
                *p += t;
            }
            total += inf.total_ticks;
            synaptic_t += inf
                .node_ticks
                .iter()
                .zip(&syn)
                .filter(|(_, &s)| s)
                .map(|(t, _)| t)
                .sum::<u64>();
        }
        let per = |t: u64| insns(t) / n.max(1) as f64;
        let (t, s) = (per(total), per(synaptic_t));
        let ratio = base.map_or(String::new(), |(bt, bs)| {
            format!(
                "  {:.2}x fewer total, {:.2}x fewer synaptic",
                bt / t,
                bs / s
            )
        });
        println!(
            "{:<12} {:>16.0} {:>16.0} {:>16.0} {:>9}{ratio}",
            v.name(),
            t,
            s,
            t - s,
            if repeats { "exact" } else { "NO" }
        );
        base.get_or_insert((t, s));
        node_insns.push(per_node_t.iter().map(|&t| per(t)).collect());
    }
    if per_node {
        println!("\nper node (instructions/inference; SOPs of the last input)");
        print!("{:>4} {:<56} {:>10}", "node", "name", "SOPs");
        for v in Variant::ALL {
            print!(" {:>12}", v.name());
        }
        println!();
        for (i, &sop) in sops.iter().enumerate() {
            print!("{i:>4} {:<56} {sop:>10}", model.node_name(i));
            for col in &node_insns {
                print!(" {:>12.0}", col[i]);
            }
            println!();
        }
    }
    Ok(())
}

fn bench(variant: Variant, size: usize) -> Result<()> {
    let w = models::sdt10m(size, 1)?;
    let elf = firmware::build(variant)?;
    let checked = sdt_qemu_m55_host::run_checked(
        variant,
        &w,
        Kernel::SpikeDriven,
        Duration::from_secs(3600),
    )?;
    let r = &checked.device.report;
    let inf = &r.inferences[0];
    let sops: u64 = inf.stats.iter().map(|s| s.sops).sum();
    let macs: u64 = inf.stats.iter().map(|s| s.macs).sum();
    let total = insns(inf.total_ticks);
    println!(
        "{} on QEMU mps3-an547 (Cortex-M55), firmware {} ({})",
        w.name,
        variant.name(),
        elf.display()
    );
    println!("instructions/inference  {total:.4e}");
    println!("SOPs/inference          {sops:.4e} (+{macs:.3e} MACs in the encoding layer)");
    println!("instructions/SOP        {:.3}", total / sops.max(1) as f64);
    let blob = sdt_host::AlignedBlob::from_bytes(&w.blob);
    let model = blob.model()?;
    let syn: u64 = inf
        .node_ticks
        .iter()
        .zip(model.nodes())
        .filter(|(_, nd)| synaptic(&nd.op))
        .map(|(t, _)| t)
        .sum();
    println!("  in synaptic layers    {:.4e}", insns(syn));
    let mut heavy: Vec<(u64, usize)> = inf.node_ticks.iter().copied().zip(0..).collect();
    heavy.sort_unstable_by(|a, b| b.cmp(a));
    for &(t, i) in heavy.iter().take(5) {
        println!(
            "  {:>12.4e}  {} ({} SOPs)",
            insns(t),
            model.node_name(i),
            inf.stats[i].sops
        );
    }
    println!("peak arena              {} bytes (SRAM)", r.arena_bytes);
    println!(
        "kept spike thresholds   {} bytes (SRAM, built before the timed runs)",
        r.kept_bytes
    );
    println!("blob                    {} bytes (DDR)", r.blob_bytes);
    println!(
        "blob load + validation  {:.4e} instructions",
        insns(r.load_ticks)
    );
    println!("top-1                   {}", inf.top1);
    if checked.differences.is_empty() {
        println!("device == host          bit for bit (logits and per-node statistics)");
        Ok(())
    } else {
        eprintln!("device and host differ: {:?}", checked.differences);
        std::process::exit(1)
    }
}

fn print_footprint() -> Result<()> {
    println!("firmware images (thumbv8m.main-none-eabihf, profile firmware)");
    println!(
        "{:<12} {:>10} {:>10} {:>12}",
        "variant", "code", "rodata", "static RAM"
    );
    for v in [Variant::Scalar, Variant::Helium] {
        let f = footprint::of_elf(&firmware::build(v)?)?;
        println!(
            "{:<12} {:>10} {:>10} {:>12}",
            v.name(),
            f.code,
            f.rodata,
            f.static_ram
        );
    }
    println!("\nper model (weights stay in DDR, the arena is in SRAM)");
    println!("{:<26} {:>12} {:>12}", "model", "blob bytes", "arena bytes");
    let ws = [
        models::digits_int8(1)?,
        models::digits_int16(1)?,
        models::sdt10m(64, 1)?,
        models::sdt10m(224, 1)?,
    ];
    for w in &ws {
        let blob = sdt_host::AlignedBlob::from_bytes(&w.blob);
        let model = blob.model()?;
        println!(
            "{:<26} {:>12} {:>12}",
            w.name,
            w.blob.len(),
            sdt_core::arena_bytes(&model, 1)?
        );
    }
    Ok(())
}

fn profile(elf: &std::path::Path) -> Result<()> {
    let w = models::digits_int8(1)?;
    let blob = sdt_host::AlignedBlob::from_bytes(&w.blob);
    let model = blob.model()?;
    let run = qemu::run(
        elf,
        &job::build(&w.blob, &w.inputs, 0),
        Duration::from_secs(600),
    )?;
    for inf in &run.report.inferences {
        println!("total {:.0}", insns(inf.total_ticks));
        for (i, t) in inf.node_ticks.iter().enumerate() {
            println!("{i:>4} {:<56} {:>12.0}", model.node_name(i), insns(*t));
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Cost { inputs, nodes } => cost(inputs, nodes),
        Cmd::BenchSdt10m { variant, size } => bench(variant.into(), size),
        Cmd::Footprint => print_footprint(),
        Cmd::Profile { elf } => profile(&elf),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
