//! The training loop learns, writes metrics and saves weights that load back.

use std::path::Path;

use sdt_train::data::{load_digits, Dataset, Split};
use sdt_train::eval::evaluate;
use sdt_train::train::{train, EpochMetrics, TrainConfig};
use sdt_train::weights::{load_safetensors, save_safetensors};
use sdt_train::{Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::Device;

fn tiny() -> SdtConfig {
    SdtConfig {
        embed_dims: [8, 16, 16, 16],
        in_channels: 1,
        image_size: 16,
        num_classes: 10,
        num_heads: 8,
        spike_max: 4,
    }
}

fn subset(data: &Dataset, n: i64) -> Dataset {
    let (x, y) = data.batch(0, n).expect("subset");
    Dataset::new(x.copy(), y.copy()).expect("dataset")
}

/// Fitting 32 samples: without a working gradient the training loss would not move.
const EPOCHS: u64 = 40;

fn run(weight_bits: Option<u8>) -> (VarStore, Sdt, Vec<EpochMetrics>, Vec<u8>) {
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors");
    let train_set = subset(&load_digits(&digits, Split::Train, 16).expect("train"), 32);
    let test_set = subset(&load_digits(&digits, Split::Test, 16).expect("test"), 64);
    tch::manual_seed(3);
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), tiny()).expect("model");
    let config = TrainConfig {
        epochs: EPOCHS,
        batch_size: 32,
        lr: 3e-3,
        warmup_epochs: 0,
        weight_bits,
        progress: false,
        ..TrainConfig::default()
    };
    let mut sink = Vec::new();
    let history = train(&vs, &model, &train_set, &test_set, &config, &mut sink).expect("train");
    (vs, model, history, sink)
}

#[test]
fn loss_falls_and_metrics_are_json_lines() {
    let (vs, model, history, sink) = run(None);
    let text = String::from_utf8(sink).expect("utf8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), EPOCHS as usize);
    assert_eq!(lines[lines.len() - 1]["epoch"], EPOCHS);
    let (first, last) = (&history[0], &history[history.len() - 1]);
    println!(
        "train loss {:.3} -> {:.3}, train acc {:.3} -> {:.3}",
        first.train_loss, last.train_loss, first.train_acc, last.train_acc
    );
    assert!(
        last.train_loss < first.train_loss - 0.05,
        "loss did not fall"
    );

    // Saved weights load back into a fresh model and compute the same.
    let dir = std::env::temp_dir().join(format!("sdt-train-tr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("tiny.safetensors");
    save_safetensors(&vs, &path).expect("save");
    let vs2 = VarStore::new(Device::Cpu);
    let model2 = Sdt::new(&vs2.root(), tiny()).expect("model");
    load_safetensors(&vs2, &path).expect("load");
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors");
    let test_set = subset(&load_digits(&digits, Split::Test, 16).expect("test"), 64);
    let a = evaluate(&model, &test_set, 64, None, Device::Cpu).expect("eval");
    let b = evaluate(&model2, &test_set, 64, None, Device::Cpu).expect("eval");
    for (name, t) in vs.variables() {
        let u = &vs2.variables()[&name];
        assert!(t.detach().equal(u), "variable {name} differs after reload");
    }
    let diff = (&a.logits - &b.logits).abs().max().double_value(&[]);
    assert!(diff == 0.0, "reloaded model differs by {diff}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn quantization_aware_training_learns() {
    let (_vs, _model, history, _) = run(Some(4));
    let (first, last) = (&history[0], &history[history.len() - 1]);
    println!(
        "QAT int4: train loss {:.3} -> {:.3}",
        first.train_loss, last.train_loss
    );
    assert!(last.train_loss < first.train_loss - 0.05);
    assert_eq!(last.weight_bits, Some(4));
}
