//! `sdt-train`: evaluate (and, later, train) SDT-V3 models.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sdt_train::config::TrainConfig;
use sdt_train::data::{load_any, load_digits, Dataset, Source, Split};
use sdt_train::deploy;
use sdt_train::dist::{Backend, Dist, DistConfig};
use sdt_train::distill::{DistillMode, Teacher};
use sdt_train::eval::evaluate;
use sdt_train::eval::Simulate;
use sdt_train::golden::block_check;
use sdt_train::images::ImageFolder;
use sdt_train::launch;
use sdt_train::quant::WeightQuant;
use sdt_train::train::Trainer;
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

#[derive(Args)]
struct TrainArgs {
    /// Architecture preset: t, s, m, l or digits32.
    #[arg(long, default_value = "digits32")]
    preset: String,
    /// Training data: the digits set (`train_images`, `train_labels`, `test_images`,
    /// `test_labels`) or an ImageNet-layout folder with `train/` and `val/` class folders.
    #[arg(long)]
    data: PathBuf,
    /// Hyper-parameters as TOML (see `configs/`); flags below override single values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run directory: weights, training state, metrics.jsonl, curves.png, model.blob.
    #[arg(long)]
    run_dir: PathBuf,
    /// Continue the run in --run-dir from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many completed epochs (checkpointed; continue later with --resume).
    #[arg(long)]
    stop_after_epochs: Option<u64>,
    /// Start from these weights instead of a fresh initialisation (e.g. QAT fine-tuning).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Teacher for distillation: TorchScript (`.pt`, `.ts`) or our weights (`.safetensors`,
    /// `.pth`, built with --teacher-preset).
    #[arg(long)]
    teacher: Option<PathBuf>,
    #[arg(long, default_value = "digits32")]
    teacher_preset: String,
    #[arg(long)]
    epochs: Option<u64>,
    #[arg(long)]
    batch_size: Option<i64>,
    /// Absolute peak learning rate (overrides the config's `blr` scaling).
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    weight_bits: Option<u8>,
    #[arg(long)]
    seed: Option<i64>,
    /// Distillation mode, overriding the config.
    #[arg(long, value_enum)]
    distill: Option<DistillMode>,
    /// After training, pack an int8 blob (`model.blob`) and compare it with the trained model
    /// on the test set.
    #[arg(long)]
    blob: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run on CUDA if available (data-parallel: GPU `LOCAL_RANK` of the node).
    #[arg(long)]
    cuda: bool,
    /// Train data-parallel with this many processes on this machine (each a rank with
    /// --batch-size images a step). Under torchrun or srun, leave it out: the ranks are read
    /// from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.
    #[arg(long, default_value_t = 1)]
    nproc: usize,
    /// Rendezvous of a data-parallel run: env:// (torchrun's variables) or file:///path (a
    /// fresh file every rank can reach).
    #[arg(long)]
    dist_url: Option<String>,
    /// Process group: auto (NCCL with --cuda, else Gloo), gloo or nccl.
    #[arg(long, value_enum, default_value = "auto")]
    dist_backend: Backend,
    /// Seconds a collective may wait for the other ranks before the run fails.
    #[arg(long, default_value_t = 300.0)]
    dist_timeout: f64,
    /// Train on the first N samples of the digits training split only (quick checks).
    #[arg(long)]
    train_subset: Option<i64>,
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
    /// Train a model (SFA spikes; optionally quantization-aware and distilled), checkpointing
    /// every epoch into a run directory, then pack it into a blob and check it on the runtime.
    Train(TrainArgs),
    /// Pack trained weights into a blob and compare it with the trained model on a test set
    /// (libtorch with fake-quantized weights and input vs the integer runtime).
    Deploy {
        #[command(flatten)]
        model: ModelArgs,
        /// Test data (digits set or golden test batch).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        weight_bits: u8,
        /// Input range the blob quantizes to i8 (|x| ≤ absmax).
        #[arg(long, default_value_t = 1.0)]
        input_absmax: f64,
        /// Where to write the blob.
        #[arg(long)]
        out: PathBuf,
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
            let sim = Simulate {
                weight_quant: weight_bits.map(WeightQuant::new).transpose()?,
                input_absmax: None,
            };
            let report = evaluate(&net, &data, batch_size, sim, model.device())?;
            let line = serde_json::json!({
                "samples": data.len(),
                "accuracy": report.accuracy,
                "loss": report.loss,
                "weight_bits": weight_bits,
            });
            println!("{line}");
        }
        Command::Train(args) => run_training(args)?,
        Command::Deploy {
            model,
            data,
            weight_bits,
            input_absmax,
            out,
        } => {
            let (vs, net) = model.build()?;
            let test = load_any(&data, Split::Test, net.config().image_size)?;
            let blob = deploy::pack(
                &vs,
                &net,
                weight_bits,
                input_absmax,
                &Default::default(),
                Some(&out),
            )?;
            let sim = Simulate {
                weight_quant: Some(WeightQuant::new(weight_bits)?),
                input_absmax: Some(input_absmax),
            };
            let report = deploy::compare(&net, &blob, weight_bits, &test, sim, true)?;
            println!("{}", serde_json::to_string(&report)?);
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

fn run_training(args: TrainArgs) -> Result<()> {
    if !(args.dist_timeout.is_finite() && args.dist_timeout > 0.0) {
        return Err(sdt_train::Error::Config(
            "--dist-timeout must be positive".into(),
        ));
    }
    let timeout = std::time::Duration::from_secs_f64(args.dist_timeout);
    if args.nproc > 1 && !launch::is_rank() {
        // The ranks notice a lost peer within their timeout; the launcher waits a bit longer.
        return launch::run_local(args.nproc, timeout + std::time::Duration::from_secs(30));
    }
    let url = args
        .dist_url
        .clone()
        .or_else(|| std::env::var(launch::URL_VAR).ok());
    let dist = DistConfig::from_env(url.as_deref(), timeout)?
        .map(|c| Dist::init(c, args.dist_backend, args.cuda))
        .transpose()?;
    let device = match (&dist, args.cuda) {
        (_, false) => Device::Cpu,
        (Some(d), true) if tch::Cuda::is_available() => Device::Cuda(d.local_rank()),
        (_, true) => Device::cuda_if_available(),
    };
    let main = dist.as_ref().is_none_or(Dist::is_main);
    let mut config = match &args.config {
        Some(path) => TrainConfig::from_file(path)?,
        None => TrainConfig::default(),
    };
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch_size.unwrap_or(config.batch_size);
    config.lr = args.lr.or(config.lr);
    config.weight_bits = args.weight_bits.or(config.weight_bits);
    config.seed = args.seed.unwrap_or(config.seed);
    if let Some(mode) = args.distill {
        config.distill.mode = mode;
    }
    config.validate()?;

    tch::manual_seed(config.seed);
    let vs = VarStore::new(device);
    let net = Sdt::new(&vs.root(), SdtConfig::preset(&args.preset)?)?;
    if let Some(init) = &args.init {
        load_weights(&vs, init)?;
    }
    let teacher = match &args.teacher {
        None => None,
        Some(path) => {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            Some(if matches!(ext, "pt" | "ts" | "jit") {
                Teacher::torchscript(path, device)?
            } else {
                Teacher::checkpoint(path, SdtConfig::preset(&args.teacher_preset)?, device)?
            })
        }
    };
    let size = net.config().image_size;
    let (train_set, test_set): (Box<dyn Source>, _) = if args.data.is_dir() {
        if args.train_subset.is_some() {
            return Err(sdt_train::Error::Config(
                "--train-subset applies to the digits set only".into(),
            ));
        }
        let train = ImageFolder::open(&args.data.join("train"), size, true)?;
        let test = ImageFolder::open(&args.data.join("val"), size, false)?.load_all()?;
        (Box::new(train), test)
    } else {
        let mut train = load_digits(&args.data, Split::Train, size)?;
        if let Some(n) = args.train_subset {
            let (x, y) = train.batch(0, n)?;
            train = Dataset::new(x, y)?;
        }
        (Box::new(train), load_digits(&args.data, Split::Test, size)?)
    };
    let trainer = Trainer {
        vs: &vs,
        model: &net,
        config: &config,
        teacher: teacher.as_ref(),
        run_dir: Some(&args.run_dir),
        resume: args.resume,
        stop_after: args.stop_after_epochs,
        progress: !args.quiet,
        dist: dist.as_ref(),
    };
    let started = std::time::Instant::now();
    let history = trainer.run(train_set.as_ref(), &test_set, &mut std::io::stdout())?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(d) = dist {
        d.shutdown()?;
    }
    if !main {
        return Ok(());
    }
    if let Some(last) = history.last() {
        eprintln!(
            "trained {} epochs in {seconds:.1} s: test accuracy {:.2} %; run in {}",
            last.epoch,
            100.0 * last.test_acc,
            args.run_dir.display()
        );
    }
    if args.blob {
        let bits = match config.weight_bits {
            Some(16) => 16,
            _ => 8,
        };
        let absmax = config.input_absmax.unwrap_or(1.0);
        let path = args.run_dir.join("model.blob");
        let blob = deploy::pack(&vs, &net, bits, absmax, &Default::default(), Some(&path))?;
        let report = deploy::compare(
            &net,
            &blob,
            bits,
            &test_set,
            Simulate::from_config(&config)?,
            !args.quiet,
        )?;
        let json = serde_json::to_string_pretty(&report)?;
        sdt_train::checkpoint::write_atomic(&args.run_dir.join("deploy.json"), json.as_bytes())?;
        println!("{}", serde_json::to_string(&report)?);
        eprintln!("wrote {}", path.display());
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
