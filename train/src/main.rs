//! `sdt-train`: evaluate (and, later, train) SDT-V3 models.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sdt_train::data::{load_any, Split};
use sdt_train::eval::evaluate;
use sdt_train::golden::block_check;
use sdt_train::quant::WeightQuant;
use sdt_train::weights::load_weights;
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
