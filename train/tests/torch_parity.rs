//! Our weights in the PyTorch definition (`bench/sdt_torch.py`): the random digits32 model saved
//! from Rust loads there with `load_state_dict(strict=True)` (names and shapes identical), and the
//! two give the same eval logits and the same training gradients on the same inputs.
//!
//! Needs `python3` with torch (the project venv: `eval "$(bash scripts/torch-env.sh)"`), or
//! `SDT_PYTHON` naming an interpreter that has it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdt_train::weights::save_safetensors;
use sdt_train::Ctx;
use tch::{Device, Kind, Tensor};

fn python() -> String {
    let python = std::env::var("SDT_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "`{python}` cannot import torch ({}): run `eval \"$(bash scripts/torch-env.sh)\"` \
             first (it puts the project venv's python3 with torch on PATH) or set SDT_PYTHON",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "cannot run `{python}` ({e}): run `eval \"$(bash scripts/torch-env.sh)\"` first \
             or set SDT_PYTHON to a python with torch"
        ),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/sdt_torch.py")
}

#[test]
fn rust_weights_give_the_same_logits_and_gradients_in_pytorch() {
    let python = python();
    tch::set_num_threads(1);
    let (vs, model) = common::random_digits32(7);
    let dir = std::env::temp_dir().join(format!("sdt-torch-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let weights = dir.join("digits32_random.safetensors");
    let inputs = dir.join("inputs.safetensors");
    let out = dir.join("torch_out.safetensors");
    save_safetensors(&vs, &weights).expect("save weights");
    let x = Tensor::randn([64, 1, 32, 32], (Kind::Float, Device::Cpu));
    let labels = Tensor::randint(10, [64], (Kind::Int64, Device::Cpu));
    Tensor::write_safetensors(&[("input", &x), ("label", &labels)], &inputs).expect("inputs");

    let status = Command::new(&python)
        .arg(script())
        .args(["parity", "--preset", "digits32", "--threads", "1"])
        .arg("--weights")
        .arg(&weights)
        .arg("--inputs")
        .arg(&inputs)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run sdt_torch.py");
    assert!(
        status.success(),
        "sdt_torch.py parity failed ({status}); a strict load_state_dict error means the \
         parameter names or shapes differ between the two definitions"
    );
    let torch_out: BTreeMap<String, Tensor> = Tensor::read_safetensors(&out)
        .expect("read PyTorch outputs")
        .into_iter()
        .collect();

    // Eval mode: same logits, same top-1.
    let ours = tch::no_grad(|| model.forward(&x, &mut Ctx::eval())).expect("eval forward");
    let theirs = &torch_out["eval_logits"];
    let max_abs = (&ours - theirs).abs().max().double_value(&[]);
    let agree = ours
        .argmax(1, false)
        .eq_tensor(&theirs.argmax(1, false))
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    let fired = tch::no_grad(|| {
        let mut rec = sdt_train::recorder::SpikeRecorder::new();
        let _ = model
            .forward(&x, &mut Ctx::eval().with_recorder(&mut rec))
            .expect("recorded forward");
        let (mut fired, mut sites) = (0.0, 0.0);
        for (_, counts) in rec.iter() {
            fired += counts
                .gt(0)
                .to_kind(Kind::Float)
                .sum(Kind::Float)
                .double_value(&[]);
            sites += counts.numel() as f64;
        }
        fired / sites
    });
    println!(
        "eval: max |Δlogit| {max_abs:.3e}, top-1 agreement {:.2} %, spike sites non-zero {:.1} %",
        100.0 * agree,
        100.0 * fired
    );
    assert!(
        fired > 0.02 && fired < 0.9,
        "random model fires at {fired}: the comparison would be trivial"
    );
    assert_eq!(agree, 1.0, "top-1 differs on some inputs");
    assert!(max_abs < 1e-4, "eval logits differ by {max_abs}");

    // Training mode: same loss, same gradient for every parameter.
    let logits = model.forward(&x, &mut Ctx::train()).expect("train forward");
    let loss = logits.cross_entropy_for_logits(&labels);
    loss.backward();
    let loss_diff = (loss.double_value(&[]) - torch_out["train_loss"].double_value(&[0])).abs();
    let mut worst = (String::from("(all equal)"), 0.0f64);
    let mut compared = 0;
    let mut params: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in params {
        let theirs = torch_out
            .get(&format!("grad.{name}"))
            .unwrap_or_else(|| panic!("PyTorch has no gradient for `{name}`"));
        let g = var.grad();
        let rel =
            (&g - theirs).norm().double_value(&[]) / (theirs.norm().double_value(&[]) + 1e-12);
        if rel > worst.1 {
            worst = (name, rel);
        }
        compared += 1;
    }
    println!(
        "train: |Δloss| {loss_diff:.3e}, {compared} gradients, worst relative L2 {:.3e} ({})",
        worst.1, worst.0
    );
    assert!(loss_diff < 1e-5, "training loss differs by {loss_diff}");
    assert!(
        worst.1 < 1e-3,
        "gradient of `{}` differs (relative L2 {})",
        worst.0,
        worst.1
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The benchmark command end to end on a small model: both sides run, from the same weights,
/// and their results are printed side by side.
#[test]
fn training_benchmark_prints_both_sides() {
    let python = python();
    // Tests run from target/<profile>/deps; cargo builds examples next to them.
    let exe = std::env::current_exe().expect("test binary path");
    let bench = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join("bench_train"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the bench_train example is not built next to this test: run \
                 `cargo test -p sdt-train` (which builds examples) or \
                 `cargo build -p sdt-train --example bench_train` with the same profile"
            )
        });
    let out = Command::new(&bench)
        .args(["--preset", "digits32", "--size", "32", "--batch", "4"])
        .args(["--warmup", "0", "--iters", "1", "--threads", "1"])
        .args(["--python", &python, "--script"])
        .arg(script())
        .output()
        .expect("run bench_train");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench_train failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(text.contains("sdt-train (tch, Rust)"), "{text}");
    assert!(text.contains("PyTorch eager (Python)"), "{text}");
    assert!(text.contains("1 thread(s), images/s: sdt-train"), "{text}");
}
