//! `sdt-train`: evaluate (and, later, train) SDT-V3 models.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sdt_train::data::{load_any, load_digits, Split};
use sdt_train::eval::evaluate;
use sdt_train::golden::block_check;
use sdt_train::quant::WeightQuant;
use sdt_train::train::{train, TrainConfig};
use sdt_train::weights::{load_weights, save_safetensors};
use sdt_train::{Result, Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::Device;

#[derive(Parser)]
#[command(
    name = "sdt-train",
    version,
    about = "Train and evaluate SDT-V3 spiking transformers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ModelArgs {
    /// Weights: `.safetensors` with the official state-dict names, or an official `.pth`.
    #[arg(long)]
    weights: PathBuf,
    /// Architecture preset: t, s, m, l or digits32.
    #[arg(long, default_value = "digits32")]
    preset: String,
    /// Run on CUDA if available.
    #[arg(long)]
    cuda: bool,
}

impl ModelArgs {
    fn device(&self) -> Device {
        if self.cuda {
            Device::cuda_if_available()
        } else {
            Device::Cpu
        }
    }

    fn build(&self) -> Result<(VarStore, Sdt)> {
        let vs = VarStore::new(self.device());
        let model = Sdt::new(&vs.root(), SdtConfig::preset(&self.preset)?)?;
        load_weights(&vs, &self.weights)?;
        Ok((vs, model))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Accuracy of a model on a data set.
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        /// Data: the digits set (`test_images`, ...) or a golden test batch (`input`, `label`).
        #[arg(long)]
        data: PathBuf,
        /// Use the training split of the digits set instead of the test split.
        #[arg(long)]
        train_split: bool,
        #[arg(long, default_value_t = 64)]
        batch_size: i64,
        /// Fake-quantize weights per output channel to this many bits.
        #[arg(long)]
        weight_bits: Option<u8>,
    },
    /// Train a model on the digits set (SFA spikes; optionally quantization-aware).
    Train {
        /// Architecture preset: t, s, m, l or digits32.
        #[arg(long, default_value = "digits32")]
        preset: String,
        /// Digits set (`train_images`, `train_labels`, `test_images`, `test_labels`).
        #[arg(long)]
        data: PathBuf,
        /// Start from these weights instead of a fresh initialisation (e.g. QAT fine-tuning).
        #[arg(long)]
        init: Option<PathBuf>,
        /// Where to save the trained weights (`.safetensors`, official names).
        #[arg(long)]
        out: PathBuf,
        /// Append the per-epoch metrics (JSON lines) here instead of stdout.
        #[arg(long)]
        metrics: Option<PathBuf>,
        #[arg(long, default_value_t = 30)]
        epochs: u64,
        #[arg(long, default_value_t = 32)]
        batch_size: i64,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1e-5)]
        min_lr: f64,
        #[arg(long, default_value_t = 2)]
        warmup_epochs: u64,
        #[arg(long, default_value_t = 0.05)]
        weight_decay: f64,
        #[arg(long, default_value_t = 0.1)]
        label_smoothing: f64,
        /// Quantization-aware training: fake-quantize weights per output channel to N bits.
        #[arg(long)]
        weight_bits: Option<u8>,
        #[arg(long, default_value_t = 1)]
        seed: i64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Run on CUDA if available.
        #[arg(long)]
        cuda: bool,
    },
    /// Teacher-forced block-by-block comparison with a golden blocks file.
    Blockcheck {
        #[command(flatten)]
        model: ModelArgs,
        /// `*_blocks.safetensors` with `block.NN.<module>.in/.out` and `spikes.<path>`.
        #[arg(long)]
        blocks: PathBuf,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Eval {
            model,
            data,
            train_split,
            batch_size,
            weight_bits,
        } => {
            let (_vs, net) = model.build()?;
            let split = if train_split {
                Split::Train
            } else {
                Split::Test
            };
            let data = load_any(&data, split, net.config().image_size)?;
            let quant = weight_bits.map(WeightQuant::new).transpose()?;
            let report = evaluate(&net, &data, batch_size, quant, model.device())?;
            let line = serde_json::json!({
                "samples": data.len(),
                "accuracy": report.accuracy,
                "loss": report.loss,
                "weight_bits": weight_bits,
            });
            println!("{line}");
        }
        Command::Train {
            preset,
            data,
            init,
            out,
            metrics,
            epochs,
            batch_size,
            lr,
            min_lr,
            warmup_epochs,
            weight_decay,
            label_smoothing,
            weight_bits,
            seed,
            quiet,
            cuda,
        } => {
            let device = if cuda {
                Device::cuda_if_available()
            } else {
                Device::Cpu
            };
            tch::manual_seed(seed);
            let vs = VarStore::new(device);
            let net = Sdt::new(&vs.root(), SdtConfig::preset(&preset)?)?;
            if let Some(init) = &init {
                load_weights(&vs, init)?;
            }
            let size = net.config().image_size;
            let train_set = load_digits(&data, Split::Train, size)?;
            let test_set = load_digits(&data, Split::Test, size)?;
            let config = TrainConfig {
                epochs,
                batch_size,
                lr,
                min_lr,
                warmup_epochs,
                weight_decay,
                label_smoothing,
                weight_bits,
                seed,
                progress: !quiet,
            };
            let mut sink: Box<dyn std::io::Write> = match &metrics {
                Some(path) => Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| sdt_train::Error::io(path, e))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            train(&vs, &net, &train_set, &test_set, &config, &mut sink)?;
            save_safetensors(&vs, &out)?;
            eprintln!("saved {}", out.display());
        }
        Command::Blockcheck { model, blocks } => {
            let (_vs, net) = model.build()?;
            for r in block_check(&net, &blocks)? {
                let line = serde_json::json!({
                    "block": r.block,
                    "rel_l2": r.rel_l2,
                    "max_abs": r.max_abs,
                    "spike_agree": r.spike_agreement(),
                    "spike_agree_min": r.spike_agreement_min(),
                });
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdt-train: {e}");
            ExitCode::FAILURE
        }
    }
}
