//! Parity with the official PyTorch model, on the golden data (`SDT_GOLDEN_DIR`).
//!
//! Run with libtorch in the environment, e.g.
//! `eval "$(bash scripts/torch-env.sh)" && SDT_GOLDEN_DIR=<shared>/golden cargo test -p sdt-train`.

use std::path::{Path, PathBuf};

use sdt_train::data::{load_digits, load_golden_test, Split};
use sdt_train::eval::{evaluate, top1_agreement, Simulate};
use sdt_train::golden::block_check;
use sdt_train::weights::{load_safetensors, load_weights, save_safetensors};
use sdt_train::{Ctx, Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A file from the golden folder; panics with instructions when it is not there.
fn golden_file(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Golden.require(name)
}

fn digits_model() -> (VarStore, Sdt) {
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::digits32()).expect("build digits32");
    load_safetensors(&vs, &golden_file("sdt_digits32_seed1.safetensors")).expect("load weights");
    (vs, model)
}

#[test]
fn digits32_eval_logits_match_official() {
    let (_vs, model) = digits_model();
    let (data, official) =
        load_golden_test(&golden_file("sdt_digits32_seed1_test.safetensors")).expect("test set");
    assert_eq!(data.len(), 360);
    let report = evaluate(&model, &data, 120, Simulate::default(), Device::Cpu).expect("eval");
    let agreement = top1_agreement(&report.logits, &official.argmax(1, false)).expect("agree");
    let max_abs = (&report.logits - &official).abs().max().double_value(&[]);
    println!(
        "digits32: top-1 agreement with official {:.2} %, max |Δlogit| {max_abs:.3e}, \
         accuracy {:.2} % (official 85.83 %)",
        100.0 * agreement,
        100.0 * report.accuracy
    );
    assert!(agreement >= 0.99, "top-1 agreement {agreement} < 99 %");
    assert!(
        (report.accuracy - 0.8583).abs() < 0.01,
        "accuracy {} far from the official 85.83 %",
        report.accuracy
    );
}

#[test]
fn safetensors_round_trip_keeps_every_tensor() {
    let (vs, model) = digits_model();
    let dir = std::env::temp_dir().join(format!("sdt-train-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("digits.safetensors");
    save_safetensors(&vs, &path).expect("save");

    let saved: Vec<(String, Tensor)> = Tensor::read_safetensors(&path).expect("read back");
    let original: Vec<(String, Tensor)> =
        Tensor::read_safetensors(golden_file("sdt_digits32_seed1.safetensors")).expect("read");
    let mut a: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
    let mut b: Vec<&str> = original.iter().map(|(n, _)| n.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "saved names differ from the official state dict");

    let vs2 = VarStore::new(Device::Cpu);
    let model2 = Sdt::new(&vs2.root(), SdtConfig::digits32()).expect("build");
    load_safetensors(&vs2, &path).expect("load saved");
    let x = Tensor::randn([4, 1, 32, 32], (Kind::Float, Device::Cpu));
    let _g = tch::no_grad_guard();
    let y1 = model.forward(&x, &mut Ctx::eval()).expect("fwd");
    let y2 = model2.forward(&x, &mut Ctx::eval()).expect("fwd");
    assert!(y1.equal(&y2), "reloaded model computes something else");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sdt_m_block_by_block_matches_official() {
    let blocks = golden_file("sdt_m_224_seed1_blocks.safetensors");
    // The official .pth, or a .safetensors export of it when SDT_M_WEIGHTS names one.
    let weights = std::env::var_os("SDT_M_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| golden_file("sdt_m_224_seed1.pth"));
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::m()).expect("build m");
    load_weights(&vs, &weights).expect("load SDT-10M weights");
    let reports = block_check(&model, &blocks).expect("block check");
    assert_eq!(reports.len(), 18, "17 blocks and the head");
    let mut failures = Vec::new();
    for r in &reports {
        println!(
            "{:<22} rel_l2 {:.3e}  max_abs {:.3e}  spikes agree {:.6} (min layer {:.6})",
            r.block,
            r.rel_l2,
            r.max_abs,
            r.spike_agreement(),
            r.spike_agreement_min()
        );
        if r.spike_agreement_min() < 0.999 {
            failures.push(format!(
                "{}: spike agreement {}",
                r.block,
                r.spike_agreement_min()
            ));
        }
        if r.rel_l2 > 1e-3 {
            failures.push(format!("{}: output rel L2 {}", r.block, r.rel_l2));
        }
    }
    assert!(
        failures.is_empty(),
        "blocks off the official model: {failures:#?}"
    );
}

#[test]
fn digits_preprocessing_reproduces_the_golden_inputs() {
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors");
    let ours = load_digits(&digits, Split::Test, 32).expect("digits test split");
    let (golden, _) =
        load_golden_test(&golden_file("sdt_digits32_seed1_test.safetensors")).expect("test set");
    assert!(ours.labels.equal(&golden.labels), "labels differ");
    let max_abs = (&ours.images - &golden.images)
        .abs()
        .max()
        .double_value(&[]);
    println!("digits preprocessing: max |Δ| vs golden input {max_abs:.3e}");
    assert!(max_abs < 1e-5, "preprocessing differs by {max_abs}");
}
