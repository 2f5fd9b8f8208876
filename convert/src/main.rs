//! `sdt-convert`: pack checkpoints into blobs, inspect blobs, verify them against golden data.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sdt_convert::checkpoint;
use sdt_convert::verify::{self, blockcheck, evaluate};
use sdt_convert::{annotate, pack_checkpoint, ConvertError, MetaOptions, PackOptions};
use sdt_core::Kernel;
use sdt_host::AlignedBlob;
use sdt_host::ThreadPool;

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
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Rewrite a blob with new metadata (class names, event framing, image normalization);
    /// its graph and weights stay byte for byte. Flags not given keep the blob's own.
    Annotate {
        blob: PathBuf,
        /// Where to write (may be the input).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Describe a blob (architecture, sizes, arena, per-layer formats) or a checkpoint (format,
    /// the container keys unwrapped and name prefixes stripped, tensors).
    Inspect {
        /// A blob, or a checkpoint (.pth, legacy .pth, .safetensors).
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
    /// The fixed-point logits of every input of a `*_test.safetensors` file (JSON).
    Logits {
        blob: PathBuf,
        test: PathBuf,
        #[arg(long, value_enum, default_value_t = KernelArg::Spike)]
        kernel: KernelArg,
        #[arg(long)]
        limit: Option<usize>,
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
    if let Err(e) = sdt_host::level::apply_env() {
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
            meta,
        } => {
            let opt = PackOptions {
                weight_bits,
                input_size,
                heads,
                d,
                input_absmax,
                input_bits,
                calibration,
                spike_bias,
                meta,
            };
            let ck = checkpoint::load(&checkpoint)?;
            println!("{}: {}", checkpoint.display(), ck.origin);
            let (arch, lowered, blob) = pack_checkpoint(&ck, &opt, &mut |_| {})?;
            sdt_host::fs::write_atomic(&output, blob.bytes())?;
            let model = blob.model()?;
            let arena = sdt_core::arena_bytes(&model, 1).map_err(ConvertError::Blob)?;
            println!(
                "{}: embed {:?}, {} classes, {} nodes, {} params, {} blob bytes ({:.3} B/param), arena {} bytes",
                output.display(),
                arch.embed,
                arch.classes,
                lowered.graph.nodes.len(),
                model.graph().arch.params,
                blob.bytes().len(),
                blob.bytes().len() as f64 / model.graph().arch.params.max(1) as f64,
                arena,
            );
            Ok(())
        }
        Command::Annotate { blob, output, meta } => {
            let annotated = annotate(&AlignedBlob::read(&blob)?, &meta)?;
            sdt_host::fs::write_atomic(&output, annotated.bytes())?;
            let model = annotated.model()?;
            println!(
                "{}: {}",
                output.display(),
                serde_json::to_string(&sdt_convert::meta::to_json(model.metadata()))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Inspect { blob, layers } => {
            let blob = AlignedBlob::read(&blob)?;
            if blob.bytes().starts_with(&sdt_core::blob::MAGIC) {
                inspect(&blob, layers)
            } else {
                inspect_checkpoint(&checkpoint::load_bytes(blob.bytes())?, layers);
                Ok(())
            }
        }
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
        Command::Logits {
            blob,
            test,
            kernel,
            limit,
        } => {
            let blob = AlignedBlob::read(&blob)?;
            let model = blob.model()?;
            let test = checkpoint::load(&test)?;
            let logits = verify::logits(&model, &test, kernel.into(), limit)?;
            let frac = verify::frac_of(&model, model.graph().logits);
            println!("{}", serde_json::json!({ "frac": frac, "logits": logits }));
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

/// A checkpoint's format, what was unwrapped to reach its state dict, and its tensors.
fn inspect_checkpoint(ck: &checkpoint::Checkpoint, layers: bool) {
    let origin = &ck.origin;
    let summary = serde_json::json!({
        "format": origin.format.map(|f| f.to_string()),
        "unwrapped": origin.container,
        "stripped_prefixes": origin.stripped_prefixes,
        "summary": origin.to_string(),
        "tensors": ck.tensors.len(),
        "elements": ck.tensors.values().map(|t| t.numel()).sum::<usize>(),
        "args": ck.args.len(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    if layers {
        for (name, tensor) in &ck.tensors {
            println!("{name:<64} {:?}", tensor.shape);
        }
    }
}

fn inspect(blob: &AlignedBlob, layers: bool) -> Result<(), ConvertError> {
    let model = blob.model()?;
    let summary = sdt_convert::inspect::summary(&model, blob.bytes().len())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    if layers {
        println!(
            "{:>4} {:>3} {:<58} {:>16} {:>7} {:>10}",
            "node", "blk", "name", "out HxWxC", "format", "bytes"
        );
        for l in sdt_convert::inspect::layers(&model) {
            let shape = format!("{}x{}x{}", l.out[0], l.out[1], l.out[2]);
            println!(
                "{:>4} {:>3} {:<58} {shape:>16} {:>7} {:>10}",
                l.node, l.block, l.name, l.format, l.bytes
            );
        }
    }
    Ok(())
}
