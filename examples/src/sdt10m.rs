//! The SDT-10M benchmark table of the integer core, shared by the core-only benchmark and the
//! side-by-side one against libtorch (in `train/`).

use sdt_convert::checkpoint::{self, Checkpoint};
use sdt_convert::verify::{quantize_input, Firing, QuantizedInput};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::{Op, WeightBits};
use sdt_core::{arena_bytes, kept_thresholds_len, Kernel, Model, Session};
use sdt_host::{AlignedBlob, ThreadPool};

use crate::time_per_image;
use sdt_host::data::DataDir;

type BoxError = Box<dyn std::error::Error>;

/// The golden SDT-10M checkpoint and its four normalized 224×224 inputs (CHW f32 each).
pub struct Sdt10m {
    pub checkpoint: Checkpoint,
    pub images: Vec<Vec<f32>>,
    pub pth: std::path::PathBuf,
}

impl Sdt10m {
    pub fn load() -> Result<Self, BoxError> {
        let dir = DataDir::Golden.path()?;
        let pth = dir.join("sdt_m_224_seed1.pth");
        let checkpoint = checkpoint::load(&pth)?;
        let io = checkpoint::load(&dir.join("sdt_m_224_seed1_io.safetensors"))?;
        let data = &io.get("input")?.data;
        let per = 3 * 224 * 224;
        let images = data.chunks_exact(per).map(<[f32]>::to_vec).collect();
        Ok(Sdt10m {
            checkpoint,
            images,
            pth,
        })
    }

    /// The checkpoint packed int8 for 224×224, its pre-spike values shifted by `spike_bias`
    /// (0: as trained), the input range taken from the golden inputs.
    pub fn packed(&self, spike_bias: f64) -> Result<AlignedBlob, BoxError> {
        let absmax = self
            .images
            .iter()
            .flatten()
            .fold(0f32, |m, &x| m.max(x.abs()));
        let arch = ArchOptions {
            heads: 8,
            d: 4,
            input_h: 224,
            input_w: 224,
        };
        let opt = LowerOptions {
            weight_bits: WeightBits::I8,
            input_absmax: absmax,
            wide_input: false,
            spike_bias,
        };
        Ok(convert(&self.checkpoint, arch, opt, &Default::default())?.2)
    }

    /// The golden inputs quantized for `model`.
    pub fn inputs(&self, model: &Model<'_>) -> Result<Vec<QuantizedInput>, BoxError> {
        Ok(self
            .images
            .iter()
            .map(|x| quantize_input(model, x))
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// Passes over the inputs per measurement (`BENCH_REPS`, default 9: on a shared machine the
/// fastest of more passes is more often one without interference).
pub fn reps() -> usize {
    std::env::var("BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9)
}

pub fn print_header() {
    println!(
        "{:<36} {:>10} {:>8} {:>12} {:>9}",
        "run", "ms/image", "threads", "SOPs|MACs", "non-zero"
    );
}

/// A dense peer's row: its multiply-accumulates per image where known (every site counts).
pub fn print_dense_row(label: &str, ms: f64, threads: usize, macs: Option<f64>) {
    match macs {
        Some(m) => println!(
            "{label:<36} {ms:>10.1} {threads:>8} {m:>8.3e} MAC {:>9}",
            "dense"
        ),
        None => print_row(label, ms, threads, None),
    }
}

pub fn print_row(label: &str, ms: f64, threads: usize, firing: Option<&Firing>) {
    match firing {
        Some(f) => println!(
            "{label:<36} {ms:>10.1} {threads:>8} {:>12.3e} {:>8.1}%",
            f.sops_per_image,
            f.nonzero_fraction * 100.0
        ),
        None => println!("{label:<36} {ms:>10.1} {threads:>8} {:>12} {:>9}", "-", "-"),
    }
}

/// The machine a benchmark ran on, as its rows should name it: the CPU model (Linux's
/// `/proc/cpuinfo`) and the cores the process may use.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{model}, {cores} cores available")
}

/// The core's spike-driven times of [`core_table`], for the speed-ups against the peers.
pub struct CoreTimes {
    /// ms/image at the golden firing rate, per thread count (in the order asked).
    pub golden: Vec<(usize, f64)>,
    /// Non-zero fraction of the spike sites at the golden firing rate.
    pub golden_rate: f64,
    /// ms/image and non-zero fraction with pre-spike values shifted by −0.1 (fewer spikes),
    /// first thread count.
    pub sparse: (f64, f64),
}

impl CoreTimes {
    /// Prints how much faster the core ran at the lower firing rate (first thread count).
    pub fn print_firing_speedup(&self) {
        if let Some(&(t, ms)) = self.golden.first() {
            let label = format!(
                "core at {:.1} % firing / at {:.1} %",
                self.golden_rate * 100.0,
                self.sparse.1 * 100.0
            );
            let cell = format!("{:.2}× ({t} thr)", ms / self.sparse.0);
            print_cells(&label, &[cell], "≥ 3×");
        }
    }
}

/// Prints how many times faster than a peer the core ran, per thread count: `peer` and
/// `core` hold (threads, ms/image) of the same run.
pub fn print_speedup(label: &str, peer: &[(usize, f64)], core: &[(usize, f64)], target: &str) {
    let cells: Vec<String> = core
        .iter()
        .map(|&(t, ms)| match peer.iter().find(|p| p.0 == t) {
            Some(&(_, peer_ms)) => format!("{:.2}× ({t} thr)", peer_ms / ms),
            None => format!("- ({t} thr)"),
        })
        .collect();
    print_cells(label, &cells, target);
}

fn print_cells(label: &str, cells: &[String], target: &str) {
    let cells: Vec<String> = cells.iter().map(|c| format!("{c:>14}")).collect();
    println!("  {label:<38} {}   target {target}", cells.join(" "));
}

/// Measures the integer core: spike-driven with each thread count, the dense reference with
/// one thread, and the spike-driven cost at other firing rates (pre-spike values shifted).
/// With `profile`, also the spike-driven time per layer type.
pub fn core_table(bench: &Sdt10m, threads: &[usize], profile: bool) -> Result<CoreTimes, BoxError> {
    let reps = reps();
    let mut sweep = Vec::new();
    let mut times = CoreTimes {
        golden: Vec::new(),
        golden_rate: f64::NAN,
        sparse: (f64::NAN, f64::NAN),
    };
    for spike_bias in [0.0, -0.1, 0.1] {
        let blob = bench.packed(spike_bias)?;
        let model = blob.model()?;
        let inputs = bench.inputs(&model)?;
        let mut runs: Vec<(Kernel, usize)> = vec![(Kernel::SpikeDriven, threads[0])];
        if spike_bias == 0.0 {
            runs.extend(threads[1..].iter().map(|&t| (Kernel::SpikeDriven, t)));
            runs.push((Kernel::Dense, threads[0]));
        }
        for (kernel, t) in runs {
            let pool = ThreadPool::new(t)?;
            let mut arena = vec![0u8; arena_bytes(&model, t)?];
            let mut session = Session::new(&model, &mut arena, t)?;
            // Thresholds built once, as a host runtime keeps them (see `keep_thresholds`).
            let mut kept = vec![0i32; kept_thresholds_len(&model)];
            session.keep_thresholds(&mut kept)?;
            let (ms, stats) = time_per_image(&mut session, &inputs, kernel, &pool, reps)?;
            let f = Firing::from_stats(&stats);
            let label = format!("core int8 {kernel:?} (bias {spike_bias:+.1})");
            print_row(&label, ms, t, Some(&f));
            if kernel == Kernel::SpikeDriven && t == threads[0] {
                sweep.push((f.nonzero_fraction, f.sops_per_image, ms));
            }
            match (kernel, spike_bias) {
                (Kernel::SpikeDriven, 0.0) => {
                    times.golden.push((t, ms));
                    times.golden_rate = f.nonzero_fraction;
                }
                (Kernel::SpikeDriven, b) if b < 0.0 => times.sparse = (ms, f.nonzero_fraction),
                _ => {}
            }
        }
        // The profile at every firing rate shows which layers do not follow the spikes.
        if spike_bias == 0.0 || profile {
            slowest_nodes(&model, &inputs[0], profile)?;
        }
    }
    sweep.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("cost vs firing rate (spike-driven, {} thread):", threads[0]);
    for (rate, sops, ms) in &sweep {
        println!(
            "  non-zero {:>5.1}%  SOPs {sops:>10.3e}  {ms:>7.1} ms  {:>6.3} ns/SOP",
            rate * 100.0,
            ms * 1e6 / sops
        );
    }
    Ok(times)
}

/// The layer type of a node, in the terms of the dense peers' profiles.
pub fn layer_type(op: &Op) -> String {
    match op {
        Op::Encode(s) => format!("encoding conv {0}x{0}", s.geom.kernel),
        Op::Conv { synapse: s, .. } if s.geom.depthwise => {
            format!("conv depthwise {0}x{0}", s.geom.kernel)
        }
        Op::Conv { synapse: s, .. } => format!("conv {0}x{0}", s.geom.kernel),
        Op::Attention { .. } => "matmul (attention)".to_owned(),
        Op::Spike { .. } => "spike".to_owned(),
        other => format!("{other:?}")
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("other")
            .to_owned(),
    }
}

/// The slowest nodes of one spike-driven run (`BENCH_TOP`, default 5), and with `per_type` the
/// time summed per layer type.
fn slowest_nodes(
    model: &Model<'_>,
    input: &QuantizedInput,
    per_type: bool,
) -> Result<(), BoxError> {
    let times = crate::thread_scaling::node_times(model, input, 1, 1)?.nodes;
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].total_cmp(&times[a]));
    let top = std::env::var("BENCH_TOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for &i in order.iter().take(top) {
        println!("    {:>7.2} ms  {}", times[i], model.node_name(i));
    }
    if per_type {
        let mut sums = std::collections::BTreeMap::<String, f64>::new();
        for (i, node) in model.nodes().iter().enumerate() {
            *sums.entry(layer_type(&node.op)).or_default() += times[i];
        }
        let mut sums: Vec<_> = sums.into_iter().collect();
        sums.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!(
            "  core spike-driven profile, 1 thread, ms/image per layer type (golden input 0):"
        );
        for (kind, ms) in sums {
            println!("    {ms:>7.2} ms  {kind}");
        }
    }
    Ok(())
}

/// The pre-spike shift in `[−1, 1]` at which `rate_at` (increasing in the shift) comes
/// within a quarter of a point of `target`, by bisection. The first shift tried is exactly
/// 0 (no shift), so a caller can answer it from a run it already has.
pub fn bias_for_rate(
    target: f64,
    mut rate_at: impl FnMut(f64) -> Result<f64, BoxError>,
) -> Result<f64, BoxError> {
    if !(0.0..1.0).contains(&target) {
        return Err(format!("no firing rate to match ({target})").into());
    }
    let (mut lo, mut hi) = (-1.0, 1.0);
    for _ in 0..16 {
        let mid = (lo + hi) / 2.0;
        let rate = rate_at(mid)?;
        if (rate - target).abs() < 0.0025 {
            return Ok(mid);
        }
        if rate < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Err(format!(
        "no pre-spike shift in [−1, 1] makes the network fire {:.1} %",
        target * 100.0
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shift_is_found_within_a_quarter_point() {
        // A staircase, as the firing rate of a quantized network is.
        let rate = |b: f64| ((0.12 + 0.1 * b).clamp(0.0, 1.0) * 1000.0).floor() / 1000.0;
        let b = bias_for_rate(0.155, |b| Ok(rate(b))).unwrap();
        assert!(
            (rate(b) - 0.155).abs() < 0.0025,
            "shift {b}: rate {}",
            rate(b)
        );
    }

    #[test]
    fn the_first_shift_tried_is_none() {
        let mut tried = Vec::new();
        let _ = bias_for_rate(0.155, |b| {
            tried.push(b);
            Ok(0.12 + 0.1 * b)
        });
        assert_eq!(tried.first(), Some(&0.0), "{tried:?}");
    }

    #[test]
    fn an_unreachable_rate_is_an_error() {
        assert!(bias_for_rate(0.155, |_| Ok(0.0)).is_err());
        assert!(bias_for_rate(f64::NAN, |b| Ok(b.abs())).is_err());
        assert!(bias_for_rate(1.5, |b| Ok(b.abs())).is_err());
        assert!(bias_for_rate(0.155, |_| Err("no blob".into())).is_err());
    }
}
