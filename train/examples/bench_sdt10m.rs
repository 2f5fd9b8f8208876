//! SDT-10M at 224×224, batch 1, side by side in one run: the integer core (spike-driven and
//! dense), the float model in libtorch eager (this crate's model, PyTorch's own kernels), and
//! the dense peer a deploying engineer would pick, ONNX Runtime in fp32 and static int8
//! (`bench/ort_peer.py`), at 1 and 2 threads; then an SDT-19M-class network (the `l` widths,
//! random weights) on the core and on ONNX Runtime, on the core both as drawn and with its
//! pre-spike values shifted until it fires as often as SDT-10M's golden model.
//!
//! ```sh
//! eval "$(bash scripts/ort-env.sh)"
//! SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-train --example bench_sdt10m
//! ```
//!
//! Options: `--no-ort` (only the core and libtorch rows; the ONNX Runtime rows otherwise fail
//! with how to install it when missing), `--no-l` (skip the `l` network), `--profile` (ONNX
//! Runtime's per-op times summed per layer type, next to the core's slowest nodes).

use std::path::Path;
use std::time::Instant;

use sdt_convert::verify::{quantize_input, Firing};
use sdt_core::{arena_bytes, Kernel, Session};
use sdt_examples::sdt10m::{
    bias_for_rate, core_table, machine, print_dense_row, print_header, print_row, print_speedup,
    reps, CoreTimes, Sdt10m,
};
use sdt_examples::{spike_stats, time_per_image};
use sdt_host::ThreadPool;
use sdt_train::{deploy, ort_peer, weights, Ctx, Sdt, SdtConfig};
use serde_json::Value;
use tch::{nn::VarStore, Device, Tensor};

type BoxError = Box<dyn std::error::Error>;

const THREADS: [usize; 2] = [1, 2];

struct Options {
    ort: bool,
    l: bool,
    profile: bool,
}

fn options() -> Result<Options, BoxError> {
    let mut o = Options {
        ort: true,
        l: true,
        profile: false,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--no-ort" => o.ort = false,
            "--no-l" => o.l = false,
            "--profile" => o.profile = true,
            other => {
                return Err(format!("unknown option {other} (--no-ort, --no-l, --profile)").into())
            }
        }
    }
    Ok(o)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_sdt10m: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let opt = options()?;
    let level = sdt_host::level::apply_env()?;
    if opt.ort {
        // Fail before minutes of measurement, not after.
        ort_peer::python()?;
    }
    let bench = Sdt10m::load()?;
    println!(
        "SDT-10M 224×224, batch 1: ms/image of the fastest of {} passes over the 4 golden inputs",
        reps()
    );
    println!("machine: {}", machine());
    println!(
        "core kernel level {level} (of {})",
        sdt_core::Level::detected()
    );
    print_header();
    // The integer core first: libtorch's OpenMP workers keep spinning for a while after
    // each parallel region and would take cores from it.
    let core = core_table(&bench, &THREADS, opt.profile)?;
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::m())?;
    weights::load_weights(&vs, &bench.pth)?;
    let images = Tensor::stack(
        &bench
            .images
            .iter()
            .map(|x| Tensor::from_slice(x).reshape([3, 224, 224]))
            .collect::<Vec<_>>(),
        0,
    );
    let torch_ms = libtorch_times(&model, &images)?;
    let workdir = std::env::temp_dir().join("sdt-bench-ort");
    let peer = if opt.ort {
        Some(run_peer("m", &vs, &images, &workdir, opt.profile)?)
    } else {
        None
    };
    let macs = peer
        .as_ref()
        .map(|p| ort_peer::number(&p[0], "macs"))
        .transpose()?;
    for (threads, ms) in THREADS.iter().zip(&torch_ms) {
        print_dense_row("libtorch float eager (tch)", *ms, *threads, macs);
    }
    if let Some(lines) = &peer {
        print_peer(lines)?;
    }
    let l = match opt.l {
        true => Some(l_network(&images, &workdir, opt.ort, core.golden_rate)?),
        false => None,
    };
    let torch: Vec<(usize, f64)> = THREADS.into_iter().zip(torch_ms).collect();
    print_summary(&core, &torch, peer.as_deref(), l.as_ref())
}

/// How many times faster the core ran than each peer, all from this run.
fn print_summary(
    core: &CoreTimes,
    torch: &[(usize, f64)],
    peer: Option<&[Value]>,
    l: Option<&LTimes>,
) -> Result<(), BoxError> {
    println!("the core (spike-driven) against the peers, peer ms / core ms, this run:");
    if let Some(lines) = peer {
        print_speedup(
            "ONNX Runtime int8 / core",
            &int8_times(lines)?,
            &core.golden,
            "≥ 2×",
        );
    }
    print_speedup("libtorch float eager / core", torch, &core.golden, "≥ 5×");
    core.print_firing_speedup();
    if let Some(LTimes {
        drawn,
        matched,
        int8: Some(int8),
    }) = l
    {
        for run in [drawn, matched] {
            let label = format!("`l` at {:.1} % firing: ORT int8 / core", run.rate * 100.0);
            print_speedup(&label, int8, &run.times, "-");
        }
    }
    Ok(())
}

/// ONNX Runtime int8's (threads, ms/image) rows.
fn int8_times(lines: &[Value]) -> Result<Vec<(usize, f64)>, BoxError> {
    THREADS
        .into_iter()
        .map(|t| {
            let line = ort_peer::find(lines, "time", Some("int8"), Some(t as u64))?;
            Ok((t, ort_peer::number(line, "ms")?))
        })
        .collect()
}

/// The `l` network's times: the core's, as drawn and at the firing rate of SDT-10M's golden
/// model, and ONNX Runtime int8's (its dense cost does not depend on the rate).
struct LTimes {
    drawn: CoreRun,
    matched: CoreRun,
    int8: Option<Vec<(usize, f64)>>,
}

/// The core's (threads, ms/image) on one blob, and its firing rate (non-zero sites).
struct CoreRun {
    times: Vec<(usize, f64)>,
    rate: f64,
}

/// libtorch eager at each thread count: the fastest pass, as for the core.
fn libtorch_times(model: &Sdt, images: &Tensor) -> Result<Vec<f64>, BoxError> {
    let n = images.size()[0];
    let inputs: Vec<Tensor> = (0..n).map(|i| images.narrow(0, i, 1)).collect();
    let _no_grad = tch::no_grad_guard();
    let mut out = Vec::new();
    for threads in THREADS {
        tch::set_num_threads(threads as i32);
        let run_all = || -> Result<(), sdt_train::Error> {
            for x in &inputs {
                let _logits = model.forward(x, &mut Ctx::eval())?;
            }
            Ok(())
        };
        run_all()?; // warm-up
        let mut ms = f64::INFINITY;
        for _ in 0..reps().max(1) {
            let start = Instant::now();
            run_all()?;
            ms = ms.min(start.elapsed().as_secs_f64() * 1e3 / inputs.len() as f64);
        }
        out.push(ms);
    }
    Ok(out)
}

/// ONNX Runtime fp32 and int8 of `preset` with the weights in `vs`: time lines first.
fn run_peer(
    preset: &str,
    vs: &VarStore,
    images: &Tensor,
    workdir: &Path,
    profile: bool,
) -> Result<Vec<Value>, BoxError> {
    let threads = THREADS.map(|t| t.to_string()).join(",");
    let mut extra = vec![
        "--threads".to_owned(),
        threads,
        "--reps".to_owned(),
        reps().to_string(),
    ];
    if profile {
        extra.push("--profile".to_owned());
    }
    Ok(ort_peer::run("bench", preset, vs, images, workdir, &extra)?)
}

/// The ONNX Runtime rows, the int8 model's agreement with fp32, and the profile if asked.
fn print_peer(lines: &[Value]) -> Result<(), BoxError> {
    let version = ort_peer::find(lines, "versions", None, None)?["onnxruntime"].clone();
    let version = version.as_str().unwrap_or("?");
    for model in ["fp32", "int8"] {
        for t in THREADS {
            let line = ort_peer::find(lines, "time", Some(model), Some(t as u64))?;
            let label = format!("ONNX Runtime {version} {model}");
            let ms = ort_peer::number(line, "ms")?;
            print_dense_row(&label, ms, t, Some(ort_peer::number(line, "macs")?));
        }
    }
    let a = ort_peer::find(lines, "agreement", None, None)?;
    println!(
        "  int8 vs fp32, free-running: spike sites equal {:.4} (worst of {} spike layers {:.4}), \
         top-1 {:.2}, max |Δlogit| {:.3}; fp32 vs PyTorch: top-1 {:.2}, max |Δlogit| {:.2e}",
        ort_peer::number(a, "spike_agreement")?,
        a["spike_layers"],
        ort_peer::number(a, "spike_agreement_min_layer")?,
        ort_peer::number(a, "top1_int8_vs_fp32")?,
        ort_peer::number(a, "max_dlogit_int8_vs_fp32")?,
        ort_peer::number(a, "top1_fp32_vs_torch")?,
        ort_peer::number(a, "max_dlogit_fp32_vs_torch")?,
    );
    let unpinned = a["unpinned_spikes"].as_array().map_or(0, Vec::len);
    let inexact = a["inexact_pinned_sites"].as_u64().unwrap_or(u64::MAX);
    println!(
        "  spikes held exactly in int8 (scale 1/norm, zero point 0): {} of {} layers, {} inexact sites",
        a["spike_layers"].as_u64().unwrap_or(0) - unpinned as u64,
        a["spike_layers"],
        inexact
    );
    for line in lines.iter().filter(|v| v["kind"] == "profile") {
        println!(
            "  ONNX Runtime {} profile, {} thread(s), ms/image per layer type:",
            line["model"], line["threads"]
        );
        let mut per: Vec<(&String, f64)> = line["ms_per_image"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k, v.as_f64().unwrap_or(f64::NAN)))
                    .collect()
            })
            .unwrap_or_default();
        per.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (kind, ms) in per {
            println!("    {ms:>7.2} ms  {kind}");
        }
    }
    Ok(())
}

/// The `l` widths (SDT-19M class) with random weights whose BatchNorm statistics are set by
/// training-mode passes over the golden inputs (so every layer sees normalized pre-spikes, as
/// in a trained network), on the core and on ONNX Runtime. As drawn, this network fires far
/// less than SDT-10M's golden model, and the core's cost follows the spikes while the dense
/// peer's does not; so the core also runs it with every pre-spike value shifted (the bias
/// of `sdt-convert pack --spike-bias`) until it fires at `target_rate`, like for like.
fn l_network(
    images: &Tensor,
    workdir: &Path,
    ort: bool,
    target_rate: f64,
) -> Result<LTimes, BoxError> {
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let config = SdtConfig::l();
    let model = Sdt::new(&vs.root(), config.clone())?;
    model.calibrate_batchnorm(10, || images.shallow_clone())?;
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(Tensor::numel)
        .map(|n| n as i64)
        .sum();
    let absmax = images.abs().max().double_value(&[]);
    let pack =
        |bias: f64| deploy::pack_shifted(&vs, &model, 8, absmax, &Default::default(), None, bias);
    println!(
        "`l` widths {:?} ({:.2} M parameters, random weights, BatchNorm set on the golden inputs)",
        config.embed_dims,
        params as f64 / 1e6
    );
    let drawn = pack(0.0)?;
    let drawn_rate = {
        let core = drawn.model()?;
        firing(&core, &l_inputs(&core, images)?)?.nonzero_fraction
    };
    // The bisection starts at no shift (the drawn blob, measured above) and stops at the
    // shift it measured last: each blob is packed once.
    let mut last = None;
    let bias = bias_for_rate(target_rate, |b| {
        if b == 0.0 {
            return Ok(drawn_rate);
        }
        let blob = pack(b)?;
        let rate = {
            let core = blob.model()?;
            firing(&core, &l_inputs(&core, images)?)?.nonzero_fraction
        };
        last = Some((b, blob));
        Ok(rate)
    })?;
    let matched = match last {
        Some((b, blob)) if b == bias => blob,
        _ => pack(bias)?,
    };
    print_header();
    let mut runs = Vec::new();
    for (blob, bias) in [(&drawn, 0.0), (&matched, bias)] {
        let core = blob.model()?;
        let inputs = l_inputs(&core, images)?;
        let mut run = CoreRun {
            times: Vec::new(),
            rate: f64::NAN,
        };
        for t in THREADS {
            let pool = ThreadPool::new(t)?;
            let mut arena = vec![0u8; arena_bytes(&core, t)?];
            let mut session = Session::new(&core, &mut arena, t)?;
            let mut kept = vec![0i32; sdt_core::kept_thresholds_len(&core)];
            session.keep_thresholds(&mut kept)?;
            let (ms, stats) =
                time_per_image(&mut session, &inputs, Kernel::SpikeDriven, &pool, reps())?;
            let f = Firing::from_stats(&stats);
            print_row(
                &format!("core int8 SpikeDriven (l, bias {bias:+.3})"),
                ms,
                t,
                Some(&f),
            );
            run.times.push((t, ms));
            run.rate = f.nonzero_fraction;
        }
        runs.push(run);
    }
    let int8 = match ort {
        true => {
            let lines = run_peer("l", &vs, images, &workdir.join("l"), false)?;
            print_peer(&lines)?;
            Some(int8_times(&lines)?)
        }
        false => None,
    };
    let matched = runs.pop().ok_or("no run")?;
    let drawn = runs.pop().ok_or("no run")?;
    Ok(LTimes {
        drawn,
        matched,
        int8,
    })
}

/// The golden inputs quantized for `core`.
fn l_inputs(
    core: &sdt_core::Model<'_>,
    images: &Tensor,
) -> Result<Vec<sdt_convert::verify::QuantizedInput>, BoxError> {
    (0..images.size()[0])
        .map(|i| {
            let x = Vec::<f32>::try_from(&images.get(i).flatten(0, -1))?;
            Ok(quantize_input(core, &x)?)
        })
        .collect()
}

/// Spike statistics of one spike-driven pass over `inputs`.
fn firing(
    core: &sdt_core::Model<'_>,
    inputs: &[sdt_convert::verify::QuantizedInput],
) -> Result<Firing, BoxError> {
    let mut arena = vec![0u8; arena_bytes(core, 1)?];
    let mut session = Session::new(core, &mut arena, 1)?;
    let stats = spike_stats(
        &mut session,
        inputs,
        Kernel::SpikeDriven,
        &sdt_core::Sequential,
    )?;
    Ok(Firing::from_stats(&stats))
}
