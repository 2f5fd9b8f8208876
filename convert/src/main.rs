//! `sdt-convert`: pack checkpoints into blobs, inspect blobs, verify them against golden data.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sdt_convert::checkpoint;
use sdt_convert::exec::ThreadPool;
use sdt_convert::verify::{blockcheck, evaluate};
use sdt_convert::{blobfile, convert, AlignedBlob, ArchOptions, ConvertError, LowerOptions};
use sdt_core::graph::{Op, TensorKind, WeightBits};
use sdt_core::model::{node_io, tensor_bytes};
use sdt_core::plan::Plan;
use sdt_core::Kernel;

#[derive(Parser)]
#[command(
    name = "sdt-convert",
    version,
    about = "Convert and verify SDT-V3 model blobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum KernelArg {
    Spike,
    Dense,
}

impl From<KernelArg> for Kernel {
    fn from(k: KernelArg) -> Self {
        match k {
            KernelArg::Spike => Kernel::SpikeDriven,
            KernelArg::Dense => Kernel::Dense,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Convert a checkpoint (.pth or .safetensors) into a blob.
    Pack {
        checkpoint: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Weight width: 8 (deployment), 4 (packed two per byte, half the blob) or 16
        /// (conformance checks).
        #[arg(long, default_value_t = 8, value_parser = parse_bits)]
        weight_bits: u8,
        /// Input height and width (not visible in the weights).
        #[arg(long, default_value_t = 224)]
        input_size: usize,
        #[arg(long, default_value_t = 8)]
        heads: usize,
        /// Largest spike count D of the MultiSpike neurons.
        #[arg(long, default_value_t = 4)]
        d: u8,
        /// Largest |value| of the (normalized) input; sets the int8 input step.
        #[arg(long, default_value_t = 3.0)]
        input_absmax: f32,
        /// Input width: 8 (`i8`) or 16 (`i16`, finer steps for sensitive models).
        #[arg(long, default_value_t = 8, value_parser = parse_bits)]
        input_bits: u8,
        /// Take --input-absmax from the `input` tensor of a calibration .safetensors file.
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Shift every pre-spike value by this many spike units (benchmarking firing rates).
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        spike_bias: f64,
    },
    /// Describe a blob: architecture, sizes, arena, per-layer formats.
    Inspect {
        blob: PathBuf,
        /// Also print every node.
        #[arg(long)]
        layers: bool,
    },
    /// Block-by-block comparison with a `*_blocks.safetensors` file (JSON).
    Blockcheck {
        blob: PathBuf,
        blocks: PathBuf,
        #[arg(long, value_enum, default_value_t = KernelArg::Spike)]
        kernel: KernelArg,
    },
    /// Accuracy and agreement on a `*_test.safetensors` file (JSON).
    Eval {
        blob: PathBuf,
        test: PathBuf,
        #[arg(long, value_enum, default_value_t = KernelArg::Spike)]
        kernel: KernelArg,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn parse_bits(s: &str) -> Result<u8, String> {
    match s {
        "4" => Ok(4),
        "8" => Ok(8),
        "16" => Ok(16),
        _ => Err(format!("weight bits must be 4, 8 or 16, not {s}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kernel level forced by SDT_KERNEL_LEVEL, if set (the same integers at every level).
    if let Err(e) = sdt_convert::level::apply_env() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pool(threads: usize) -> Result<ThreadPool, ConvertError> {
    ThreadPool::new(threads).map_err(|e| ConvertError::Invalid(format!("thread pool: {e}")))
}

fn run(cli: Cli) -> Result<(), ConvertError> {
    match cli.command {
        Command::Pack {
            checkpoint,
            output,
            weight_bits,
            input_bits,
            input_size,
            heads,
            d,
            input_absmax,
            calibration,
            spike_bias,
        } => {
            let ck = checkpoint::load(&checkpoint)?;
            let input_absmax = match calibration {
                Some(path) => {
                    let cal = checkpoint::load(&path)?;
                    cal.get("input")?
                        .data
                        .iter()
                        .fold(0f32, |m, &x| m.max(x.abs()))
                }
                None => input_absmax,
            };
            let bits = match weight_bits {
                16 => WeightBits::I16,
                4 => WeightBits::I4,
                _ => WeightBits::I8,
            };
            let arch = ArchOptions {
                heads,
                d,
                input_h: input_size,
                input_w: input_size,
            };
            let opt = LowerOptions {
                weight_bits: bits,
                input_absmax,
                wide_input: input_bits == 16,
                spike_bias,
            };
            let (arch, lowered, blob) = convert(&ck, arch, opt)?;
            blobfile::write_atomic(&output, blob.bytes())?;
            let model = blob.model()?;
            let plan = Plan::new(model.graph(), 1).map_err(ConvertError::Blob)?;
            println!(
                "{}: embed {:?}, {} classes, {} nodes, {} params, {} blob bytes ({:.3} B/param), arena {} bytes",
                output.display(),
                arch.embed,
                arch.classes,
                lowered.graph.nodes.len(),
                model.graph().arch.params,
                blob.bytes().len(),
                blob.bytes().len() as f64 / model.graph().arch.params.max(1) as f64,
                plan.bytes,
            );
            Ok(())
        }
        Command::Inspect { blob, layers } => inspect(&AlignedBlob::read(&blob)?, layers),
        Command::Blockcheck {
            blob,
            blocks,
            kernel,
        } => {
            let blob = AlignedBlob::read(&blob)?;
            let model = blob.model()?;
            let golden = checkpoint::load(&blocks)?;
            let reports = blockcheck(&model, &golden, kernel.into(), &pool(1)?, true)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&reports).unwrap_or_default()
            );
            Ok(())
        }
        Command::Eval {
            blob,
            test,
            kernel,
            threads,
            limit,
        } => {
            let blob = AlignedBlob::read(&blob)?;
            let model = blob.model()?;
            let test = checkpoint::load(&test)?;
            let report = evaluate(&model, &test, kernel.into(), &pool(threads)?, limit, true)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            Ok(())
        }
    }
}

fn inspect(blob: &AlignedBlob, layers: bool) -> Result<(), ConvertError> {
    let model = blob.model()?;
    let g = model.graph();
    let plan = Plan::new(g, 1).map_err(ConvertError::Blob)?;
    let input = model.tensor(g.input);
    let mut weights = 0usize;
    for node in model.nodes() {
        if let Op::Conv { geom, .. } | Op::Encode { geom, .. } = node.op {
            weights += geom.weight_count();
        }
    }
    let summary = serde_json::json!({
        "embed": g.arch.embed,
        "blocks3": g.arch.blocks3,
        "blocks4": g.arch.blocks4,
        "input": [input.h, input.w, input.c],
        "input_scale": g.input_spec.scale,
        "classes": model.classes(),
        "d": g.d,
        "params": g.arch.params,
        "stored_weights": weights,
        "nodes": g.nodes.len(),
        "tensors": g.tensors.len(),
        "blob_bytes": blob.bytes().len(),
        "bytes_per_param": blob.bytes().len() as f64 / g.arch.params.max(1) as f64,
        "arena_bytes": plan.bytes,
        "arena_lower_bound": plan.lower_bound,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    if layers {
        println!(
            "{:>4} {:>3} {:<58} {:>16} {:>7} {:>10}",
            "node", "blk", "name", "out HxWxC", "format", "bytes"
        );
        for (i, node) in model.nodes().iter().enumerate() {
            let out = model.tensor(node_io(&node.op).1);
            let format = match (node.op, out.kind) {
                (Op::Conv { bits, .. } | Op::Encode { bits, .. }, TensorKind::Fixed { frac }) => {
                    format!("w{} Q{frac}", bits.bits())
                }
                (
                    Op::Conv {
                        bits,
                        mode: sdt_core::graph::ConvOutput::Spikes { frac },
                        ..
                    },
                    _,
                ) => format!("w{} s{frac}", bits.bits()),
                (Op::Attention { frac, .. }, _) => format!("attn s{frac}"),
                (_, TensorKind::Spikes) => "spikes".into(),
                _ => "-".into(),
            };
            let shape = format!("{}x{}x{}", out.h, out.w, out.c);
            println!(
                "{i:>4} {:>3} {:<58} {shape:>16} {format:>7} {:>10}",
                node.block,
                model.node_name(i),
                tensor_bytes(out)
            );
        }
    }
    Ok(())
}
