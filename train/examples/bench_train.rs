//! Training throughput of SDT-V3 side by side in one run: this crate's trainer (model + AdamW on
//! libtorch through tch) against the same model in PyTorch eager (`bench/sdt_torch.py`, same
//! parameter names, started from the same weights). Each side runs in its own process with the
//! same thread count, so peak memory is per side.
//!
//! One step = forward in training mode + label-smoothed cross-entropy + backward + AdamW update,
//! on a fixed random batch. Warm-up steps are not timed.
//!
//! ```sh
//! eval "$(bash scripts/torch-env.sh)"
//! cargo run --release -p sdt-train --example bench_train              # SDT-10M, 224², CPU
//! cargo run --release -p sdt-train --example bench_train -- --device cuda --batch 64 --amp bf16
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sdt_train::augment::{smooth_one_hot, soft_cross_entropy};
use sdt_train::optim::{AdamW, AdamWConfig};
use sdt_train::{weights, Ctx, Sdt, SdtConfig};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

type BoxError = Box<dyn std::error::Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Amp {
    None,
    Bf16,
    Fp16,
}

impl Amp {
    fn name(self) -> &'static str {
        match self {
            Amp::None => "none",
            Amp::Bf16 => "bf16",
            Amp::Fp16 => "fp16",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Training throughput: sdt-train (tch) vs the same model in PyTorch eager")]
struct Args {
    /// Model preset: t, s, m (SDT-10M), l, digits32.
    #[arg(long, default_value = "m")]
    preset: String,
    /// Input side in pixels.
    #[arg(long, default_value_t = 224)]
    size: i64,
    #[arg(long, default_value_t = 8)]
    batch: i64,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 2)]
    iters: usize,
    /// CPU thread counts to compare, e.g. `1,2`.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// `cpu` or `cuda`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Mixed precision (CUDA only).
    #[arg(long, value_enum, default_value_t = Amp::None)]
    amp: Amp,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Python interpreter with torch (default: `SDT_PYTHON`, else `python3`).
    #[arg(long)]
    python: Option<String>,
    /// The PyTorch side's script (default: this crate's `bench/sdt_torch.py` at build time).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Repeat both sides this many times per thread count (alternating which goes first).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Only our side.
    #[arg(long)]
    no_python: bool,
    /// Internal: run our side once with these starting weights and print one JSON line.
    #[arg(long, hide = true)]
    worker: Option<PathBuf>,
}

/// What each side prints (`sdt_torch.py bench` writes the same keys).
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    #[serde(rename = "impl")]
    implementation: String,
    threads: usize,
    iter_s: Vec<f64>,
    images_per_s: f64,
    peak_rss_mib: f64,
    loss: f64,
    #[serde(default)]
    logits_dtype: Option<String>,
    #[serde(default)]
    peak_gpu_mib: Option<f64>,
    #[serde(default)]
    peak_gpu_reserved_mib: Option<f64>,
}

fn config(args: &Args) -> Result<SdtConfig, BoxError> {
    let mut config = SdtConfig::preset(&args.preset)?;
    config.image_size = args.size;
    Ok(config)
}

fn device(args: &Args) -> Result<Device, BoxError> {
    match args.device.as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => Err(
            "libtorch sees no CUDA device: no GPU or driver here, or libtorch_cuda.so is not \
             loaded (the linker drops it as unneeded; run with \
             LD_PRELOAD=<torch>/lib/libtorch_cuda.so, which this command does for its workers \
             when it finds the library on LD_LIBRARY_PATH)"
                .into(),
        ),
        other => Err(format!("unknown device `{other}` (cpu or cuda)").into()),
    }
}

fn peak_rss_mib() -> Result<f64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// Our side: one process, one thread count (`args.threads[0]`), prints one JSON line.
fn run_worker(args: &Args, weights_path: &Path) -> Result<(), BoxError> {
    let threads = *args.threads.first().ok_or("no thread count")?;
    tch::set_num_threads(i32::try_from(threads)?);
    tch::manual_seed(1);
    let device = device(args)?;
    let config = config(args)?;
    let vs = VarStore::new(device);
    let model = Sdt::new(&vs.root(), config.clone())?;
    weights::load_safetensors(&vs, weights_path)?;
    let x = Tensor::f_randn(
        [args.batch, config.in_channels, args.size, args.size],
        (Kind::Float, device),
    )?;
    let y = Tensor::f_randint(config.num_classes, [args.batch], (Kind::Int64, device))?;
    let targets = smooth_one_hot(&y, config.num_classes, 0.1)?;
    let mut opt = AdamW::new(&vs, AdamWConfig::default())?;
    let amp = args.amp != Amp::None;
    match args.amp {
        Amp::None => {}
        Amp::Bf16 => sdt_train::amp::Amp::Bf16.apply()?,
        Amp::Fp16 => sdt_train::amp::Amp::Fp16.apply()?,
    }
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut logits_kind = Kind::Float;
    let mut step = || -> Result<f64, BoxError> {
        let logits = tch::autocast(amp, || model.forward(&x, &mut Ctx::train()))?;
        logits_kind = logits.kind();
        let loss = soft_cross_entropy(&logits.f_to_kind(Kind::Float)?, &targets)?;
        opt.zero_grad()?;
        loss.f_backward()?;
        opt.step(args.lr)?;
        Ok(loss.f_double_value(&[])?)
    };
    for _ in 0..args.warmup {
        step()?;
    }
    sync();
    let mut times = Vec::with_capacity(args.iters);
    let mut loss = f64::NAN;
    for _ in 0..args.iters {
        let start = Instant::now();
        loss = step()?;
        sync();
        times.push(start.elapsed().as_secs_f64());
    }
    let total: f64 = times.iter().sum();
    let result = Measured {
        implementation: "sdt-train".into(),
        threads,
        images_per_s: args.batch as f64 * times.len() as f64 / total,
        iter_s: times,
        peak_rss_mib: peak_rss_mib()?,
        loss,
        logits_dtype: Some(format!("{logits_kind:?}")),
        peak_gpu_mib: None,
        peak_gpu_reserved_mib: None,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// `libtorch_cuda.so` on `LD_LIBRARY_PATH`, to preload into our worker on CUDA.
fn torch_cuda_lib() -> Option<PathBuf> {
    std::env::var_os("LD_LIBRARY_PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("libtorch_cuda.so"))
            .find(|p| p.is_file())
    })
}

/// Memory the GPU driver reports, in MiB: per process when it lists `pid`, else the whole
/// device's use.
fn nvidia_smi_mib(pid: u32) -> Option<(f64, bool)> {
    let query = |q: &str| {
        Command::new("nvidia-smi")
            .args([q, "--format=csv,noheader,nounits"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let per_process = query("--query-compute-apps=pid,used_memory").and_then(|text| {
        text.lines().find_map(|line| {
            let (p, mib) = line.split_once(',')?;
            (p.trim().parse::<u32>().ok()? == pid).then(|| mib.trim().parse::<f64>().ok())?
        })
    });
    match per_process {
        Some(mib) => Some((mib, true)),
        None => query("--query-gpu=memory.used")
            .and_then(|t| t.lines().next()?.trim().parse::<f64>().ok())
            .map(|mib| (mib, false)),
    }
}

/// Peak GPU memory of one child process as nvidia-smi sees it (driver view: CUDA context and
/// the caching allocator's reserve included).
struct GpuPoll {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Option<(f64, bool)>>,
}

impl GpuPoll {
    fn start(pid: u32) -> Self {
        let baseline = nvidia_smi_mib(u32::MAX).map_or(0.0, |(m, _)| m);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak: Option<(f64, bool)> = None;
            while !flag.load(Ordering::Relaxed) {
                if let Some((mib, own)) = nvidia_smi_mib(pid) {
                    let mib = if own { mib } else { mib - baseline };
                    if peak.is_none_or(|(p, _)| mib > p) {
                        peak = Some((mib, own));
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        });
        Self { stop, handle }
    }

    fn finish(self) -> Option<(f64, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

/// Runs one side as a child process and parses its JSON line.
fn run_side(
    mut cmd: Command,
    what: &str,
    gpu: bool,
) -> Result<(Measured, Option<(f64, bool)>), BoxError> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let poll = gpu.then(|| GpuPoll::start(child.id()));
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let status = child.wait()?;
    let gpu_peak = poll.and_then(GpuPoll::finish);
    if !status.success() {
        return Err(format!("{what} failed ({status}); its messages are above").into());
    }
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{what} printed no result line: {out}"))?;
    Ok((serde_json::from_str(line)?, gpu_peak))
}

fn print_row(m: &Measured, label: &str, gpu: Option<(f64, bool)>, cuda: bool) {
    let each: Vec<String> = m.iter_s.iter().map(|s| format!("{s:.2}")).collect();
    let mut row = format!(
        "{:>7}  {label:<30} {:>9.2} {:>22} {:>11.0}",
        m.threads,
        m.images_per_s,
        each.join(" "),
        m.peak_rss_mib
    );
    if cuda {
        let smi = gpu.map_or("-".into(), |(mib, own)| {
            format!("{mib:.0}{}", if own { "" } else { " (device)" })
        });
        let alloc = m.peak_gpu_mib.map_or("-".into(), |a| format!("{a:.0}"));
        row.push_str(&format!(
            " {smi:>16} {alloc:>14} {:>9}",
            m.logits_dtype.as_deref().unwrap_or("-")
        ));
    }
    println!("{row}");
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if let Some(weights_path) = &args.worker {
        return run_worker(&args, weights_path);
    }
    let cuda = args.device == "cuda";
    if args.amp != Amp::None && !cuda {
        return Err("--amp needs --device cuda (autocast here is CUDA autocast)".into());
    }
    let config = config(&args)?;
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var("SDT_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    let script = args
        .script
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/sdt_torch.py"));

    // Both sides start from the same weights, written once here.
    let dir = std::env::temp_dir().join(format!("sdt-bench-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let weights_path = dir.join("start.safetensors");
    let params = {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let _model = Sdt::new(&vs.root(), config.clone())?;
        weights::save_safetensors(&vs, &weights_path)?;
        vs.trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>()
    };

    println!(
        "SDT-V3 preset `{}` ({:.2} M parameters), {}×{}×{}, batch {}, device {}, amp {}",
        args.preset,
        params as f64 / 1e6,
        config.in_channels,
        args.size,
        args.size,
        args.batch,
        args.device,
        args.amp.name()
    );
    println!(
        "step = forward (train mode) + label-smoothed CE + backward + AdamW (wd 0.05, lr {}); \
         {} warm-up + {} timed steps per side, {} round(s); each side in its own process",
        args.lr, args.warmup, args.iters, args.rounds
    );
    let cuda_lib = if cuda { torch_cuda_lib() } else { None };
    if args.rounds == 0 || args.iters == 0 {
        return Err("--rounds and --iters must be at least 1".into());
    }
    let mut header = format!(
        "{:>7}  {:<30} {:>9} {:>22} {:>11}",
        "threads", "implementation", "images/s", "s per timed step", "peak RSS MiB"
    );
    if cuda {
        header.push_str(&format!(
            " {:>16} {:>14} {:>9}",
            "GPU MiB (smi)", "GPU MiB alloc", "logits"
        ));
    }
    println!("{header}");

    let exe = std::env::current_exe()?;
    let side_args = |threads: usize| {
        vec![
            "--preset".to_owned(),
            args.preset.clone(),
            "--device".to_owned(),
            args.device.clone(),
            "--amp".to_owned(),
            args.amp.name().to_owned(),
            format!("--size={}", args.size),
            format!("--batch={}", args.batch),
            format!("--warmup={}", args.warmup),
            format!("--iters={}", args.iters),
            format!("--threads={threads}"),
            format!("--lr={}", args.lr),
        ]
    };
    let mut summary = Vec::new();
    for &threads in &args.threads {
        let (mut best_ours, mut best_torch) = (0.0f64, 0.0f64);
        for round in 0..args.rounds {
            // Alternate which side goes first, so drifting load on a shared machine does not
            // favour one side.
            let order: &[bool] = match (args.no_python, round % 2) {
                (true, _) => &[true],
                (false, 0) => &[true, false],
                (false, _) => &[false, true],
            };
            for &ours in order {
                if ours {
                    let mut cmd = Command::new(&exe);
                    cmd.arg("--worker")
                        .arg(&weights_path)
                        .args(side_args(threads));
                    if let Some(lib) = &cuda_lib {
                        cmd.env("LD_PRELOAD", lib);
                    }
                    let (m, gpu) = run_side(cmd, "our worker", cuda)?;
                    print_row(&m, "sdt-train (tch, Rust)", gpu, cuda);
                    best_ours = best_ours.max(m.images_per_s);
                } else {
                    let mut cmd = Command::new(&python);
                    cmd.arg(&script)
                        .arg("bench")
                        .arg("--weights")
                        .arg(&weights_path)
                        .args(side_args(threads));
                    let what = format!("`{python} {}` (needs torch)", script.display());
                    let (m, gpu) = run_side(cmd, &what, cuda)?;
                    print_row(&m, "PyTorch eager (Python)", gpu, cuda);
                    best_torch = best_torch.max(m.images_per_s);
                }
            }
        }
        summary.push((threads, best_ours, best_torch));
    }
    let best = if args.rounds > 1 {
        "best of rounds, "
    } else {
        ""
    };
    for (threads, ours, torch) in summary {
        if args.no_python {
            println!("{threads} thread(s): sdt-train {ours:.3} images/s");
        } else {
            println!(
                "{threads} thread(s), {best}images/s: sdt-train {ours:.3}, PyTorch eager \
                 {torch:.3}, ratio {:.3}",
                ours / torch
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
