//! Data-parallel scaling on this machine: training images per second of the digits model with
//! 1 process vs N Gloo ranks (`sdt-train train --nproc N`'s code path), side by side in one run.
//!
//! Every rank takes `--batch` images a step (the global batch grows with the ranks, as with
//! torchrun) and gets `cores / ranks` libtorch threads, so each row uses the whole machine.
//! Epoch 1 warms up and is not counted; the figure is the median of the later epochs (each
//! epoch: the shard's steps + a test pass over 32 images).
//!
//! ```sh
//! eval "$(bash scripts/torch-env.sh)"
//! OMP_WAIT_POLICY=PASSIVE cargo run --release -p sdt-train --example bench_dist -- --ranks 1,2
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use sdt_train::config::TrainConfig;
use sdt_train::data::{load_digits, Dataset, Split};
use sdt_train::dist::{Backend, Dist, DistConfig};
use sdt_train::launch;
use sdt_train::train::Trainer;
use sdt_train::{Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::Device;

type BoxError = Box<dyn std::error::Error>;

#[derive(Parser, Debug)]
#[command(about = "Training img/s of the digits model: 1 process vs N data-parallel ranks")]
struct Args {
    /// Rank counts to compare.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    ranks: Vec<usize>,
    /// Images per rank and step.
    #[arg(long, default_value_t = 32)]
    batch: i64,
    /// Training images per epoch (the first ones of the digits training split).
    #[arg(long, default_value_t = 512)]
    samples: i64,
    /// Epochs; the first is not counted.
    #[arg(long, default_value_t = 4)]
    epochs: u64,
    /// CPU cores to share among the ranks (default: all).
    #[arg(long)]
    cores: Option<usize>,
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors")
}

fn cores(args: &Args) -> usize {
    args.cores.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// One rank (or the lone process): trains and, on rank 0, prints the table row.
fn rank(args: &Args) -> Result<(), BoxError> {
    let url = std::env::var(launch::URL_VAR).ok();
    let dist = DistConfig::from_env(url.as_deref(), Duration::from_secs(120))?
        .filter(|c| c.world > 1)
        .map(|c| Dist::init(c, Backend::Gloo, false))
        .transpose()?;
    let world = dist.as_ref().map_or(1, Dist::world);
    let threads = (cores(args) / world).max(1);
    tch::set_num_threads(threads as i32);
    let train = load_digits(&digits(), Split::Train, 32)?;
    let (x, y) = train.batch(0, args.samples)?;
    let train = Dataset::new(x, y)?;
    let test = load_digits(&digits(), Split::Test, 32)?;
    let (x, y) = test.batch(0, 32)?;
    let test = Dataset::new(x, y)?;
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::preset("digits32")?)?;
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        warmup_epochs: 0,
        ..TrainConfig::default()
    };
    let history = Trainer {
        vs: &vs,
        model: &model,
        config: &config,
        teacher: None,
        run_dir: None,
        resume: false,
        stop_after: None,
        progress: false,
        dist: dist.as_ref(),
    }
    .run(&train, &test, &mut std::io::sink())?;
    if let Some(d) = dist {
        let main = d.is_main();
        d.shutdown()?;
        if !main {
            return Ok(());
        }
    }
    let per_epoch = (args.samples as f64 / world as f64).ceil() * world as f64;
    let mut rates: Vec<f64> = history
        .iter()
        .skip(1)
        .map(|m| per_epoch / m.seconds)
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "| {world} | {threads} | {} | {median:.0} |",
        args.batch * world as i64
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if launch::is_rank() {
        return rank(&args);
    }
    println!(
        "digits32, {} training images per epoch, {} per rank and step, {} cores, Gloo",
        args.samples,
        args.batch,
        cores(&args)
    );
    println!("| processes | threads each | global batch | img/s (median epoch) |");
    println!("|---|---|---|---|");
    for &n in &args.ranks {
        // A group of one is a plain process: `rank` skips the process group.
        launch::run_local(n.max(1), Duration::from_secs(150))?;
    }
    Ok(())
}
