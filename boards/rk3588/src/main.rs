//! `sdt-rk3588`: runs a model blob with its matrix products on the RK3588 NPU (or the host
//! stand-in of the NPU path) and prints results and per-layer timing; `plan` prints which
//! layers go to the NPU.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use sdt_convert::checkpoint;
use sdt_convert::verify::{quantize_input, QuantizedInput};
use sdt_core::{arena_bytes, Cpu, Engine, Kernel, Model, Sequential, Session, Stats};
use sdt_host::AlignedBlob;
use sdt_rk3588::plan::{plan, LayerPlan, Placement};
use sdt_rk3588::{HostStandIn, Limits, RkEngine};

#[derive(Parser)]
#[command(
    version,
    about = "SDT-V3 on RK3588-class NPUs: same blob, same integers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Model blob (`sdt-convert pack`).
    blob: PathBuf,
    /// safetensors file with an `input` tensor [N, C, H, W] f32 (normalized); default: a
    /// fixed pseudo-random input.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Which image of `--input`.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Largest M of one device tile.
    #[arg(long, default_value_t = Limits::default().max_m)]
    max_m: usize,
    /// Largest K of one device tile (multiple of 32, at most 8192).
    #[arg(long, default_value_t = Limits::default().max_k)]
    max_k: usize,
    /// Largest N of one device tile (multiple of 32, at most 4096).
    #[arg(long, default_value_t = Limits::default().max_n)]
    max_n: usize,
}

impl Common {
    fn limits(&self) -> Limits {
        Limits {
            max_m: self.max_m,
            max_k: self.max_k,
            max_n: self.max_n,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Which layers go to the NPU: M/K/N, padded sizes, tiles, fraction of SOPs offloaded.
    Plan(Common),
    /// Runs the blob on one input: results, equality with the CPU engine, per-layer timing.
    Run {
        #[command(flatten)]
        common: Common,
        /// Engine for the matrix products.
        #[arg(long, value_enum, default_value_t = EngineKind::default())]
        engine: EngineKind,
        /// Timed runs.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineKind {
    /// The NPU (feature `npu`; needs the RKNN runtime `librknnrt.so` of the board).
    Npu,
    /// The NPU path with the device call replaced by a CPU computation on the same buffers.
    StandIn,
    /// The CPU kernels only.
    Cpu,
}

impl Default for EngineKind {
    fn default() -> Self {
        if cfg!(all(feature = "npu", target_arch = "aarch64")) {
            EngineKind::Npu
        } else {
            EngineKind::StandIn
        }
    }
}

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Res<()> {
    match cli.command {
        Command::Plan(c) => {
            let blob = AlignedBlob::read(&c.blob).map_err(|e| e.to_string())?;
            let model = blob.model().map_err(|e| e.to_string())?;
            let x = load_input(&model, c.input.as_deref(), c.index)?;
            print_plan(&model, &c.limits(), &x)
        }
        Command::Run {
            common: c,
            engine,
            repeat,
        } => {
            let blob = AlignedBlob::read(&c.blob).map_err(|e| e.to_string())?;
            let model = blob.model().map_err(|e| e.to_string())?;
            let x = load_input(&model, c.input.as_deref(), c.index)?;
            let limits = c.limits();
            let layers = plan(&model, &limits).map_err(|e| e.to_string())?;
            let started = Instant::now();
            let engine: Box<dyn Engine> = match engine {
                EngineKind::Cpu => Box::new(Cpu),
                EngineKind::StandIn => Box::new(
                    RkEngine::new(&model, HostStandIn, &limits).map_err(|e| e.to_string())?,
                ),
                EngineKind::Npu => npu_engine(&model, &limits)?,
            };
            println!("engine ready in {:.1} ms", ms(started.elapsed()));
            run_model(&model, &layers, engine.as_ref(), &x, repeat.max(1))
        }
    }
}

#[cfg(feature = "npu")]
fn npu_engine(model: &Model<'_>, limits: &Limits) -> Res<Box<dyn Engine>> {
    let engine = RkEngine::new(model, sdt_rk3588::npu::Npu, limits).map_err(|e| e.to_string())?;
    Ok(Box::new(engine))
}

#[cfg(not(feature = "npu"))]
fn npu_engine(_: &Model<'_>, _: &Limits) -> Res<Box<dyn Engine>> {
    Err(
        "this binary was built without the NPU: build with `--features npu` (see \
         boards/README.md), or use --engine stand-in"
            .into(),
    )
}

/// The image `index` of a safetensors `input` tensor, or a fixed pseudo-random input.
fn load_input(model: &Model<'_>, path: Option<&Path>, index: usize) -> Res<QuantizedInput> {
    let n = model.input_len();
    let Some(path) = path else {
        let max = model.graph().input_spec.max_abs as i64;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (2 * max as u64 + 1)) as i64 - max
        };
        return Ok(if model.wide_input() {
            QuantizedInput::I16((0..n).map(|_| next() as i16).collect())
        } else {
            QuantizedInput::I8((0..n).map(|_| next() as i8).collect())
        });
    };
    let file = checkpoint::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = file.get("input").map_err(|e| e.to_string())?;
    let image = t.data.get(index * n..(index + 1) * n).ok_or(format!(
        "{} has no image {index} of {n} values",
        path.display()
    ))?;
    quantize_input(model, image).map_err(|e| e.to_string())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_plan(model: &Model<'_>, limits: &Limits, x: &QuantizedInput) -> Res<()> {
    let layers = plan(model, limits).map_err(|e| e.to_string())?;
    // SOPs per node at this input's firing, from one CPU run with statistics.
    let mut arena = vec![0u8; arena_bytes(model, 1).map_err(|e| e.to_string())?];
    let mut session = Session::new(model, &mut arena, 1).map_err(|e| e.to_string())?;
    session.set_input(x.as_input()).map_err(|e| e.to_string())?;
    let mut stats = Stats::default();
    session
        .run(Kernel::SpikeDriven, &Sequential, Some(&mut stats))
        .map_err(|e| e.to_string())?;
    println!(
        "{:>3}  {:<44} {:<28} {:<5} {:>30} {:>36} {:>5} {:>12}",
        "#", "layer", "op", "where", "M×K×N", "padded M×K×N (tiles)", "prods", "SOPs"
    );
    let (mut sops_all, mut sops_npu, mut macs_dev, mut products, mut tiles) =
        (0u64, 0u64, 0u64, 0, 0);
    for l in &layers {
        let sops = stats.nodes[l.node].sops;
        sops_all += sops;
        let (shape, padded) = shapes(l);
        let place = match l.placement {
            Placement::Npu => {
                sops_npu += sops;
                products += l.products.len();
                tiles += l.products.iter().map(|p| p.tiles.len()).sum::<usize>();
                macs_dev += l.products.iter().map(|p| p.device_macs()).sum::<u64>();
                "NPU"
            }
            Placement::Cpu(_) => "CPU",
        };
        let name: String = l.name.chars().take(44).collect();
        println!(
            "{:>3}  {:<44} {:<28} {:<5} {:>30} {:>36} {:>5} {:>12}",
            l.node,
            name,
            l.op,
            place,
            shape,
            padded,
            l.products.len(),
            sops
        );
        if let Placement::Cpu(why) = l.placement {
            if sops > 0 {
                println!("{:>5}{:<44} CPU: {why}", "", "");
            }
        }
    }
    let npu_layers = layers.iter().filter(|l| l.placement == Placement::Npu);
    println!();
    println!(
        "NPU: {} layers, {products} products, {tiles} tiles, {:.3e} device MACs (padding included)",
        npu_layers.count(),
        macs_dev as f64
    );
    println!(
        "SOPs offloaded: {sops_npu} of {sops_all} ({:.1} %) at this input's firing",
        100.0 * sops_npu as f64 / sops_all.max(1) as f64
    );
    Ok(())
}

/// `M×K×N` and padded `M×K×N (tiles)` of a layer's distinct products (attention: the two
/// products of one head, `×heads`).
fn shapes(l: &LayerPlan) -> (String, String) {
    if l.products.is_empty() {
        return ("-".into(), "-".into());
    }
    let distinct = l.products.len().min(2);
    let (mut shape, mut padded) = (Vec::new(), Vec::new());
    for p in &l.products[..distinct] {
        let (kp, np) = (p.k.next_multiple_of(32), p.device_n().next_multiple_of(32));
        shape.push(format!("{}×{}×{}", p.m, p.k, p.n));
        padded.push(format!("{}×{}×{} ({})", p.m, kp, np, p.tiles.len()));
    }
    let times = if l.products.len() > 1 {
        format!(" ×{}", l.products.len() / 2)
    } else {
        String::new()
    };
    (shape.join(" + ") + &times, padded.join(" + ") + &times)
}

fn run_model(
    model: &Model<'_>,
    layers: &[LayerPlan],
    engine: &dyn Engine,
    x: &QuantizedInput,
    repeat: u32,
) -> Res<()> {
    let err = |e: sdt_core::Error| e.to_string();
    let mut arena = vec![0u8; arena_bytes(model, 1).map_err(err)?];
    let mut session = Session::new(model, &mut arena, 1).map_err(err)?;
    session.set_input(x.as_input()).map_err(err)?;
    let t0 = Instant::now();
    session
        .run(Kernel::SpikeDriven, &Sequential, None)
        .map_err(err)?;
    let cpu_ms = ms(t0.elapsed());
    let reference = session.logits().to_vec();
    let nodes = model.nodes().len();
    let mut per_node = vec![Duration::ZERO; nodes];
    for _ in 0..repeat {
        for (i, t) in per_node.iter_mut().enumerate() {
            let t0 = Instant::now();
            session
                .run_nodes_with_engine(i..i + 1, engine, Kernel::SpikeDriven, &Sequential, None)
                .map_err(err)?;
            *t += t0.elapsed();
        }
    }
    let logits = session.logits();
    let same = logits == reference.as_slice();
    let total: Duration = per_node.iter().sum::<Duration>() / repeat;
    println!("CPU engine (spike-driven, 1 thread): {cpu_ms:.1} ms");
    println!("this engine: {:.1} ms/image (mean of {repeat})", ms(total));
    println!("logits identical to the CPU engine: {same}");
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(logits[i]));
    for &i in order.iter().take(5) {
        let label = model.class_name(i).unwrap_or("");
        println!("  class {i:>4} {label:<20} logit {}", logits[i]);
    }
    println!("\nper layer (ms/image):");
    for l in layers {
        let t = ms(per_node[l.node] / repeat);
        let place = if l.placement == Placement::Npu {
            "NPU"
        } else {
            "CPU"
        };
        let name: String = l.name.chars().take(52).collect();
        println!("{:>3}  {place}  {t:>8.3}  {name:<52} {}", l.node, l.op);
    }
    if same {
        Ok(())
    } else {
        Err("logits differ from the CPU engine".into())
    }
}
